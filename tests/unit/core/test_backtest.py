"""Backtest counts and differences between two policies, from the same lines."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from stream_filter.core.backtest import report_csv, run_backtest
from stream_filter.core.policy.book import PolicyBook
from stream_filter.dev.samples import MALFORMED, generate

ROOT = Path(__file__).resolve().parents[3]


def test_counts_and_changes_match_the_samples() -> None:
    samples = generate(300, seed=21)
    lines = [s.line() for s in samples] + [MALFORMED[0][0]]
    seen: list[int] = []
    result = run_backtest(lines, PolicyBook.load("akar-2021"), PolicyBook.load("default"), progress=seen.append)
    assert len(seen) == len(lines)
    assert result.summary.outcomes["dead_letter"] == 1
    assert sum(result.summary.outcomes.values()) == len(lines)
    below_floor = [s for s in samples if s.reason == "BELOW_MIN_FOB_PRICE"]
    assert result.against is not None
    assert result.against.reasons["BELOW_MIN_FOB_PRICE"] == len(below_floor)
    assert result.summary.reasons["BELOW_MIN_FOB_PRICE"] == 0
    # the floor only turns approvals into rejections; blocked clusters were rejected already
    assert set(result.change_counts()) == {"approved->rejected"}
    assert {c.listing_id for c in result.changes} == {
        s.event["listing_id"] for s in below_floor if s.cluster == "other"}
    assert report_csv(result).count("\n") == len(result.changes) + 1


def test_backtest_command_writes_a_json_report(tmp_path: Path) -> None:
    report = tmp_path / "r.json"
    proc = subprocess.run([sys.executable, "-m", "stream_filter", "backtest", str(ROOT / "examples" / "listings.jsonl"),
                           "--policy", "akar-2021", "--against", "default", "--report", str(report)],
                          capture_output=True, text=True, check=True)
    assert "outcome changes" in proc.stdout
    body = json.loads(report.read_text())
    assert body["change_counts"]["approved->rejected"] == len(body["changes"]) > 0
