"""The worker's web pages: `/metrics`, `/healthz` (liveness) and `/readyz` (readiness).

They run on the worker's event loop, between batches: a batch is decided in one go, and the decode
limits bound what one listing can cost, so the pages answer within a batch's time under full load
(docs/reliability.md).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import faust
from faust.web import Request, Response, View
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from stream_filter.core.policy.book import PolicyHolder
from stream_filter.core.policy.day import today
from stream_filter.core.verdict_auth import VerdictAuth
from stream_filter.worker.lookup import ROUTED_HEADER, ListingLookup
from stream_filter.worker.readiness import Readiness

PageHandler = Callable[[View, Request], Awaitable[Response]]
METRICS, LIVENESS, READINESS = "/metrics", "/healthz", "/readyz"  # what probes and scrapers ask (deploy/)
LISTING = "/listings/{listing_id}"


def add_pages(app: faust.App, registry: CollectorRegistry, readiness: Readiness, holder: PolicyHolder,
              lookup: ListingLookup, classifier: str, auth: VerdictAuth, policy_checked: bool) -> None:
    """Faust makes a page's handler a method of its View class: plain functions that take the view."""

    async def metrics(view: View, request: Request) -> Response:
        return view.bytes(generate_latest(registry), headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def health(view: View, request: Request) -> Response:
        """Liveness: the loop turns. The policies are here too, for people (docs/policy.md, Live policy)."""
        reasons = readiness.not_alive()
        shadow = holder.shadow.active(today()) if holder.shadow else []
        return view.json({"status": "not alive" if reasons else "ok", "reasons": reasons,
                          # false while the live book may not be the topic's latest (catch-up failed or timed out)
                          "policy_caught_up": readiness.policy_caught_up,
                          "policy_refused": readiness.policy_refused,
                          # whether policy records must carry a valid signature (STREAM_FILTER_POLICY_VERIFY_KEY)
                          "policy_signatures_checked": policy_checked,
                          "policies": [p.ref.model_dump() for p in holder.live.active(today())],
                          "versions": [ref.model_dump() for ref in holder.live.describe()],
                          "shadow": [p.ref.model_dump() for p in shadow], "classifier": classifier,
                          # verdicts refused since start, by code; unchecked: no reviewer keys are set
                          "verdicts": {"checked": auth.checked, "reviewers": len(auth.keys() or {}),
                                       "refused": dict(auth.refused)},
                          "input_partitioner": {"setting": lookup.states.partitioner.setting,
                                                "in_use": lookup.states.partitioner.name,
                                                "disagreed": lookup.states.partitioner.disagreed}},
                         status=503 if reasons else 200)

    async def ready(view: View, request: Request) -> Response:
        reasons = readiness.not_ready()
        return view.json({"status": "not ready" if reasons else "ready", "reasons": reasons},
                         status=503 if reasons else 200)

    async def listing(view: View, request: Request, listing_id: str) -> Response:
        status, body = await lookup.answer(listing_id, request.headers.get("Authorization"),
                                           routed=bool(request.headers.get(ROUTED_HEADER)))
        return view.json(body, status=status)

    pages: dict[str, PageHandler] = {METRICS: metrics, LIVENESS: health, READINESS: ready}
    for path, handler in pages.items():
        app.page(path)(handler)
    app.page(LISTING)(listing)
