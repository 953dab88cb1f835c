"""The AKAR rule, the decision order, review thresholds and bad policy files."""

from __future__ import annotations

import pytest

from stream_filter.decision import ClusterMatch, Origin, OriginClass, Outcome
from stream_filter.policy import PolicyError, evaluate, load_policy, packs, parse_policy


def _origin(cls: OriginClass, confidence: float = 0.95) -> Origin:
    return Origin(origin_class=cls, confidence=confidence, evidence=["test"])


def _cluster(name: str, confidence: float = 0.9) -> list[ClusterMatch]:
    return [ClusterMatch(cluster=name, confidence=confidence, evidence=["test"])]


@pytest.fixture(scope="module")
def policy():  # type: ignore[no-untyped-def]
    return load_policy("akar-2021")


@pytest.mark.parametrize("cluster", ["textile_fashion", "food_beverage", "crafts"])
@pytest.mark.parametrize("origin", [OriginClass.CROSS_BORDER, OriginClass.CROSS_BORDER_LOCAL_STOCK])
def test_blocked_cluster_cross_border_is_rejected(policy, cluster: str, origin: OriginClass) -> None:  # type: ignore[no-untyped-def]
    outcome, reasons = evaluate(policy, _origin(origin), _cluster(cluster))
    assert outcome is Outcome.REJECTED
    assert reasons[0].code == "CLUSTER_BLOCKED_CROSS_BORDER"
    assert "AKAR" in reasons[0].legal_basis and cluster in reasons[0].message


@pytest.mark.parametrize("origin", [OriginClass.DOMESTIC, OriginClass.DOMESTIC_IMPORTED])
def test_domestic_is_approved_even_in_blocked_cluster(policy, origin: OriginClass) -> None:  # type: ignore[no-untyped-def]
    outcome, reasons = evaluate(policy, _origin(origin), _cluster("textile_fashion"))
    assert (outcome, reasons[0].code) == (Outcome.APPROVED, "DOMESTIC_SELLER")


def test_cross_border_outside_blocked_clusters_is_approved(policy) -> None:  # type: ignore[no-untyped-def]
    outcome, reasons = evaluate(policy, _origin(OriginClass.CROSS_BORDER), [])
    assert (outcome, reasons[0].code) == (Outcome.APPROVED, "CLUSTER_NOT_BLOCKED")


def test_unknown_origin_in_blocked_cluster_goes_to_review(policy) -> None:  # type: ignore[no-untyped-def]
    outcome, reasons = evaluate(policy, _origin(OriginClass.UNKNOWN, 0.0), _cluster("crafts"))
    assert (outcome, reasons[0].code) == (Outcome.REVIEW, "REVIEW_UNCERTAIN_BLOCKED_CLUSTER")


def test_low_confidence_goes_to_review_not_silent_pass(policy) -> None:  # type: ignore[no-untyped-def]
    low_origin = evaluate(policy, _origin(OriginClass.CROSS_BORDER, 0.4), _cluster("food_beverage"))
    low_cluster = evaluate(policy, _origin(OriginClass.CROSS_BORDER), _cluster("food_beverage", 0.3))
    assert low_origin[0] is Outcome.REVIEW and low_cluster[0] is Outcome.REVIEW


def test_every_applying_reason_is_listed(policy) -> None:  # type: ignore[no-untyped-def]
    clusters = _cluster("textile_fashion") + _cluster("food_beverage")
    outcome, reasons = evaluate(policy, _origin(OriginClass.CROSS_BORDER), clusters)
    assert outcome is Outcome.REJECTED
    assert [r.code for r in reasons] == ["CLUSTER_BLOCKED_CROSS_BORDER"] * 2


def test_shipped_packs_load() -> None:
    assert {"akar-2021", "default"} <= set(packs())
    for name in packs():
        assert load_policy(name).id == name


def test_unknown_pack_and_bad_files_give_clear_errors(tmp_path) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(PolicyError, match="unknown policy pack 'nope'"):
        load_policy("nope")
    bad = tmp_path / "bad.yaml"
    bad.write_text("id: x\nversion: 1\n: : :\n")
    with pytest.raises(PolicyError, match="not valid YAML"):
        load_policy(str(bad))
    with pytest.raises(PolicyError, match="effective_from"):
        parse_policy("id: x\nversion: '1'\n")
    with pytest.raises(PolicyError, match="no such file"):
        load_policy("/nonexistent/policy.yaml")
