"""Signed review verdicts on a real broker: a worker given reviewer keys applies only verdicts signed by
the key of the reviewer they name, for this deployment; forged, unsigned, replayed and revoked-key
verdicts move nothing and are dead-lettered with their own codes, counted and shown on /healthz.

The signatures here are made from the documented format (docs/contracts.md, "Signed verdicts"), not
with the project's signing function, so the test holds the wire format as well as the check."""

from __future__ import annotations

import asyncio
import base64
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from stream_filter.kafka.publish import publish
from tests.support import Names, WorkerProcess, catalogue_of, drain, free_port, metric_value

WAIT_S = 60.0
TEXTILE = "Kaos Polos Cotton Combed 30s"  # with no origin fields: unknown origin in a closed cluster -> review
LISTINGS = ["L-unsigned", "L-forged", "L-stranger", "L-alice", "L-cli"]


def _pair(directory: Path, reviewer: str) -> Ed25519PrivateKey:
    key = Ed25519PrivateKey.generate()
    public = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    (directory / f"{reviewer}.pem").write_bytes(public)
    (directory / f"{reviewer}.key").write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    return key


def _verdict(listing_id: str, decision_id: str, reviewer: str, n: int, verdict: str = "approved",
             key: Ed25519PrivateKey | None = None, deployment: str = "") -> tuple[bytes, bytes]:
    body: dict[str, Any] = {"schema_version": 1, "verdict_id": f"{listing_id}-v{n}", "listing_id": listing_id,
                            "decision_id": decision_id, "verdict": verdict, "reviewer_id": reviewer,
                            "reason_code": "LOCAL_SELLER_CONFIRMED", "note": "", "reviewed_at": "2026-12-08T01:00:00Z",
                            "expires_at": None}
    if key is not None:  # the documented format: sorted JSON of the deployment and the verdict without signature
        signed = orjson.dumps({"deployment": deployment, "verdict": body}, option=orjson.OPT_SORT_KEYS)
        body["signature"] = base64.b64encode(key.sign(signed)).decode()
    return listing_id.encode(), orjson.dumps(body)


def _status(worker: WorkerProcess, path: str) -> int:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{worker.port}{path}", timeout=10) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        with exc:
            return int(exc.code)


def _wait(what: str, check: Callable[[], bool]) -> None:
    deadline = time.monotonic() + WAIT_S
    while not check():
        assert time.monotonic() < deadline, f"timed out: {what}"
        time.sleep(0.3)


