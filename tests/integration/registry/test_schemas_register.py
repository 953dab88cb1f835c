"""`stream-filter schemas register` against a real registry: idempotent, explicit about the
compatibility mode, and refusing an incompatible change with the registry's own reason."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys

from stream_filter.cli.schema_register import register
from stream_filter.kafka.output_subjects import decision_schema
from stream_filter.kafka.schema_registry import SchemaRegistry
from tests.support import Names


def _cli(env: dict[str, str], *args: str) -> tuple[int, str]:
    done = subprocess.run([sys.executable, "-m", "stream_filter", "schemas", "register", *args], env=env,
                          capture_output=True, text=True, timeout=60, check=False)
    return done.returncode, done.stdout + done.stderr


def test_register_is_idempotent_and_checks(schema_registry: str) -> None:
    import os
    names = Names()
    env = {**os.environ, **names.env("127.0.0.1:1"), "STREAM_FILTER_SCHEMA_REGISTRY_URL": schema_registry}
    subjects = [f"{names.topic(kind)}-value" for kind in ("approved", "rejected", "review", "shadow-diff")]
    code, out = _cli(env, "--check")
    assert code == 1 and out.count("not registered") == 4, out
    code, out = _cli(env)
    assert code == 0 and out.count("compatibility set to FORWARD_TRANSITIVE; registered, id") == 4, out
    assert {line.split(":")[0] for line in out.splitlines()} == set(subjects)
    code, again = _cli(env)
    assert code == 0 and again.count("registered as version 1") == 4, again  # nothing new
    assert _cli(env, "--check")[0] == 0
    code, out = _cli(env, "--check", "--compatibility", "FULL_TRANSITIVE")
    assert code == 1 and out.count("compatibility is FORWARD_TRANSITIVE, not FULL_TRANSITIVE") == 4, out


def test_an_incompatible_change_is_refused_with_the_registrys_reason(schema_registry: str) -> None:
    subject = f"{Names().topic('approved')}-value"

    async def run() -> list[tuple[bool, str]]:
        registry = SchemaRegistry(schema_registry)
        try:
            first = await register(registry, subject, decision_schema(), "FORWARD_TRANSITIVE", False)
            changed = json.loads(decision_schema())
            changed["properties"]["decision_id"] = {"type": "integer"}  # old readers would break
            refused = await register(registry, subject, json.dumps(changed), "FORWARD_TRANSITIVE", False)
            checked = await register(registry, subject, json.dumps(changed), "FORWARD_TRANSITIVE", True)
            grown = json.loads(decision_schema())
            grown["properties"]["channel"] = {"type": "string"}  # a new optional field: old readers still read
            added = await register(registry, subject, json.dumps(grown), "FORWARD_TRANSITIVE", False)
            status, versions = await registry.request("GET", f"/subjects/{subject}/versions")
            return [first, refused, checked, added, (status == 200, str(versions))]
        finally:
            await registry.close()

    first, refused, checked, added, versions = asyncio.run(run())
    assert first[0] and "registered, id" in first[1]
    assert not refused[0] and "refused, incompatible under FORWARD_TRANSITIVE" in refused[1]
    assert "decision_id" in refused[1], refused  # the registry's reason names what broke
    assert not checked[0] and "incompatible under FORWARD_TRANSITIVE" in checked[1]
    assert added[0], added
    assert versions == (True, "[1, 2]")
