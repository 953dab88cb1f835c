"""`stream-filter eval` and `stream-filter train`: measuring the cluster classifiers on labelled
listings, and training the learned layer from them (scikit-learn, the `train` extra)."""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import sys
from pathlib import Path

from stream_filter.core.classify.evaluation import ClusterScore


def _table(title: str, columns: dict[str, dict[str, ClusterScore]]) -> list[str]:
    out = [title, f"  {'cluster':<16} " + " ".join(f"{name:>28}" for name in columns)]
    for cluster in sorted({c for scores in columns.values() for c in scores}):
        cells = []
        for scores in columns.values():
            s = scores.get(cluster)
            cell = "" if s is None else f"F1 {s.f1:.3f} (P {s.precision:.3f} R {s.recall:.3f})" if s.tp + s.fn \
                else f"no positives; {s.fp} of {s.fp + s.tn} FP"
            cells.append(f"{cell:>28}")
        out.append(f"  {cluster:<16} " + " ".join(cells))
    return out


def cmd_eval(args: argparse.Namespace) -> int:
    """Per file: precision, recall and F1 per cluster, lexicon alone and with the model; with --kfold
    the model is trained on the other folds of all files' rows, never on the row it decides."""
    from stream_filter.core.classify.evaluation import measure, predictions, scores
    from stream_filter.core.classify.labelled import read_labelled
    from stream_filter.core.classify.model import use_model
    from stream_filter.core.classify.training import cross_validate

    use_model(args.model)
    files = [Path(f) for f in args.files]
    rows_of = {f: read_labelled(f) for f in files}
    rows = [row for f in files for row in rows_of[f]]
    lexicon = predictions(rows, None)
    if args.kfold:
        learned, name = cross_validate(rows, args.kfold), f"lexicon + model, {args.kfold}-fold"
    else:
        learned, name = predictions(rows), f"lexicon + model {args.model}"
    start = 0
    for f in files:
        end = start + len(rows_of[f])
        columns = {"lexicon alone": scores(rows_of[f], lexicon[start:end]),
                   name: scores(rows_of[f], learned[start:end])}
        print("\n".join(_table(f"{f} ({end - start} rows)", columns)))
        for cluster, s in columns[name].items():
            for error in s.errors[:args.errors]:
                print(f"    {cluster}: {error}")
        if f.suffix == ".csv":
            result = measure(f)
            print(f"  domestic locations classified cross-border: {len(result.cross_border_locations)}")
        start = end
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    from stream_filter.core.classify.labelled import read_labelled
    from stream_filter.core.classify.training import choose_rules, train

    rows = [row for f in args.files for row in read_labelled(Path(f))]
    rules = None
    if args.choose_rules:
        chosen = choose_rules(rows, args.choose_rules)
        for cluster, c in chosen.items():
            print(f"{cluster}: alone p >= {c.rule.alone}, lexicon stands at p >= {c.rule.with_lexicon} "
                  f"(found {c.recall:.3f} of its rows; of the others {c.false_rejections:.3f} rejected, "
                  f"{c.reviews:.3f} reviewed; {args.choose_rules}-fold)", file=sys.stderr)
        rules = {cluster: c.rule for cluster, c in chosen.items()}
    model = dataclasses.replace(train(rows, args.version, rules=rules), trained_on=tuple(
        (f, hashlib.sha256(Path(f).read_bytes()).hexdigest()) for f in args.files))
    Path(args.output).write_bytes(model.to_json())
    sizes = ", ".join(f"{name} {len(c.weights)} weights" for name, c in model.clusters.items())
    print(f"wrote {args.output}: model {args.version} from {len(rows)} rows ({sizes})", file=sys.stderr)
    return 0


def cmd_eval_decisions(args: argparse.Namespace) -> int:
    """`eval --decisions`: every row decided as a cross-border seller's listing (`core/classify/decisions.py`);
    rows of the model's own training files by a model trained without their fold."""
    from stream_filter.core.classify.decisions import DAY, closed_clusters, decide_files, figures
    from stream_filter.core.classify.labelled import read_labelled
    from stream_filter.core.classify.model import load_model
    from stream_filter.core.policy.book import PolicyBook

    model, book = load_model(args.model), PolicyBook.load(args.policy)
    parts = [(hashlib.sha256(Path(f).read_bytes()).hexdigest(), read_labelled(Path(f))) for f in args.files]
    rows = [row for _, part in parts for row in part]
    learnt = model is not None and args.kfold and {d for d, _ in parts} & {d for _, d in model.trained_on}
    evaluated = dict(parts)  # a training file that is also evaluated is read once
    training = [(digest, evaluated.get(digest) or read_labelled(Path(f))) for f, digest in model.trained_on] \
        if learnt and model else []
    decided = decide_files(parts, book, model, training, args.kfold, args.by_category, args.with_category)
    result = figures(rows, decided, closed_clusters(book))
    how = "with the category path" if args.with_category else "title only"
    cv = (f", {args.kfold}-fold{' by top-level category' if args.by_category else ''} for rows it was trained on"
          if learnt and args.kfold else "")
    print(f"{len(rows)} rows decided as cross-border listings at USD 150 on {DAY}, policy {args.policy}, {how}; "
          f"model {model.version if model else 'none'}{cv}; {result.not_scored} rows not scored (mixed category)")
    print(f"  {'top-level category':<28} {'non-closed':>10} {'rejected':>9} {'review':>7}   "
          f"{'closed':>6} {'approved':>9} {'review':>7}")
    lines = [("overall", result.overall), *sorted(result.by_top.items())]
    for name, tallies in lines:
        n, c = tallies["non-closed"], tallies["closed"]
        print(f"  {name[:28]:<28} {n.rows:>10} {_pct(n.rejected, n.rows):>9} {_pct(n.review, n.rows):>7}   "
              f"{c.rows:>6} {_pct(c.approved, c.rows):>9} {_pct(c.review, c.rows):>7}")
    for title, errors in (("false rejections", result.false_rejections), ("leaks", result.leaks)):
        for error in errors[:args.errors]:
            print(f"    {title}: {error}")
    return 0


def _pct(part: int, whole: int) -> str:
    return f"{100 * part / whole:.1f}%" if whole else "-"
