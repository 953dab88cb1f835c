"""Two workers serving https (a certificate from a test CA): a lookup asked of either is answered,
the other worker's listings forwarded to it over TLS, checked against the CA; the token never
crosses the network in plain text, and a plain-HTTP request is not answered."""

from __future__ import annotations

import asyncio
import json
import urllib.error
import urllib.request
from pathlib import Path

import orjson

from stream_filter.kafka.publish import publish
from stream_filter.kafka.topics import ensure_topics
from tests.certs import make_certs
from tests.factories import event_dict
from tests.support import Names, WorkerProcess, free_port, settings_of, wait_caught_up, wait_until_shared

TOKEN = "tls-lookup-token"
LISTINGS = 40


def _lookup(worker: WorkerProcess, listing_id: str) -> tuple[int, dict[str, object]]:
    request = urllib.request.Request(f"{worker.base_url}/listings/{listing_id}",
                                     headers={"Authorization": f"Bearer {TOKEN}"})
    try:
        with urllib.request.urlopen(request, timeout=10, context=worker.tls) as response:
            return int(response.status), orjson.loads(response.read())
    except urllib.error.HTTPError as exc:
        with exc:
            return int(exc.code), orjson.loads(exc.read())


def test_lookups_between_workers_over_tls(kafka_bootstrap: str, tmp_path: Path) -> None:
    certs = make_certs(tmp_path / "certs")
    names = Names()
    ports = [free_port(), free_port()]
    workers = [WorkerProcess(names.env(
        kafka_bootstrap, STREAM_FILTER_WEB_HOST="0.0.0.0", STREAM_FILTER_WEB_PORT=str(port),
        STREAM_FILTER_ADVERTISED_URL=f"https://127.0.0.1:{port}", STREAM_FILTER_API_TOKEN=TOKEN,
        STREAM_FILTER_WEB_TLS_CERTFILE=str(certs.broker_keystore), STREAM_FILTER_WEB_TLS_CAFILE=str(certs.ca),
        STREAM_FILTER_LAG_INTERVAL_S="1"), tmp_path / f"w{i}.log") for i, port in enumerate(ports)]
    settings = settings_of(workers[0].env)
    asyncio.run(ensure_topics(settings))
    try:
        for worker in workers:
            worker.start()
        wait_until_shared(workers, 4)
        ids = [f"{names.suffix}-{i}" for i in range(LISTINGS)]
        asyncio.run(publish(settings, [(lid.encode(), orjson.dumps(event_dict(listing_id=lid, event_id=f"{lid}-e")))
                                       for lid in ids]))
        wait_caught_up(kafka_bootstrap, names, workers[0])
        served = [_lookup(workers[n % 2], lid) for n, lid in enumerate(ids)]
        assert [status for status, _ in served] == [200] * LISTINGS, served[:3]
        forwarded = sum(body["served_by"] != f"https://127.0.0.1:{ports[n % 2]}" for n, (_, body) in enumerate(served))
        assert forwarded > 0  # asked of one worker, answered by the other: forwarded over TLS
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{ports[0]}/healthz", timeout=5)
            plain = True
        except (urllib.error.URLError, ConnectionError, OSError):
            plain = False
        assert not plain  # the web server speaks TLS only
        assert json.loads(workers[0].get("/healthz"))["status"] == "ok"
    finally:
        for worker in workers:
            worker.stop()
