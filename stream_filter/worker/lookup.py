"""`GET /listings/{listing_id}`: why a listing is where it is, answered by any worker.

Why here: the worker that owns a listing's partition holds its latest state (decision, verdict, last
decisions), so no other reader of the output topics is needed. Any worker answers: it finds the
partition (as the input's producers place the id: `input_partitioner.py`) and its owner in the group
assignment (each worker's advertised URL travels with it, faust's assignor), and forwards the request
there once. While the partitioner is not known, or when the owner has no such listing (a producer
with a partitioner of its own), it asks every partition it holds and every other worker.
The answer holds seller data: beyond loopback the page needs the bearer token.
"""

from __future__ import annotations

import hmac
import logging
import re
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import quote

import aiohttp
import orjson

from stream_filter.core.listing_state import ListingState
from stream_filter.kafka.clients import admin_client
from stream_filter.kafka.topics import partition_count
from stream_filter.settings import Settings
from stream_filter.state.listing_states import ListingStates

log = logging.getLogger("stream_filter.worker.lookup")
ROUTED_HEADER = "X-Stream-Filter-Routed"  # a forwarded request is answered where it lands, never forwarded again
FORWARD_TIMEOUT_S = 5.0
MAX_ANSWER_BYTES = 1_048_576  # a peer's answer read at most this far: a listing's answer is far smaller
_DOT_SEGMENTS = {".", ".."}  # a path would resolve them: `..` would ask the peer's `/`
Owners = Callable[[], Mapping[str, Mapping[str, list[int]]]]  # worker URL -> topic -> partitions it owns
Answer = tuple[int, dict[str, Any]]


def describe(state: ListingState) -> dict[str, Any]:
    """The lookup's body for a listing: its latest decision as sent, its verdict, its last decisions."""
    verdict, latest = state.verdict, state.latest().decision
    return {
        "listing_id": state.listing_id, "partition": state.partition,
        "decision": latest.model_dump(mode="json") if latest else None,
        "verdict": None if verdict is None else {
            **verdict.ref.model_dump(mode="json"), "decision_id": verdict.decision_id,
            "reason_codes_seen": list(verdict.seen), "in_review_since": verdict.since.isoformat()},
        "history": [p._asdict() | {"reason_codes": list(p.reason_codes)} for p in state.history],
    }


