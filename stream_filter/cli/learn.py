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
                  f"(F1 {c.f1:.3f}, {args.choose_rules}-fold)", file=sys.stderr)
        rules = {cluster: c.rule for cluster, c in chosen.items()}
    model = dataclasses.replace(train(rows, args.version, rules=rules), trained_on=tuple(
        (f, hashlib.sha256(Path(f).read_bytes()).hexdigest()) for f in args.files))
    Path(args.output).write_bytes(model.to_json())
    sizes = ", ".join(f"{name} {len(c.weights)} weights" for name, c in model.clusters.items())
    print(f"wrote {args.output}: model {args.version} from {len(rows)} rows ({sizes})", file=sys.stderr)
    return 0
