"""Every Prometheus metric of the worker, defined once, on a registry passed in.

Why injected: tests build a fresh CollectorRegistry per worker so counts never leak between tests,
and nothing registers at import time. Names follow the Prometheus guide: `stream_filter_` prefix,
`_total` counters, `_seconds` durations, and only bounded label values (never a listing id).
"""

from __future__ import annotations

import collections
from collections.abc import Iterable
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Info, disable_created_metrics

from stream_filter.core.batch import DecidedBatch, Note
from stream_filter.core.contracts.dead_letter import ErrorCode
from stream_filter.core.contracts.decision import DecisionRecord, Outcome
from stream_filter.core.policy.book import PolicyBook
from stream_filter.core.route import Output
from stream_filter.kafka.send_errors import SendError
from stream_filter.worker.batch_histogram import BatchHistogram

_LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0)
_AGE_BUCKETS = (0.01, 0.05, 0.1, 0.5, 1, 5, 30, 60, 300, 3600, 86400)
_BATCH_BUCKETS = (1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500)
_REVIEW_BUCKETS = (60, 300, 900, 3600, 4 * 3600, 12 * 3600, 86400, 3 * 86400, 7 * 86400)
_DELIVERY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class Metrics:
    def __init__(self, registry: CollectorRegistry, version: str, classifier: str = "") -> None:
        disable_created_metrics()  # `_created` series double the scrape and no dashboard reads them
        self.registry = registry
        self.decisions = Counter("stream_filter_decisions_total", "Listings decided, by outcome.",
                                 ["outcome"], registry=registry)
        self.reasons = Counter("stream_filter_decision_reasons_total", "Reasons attached to decisions.",
                               ["outcome", "reason"], registry=registry)
        self.origins = Counter("stream_filter_origin_classes_total", "Decided listings by origin class.",
                               ["origin"], registry=registry)
        self.clusters = Counter("stream_filter_cluster_matches_total", "Cluster matches on decided listings, by "
                                "the listing's outcome.", ["outcome", "cluster"], registry=registry)
        self.dead_letters = Counter("stream_filter_dead_letters_total", "Records sent to the dead-letter topic.",
                                    ["code"], registry=registry)
        self.schema_fetches = Counter("stream_filter_schema_fetches_total", "Schema ids asked of the schema "
                                      "registry, by result (fetched, unknown, outage).", ["result"], registry=registry)
        self.consumed = Counter("stream_filter_records_consumed_total", "Input records read.", registry=registry)
        self.produced = Counter("stream_filter_records_produced_total", "Output records acknowledged by the broker.",
                                ["output"], registry=registry)
        self.send_failures = Counter("stream_filter_send_failures_total", "Output sends that failed, by kind "
                                     "(retriable, permanent, too_large, other).", ["kind"], registry=registry)
        self.output_blocked = Gauge("stream_filter_output_blocked", "1 while sends to this output fail (retried "
                                    "until they succeed or the exit bound).", ["output"], registry=registry)
        self.rebalances = Counter("stream_filter_rebalances_total", "Partition assignments received.",
                                  registry=registry)
        self.assigned = Gauge("stream_filter_assigned_partitions", "Input partitions assigned to this worker.",
                              registry=registry)
        self.lag = Gauge("stream_filter_consumer_lag_records", "Group lag per input partition: end offset minus "
                         "committed offset.", ["partition"], registry=registry)
        self.lag_errors = Counter("stream_filter_lag_probe_errors_total", "Failed lag measurements.",
                                  registry=registry)
        # observed a batch at a time (batch_histogram.py): two per record was a lock round trip each
        self.processing = BatchHistogram("stream_filter_processing_seconds", "Decode, classify and decide one "
                                         "record.", _LATENCY_BUCKETS, registry)
        self.batch_records = Histogram("stream_filter_batch_records", "Input records decided together, with one "
                                       "delivery confirmation.", buckets=_BATCH_BUCKETS, registry=registry)
        self.delivery = Histogram("stream_filter_delivery_seconds", "Sending a batch of records until the broker "
                                  "acknowledged every one (retries included), by what the batch carries.",
                                  ["records"], buckets=_DELIVERY_BUCKETS, registry=registry)
        self.event_age = BatchHistogram("stream_filter_event_age_seconds", "occurred_at to decision time.",
                                        _AGE_BUCKETS, registry)
        self.policy_info = Gauge("stream_filter_policy_info", "Loaded policy versions (1 = loaded).",
                                 ["policy_id", "version"], registry=registry)
        self.policy_loaded = Gauge("stream_filter_policy_loaded_timestamp_seconds",
                                   "When the active policy was loaded (Unix time).", registry=registry)
        self.shadow_info = Gauge("stream_filter_shadow_policy_info", "Shadow policy versions being evaluated.",
                                 ["policy_id", "version"], registry=registry)
        self.policy_updates = Counter("stream_filter_policy_updates_total", "Policy records applied from the topic.",
                                      ["mode"], registry=registry)
        self.policy_invalid = Counter("stream_filter_policy_records_invalid_total",
                                      "Policy records ignored as invalid (the last good policy stays).",
                                      registry=registry)
        self.shadow_diffs = Counter("stream_filter_shadow_diffs_total", "Events the shadow policy decides differently.",
                                    ["live", "shadow"], registry=registry)
        self.reevaluated = Counter("stream_filter_reevaluated_total", "Active listings decided again after a "
                                   "live policy change.", registry=registry)
        self.reevaluation_changes = Counter("stream_filter_reevaluation_changes_total", "Re-evaluated listings whose "
                                            "outcome changed.", ["before", "after"], registry=registry)
        self.reevaluation_pending = Gauge("stream_filter_reevaluation_pending_listings", "Listings the current "
                                          "re-evaluation pass has still to check.", registry=registry)
        self.reevaluation_passes = Counter("stream_filter_reevaluation_passes_total", "Completed re-evaluation "
                                           "passes over the owned listings.", registry=registry)
        self.reevaluation_seconds = Gauge("stream_filter_reevaluation_last_duration_seconds", "How long the last "
                                          "completed re-evaluation pass took.", registry=registry)
        self.input_partition_disagreements = Counter(
            "stream_filter_input_partition_disagreements_total", "Input records on another partition than the "
            "input partitioner in use gives their key (STREAM_FILTER_INPUT_PARTITIONER; the log names the one that "
            "fits).", registry=registry)
        self.reevaluation_expired = Counter("stream_filter_reevaluation_expired_total", "Listings decided again "
                                            "on their own because their review verdict expired.", registry=registry)
        self.reevaluation_waiting = Gauge("stream_filter_reevaluation_waiting_seconds", "How long the re-evaluation "
                                          "pass requested has waited to complete (0: none waiting).",
                                          registry=registry)
        self.reevaluation_late = Gauge("stream_filter_reevaluation_late", "1 while the pass requested has waited over "
                                       "3x the last completed pass's duration (at least a minute; an hour before "
                                       "any completed).", registry=registry)
        self.reevaluation_errors = Counter("stream_filter_reevaluation_errors_total", "Listings a re-evaluation "
                                           "pass could not decide (skipped, state kept).", registry=registry)
        self.active_listings = Gauge("stream_filter_active_listings", "Active listings on owned partitions, as "
                                     "counted by the last re-evaluation pass.", registry=registry)
        self.listing_moves = Counter("stream_filter_listing_withdrawals_total", "Removal records sent because a "
                                     "listing moved to another outcome or was deleted.", ["reason"], registry=registry)
        self.replayed = Counter("stream_filter_replayed_events_total", "Input events the listing's state had "
                                "applied already (a replay after a crash, rebalance or offset reset), by whether "
                                "their records were sent again.", ["sent"], registry=registry)
        self.review_listings = Gauge("stream_filter_review_listings", "Listings in review on owned partitions "
                                     "(complete once a re-evaluation pass has walked them).", registry=registry)
        self.review_oldest = Gauge("stream_filter_review_oldest_age_seconds", "How long the oldest listing in review "
                                   "on owned partitions has waited since its latest decision, to the minute.",
                                   registry=registry)
        self.review_seconds = Histogram("stream_filter_review_seconds", "From the decision that sent a listing to "
                                        "review to the verdict.", buckets=_REVIEW_BUCKETS, registry=registry)
        self.verdicts = Counter("stream_filter_review_verdicts_total", "Review verdicts, by outcome: approved, "
                                "rejected, or the dead-letter code of one not applied.", ["outcome"], registry=registry)
        self.build = Info("stream_filter_build", "Build information.", registry=registry)
        self.build.info({"version": version, "classifier": classifier})  # one value per process: bounded
        for outcome in Outcome:  # known at start: dashboards show zeros, not gaps
            self.decisions.labels(outcome.value)
        for code in ErrorCode:
            self.dead_letters.labels(code.value)
        for output in Output:
            self.produced.labels(output.value)
            self.output_blocked.labels(output.value)
        for kind in SendError:
            self.send_failures.labels(kind.value)
        for mode in ("live", "shadow"):
            self.policy_updates.labels(mode)
        for verdict in ("approved", "rejected", ErrorCode.STALE_VERDICT.value, ErrorCode.UNSIGNED_VERDICT.value,
                        ErrorCode.UNKNOWN_REVIEWER.value, ErrorCode.BAD_VERDICT_SIGNATURE.value,
                        ErrorCode.REPLAYED_VERDICT.value):
            self.verdicts.labels(verdict)
        for sent in ("again", "nothing"):
            self.replayed.labels(sent)
        for records in ("decisions", "states"):
            self.delivery.labels(records)

    def set_policies(self, book: PolicyBook, shadow: PolicyBook | None = None) -> None:
        self.policy_info.clear()
        for ref in book.describe():
            self.policy_info.labels(ref.id, ref.version).set(1)
        self.shadow_info.clear()
        for ref in shadow.describe() if shadow else []:
            self.shadow_info.labels(ref.id, ref.version).set(1)
        self.policy_loaded.set_to_current_time()

    def decided(self, batch: DecidedBatch, records: int) -> None:
        """Count what a decided batch of `records` input records did."""
        self.batch_records.observe(records)
        self.record_batch(batch.notes)
        for code in batch.withdrawals:
            self.listing_moves.labels(code).inc()
        for again in batch.replays:
            self.replayed.labels("again" if again else "nothing").inc()
        for live, shadow in batch.shadow_diffs:
            self.shadow_diffs.labels(live, shadow).inc()

    def verdicts_decided(self, batch: DecidedBatch, records: int) -> None:
        """Count a decided batch of `records` verdict records: outcomes, time in review, dead letters."""
        self.batch_records.observe(records)
        for outcome, seconds in batch.verdicts:
            self.verdicts.labels(outcome).inc()
            if seconds is not None:
                self.review_seconds.observe(seconds)
        for routed, _ in batch.outputs:
            if routed.error is not None:
                self.dead_letters.labels(routed.error.code.value).inc()

    def record_batch(self, notes: Iterable[Note]) -> None:
        """Count a batch of routed events: labelled counters are tallied first and incremented once
        per distinct label set (a labelled increment costs a lock and a lookup; a batch repeats few)."""
        tally: collections.Counter[tuple[Any, tuple[str, ...]]] = collections.Counter()
        consumed = 0
        seconds: list[float] = []
        ages: list[float] = []
        for note in notes:
            routed, age_seconds = note.routed, note.age_seconds
            consumed += 1
            seconds.append(note.seconds)
            if routed is None:  # a replay sent again from the state: decided before, counted then
                continue
            if routed.error is not None:
                tally[self.dead_letters, (routed.error.code.value,)] += 1
                continue
            record: DecisionRecord | None = routed.decision
            if record is None:
                continue
            outcome = record.outcome.value
            tally[self.decisions, (outcome,)] += 1
            tally[self.origins, (record.origin.origin_class.value,)] += 1
            for reason in record.reasons:
                tally[self.reasons, (outcome, reason.code)] += 1
            for match in record.clusters:
                tally[self.clusters, (outcome, match.cluster)] += 1
            if age_seconds is not None:
                ages.append(max(0.0, age_seconds))
        self.processing.observe_many(seconds)
        self.event_age.observe_many(ages)
        self.consumed.inc(consumed)
        for (metric, labels), count in tally.items():
            metric.labels(*labels).inc(count)
