"""Realistic listing events with outcomes known by construction, for the demo, tests and benchmarks.

Why by construction: each event is built from a title of a known cluster and a seller profile of a
known origin, so its expected outcome under the default policy follows from the rules, not from
running the classifier. Deterministic for a given seed.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from functools import cache
from typing import Any

import orjson

from stream_filter.core.policy.files import load_policy

TITLES: dict[str, list[str]] = {
    "textile_fashion": [
        "Kaos Polos Cotton Combed 30s Unisex", "Kemeja Batik Pria Lengan Panjang Motif Parang",
        "Gamis Syari Wanita Jumbo Bahan Wolfis", "Hijab Pashmina Instan Ceruty Babydoll",
        "Sepatu Sneakers Pria Casual Original", "Celana Jeans Wanita Highwaist Stretch",
        "Mukena Katun Rayon Dewasa Motif Bunga", "Kebaya Modern Brokat Wisuda",
        "Men's Slim Fit Oxford Shirt Long Sleeve", "Women Floral Summer Dress Midi",
        "Tas Selempang Wanita Kulit Sintetis", "Sandal Jepit Pria Karet Anti Slip",
        "Kain Songket Palembang Tenun Tangan", "Jaket Hoodie Pria Fleece Tebal",
    ],
    "food_beverage": [
        "Keripik Pedas Level 10 Khas Bandung 250gr", "Kopi Gayo Arabika Bubuk 500gr",
        "Sambal Bawang Homemade Botol Kaca", "Madu Hutan Asli Sumbawa 1 Liter",
        "Kue Nastar Lebaran Toples 500gr", "Teh Hijau Celup Premium isi 25",
        "Instant Noodle Spicy Chicken Flavor 5 Pack", "Dark Chocolate Bar 70% Cocoa 100g",
        "Rendang Daging Sapi Kemasan Kaleng", "Snack Basreng Pedas Daun Jeruk",
        "Dodol Garut Aneka Rasa 500 gram", "Cookies Coklat Chip Homemade",
    ],
    "crafts": [
        "Tas Anyaman Rotan Bulat Bali Handmade", "Patung Kayu Ukiran Jepara Pajangan",
        "Gerabah Kasongan Vas Bunga Hias", "Wayang Kulit Arjuna Kerajinan Tangan",
        "Keranjang Anyaman Pandan Serbaguna", "Topeng Kayu Ukir Bali Hiasan Dinding",
        "Handicraft Bamboo Wind Chime Handmade",
    ],
    "other": [
        "Mouse Wireless Logitech M170 Original", "Charger Fast Charging 33W Type C",
        "Casing HP Samsung A54 Softcase Bening", "Buku Novel Laskar Pelangi Andrea Hirata",
        "Mesin Kopi Espresso Otomatis 15 Bar", "Garpu Makan Stainless Set 6 pcs",
        "Pompa Galon Air Minum Elektrik USB", "Mousepad Gaming Motif Batik XL",
        "Bluetooth Earphone TWS Bass Stereo", "Obeng Set 32 in 1 Magnetic",
        "Lampu LED Bohlam 12 Watt Putih", "Action Figure Anime 20cm Original",
    ],
}
CITIES = ["Kota Jakarta Barat", "Kab. Bandung", "Kota Surabaya", "Kab Bekasi", "Kota Tangerang Selatan",
          "Kota Yogyakarta", "KAB. SLEMAN", "Kota Medan", "Kota Denpasar", "Kab. Sidoarjo"]
ABROAD = [("CN", "Shenzhen"), ("CN", "Guangzhou"), ("CN", "Luar Negeri"), ("MY", "Kuala Lumpur"),
          ("KR", "Korea Selatan"), ("CN", "Overseas")]
BLOCKED = {"textile_fashion", "food_beverage", "crafts"}
SAMPLE_DAY = datetime(2026, 11, 1, tzinfo=UTC)


@cache
def floor_idr() -> Decimal:
    """The default pack's price floor in IDR on the samples' day, read from the pack's own data
    (when first needed, not at import)."""
    policy = load_policy("default")
    rate = policy.rate("IDR", SAMPLE_DAY.date())
    assert policy.min_price is not None and rate is not None
    return policy.min_price.amount * rate.units_per_base


PRICES = [15000, 49900, 125000, 350000, 1250000, 2500000, 4990000]
PROFILES = ["domestic", "domestic_imported", "cross_border", "cross_border_local_stock", "unknown"]


@dataclass(frozen=True)
class Sample:
    event: dict[str, Any]
    cluster: str
    profile: str
    outcome: str
    reason: str

    def line(self) -> bytes:
        return orjson.dumps(self.event)


def expected(profile: str, cluster: str, price_idr: int) -> tuple[str, str]:
    """Outcome and first reason code under the default policy (AKAR clusters + USD 100 floor)."""
    if profile in ("domestic", "domestic_imported"):
        return "approved", "DOMESTIC_SELLER"
    if profile == "cross_border" and price_idr < floor_idr():
        return "rejected", "BELOW_MIN_FOB_PRICE"
    if cluster not in BLOCKED:
        return "approved", "CLUSTER_NOT_BLOCKED"
    if profile == "unknown":
        return "review", "REVIEW_UNCERTAIN_BLOCKED_CLUSTER"
    return "rejected", "CLUSTER_BLOCKED_CROSS_BORDER"


def _seller(rng: random.Random, profile: str, n: int) -> dict[str, Any]:
    if profile in ("domestic", "domestic_imported"):
        fields: dict[str, Any] = {
            "seller": {"id": f"s-id-{n % 97}", "country": "ID", "business_id": f"NIB{n:013d}"},
            "ship_from": {"country": "ID", "location": rng.choice(CITIES)}, "fulfilment": "seller"}
        if profile == "domestic_imported":
            fields["made_in"] = "CN"
        return fields
    country, location = rng.choice(ABROAD)
    if profile == "cross_border":
        return {"seller": {"id": f"s-{country.lower()}-{n % 53}", "country": country, "cross_border_program": True},
                "ship_from": {"location": location}, "fulfilment": "cross_border_direct", "made_in": country}
    if profile == "cross_border_local_stock":
        return {"seller": {"id": f"s-{country.lower()}-{n % 53}", "country": country, "cross_border_program": True},
                "ship_from": {"country": "ID", "location": "Kota Jakarta Utara"},
                "fulfilment": "marketplace_local_warehouse"}
    return {"seller": {"id": f"s-anon-{n % 31}"}}


def generate(count: int, seed: int = 7, start: datetime | None = None, prefix: str = "L") -> list[Sample]:
    rng = random.Random(seed)
    start = start or SAMPLE_DAY
    samples = []
    for n in range(count):
        cluster = rng.choice(list(TITLES))
        profile = rng.choice(PROFILES)
        price = rng.choice(PRICES)
        event = {
            "schema_version": 1, "event_id": f"{prefix}-ev-{seed}-{n}", "event_type": "listing.created",
            "occurred_at": (start + timedelta(seconds=n)).isoformat().replace("+00:00", "Z"),
            "listing_id": f"{prefix}-{seed}-{n}", "marketplace": rng.choice(["tokopedia", "shopee", "lazada"]),
            "title": rng.choice(TITLES[cluster]), "price": {"amount": str(price), "currency": "IDR"},
            **_seller(rng, profile, n),
        }
        outcome, reason = expected(profile, cluster, price)
        samples.append(Sample(event, cluster, profile, outcome, reason))
    return samples


MALFORMED: list[tuple[bytes, str]] = [
    (b"{not json", "INVALID_JSON"),
    (b"\xff\xfe\xfa binary", "INVALID_UTF8"),
    (b"[1, 2, 3]", "NOT_AN_OBJECT"),
    (b'{"schema_version": 2, "event_id": "x", "listing_id": "x"}', "UNSUPPORTED_SCHEMA_VERSION"),
    (b'{"schema_version": 1, "event_id": "x", "event_type": "listing.created", "listing_id": "x"}',
     "SCHEMA_VIOLATION"),
    (b'{"schema_version": 1, "event_id": "x", "event_type": "listing.created", "occurred_at": '
     b'"2026-11-01T00:00:00Z", "listing_id": "x", "title": "Kaos", "price": {"amount": "-5", "currency": "IDR"}}',
     "IMPOSSIBLE_VALUE"),
    (b'{"schema_version": 1, "event_id": "x", "event_type": "listing.created", "occurred_at": '
     b'"2026-11-01T00:00:00Z", "listing_id": "x", "title": "Kaos", "seller": {"country": "QQ"}}',
     "IMPOSSIBLE_VALUE"),
    (b'"just a string"', "NOT_AN_OBJECT"),
]


def example_lines(count: int = 300, seed: int = 2021) -> list[bytes]:
    """The demo file: `count` events, a deletion and an update, and the malformed lines above."""
    samples = generate(count, seed=seed, prefix="demo")
    lines = [s.line() for s in samples]
    updated = dict(samples[0].event, event_id="demo-ev-update-0", event_type="listing.updated",
                   title=samples[0].event["title"] + " (stok baru)")
    deleted = {k: samples[1].event[k] for k in ("schema_version", "listing_id", "occurred_at")}
    deleted.update(event_id="demo-ev-delete-1", event_type="listing.deleted")
    lines += [orjson.dumps(updated), orjson.dumps(deleted)]
    step = max(1, len(lines) // (len(MALFORMED) + 1))
    for i, (raw, _) in enumerate(MALFORMED):
        lines.insert((i + 1) * step, raw)
    return lines


if __name__ == "__main__":
    import sys

    sys.stdout.buffer.write(b"\n".join(example_lines()) + b"\n")
