"""A Confluent-compatible schema registry (Confluent's own, Apicurio's `/apis/ccompat/v7`): writer
schemas by id for the input, and subjects for `stream-filter schemas register`.

Why the care about "unknown": a record whose schema id the registry does not have is a dead letter,
but a registry that is down, refuses our credentials or answers 5xx says nothing about the record:
that is an outage, and the batch waits (worker/schema_wait.py). So an id counts as unknown only
after a 404 asked twice, and only while the registry answers one of its own endpoints
(`/schemas/types`) meanwhile. Every other answer, and no answer, raises `RegistryOutage`.

Schemas are immutable per id, so they are kept in memory, and copied to the data dir: a worker
restarted during an outage reads what it had fetched from there (only then: a registry rebuilt at the
same URL may give old ids to new schemas). An id found unknown is asked again after UNKNOWN_FOR_S
(a registry follower may lag behind a producer's registration).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path
from time import monotonic
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import aiohttp

from stream_filter.core.framing import Framing, WriterSchema, framed_id

TIMEOUT_S = 10.0
SECOND_ASK_AFTER_S = 0.5  # a 404, then a second ask this much later
UNKNOWN_FOR_S = 30.0  # an id found unknown is dead-lettered for this long, then asked again
CONTENT_TYPE = "application/vnd.schemaregistry.v1+json"


class RegistryOutage(Exception):
    """The registry cannot say what a schema id is (down, refusing, erring): wait and ask again."""


class SchemaRegistry:
    def __init__(self, url: str, *, username: str | None = None, password: str | None = None,
                 cache_dir: Path | None = None, timeout_s: float = TIMEOUT_S) -> None:
        self.url = url.rstrip("/")
        self.shown = _redacted(self.url)  # for logs and /readyz: no credentials
        self.auth = aiohttp.BasicAuth(username, password or "") if username else None
        self.timeout = aiohttp.ClientTimeout(total=timeout_s)
        self.schemas: dict[int, WriterSchema | None] = {}  # None: the registry has no such id
        digest = hashlib.sha256(self.url.encode()).hexdigest()[:12]  # one cache per registry
        self.cache_dir = cache_dir / "schema-registry" / digest if cache_dir is not None else None
        self._session: aiohttp.ClientSession | None = None
        self._unknown_since: dict[int, float] = {}

    def missing(self, values: Iterable[bytes | None], framing: Framing) -> set[int]:
        """The schema ids these values need that are not known (an unknown one: once UNKNOWN_FOR_S passed)."""
        ids = {i for v in values if v and framing.is_framed(v) and (i := framed_id(v)) is not None}
        now = monotonic()
        for stale in [i for i in ids if i in self._unknown_since and now - self._unknown_since[i] > UNKNOWN_FOR_S]:
            del self._unknown_since[stale], self.schemas[stale]
        return {i for i in ids if i not in self.schemas}

    async def fetch(self, ids: Iterable[int]) -> None:
        """Know every id: fetched, or unknown to a registry that answers. Raises RegistryOutage, after
        taking what it can from the data dir's copies."""
        for schema_id in sorted(ids):
            try:
                await self._fetch(schema_id)
            except RegistryOutage:
                if not self._cached(schema_id):
                    raise

    async def _fetch(self, schema_id: int) -> None:
        status, body = await self.request("GET", f"/schemas/ids/{schema_id}")
        if status == 404:
            await asyncio.sleep(SECOND_ASK_AFTER_S)
            status, body = await self.request("GET", f"/schemas/ids/{schema_id}")  # asked twice
        if status == 200 and isinstance(body, dict) and "schema" in body:
            self._keep(schema_id, body)
        elif status == 404 and await self._answers():
            self.schemas[schema_id] = None
            self._unknown_since[schema_id] = monotonic()
        elif status == 404:
            raise RegistryOutage(f"schema id {schema_id}: 404 while the registry does not answer /schemas/types")
        else:
            raise RegistryOutage(f"schema id {schema_id}: HTTP {status} {_short(body)}")

    async def request(self, method: str, path: str, payload: Any = None) -> tuple[int, Any]:
        """(status, parsed JSON body or text). Raises RegistryOutage when there is no answer."""
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(auth=self.auth, timeout=self.timeout)
        data = json.dumps(payload) if payload is not None else None
        try:
            async with self._session.request(method, self.url + path, data=data,
                                             headers={"Content-Type": CONTENT_TYPE, "Accept": CONTENT_TYPE}) as r:
                text = (await r.read()).decode("utf-8", "replace")
                try:
                    return r.status, json.loads(text) if text else None
                except ValueError:
                    return r.status, text
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            raise RegistryOutage(f"no answer from {self.shown}: {type(exc).__name__}") from exc

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    async def _answers(self) -> bool:
        try:
            status, _ = await self.request("GET", "/schemas/types")
        except RegistryOutage:
            return False
        return status == 200

    def _keep(self, schema_id: int, body: dict[str, Any]) -> None:
        self.schemas[schema_id] = _schema(schema_id, body)
        if self.cache_dir is not None:  # best effort: the memory copy serves this process either way
            try:
                self.cache_dir.mkdir(parents=True, exist_ok=True)
                path = self.cache_dir / f"{schema_id}.json"
                fd, tmp = tempfile.mkstemp(dir=self.cache_dir, suffix=".tmp")
                with os.fdopen(fd, "w", encoding="utf-8") as out:
                    out.write(json.dumps(body))
                os.replace(tmp, path)
            except OSError:
                pass

    def _cached(self, schema_id: int) -> bool:
        """Whether the data dir holds a readable copy of the schema (then kept in memory)."""
        if self.cache_dir is None:
            return False
        try:
            body = json.loads((self.cache_dir / f"{schema_id}.json").read_text(encoding="utf-8"))
            self.schemas[schema_id] = _schema(schema_id, body)
        except Exception:  # noqa: BLE001 - a copy that does not read is no copy
            return False
        return True


def _schema(schema_id: int, body: dict[str, Any]) -> WriterSchema:
    return WriterSchema.of(schema_id, body.get("schemaType"), str(body["schema"]), bool(body.get("references")))


def _redacted(url: str) -> str:
    """The URL without user information (credentials belong in the username and password settings)."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(netloc=parts.hostname + (f":{parts.port}" if parts.port else "")
                                     if parts.hostname else parts.netloc))


def _short(body: Any) -> str:
    return (body if isinstance(body, str) else json.dumps(body))[:200] if body is not None else ""
