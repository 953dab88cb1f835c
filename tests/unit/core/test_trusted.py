"""`trusted` builds the same models as pydantic, for the values it is given."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from stream_filter.core.contracts.decision import DecisionRecord, Origin, OriginClass, Outcome, PolicyRef, Reason
from stream_filter.core.contracts.trusted import trusted


def test_trusted_models_equal_validated_ones_and_serialise_the_same() -> None:
    origin = trusted(Origin, origin_class=OriginClass.DOMESTIC, confidence=0.9, evidence=["seller.country=ID"])
    assert origin == Origin.model_validate({"class": "domestic", "confidence": 0.9, "evidence": ["seller.country=ID"]})
    reason = trusted(Reason, code="C", legal_basis="b", message="m")
    ref = trusted(PolicyRef, id="p", version="1")  # the digest from its default
    assert ref.digest == "" and ref == PolicyRef(id="p", version="1")
    fields = {"decision_id": "d", "listing_id": "L", "event_id": "e", "outcome": Outcome.APPROVED, "origin": origin,
              "reasons": [reason], "policy": ref, "decided_at": datetime(2026, 11, 1, tzinfo=UTC), "listing": {}}
    built = DecisionRecord.built(**fields)
    assert built.model_dump_json() == DecisionRecord.model_validate(fields).model_dump_json()
    assert built.clusters == [] and built.clusters is not DecisionRecord.built(**fields).clusters  # fresh defaults


def test_a_required_field_missing_is_an_error_not_a_hole() -> None:
    with pytest.raises(KeyError):
        trusted(Reason, code="C", legal_basis="b")
