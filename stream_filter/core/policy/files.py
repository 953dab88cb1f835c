"""Loading policies: shipped packs or YAML files, `include` merging, errors with line numbers."""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from stream_filter.core.policy.model import Exemptions, Policy


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
    folder = resources.files("stream_filter.core.policy") / "packs"
    return sorted(p.name.removesuffix(".yaml") for p in folder.iterdir() if p.name.endswith(".yaml"))


def _read(name_or_path: str) -> tuple[str, str]:
    path = Path(name_or_path)
    if path.suffix in (".yaml", ".yml", ".json") or path.exists():
        if not path.is_file():
            raise PolicyError(f"{name_or_path}: no such file")
        return path.read_text(encoding="utf-8"), str(path)
    pack = resources.files("stream_filter.core.policy") / "packs" / f"{name_or_path}.yaml"
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
