"""The reviewer-key directory: read again when it changes (a key added, a key revoked), a bad file left
out by name, an unreadable directory keeping the keys read last."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from stream_filter.worker.reviewer_keys import ReviewerKeyDir


def _public(directory: Path, reviewer: str) -> None:
    key = Ed25519PrivateKey.generate().public_key()
    (directory / f"{reviewer}.pem").write_bytes(
        key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))


def test_keys_follow_the_directory_without_a_restart(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    now = [0.0]
    _public(tmp_path, "alice")
    (tmp_path / "eve.pem").write_text("not a key")
    (tmp_path / "..data").mkdir()  # what a mounted Secret holds besides its files
    with caplog.at_level(logging.WARNING):
        keys = ReviewerKeyDir(tmp_path, every_s=5.0, clock=lambda: now[0])
    assert set(keys()) == {"alice"} and "eve.pem left out" in caplog.text
    _public(tmp_path, "bob")
    now[0] = 1.0
    assert set(keys()) == {"alice"}  # looked at every few seconds, not on every verdict
    now[0] = 6.0
    assert set(keys()) == {"alice", "bob"}
    (tmp_path / "alice.pem").unlink()  # revoked
    now[0] = 12.0
    assert set(keys()) == {"bob"}
    for file in tmp_path.glob("*.pem"):
        file.unlink()
    tmp_path_gone = tmp_path / "gone"
    later = ReviewerKeyDir(tmp_path_gone, clock=lambda: now[0])
    assert later() == {}  # nothing readable: no reviewer may sign (verdicts are still checked)
