"""The learned cluster layer: features, scoring, the file format, training, and how it combines with
the lexicon (it adds, it vetoes lexicon-only hits, it never overrides the category)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from stream_filter.core.classify.clusters import classify_clusters
from stream_filter.core.classify.evaluation import title_event
from stream_filter.core.classify.labelled import Labelled, read_labelled
from stream_filter.core.classify.model import ClusterModel, Model, Rule, features
from stream_filter.core.classify.text import tokens
from stream_filter.core.classify.training import cross_validate, held_out, train
from stream_filter.core.contracts.decision import WEAK_CONFIDENCE
from stream_filter.core.contracts.listing import ListingEvent

CRAFTS = [f"Tas Anyaman Rotan Handmade Motif {i}" for i in range(12)]
OTHERS = [f"Kabel Data USB Type C Fast Charging Tipe {i}" for i in range(12)]


def _rows() -> list[Labelled]:
    return [Labelled(t, {"crafts": True}, "woven") for t in CRAFTS] + \
        [Labelled(t, {"crafts": False}, "other") for t in OTHERS]


def test_features_are_words_pairs_and_prefixes() -> None:
    assert features("Ukiran Kayu Jepara") == ["w:ukiran", "w:kayu", "w:jepara", "b:ukiran_kayu", "b:kayu_jepara",
                                              "p:ukira", "p:jepar"]
    # each distinct word and pair once; a prefix once per distinct word that has it
    assert features("Anyaman Anyaman Anyamanku") == ["w:anyaman", "w:anyamanku", "b:anyaman_anyaman",
                                                     "b:anyaman_anyamanku", "p:anyam", "p:anyam"]


def test_a_trained_model_scores_and_survives_its_file() -> None:
    model = train(_rows(), "t1")
    assert model.probabilities("Keranjang Anyaman Rotan")["crafts"] > 0.5
    assert model.probabilities("Kabel Data USB Charger")["crafts"] < 0.5
    again = Model.from_json(model.to_json())
    assert again == model and again.version == "t1"
    for other in (b"2", b"99"):  # 2: generic words were features alone; this code learns them in pairs
        with pytest.raises(ValueError, match=r"features version .* retrain"):
            Model.from_json(model.to_json().replace(b'"features_version": 3', b'"features_version": ' + other))


def _model(p_bias: float, rule: Rule) -> Model:
    return Model("t", {"crafts": ClusterModel(p_bias, {}, rule)})  # a constant probability


def test_the_model_adds_what_the_lexicon_misses_with_its_evidence() -> None:
    event = title_event(0, "Benda Tanpa Kata Kunci")
    assert classify_clusters(event, model=None) == []
    [match] = classify_clusters(event, model=_model(3.0, Rule(alone=0.6)))
    assert match.cluster == "crafts" and match.evidence[0].startswith("model p=0.95")


def test_the_model_vetoes_a_lexicon_only_hit_but_never_the_category() -> None:
    """A veto of the head noun's cluster is conflicting evidence (reviewed: weak confidence); of a
    cluster only other words named, the cluster goes; of the category's, nothing changes."""
    event = title_event(0, "Patung Kayu Ukir Jepara")
    [named] = classify_clusters(event, model=None)
    assert named.cluster == "crafts" and named.confidence > WEAK_CONFIDENCE
    veto = _model(-5.0, Rule(alone=0.6, with_lexicon=0.2))
    [vetoed] = classify_clusters(event, model=veto)
    assert vetoed.confidence == WEAK_CONFIDENCE and any("model disagrees" in e for e in vetoed.evidence)
    tail = title_event(1, "Cermin Ukir Jepara")  # the head noun (cermin: a mirror) names no cluster
    assert [m.cluster for m in classify_clusters(tail, model=None)] == ["crafts"]
    assert classify_clusters(tail, model=veto) == []
    categorised = ListingEvent.model_validate({**event.model_dump(), "category_path": ["Kerajinan Tangan"]})
    found = {m.cluster for m in classify_clusters(categorised, model=None)}
    assert "crafts" in found and "crafts" in {m.cluster for m in classify_clusters(categorised, model=veto)}


def test_cross_validation_never_scores_a_row_with_a_model_that_saw_it() -> None:
    """Every row's only telling word is its own: a model trained on the other rows cannot know it."""
    rows = [Labelled(f"Barang Zorb{chr(97 + i)}lat", {"crafts": True}, "x") for i in range(6)] + \
        [Labelled(f"Barang Quib{chr(97 + i)}nex", {"crafts": False}, "y") for i in range(6)]
    fitted = train(rows, "all")
    assert all(fitted.probabilities(r.title)["crafts"] > 0.5 for r in rows[:6])  # seen: learnt by heart
    seen = [fitted.probabilities(r.title)["crafts"] for r in rows]
    for model, indices in held_out(rows, 6, 0):
        for i in indices:  # a row the fold's model never saw: its telling word means nothing to it
            p = model.probabilities(rows[i].title)["crafts"]
            assert (p < seen[i] - 0.2) if rows[i].labels["crafts"] else (p > seen[i] + 0.2)
    assert len(cross_validate(rows, k=6)) == len(rows)