def test_only_verdicts_signed_by_a_listed_reviewer_move_listings(kafka_bootstrap: str, tmp_path: Path) -> None:
    names = Names()
    keys, private = tmp_path / "reviewer-keys", tmp_path / "private"
    keys.mkdir()
    private.mkdir()
    alice = _pair(private, "alice")
    (keys / "alice.pem").write_bytes((private / "alice.pem").read_bytes())
    mallory = _pair(private, "mallory")  # a key pair no worker lists
    env = names.env(kafka_bootstrap, STREAM_FILTER_REVIEWER_KEYS=str(keys), STREAM_FILTER_WEB_PORT=str(free_port()))
    settings = names.settings(kafka_bootstrap)
    deployment = settings.app_id
    worker = WorkerProcess(env, tmp_path / "worker.log").start()
    try:
        worker.get("/metrics")  # the worker answers
        events = [(lid.encode(), orjson.dumps({"schema_version": 1, "event_id": f"{lid}-e0", "event_type":
                                               "listing.created", "occurred_at": "2026-12-01T00:00:00Z",
                                               "listing_id": lid, "title": TEXTILE})) for lid in LISTINGS]
        asyncio.run(publish(settings, events))
        decisions = {orjson.loads(r.value or b"")["listing_id"]: orjson.loads(r.value or b"")["decision_id"]
                     for r in drain(kafka_bootstrap, [names.topic("review")], len(LISTINGS))}
        assert set(decisions) == set(LISTINGS)

        verdicts = [
            _verdict("L-unsigned", decisions["L-unsigned"], "alice", 0),  # anyone with write access, unsigned
            _verdict("L-forged", decisions["L-forged"], "alice", 0, key=mallory, deployment=deployment),
            _verdict("L-stranger", decisions["L-stranger"], "mallory", 0, key=mallory, deployment=deployment),
            _verdict("L-alice", decisions["L-alice"], "alice", 0, key=alice, deployment="another-deployment"),
            _verdict("L-alice", decisions["L-alice"], "alice", 1, key=alice, deployment=deployment),
        ]
        asyncio.run(publish(settings, verdicts, names.topic("review-verdicts")))

        def where() -> dict[str, set[str]]:
            return catalogue_of(kafka_bootstrap, names).topics_of()

        dead = drain(kafka_bootstrap, [names.topic("dead-letter")], 4)
        _wait("every verdict settled", lambda: where().get("L-alice") == {"approved"}
              or where().get("L-unsigned") != {"review"})
        assert where()["L-unsigned"] == {"review"}  # a forged verdict moves nothing
        assert all(where()[lid] == {"review"} for lid in ("L-forged", "L-stranger"))
        assert where()["L-alice"] == {"approved"}
        assert sorted((r.key, r.headers["error-code"]) for r in dead) == [
            (b"L-alice", b"BAD_VERDICT_SIGNATURE"), (b"L-forged", b"BAD_VERDICT_SIGNATURE"),
            (b"L-stranger", b"UNKNOWN_REVIEWER"), (b"L-unsigned", b"UNSIGNED_VERDICT")]

        # a reviewer signing through the CLI
        subprocess.run([sys.executable, "-m", "stream_filter", "review", "approve", "L-cli", "--reviewer", "alice",
                        "--decision", decisions["L-cli"], "--key", str(private / "alice.key")],
                       env=worker.env, check=True, capture_output=True, timeout=60)
        _wait("the CLI's verdict applied", lambda: where().get("L-cli") == {"approved"})

        # the same signed verdict published again moves nothing
        asyncio.run(publish(settings, [verdicts[-1]], names.topic("review-verdicts")))
        replayed = drain(kafka_bootstrap, [names.topic("dead-letter")], 5)
        assert [r.headers["error-code"] for r in replayed if r.key == b"L-alice"].count(b"REPLAYED_VERDICT") == 1

        # alice's key revoked: her applied verdicts stay, a new one is refused
        (keys / "alice.pem").unlink()
        _wait("the keys read again", lambda: orjson.loads(worker.get("/healthz"))["verdicts"]["reviewers"] == 0)
        approved = next(orjson.loads(r.value or b"") for r in drain(kafka_bootstrap, [names.topic("approved")], 2)
                        if r.key == b"L-alice")
        late = _verdict("L-alice", approved["decision_id"], "alice", 2, verdict="rejected", key=alice,
                        deployment=deployment)
        asyncio.run(publish(settings, [late], names.topic("review-verdicts")))
        refused = drain(kafka_bootstrap, [names.topic("dead-letter")], 6)
        assert [r.headers["error-code"] for r in refused][-1:] == [b"UNKNOWN_REVIEWER"]
        assert where()["L-alice"] == {"approved"} and where()["L-cli"] == {"approved"}

        assert orjson.loads(worker.get("/healthz"))["policy_signatures_checked"] is False  # no verify key here
        assert {page: _status(worker, page) for page in ("/router/", "/table/", "/stats/", "/graph/")} == {
            "/router/": 404, "/table/": 404, "/stats/": 404, "/graph/": 404}  # Faust's own pages are off
        health = orjson.loads(worker.get("/healthz"))["verdicts"]
        assert health["checked"] is True and health["refused"] == {
            "UNSIGNED_VERDICT": 1, "BAD_VERDICT_SIGNATURE": 2, "UNKNOWN_REVIEWER": 2, "REPLAYED_VERDICT": 1}
        metrics = worker.get("/metrics")
        assert metric_value(metrics, "stream_filter_review_verdicts_total", outcome="BAD_VERDICT_SIGNATURE") == 2
        assert metric_value(metrics, "stream_filter_review_verdicts_total", outcome="approved") == 2
    finally:
        worker.stop()
