"""ListingEvent v1: what the marketplace ingest pipeline publishes to `listings.new`.

This pydantic model is the source of truth for the input contract; `schemas/listing-event.v1.json`
is generated from it (`stream-filter schemas`). Unknown extra fields are kept and passed through,
so a producer that adds a field never breaks the filter. Semantic checks (real country and currency
codes, non-negative prices) live here too, so every entry point rejects the same things.
"""

from __future__ import annotations

from decimal import Decimal
from enum import StrEnum
from functools import cache
from typing import Annotated, Literal

import pycountry
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints, field_validator, model_validator

SCHEMA_VERSION = 1

CountryCode = Annotated[str, StringConstraints(pattern=r"^[A-Za-z]{2}$", to_upper=True)]

# Every variable-size field has a bound, so that a listing that validates costs bounded time to
# classify and to write back (the decode limits: docs/reliability.md). Extra fields are bounded by
# the record size and the nesting limit at decode.
ShortText = Annotated[str, StringConstraints(max_length=200)]
MAX_CATEGORY_LEVELS = 20
# JSON objects and arrays a listing may hold, counted before it is parsed (or while an Avro body is read): a
# real listing holds a few dozen (a long variant list a few hundred); a megabyte of empty containers passes
# every size limit and costs a parse, a validation, a state and a decision record each of a tenth of a second.
MAX_CONTAINERS = 2_000


@cache
def _known_country(code: str) -> bool:
    return pycountry.countries.get(alpha_2=code) is not None


@cache
def _known_currency(code: str) -> bool:
    return pycountry.currencies.get(alpha_3=code) is not None


def _check_country(code: str | None) -> str | None:
    if code is not None and not _known_country(code):
        raise ValueError(f"'{code}' is not an ISO 3166-1 alpha-2 country code")
    return code


class EventType(StrEnum):
    CREATED = "listing.created"
    UPDATED = "listing.updated"
    DELETED = "listing.deleted"


class Fulfilment(StrEnum):
    SELLER = "seller"
    MARKETPLACE_LOCAL_WAREHOUSE = "marketplace_local_warehouse"
    CROSS_BORDER_DIRECT = "cross_border_direct"


class Price(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True)

    amount: Decimal = Field(ge=0, max_digits=30, allow_inf_nan=False,
                            description="Price of one listing (all its units), in `currency`.",
                            json_schema_extra={"anyOf": [{"type": "number", "minimum": 0},
                                                         {"type": "string", "maxLength": 31}]})
    currency: Annotated[str, StringConstraints(pattern=r"^[A-Za-z]{3}$", to_upper=True)]

    @field_validator("currency")
    @classmethod
    def _known_currency(cls, v: str) -> str:
        if not _known_currency(v):
            raise ValueError(f"'{v}' is not an ISO 4217 currency code")
        return v


class Seller(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True)

    id: ShortText | None = None
    country: CountryCode | None = Field(default=None, description="Seller residency, ISO 3166-1 alpha-2.")
    business_id: ShortText | None = Field(default=None, description="Local business registration, e.g. an NIB.")
    cross_border_program: bool | None = Field(default=None, description="Enrolled in the marketplace's CB program.")

    _country = field_validator("country")(_check_country)


class ShipFrom(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True)

    country: CountryCode | None = None
    location: str | None = Field(default=None, max_length=200, description="Free text as buyers see it.")

    _country = field_validator("country")(_check_country)


class ListingEvent(BaseModel):
    """One change to one listing. The first six fields are required; the rest are optional."""

    model_config = ConfigDict(extra="allow", frozen=True, str_strip_whitespace=True)

    schema_version: Literal[1]
    event_id: Annotated[str, StringConstraints(min_length=1, max_length=200)]
    event_type: EventType
    occurred_at: AwareDatetime
    listing_id: Annotated[str, StringConstraints(min_length=1, max_length=200)]
    marketplace: ShortText | None = None
    title: Annotated[str, StringConstraints(min_length=1, max_length=500)] | None = None
    description: Annotated[str, StringConstraints(max_length=20000)] | None = None
    category_path: list[ShortText] = Field(default_factory=list, max_length=MAX_CATEGORY_LEVELS,
                                           description="Root to leaf, the marketplace's names.")
    hs_code: Annotated[str, StringConstraints(pattern=r"^\d[\d.]{1,13}$")] | None = None
    brand: ShortText | None = None
    price: Price | None = None
    units_per_listing: int = Field(default=1, ge=1)
    # one shared frozen instance each: a default factory would validate a new model for every listing
    seller: Seller = Field(default=Seller())
    ship_from: ShipFrom = Field(default=ShipFrom())
    made_in: CountryCode | None = None
    fulfilment: Fulfilment | None = None

    _made_in = field_validator("made_in")(_check_country)

    @model_validator(mode="after")
    def _title_unless_deleted(self) -> ListingEvent:
        if self.event_type is not EventType.DELETED and not self.title:
            raise ValueError("title is required unless event_type is listing.deleted")
        return self

    @property
    def hs_digits(self) -> str:
        return (self.hs_code or "").replace(".", "")
