"""Backtest counts and differences between two policies, from the same lines."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from stream_filter.core.backtest import report_csv, run_backtest
from stream_filter.core.policy.book import PolicyBook
from stream_filter.dev.samples import MALFORMED, generate
from tests.factories import NEW_WORD, event_dict, garment_classifier

CROSS_BORDER = {"seller": {"country": "CN"}, "ship_from": {"location": "Shenzhen"},
                "price": {"amount": "150", "currency": "USD"}}

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


def test_backtest_compares_two_classifiers_on_a_file(tmp_path: Path) -> None:
    """Another lexicon, the same policy: exactly the listings it reads otherwise change, and the
    command names both classifiers."""
    listings = tmp_path / "listings.jsonl"
    garment = [event_dict(listing_id=f"G-{i}", title=f"{NEW_WORD} {noun}", **CROSS_BORDER)
               for i, noun in enumerate(("Premium Edition", "Seri 7", "Original Import"))]
    others = [event_dict(listing_id=f"O-{i}", title=title, **CROSS_BORDER)
              for i, title in enumerate(("Casing HP Silikon", "Kabel Data USB C 1m"))]
    listings.write_bytes(b"".join(json.dumps(e).encode() + b"\n" for e in garment + others))
    other = garment_classifier(tmp_path)
    lines = listings.read_bytes().splitlines()
    result = run_backtest(lines, PolicyBook.load("akar-2021"), against_classifier=other)
    assert result.change_counts() == {"approved->rejected": 3}
    assert {c.listing_id for c in result.changes} == {"G-0", "G-1", "G-2"}
    report = tmp_path / "r.json"
    proc = subprocess.run([sys.executable, "-m", "stream_filter", "backtest", str(listings), "--policy", "akar-2021",
                           "--model", "none", "--against-lexicon", str(tmp_path / "garment"), "--report",
                           str(report)], capture_output=True, text=True, check=True)
    assert other.version in proc.stdout and json.loads(report.read_text())["change_counts"] == {
        "approved->rejected": 3}
