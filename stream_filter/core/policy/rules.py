"""Apply the policies in force to one classified listing: outcome plus every reason that applied.

Decision order (documented in docs/policy.md, tested in tests/unit/test_rules.py):
exemptions (seller, brand, category override) -> domestic origin approved -> HS positive list
approved -> below the minimum unit price rejected -> blocked cluster or category rejected ->
unknown or low-confidence origin, or a low-confidence or weak cluster match (one whose evidence does
not name the product: `WEAK_CONFIDENCE`), in a restricted cluster: review ->
approved. With several policies in force the most severe outcome wins. Pure and deterministic.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, TypeVar, cast

from stream_filter.core.classify.text import normalise, short_normalise
from stream_filter.core.contracts.decision import (
    WEAK_CONFIDENCE,
    ClusterMatch,
    Origin,
    OriginClass,
    Outcome,
    PolicyRef,
    Reason,
)
from stream_filter.core.contracts.listing import ListingEvent
from stream_filter.core.policy.model import Exemption, MinPrice, Policy, ReasonText

SEVERITY = {Outcome.APPROVED: 0, Outcome.REVIEW: 1, Outcome.REJECTED: 2}
NO_POLICY = ReasonText(code="NO_POLICY_IN_FORCE", legal_basis="No policy version is in force on this date",
                       message="no policy in force on {day}: a person decides")
DOMESTIC = (OriginClass.DOMESTIC, OriginClass.DOMESTIC_IMPORTED)


def _exempt(entries: list[Exemption], value: str | None, day: date) -> Exemption | None:
    """The first exemption of `value` in the list that is in force on `day` (`until` inclusive)."""
    if not value or not entries:
        return None
    by_value = _indexed(entries, _by_value)
    return next((e for e in by_value.get(value, ()) if e.until is None or day <= e.until), None)


def on_positive_list(hs: str, prefixes: list[str]) -> bool:
    """Whether the HS digits start with a listed prefix: a set lookup per prefix length of the code,
    however long the list."""
    if not prefixes:
        return False
    listed = _indexed(prefixes, frozenset)
    return any(hs[:n] in listed for n in range(len(hs) + 1))


T = TypeVar("T")
_INDEXES: dict[int, tuple[list[Any], Any]] = {}


def _indexed(entries: list[Any], build: Callable[[list[Any]], T]) -> T:
    """`build(entries)`, once per list of a loaded policy (exemptions, positive-list prefixes, a
    rule's terms): an operator's lists can run to thousands and every listing is checked against
    them. Keyed by the list itself (held, so its id stays its own), not stored on the frozen model,
    whose `model_copy` would carry it to a copy with other entries."""
    hit = _INDEXES.get(id(entries))
    if hit is not None and hit[0] is entries:
        return cast(T, hit[1])
    if len(_INDEXES) >= MAX_INDEXES:
        _INDEXES.clear()
    index = build(entries)
    _INDEXES[id(entries)] = (entries, index)
    return index


MAX_INDEXES = 1024  # lists indexed at once: a few per policy version loaded, hundreds of versions


def _by_value(entries: list[Exemption]) -> dict[str, list[Exemption]]:
    index: dict[str, list[Exemption]] = {}
    for entry in entries:
        index.setdefault(entry.value, []).append(entry)
    return index


def _needles(terms: list[str]) -> tuple[tuple[str, str], ...]:
    """(term, " normalised term ") pairs."""
    return tuple((term, f" {normalise(term)} ") for term in terms)


def _has_term(terms: list[str], texts: list[str]) -> str | None:
    """The first term that appears as whole words in any of the normalised texts."""
    padded = [f" {t} " for t in texts]
    for term, needle in _indexed(terms, _needles):
        if any(needle in text for text in padded):
            return term
    return None


def unit_price(event: ListingEvent, rule: MinPrice, policy: Policy, day: date) -> Decimal | str:
    """Price per unit in the floor's currency, or why it cannot be known."""
    if event.price is None:
        return "no price"
    per_unit = event.price.amount / event.units_per_listing
    if event.price.currency == rule.currency:
        return per_unit
    rate = policy.rate(event.price.currency, day)
    if rate is not None:
        return per_unit / rate.units_per_base
    return f"no {event.price.currency}->{rule.currency} rate valid on {day}"


def apply_policy(policy: Policy, event: ListingEvent, origin: Origin, clusters: list[ClusterMatch],
                 day: date) -> tuple[Outcome, list[Reason]]:
    cls = origin.origin_class
    fields = {"origin": cls.value, "day": day.isoformat()}
    ex = policy.exemptions
    if seller := _exempt(ex.sellers, event.seller.id, day):
        return Outcome.APPROVED, [ex.seller_reason.reason(**fields, until=str(seller.until or "revoked"))]
    if brand := _exempt(ex.brands, event.brand, day):
        return Outcome.APPROVED, [ex.brand_reason.reason(**fields, until=str(brand.until or "revoked"))]
    category_texts = [short_normalise(c) for c in event.category_path]
    for override in ex.category_overrides:
        if term := _has_term(override.terms, category_texts):
            return Outcome(override.action.replace("approve", "approved").replace("reject", "rejected")), [
                override.reason.reason(**fields, term=term)]
    if cls in DOMESTIC:
        return Outcome.APPROVED, [policy.approved_domestic.reason(**fields)]
    hs = event.hs_digits
    if hs and on_positive_list(hs, ex.hs_positive_list):
        return Outcome.APPROVED, [ex.positive_list_reason.reason(**fields, hs=event.hs_code or hs)]

    confident_origin = origin.confidence >= policy.review.min_origin_confidence
    rejected: list[Reason] = []
    review: list[Reason] = []
    floor = policy.min_price
    if floor is not None and cls in floor.origins:
        price = unit_price(event, floor, policy, day)
        if isinstance(price, str):
            review.append(floor.unknown_price_reason.reason(**fields, detail=price))
        elif price < floor.amount:
            shown = price.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
            rejected.append(floor.reason.reason(**fields, unit_price=f"{shown} {floor.currency}",
                                                floor=f"{floor.amount} {floor.currency}"))
    for rule in policy.blocked_clusters:
        for match in (m for m in clusters if m.cluster in rule.clusters):
            f = {**fields, "cluster": match.cluster}
            covered = cls in rule.origins
            named = match.confidence > WEAK_CONFIDENCE  # weak evidence is reviewed, never a rejection
            if covered and confident_origin and named and match.confidence >= policy.review.min_cluster_confidence:
                rejected.append(rule.reason.reason(**f))
            elif covered or cls is OriginClass.UNKNOWN:
                review.append(policy.review.reason.reason(**f))
    title_texts: list[str] = []  # normalised only when a block reads titles (most policies: none)
    for block in policy.blocked_categories:
        if block.match_title and not title_texts:
            title_texts = [*category_texts, normalise(event.title or "")]
        term = _has_term(block.terms, title_texts if block.match_title else category_texts)
        if term is None:
            continue
        f = {**fields, "cluster": term, "term": term}
        if cls in block.origins and confident_origin:
            rejected.append(block.reason.reason(**f))
        elif cls in block.origins or cls is OriginClass.UNKNOWN:
            review.append(policy.review.reason.reason(**f))
    if rejected:
        return Outcome.REJECTED, rejected + review
    if review:
        return Outcome.REVIEW, review
    return Outcome.APPROVED, [policy.approved_not_blocked.reason(**fields)]


def apply_policies(policies: list[Policy], event: ListingEvent, origin: Origin, clusters: list[ClusterMatch],
             day: date) -> tuple[Outcome, list[Reason], PolicyRef]:
    """Combine the policies in force: the most severe outcome, with the reasons that led to it."""
    if not policies:
        return Outcome.REVIEW, [NO_POLICY.reason(day=day.isoformat())], combined_ref(policies)
    results = [apply_policy(p, event, origin, clusters, day) for p in policies]
    worst = max((outcome for outcome, _ in results), key=SEVERITY.__getitem__)
    reasons = [r for outcome, rs in results if outcome is worst for r in rs]
    return worst, reasons, combined_ref(policies)


def combined_ref(policies: list[Policy]) -> PolicyRef:
    """The reference a decision under these policies carries (several in force combine)."""
    if not policies:
        return PolicyRef(id="none", version="none")
    if len(policies) == 1:
        return policies[0].ref
    return PolicyRef(id="+".join(p.id for p in policies), version="+".join(p.version for p in policies),
                     digest="+".join(p.digest for p in policies))
