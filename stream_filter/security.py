"""Broker authentication for Faust: SASL (SCRAM/PLAIN) over TLS, or mutual TLS.

Secrets stay `SecretStr` until this point, the only place that reveals them, to the client.
"""

from __future__ import annotations

import ssl
from typing import Any

import faust

from stream_filter.settings import Settings


def ssl_context(settings: Settings) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=settings.ssl_cafile)
    if settings.ssl_certfile:
        ctx.load_cert_chain(settings.ssl_certfile, settings.ssl_keyfile)
    return ctx


def faust_credentials(settings: Settings) -> Any:
    if settings.sasl_mechanism:
        password = settings.sasl_password.get_secret_value() if settings.sasl_password else None
        return faust.SASLCredentials(
            username=settings.sasl_username, password=password, mechanism=settings.sasl_mechanism,
            ssl_context=ssl_context(settings) if settings.security_protocol == "SASL_SSL" else None)
    return faust.SSLCredentials(ssl_context(settings))
