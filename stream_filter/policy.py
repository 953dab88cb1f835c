"""Policy as data: which origins are blocked from which clusters, and when to ask a human.

Why data: marketplaces change the rules (AKAR 2021, Shopee's 13 categories, Permendag 31/2023) and
operators must change them without code. A policy file is YAML validated by this model; the worker
refuses to start with an invalid one. `evaluate` is pure: same listing, same classification, same
policy, same outcome, which is what makes replays harmless and backtests honest.
"""

from __future__ import annotations

from datetime import date
from importlib import resources
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from stream_filter.decision import CROSS_BORDER_CLASSES, ClusterMatch, Origin, OriginClass, Outcome, PolicyRef, Reason


class ReasonText(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    code: str = Field(pattern=r"^[A-Z][A-Z0-9_]+$")
    legal_basis: str
    message: str

    def reason(self, **fields: str) -> Reason:
        return Reason(code=self.code, legal_basis=self.legal_basis, message=self.message.format(**fields))


class BlockRule(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    clusters: list[str] = Field(min_length=1)
    origins: list[OriginClass] = Field(default=[OriginClass.CROSS_BORDER, OriginClass.CROSS_BORDER_LOCAL_STOCK])
    reason: ReasonText


class ReviewRule(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    min_origin_confidence: float = Field(default=0.6, ge=0, le=1)
    min_cluster_confidence: float = Field(default=0.5, ge=0, le=1)
    reason: ReasonText


class Policy(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9.-]*$")
    version: str = Field(min_length=1)
    title: str = ""
    effective_from: date
    effective_until: date | None = None
    blocked: list[BlockRule] = Field(default_factory=list)
    review: ReviewRule
    approved_domestic: ReasonText
    approved_not_blocked: ReasonText
    removed: ReasonText

    @property
    def ref(self) -> PolicyRef:
        return PolicyRef(id=self.id, version=self.version)


class PolicyError(ValueError):
    """A policy file that cannot be used, with the field path and the reason."""


def parse_policy(text: str, source: str = "<policy>") -> Policy:
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise PolicyError(f"{source}: not valid YAML: {exc}") from exc
    try:
        return Policy.model_validate(data)
    except ValidationError as exc:
        details = "; ".join(f"{'.'.join(map(str, e['loc'])) or '<root>'}: {e['msg']}" for e in exc.errors())
        raise PolicyError(f"{source}: {details}") from exc


def packs() -> list[str]:
    return sorted(p.name.removesuffix(".yaml") for p in (resources.files("stream_filter") / "policies").iterdir()
                  if p.name.endswith(".yaml"))


def load_policy(name_or_path: str) -> Policy:
    """A shipped pack by name (`akar-2021`, `default`) or a YAML file by path."""
    path = Path(name_or_path)
    if path.suffix in (".yaml", ".yml", ".json") or path.exists():
        if not path.exists():
            raise PolicyError(f"{name_or_path}: no such file")
        return parse_policy(path.read_text(encoding="utf-8"), str(path))
    pack = resources.files("stream_filter") / "policies" / f"{name_or_path}.yaml"
    if not pack.is_file():
        raise PolicyError(f"unknown policy pack '{name_or_path}' (packs: {', '.join(packs())})")
    return parse_policy(pack.read_text(encoding="utf-8"), f"pack {name_or_path}")


def evaluate(policy: Policy, origin: Origin, clusters: list[ClusterMatch]) -> tuple[Outcome, list[Reason]]:
    """Outcome and every reason that applied. Order: domestic -> blocked -> review -> approved."""
    if origin.origin_class in (OriginClass.DOMESTIC, OriginClass.DOMESTIC_IMPORTED):
        return Outcome.APPROVED, [policy.approved_domestic.reason(origin=origin.origin_class.value)]
    rejected: list[Reason] = []
    review: list[Reason] = []
    confident_origin = origin.confidence >= policy.review.min_origin_confidence
    for rule in policy.blocked:
        for match in (m for m in clusters if m.cluster in rule.clusters):
            fields = {"cluster": match.cluster, "origin": origin.origin_class.value}
            covered = origin.origin_class in rule.origins
            sure_origin = covered and confident_origin
            unsure_origin = origin.origin_class is OriginClass.UNKNOWN or (
                covered and origin.origin_class in CROSS_BORDER_CLASSES and not confident_origin)
            if sure_origin and match.confidence >= policy.review.min_cluster_confidence:
                rejected.append(rule.reason.reason(**fields))
            elif sure_origin or unsure_origin:
                review.append(policy.review.reason.reason(**fields))
    if rejected:
        return Outcome.REJECTED, rejected + review
    if review:
        return Outcome.REVIEW, review
    return Outcome.APPROVED, [policy.approved_not_blocked.reason(origin=origin.origin_class.value)]
