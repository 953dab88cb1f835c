"""Wire schemas (JSON Schema, and an Avro copy of the listing event) generated from the pydantic
models, the source of truth.

`stream-filter schemas` writes them into `schemas/`; a unit test regenerates them in memory and
fails when the committed files drift from the models.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from stream_filter.core.contracts.avro import listing_event_avsc
from stream_filter.core.contracts.decision import DecisionRecord
from stream_filter.core.contracts.listing import ListingEvent
from stream_filter.core.contracts.verdict import ReviewVerdict
from stream_filter.core.policy.model import Policy

SCHEMAS: dict[str, Any] = {
    "listing-event.v1.json": ListingEvent,
    "decision-record.v1.json": DecisionRecord,
    "policy.v1.json": Policy,
    "review-verdict.v1.json": ReviewVerdict,
}


def render() -> dict[str, str]:
    out = {}
    for filename, model in SCHEMAS.items():
        schema = model.model_json_schema(by_alias=True)
        schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
        schema["$id"] = f"https://stream-filter.dev/schemas/{filename}"
        out[filename] = json.dumps(schema, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
    out["listing-event.v1.avsc"] = listing_event_avsc()  # for producers writing through a schema registry
    return out


def write(directory: Path) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for filename, text in render().items():
        path = directory / filename
        path.write_text(text, encoding="utf-8")
        paths.append(path)
    return paths
