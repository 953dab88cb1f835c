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


class IncludeCycle(PolicyError):
    """A policy that includes itself, directly or through others."""


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
    except yaml.YAMLError as exc:  # its text quotes the offending line: say where and what, not the content
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}: " if mark is not None else ""
        raise PolicyError(f"{source}: not valid YAML: {where}{getattr(exc, 'problem', None) or 'syntax error'}") \
            from None
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
    """A file the operator named (command line, STREAM_FILTER_POLICY), or a shipped pack by name."""
    path = Path(name_or_path)
    if path.suffix in (".yaml", ".yml", ".json") or path.exists():
        if not path.is_file():
            raise PolicyError(f"{name_or_path}: no such file")
        return path.read_text(encoding="utf-8"), str(path)
    return _read_pack(name_or_path)


def _read_pack(name: str) -> tuple[str, str]:
    pack = resources.files("stream_filter.core.policy") / "packs" / f"{name}.yaml"
    if "/" in name or "\\" in name or not pack.is_file():
        raise PolicyError(f"unknown policy pack '{name}' (packs: {', '.join(packs())})")
    return pack.read_text(encoding="utf-8"), f"pack {name}"


def _read_include(name: str, beside: Path | None) -> tuple[str, str, Path | None]:
    """An include: a shipped pack, or a file in the including file's folder (or below it). A policy
    read from the policy topic has no folder: packs only. Nothing else is read, so a policy cannot
    make a worker open an arbitrary local file."""
    if name in packs():
        return (*_read_pack(name), None)
    path = Path(name)
    if beside is None or path.is_absolute() or ".." in path.parts:
        where = "a shipped pack" if beside is None else "a shipped pack or a file beside the including file"
        raise PolicyError(f"include '{name}': not {where}")
    target = (beside / path).resolve()
    if not target.is_relative_to(beside.resolve()) or not target.is_file():
        raise PolicyError(f"include '{name}': no such file beside the including file")
    return target.read_text(encoding="utf-8"), str(target), target.parent


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


def load_policy(name_or_path: str) -> Policy:
    """A shipped pack by name (`akar-2021`, `default`) or a YAML file by path, includes merged."""
    text, source = _read(name_or_path)
    path = Path(name_or_path)
    if path.is_file():
        return policy_from_text(text, source, path.parent, frozenset({str(path.resolve())}))
    return policy_from_text(text, source, None, frozenset({source}))


def read_policy_text(name_or_path: str) -> str:
    """The YAML text of a pack or file as written (includes not merged)."""
    return _read(name_or_path)[0]


def inlined_policy_text(name_or_path: str) -> str:
    """What `policy publish` puts on the policy topic: the policy with its includes merged into it, as
    YAML with no `include` left, so a later release that rewords a shipped pack cannot change (or, by
    its digest, refuse) a version already published. Checked to read back as the same rules."""
    merged = load_policy(name_or_path)
    if not merged.include:
        return read_policy_text(name_or_path)
    flat = merged.model_copy(update={"include": []})
    body = yaml.safe_dump(flat.model_dump(mode="json", exclude={"include"}), sort_keys=False, allow_unicode=True)
    text = f"# {name_or_path} with its includes ({', '.join(merged.include)}) merged in by `policy publish`\n{body}"
    if policy_from_text(text, "inlined") != flat:
        raise PolicyError(f"{name_or_path}: its includes could not be merged into one text that reads back the same")
    return text


def policy_from_text(text: str, source: str = "<policy>", beside: Path | None = None,
                     _seen: frozenset[str] = frozenset()) -> Policy:
    """Parse YAML text and merge its includes: shipped packs, and files in `beside` (the including
    file's folder; None for text from the policy topic). An included file's own errors are not
    repeated here (they would echo its content): validate it on its own."""
    policy = parse_policy(text, source)
    for included in policy.include:
        child_text, child_source, child_dir = _read_include(included, beside)
        if child_source in _seen:
            raise IncludeCycle(f"{source}: include cycle through '{included}'")
        try:
            child = policy_from_text(child_text, child_source, child_dir, _seen | {child_source})
        except IncludeCycle:
            raise
        except PolicyError:
            raise PolicyError(f"{source}: include '{included}' is not a valid policy "
                              f"(check it with `stream-filter policy validate`)") from None
        policy = _merge(policy, child)
    return policy
