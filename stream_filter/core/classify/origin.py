"""Origin of a listing on three axes: seller residency, ship-from, made-in.

Why three axes and not one boolean: an Indonesian shop reselling cleared imports is local
(`domestic_imported`), a foreign shop with stock in a local warehouse is not (`cross_border_local_stock`),
and a policy treats them differently. When axes disagree the class follows the stronger signal, the
confidence drops and the evidence names the conflict, so the policy (not this module) decides what
low confidence means.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache

from stream_filter.core.classify.places import ABROAD, locate
from stream_filter.core.contracts.decision import Origin, OriginClass
from stream_filter.core.contracts.listing import Fulfilment, ListingEvent
from stream_filter.core.contracts.trusted import trusted

HOME = "ID"


@dataclass
class _Axis:
    """What one axis says: True = Indonesia, False = abroad, None = no signal."""

    home: bool | None = None
    evidence: list[str] = field(default_factory=list)
    conflict: bool = False

    def add(self, home: bool, why: str) -> None:
        if self.home is not None and self.home != home:
            self.conflict = True
        if self.home is None or not home:  # abroad wins inside one axis: it is the rarer, stronger claim
            self.home = home
        self.evidence.append(why)


Signals = tuple[str | None, bool, bool, str | None, str | None, Fulfilment | None, str | None]


def signals(event: ListingEvent) -> Signals:
    """Everything the origin depends on, as a hashable tuple (a handful of distinct values in practice)."""
    seller, ship = event.seller, event.ship_from
    return (seller.country, seller.cross_border_program is True, bool(seller.business_id), ship.country,
            ship.location, event.fulfilment, event.made_in)


def _residency(country: str | None, cross_border_program: bool, business_id: bool) -> _Axis:
    axis = _Axis()
    if country:
        axis.add(country == HOME, f"seller.country={country}")
    if cross_border_program:
        axis.add(False, "seller.cross_border_program=true")
    if business_id and axis.home is None:
        axis.add(True, "seller.business_id present (local registration)")
    return axis


def _ship_from(country: str | None, location: str | None, fulfilment: Fulfilment | None) -> _Axis:
    axis = _Axis()
    if country:
        axis.add(country == HOME, f"ship_from.country={country}")
    place = locate(location)
    if place is not None:
        where = "Indonesia" if place.country == HOME else ("abroad" if place.country == ABROAD else place.country)
        axis.add(place.country == HOME, f"ship_from.location '{place.matched}' is {where}")
    if fulfilment is Fulfilment.CROSS_BORDER_DIRECT:
        axis.add(False, "fulfilment=cross_border_direct")
    elif fulfilment is Fulfilment.MARKETPLACE_LOCAL_WAREHOUSE:
        axis.add(True, "fulfilment=marketplace_local_warehouse")
    return axis


def classify_origin(event: ListingEvent) -> Origin:
    return origin_of(signals(event))


@lru_cache(maxsize=65536)  # a pure function of a few low-cardinality fields: most listings are cache hits
def origin_of(sig: Signals) -> Origin:
    seller_country, cb_program, business_id, ship_country, location, fulfilment, made_in = sig
    seller, ship = _residency(seller_country, cb_program, business_id), _ship_from(ship_country, location, fulfilment)
    evidence = seller.evidence + ship.evidence
    made_abroad = made_in is not None and made_in != HOME
    if made_in:
        evidence.append(f"made_in={made_in}")
    penalty = 0.2 * (seller.conflict + ship.conflict)
    if seller.conflict:
        evidence.append("conflict: seller signals disagree")
    if ship.conflict:
        evidence.append("conflict: ship-from signals disagree")

    def result(cls: OriginClass, confidence: float) -> Origin:
        # trusted: built from checked enums and floats here; validation would double the cost
        return trusted(Origin, origin_class=cls, confidence=round(max(0.05, confidence - penalty), 2),
                                      evidence=evidence)

    match (seller.home, ship.home):
        case (True, True):
            return result(OriginClass.DOMESTIC_IMPORTED if made_abroad else OriginClass.DOMESTIC, 0.95)
        case (True, None):
            return result(OriginClass.DOMESTIC_IMPORTED if made_abroad else OriginClass.DOMESTIC, 0.75)
        case (None, True):
            return result(OriginClass.DOMESTIC_IMPORTED if made_abroad else OriginClass.DOMESTIC, 0.7)
        case (False, True):
            return result(OriginClass.CROSS_BORDER_LOCAL_STOCK, 0.9)
        case (False, False):
            return result(OriginClass.CROSS_BORDER, 0.97)
        case (False, None) | (None, False):
            return result(OriginClass.CROSS_BORDER, 0.8)
        case (True, False):
            evidence.append("conflict: Indonesian seller ships from abroad")
            return result(OriginClass.CROSS_BORDER, 0.5)
    evidence.append("no seller or ship-from signal")
    return trusted(Origin, origin_class=OriginClass.UNKNOWN, confidence=0.0, evidence=evidence)
