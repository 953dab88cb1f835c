"""The review loop and the listing lookup end to end: two worker processes, a real broker.

Listings go to review; verdicts come back through Kafka (one through `stream-filter review`) while
a worker is killed; each listing leaves review for its verdict's topic exactly once (one decision
id, however often replayed); a stale verdict is dead-lettered; an update that changes what a
decision reads lapses the verdict, one that does not keeps it; a policy that adds no reason keeps
verdicts, one that adds a reason re-opens review; lookups through either worker agree with the
catalogue a consumer builds, and need the token.
"""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

from stream_filter.core.catalogue import Catalogue
from stream_filter.kafka.publish import publish
from tests.factories import policy_text, verdict_body
from tests.support import Names, WorkerProcess, catalogue_of, drain, free_port, metric_value, wait_until_shared

WAIT_S = 90.0
TOKEN = "review-loop-token"
TEXTILE = "Kaos Polos Cotton Combed 30s"  # with no origin fields: unknown origin in a closed cluster -> review
N_REVIEW, N_OTHER = 40, 60
APPROVE, REJECT = range(0, 15), range(15, 30)
FLOOR = ("min_price: {amount: 100, currency: USD, origins: [unknown], reason: "
         "{code: BELOW_MIN_FOB_PRICE, legal_basis: test, message: \"{unit_price} < {floor}\"}}\n")


def _event(listing_id: str, seq: int, title: str = TEXTILE, **fields: Any) -> tuple[bytes, bytes]:
    body = {"schema_version": 1, "event_id": f"{listing_id}-e{seq}", "event_type": "listing.created" if seq == 0
            else "listing.updated", "occurred_at": "2026-11-01T00:00:00Z", "listing_id": listing_id, "title": title,
            **fields}
    return listing_id.encode(), orjson.dumps(body)


def _verdict(listing_id: str, decision_id: str, verdict: str, n: int) -> tuple[bytes, bytes]:
    return listing_id.encode(), verdict_body(listing_id, decision_id, verdict, verdict_id=f"{listing_id}-v{n}")


def _wait(what: str, check: Callable[[], bool]) -> None:
    deadline = time.monotonic() + WAIT_S
    while not check():
        assert time.monotonic() < deadline, f"timed out: {what}"
        time.sleep(0.5)


