"""Each cluster layer, negative context terms, disagreement, and the lexicon's data format."""

from __future__ import annotations

import pytest

from stream_filter.core.classify.clusters import classify_clusters, split_variant
from stream_filter.core.classify.lexicon import parse_lexicon
from stream_filter.core.contracts.decision import WEAK_CONFIDENCE
from stream_filter.core.contracts.listing import ListingEvent
from tests.factories import event


def _clusters(**fields: object) -> dict[str, float]:
    return {m.cluster: m.confidence for m in classify_clusters(event(**fields))}


@pytest.mark.parametrize(
    ("title", "cluster"),
    [("kaos polos cotton combed 30s", "textile_fashion"), ("Kemeja Batik Pria Lengan Panjang", "textile_fashion"),
     ("Gamis Syari Jumbo", "textile_fashion"), ("keripik pedas level 10", "food_beverage"),
     ("Kopi Gayo Arabika 250gr", "food_beverage"), ("Dark Chocolate Bar 100g", "food_beverage"),
     ("tas anyaman rotan", "crafts"), ("Patung Kayu Ukiran Jepara", "crafts"),
     ("Men's Slim Fit Oxford Shirt", "textile_fashion")],
)
def test_lexicon_finds_cluster(title: str, cluster: str) -> None:
    assert cluster in _clusters(title=title)


@pytest.mark.parametrize(
    "title",
    ["Mesin Kopi Espresso Otomatis", "Garpu Makan Stainless Set", "Tempat Makan Anak Karakter",
     "Pompa Galon Air Minum Elektrik", "Motif Batik Mousepad Gaming XL", "Casing HP Motif Kopi",
     "Sarung Jok Motor Kulit", "Mouse Wireless Logitech"],
)
def test_negative_context_terms_block_false_matches(title: str) -> None:
    found = _clusters(title=title)
    assert "food_beverage" not in found and "textile_fashion" not in found, found


def test_hs_code_layer_wins_and_is_explained() -> None:
    [match] = classify_clusters(event(title="Item 123", hs_code="6109.10.00"))
    assert match.cluster == "textile_fashion" and match.confidence >= 0.95
    assert "hs_code 61" in match.evidence[0]


def test_hs_exclusion_inside_a_food_chapter() -> None:
    assert _clusters(title="Item", hs_code="0601.10") == {}  # chapter 06: live plants, not food


def test_crafts_heading() -> None:
    assert "crafts" in _clusters(title="Item", hs_code="4602.12")


def test_category_layer() -> None:
    found = classify_clusters(event(title="Produk 01", category_path=["Makanan & Minuman", "Camilan"]))
    assert [m.cluster for m in found] == ["food_beverage"]
    assert "category" in found[0].evidence[0]


def test_disagreement_between_layers_lowers_confidence() -> None:
    alone = _clusters(title="kaos")["textile_fashion"]
    matches = classify_clusters(event(title="kaos", category_path=["Komputer", "Aksesoris Komputer"]))
    assert matches[0].confidence < alone
    assert any("disagreement" in e for e in matches[0].evidence)


def test_agreement_raises_confidence() -> None:
    agree = _clusters(title="Kaos Polos", category_path=["Fashion Pria", "Kaos"])["textile_fashion"]
    assert agree > _clusters(title="Kaos Polos")["textile_fashion"]


def test_multi_label() -> None:
    found = _clusters(title="Kaos", hs_code="0901.21")
    assert set(found) == {"food_beverage", "textile_fashion"}


def test_variant_suffix_is_split_off() -> None:
    assert split_variant("Sepatu Sneakers Wanita - Candy, 38") == ("Sepatu Sneakers Wanita", "Candy, 38")
    assert "food_beverage" not in _clusters(title="Sepatu Sneakers Wanita - Candy Coklat, 38")


def test_missing_text_fields_give_no_cluster() -> None:
    assert _clusters(title="-") == {}


def test_lexicon_data_is_extendable_without_code() -> None:
    lex = parse_lexicon("durian montong\tfood_beverage\t1.5\n", "", "")
    matches = classify_clusters(event(title="Durian Montong Utuh"), lex)
    assert [m.cluster for m in matches] == ["food_beverage"]


def _listing(marketplace: str, path: list[str], title: str = "Barang Serbaguna") -> ListingEvent:
    return ListingEvent.model_validate({"schema_version": 1, "event_id": "e", "event_type": "listing.created",
                                        "occurred_at": "2026-12-01T00:00:00Z", "listing_id": "l", "title": title,
                                        "marketplace": marketplace, "category_path": path})


def test_a_marketplace_tree_decides_by_path_not_by_words_in_its_names() -> None:
    from stream_filter.core.classify.clusters import category_layer
    from stream_filter.core.classify.lexicon import NONE, default_lexicon

    lex = default_lexicon()
    # "Pakaian" in the name, laundry care in fact: the path entry says outside, the words never decide
    assert category_layer(_listing("tokopedia", ["Rumah Tangga", "Laundry", "Perawatan Pakaian"]), lex)[0] == NONE
    assert category_layer(_listing("tokopedia", ["fashion-pria", "atasan-pria"]), lex)[0] == "textile_fashion"
    assert category_layer(_listing("shopee", ["Makanan & Minuman", "Makanan Ringan"]), lex)[0] == "food_beverage"
    # level 2 before level 1: hair accessories are fashion inside beauty
    assert category_layer(_listing("tokopedia", ["Kecantikan", "Aksesoris Rambut"]), lex)[0] == "textile_fashion"
    # a mixed or unknown path says nothing, and no word of it is read
    assert category_layer(_listing("tokopedia", ["Rumah Tangga", "Dekorasi"]), lex) is None
    assert category_layer(_listing("lazada", ["Pakaian Kucing Lucu"]), lex) is None
    # a marketplace without a tree: the words of its names, as before
    assert category_layer(_listing("blibli", ["Fashion Pria", "Kemeja"]), lex)[0] == "textile_fashion"


def test_an_outside_category_sends_a_named_garment_to_review_and_drops_weak_words() -> None:
    garment = classify_clusters(_listing("tokopedia", ["Elektronik", "Telepon"], "Kemeja Batik Pria Lengan Panjang"),
                                model=None)
    assert [(m.cluster, m.confidence) for m in garment] == [("textile_fashion", 0.45)]
    weak = classify_clusters(_listing("tokopedia", ["Elektronik", "Telepon"], "Telepon Rumah Motif Batik"), model=None)
    assert weak == []


def test_a_making_phrase_names_crafts_wherever_it_stands_unless_the_head_noun_is_against_it() -> None:
    """`names` (4th lexicon column): how the goods were made names the cluster as a head noun does."""
    data = ("keranjang\tfood_beverage\t-1.0\nanyam tangan\tcrafts\t1.2\tnames\nrotan\tcrafts\t1.2\n"
            "mata pahat\t*\t-2.5\nsabun\t*\t-2.5\n")
    lex = parse_lexicon(data, "", "")
    named = classify_clusters(event(title="Keranjang Serbaguna Anyam Tangan"), lex, model=None)
    assert [(m.cluster, m.confidence > WEAK_CONFIDENCE) for m in named] == [("crafts", True)]
    plain = parse_lexicon(data.replace("\tnames", ""), "", "")
    weak = classify_clusters(event(title="Keranjang Serbaguna Anyam Tangan"), plain, model=None)
    assert [(m.cluster, m.confidence) for m in weak] == [("crafts", WEAK_CONFIDENCE)]  # reviewed, never rejected
    assert classify_clusters(event(title="Mata Pahat Anyam Tangan Rotan"), lex, model=None) == []
