"""Policy safety on a real broker: the live book is a history (a future version changes nothing
today and takes over on its date), a topic of ten versions is applied once, a same-version edit is
refused by the CLI and ignored by the worker, bad templates are refused, the impact preview counts
what would change, and with a verify key only signed records are applied."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson

from stream_filter.core.policy.day import today
from stream_filter.core.policy.files import parse_policy
from stream_filter.core.policy.history import version_key
from stream_filter.core.policy.signing import keygen
from stream_filter.kafka.policy_feed import publish_records, record
from stream_filter.kafka.publish import publish
from tests.factories import policy_text
from tests.support import Names, WorkerProcess, drain, metric_value

WAIT_S = 60.0
FOOD = "Keripik Pedas Level 10 Khas Bandung 250gr"


def text(version: str, start: str, clusters: str = "textile_fashion") -> str:
    return policy_text(version, clusters, policy_id="safety", start=start, verb="closed")


def cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "stream_filter", "policy", *args], env=env, capture_output=True,
                          text=True, timeout=120, check=False)


def wait(pred: Callable[[], bool], what: str) -> None:
    start = time.monotonic()
    while not pred():
        assert time.monotonic() - start < WAIT_S, f"timed out waiting for {what}"
        time.sleep(0.2)


def health(worker: WorkerProcess) -> dict[str, object]:
    return dict(json.loads(worker.get("/healthz")))


def in_force(worker: WorkerProcess) -> list[str]:
    return [p["version"] for p in health(worker)["policies"]]  # type: ignore[attr-defined, index]


def metric(worker: WorkerProcess, name: str, **labels: str) -> float:
    return metric_value(worker.get("/metrics"), name, **labels)


def food_event(listing_id: str, occurred_at: datetime) -> tuple[bytes, bytes]:
    event = {"schema_version": 1, "event_id": f"e-{listing_id}", "event_type": "listing.created",
             "occurred_at": occurred_at.isoformat(), "listing_id": listing_id, "title": FOOD,
             "seller": {"country": "CN"}, "ship_from": {"location": "Shenzhen"}}
    return listing_id.encode(), orjson.dumps(event)


def test_history_future_versions_refusals_and_the_impact_preview(kafka_bootstrap: str, tmp_path: Path) -> None:
    names = Names()
    env = names.env(kafka_bootstrap)
    settings = names.settings(kafka_bootstrap)
    # ten historical versions, as records on the topic (2015 .. 2024, each in force from its year)
    history = [text(str(i), f"{2015 + i}-01-01") for i in range(10)]
    asyncio.run(publish_records(settings, [record(version_key(parse_policy(t)), "live", t) for t in history]))
    worker = WorkerProcess(env, tmp_path / "worker.log").start()
    try:
        wait(lambda: in_force(worker) == ["9"], "version 9 in force")
        assert len(health(worker)["versions"]) == 10  # type: ignore[arg-type]
        assert metric(worker, "stream_filter_policy_updates_total", mode="live") == 1  # applied once

        # a listing decided today under v9, before the next version is published
        now = datetime.now(UTC)
        today_id, later_id = f"{names.suffix}-today", f"{names.suffix}-later"
        outputs = [names.topic("approved"), names.topic("rejected"), names.topic("review")]
        wait(lambda: metric(worker, "stream_filter_reevaluation_passes_total") >= 1, "the pass at assignment")
        asyncio.run(publish(names.settings(kafka_bootstrap), [food_event(today_id, now)]))
        drain(kafka_bootstrap, outputs, 1)
        passes = metric(worker, "stream_filter_reevaluation_passes_total")

        # next version, food closed from tomorrow (Jakarta): the pass it starts changes nothing today
        tomorrow = today() + timedelta(days=1)
        (tmp_path / "v10.yaml").write_text(text("10", tomorrow.isoformat(), "textile_fashion, food_beverage"))
        published = cli(env, "publish", str(tmp_path / "v10.yaml"))
        assert published.returncode == 0, published.stderr
        wait(lambda: metric(worker, "stream_filter_policy_updates_total", mode="live") == 2, "v10 applied")
        wait(lambda: metric(worker, "stream_filter_reevaluation_passes_total") > passes, "the pass after v10")
        assert in_force(worker) == ["9"]
        assert metric(worker, "stream_filter_reevaluation_changes_total", before="approved", after="rejected") == 0

        # an event of v10's date is decided under v10, by itself
        asyncio.run(publish(names.settings(kafka_bootstrap), [food_event(later_id, now + timedelta(days=2))]))
        out = drain(kafka_bootstrap, outputs, 2)
        first: dict[str, tuple[str, str]] = {}  # each event's own decision (re-evaluations come after)
        for r in out:
            body = orjson.loads(r.value or b"")
            first.setdefault(body["listing_id"], (r.topic, body["policy"]["version"]))
        assert first[today_id] == (names.topic("approved"), "9")  # today: v9, food open
        assert first[later_id] == (names.topic("rejected"), "10")  # on its day: v10
        assert not any(orjson.loads(r.value or b"")["reasons"][0]["code"].startswith("POLICY_CHANGE")
                       for r in out if orjson.loads(r.value or b"")["listing_id"] == today_id)

        # the same version with other rules: refused by the CLI; forged onto the topic, ignored
        (tmp_path / "v9-edited.yaml").write_text(text("9", "2024-01-01", "textile_fashion, food_beverage"))
        refused = cli(env, "publish", str(tmp_path / "v9-edited.yaml"))
        assert refused.returncode == 2 and "published already with other content" in refused.stderr
        edited = (tmp_path / "v9-edited.yaml").read_text()
        asyncio.run(publish_records(settings, [record(version_key(parse_policy(edited)), "live", edited)]))
        wait(lambda: metric(worker, "stream_filter_policy_records_invalid_total") == 1, "the forged edit ignored")
        assert "other content" in str(health(worker)["policy_refused"]) and in_force(worker) == ["9"]

        # a bad template is refused at validate time, with its line
        (tmp_path / "bad.yaml").write_text(text("11", "2025-01-01").replace("{cluster} closed", "{0} closed"))
        bad = cli(env, "validate", str(tmp_path / "bad.yaml"))
        assert bad.returncode == 2 and "line 6: blocked_clusters.0.reason.message" in bad.stderr

        # the impact of closing food today, before publishing it: the listing approved today would move
        # (the one of v10's date is rejected already)
        (tmp_path / "v11.yaml").write_text(text("11", "2025-01-01", "textile_fashion, food_beverage"))
        preview = cli(env, "publish", "--dry-run", str(tmp_path / "v11.yaml"))
        assert preview.returncode == 0, preview.stderr
        assert "active listings: 2; would change outcome: 1" in preview.stdout, preview.stdout
        assert f"{today_id}: approved -> rejected" in preview.stdout and "approved -> rejected: 1" in preview.stdout
        assert "the workers ignore a record on the topic" in preview.stderr  # the forged edit, said
        assert metric(worker, "stream_filter_policy_updates_total", mode="live") == 2  # nothing published
    finally:
        assert worker.stop() == 0


def test_a_first_version_not_in_force_today_and_retiring_the_last_one_are_refused(kafka_bootstrap: str,
                                                                                  tmp_path: Path) -> None:
    env = Names().env(kafka_bootstrap)
    (tmp_path / "future.yaml").write_text(text("1", (today() + timedelta(days=3)).isoformat()))
    refused = cli(env, "publish", str(tmp_path / "future.yaml"))
    assert refused.returncode == 2 and "would leave no policy in force" in refused.stderr
    (tmp_path / "now.yaml").write_text(text("2", "2021-01-01"))
    assert cli(env, "publish", str(tmp_path / "now.yaml")).returncode == 0
    retire = cli(env, "retire", "safety@2")
    assert retire.returncode == 2 and "would leave no policy in force" in retire.stderr
    assert cli(env, "publish", str(tmp_path / "future.yaml")).returncode == 0  # now beside one in force
    assert cli(env, "retire", "safety@1").returncode == 0


def test_with_a_verify_key_unsigned_and_forged_records_are_ignored(kafka_bootstrap: str, tmp_path: Path) -> None:
    names = Names()
    keys = tmp_path / "keys"
    made = subprocess.run([sys.executable, "-m", "stream_filter", "policy", "keygen", str(keys)], capture_output=True,
                          text=True, check=False)
    assert made.returncode == 0, made.stderr
    env = names.env(kafka_bootstrap, STREAM_FILTER_POLICY_VERIFY_KEY=str(keys / "policy-signing.pub"))
    settings = names.settings(kafka_bootstrap)
    (tmp_path / "v1.yaml").write_text(text("1", "2021-01-01"))
    signed = cli(env, "publish", str(tmp_path / "v1.yaml"), "--key", str(keys / "policy-signing.key"))
    assert signed.returncode == 0, signed.stderr
    worker = WorkerProcess(env, tmp_path / "worker.log").start()
    try:
        wait(lambda: in_force(worker) == ["1"], "the signed v1")
        v2 = text("2", "2022-01-01", "textile_fashion, food_beverage")
        other, _ = keygen()
        key = version_key(parse_policy(v2))
        asyncio.run(publish_records(settings, [record(key, "live", v2)]))
        wait(lambda: metric(worker, "stream_filter_policy_records_invalid_total") == 1, "the unsigned record ignored")
        assert "unsigned" in str(health(worker)["policy_refused"])
        asyncio.run(publish_records(settings, [record(key, "live", v2, other)]))
        wait(lambda: metric(worker, "stream_filter_policy_records_invalid_total") == 2, "the forged record ignored")
        assert "does not verify" in str(health(worker)["policy_refused"]) and in_force(worker) == ["1"]
        (tmp_path / "v2.yaml").write_text(v2)
        unsigned = cli(env, "publish", str(tmp_path / "v2.yaml"))  # the CLI knows the workers verify
        assert unsigned.returncode == 2 and "sign with --key" in unsigned.stderr
        made = cli(env, "sign", str(tmp_path / "v2.yaml"), "--key", str(keys / "policy-signing.key"),
                   "-o", str(tmp_path / "v2.record.json"))  # signed apart from publishing
        assert made.returncode == 0, made.stderr
        published = cli(env, "publish", "--signed", str(tmp_path / "v2.record.json"))
        assert published.returncode == 0, published.stderr
        wait(lambda: in_force(worker) == ["2"], "the signed v2")
        assert health(worker)["policy_refused"] is None  # a later record was taken: the refusal is history
        assert cli(env, "publish", "--signed", str(tmp_path / "v2.record.json")).returncode == 0  # no change
        assert metric(worker, "stream_filter_policy_records_invalid_total") == 2
    finally:
        assert worker.stop() == 0
