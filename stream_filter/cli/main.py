"""`stream-filter`: the worker, offline classification, publishing, evaluation and schemas.

Every command builds its Settings and policy at start (never at import); the commands live in
`offline.py` (no broker), `online.py` (a broker) and `policy.py` (policy tools), this module only
parses arguments.
"""

from __future__ import annotations

import argparse
import sys

from stream_filter.cli import learn, offline, online, policy, review, schema_register
from stream_filter.core.policy.files import PolicyError


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="stream-filter", description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="command", required=True)
    sub.add_parser("worker", help="run the Faust worker (settings from STREAM_FILTER_* env)").set_defaults(
        func=online.cmd_worker)
    c = sub.add_parser("classify", help="decide a JSONL file of ListingEvents offline")
    c.add_argument("input", help="JSONL file, or - for stdin")
    c.add_argument("-o", "--output", help="write DecisionRecords here (default stdout)")
    c.add_argument("--policy", default="default", help="policy packs and/or YAML files, comma-separated")
    c.add_argument("--clock", choices=["event", "processing"], default="event",
                   help="policy in force at the event's occurred_at (default) or now")
    c.set_defaults(func=offline.cmd_classify)
    b = sub.add_parser("backtest", help="summarise a policy's decisions on a file, or compare two policies "
                       "and/or two classifiers")
    b.add_argument("input", help="JSONL file of ListingEvents, or - for stdin")
    b.add_argument("--policy", required=True, help="policy packs and/or files (A)")
    b.add_argument("--against", help="policy packs and/or files to compare with (B)")
    b.add_argument("--model", default="shipped", help="A's cluster model: shipped, none, or a model file")
    b.add_argument("--lexicon", help="A's directory of lexicon and taxonomy files (default: the packaged ones)")
    b.add_argument("--against-model", help="B's cluster model (default: A's)")
    b.add_argument("--against-lexicon", help="B's lexicon and taxonomy files (default: A's)")
    b.add_argument("--clock", choices=["event", "processing"], default="event")
    b.add_argument("--report", help="write a report: .json (summary and changes) or .csv (changes)")
    b.add_argument("--show", type=int, default=20, help="print up to N changed listings")
    b.set_defaults(func=offline.cmd_backtest)
    pr = sub.add_parser("produce", help="publish a JSONL file to the input topic")
    pr.add_argument("file")
    pr.add_argument("--topic", help="override the input topic")
    pr.set_defaults(func=online.cmd_produce)
    sub.add_parser("demo", help="make run: local broker, worker, sample data, live counts").set_defaults(
        func=online.cmd_demo)
    sub.add_parser("topics", help="create missing input and output topics").set_defaults(func=online.cmd_topics)
    e = sub.add_parser("eval", help="measure the cluster classifiers on labelled listings (PRDECT-ID CSV, crafts TSV)")
    e.add_argument("files", nargs="*", default=["tests/data/prdect-id/products.csv"])
    e.add_argument("--kfold", type=int, default=0, help="cross-validate the model: train on the other K-1 folds")
    e.add_argument("--model", default="shipped", help="the model to measure without --kfold (shipped, none, a file)")
    e.add_argument("--errors", type=int, default=0, help="show up to N misclassified rows per cluster")
    e.add_argument("--decisions", action="store_true",
                   help="decide every row as a cross-border listing: false rejections, reviews and leaks")
    e.add_argument("--with-category", action="store_true", help="with --decisions: give the rows' category paths")
    e.add_argument("--policy", default="default", help="with --decisions: the policy packs and/or files")
    e.add_argument("--by-category", action="store_true",
                   help="with --decisions --kfold K: whole top-level categories per fold (each held out in turn)")
    e.set_defaults(func=lambda args: learn.cmd_eval_decisions(args) if args.decisions else learn.cmd_eval(args))
    t = sub.add_parser("train", help="train the cluster model on labelled listings (needs the train extra)")
    t.add_argument("files", nargs="+", help="PRDECT-ID-style CSV and/or crafts-style TSV files")
    t.add_argument("-o", "--output", required=True, help="the model file (JSON)")
    t.add_argument("--version", required=True, help="the model's version, written into the file")
    t.add_argument("--choose-rules", type=int, default=0, metavar="K",
                   help="fit each cluster's model/lexicon rule to these rows by K-fold cross-validation")
    t.set_defaults(func=learn.cmd_train)
    s = sub.add_parser("schemas", help="write (or --check) the JSON Schemas in schemas/")
    s.add_argument("--dir", default="schemas")
    s.add_argument("--check", action="store_true")
    s.set_defaults(func=offline.cmd_schemas)
    s_sub = s.add_subparsers(dest="schemas_command")
    reg = s_sub.add_parser("register", help="register the decision record's schema under each output topic's "
                           "subject in the schema registry (or --check that it is)")
    reg.add_argument("--check", action="store_true", dest="register_check",
                     help="change nothing; exit 1 unless every subject is in place")
    reg.add_argument("--compatibility", choices=schema_register.MODES, default="FORWARD_TRANSITIVE",
                     help="the subjects' compatibility mode: every older consumer keeps reading (default)")
    reg.add_argument("--url", help="the registry (default: STREAM_FILTER_SCHEMA_REGISTRY_URL)")
    reg.set_defaults(func=schema_register.cmd_register)
    cat = sub.add_parser("catalogue", help="build the catalogue from the output topics as a consumer would")
    cat.add_argument("--expect", help="JSONL file of the events published: report listings that differ from "
                     "its offline decisions")
    cat.add_argument("--policy", default="default", help="policy packs and/or files the file is decided with")
    cat.add_argument("--clock", choices=["event", "processing"], default="event")
    cat.add_argument("--show", type=int, default=20, help="print up to N listings that differ")
    cat.set_defaults(func=online.cmd_catalogue)
    rev = sub.add_parser("review", help="the review queue: list it, approve or reject listings in it")
    rev_sub = rev.add_subparsers(dest="review_command", required=True)
    pend = rev_sub.add_parser("pending", help="listings in review, oldest first (from the review topic)")
    pend.add_argument("--show", type=int, default=50)
    pend.set_defaults(func=review.cmd_pending)
    for verdict in ("approve", "reject"):
        ver = rev_sub.add_parser(verdict, help=f"publish a verdict: {verdict} a listing in review")
        ver.add_argument("listing_id")
        ver.add_argument("--note", help="what the reviewer found (goes into the decision)")
        ver.add_argument("--reason", default="MANUAL_REVIEW", help="the reviewer's reason code")
        ver.add_argument("--reviewer", help="reviewer id (default: the login name)")
        ver.add_argument("--expires", help="ISO time after which the listing is decided again as usual")
        ver.add_argument("--decision", help="the decision answered (default: the listing's on the review topic)")
        ver.add_argument("--key", help="the reviewer's private key (review keygen): sign the verdict, as workers "
                         "with STREAM_FILTER_REVIEWER_KEYS require")
        ver.set_defaults(func=review.cmd_verdict, verdict={"approve": "approved", "reject": "rejected"}[verdict])
    rkey = rev_sub.add_parser("keygen", help="make a reviewer's Ed25519 key pair for signing verdicts")
    rkey.add_argument("dir", help="folder for <reviewer>.key (kept by the reviewer) and <reviewer>.pem (the workers')")
    rkey.add_argument("--reviewer", required=True, help="the reviewer id the verdicts will name")
    rkey.set_defaults(func=review.cmd_keygen)
    exp = sub.add_parser("explain", allow_abbrev=False, help="why a listing is where it is: ask a worker's lookup")
    exp.add_argument("listing_id")
    exp.add_argument("--url", help="a worker's web address (default: this machine's worker)")
    exp.add_argument("--token-file", help="a file holding the API token (default: STREAM_FILTER_API_TOKEN_FILE or "
                     "STREAM_FILTER_API_TOKEN; never on the command line, where other users see it)")
    exp.add_argument("--json", action="store_true", help="print the lookup's JSON")
    exp.set_defaults(func=review.cmd_explain)
    pol = sub.add_parser("policy", help="policy tools")
    pol_sub = pol.add_subparsers(dest="policy_command", required=True)
    v = pol_sub.add_parser("validate", help="validate a policy file or pack")
    v.add_argument("file")
    v.set_defaults(func=offline.cmd_policy)
    pub = pol_sub.add_parser("publish", help="check and publish a policy version to the policy topic (or --shadow)")
    pub.add_argument("file", nargs="?", default="", help="policy pack name or YAML file")
    pub.add_argument("--shadow", action="store_true", help="evaluate beside the live policy; do not enforce")
    pub.add_argument("--clear", action="store_true", help="publish an empty shadow (stop shadow evaluation)")
    pub.add_argument("--dry-run", action="store_true", help="print the impact on the active listings; publish nothing")
    pub.add_argument("--listings", help="also print the impact on this JSONL file of listing events")
    pub.add_argument("--show", type=int, default=10, help="listings named in the impact (default 10)")
    pub.add_argument("--signed", help="publish this record made by `policy sign` (FILE is not read)")
    _signing(pub)
    pub.set_defaults(func=policy.cmd_publish)
    ret = pol_sub.add_parser("retire", help="retire a live version (ID@VERSION) from the policy topic")
    ret.add_argument("ref", help="ID@VERSION")
    _signing(ret)
    ret.set_defaults(func=policy.cmd_retire)
    res = pol_sub.add_parser("resign", help="publish the topic's versions (and shadow) again, signed for this "
                             "deployment and topic: once, for records signed in the first format")
    res.add_argument("--key", required=True, help="the private key (policy-signing.key)")
    res.set_defaults(func=policy.cmd_resign)
    pro = pol_sub.add_parser("promote", help="make the shadow policy a live version")
    _signing(pro)
    pro.set_defaults(func=policy.cmd_promote)
    key = pol_sub.add_parser("keygen", help="make an Ed25519 key pair for signing policies")
    key.add_argument("dir", help="folder for policy-signing.key and policy-signing.pub")
    key.set_defaults(func=policy.cmd_keygen)
    sig = pol_sub.add_parser("sign", help="write a signed live record of a policy file (for publish --signed)")
    sig.add_argument("file")
    sig.add_argument("--key", required=True, help="the private key (policy-signing.key)")
    sig.add_argument("-o", "--output", required=True, help="the signed record (JSON)")
    sig.set_defaults(func=policy.cmd_sign)
    return p


def _signing(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--key", help="sign with this private key (workers with a verify key need it)")


def main(argv: list[str] | None = None) -> int:
    from aiokafka.errors import KafkaError

    args = parser().parse_args(argv)
    try:
        return int(args.func(args))
    except PolicyError as exc:
        print(f"policy error: {exc}", file=sys.stderr)
        return 2
    except KafkaError as exc:  # unreachable broker, wrong credentials, TLS failure: one clear line, no traceback
        print(f"kafka error: {exc} (check the bootstrap servers, security protocol and credentials)",
              file=sys.stderr)
        return 3


if __name__ == "__main__":
    sys.exit(main())
