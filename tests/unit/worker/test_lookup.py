"""The listing lookup without a broker: who may ask, who answers, what the answer says."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

import orjson
from pydantic import SecretStr

from stream_filter.cli.review import explanation
from stream_filter.kafka.partitioning import partition_for
from stream_filter.settings import Settings
from stream_filter.state.listing_states import ListingStates
from stream_filter.worker.lookup import ROUTED_HEADER, ListingLookup
from tests.factories import MemoryStates, decider, in_review, verdict_msg


class FakeContent:
    def __init__(self, body: bytes) -> None:
        self.body = body

    async def read(self, n: int = -1) -> bytes:
        return self.body if n < 0 else self.body[:n]


class FakeResponse:
    status = 200
    answer: ClassVar[Any] = None  # the body the owner sends; None: an answer about the listing asked

    def __init__(self, listing_id: str = "") -> None:
        body = self.answer if self.answer is not None else {"listing_id": listing_id, "from": "the-owner"}
        self.content = FakeContent(body if isinstance(body, bytes) else orjson.dumps(body))

    async def __aenter__(self) -> FakeResponse:
        return self

    async def __aexit__(self, *exc: object) -> None:
        return None


class FakeHttp:
    def __init__(self) -> None:
        self.asked: list[tuple[str, Mapping[str, str]]] = []

    def get(self, url: str, headers: Mapping[str, str], timeout: object) -> FakeResponse:
        self.asked.append((url, headers))
        return FakeResponse(url.rsplit("/", 1)[1])


def _states_with_a_reviewed_listing(settings: Settings) -> ListingStates:
    """A held partition whose store has a listing that a reviewer approved (made by the pure core)."""
    memory = MemoryStates({0: {}})
    reviewed, _ = in_review(memory)
    decider().decide_verdicts([verdict_msg("L-1", reviewed.decision_id, 0)], memory.view)
    states = ListingStates(settings)
    states.count = 4
    home = partition_for(b"L-1", 4)
    states.open(home).write(list(memory.partitions[0].items()))
    return states


def _lookup(tmp_path: Path, owners: dict[str, dict[str, list[int]]] | None = None, **fields: Any) -> tuple[
        ListingLookup, FakeHttp]:
    settings = Settings(state_store="memory", data_dir=str(tmp_path), advertised_url="http://me.sf:6066", **fields)
    http = FakeHttp()
    return ListingLookup(settings, _states_with_a_reviewed_listing(settings), lambda: owners or {},
                         lambda: http), http  # type: ignore[arg-type,return-value]


def test_beyond_loopback_the_lookup_needs_the_token(tmp_path: Path) -> None:
    open_lookup, _ = _lookup(tmp_path)
    assert open_lookup.refusal(None) is None  # loopback: this machine only
    no_token, _ = _lookup(tmp_path, web_host="0.0.0.0")
    assert "no STREAM_FILTER_API_TOKEN" in (no_token.refusal("Bearer x") or "")
    guarded, _ = _lookup(tmp_path, web_host="0.0.0.0", api_token=SecretStr("s3cret"))
    assert guarded.refusal(None) and guarded.refusal("Bearer wrong") and guarded.refusal("Basic s3cret")
    assert guarded.refusal("Bearer s3cret") is None
    status, body = asyncio.run(guarded.answer("L-1", None, routed=False))
    assert status == 401 and "bearer token" in body["error"]


def test_the_owner_answers_with_decision_verdict_and_history(tmp_path: Path) -> None:
    home = partition_for(b"L-1", 4)
    lookup, http = _lookup(tmp_path, {"http://me.sf:6066": {"listings.new": [home]}})
    status, body = asyncio.run(lookup.answer("L-1", None, routed=False))
    assert status == 200 and not http.asked
    assert body["decision"]["outcome"] == "approved" and body["decision"]["reasons"][0]["code"] == \
        "REVIEW_VERDICT_APPROVED"
    assert body["verdict"]["reviewer_id"] == "rev-7" and body["verdict"]["reason_codes_seen"] == [
        "REVIEW_UNCERTAIN_BLOCKED_CLUSTER"]
    assert [p["outcome"] for p in body["history"]] == ["review"] and body["served_by"] == "http://me.sf:6066"
    text = explanation(body)
    assert "APPROVED" in text and "verdict: approved by rev-7" in text and "before:" in text
    assert asyncio.run(lookup.answer("L-404", None, routed=False))[0] in (404, 503)


def test_another_workers_listing_is_asked_of_it_once(tmp_path: Path) -> None:
    home = partition_for(b"L-1", 4)
    lookup, http = _lookup(tmp_path, {"http://other.sf:6066": {"listings.new": [home]}}, input_partitioner="murmur2")
    status, body = asyncio.run(lookup.answer("L-1", "Bearer t", routed=False))
    assert (status, body) == (200, {"listing_id": "L-1", "from": "the-owner"})
    [(url, headers)] = http.asked
    assert url == "http://other.sf:6066/listings/L-1" and headers == {ROUTED_HEADER: "1"}  # no token here: loopback
    asyncio.run(lookup.answer("L-1", None, routed=True))  # a forwarded request is answered where it lands
    assert len(http.asked) == 1


class Missing(FakeResponse):
    status = 404
    answer: ClassVar[Any] = {"error": "no active listing with this id"}


def test_while_the_partitioner_is_unknown_or_wrong_every_worker_is_asked(tmp_path: Path) -> None:
    """A producer with a partitioner the worker has not learnt (or none it knows): the computed owner is
    not trusted alone; the listing is looked for in every partition held here, then at every worker."""
    far = {"http://other.sf:6066": {"listings.new": [0]}, "http://third.sf:6066": {"listings.new": [1]}}
    lookup, http = _lookup(tmp_path, far)  # auto, nothing learnt yet
    assert lookup.states.partitioner.name is None
    status, body = asyncio.run(lookup.answer("L-1", None, routed=False))
    assert status == 200 and body["served_by"] == "http://me.sf:6066" and not http.asked  # held here
    status, body = asyncio.run(lookup.answer("L-elsewhere", None, routed=False))
    assert (status, body) == (200, {"listing_id": "L-elsewhere", "from": "the-owner"}) and len(http.asked) == 1
    split = {"http://other.sf:6066": {"listings.new": [0, 1]}, "http://third.sf:6066": {"listings.new": [2, 3]}}
    murmur, http = _lookup(tmp_path, split, input_partitioner="murmur2")
    http.get = lambda url, headers, timeout: (http.asked.append((url, headers)),  # type: ignore[method-assign]
                                              Missing() if "other" in url else FakeResponse(key))[1]
    key = next(k for k in (f"L-{i}" for i in range(100)) if partition_for(k.encode(), 4) in (0, 1))
    status, body = asyncio.run(murmur.answer(key, None, routed=False))
    assert [url.split("/listings")[0] for url, _ in http.asked] == ["http://other.sf:6066", "http://third.sf:6066"]
    assert (status, body) == (200, {"listing_id": key, "from": "the-owner"})  # the owner had none: others asked
    asyncio.run(murmur.answer(key, None, routed=True))
    assert len(http.asked) == 2  # a forwarded request is answered where it lands, never forwarded again


def test_the_lookup_leaks_nothing_to_peers_and_passes_on_only_answers(tmp_path: Path) -> None:
    """A forwarded request carries this worker's own token, never the client's header; a group member
    advertising a URL outside the deployment is not asked; a peer's answer is bounded and checked; ids
    that are dot segments are refused."""
    home = partition_for(b"L-1", 4)
    lookup, http = _lookup(tmp_path, {"http://other.sf:6066": {"listings.new": [home]}}, input_partitioner="murmur2",
                           web_host="0.0.0.0", api_token=SecretStr("deployment-token"))
    status, _ = asyncio.run(lookup.answer("L-1", "Bearer deployment-token", routed=False))
    [(_, headers)] = http.asked
    assert status == 200 and headers["Authorization"] == "Bearer deployment-token"
    open_lookup, open_http = _lookup(tmp_path, {"http://other.sf:6066": {"listings.new": [home]}},
                                     input_partitioner="murmur2")
    asyncio.run(open_lookup.answer("L-1", "Bearer a-client-credential", routed=False))
    assert "Authorization" not in open_http.asked[0][1]  # the client's header is never passed on
    rogue, rogue_http = _lookup(tmp_path, {"http://attacker.example:80": {"listings.new": [home]}},
                                input_partitioner="murmur2")
    status, body = asyncio.run(rogue.answer("L-1", None, routed=False))
    assert status == 502 and "not a worker URL" in body["error"] and rogue_http.asked == []
    for bad in (b"x" * 2_000_000, b"<html>", orjson.dumps({"listing_id": "L-other"}), orjson.dumps([1])):
        FakeResponse.answer = bad
        try:
            assert asyncio.run(open_lookup.answer("L-1", None, routed=False))[0] == 502, bad[:20]
        finally:
            FakeResponse.answer = None
    for dots in (".", ".."):
        assert asyncio.run(open_lookup.answer(dots, None, routed=False))[0] == 400
    assert ListingLookup(Settings(advertised_url="http://stream-filter-0.stream-filter:6066"), lookup.states,
                         dict, lambda: http).peer_allowed("http://stream-filter-3.stream-filter:6066")  # type: ignore[arg-type]
