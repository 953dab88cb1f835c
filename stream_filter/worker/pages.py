"""The worker's web pages: `/metrics`, `/healthz` (liveness) and `/readyz` (readiness).

They run on the worker's event loop, between batches: a batch is decided in one go, and the decode
limits bound what one listing can cost, so the pages answer within a batch's time under full load
(README, Reliability).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import faust
from faust.web import Request, Response, View
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from stream_filter.core.policy.book import PolicyHolder
from stream_filter.worker.readiness import Readiness

PageHandler = Callable[[View, Request], Awaitable[Response]]
METRICS, LIVENESS, READINESS = "/metrics", "/healthz", "/readyz"  # what probes and scrapers ask (deploy/)


def add_pages(app: faust.App, registry: CollectorRegistry, readiness: Readiness, holder: PolicyHolder,
              policy_ready: asyncio.Event) -> None:
    """Faust makes a page's handler a method of its View class: plain functions that take the view."""

    async def metrics(view: View, request: Request) -> Response:
        return view.bytes(generate_latest(registry), headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def health(view: View, request: Request) -> Response:
        """Liveness: the loop turns. The policies are here too, for people (README, Live policy)."""
        reasons = readiness.not_alive()
        shadow = holder.shadow.describe() if holder.shadow else []
        return view.json({"status": "not alive" if reasons else "ok", "reasons": reasons,
                          "policy_ready": policy_ready.is_set(),
                          "policies": [ref.model_dump() for ref in holder.live.describe()],
                          "shadow": [ref.model_dump() for ref in shadow]}, status=503 if reasons else 200)

    async def ready(view: View, request: Request) -> Response:
        reasons = readiness.not_ready()
        return view.json({"status": "not ready" if reasons else "ready", "reasons": reasons},
                         status=503 if reasons else 200)

    pages: dict[str, PageHandler] = {METRICS: metrics, LIVENESS: health, READINESS: ready}
    for path, handler in pages.items():
        app.page(path)(handler)