class ListingLookup:
    def __init__(self, settings: Settings, states: ListingStates, owners: Owners,
                 http: Callable[[], aiohttp.ClientSession]) -> None:
        self.settings, self.states, self.owners, self.http = settings, states, owners, http
        self.url = settings.canonical_url()
        self.token = settings.api_token.get_secret_value().encode() if settings.api_token else None
        self.tls = settings.peer_tls() if settings.web_tls_certfile or settings.web_tls_cafile else None

    def refusal(self, authorization: str | None) -> str | None:
        """Why the request may not read listings (None: it may)."""
        if self.settings.loopback_only():
            return None
        if self.token is None:
            return "the web server binds beyond loopback and no STREAM_FILTER_API_TOKEN is set: lookups are off"
        scheme, _, given = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), self.token):
            return "a bearer token is required (Authorization: Bearer ...)"
        return None

    async def partition(self, listing_id: str) -> int | None:
        """The listing's partition; None while the input's partitioner is not known."""
        count = self.states.count or (self.states.history[-1] if self.states.history else None)
        if count is None:
            async with admin_client(self.settings) as admin:
                count = await partition_count(admin, self.settings.topic_input) or self.settings.topic_partitions
        return self.states.partitioner.partition(listing_id.encode(), count)

    def owner(self, partition: int) -> str | None:
        for url, topics in self.owners().items():
            if partition in topics.get(self.settings.topic_input, ()):
                return url
        return None

    def peer_allowed(self, url: str) -> bool:
        """Whether `url` looks like another worker of this deployment (`Settings.peer_url_pattern`): a
        group member advertising anything else is not sent a request."""
        return re.fullmatch(self.settings.peer_pattern(), url.rstrip("/")) is not None

    async def answer(self, listing_id: str, authorization: str | None, routed: bool) -> Answer:
        if (why := self.refusal(authorization)) is not None:
            return 401, {"error": why}
        if listing_id in _DOT_SEGMENTS:
            return 400, {"error": f"listing id {listing_id!r} cannot be asked by URL path (a dot segment)"}
        partition = await self.partition(listing_id)
        if partition is None:
            return await self.anywhere(listing_id, authorization, routed, None)
        owner = self.owner(partition)
        if owner is not None and owner.rstrip("/") != self.url.rstrip("/") and not routed:
            status, body = await self.forward(owner, listing_id, authorization)
            if status == 404:  # not where the partitioner says: a producer placing keys its own way
                return await self.anywhere(listing_id, authorization, routed, owner)
            return status, body
        if partition not in (self.states.unloaded() or []) and partition in self.states.held():
            state = self.states.get_key(partition, listing_id.encode())
            if state is None:
                return await self.anywhere(listing_id, authorization, routed, self.url)
            return 200, {**describe(state), "served_by": self.url}
        return 503, {"error": f"partition {partition} is not held here yet (loading, or a rebalance is under way); "
                     "ask again", "partition": partition, "owner": owner}

    async def anywhere(self, listing_id: str, authorization: str | None, routed: bool, asked: str | None) -> Answer:
        """Every partition held here, then (unless this request was forwarded) every other worker but `asked`."""
        for partition in self.states.held():
            if partition in (self.states.unloaded() or []):
                continue
            state = self.states.get_key(partition, listing_id.encode())
            if state is not None:
                return 200, {**describe(state), "served_by": self.url}
        if not routed:
            for url in self.owners():
                if url.rstrip("/") in (self.url.rstrip("/"), (asked or "").rstrip("/")):
                    continue
                status, body = await self.forward(url, listing_id, authorization)
                if status == 200:
                    return status, body
        return 404, {"error": "no active listing with this id (never seen, or deleted)"}

    async def forward(self, owner: str, listing_id: str, authorization: str | None) -> Answer:
        """Ask the worker at `owner`, with this worker's own credential (never the client's), if it looks
        like a worker of this deployment; its answer is read up to a bound and checked before it is passed on."""
        if not self.peer_allowed(owner):
            log.warning("lookup not forwarded: %s does not match the peers' URL pattern", owner)
            return 502, {"error": f"the owner of the listing's partition advertises {owner}, which is not a worker "
                         "URL of this deployment (STREAM_FILTER_PEER_URL_PATTERN)"}
        own = self.token.decode() if self.token else None
        headers = {ROUTED_HEADER: "1", **({"Authorization": f"Bearer {own}"} if own else {})}
        try:
            tls: dict[str, Any] = {"ssl": self.tls} if self.tls is not None and owner.startswith("https") else {}
            async with self.http().get(f"{owner.rstrip('/')}/listings/{quote(listing_id, safe='')}", headers=headers,
                                       timeout=aiohttp.ClientTimeout(total=FORWARD_TIMEOUT_S), **tls) as response:
                raw = await response.content.read(MAX_ANSWER_BYTES + 1)
                status = response.status
        except Exception as exc:  # noqa: BLE001 - the caller gets an answer, not a stack trace
            log.warning("lookup not forwarded to %s: %s", owner, type(exc).__name__)
            return 502, {"error": f"the owner of the listing's partition ({owner}) did not answer: "
                         f"{type(exc).__name__}"}
        return _checked(owner, listing_id, status, raw)


def _checked(owner: str, listing_id: str, status: int, raw: bytes) -> Answer:
    """A peer's answer as it may be passed on: a JSON object about this listing (200) or an error."""
    body: Any = None
    if len(raw) <= MAX_ANSWER_BYTES:
        try:
            body = orjson.loads(raw)
        except orjson.JSONDecodeError:
            body = None
    fits = isinstance(body, dict) and (body.get("listing_id") == listing_id if status == 200
                                       else isinstance(body.get("error"), str))
    if not fits:
        log.warning("lookup answer from %s refused (status %d, %d bytes)", owner, status, len(raw))
        return 502, {"error": f"the owner of the listing's partition ({owner}) gave an answer that is not one"}
    return status, body
