"""The reviewer keys a worker checks verdicts with: a directory of `<reviewer id>.pem` files (Ed25519
public keys), as a Kubernetes Secret or ConfigMap mounted as a volume gives them.

Why a directory read again: keys change while workers run (a reviewer joins, a key is revoked), and a
restart would cost every worker a state restore. The directory is looked at every few seconds; when
its listing changes (names, sizes, times: Kubernetes swaps a mounted Secret's files at once) the keys
are read again. A file that is not an Ed25519 public key is left out, with a warning naming it; a
directory that cannot be read keeps the keys read last.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from time import monotonic

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from stream_filter.core.policy.signing import public_key
from stream_filter.core.verdict_auth import Keys

log = logging.getLogger("stream_filter.worker.reviewer_keys")
LOOK_EVERY_S = 5.0
SUFFIX = ".pem"


class ReviewerKeyDir:
    def __init__(self, path: Path, every_s: float = LOOK_EVERY_S, clock: Callable[[], float] = monotonic) -> None:
        self.path, self.every_s, self.clock = path, every_s, clock
        self.keys: dict[str, Ed25519PublicKey] = {}
        self._stamp: tuple[tuple[str, int, int], ...] | None = None
        self._looked: float | None = None
        self._read()

    def __call__(self) -> Keys:
        """The keys in force now (read again when the directory changed)."""
        now = self.clock()
        if self._looked is None or now - self._looked >= self.every_s:
            self._looked = now
            self._read()
        return self.keys

    def _read(self) -> None:
        try:
            files = sorted(f for f in self.path.iterdir() if f.name.endswith(SUFFIX) and not f.name.startswith("."))
            stamp = tuple((f.name, f.stat().st_mtime_ns, f.stat().st_size) for f in files)
            if stamp == self._stamp:
                return
            keys = {}
            for file in files:
                try:
                    keys[file.name[: -len(SUFFIX)]] = public_key(file.read_bytes())
                except Exception as exc:  # noqa: BLE001 - any unreadable key is left out, by name
                    log.warning("reviewer key %s left out: %s", file.name, type(exc).__name__)
        except OSError as exc:
            log.warning("reviewer keys in %s not read (%s): the keys read last stay in force", self.path, exc)
            return
        gone = sorted(set(self.keys) - set(keys))
        self.keys, self._stamp = keys, stamp
        log.info("reviewer keys: %d (%s)%s", len(keys), ", ".join(sorted(keys)),
                 f"; revoked: {', '.join(gone)}" if gone else "")
