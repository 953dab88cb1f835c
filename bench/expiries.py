"""Re-evaluation passes while review verdicts expire: N listings (default 1,000,000), in memory.

The audit's finding at full scale: with each expiry restarting the pass, no pass over a million
listings completed. Here expiries decide just their listings (`Enforcer.expire`), so a pass takes
about as long as alone. Steps: clone a pool of decided listings to N states in the in-memory store,
time one full pass alone, then `--passes` full passes while one listing's verdict expires every
`--every` seconds. Prints the figures and writes `bench/results/expiries.json`.

    python -m bench.expiries [--n 1000000] [--every 0.1] [--passes 2]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import time
from dataclasses import replace
from pathlib import Path

from prometheus_client import CollectorRegistry

from bench.reevaluation import pool_states
from bench.run import peak_rss_mb, write_result
from stream_filter.core.policy.book import PolicyBook, PolicyHolder
from stream_filter.core.route import Output
from stream_filter.settings import Settings
from stream_filter.state.listing_states import ListingStates
from stream_filter.worker.delivery import Deliverer
from stream_filter.worker.enforcement import Enforcer
from stream_filter.worker.metrics import Metrics

RESULTS = Path(__file__).parent / "results" / "expiries.json"


class _Sink:
    """An output topic that acknowledges at once (the pass's cost is the subject, not the broker's)."""

    async def send(self, *, key: bytes | None, value: bytes | None, headers: list[tuple[str, bytes]],
                   partition: int | None = None) -> asyncio.Future[None]:
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        done.set_result(None)
        return done


def _fill(states: ListingStates, n: int, book: PolicyBook) -> None:
    pool = pool_states(book)
    view = states.view([])
    for i in range(n):
        base = pool[i % len(pool)]
        listing_id = f"bench-{i:07}"
        view.put(listing_id, 0, replace(base, listing_id=listing_id, partition=0,
                                        listing={**base.listing, "listing_id": listing_id}))
        if i % 50_000 == 49_999:
            view.flush()
            view = states.view([])
    view.flush()


async def _measure(enforcer: Enforcer, n: int, every_s: float, passes: int) -> tuple[float, list[float], int]:
    enforcer.request(full=True)
    await enforcer.run_pass()
    alone = enforcer.last_duration or 0.0
    runner = asyncio.create_task(enforcer.run())
    expired = 0

    async def expiries() -> None:
        nonlocal expired
        while True:
            await asyncio.sleep(every_s)
            enforcer.expire([(0, f"bench-{(expired * 7919) % n:07}")])
            expired += 1

    feeder = asyncio.create_task(expiries())
    durations = []
    for _ in range(passes):
        done = enforcer.metrics.reevaluation_passes._value.get()
        enforcer.request(full=True)
        while enforcer.metrics.reevaluation_passes._value.get() == done:  # noqa: ASYNC110 - polls a counter
            await asyncio.sleep(0.05)
        durations.append(enforcer.last_duration or 0.0)
    feeder.cancel()
    runner.cancel()
    return alone, durations, expired


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--every", type=float, default=0.1)
    parser.add_argument("--passes", type=int, default=2)
    args = parser.parse_args(argv)
    book = PolicyBook.load("default")
    states = ListingStates(Settings(state_store="memory", data_dir=tempfile.mkdtemp(prefix="sf-expiries-")))
    states.open(0)
    started = time.monotonic()
    _fill(states, args.n, book)
    filled_s = time.monotonic() - started
    metrics = Metrics(CollectorRegistry(), "bench")

    async def loaded(_: set[int]) -> None:
        return None

    sinks = {o: _Sink() for o in Output}
    enforcer = Enforcer(states, PolicyHolder(book), Deliverer(sinks, metrics), metrics, asyncio.Lock(),
                        owned=lambda: {0}, load=loaded, busy=lambda: False)
    alone, durations, expired = asyncio.run(_measure(enforcer, args.n, args.every, args.passes))
    result = {"listings": args.n, "expiry_every_s": args.every, "pass_alone_s": round(alone, 2),
              "passes_with_expiries_s": [round(d, 2) for d in durations], "expiries": expired,
              "expiries_decided": metrics.reevaluation_expired._value.get(),
              "worst_ratio": round(max(durations) / alone, 2) if alone else None,
              "fill_s": round(filled_s, 1), "peak_rss_mb": peak_rss_mb(os.getpid())}
    print(f"{args.n:,} listings: a full pass alone {alone:.1f} s; with an expiry every {args.every} s: "
          f"{', '.join(f'{d:.1f}' for d in durations)} s ({expired} expiries, worst {result['worst_ratio']}x)")
    write_result(result, RESULTS)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
