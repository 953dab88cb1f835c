"""Policy as data: versioned, effective-dated rules with reason codes and legal basis.

Why data: marketplaces change the rules (AKAR 2021, Shopee's 13 categories in 2021, Permendag
31/2023) and operators must change them without code. A policy file is YAML validated by `Policy`
(`schemas/policy.v1.json`); `include` merges other packs into it. A `PolicyBook` holds every
loaded version and picks, for a given date, the versions in force, so a future-dated version
activates by itself. Evaluation lives in `rules.py`.
"""

from __future__ import annotations

import hashlib
import re
from datetime import date
from decimal import Decimal
from functools import cached_property
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from stream_filter.core.contracts.decision import CROSS_BORDER_CLASSES, OriginClass, PolicyRef, Reason
from stream_filter.core.contracts.trusted import trusted


class _Strict(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


# The fields a reason's message may name, as {field}. Messages are not format strings: a field is
# replaced by its text and nothing else is interpreted, so no template can fail or allocate at
# decision time. A field a rule does not supply renders as "?".
TEMPLATE_FIELDS = frozenset({"origin", "day", "cluster", "term", "until", "hs", "unit_price", "floor", "detail",
                             "before", "after", "old", "policy", "why", "reviewer", "reason_code", "note"})
_FIELD = re.compile(r"\{([a-z_]+)\}")
MAX_MESSAGE_CHARS = 500


def check_template(message: str) -> str:
    """A message template, or ValueError naming what is wrong (validate and publish show the line)."""
    if len(message) > MAX_MESSAGE_CHARS:
        raise ValueError(f"message longer than {MAX_MESSAGE_CHARS} characters")
    unknown = sorted(set(_FIELD.findall(message)) - TEMPLATE_FIELDS)
    if unknown:
        raise ValueError(f"unknown field {{{unknown[0]}}} in message (fields: {', '.join(sorted(TEMPLATE_FIELDS))})")
    rest = _FIELD.sub("", message)
    if "{" in rest or "}" in rest:
        raise ValueError("a brace outside a {field} placeholder in message (format specs, positional and "
                         "nested fields are not allowed)")
    return message


def parts(message: str) -> tuple[tuple[str, str | None], ...]:
    """A checked template as (text, field) pairs: rendering is then a join, on the hot path."""
    pieces = _FIELD.split(message)  # text, field, text, field, ..., text
    return tuple((pieces[i], pieces[i + 1] if i + 1 < len(pieces) else None) for i in range(0, len(pieces), 2))


def render(template: tuple[tuple[str, str | None], ...], fields: dict[str, str]) -> str:
    return "".join(text + (fields.get(name, "?") if name else "") for text, name in template)


class ReasonText(_Strict):
    code: str = Field(pattern=r"^[A-Z][A-Z0-9_]+$")
    legal_basis: str = Field(max_length=MAX_MESSAGE_CHARS)
    message: str

    @field_validator("message")
    @classmethod
    def _template(cls, value: str) -> str:
        return check_template(value)

    @cached_property
    def template(self) -> tuple[tuple[str, str | None], ...]:
        return parts(self.message)

    def reason(self, **fields: str) -> Reason:
        """The reason with its message rendered; one frozen instance per distinct rendering (a policy's
        reasons take a few values: the day, the origin, the cluster), built once."""
        key = (id(self), *fields.items())
        found = _RENDERED.get(key)
        if found is None or found[0] is not self:
            if len(_RENDERED) >= MAX_RENDERED:
                _RENDERED.clear()
            # trusted: code and basis were validated with the policy; the message is rendered here
            found = _RENDERED[key] = (self, trusted(Reason, code=self.code, legal_basis=self.legal_basis,
                                                     message=render(self.template, fields)))
        return found[1]


_RENDERED: dict[tuple[Any, ...], tuple[ReasonText, Reason]] = {}
MAX_RENDERED = 4096


def _reason(code: str, basis: str, message: str) -> ReasonText:
    return ReasonText(code=code, legal_basis=basis, message=message)


class ClusterBlock(_Strict):
    clusters: list[str] = Field(min_length=1)
    origins: list[OriginClass] = Field(default_factory=lambda: list(CROSS_BORDER_CLASSES))
    reason: ReasonText


class CategoryBlock(_Strict):
    """Closed categories by name: matched in the category path, and in the title if `match_title`."""

    terms: list[str] = Field(min_length=1)
    match_title: bool = False
    origins: list[OriginClass] = Field(default_factory=lambda: list(CROSS_BORDER_CLASSES))
    reason: ReasonText


class MinPrice(_Strict):
    amount: Decimal = Field(gt=0)
    currency: str = Field(pattern=r"^[A-Z]{3}$")
    origins: list[OriginClass] = Field(default_factory=lambda: [OriginClass.CROSS_BORDER])
    reason: ReasonText
    unknown_price_reason: ReasonText = _reason(
        "PRICE_NOT_CHECKABLE", "Minimum price rule cannot be checked", "price or exchange rate missing: {detail}")


def within(day: date, start: date, until: date | None) -> bool:
    """The one rule for dated things (policy versions, exchange rates): in force on [start, until)."""
    return start <= day and (until is None or day < until)


class FxRate(_Strict):
    """Units of `currency` per one unit of the floor's currency, valid in [valid_from, valid_until)."""

    currency: str = Field(pattern=r"^[A-Z]{3}$")
    units_per_base: Decimal = Field(gt=0)
    valid_from: date
    valid_until: date | None = None

    def valid_on(self, day: date) -> bool:
        return within(day, self.valid_from, self.valid_until)


class Exemption(_Strict):
    value: str
    until: date | None = None
    note: str = ""


class CategoryOverride(_Strict):
    terms: list[str] = Field(min_length=1)
    action: Literal["approve", "review", "reject"]
    reason: ReasonText


class Exemptions(_Strict):
    hs_positive_list: list[str] = Field(default_factory=list, description="HS code prefixes (digits).")
    positive_list_reason: ReasonText = _reason(
        "POSITIVE_LIST_EXEMPT", "Positive list of goods allowed below the floor", "HS {hs} is on the positive list")
    sellers: list[Exemption] = Field(default_factory=list)
    brands: list[Exemption] = Field(default_factory=list)
    seller_reason: ReasonText = _reason("SELLER_EXEMPT", "Operator exemption", "seller exempt until {until}")
    brand_reason: ReasonText = _reason("BRAND_EXEMPT", "Operator exemption", "brand exempt until {until}")
    category_overrides: list[CategoryOverride] = Field(default_factory=list)


class Review(_Strict):
    min_origin_confidence: float = Field(default=0.6, ge=0, le=1)
    min_cluster_confidence: float = Field(default=0.5, ge=0, le=1)
    reason: ReasonText = _reason(
        "REVIEW_UNCERTAIN_BLOCKED_CLUSTER", "Uncertain classification is checked by a person, never passed silently",
        "{cluster} is restricted but the signals are uncertain (origin: {origin})")


class Policy(_Strict):
    id: str = Field(pattern=r"^[a-z0-9][a-z0-9.-]*$")
    version: str = Field(min_length=1)
    title: str = ""
    sources: list[str] = Field(default_factory=list, description="Where the rules come from.")
    effective_from: date
    effective_until: date | None = None
    include: list[str] = Field(default_factory=list, description="Packs whose rules are merged into this one.")
    blocked_clusters: list[ClusterBlock] = Field(default_factory=list)
    blocked_categories: list[CategoryBlock] = Field(default_factory=list)
    min_price: MinPrice | None = None
    fx_rates: list[FxRate] = Field(default_factory=list)
    exemptions: Exemptions = Exemptions()
    review: Review = Review()
    approved_domestic: ReasonText = _reason("DOMESTIC_SELLER", "Local sellers are not restricted",
                                            "seller is local (origin: {origin})")
    approved_not_blocked: ReasonText = _reason("CLUSTER_NOT_BLOCKED", "No active rule restricts this listing",
                                               "no restriction applies (origin: {origin})")
    removed: ReasonText = _reason("LISTING_DELETED", "Listing removed by the seller or marketplace",
                                  "listing deleted; drop it from the catalogue")

    @model_validator(mode="after")
    def _dates_in_order(self) -> Policy:
        if self.effective_until is not None and self.effective_until <= self.effective_from:
            raise ValueError("effective_until must be after effective_from")
        return self

    @cached_property
    def digest(self) -> str:
        """Of the content with its includes merged: what the rules are, whatever the file looked like. The
        included packs' names are left out (as if `include` were empty): a file that includes a pack and
        the same rules published with the pack merged in (`policy publish`) are one policy."""
        flat = self.model_copy(update={"include": []}) if self.include else self
        return hashlib.sha256(flat.model_dump_json().encode()).hexdigest()[:16]

    @cached_property
    def ref(self) -> PolicyRef:
        return PolicyRef(id=self.id, version=self.version, digest=self.digest)

    def in_force(self, day: date) -> bool:
        return within(day, self.effective_from, self.effective_until)

    def rate(self, currency: str, day: date) -> FxRate | None:
        """The exchange rate for `currency` valid on `day`, if the policy has one."""
        return next((r for r in self.fx_rates if r.currency == currency and r.valid_on(day)), None)

