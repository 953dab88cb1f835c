"""Outage or unknown: the registry client's answers, and a batch that waits through an outage.

The registry here is a small HTTP server on loopback that answers as a Confluent-compatible registry
does (its status codes and bodies); tests/integration/registry runs the same against a real one.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from prometheus_client import CollectorRegistry

from stream_filter.core.framing import Framing
from stream_filter.dev.framed import frame
from stream_filter.kafka.schema_registry import RegistryOutage, SchemaRegistry
from stream_filter.worker.metrics import Metrics
from stream_filter.worker.output_health import OutputHealth
from stream_filter.worker.readiness import Readiness
from stream_filter.worker.schema_wait import SchemaWait
from tests.factories import Msg

AVRO = '{"type": "record", "name": "R", "fields": [{"name": "a", "type": "string"}]}'


class FakeRegistry:
    """Schema 1 (Avro) and 2 (JSON); `down`: every path answers 503; `types_down`: /schemas/types too."""

    def __init__(self) -> None:
        self.down = False
        self.types_down = False
        self.asked: list[str] = []

    async def ids(self, request: web.Request) -> web.Response:
        self.asked.append(request.path)
        if self.down:
            return web.Response(status=503, text="unavailable")
        schemas = {1: {"schema": AVRO}, 2: {"schema": "{}", "schemaType": "JSON"}}
        found = schemas.get(int(request.match_info["id"]))
        if found is None:
            return web.json_response({"error_code": 40403, "message": "Schema not found"}, status=404)
        return web.json_response(found)

    async def types(self, request: web.Request) -> web.Response:
        if self.down or self.types_down:
            return web.Response(status=503)
        return web.json_response(["JSON", "PROTOBUF", "AVRO"])


def _serve(fake: FakeRegistry, body: Callable[[str], Awaitable[Any]]) -> Any:
    async def run() -> Any:
        app = web.Application()
        app.router.add_get("/ccompat/schemas/ids/{id}", fake.ids)
        app.router.add_get("/ccompat/schemas/types", fake.types)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        try:
            return await body(f"http://127.0.0.1:{port}/ccompat")
        finally:
            await runner.cleanup()
    return asyncio.run(run())


def test_fetched_unknown_and_outage(tmp_path: Path) -> None:
    fake = FakeRegistry()

    async def body(url: str) -> None:
        registry = SchemaRegistry(url, cache_dir=tmp_path)
        await registry.fetch({1, 2, 3})
        one, two = registry.schemas[1], registry.schemas[2]
        assert one is not None and one.schema_type == "AVRO" and one.parsed is not None
        assert two is not None and two.schema_type == "JSON"
        assert registry.schemas[3] is None  # a 404 twice, while the registry answers its own endpoints
        assert fake.asked.count("/ccompat/schemas/ids/3") == 2
        fake.types_down = True  # a 404 from something that is not a working registry: an outage
        try:
            await registry.fetch({4})
            raise AssertionError("no outage")
        except RegistryOutage as exc:
            assert "404" in str(exc)
        fake.down = True
        try:
            await registry.fetch({5})
            raise AssertionError("no outage")
        except RegistryOutage as exc:
            assert "503" in str(exc)
        await registry.close()
        # a worker started again during the outage reads what was fetched from its data dir
        again = SchemaRegistry(url, cache_dir=tmp_path)
        assert again.missing([frame(1, b""), frame(2, b""), b"{}"], Framing("auto")) == {1, 2}
        await again.fetch({1, 2})
        assert again.schemas[1] is not None and again.schemas[2] is not None
        try:
            await again.fetch({3})  # never fetched: no copy, and unknown is not remembered across starts
            raise AssertionError("no outage")
        except RegistryOutage:
            pass
        await again.close()

    _serve(fake, body)


def test_an_unknown_id_is_asked_again_later(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A registry follower may lag behind a producer's registration: unknown is not for ever."""
    from stream_filter.kafka import schema_registry

    fake = FakeRegistry()

    async def body(url: str) -> None:
        registry = SchemaRegistry(url)
        await registry.fetch({3})
        assert registry.schemas[3] is None and registry.missing([frame(3, b"")], Framing("registry")) == set()
        monkeypatch.setattr(schema_registry, "UNKNOWN_FOR_S", 0.0)
        await asyncio.sleep(0.01)
        assert registry.missing([frame(3, b"")], Framing("registry")) == {3}
        await registry.close()

    _serve(fake, body)


