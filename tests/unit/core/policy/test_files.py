"""Bad policy files get clear errors with line and field; the worker refuses them at start."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from stream_filter.core.policy.book import PolicyBook
from stream_filter.core.policy.files import PolicyError, load_policy, parse_policy, policy_from_text

GOOD = """\
id: test
version: "1"
effective_from: 2026-01-01
blocked_clusters:
  - clusters: [crafts]
    reason: {code: BLOCKED, legal_basis: test, message: "{cluster}"}
"""


def test_good_file_loads(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_text(GOOD)
    assert load_policy(str(path)).blocked_clusters[0].clusters == ["crafts"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (GOOD.replace("clusters: [crafts]", "clusters: []"), "line 5: blocked_clusters.0.clusters"),
        (GOOD.replace("code: BLOCKED", "code: blocked"), "line 6: blocked_clusters.0.reason.code"),
        (GOOD.replace("2026-01-01", "soon"), "line 3: effective_from"),
        (GOOD + "unknown_key: 1\n", "line 7: unknown_key: Extra inputs are not permitted"),
        (GOOD + "effective_until: 2025-01-01\n", "effective_until must be after effective_from"),
        ("id: x\n  bad: [\n", "not valid YAML"),
        ("- just\n- a list\n", "<root>"),
    ],
)
def test_bad_files_name_line_and_field(text: str, expected: str) -> None:
    with pytest.raises(PolicyError) as info:
        parse_policy(text, "p.yaml")
    assert expected in str(info.value)
    assert str(info.value).startswith("p.yaml")


def test_unknown_pack_missing_file_and_include_cycle(tmp_path: Path) -> None:
    with pytest.raises(PolicyError, match="unknown policy pack 'nope'"):
        load_policy("nope")
    with pytest.raises(PolicyError, match="no such file"):
        load_policy(str(tmp_path / "missing.yaml"))
    cyc = tmp_path / "cyc.yaml"
    cyc.write_text(GOOD + "include: ['cyc.yaml']\n")
    with pytest.raises(PolicyError, match="include cycle"):
        load_policy(str(cyc))


def test_includes_are_shipped_packs_or_files_beside_the_including_file(tmp_path: Path) -> None:
    (tmp_path / "rules").mkdir()
    (tmp_path / "rules" / "extra.yaml").write_text(GOOD.replace("id: t", "id: extra"))
    main = tmp_path / "main.yaml"
    main.write_text(GOOD + "include: [akar-2021, rules/extra.yaml]\n")
    assert {c for b in load_policy(str(main)).blocked_clusters for c in b.clusters} >= {"crafts", "food_beverage"}
    secret = tmp_path.parent / "secret.yaml"
    secret.write_text("root:x:0:0:the-content\n")
    for include in (str(secret), "../secret.yaml", "/etc/passwd"):
        main.write_text(GOOD + f"include: ['{include}']\n")
        with pytest.raises(PolicyError, match="not a shipped pack or a file beside") as refused:
            load_policy(str(main))
        assert "the-content" not in str(refused.value)
    with pytest.raises(PolicyError, match=r"include 'rules/extra\.yaml': not a shipped pack"):
        policy_from_text(GOOD + "include: [rules/extra.yaml]\n", "policy topic")  # no folder: packs only


def test_errors_never_echo_another_files_content(tmp_path: Path) -> None:
    (tmp_path / "broken.yaml").write_text("id: [unclosed the-secret-line\nversion: 1\n")
    (tmp_path / "odd.yaml").write_text("the-secret-key: the-secret-value\n")
    for name in ("broken.yaml", "odd.yaml"):
        main = tmp_path / "main.yaml"
        main.write_text(GOOD + f"include: [{name}]\n")
        with pytest.raises(PolicyError, match=f"include '{name}' is not a valid policy") as refused:
            load_policy(str(main))
        assert "the-secret" not in str(refused.value)
    with pytest.raises(PolicyError, match="not valid YAML: line 2: expected") as refused:
        parse_policy("id: [unclosed the-secret-line\n", "p.yaml")
    assert "the-secret" not in str(refused.value)


def test_book_from_a_comma_separated_spec() -> None:
    book = PolicyBook.load("akar-2021, shopee-13-2021")
    assert [r.id for r in book.describe()] == ["akar-2021", "shopee-13-2021"]


def test_validate_command_and_worker_refuse_a_bad_policy(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(GOOD.replace("clusters: [crafts]", "clusters: []"))
    validate = subprocess.run([sys.executable, "-m", "stream_filter", "policy", "validate", str(bad)],
                              capture_output=True, text=True, check=False)
    assert validate.returncode == 2 and "line 5" in validate.stderr
    ok = subprocess.run([sys.executable, "-m", "stream_filter", "policy", "validate", "default"],
                        capture_output=True, text=True, check=True)
    assert ok.stdout.startswith("ok: default")
    env = {"STREAM_FILTER_POLICY": str(bad), "STREAM_FILTER_KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:1",
           "PATH": "/usr/bin:/bin"}
    worker = subprocess.run([sys.executable, "-m", "stream_filter", "worker"], capture_output=True, text=True,
                            env=env, timeout=60, check=False)
    assert worker.returncode == 2 and "policy error" in worker.stderr
