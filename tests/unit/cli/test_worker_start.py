"""What `stream-filter worker` says before it touches the broker: a policy verify key that cannot be
read stops it (never running unchecked by accident), and running without one is said."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

CLOSED = "127.0.0.1:9"  # nothing listens: the worker stops at its broker check, after what is tested here


def _worker(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "stream_filter", "worker"], capture_output=True, text=True,
                          timeout=120, check=False,
                          env={**os.environ, "STREAM_FILTER_KAFKA_BOOTSTRAP_SERVERS": CLOSED,
                               "STREAM_FILTER_DATA_DIR": str(tmp_path), **env})


def test_an_unreadable_policy_verify_key_stops_the_worker(tmp_path: Path) -> None:
    missing = _worker(tmp_path, STREAM_FILTER_POLICY_VERIFY_KEY=str(tmp_path / "policy-signing.pub"))
    assert missing.returncode == 2
    assert "not starting: STREAM_FILTER_POLICY_VERIFY_KEY" in missing.stderr and "No such file" in missing.stderr
    (tmp_path / "wrong.pub").write_text("not a key")
    wrong = _worker(tmp_path, STREAM_FILTER_POLICY_VERIFY_KEY=str(tmp_path / "wrong.pub"))
    assert wrong.returncode == 2 and "not starting: STREAM_FILTER_POLICY_VERIFY_KEY" in wrong.stderr


def test_a_worker_without_a_policy_verify_key_says_so(tmp_path: Path) -> None:
    unchecked = _worker(tmp_path)
    assert "policy records are not checked" in unchecked.stderr