def test_no_answer_is_an_outage() -> None:
    async def body() -> None:
        registry = SchemaRegistry("http://127.0.0.1:9/ccompat", timeout_s=2)
        try:
            await registry.fetch({1})
            raise AssertionError("no outage")
        except RegistryOutage as exc:
            assert "no answer" in str(exc)
        await registry.close()
    asyncio.run(body())


def test_a_batch_waits_through_an_outage_and_says_why(tmp_path: Path) -> None:
    fake = FakeRegistry()
    fake.down = True
    readiness = Readiness(OutputHealth(), 60.0)
    metrics = Metrics(CollectorRegistry(), "test")

    async def body(url: str) -> None:
        registry = SchemaRegistry(url, cache_dir=tmp_path)
        framing = Framing("registry", registry.schemas)
        wait = SchemaWait(registry, framing, readiness, metrics, lambda: False, first_retry_s=0.05)
        records = [Msg(value=frame(1, b"\x02a")), Msg(value=frame(7, b""))]
        waiting = asyncio.ensure_future(wait.known(records))
        await asyncio.sleep(0.5)
        assert not waiting.done()  # nothing decided while the registry is down
        assert any("schema registry unavailable" in r for r in readiness.not_ready())
        fake.down = False
        assert await asyncio.wait_for(waiting, 5) is True
        assert readiness.registry_outage is None
        assert registry.schemas[1] is not None and registry.schemas[7] is None  # then 7 is a dead letter
        await registry.close()

    _serve(fake, body)
    fetches = {s.labels["result"]: s.value for m in metrics.registry.collect() for s in m.samples
               if s.name == "stream_filter_schema_fetches_total"}
    assert fetches["outage"] >= 2 and fetches["fetched"] == 1 and fetches["unknown"] == 1


def test_a_batch_revoked_while_it_waits_stops_waiting(tmp_path: Path) -> None:
    fake = FakeRegistry()
    fake.down = True
    readiness = Readiness(OutputHealth(), 60.0)

    async def body(url: str) -> bool:
        registry = SchemaRegistry(url, cache_dir=tmp_path)
        wait = SchemaWait(registry, Framing("registry", registry.schemas), readiness,
                          Metrics(CollectorRegistry(), "test"), lambda: False, first_retry_s=0.05)
        revoked = asyncio.get_running_loop().time() + 0.3
        try:
            return await asyncio.wait_for(wait.known([Msg(value=frame(1, b""))],
                                                     lambda: asyncio.get_running_loop().time() > revoked), 5)
        finally:
            await registry.close()

    assert _serve(fake, body) is False
    assert readiness.registry_outage is None  # the next reader of the partitions says so if it waits


def test_a_worker_stopping_while_it_waits_decides_nothing(tmp_path: Path) -> None:
    fake = FakeRegistry()
    fake.down = True

    async def body(url: str) -> bool:
        registry = SchemaRegistry(url, cache_dir=tmp_path)
        wait = SchemaWait(registry, Framing("registry", registry.schemas), Readiness(OutputHealth(), 60.0),
                          Metrics(CollectorRegistry(), "test"), lambda: True, first_retry_s=0.05)
        try:
            return await wait.known([Msg(value=frame(1, b""))])
        finally:
            await registry.close()

    assert _serve(fake, body) is False
    assert fake.asked  # it asked, and stopped waiting when told to stop
