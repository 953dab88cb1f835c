"""Verdict signatures without a broker: what is signed, and what the batch decider refuses."""

from __future__ import annotations

import orjson
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from stream_filter.core.contracts.dead_letter import ErrorCode
from stream_filter.core.contracts.decision import Outcome
from stream_filter.core.contracts.verdict import ReviewVerdict
from stream_filter.core.verdict_auth import Keys, VerdictAuth, signed, signed_bytes
from tests.factories import MemoryStates, Msg, decider, in_review, verdict_body

DEPLOYMENT = "sf-prod"


def _private(key: Ed25519PrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def _verdict(decision_id: str, **fields: object) -> ReviewVerdict:
    return ReviewVerdict.model_validate_json(verdict_body("L-1", decision_id, **{"reviewer_id": "alice", **fields}))


@pytest.fixture
def alice() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


def test_unsigned_verdicts_of_schema_v1_still_read() -> None:
    verdict = _verdict("d-1")
    assert verdict.signature is None and "signature" not in orjson.loads(verdict_body("L-1", "d-1"))


def test_the_signature_covers_every_field_and_the_deployment(alice: Ed25519PrivateKey) -> None:
    keys: Keys = {"alice": alice.public_key()}
    auth = VerdictAuth(DEPLOYMENT, lambda: keys)
    good = signed(_verdict("d-1"), DEPLOYMENT, _private(alice))
    assert auth.check(good) is None
    for change in ({"decision_id": "d-2"}, {"verdict": "rejected"}, {"listing_id": "L-2"}, {"note": "x"},
                   {"expires_at": "2027-01-01T00:00:00Z"}):
        moved = ReviewVerdict.model_validate({**good.model_dump(mode="json"), **change})
        assert moved.signature == good.signature
        failure = auth.check(moved)
        assert failure is not None and failure.code is ErrorCode.BAD_VERDICT_SIGNATURE, change
    elsewhere = VerdictAuth("sf-staging", lambda: keys).check(good)
    assert elsewhere is not None and elsewhere.code is ErrorCode.BAD_VERDICT_SIGNATURE
    assert b'"deployment":"sf-prod"' in signed_bytes(good, DEPLOYMENT)


def test_refusals_by_code_and_no_check_without_keys(alice: Ed25519PrivateKey) -> None:
    mallory = Ed25519PrivateKey.generate()
    auth = VerdictAuth(DEPLOYMENT, lambda: {"alice": alice.public_key()})
    unsigned = auth.check(_verdict("d-1"))
    forged = auth.check(signed(_verdict("d-1"), DEPLOYMENT, _private(mallory)))
    stranger = auth.check(signed(_verdict("d-1", reviewer_id="mallory"), DEPLOYMENT, _private(mallory)))
    assert [f.code if f else None for f in (unsigned, forged, stranger)] == [
        ErrorCode.UNSIGNED_VERDICT, ErrorCode.BAD_VERDICT_SIGNATURE, ErrorCode.UNKNOWN_REVIEWER]
    assert dict(auth.refused) == {"UNSIGNED_VERDICT": 1, "BAD_VERDICT_SIGNATURE": 1, "UNKNOWN_REVIEWER": 1}
    unchecked = VerdictAuth(DEPLOYMENT)
    assert not unchecked.checked and unchecked.check(_verdict("d-1")) is None


def test_the_batch_decider_applies_only_signed_verdicts_and_keeps_applied_ones(alice: Ed25519PrivateKey) -> None:
    memory = MemoryStates({0: {}})
    reviewed, _ = in_review(memory)
    keys: dict = {"alice": alice.public_key()}
    judge = decider()
    judge.auth = VerdictAuth("stream-filter", lambda: keys)
    forged = verdict_body("L-1", reviewed.decision_id, reviewer_id="alice", verdict_id="v-0")
    batch = judge.decide_verdicts([_msg(forged, 0)], memory.view)
    assert [r.error.code for r, _ in batch.outputs if r.error] == [ErrorCode.UNSIGNED_VERDICT]
    state = memory.get("L-1", 0)
    assert state is not None and state.outcome is Outcome.REVIEW  # nothing moved
    good = signed(_verdict(reviewed.decision_id, verdict_id="v-1"), "stream-filter", _private(alice))
    judge.decide_verdicts([_msg(good.model_dump_json().encode(), 1)], memory.view)
    state = memory.get("L-1", 0)
    assert state is not None and state.outcome is Outcome.APPROVED
    again = judge.decide_verdicts([_msg(good.model_dump_json().encode(), 2)], memory.view)  # published twice
    assert [r.error.code for r, _ in again.outputs if r.error] == [ErrorCode.REPLAYED_VERDICT]
    keys.clear()  # alice's key revoked
    replay = judge.decide_verdicts([_msg(good.model_dump_json().encode(), 1)], memory.view)  # a crash's replay
    assert [r.error for r, _ in replay.outputs] == [None, None]  # sends what it sent, not a refusal
    state = memory.get("L-1", 0)
    assert state is not None and state.outcome is Outcome.APPROVED  # applied stays
    late = signed(_verdict(state.decision_id, verdict_id="v-3", verdict="rejected"), "stream-filter", _private(alice))
    refused = judge.decide_verdicts([_msg(late.model_dump_json().encode(), 3)], memory.view)
    assert [r.error.code for r, _ in refused.outputs if r.error] == [ErrorCode.UNKNOWN_REVIEWER]
    assert dict(judge.auth.refused) == {"UNSIGNED_VERDICT": 1, "REPLAYED_VERDICT": 1, "UNKNOWN_REVIEWER": 1}


def _msg(value: bytes, offset: int) -> Msg:
    return Msg(b"L-1", value, 0, offset, "listings.review-verdicts")