def test_labelled_files_and_the_cli(tmp_path: Path) -> None:
    tsv = tmp_path / "set.tsv"
    tsv.write_text("# comment\n" + "".join(f"crafts\twoven\t{t}\n" for t in CRAFTS)
                   + "".join(f"\tother\t{t}\n" for t in OTHERS) + "food_beverage\tfood\tKeripik Pedas\n")
    rows = read_labelled(tsv)
    assert rows[0].labels == {"crafts": True, "food_beverage": False}
    assert rows[-1].labels == {"crafts": False, "food_beverage": True}
    model = tmp_path / "model.json"
    cli = [sys.executable, "-m", "stream_filter"]
    trained = subprocess.run([*cli, "train", str(tsv), "-o", str(model), "--version", "t9", "--choose-rules", "3"],
                             capture_output=True, text=True, check=False)
    assert trained.returncode == 0 and Model.from_json(model.read_bytes()).version == "t9", trained.stderr
    assert "crafts: alone p >= " in trained.stderr and "3-fold" in trained.stderr
    evaluated = subprocess.run([*cli, "eval", str(tsv), "--kfold", "3", "--errors", "2"], capture_output=True,
                               text=True, check=False)
    assert evaluated.returncode == 0 and "lexicon + model, 3-fold" in evaluated.stdout, evaluated.stderr


def test_the_fast_sum_equals_the_sum_over_features() -> None:
    import math

    from stream_filter.core.classify.model import default_model, features

    model = default_model()
    assert model is not None
    for title in ("Tas Anyaman Rotan Handmade Bali Bali", "Kaos Polos Cotton Combed 30s", "Keripik Pedas Level 10",
                  "Anyaman Anyamanku Rotan Rotan Tenun Tenunan"):
        fast = model.probabilities(title)
        for name, cluster in model.clusters.items():
            z = cluster.bias + sum(cluster.weights.get(f, 0.0) for f in features(title))
            assert math.isclose(fast[name], 1 / (1 + math.exp(-z)), rel_tol=1e-9)


def test_the_evidence_is_the_same_in_every_process() -> None:
    """str hashes are salted per process: the worker and the offline command must still agree."""
    code = ("from stream_filter.core.classify.model import default_model; from stream_filter.core.classify.text "
            "import tokens; m = default_model(); t = tokens('Kain Tenun Tangan Songket Palembang Asli'); "
            "print(m.explain(t, 'crafts'), m.probabilities_of(t))")
    runs = {subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                           env={**os.environ, "PYTHONHASHSEED": str(seed)}).stdout for seed in range(4)}
    assert len(runs) == 1, runs


def test_a_catalogue_labels_itself_through_its_category_paths(tmp_path: Path) -> None:
    import orjson

    def line(i: int, title: str, path: list[str] | None) -> bytes:
        event = {"schema_version": 1, "event_id": f"e{i}", "event_type": "listing.created",
                 "occurred_at": "2026-11-01T00:00:00Z", "listing_id": f"l{i}", "title": title}
        return orjson.dumps({**event, "category_path": path} if path else event)

    catalogue = tmp_path / "catalogue.jsonl"
    catalogue.write_bytes(b"\n".join([
        line(0, "Dress Wanita Brokat", ["Fashion Wanita", "Dress"]),
        line(1, "Keripik Pedas", ["Makanan & Minuman", "Camilan"]),
        line(2, "Laptop Bekas Murah", ["Komputer & Laptop", "Laptop"]),
        line(3, "Tanpa Kategori", None), b"not json"]))
    rows = {row.title: row.labels for row in read_labelled(catalogue)}
    assert rows["Dress Wanita Brokat"] == {"textile_fashion": True, "food_beverage": False}  # crafts unknown
    assert rows["Keripik Pedas"] == {"food_beverage": True, "textile_fashion": False, "crafts": False}
    assert rows["Laptop Bekas Murah"] == {"textile_fashion": False, "food_beverage": False, "crafts": False}
    assert "Tanpa Kategori" not in rows


