"""The decision goals on the project's own labelled sets (the shipped model's training files), every
row decided as a cross-border seller's listing by a model that never saw it: five random folds, and
whole top-level categories held out in turn (ten folds of categories). A minimal-pairs check: generic
words (gender and age, sizes, packaging, marketing, pattern) on goods outside the closed clusters
reject nothing."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from stream_filter.core.classify.decisions import (
    CLOSED,
    NON_CLOSED,
    Figures,
    closed_clusters,
    decide_files,
    decide_rows,
    figures,
)
from stream_filter.core.classify.labelled import Labelled, read_labelled
from stream_filter.core.classify.lexicon import default_lexicon
from stream_filter.core.classify.model import load_model
from stream_filter.core.contracts.decision import Outcome
from stream_filter.core.policy.book import PolicyBook

ROOT = Path(__file__).resolve().parents[4]
BOOK = PolicyBook.load("default")


def decided(k: int, by_category: bool, with_category: bool = False) -> Figures:
    model = load_model()
    assert model is not None and len(model.trained_on) >= 4
    parts = [(digest, read_labelled(ROOT / path)) for path, digest in model.trained_on]
    for (path, digest), _ in zip(model.trained_on, parts, strict=True):
        assert hashlib.sha256((ROOT / path).read_bytes()).hexdigest() == digest
    rows = [row for _, part in parts for row in part]
    return figures(rows, decide_files(parts, BOOK, model, parts, k, by_category, with_category),
                   closed_clusters(BOOK))


@pytest.fixture(scope="module")
def five_fold() -> Figures:
    return decided(5, by_category=False)


@pytest.fixture(scope="module")
def by_category() -> Figures:
    return decided(10, by_category=True)


def test_with_the_category_path_rejections_halve() -> None:
    """The marketplace's path (category_paths.tsv) as well as the title, five folds."""
    rejected, reviewed, leaked, closed_reviewed = rates(decided(5, by_category=False, with_category=True))
    assert rejected <= 0.005 and reviewed <= 0.10
    assert leaked <= 0.025 and closed_reviewed <= 0.15


def rates(result: Figures) -> tuple[float, float, float, float]:
    open_, closed = result.overall[NON_CLOSED], result.overall[CLOSED]
    print(f"\nnon-closed {open_.rows}: rejected {open_.rate(Outcome.REJECTED):.3f}, review "
          f"{open_.rate(Outcome.REVIEW):.3f}; closed {closed.rows}: approved {closed.rate(Outcome.APPROVED):.3f}, "
          f"review {closed.rate(Outcome.REVIEW):.3f}")
    return (open_.rate(Outcome.REJECTED), open_.rate(Outcome.REVIEW), closed.rate(Outcome.APPROVED),
            closed.rate(Outcome.REVIEW))


def test_five_fold_decisions_meet_the_goals(five_fold: Figures) -> None:
    rejected, reviewed, leaked, closed_reviewed = rates(five_fold)
    assert five_fold.overall[NON_CLOSED].rows >= 2000 and five_fold.overall[CLOSED].rows >= 900
    assert rejected <= 0.01 and reviewed <= 0.10
    assert leaked <= 0.02 and closed_reviewed <= 0.15


def test_categories_held_out_in_turn(by_category: Figures) -> None:
    """Each top-level category decided by a model that never saw it (2026-12-08: 0.3%, 6.8%, 1.9%,
    13.6%)."""
    rejected, reviewed, leaked, closed_reviewed = rates(by_category)
    assert rejected <= 0.01 and reviewed <= 0.10
    assert leaked <= 0.02 and closed_reviewed <= 0.15


# Head nouns of goods outside the closed clusters, across categories (not taken from the sets' titles)
HEADS = ["Lipstik", "Serum Wajah", "Parfum", "Sabun Mandi", "Shampo", "Deodoran", "Masker Wajah", "Masker Medis",
         "Termometer", "Tensimeter", "Powerbank", "Charger", "Smartwatch", "Earphone", "Speaker", "Rice Cooker",
         "Blender", "Kipas Angin", "Wajan", "Panci", "Toples", "Botol Minum", "Sprei", "Bantal", "Karpet",
         "Popok", "Botol Susu", "Stroller", "Puzzle", "Boneka", "Matras Yoga", "Raket", "Helm", "Cover Mobil",
         "Bor Listrik", "Obeng", "Pulpen", "Buku Tulis", "Novel", "Gitar", "Pasir Kucing", "Balon", "Emas Batangan",
         "Logam Mulia", "Deterjen", "Jemuran", "Hanger", "Lunch Box", "Sunscreen", "Body Lotion"]


def test_generic_words_on_other_goods_reject_nothing() -> None:
    lexicon = default_lexicon()
    classes: dict[str, list[str]] = {}
    for line in (ROOT / "stream_filter/core/classify/data/word_classes.tsv").read_text().splitlines():
        if line and not line.startswith("#"):
            word, kind = line.split("\t")
            classes.setdefault(kind, []).append(word)
    assert set(classes) == {"gender_age", "size_unit", "packaging", "marketing", "pattern"}
    assert len(HEADS) >= 30 and set(lexicon.generic) == {w for words in classes.values() for w in words}
    rows = [Labelled(f"{head} {word} {other}", {}, kind) for kind, words in classes.items()
            for head in HEADS for word, other in zip(words, [*words[1:], words[0]], strict=True)]
    outcomes = decide_rows(rows, BOOK, load_model())
    rejected = [row.title for row, d in zip(rows, outcomes, strict=True) if d.outcome is Outcome.REJECTED]
    assert len(rows) > 5000 and rejected == []
