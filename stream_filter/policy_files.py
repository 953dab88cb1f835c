"""Loading policies: shipped packs or YAML files, `include` merging, errors with line numbers,
and the `PolicyBook` that picks the versions in force on a given day.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from stream_filter.decision import PolicyRef
from stream_filter.policy import Exemptions, Policy


class PolicyError(ValueError):
    """A policy that cannot be used: file, line, field path and reason."""


def _line_of(root: yaml.Node | None, loc: tuple[Any, ...]) -> int | None:
    """1-based line of the YAML node at `loc` (the deepest one that exists)."""
    node, line = root, (root.start_mark.line + 1 if root is not None else None)
    for key in loc:
        if isinstance(node, yaml.MappingNode):
            node = next((v for k, v in node.value if k.value == key), None)
        elif isinstance(node, yaml.SequenceNode) and isinstance(key, int) and key < len(node.value):
            node = node.value[key]
        else:
            break
        if node is None:
            break
        line = node.start_mark.line + 1
    return line


def parse_policy(text: str, source: str = "<policy>") -> Policy:
    try:
        data = yaml.safe_load(text)
        root = yaml.compose(text)
    except yaml.YAMLError as exc:
        raise PolicyError(f"{source}: not valid YAML: {exc}") from exc
    try:
        return Policy.model_validate(data)
    except ValidationError as exc:
        details = []
        for err in exc.errors(include_url=False):
            path = ".".join(map(str, err["loc"])) or "<root>"
            line = _line_of(root, tuple(err["loc"]))
            details.append(f"line {line}: {path}: {err['msg']}" if line else f"{path}: {err['msg']}")
        raise PolicyError(f"{source}: " + "; ".join(details)) from exc


def packs() -> list[str]:
    folder = resources.files("stream_filter") / "policies"
    return sorted(p.name.removesuffix(".yaml") for p in folder.iterdir() if p.name.endswith(".yaml"))


def _read(name_or_path: str) -> tuple[str, str]:
    path = Path(name_or_path)
    if path.suffix in (".yaml", ".yml", ".json") or path.exists():
        if not path.is_file():
            raise PolicyError(f"{name_or_path}: no such file")
        return path.read_text(encoding="utf-8"), str(path)
    pack = resources.files("stream_filter") / "policies" / f"{name_or_path}.yaml"
    if not pack.is_file():
        raise PolicyError(f"unknown policy pack '{name_or_path}' (packs: {', '.join(packs())})")
    return pack.read_text(encoding="utf-8"), f"pack {name_or_path}"


def _merge(base: Policy, other: Policy) -> Policy:
    ex, oex = base.exemptions, other.exemptions
    exemptions = Exemptions(
        hs_positive_list=[*ex.hs_positive_list, *oex.hs_positive_list],
        positive_list_reason=ex.positive_list_reason if ex.hs_positive_list else oex.positive_list_reason,
        sellers=[*ex.sellers, *oex.sellers], brands=[*ex.brands, *oex.brands],
        seller_reason=ex.seller_reason, brand_reason=ex.brand_reason,
        category_overrides=[*ex.category_overrides, *oex.category_overrides])
    return base.model_copy(update={
        "blocked_clusters": [*base.blocked_clusters, *other.blocked_clusters],
        "blocked_categories": [*base.blocked_categories, *other.blocked_categories],
        "min_price": base.min_price or other.min_price,
        "fx_rates": [*base.fx_rates, *other.fx_rates],
        "exemptions": exemptions,
        "sources": [*base.sources, *other.sources],
    })


def load_policy(name_or_path: str, _seen: frozenset[str] = frozenset()) -> Policy:
    """A shipped pack by name (`akar-2021`, `default`) or a YAML file by path, includes merged."""
    if name_or_path in _seen:
        raise PolicyError(f"include cycle through '{name_or_path}'")
    text, source = _read(name_or_path)
    return policy_from_text(text, source, _seen | {name_or_path})


def read_policy_text(name_or_path: str) -> str:
    """The YAML text of a pack or file (what `policy publish` puts on the policy topic)."""
    return _read(name_or_path)[0]


def policy_from_text(text: str, source: str = "<policy>", _seen: frozenset[str] = frozenset()) -> Policy:
    """Parse YAML text and merge its includes (shipped packs or files readable here)."""
    policy = parse_policy(text, source)
    for included in policy.include:
        policy = _merge(policy, load_policy(included, _seen))
    return policy


class PolicyBook:
    """Every loaded version; `active(day)` gives, per policy id, the newest version in force."""

    def __init__(self, policies: Iterable[Policy]) -> None:
        self.policies = sorted(policies, key=lambda p: (p.id, p.effective_from))
        if not self.policies:
            raise PolicyError("no policy loaded")

    @classmethod
    def load(cls, spec: str) -> PolicyBook:
        """`spec`: comma-separated pack names and/or file paths (each file one version)."""
        return cls(load_policy(part.strip()) for part in spec.split(",") if part.strip())

    def active(self, day: date) -> list[Policy]:
        current: dict[str, Policy] = {}
        for policy in self.policies:
            if policy.in_force(day):
                current[policy.id] = policy  # sorted by effective_from: the newest wins
        return list(current.values())

    def describe(self) -> list[PolicyRef]:
        return [p.ref for p in self.policies]
