"""Operations as inputs: write permission on one output revoked mid-run, then restored; SIGTERM with
an output refusing writes or the broker down. Each ends in the documented state, and once writes
work again the catalogue a consumer builds equals every listing's latest decision.

On the secured broker (tests/secure.py): the worker authenticates with SCRAM; an ACL denies it
writes on one topic. Figures are printed (pytest -s).
"""

from __future__ import annotations

import asyncio
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

from stream_filter.core.catalogue import expected_topics
from stream_filter.core.policy.book import PolicyBook
from stream_filter.dev import local_kafka
from stream_filter.kafka.publish import publish
from stream_filter.kafka.topics import ensure_topics
from stream_filter.worker.shutdown import EXIT_OUTPUT_BLOCKED, EXIT_SHUTDOWN_TIMEOUT
from tests.acls import restore_write, revoke_write
from tests.secure import USER, SecureBroker, sasl_env
from tests.support import Names, WorkerProcess, catalogue_of, committed_lag, listing_events, wait_caught_up

REPORTED_WITHIN_S = 60.0  # the bound for /readyz to tell
SHUTDOWN_BOUND_S = 8.0
EXIT_MARGIN_S = 6.0  # interpreter start-up and the signal's way through Faust


def _blocked_on(topic: str) -> Any:
    return lambda code, body: code == 503 and any(topic in r for r in body["reasons"])


def _ready(code: int, body: dict[str, Any]) -> bool:
    return code == 200 and body["status"] == "ready"


def _a_new_worker_catches_up(bootstrap: str, names: Names, env: dict[str, str], log: Path) -> None:
    worker = WorkerProcess(env, log).start()
    try:
        wait_caught_up(bootstrap, names, worker)
    finally:
        assert worker.stop() == 0


def _check_catalogue(bootstrap: str, names: Names, records: list[tuple[bytes, bytes]]) -> None:
    wanted = expected_topics((value for _, value in records), PolicyBook.load("default"))
    differ = catalogue_of(bootstrap, names).differences(wanted)
    assert differ == {}, sorted(differ.items())[:5]


def test_revoked_write_is_reported_and_nothing_is_lost_once_restored(secure_broker: SecureBroker,
                                                                     tmp_path: Path) -> None:
    names, plain = Names(), secure_broker.plaintext
    env = names.env(secure_broker.sasl_ssl, **sasl_env(secure_broker), STREAM_FILTER_OUTPUT_BLOCKED_EXIT_S="600")
    records, _ = listing_events(names.suffix, 400, keys=120, delete_every=29)
    asyncio.run(ensure_topics(names.settings(plain)))
    worker = WorkerProcess(env, tmp_path / "w.log").start()
    try:
        worker.wait_status("/readyz", _ready, REPORTED_WITHIN_S, "ready at start")
        asyncio.run(publish(names.settings(plain), records[:150]))
        wait_caught_up(plain, names, worker)
        revoke_write(plain, USER, names.topic("approved"))
        asyncio.run(publish(names.settings(plain), records[150:]))
        reported = worker.wait_status("/readyz", _blocked_on(names.topic("approved")), REPORTED_WITHIN_S,
                                      "/readyz naming the refused topic")
        assert committed_lag(plain, names.app_id, names.topic("new")) > 0  # the blocked batch is not committed
        restore_write(plain, USER, names.topic("approved"))
        recovered = worker.wait_status("/readyz", _ready, REPORTED_WITHIN_S, "ready again once restored")
        wait_caught_up(plain, names, worker)
    finally:
        assert worker.stop() == 0
    log = worker.log()
    assert "cannot write to " + names.topic("approved") in log and "TopicAuthorizationFailedError" in log
    assert names.suffix + "-k" not in log  # no listing id in the log at INFO
    _check_catalogue(plain, names, records)
    print(f"\nrevoked write: /readyz reported it after {reported:.1f} s, ready {recovered:.1f} s after restore")


