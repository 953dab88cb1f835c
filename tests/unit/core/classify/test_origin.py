"""Each origin class, conflicts, missing fields, and real location spellings."""

from __future__ import annotations

import pytest

from stream_filter.core.classify.origin import classify_origin
from stream_filter.core.classify.places import ABROAD, locate
from stream_filter.core.contracts.decision import OriginClass
from tests.factories import event


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"seller": {"country": "ID"}, "ship_from": {"location": "Kota Jakarta Barat"}}, OriginClass.DOMESTIC),
        ({"seller": {"country": "ID"}, "ship_from": {"country": "ID"}, "made_in": "CN"}, OriginClass.DOMESTIC_IMPORTED),
        ({"seller": {"country": "CN"}, "ship_from": {"location": "Shenzhen"}}, OriginClass.CROSS_BORDER),
        ({"seller": {"country": "CN"}, "fulfilment": "marketplace_local_warehouse"},
         OriginClass.CROSS_BORDER_LOCAL_STOCK),
        ({"ship_from": {"location": "Luar Negeri"}}, OriginClass.CROSS_BORDER),
        ({"seller": {"cross_border_program": True}}, OriginClass.CROSS_BORDER),
        ({"ship_from": {"location": "KAB. BANDUNG"}}, OriginClass.DOMESTIC),
        ({"seller": {"business_id": "NIB1234567890123"}}, OriginClass.DOMESTIC),
        ({}, OriginClass.UNKNOWN),
        ({"made_in": "CN"}, OriginClass.UNKNOWN),
        ({"ship_from": {"location": "Planet Mars"}}, OriginClass.UNKNOWN),
    ],
)
def test_origin_classes(fields: dict[str, object], expected: OriginClass) -> None:
    origin = classify_origin(event(**fields))
    assert origin.origin_class is expected
    assert 0 <= origin.confidence <= 1
    assert origin.evidence  # every result names its signals


def test_conflict_lowers_confidence_and_is_explained() -> None:
    clean = classify_origin(event(seller={"country": "CN"}, ship_from={"country": "CN"}))
    conflict = classify_origin(event(seller={"country": "ID"}, ship_from={"country": "CN"}))
    assert conflict.origin_class is OriginClass.CROSS_BORDER
    assert conflict.confidence < clean.confidence
    assert any("conflict" in e for e in conflict.evidence)


def test_ship_from_country_against_location_is_a_conflict() -> None:
    origin = classify_origin(event(seller={"country": "SG"}, ship_from={"country": "ID", "location": "Guangzhou"}))
    assert any("conflict" in e for e in origin.evidence)


@pytest.mark.parametrize(
    "text",
    ["Kota Jakarta Barat", "Jakarta Barat", "KAB. BANDUNG", "Kab Bekasi", "Kab.\u00a0Bekasi",
     "Kota Tangerang Selatan", "Jawa Barat", "Kota Palangkaraya", "Palangka Raya", " Jakarta Utara ",
     "Kabupaten Sukoharjo", "DKI Jakarta", "Daerah Istimewa Yogyakarta", "Jakarta Barat, DKI Jakarta"],
)
def test_indonesian_spellings_are_domestic(text: str) -> None:
    place = locate(text)
    assert place is not None and place.country == "ID", text


@pytest.mark.parametrize(
    ("text", "country"),
    [("Luar Negeri", ABROAD), ("Overseas", ABROAD), ("Tiongkok", "CN"), ("China", "CN"), ("Korea Selatan", "KR"),
     ("Shenzhen", "CN"), ("Guangzhou, Guangdong, China", "CN"), ("Kuala Lumpur", "MY"), ("Singapore", "SG"),
     ("Jepang", "JP")],
)
def test_foreign_places(text: str, country: str) -> None:
    place = locate(text)
    assert place is not None and place.country == country, (text, place)


def test_empty_location_is_no_signal() -> None:
    assert locate(None) is None
    assert locate("") is None