def _lookup(worker: WorkerProcess, listing_id: str, token: str | None = TOKEN) -> tuple[int, dict[str, Any]]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    request = urllib.request.Request(f"http://127.0.0.1:{worker.port}/listings/{listing_id}", headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return int(response.status), orjson.loads(response.read())
    except urllib.error.HTTPError as exc:
        return int(exc.code), orjson.loads(exc.read())


def test_review_verdicts_and_lookup_with_two_workers(kafka_bootstrap: str, tmp_path: Path) -> None:
    names = Names()
    files = {v: tmp_path / f"v{v}.yaml" for v in "123"}
    files["1"].write_text(policy_text("1", policy_id="rv"))
    files["2"].write_text(policy_text("2", "textile_fashion, crafts", policy_id="rv"))  # adds nothing these see
    files["3"].write_text(policy_text("3", "textile_fashion, crafts", policy_id="rv") + FLOOR)  # adds a reason
    ports = [free_port(), free_port()]
    workers = [WorkerProcess(names.env(kafka_bootstrap, STREAM_FILTER_POLICY=str(files["1"]),
                                       STREAM_FILTER_WEB_HOST="0.0.0.0", STREAM_FILTER_WEB_PORT=str(port),
                                       STREAM_FILTER_ADVERTISED_URL=f"http://127.0.0.1:{port}",
                                       STREAM_FILTER_API_TOKEN=TOKEN, STREAM_FILTER_LAG_INTERVAL_S="1"),
                               tmp_path / f"w{i}.log") for i, port in enumerate(ports)]
    settings = names.settings(kafka_bootstrap)
    cli_env = dict(workers[0].env)
    try:
        for worker in workers:
            worker.start()
        wait_until_shared(workers, 4)
        review = [f"rv-{i}" for i in range(N_REVIEW)]
        others = [f"ok-{i}" for i in range(N_OTHER)]
        local = {"seller": {"country": "ID"}, "ship_from": {"location": "Kota Bandung"}}
        abroad = {"seller": {"country": "CN"}, "ship_from": {"location": "Shenzhen"}}
        asyncio.run(publish(settings, [_event(lid, 0) for lid in review]
                            + [_event(lid, 0, **(local if i % 2 else abroad)) for i, lid in enumerate(others)]))
        first = drain(kafka_bootstrap, [names.topic("review")], N_REVIEW)
        decisions = {orjson.loads(r.value or b"")["listing_id"]: orjson.loads(r.value or b"")["decision_id"]
                     for r in first}
        assert set(decisions) == set(review)

        # verdicts: one through the CLI, the others published; one stale
        subprocess.run([sys.executable, "-m", "stream_filter", "review", "approve", "rv-0", "--note", "NIB ok",
                        "--reviewer", "rev-cli"], env=cli_env, check=True, capture_output=True, timeout=60)
        verdicts = [_verdict(f"rv-{i}", decisions[f"rv-{i}"], "approved", 0) for i in APPROVE if i]
        verdicts += [_verdict(f"rv-{i}", decisions[f"rv-{i}"], "rejected", 0) for i in REJECT]
        verdicts.append(_verdict("rv-39", "a-decision-no-longer-latest", "approved", 0))
        asyncio.run(publish(settings, verdicts, names.topic("review-verdicts")))
        workers[1].stop(signal.SIGKILL)  # in the middle of the verdicts: its partitions replay on the other

        def placed() -> Catalogue:
            return catalogue_of(kafka_bootstrap, names)

        _wait("verdicts applied", lambda: {f"rv-{i}" for i in APPROVE} <= placed().listings["approved"]
              and {f"rv-{i}" for i in REJECT} <= placed().listings["rejected"])
        workers[1] = WorkerProcess(workers[1].env, workers[1].log_path).start()  # same port and data dir
        wait_until_shared(workers, 4)
        where = placed().topics_of()
        assert all(where[f"rv-{i}"] == {"approved"} for i in APPROVE)
        assert all(where[f"rv-{i}"] == {"rejected"} for i in REJECT)
        assert all(where[f"rv-{i}"] == {"review"} for i in range(30, N_REVIEW))
        outputs = drain(kafka_bootstrap, [names.topic(k) for k in ("approved", "rejected", "review")],
                        N_REVIEW + N_OTHER + 60)
        bodies = {b["decision_id"]: b for b in (orjson.loads(r.value or b"") for r in outputs)}  # replays: one id
        made = Counter(b["listing_id"] for b in bodies.values()
                       if b["reasons"][0]["code"].startswith("REVIEW_VERDICT_") and b["action"] == "upsert")
        left = Counter(b["listing_id"] for b in bodies.values() if b["action"] == "remove" and b["outcome"] == "review")
        assert made == Counter({f"rv-{i}": 1 for i in [*APPROVE, *REJECT]})  # exactly once, whatever was replayed
        assert left == made
        cli_made = next(orjson.loads(r.value or b"") for r in outputs if r.key == b"rv-0"
                        and orjson.loads(r.value or b"")["outcome"] == "approved")
        assert cli_made["verdict"]["reviewer_id"] == "rev-cli" and cli_made["verdict"]["note"] == "NIB ok"
        dead = drain(kafka_bootstrap, [names.topic("dead-letter")], 1)
        assert [r.headers["error-code"] for r in dead] == [b"STALE_VERDICT"]
        assert dead[0].headers["source-topic"] == names.topic("review-verdicts").encode()

        # updates: stock only keeps the verdict; a new title lapses it (back to review)
        asyncio.run(publish(settings, [_event("rv-2", 1, stock=5), _event("rv-3", 1, title=TEXTILE + " Premium")]))
        _wait("the retitled listing back in review", lambda: placed().topics_of().get("rv-3") == {"review"})
        assert placed().topics_of()["rv-2"] == {"approved"}

        # a policy that adds no reason keeps the verdicts; one that adds a reason re-opens review
        def passes() -> float:
            return sum(metric_value(w.get("/metrics"), "stream_filter_reevaluation_passes_total") for w in workers)

        before = passes()
        subprocess.run([sys.executable, "-m", "stream_filter", "policy", "publish", str(files["2"])], env=cli_env,
                       check=True, capture_output=True, timeout=60)
        _wait("policy 2 enforced", lambda: passes() >= before + 2
              and all(orjson.loads(w.get("/healthz"))["policies"][0]["version"] == "2" for w in workers))
        where = placed().topics_of()
        assert all(where[f"rv-{i}"] == {"approved"} for i in APPROVE if i != 3)
        assert all(where[f"rv-{i}"] == {"rejected"} for i in REJECT)
        subprocess.run([sys.executable, "-m", "stream_filter", "policy", "publish", str(files["3"])], env=cli_env,
                       check=True, capture_output=True, timeout=60)
        _wait("review re-opened by policy 3", lambda: all(placed().topics_of()[f"rv-{i}"] == {"review"}
                                                          for i in APPROVE))
        # rejected by a reviewer, the new reason does not reject them (review < rejected)... they re-open too
        assert all(placed().topics_of()[f"rv-{i}"] == {"review"} for i in REJECT)

        # lookups through either worker agree with the consumer-built catalogue
        where = placed().topics_of()
        assert _lookup(workers[0], "rv-1", token=None)[0] == 401
        answered = 0
        for n, listing_id in enumerate(sorted([*review, *others])):
            status, body = _lookup(workers[n % 2], listing_id)
            assert status == 200, body
            assert {body["decision"]["outcome"]} == where[listing_id], (listing_id, body)
            answered += 1
        assert answered == N_REVIEW + N_OTHER
        served = Counter(_lookup(workers[0], lid)[1]["served_by"] for lid in review)
        assert len(served) == 2  # the other worker's listings were answered there
        status, body = _lookup(workers[1], "rv-2")
        assert body["history"] and body["history"][0]["outcome"] in ("approved", "review")
        assert _lookup(workers[1], "no-such-listing")[0] == 404
        # the metrics, on one more verdict and one more stale one (the killed worker's counts were lost with it)
        def count(name: str, **labels: str) -> float:
            return sum(metric_value(w.get("/metrics"), name, **labels) for w in workers)

        before = [count("stream_filter_review_verdicts_total", outcome="approved"),
                  count("stream_filter_review_verdicts_total", outcome="STALE_VERDICT"),
                  count("stream_filter_review_seconds_count")]
        latest = _lookup(workers[0], "rv-5")[1]["decision"]["decision_id"]
        asyncio.run(publish(settings, [_verdict("rv-5", latest, "approved", 1), _verdict("rv-6", "old", "approved", 1)],
                            names.topic("review-verdicts")))
        _wait("the last verdicts counted", lambda: [
            count("stream_filter_review_verdicts_total", outcome="approved"),
            count("stream_filter_review_verdicts_total", outcome="STALE_VERDICT"),
            count("stream_filter_review_seconds_count")] == [n + 1 for n in before])
        assert placed().topics_of()["rv-5"] == {"approved"}
        _wait("review gauge", lambda: count("stream_filter_review_listings") == len(placed().listings["review"]))
    finally:
        for worker in workers:
            worker.stop()
