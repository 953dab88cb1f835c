"""stream-filter: keeps cross-border listings out of product clusters reserved for local sellers."""

__version__ = "0.1.0"
