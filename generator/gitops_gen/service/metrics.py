"""The service's Prometheus metrics, in a registry of its own (one per app, never the global one).

GET /metrics answers `text()` in the Prometheus text format. Every label value comes from a
small fixed set, never from a request (an unbounded label would grow the registry forever).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from ..checks import isolated

CONTENT_TYPE = CONTENT_TYPE_LATEST
SOURCES = ("api", "webhook", "push", "dashboard")
RESULTS = ("passed", "failed", "error")
EVENTS = ("ping", "pull_request", "push", "other")
OUTCOMES = ("queued", "ignored", "refused", "done", "failed")
POSTS = ("comment", "status")
LOOKUPS = ("hit", "joined", "miss")
# Validation takes a second or two per environment: buckets from 0.25 s to 5 min.
DURATION_BUCKETS = (0.25, 0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.validations = Counter(
            "gitops_gen_validations", "Validations run, by what asked for them and their result "
            "(passed: no error finding; failed: error findings; error: could not validate).",
            ["source", "result"], registry=self.registry)
        self.validation_seconds = Histogram(
            "gitops_gen_validation_duration_seconds", "Wall time of one validation of a commit.",
            ["source"], buckets=DURATION_BUCKETS, registry=self.registry)
        self.deliveries = Counter(
            "gitops_gen_webhook_deliveries", "Webhook deliveries by event and what became of "
            "them (queued for work, ignored, refused, then done or failed once worked on).",
            ["event", "outcome"], registry=self.registry)
        self.posts = Counter(
            "gitops_gen_github_posts", "Pull-request comments and commit statuses sent to "
            "GitHub, by outcome (posted or failed).", ["kind", "outcome"],
            registry=self.registry)
        self.queue_depth = Gauge(
            "gitops_gen_queue_depth", "Jobs waiting or running in the after-reply work queue.",
            registry=self.registry)
        self.queue_rejected = Counter(
            "gitops_gen_queue_rejected", "Jobs refused because the work queue was full.",
            registry=self.registry)
        self.report_lookups = Counter(
            "gitops_gen_report_cache_lookups", "POST /validate answers by where they came "
            "from: hit, a kept report of the same commit and options; joined, the validation "
            "another request had under way; miss, a validation of its own.", ["result"],
            registry=self.registry)
        self.reports_kept = Gauge(
            "gitops_gen_report_cache_entries", "Validation reports kept, by commit and options.",
            registry=self.registry)
        self.report_bytes = Gauge(
            "gitops_gen_report_cache_bytes", "Bytes of the validation reports kept (their JSON).",
            registry=self.registry)
        self.workers_loaded = Gauge(
            "gitops_gen_workers_loaded", "Worker processes started ahead of the validations "
            "that will use them, with the checks loaded (a new commit's validation starts in "
            "one of them at once).", registry=self.registry)
        self.workers_loaded.set_function(lambda: float(isolated.spares_loaded()))
        for result in LOOKUPS:
            self.report_lookups.labels(result)
        for source in SOURCES:  # every series exists from the start, at 0
            self.validation_seconds.labels(source)
            for result in RESULTS:
                self.validations.labels(source, result)
        for event in EVENTS:
            for outcome in OUTCOMES:
                self.deliveries.labels(event, outcome)
        for kind in POSTS:
            for outcome in ("posted", "failed"):
                self.posts.labels(kind, outcome)

    def text(self) -> bytes:
        return generate_latest(self.registry)

    @contextmanager
    def validation(self, source: str) -> Iterator[Callable[[bool], None]]:
        """Time the block; it calls the yielded function with the report's ok. An exception
        out of the block counts as result "error"."""
        result: list[str] = []
        start = time.monotonic()
        try:
            yield lambda ok: result.append("passed" if ok else "failed")
        except BaseException:
            self.validations.labels(source, "error").inc()
            raise
        finally:
            self.validation_seconds.labels(source).observe(time.monotonic() - start)
        self.validations.labels(source, result[-1] if result else "error").inc()

    def delivery(self, event: str, outcome: str) -> None:
        self.deliveries.labels(event if event in EVENTS else "other", outcome).inc()

    def posted(self, kind: str, ok: bool) -> None:
        self.posts.labels(kind, "posted" if ok else "failed").inc()
