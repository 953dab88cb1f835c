"""`stream-filter schemas register [--check]`: the decision record's schema under each output topic's
subject in the schema registry, with an explicit compatibility mode.

Why explicit and transitive: consumers of the output topics build the catalogue from every record
they ever read, so a new schema version must keep every older reader reading (FORWARD_TRANSITIVE) or
also read every older record (FULL_TRANSITIVE); a registry's default (BACKWARD, latest only) allows
neither. Registering is idempotent (a schema already under the subject is found, not added again),
and an incompatible change is refused with the registry's own reason.

The subjects and the schema: `kafka/output_subjects.py` (the worker reads the same at start).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import Any
from urllib.parse import quote

from stream_filter.kafka.output_subjects import decision_schema, lookup, subjects
from stream_filter.kafka.schema_registry import RegistryOutage, SchemaRegistry
from stream_filter.settings import Settings

MODES = ("FORWARD_TRANSITIVE", "FULL_TRANSITIVE")


async def register(registry: SchemaRegistry, subject: str, schema: str, mode: str, check: bool) -> tuple[bool, str]:
    """(in order, what was done or found) for one subject."""
    path = quote(subject, safe="")
    notes: list[str] = []
    status, config = await registry.request("GET", f"/config/{path}")
    current = config.get("compatibilityLevel") or config.get("compatibility") if isinstance(config, dict) else None
    if status != 200 or current != mode:
        if check:
            notes.append(f"compatibility is {current or 'the registry default'}, not {mode}")
        else:
            status, body = await registry.request("PUT", f"/config/{path}", {"compatibility": mode})
            if status != 200:
                return False, f"compatibility not set: HTTP {status} {body}"
            notes.append(f"compatibility set to {mode}")
    payload = {"schema": schema, "schemaType": "JSON"}
    status, found = await lookup(registry, subject, schema)
    if status == 200 and isinstance(found, dict):
        return not (check and notes), "; ".join([*notes, f"registered as version {found.get('version')}, "
                                                 f"id {found.get('id')}"])
    if status != 404:
        return False, f"lookup failed: HTTP {status} {found}"
    if check:
        status, verdict = await registry.request("POST", f"/compatibility/subjects/{path}/versions/latest"
                                                 "?verbose=true", payload)
        if status == 200 and isinstance(verdict, dict) and verdict.get("is_compatible") is False:
            notes.append(f"incompatible under {mode} (registering would be refused)")
        return False, "; ".join([*notes, "not registered"])
    status, body = await registry.request("POST", f"/subjects/{path}/versions", payload)
    if status == 409:
        return False, f"refused, incompatible under {mode}: {_reasons(body)}"
    if status != 200 or not isinstance(body, dict):
        return False, f"not registered: HTTP {status} {body}"
    return True, "; ".join([*notes, f"registered, id {body.get('id')}"])


def _reasons(body: Any) -> str:
    if isinstance(body, dict):
        return "; ".join(map(str, body.get("messages") or [])) or str(body.get("message", body))[-400:]
    return str(body)


def cmd_register(args: argparse.Namespace) -> int:
    settings = Settings()
    url = args.url or settings.schema_registry_url
    if not url:
        print("set STREAM_FILTER_SCHEMA_REGISTRY_URL or --url (Apicurio: http://HOST:PORT/apis/ccompat/v7)",
              file=sys.stderr)
        return 2
    password = settings.schema_registry_password

    async def run() -> bool:
        registry = SchemaRegistry(url, username=settings.schema_registry_username,
                                  password=password.get_secret_value() if password else None)
        try:
            ok = True
            schema = decision_schema()
            for subject in subjects(settings).values():
                done, what = await register(registry, subject, schema, args.compatibility, args.register_check)
                print(f"{subject}: {what}")
                ok = ok and done
            return ok
        finally:
            await registry.close()

    try:
        return 0 if asyncio.run(run()) else 1
    except RegistryOutage as exc:
        print(f"schema registry error: {exc}", file=sys.stderr)
        return 3