def test_a_refusal_past_the_bound_exits_5_and_sigterm_meanwhile_is_bounded(secure_broker: SecureBroker,
                                                                           tmp_path: Path) -> None:
    names, plain = Names(), secure_broker.plaintext
    env = names.env(secure_broker.sasl_ssl, **sasl_env(secure_broker), STREAM_FILTER_OUTPUT_BLOCKED_EXIT_S="600",
                    STREAM_FILTER_SHUTDOWN_TIMEOUT_S=str(SHUTDOWN_BOUND_S))
    records, _ = listing_events(names.suffix, 200, keys=60)
    asyncio.run(ensure_topics(names.settings(plain)))
    revoke_write(plain, USER, names.topic("rejected"))
    first = WorkerProcess(env, tmp_path / "first.log").start()
    first.get("/healthz")
    asyncio.run(publish(names.settings(plain), records))
    first.wait_status("/readyz", _blocked_on(names.topic("rejected")), REPORTED_WITHIN_S, "blocked on rejected")
    started = time.monotonic()
    code = first.stop(signal.SIGTERM, SHUTDOWN_BOUND_S + EXIT_MARGIN_S)
    stopped = time.monotonic() - started
    assert code == EXIT_SHUTDOWN_TIMEOUT, first.log()[-3000:]
    assert "stop not finished within" in first.log()

    second = WorkerProcess({**env, "STREAM_FILTER_OUTPUT_BLOCKED_EXIT_S": "10"}, tmp_path / "second.log").start()
    assert second.proc is not None
    try:
        exit_code = second.proc.wait(120)
    except subprocess.TimeoutExpired:
        second.stop(signal.SIGKILL)
        raise AssertionError("the worker did not exit on a lasting refusal") from None
    assert exit_code == EXIT_OUTPUT_BLOCKED, second.log()[-3000:]
    last = [line for line in second.log().splitlines() if line.startswith("stream-filter worker:")][-1]
    assert names.topic("rejected") in last and "TopicAuthorizationFailedError" in last, last

    restore_write(plain, USER, names.topic("rejected"))
    _a_new_worker_catches_up(plain, names, env, tmp_path / "third.log")
    _check_catalogue(plain, names, records)
    print(f"\nSIGTERM while blocked: exit {code} after {stopped:.1f} s (bound {SHUTDOWN_BOUND_S:.0f} s); "
          f"a lasting refusal: exit {exit_code}")


def test_sigterm_with_the_broker_down_ends_within_the_bound(tmp_path: Path) -> None:
    root = tmp_path / "kafka"
    handle = local_kafka.start(local_kafka.DEFAULT_PORT + 400, root)
    try:
        names, bootstrap = Names(), handle.bootstrap
        env = names.env(bootstrap, STREAM_FILTER_SHUTDOWN_TIMEOUT_S=str(SHUTDOWN_BOUND_S))
        records, _ = listing_events(names.suffix, 300, keys=80, delete_every=31)
        asyncio.run(ensure_topics(names.settings(bootstrap)))
        worker = WorkerProcess(env, tmp_path / "w.log").start()
        worker.get("/healthz")
        asyncio.run(publish(names.settings(bootstrap), records[:200]))
        wait_caught_up(bootstrap, names, worker)
        asyncio.run(publish(names.settings(bootstrap), records[200:]))
        local_kafka.stop_pid(handle.pid)  # the broker is down, whatever the worker was doing
        started = time.monotonic()
        code = worker.stop(signal.SIGTERM, SHUTDOWN_BOUND_S + EXIT_MARGIN_S)
        stopped = time.monotonic() - started
        local_kafka.restart(root)
        _a_new_worker_catches_up(bootstrap, names, env, tmp_path / "again.log")
        _check_catalogue(bootstrap, names, records)
    finally:
        local_kafka.stop(root)
    print(f"\nSIGTERM with the broker down: exit {code} after {stopped:.1f} s (bound {SHUTDOWN_BOUND_S:.0f} s)")
