"""Decisions as a person reads them: one home for the text `explain` and `make run` print.

Why not the JSON: seller support and newcomers ask "why is this listing here?"; the answer is the
outcome, each reason in words with its basis, the evidence behind the origin and the cluster, and
the policy version that decided it.
"""

from __future__ import annotations

from typing import Any


def printable(text: str) -> str:
    """Text from sellers and reviewers as a terminal may show it: every character that is not
    printable (escape sequences, carriage returns, bidi controls) written as its escape instead."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in text)


def clean(value: Any) -> Any:
    """A decoded JSON value with every string made `printable`."""
    if isinstance(value, str):
        return printable(value)
    if isinstance(value, dict):
        return {printable(str(k)): clean(v) for k, v in value.items()}
    if isinstance(value, list):
        return [clean(v) for v in value]
    return value


def decision_lines(d: dict[str, Any], indent: str = "") -> list[str]:
    """A decision record (or a lookup's decision): outcome, reasons, origin, clusters, policy."""
    d = clean(d)
    policy = d["policy"]
    lines = [f"{d['outcome'].upper()} (decision {d['decision_id']}, {d['decided_at']}, "
             f"policy {policy['id']}@{policy['version']})", "reasons:"]
    lines += [f"  {r['code']}: {r['message']}\n{indent}    basis: {r['legal_basis']}" for r in d["reasons"]]
    origin = d["origin"]
    lines.append(f"origin: {origin['class']} ({origin['confidence']:.2f}): {'; '.join(origin['evidence'])}")
    lines += [f"cluster: {c['cluster']} ({c['confidence']:.2f}): {'; '.join(c['evidence'])}" for c in d["clusters"]]
    return [indent + line for line in lines]


def example(record: dict[str, Any], indent: str = "  ") -> str:
    """A decision record from an output topic, with the listing it decided (title, seller, ship-from)."""
    record = clean(record)
    listing = record.get("listing") or {}
    seller = listing.get("seller") or {}
    where = (listing.get("ship_from") or {}).get("country") or seller.get("country") or "not given"
    head = (f"{record['listing_id']}: \"{listing.get('title') or ''}\" on {listing.get('marketplace') or '?'} "
            f"(seller {seller.get('id') or '?'}, ships from {where})")
    return "\n".join([head, *decision_lines(record, indent)])
