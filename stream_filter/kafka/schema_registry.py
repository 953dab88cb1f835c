"""A Confluent-compatible schema registry (Confluent's own, Apicurio's `/apis/ccompat/v7`): writer
schemas by id for the input, and subjects for `stream-filter schemas register`.

Why the care about "unknown": a record whose schema id the registry does not have is a dead letter,
but a registry that is down, refuses our credentials or answers 5xx says nothing about the record:
that is an outage, and the batch waits (worker/schema_wait.py). So an id counts as unknown only
after a 404 asked twice, and only while the registry answers one of its own endpoints
(`/schemas/types`) meanwhile. Every other answer, and no answer, raises `RegistryOutage`.

Schemas are immutable per id, so they are cached in memory and in the data dir (a worker restarted
during an outage still reads what it had fetched); an id found unknown is remembered in memory only.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import aiohttp

from stream_filter.core.framing import Framing, WriterSchema, framed_id

TIMEOUT_S = 10.0
CONTENT_TYPE = "application/vnd.schemaregistry.v1+json"


class RegistryOutage(Exception):
    """The registry cannot say what a schema id is (down, refusing, erring): wait and ask again."""


class SchemaRegistry:
    def __init__(self, url: str, *, username: str | None = None, password: str | None = None,
                 cache_dir: Path | None = None, timeout_s: float = TIMEOUT_S) -> None:
        self.url = url.rstrip("/")
        self.auth = aiohttp.BasicAuth(username, password or "") if username else None
        self.timeout = aiohttp.ClientTimeout(total=timeout_s)
        self.schemas: dict[int, WriterSchema | None] = {}  # None: the registry has no such id
        digest = hashlib.sha256(self.url.encode()).hexdigest()[:12]  # one cache per registry
        self.cache_dir = cache_dir / "schema-registry" / digest if cache_dir is not None else None
        self._session: aiohttp.ClientSession | None = None

    def missing(self, values: Iterable[bytes | None], framing: Framing) -> set[int]:
        """The schema ids these values need that are not known yet (read from the disk cache first)."""
        ids = {i for v in values if v and framing.is_framed(v) and (i := framed_id(v)) is not None}
        return {i for i in ids if i not in self.schemas and not self._cached(i)}

    async def fetch(self, ids: Iterable[int]) -> None:
        """Know every id: fetched, or unknown to a registry that answers. Raises RegistryOutage."""
        for schema_id in sorted(ids):
            status, body = await self.request("GET", f"/schemas/ids/{schema_id}")
            if status == 404:
                status, body = await self.request("GET", f"/schemas/ids/{schema_id}")  # asked twice
            if status == 200 and isinstance(body, dict) and "schema" in body:
                self._keep(schema_id, body)
            elif status == 404 and await self._answers():
                self.schemas[schema_id] = None
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
                text = await r.text()
                try:
                    return r.status, json.loads(text) if text else None
                except ValueError:
                    return r.status, text
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            raise RegistryOutage(f"no answer from {self.url}: {type(exc).__name__}: {exc}") from exc

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
                tmp = path.with_suffix(f".{os.getpid()}.tmp")
                tmp.write_text(json.dumps(body), encoding="utf-8")
                tmp.replace(path)
            except OSError:
                pass

    def _cached(self, schema_id: int) -> bool:
        if self.cache_dir is None:
            return False
        try:
            body = json.loads((self.cache_dir / f"{schema_id}.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return False
        self.schemas[schema_id] = _schema(schema_id, body)
        return True


def _schema(schema_id: int, body: dict[str, Any]) -> WriterSchema:
    return WriterSchema.of(schema_id, body.get("schemaType"), str(body["schema"]), bool(body.get("references")))


def _short(body: Any) -> str:
    return (body if isinstance(body, str) else json.dumps(body))[:200] if body is not None else ""
