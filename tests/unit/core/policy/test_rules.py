"""Each rule, each pack, the decision order, FX and per-unit math, effective dates, exemptions."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from stream_filter.core.contracts.decision import WEAK_CONFIDENCE, ClusterMatch, Origin, OriginClass, Outcome
from stream_filter.core.policy.book import PolicyBook
from stream_filter.core.policy.files import load_policy, packs
from stream_filter.core.policy.model import Policy
from stream_filter.core.policy.rules import apply_policies, apply_policy
from tests.factories import event

DAY = date(2026, 11, 1)
CB = OriginClass.CROSS_BORDER


def _origin(cls: OriginClass, confidence: float = 0.95) -> Origin:
    return Origin(origin_class=cls, confidence=confidence, evidence=["test"])


def _clusters(*names: str, confidence: float = 0.9) -> list[ClusterMatch]:
    return [ClusterMatch(cluster=n, confidence=confidence, evidence=["test"]) for n in names]


def _decide(policy: Policy, cls: OriginClass = CB, clusters: tuple[str, ...] = (), confidence: float = 0.95,
            day: date = DAY, **fields: Any) -> tuple[Outcome, list[str]]:
    outcome, reasons = apply_policy(policy, event(**fields), _origin(cls, confidence), _clusters(*clusters), day)
    return outcome, [r.code for r in reasons]


AKAR = load_policy("akar-2021")
PERMENDAG = load_policy("permendag-31-2023")
SHOPEE = load_policy("shopee-13-2021")
DEFAULT = load_policy("default")
RICH = {"price": {"amount": "5000000", "currency": "IDR"}}  # above the floor: isolates the cluster rules


@pytest.mark.parametrize("cluster", ["textile_fashion", "food_beverage", "crafts"])
@pytest.mark.parametrize("origin", [OriginClass.CROSS_BORDER, OriginClass.CROSS_BORDER_LOCAL_STOCK])
def test_akar_blocks_the_three_clusters(cluster: str, origin: OriginClass) -> None:
    outcome, codes = _decide(AKAR, origin, (cluster,))
    assert (outcome, codes) == (Outcome.REJECTED, ["CLUSTER_BLOCKED_CROSS_BORDER"])


def test_reasons_carry_legal_basis_and_message() -> None:
    _, reasons = apply_policy(AKAR, event(), _origin(CB), _clusters("crafts"), DAY)
    assert "AKAR" in reasons[0].legal_basis and "crafts" in reasons[0].message


@pytest.mark.parametrize("origin", [OriginClass.DOMESTIC, OriginClass.DOMESTIC_IMPORTED])
def test_domestic_is_approved_before_any_restriction(origin: OriginClass) -> None:
    assert _decide(DEFAULT, origin, ("textile_fashion",)) == (Outcome.APPROVED, ["DOMESTIC_SELLER"])


def test_unknown_origin_or_low_confidence_goes_to_review() -> None:
    assert _decide(AKAR, OriginClass.UNKNOWN, ("crafts",), 0.0)[0] is Outcome.REVIEW
    assert _decide(AKAR, CB, ("crafts",), 0.4) == (Outcome.REVIEW, ["REVIEW_UNCERTAIN_BLOCKED_CLUSTER"])
    low_cluster = apply_policy(AKAR, event(), _origin(CB), _clusters("crafts", confidence=0.3), DAY)
    assert low_cluster[0] is Outcome.REVIEW


def test_weak_evidence_is_reviewed_even_under_a_pack_that_trusts_low_confidence() -> None:
    """The classifier marks a match whose evidence does not name the product with WEAK_CONFIDENCE; a
    pack whose review threshold sits under it still reviews the match, and rejects one just above."""
    lenient = AKAR.model_copy(update={"review": AKAR.review.model_copy(update={"min_cluster_confidence": 0.1})})
    weak = apply_policy(lenient, event(), _origin(CB), _clusters("crafts", confidence=WEAK_CONFIDENCE), DAY)
    assert weak[0] is Outcome.REVIEW
    named = apply_policy(lenient, event(), _origin(CB), _clusters("crafts", confidence=WEAK_CONFIDENCE + 0.01), DAY)
    assert named[0] is Outcome.REJECTED


def test_not_blocked_is_approved() -> None:
    assert _decide(AKAR, CB, ()) == (Outcome.APPROVED, ["CLUSTER_NOT_BLOCKED"])


@pytest.mark.parametrize(
    ("amount", "currency", "units", "outcome"),
    [("1500000", "IDR", 1, Outcome.REJECTED),   # 1.5M / 16300 = 92.02 USD < 100
     ("1700000", "IDR", 1, Outcome.APPROVED),   # 104.29 USD
     ("3000000", "IDR", 2, Outcome.REJECTED),   # bundle of 2: 92.02 USD per unit
     ("99.99", "USD", 1, Outcome.REJECTED),
     ("100", "USD", 1, Outcome.APPROVED),       # the floor itself is allowed
     ("1000", "CNY", 1, Outcome.APPROVED),      # 138.9 USD
     ("700", "CNY", 1, Outcome.REJECTED)],
)
def test_min_fob_price_with_fx_and_units(amount: str, currency: str, units: int, outcome: Outcome) -> None:
    result, codes = _decide(PERMENDAG, CB, (), price={"amount": amount, "currency": currency},
                            units_per_listing=units)
    assert result is outcome
    assert codes == (["BELOW_MIN_FOB_PRICE"] if outcome is Outcome.REJECTED else ["CLUSTER_NOT_BLOCKED"])


def test_fx_rate_is_the_one_valid_on_the_day() -> None:
    price = {"amount": "1550000", "currency": "IDR"}  # 101.6 USD at 15250 (2023), 98.1 USD at 15800 (2024)
    assert _decide(PERMENDAG, CB, (), day=date(2023, 10, 1), price=price)[0] is Outcome.APPROVED
    assert _decide(PERMENDAG, CB, (), day=date(2024, 6, 1), price=price)[0] is Outcome.REJECTED


def test_floor_message_shows_the_unit_price() -> None:
    _, reasons = apply_policy(PERMENDAG, event(price={"amount": "1500000", "currency": "IDR"}), _origin(CB), [], DAY)
    assert "92.02 USD" in reasons[0].message and "Art. 19" in reasons[0].legal_basis


def test_missing_price_or_rate_goes_to_review() -> None:
    assert _decide(PERMENDAG, CB, ()) == (Outcome.REVIEW, ["PRICE_NOT_CHECKABLE"])
    assert _decide(PERMENDAG, CB, (), price={"amount": "10", "currency": "EUR"})[0] is Outcome.REVIEW


def test_floor_applies_only_to_goods_sold_directly_from_abroad() -> None:
    cheap = {"price": {"amount": "10000", "currency": "IDR"}}
    assert _decide(PERMENDAG, OriginClass.CROSS_BORDER_LOCAL_STOCK, (), **cheap)[0] is Outcome.APPROVED


def test_positive_list_is_exempt_from_the_floor() -> None:
    outcome, codes = _decide(PERMENDAG, CB, (), hs_code="4901.99.00", price={"amount": "50000", "currency": "IDR"})
    assert (outcome, codes) == (Outcome.APPROVED, ["POSITIVE_LIST_EXEMPT"])


def test_every_applying_reason_is_listed() -> None:
    outcome, codes = _decide(DEFAULT, CB, ("textile_fashion", "food_beverage"),
                             price={"amount": "20000", "currency": "IDR"})
    assert outcome is Outcome.REJECTED
    assert codes == ["BELOW_MIN_FOB_PRICE", "CLUSTER_BLOCKED_CROSS_BORDER", "CLUSTER_BLOCKED_CROSS_BORDER"]


def _with_exemptions(**exemptions: Any) -> Policy:
    return AKAR.model_copy(update={"exemptions": AKAR.exemptions.model_copy(update=exemptions)})


def test_seller_exemption_applies_until_it_expires() -> None:
    from stream_filter.core.policy.model import Exemption

    policy = _with_exemptions(sellers=[Exemption(value="s-1", until=date(2026, 12, 31))])
    seller = {"seller": {"id": "s-1", "country": "CN"}}
    assert _decide(policy, CB, ("crafts",), day=date(2026, 12, 31), **seller) == (Outcome.APPROVED, ["SELLER_EXEMPT"])
    assert _decide(policy, CB, ("crafts",), day=date(2027, 1, 1), **seller)[0] is Outcome.REJECTED


def test_long_exemption_lists_find_the_entry_in_force() -> None:
    """Thousands of entries, a value listed twice (the first expired), and a copy of the policy with
    other entries: each decision reads the list it is given."""
    from stream_filter.core.policy.model import Exemption

    sellers = [Exemption(value=f"s-{i}", until=date(2027, 1, 1)) for i in range(3000)]
    sellers += [Exemption(value="s-7", until=date(2025, 1, 1)), Exemption(value="s-9", until=date(2025, 1, 1)),
                Exemption(value="s-9")]
    policy = _with_exemptions(sellers=sellers, hs_positive_list=[f"{9000 + i}" for i in range(500)] + ["4901"])
    later = date(2028, 1, 1)
    assert _decide(policy, CB, ("crafts",), seller={"id": "s-2999"})[0] is Outcome.APPROVED
    assert _decide(policy, CB, ("crafts",), day=later, seller={"id": "s-7"})[0] is Outcome.REJECTED
    assert _decide(policy, CB, ("crafts",), day=later, seller={"id": "s-9"})[1] == ["SELLER_EXEMPT"]
    other = _with_exemptions(sellers=[Exemption(value="s-x")])
    assert _decide(other, CB, ("crafts",), seller={"id": "s-2999"})[0] is Outcome.REJECTED
    assert _decide(other, CB, ("crafts",), seller={"id": "s-x"})[1] == ["SELLER_EXEMPT"]
    cheap = {"price": {"amount": "50000", "currency": "IDR"}}
    floor = PERMENDAG.model_copy(update={"exemptions": policy.exemptions})
    assert _decide(floor, CB, (), hs_code="9499.10", **cheap)[1] == ["POSITIVE_LIST_EXEMPT"]
    assert _decide(floor, CB, (), hs_code="4901.99.00", **cheap)[1] == ["POSITIVE_LIST_EXEMPT"]
    assert _decide(floor, CB, (), hs_code="8999.10", **cheap)[0] is Outcome.REJECTED


def test_brand_exemption_and_category_override() -> None:
    from stream_filter.core.policy.model import CategoryOverride, Exemption, ReasonText

    reason = ReasonText(code="CATEGORY_OVERRIDE", legal_basis="operator", message="override {term}")
    policy = _with_exemptions(brands=[Exemption(value="Acme")],
                              category_overrides=[CategoryOverride(terms=["Batik Heritage"], action="review",
                                                                   reason=reason)])
    assert _decide(policy, CB, ("crafts",), brand="Acme") == (Outcome.APPROVED, ["BRAND_EXEMPT"])
    got = _decide(policy, CB, ("textile_fashion",), category_path=["Fashion", "Batik Heritage Collection"])
    assert got == (Outcome.REVIEW, ["CATEGORY_OVERRIDE"])


def test_shopee_13_categories_by_path_and_title() -> None:
    assert _decide(SHOPEE, CB, (), category_path=["Fashion Muslim", "Mukena"])[0] is Outcome.REJECTED
    assert _decide(SHOPEE, CB, (), title="Kebaya Modern Brokat")[1] == ["CATEGORY_CLOSED_CROSS_BORDER"]
    assert _decide(SHOPEE, CB, (), title="Mouse Wireless")[0] is Outcome.APPROVED
    assert _decide(SHOPEE, OriginClass.DOMESTIC, (), title="Kebaya Modern")[0] is Outcome.APPROVED


def test_effective_dates_and_future_versions_activate_by_themselves() -> None:
    v2 = AKAR.model_copy(update={"version": "2027.01.1", "effective_from": date(2027, 1, 1),
                                 "blocked_clusters": []})
    book = PolicyBook([AKAR, v2])
    assert [p.version for p in book.active(date(2026, 12, 31))] == ["2021.08.1"]
    assert [p.version for p in book.active(date(2027, 1, 1))] == ["2027.01.1"]
    assert book.active(date(2021, 7, 31)) == []
    outcome, codes, ref = apply_policies(book.active(date(2021, 7, 31)), event(), _origin(CB), [], date(2021, 7, 31))
    assert (outcome, [c.code for c in codes], ref.id) == (Outcome.REVIEW, ["NO_POLICY_IN_FORCE"], "none")


def test_several_packs_at_once_most_severe_wins() -> None:
    outcome, reasons, ref = apply_policies([AKAR, SHOPEE], event(title="Kebaya Modern"), _origin(CB), [], DAY)
    assert outcome is Outcome.REJECTED and [r.code for r in reasons] == ["CATEGORY_CLOSED_CROSS_BORDER"]
    assert ref.id == "akar-2021+shopee-13-2021"


def test_shipped_packs_load_and_default_combines_akar_and_permendag() -> None:
    assert {"akar-2021", "default", "permendag-31-2023", "shopee-13-2021"} <= set(packs())
    for name in packs():
        assert load_policy(name).id == name
    assert DEFAULT.min_price is not None and DEFAULT.blocked_clusters
    assert "4901" in DEFAULT.exemptions.hs_positive_list
