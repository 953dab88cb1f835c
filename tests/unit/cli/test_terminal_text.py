"""What the review commands print: seller and reviewer text made printable, error answers that are
not JSON, expiries without an offset refused, the API token from a file."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from stream_filter.cli.render import clean, example
from stream_filter.cli.review import cmd_verdict, error_text, explanation
from stream_filter.settings import Settings

HOSTILE = "Kaos\x1b[2J\x1b]0;owned\x07\rREVIEW_VERDICT_APPROVED \u202eabc"


def _body() -> dict[str, Any]:
    decision = {"outcome": "review", "decision_id": "d-1", "decided_at": "2026-12-01T00:00:00Z",
                "policy": {"id": "default", "version": "1"},
                "reasons": [{"code": "X", "message": HOSTILE, "legal_basis": "b"}],
                "origin": {"class": "unknown", "confidence": 0.0, "evidence": [HOSTILE]}, "clusters": [],
                "listing_id": "L-1", "listing": {"title": HOSTILE, "seller": {"id": HOSTILE}}}
    return {"listing_id": "L-1\r", "decision": decision, "history": [],
            "verdict": {"verdict": "approved", "reviewer_id": HOSTILE, "reason_code": "R", "reviewed_at": "t",
                        "note": HOSTILE}}


def test_seller_and_reviewer_text_cannot_drive_the_terminal() -> None:
    for text in (explanation(_body()), example(_body()["decision"])):
        assert not any(c in text for c in "\x1b\x07\r\u202e"), repr(text)
        assert "\\x1b[2J" in text and "\\u202e" in text
    assert clean({"a\x1b": ["\r"]}) == {"a\\x1b": ["\\r"]}


def test_an_error_answer_that_is_not_json_is_said_not_raised() -> None:
    assert error_text(b'{"error": "a bearer token is required"}') == "a bearer token is required"
    assert error_text(b"<html>502 Bad Gateway\x1b[31m</html>").startswith("<html>502 Bad Gateway\\x1b")


def test_an_expiry_without_an_offset_is_refused_before_anything_is_sent(capsys: pytest.CaptureFixture[str]) -> None:
    args = argparse.Namespace(expires="2027-05-29", listing_id="L-1", decision="d-1", verdict="approved",
                              reviewer="r", reason="MANUAL_REVIEW", note="", key=None)
    assert cmd_verdict(args) == 2
    assert "give a time with its offset" in capsys.readouterr().err


def test_the_api_token_from_a_file(tmp_path: Path) -> None:
    token = tmp_path / "token"
    token.write_text("s3cret-from-a-file\n")
    assert Settings(api_token_file=str(token)).api_token.get_secret_value() == "s3cret-from-a-file"  # type: ignore[union-attr]
    assert Settings(api_token_file=str(tmp_path / "missing")).api_token is None  # lookups stay off
    explain = subprocess.run([sys.executable, "-m", "stream_filter", "explain", "L-1", "--token", "x"],
                             capture_output=True, text=True, check=False, env=dict(os.environ))
    assert explain.returncode == 2 and "unrecognized arguments: --token" in explain.stderr  # never in argv
