"""Where a free-text location is: Indonesia, a named foreign country, abroad, or unknown.

Indonesian names come from the packaged Ministry of Home Affairs area data (provinces and
regencies/cities, see data/id_admin_SOURCE.md); country names from pycountry (English) plus the
Indonesian names and large foreign cities in data/places_extra.tsv. Lookups are dictionary hits
on normalised n-grams, so adding names costs nothing per listing.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from functools import cache, lru_cache
from importlib import resources

import pycountry

from stream_filter.core.classify.text import find_phrases, normalise, phrase_index

ABROAD = "XX"  # abroad, country not named
_ADMIN_PREFIXES = ("kota administrasi ", "kabupaten administrasi ", "kabupaten ", "kota ", "kab ", "kb ",
                   "provinsi ", "prov ", "daerah khusus ibukota ", "daerah istimewa ")


@dataclass(frozen=True)
class Place:
    country: str  # alpha-2, or ABROAD
    matched: str  # the normalised name that matched


def _strip_prefix(name: str) -> str:
    for prefix in _ADMIN_PREFIXES:
        if name.startswith(prefix):
            return name[len(prefix) :]
    return name


@cache
def gazetteer() -> dict[str, str]:
    """Normalised place name -> country code. Indonesian names win over any foreign clash."""
    names: dict[str, str] = {}
    for country in pycountry.countries:
        for attr in ("name", "common_name", "official_name"):
            value = getattr(country, attr, None)
            if value:
                names[normalise(value)] = country.alpha_2
    data = resources.files("stream_filter.core.classify") / "data"
    for line in (data / "places_extra.tsv").read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            name, code = line.split("\t")
            names[normalise(name)] = code.strip()
    for filename in ("id_provinces.csv", "id_regencies.csv"):
        with (data / filename).open(encoding="utf-8") as fh:
            for row in csv.DictReader(fh):
                full = normalise(row["name"])
                for variant in (full, _strip_prefix(full)):
                    names[variant] = "ID"
                    names[variant.replace(" ", "")] = "ID"  # "Palangka Raya" / "Palangkaraya"
    return names


@cache
def _gazetteer_index() -> dict[str, int]:
    return phrase_index(gazetteer())


@lru_cache(maxsize=8192)  # marketplaces show a few thousand distinct locations: most lookups are hits
def locate(text: str | None) -> Place | None:
    """The place a location string names, or None when nothing in it is known."""
    if not text:
        return None
    table = gazetteer()
    whole = normalise(text)
    stripped = _strip_prefix(whole)
    for candidate in (whole, stripped, stripped.replace(" ", "")):  # "Palangka Raya" = "Palangkaraya"
        if candidate in table:
            return Place(table[candidate], candidate)
    # Longer texts ("Jakarta Barat, DKI Jakarta", "Shenzhen Guangdong China"): scan n-grams,
    # longest first; Indonesia wins only if no foreign name is also present (that is a conflict).
    found: dict[str, str] = {}
    for _, phrase, code in find_phrases(stripped.split(), _gazetteer_index(), table):
        found.setdefault(code, phrase)
    if not found:
        return None
    foreign = [c for c in found if c != "ID"]
    if foreign and "ID" in found:
        return Place(ABROAD if len(foreign) > 1 else foreign[0], f"{found[foreign[0]]} (also {found['ID']})")
    code = foreign[0] if foreign else "ID"
    return Place(code, found[code])
