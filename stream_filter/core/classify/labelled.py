"""Labelled listings for training and measuring the cluster classifiers.

Three layouts: a catalogue of listing events (JSONL, the input contract) labelled by its own
category paths through the category map, so an operator retrains on their own catalogue (the
model then catches listings filed under the wrong category); the PRDECT-ID CSV (`Category`,
`Product Name`; labels from Tokopedia's categories as `GROUND_TRUTH` below maps them, and,
for crafts, every category that is clearly not one as a negative); and the project's own sets
(`tests/data/crafts/listings.tsv`, `tests/data/food/listings.tsv`: clusters, kind, title; each file
says which clusters it labels on every row).
A cluster a row does not label is unknown for that row, never negative.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from pathlib import Path

from pydantic import ValidationError

from stream_filter.core.classify.clusters import category_layer
from stream_filter.core.classify.lexicon import NONE, default_lexicon
from stream_filter.core.contracts.listing import ListingEvent

CRAFTS = "crafts"
_NON_CLUSTER = ["Computers and Laptops", "Gaming", "Electronics", "Books", "Camera", "Office & Stationery", "Kitchen",
                "Automotive", "Phones and Tablets", "Movies and Music", "Tour and Travel", "Property", "Carpentry"]
_FASHION = ["Men's Fashion", "Women's Fashion", "Muslim Fashion", "Kids and Baby Fashion"]
# Goods a filter must not block, where they are clean: perfume, shampoo, gold bars, medical masks,
# cosmetics with food words (2026-12-07 mapping: hair accessories are fashion, masks are not).
_CARE = ["Body Care", "Precious Metal", "Health", "Animal Care"]
_HOME = ["Beauty", "Household", "Toys and Hobbies", "Party Supplies and Craft"]
# PRDECT-ID ground truth (tests/data/prdect-id/README.md): per cluster, its positive and negative
# Tokopedia categories; mixed ones are not scored (fashion: Sport, Beauty, Mother and Baby, Other
# Products, Party Supplies and Craft, Household, Toys and Hobbies; food: Health, Animal Care,
# Mother and Baby, Other Products, Sport).
GROUND_TRUTH: dict[str, tuple[frozenset[str], frozenset[str]]] = {
    "textile_fashion": (frozenset(_FASHION), frozenset([*_NON_CLUSTER, "Food and Drink", *_CARE])),
    "food_beverage": (frozenset(["Food and Drink"]),
                      frozenset([*_NON_CLUSTER, *_FASHION, *_HOME, "Body Care", "Precious Metal"])),
}
CRAFTS_SET_LABELS: tuple[str, ...] = (CRAFTS, "food_beverage")  # what the crafts set labels on every row
_LABELS = re.compile(r"#\s*labels\s*:", re.IGNORECASE)
# PRDECT-ID categories that hold no crafts: those no handmade good is filed under (household goods,
# party supplies, toys and precious metal may hold some, so they are not scored for crafts)
NOT_CRAFTS = frozenset([*_NON_CLUSTER, *_FASHION, "Food and Drink", "Body Care", "Health", "Beauty", "Animal Care"])


@dataclass(frozen=True)
class Labelled:
    title: str
    labels: dict[str, bool]  # cluster -> whether the listing is in it; unknown clusters absent
    category: str  # where the labels came from (category or kind), for error lists
    top: str = ""  # the top-level category key the decision figures are grouped by
    marketplace: str = ""
    category_path: tuple[str, ...] = ()  # the marketplace's path, root first, when the layout has one


def read_labelled(path: Path) -> list[Labelled]:
    if path.suffix == ".tsv":
        return _project_set(path)
    if path.suffix == ".jsonl":
        return _catalogue(path)
    with path.open(encoding="utf-8", errors="replace", newline="") as fh:
        return [prdect_row(row) for row in csv.DictReader(fh)]


# The label boundaries within a fashion category: a face mask (cloth ones too) or a smartwatch is
# not fashion, so such a row is not scored for fashion (a strap, chain or connector for masks is a
# fashion accessory and stays). A rule of the labels, written from the boundaries, not from errors.
_NOT_FASHION = re.compile(r"\bsmart ?watch|\bmasker\b", re.IGNORECASE)
_MASK_ACCESSORY = re.compile(r"\b(?:tali|strap|konektor|kalung|pengait|aksesoris)\b", re.IGNORECASE)


def prdect_row(row: dict[str, str]) -> Labelled:
    category = row["Category"]
    labels = {cluster: category in positives for cluster, (positives, negatives) in GROUND_TRUTH.items()
              if category in positives or category in negatives}
    title = row["Product Name"]
    if labels.get("textile_fashion") and _NOT_FASHION.search(title) and not _MASK_ACCESSORY.search(title):
        del labels["textile_fashion"]
    if category in NOT_CRAFTS:
        labels[CRAFTS] = False
    return Labelled(row["Product Name"], labels, category, top=category, marketplace="tokopedia")


def _project_set(path: Path) -> list[Labelled]:
    """A set written by the project: `clusters<TAB>kind<TAB>title` per line, or, after a `# columns:
    clusters, top, marketplace, category, title` line, with the marketplace and its category path
    (`Level 1 > Level 2`, may be empty) and the top-level category key the figures are grouped by.
    Every row labels the clusters its file declares in a `# labels: a,b` line before its first row
    (the crafts set, which has none: crafts and food); a declared cluster a row does not name (`-`:
    none) is a negative for that row. A malformed declaration is refused, not read as another set
    of labels."""
    rows: list[Labelled] = []
    labelled = CRAFTS_SET_LABELS
    columns = False
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if _LABELS.match(line):
            names = tuple(name.strip() for name in line.split(":", 1)[1].split(","))
            known = default_lexicon().clusters  # the clusters the classifier knows
            if rows or not set(names) <= set(known):
                raise ValueError(f"{path}:{number}: a labels line names known clusters "
                                 f"({', '.join(known)}) before the first row: {line!r}")
            labelled = names
        if _COLUMNS.match(line):
            if rows or [c.strip() for c in line.split(":", 1)[1].split(",")] != list(_WIDE):
                raise ValueError(f"{path}:{number}: the columns line is `# columns: {', '.join(_WIDE)}` "
                                 f"before the first row: {line!r}")
            columns = True
        if not line.strip() or line.startswith("#"):
            continue
        cells = line.split("\t")
        if len(cells) != (len(_WIDE) if columns else 3):
            raise ValueError(f"{path}:{number}: {len(cells)} columns: {line!r}")
        named = set(cells[0].split(","))
        labels = {cluster: cluster in named for cluster in labelled}
        if columns:
            _, top, market, category, title = cells
            path_ = tuple(part.strip() for part in category.split(">") if part.strip())
            rows.append(Labelled(title, labels, top, top=top, marketplace=market if market != "-" else "",
                                 category_path=path_))
        else:
            rows.append(Labelled(cells[2], labels, cells[1]))
    return rows


_COLUMNS = re.compile(r"#\s*columns\s*:", re.IGNORECASE)
_WIDE = ("clusters", "top", "marketplace", "category", "title")


# A category names one cluster; fashion and food exclude each other and food excludes crafts, but a
# fashion category says nothing about crafts (a rattan bag is both) nor a crafts one about fashion.
_EXCLUDES = {"textile_fashion": ("food_beverage",), "food_beverage": ("textile_fashion", CRAFTS),
             CRAFTS: ("food_beverage",)}


def _catalogue(path: Path) -> list[Labelled]:
    lexicon, rows = default_lexicon(), []
    for line in path.read_bytes().splitlines():
        try:
            event = ListingEvent.model_validate_json(line)
        except ValidationError:
            continue  # not a listing event: nothing to learn from
        found = category_layer(event, lexicon) if event.category_path and event.title else None
        if found is None:
            continue  # no category the map knows: unlabelled
        cluster, element = found
        if cluster == NONE:
            labels = dict.fromkeys(_EXCLUDES, False)
        else:
            labels = {cluster: True, **dict.fromkeys(_EXCLUDES.get(cluster, ()), False)}
        rows.append(Labelled(event.title or "", labels, element))
    return rows
