"""The classifier's version: named in every decision, changed by any lexicon or taxonomy file, and a
changed classifier reads stored listings again (once) when they are re-evaluated."""

from __future__ import annotations

from datetime import UTC, datetime
from importlib import resources
from pathlib import Path

import orjson
import pytest

from stream_filter.core.classify.classifier import Classifier, default_classifier, load_classifier
from stream_filter.core.classify.lexicon import DATA_FILES
from stream_filter.core.contracts.decision import Outcome
from stream_filter.core.lifecycle import advance, reevaluate
from stream_filter.core.listing_state import ListingState
from stream_filter.core.policy.book import PolicyBook
from stream_filter.core.policy.files import parse_policy
from stream_filter.core.route import Output, route
from tests.factories import NEW_WORD, data_copy, event_dict, garment_classifier, policy_text

NOW = datetime(2026, 11, 28, 5, 0, tzinfo=UTC)
AKAR = PolicyBook.load("akar-2021")
CROSS_BORDER = {"seller": {"country": "CN"}, "ship_from": {"location": "Shenzhen"},
                "price": {"amount": "150", "currency": "USD"}}


@pytest.fixture
def garment(tmp_path: Path) -> Classifier:
    return garment_classifier(tmp_path)


def _state(title: str, classifier: Classifier) -> ListingState:
    body = event_dict(listing_id="L-1", title=title, **CROSS_BORDER)
    step = advance(route(b"L-1", orjson.dumps(body), AKAR, now=NOW, classifier=classifier), None, 0, offset=4)
    assert step.state is not None
    return step.state


def test_every_decision_names_the_classifier_that_read_it() -> None:
    routed = route(b"L-1", orjson.dumps(event_dict(listing_id="L-1", **CROSS_BORDER)), AKAR, now=NOW)
    assert routed.decision is not None
    version = default_classifier().version
    model, digest = version.split("+")
    assert model == orjson.loads((resources.files("stream_filter.core.classify") / "data" /
                                  "cluster_model.json").read_bytes())["version"] and len(digest) == 12
    assert routed.decision.classifier == version and orjson.loads(routed.value or b"")["classifier"] == version
    assert ("classifier", version.encode()) in routed.headers
    deleted = route(b"L-1", orjson.dumps(event_dict(event_type="listing.deleted", title=None)), AKAR, now=NOW)
    assert deleted.decision is not None and deleted.decision.classifier == ""  # a deletion is not classified


@pytest.mark.parametrize("name", DATA_FILES)
def test_any_data_file_changes_the_version(tmp_path: Path, name: str) -> None:
    same = load_classifier("shipped", data_copy(tmp_path / "a", name, None))
    assert same.version == default_classifier().version  # the same bytes elsewhere: the same classifier
    changed = load_classifier("shipped", data_copy(tmp_path / "b", name, "# an operator's note"))
    assert changed.version != default_classifier().version
    assert changed.version.split("+")[0] == default_classifier().version.split("+")[0]  # the same model


def test_a_new_classifier_reads_a_stored_listing_again_and_moves_it(garment: Classifier) -> None:
    before = _state(f"{NEW_WORD} Premium Edition", default_classifier())
    assert before.outcome is Outcome.APPROVED and before.classifier == default_classifier().version
    assert reevaluate(before, AKAR, NOW, classifier=default_classifier()) is None  # read by this one already
    step = reevaluate(before, AKAR, NOW, classifier=garment)
    assert step is not None and step.state is not None
    new, gone = step.records[-2], step.records[-1]
    assert new.output is Output.REJECTED and new.decision is not None
    assert new.decision.reasons[0].code == "CLASSIFIER_CHANGE_REVOKED"
    assert default_classifier().version in new.decision.reasons[0].message
    assert new.decision.classifier == garment.version and [m.cluster for m in new.decision.clusters] == [
        "textile_fashion"]
    assert gone.output is Output.APPROVED and gone.decision is not None and gone.decision.action == "remove"
    assert gone.decision.classifier == before.classifier  # the withdrawn decision, as it was
    after = ListingState.from_bytes(step.state.to_bytes())
    assert after.classifier == garment.version and after.outcome is Outcome.REJECTED
    assert after.latest().value == new.value  # a replay sends the new decision byte for byte
    assert reevaluate(after, AKAR, NOW, classifier=garment) is None


def test_an_unchanged_outcome_is_noted_once_and_nothing_is_sent(garment: Classifier) -> None:
    before = _state("Casing HP Silikon Anti Crack", default_classifier())
    step = reevaluate(before, AKAR, NOW, classifier=garment)
    assert step is not None and step.records == [] and step.state is not None
    noted = ListingState.from_bytes(step.state.to_bytes())
    assert noted.read_by == garment.version and noted.classifier == before.classifier
    assert noted.latest().value == before.latest().value  # the latest decision stays as it was sent
    assert reevaluate(noted, AKAR, NOW, classifier=garment) is None  # read once, not in every pass
    back = reevaluate(noted, AKAR, NOW, classifier=default_classifier())  # a rollback reads it again
    assert back is not None and back.records == [] and back.state is not None
    assert back.state.last_read == default_classifier().version


def test_states_written_before_classifier_versions_are_read_again() -> None:
    state = _state("Casing HP Silikon Anti Crack", default_classifier())
    data = orjson.loads(state.to_bytes())
    del data["cl"]
    old = ListingState.from_bytes(orjson.dumps(data))
    assert old.classifier == "" and reevaluate(old, AKAR, NOW) is None  # without a classifier: as before
    step = reevaluate(old, AKAR, NOW, classifier=default_classifier())
    assert step is not None and step.state is not None and step.state.read_by == default_classifier().version


def test_a_later_policy_applies_to_what_the_classifier_in_use_reads(garment: Classifier) -> None:
    """A listing the new classifier read and left as it was (noted, nothing sent), then a policy that
    closes what the new reading finds: the rules apply to the new reading, not the stored one."""
    food_only = PolicyBook([parse_policy(policy_text("1", "food_beverage", policy_id="f"))])
    fashion_too = PolicyBook([parse_policy(policy_text("2", "food_beverage, textile_fashion", policy_id="f"))])
    body = event_dict(listing_id="L-1", title=f"{NEW_WORD} Premium Edition", **CROSS_BORDER)
    first = advance(route(b"L-1", orjson.dumps(body), food_only, now=NOW), None, 0, offset=4).state
    assert first is not None and first.outcome is Outcome.APPROVED and first.clusters == []
    noted = reevaluate(first, food_only, NOW, classifier=garment)
    assert noted is not None and noted.records == [] and noted.state is not None  # fashion, but not closed here
    step = reevaluate(noted.state, fashion_too, NOW, classifier=garment)
    assert step is not None and step.state is not None and step.state.outcome is Outcome.REJECTED
    assert [m.cluster for m in step.state.clusters] == ["textile_fashion"]
    assert step.state.classifier == garment.version
