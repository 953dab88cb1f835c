"""Reason messages are templates with named fields only: validated with the policy, never run
through str.format, so no message can fail or allocate at decision time."""

from __future__ import annotations

import pytest

from stream_filter.core.policy.files import PolicyError, parse_policy
from stream_filter.core.policy.model import ReasonText, parts, render

POLICY = """id: t
version: "1"
effective_from: 2021-01-01
blocked_clusters:
  - clusters: [food_beverage]
    reason:
      code: CLOSED
      legal_basis: test
      message: "{message}"
"""


@pytest.mark.parametrize("message", ["{0} closed", "closed {", "closed }", "{origin:>200000000}",
                                     "{origin!r}", "{seller} closed", "{cluster.__class__}", "{{cluster}}"])
def test_validate_refuses_anything_but_named_fields_with_the_line(message: str) -> None:
    with pytest.raises(PolicyError) as refused:
        parse_policy(POLICY.replace("{message}", message), "p.yaml")
    assert "line 9: blocked_clusters.0.reason.message" in str(refused.value)


def test_named_fields_render_and_nothing_else_is_interpreted() -> None:
    text = ReasonText(code="CLOSED", legal_basis="b", message="{cluster} closed to {origin}")
    assert text.reason(cluster="{origin}", origin="cross_border").message == "{origin} closed to cross_border"
    assert text.reason().message == "? closed to ?"
    assert render(parts("{day}: {detail}"), {"day": "2024-01-01"}) == "2024-01-01: ?"
    assert render(parts("no fields"), {}) == "no fields" and render(parts("{day}"), {"day": "d"}) == "d"


def test_a_huge_message_is_refused() -> None:
    with pytest.raises(PolicyError, match="longer than"):
        parse_policy(POLICY.replace("{message}", "x" * 600), "p.yaml")
