"""`policy publish` puts a policy on the topic with its included packs merged in: a later release
that rewords a shipped pack changes nothing already published (before, the record's key digest no
longer matched and the version was refused)."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest
import yaml

import stream_filter.core.policy.files as files
from stream_filter.cli.policy import _live_record
from stream_filter.core.policy.files import load_policy, policy_from_text
from stream_filter.core.policy.history import version_key

LOCAL = ('id: local\nversion: "3"\neffective_from: 2026-01-01\ninclude: [default]\n'
         'exemptions:\n  brands: [{value: Tenun Ikat Sumba}]\n')


def test_a_published_version_holds_its_included_packs_as_they_were(tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    file = tmp_path / "local.yaml"
    file.write_text(LOCAL)
    key, message = _live_record(argparse.Namespace(file=str(file), key=None))
    assert "include" not in yaml.safe_load(message.policy)  # merged in, not named
    merged = load_policy(str(file))
    published = policy_from_text(message.policy, "topic")
    assert published == merged.model_copy(update={"include": []}) and key == version_key(published)
    assert published.exemptions.brands[0].value == "Tenun Ikat Sumba" and published.blocked_clusters

    real = files._read_pack

    def reworded(name: str) -> tuple[str, str]:  # a later release's packs, reworded
        text, source = real(name)
        return text.replace('legal_basis: "Lazada', 'legal_basis: "Reworded: Lazada'), source

    monkeypatch.setattr(files, "_read_pack", reworded)
    assert load_policy(str(file)) != merged  # the pack did change...
    again = policy_from_text(message.policy, "topic")
    assert again == published and version_key(again) == key  # ...and the published version did not