def test_the_rules_compared_as_scores_agree_with_the_probabilities() -> None:
    from stream_filter.core.classify.model import default_model

    model = default_model()
    assert model is not None
    titles = ["Tas Anyaman Rotan Handmade", "Kaos Polos Cotton", "Keripik Pedas Level 10", "Kabel USB", ""]
    for title in titles:
        toks = tokens(title)
        probabilities = model.probabilities_of(toks)
        names, alone, with_lexicon = model.rules
        for name, score, finds, stands in zip(names, model.scores_of(toks), alone, with_lexicon, strict=True):
            rule = model.clusters[name].rule
            assert (score >= finds) == (probabilities[name] >= rule.alone)
            assert (score >= stands) == (probabilities[name] >= rule.with_lexicon)


def test_the_per_word_weights_are_bounded_and_refilled() -> None:
    fitted = train(_rows(), "t1")
    expected = [fitted.scores_of(tokens(t)) for t in CRAFTS + OTHERS]
    again = train(_rows(), "t1")
    again._tables.words.limit = 3
    assert [again.scores_of(tokens(t)) for t in CRAFTS + OTHERS] == expected
    assert len(again._tables.words) <= 3


def test_the_explanation_names_the_heaviest_features_of_the_title() -> None:
    """The table lookups name what sorting every feature of the title by its weight names, on the
    crafts set's titles and a few with repeated words and shared prefixes."""
    from stream_filter.core.classify.model import default_model, features_of

    model = default_model()
    assert model is not None
    titles = [row.title for row in read_labelled(Path(__file__).parents[3] / "data" / "crafts" / "listings.tsv")]
    for title in [*titles, "Anyaman Anyamanku Anyam Rotan Rotan", "Tas Tas Tas", ""]:
        toks = tokens(title)
        for cluster, weights in ((name, c.weights) for name, c in model.clusters.items()):
            ranked = sorted((-abs(w), f, w) for f in dict.fromkeys(features_of(toks, model.generic))
                            if (w := weights.get(f)))
            assert model.explain(toks, cluster) == [("+" if w > 0 else "-") + f[2:] for _, f, w in ranked[:4]]


def test_rules_are_chosen_for_recall_within_the_rejection_and_review_bounds() -> None:
    """A cluster only the model can learn gets a rule that lets the model find it alone (reviewed);
    a cluster only the lexicon knows gets one where the model never disagrees with it."""
    from stream_filter.core.classify.training import MAX_FALSE_REJECTIONS, MAX_REVIEWS, choose_rules

    learnable = [Labelled(f"Zorblat Barang Q{i}", {"crafts": True}, "x") for i in range(10)] + \
        [Labelled(f"Quibnex Barang Q{i}", {"crafts": False}, "y") for i in range(10)]
    [(cluster, chosen)] = choose_rules(learnable).items()
    assert cluster == "crafts" and chosen.rule.alone < 1.0 and chosen.recall == 1.0
    assert chosen.false_rejections <= MAX_FALSE_REJECTIONS and chosen.reviews <= MAX_REVIEWS
    with pytest.raises(ValueError, match="at least 2 folds"):
        choose_rules(learnable, k=1)

    foods = ["Keripik", "Kerupuk", "Sambal", "Kopi", "Beras", "Madu", "Abon", "Dodol", "Jamu", "Rendang"]
    lexical = [Labelled(f"{food} Zx{i}", {"food_beverage": True}, "x") for i, food in enumerate(foods)] + \
        [Labelled(f"Qv{i} Wy{i}", {"food_beverage": False}, "y") for i in range(10)]
    [(cluster, chosen)] = choose_rules(lexical).items()
    assert cluster == "food_beverage" and chosen.recall == 1.0 and chosen.rule.with_lexicon == 0.0
    assert chosen.false_rejections == 0.0 and chosen.reviews == 0.0
    fitted = train(lexical, "all")  # the model alone finds none of them: the lexicon does the work
    assert all(fitted.probabilities(row.title)["food_beverage"] < chosen.rule.alone for row in lexical[10:])


@pytest.mark.parametrize("declaration", ["# labels:", "# labels: crafts,", "# labels: craft", "# Labels: food"])
def test_a_malformed_labels_line_is_refused(tmp_path: Path, declaration: str) -> None:
    tsv = tmp_path / "set.tsv"
    tsv.write_text(f"{declaration}\ncrafts\twoven\tTas Rotan\n")
    with pytest.raises(ValueError, match="labels line"):
        read_labelled(tsv)


def test_a_labels_line_after_the_first_row_is_refused_and_one_before_it_is_read(tmp_path: Path) -> None:
    tsv = tmp_path / "set.tsv"
    tsv.write_text("crafts\twoven\tTas Rotan\n#labels: crafts\n")
    with pytest.raises(ValueError, match="before the first row"):
        read_labelled(tsv)
    tsv.write_text("# LABELS: textile_fashion , crafts\ntextile_fashion\tfashion\tKaos Polos\n")
    assert read_labelled(tsv)[0].labels == {"textile_fashion": True, "crafts": False}
