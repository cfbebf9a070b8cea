"""What the service keeps between requests: metrics, the work queue, snapshots, recent validations.

Nothing here is needed by a second replica to answer correctly: a snapshot depends on its
commit alone (a replica that lacks one takes it), the target revision is read from git, and
the list of recent validations is this replica's own (the dashboard says so).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ..checks.findings import Finding, Report
from ..errors import GitopsGenError
from ..repo import config, gitrepo
from ..repo.forge import ForgeSettings
from ..repo.limits import RunLimits
from . import reportcache, snapshots
from .jobs import JobQueue
from .metrics import Metrics
from .reportcache import Answer, Key, ReportCache
from .snapshots import Snapshot

log = logging.getLogger(__name__)

SNAPSHOTS_KEPT = 16
HISTORY_KEPT = 25
FINDINGS_KEPT = 20  # per recent validation
FETCH_EVERY = 60.0  # seconds: how stale the clone's view of origin may get between pushes
FETCH_TIMEOUT = 120

QUEUE_FULL = "the work queue is full: validation of this commit is retried on the next refresh"

EnsureCommit = Callable[[str, int | None], None]


@dataclass(frozen=True)
class Validation:
    """One validation this replica ran, for the dashboard's list of recent ones."""

    at: float
    source: str  # api | webhook | push | dashboard
    label: str  # what asked, e.g. "pull request #7"
    sha: str
    ok: bool | None  # None: the commit could not be validated
    errors: int
    warnings: int
    findings: tuple[Finding, ...]
    seconds: float
    problem: str | None = None


class ServiceState:
    def __init__(self, root: Path, github: ForgeSettings | None, *, public_url: str | None,
                 ensure_commit: EnsureCommit, workers: int = 1, queue: int = 32,
                 run_limits: RunLimits | None = None,
                 reports: ReportCache | None = None) -> None:
        self.root = root
        self.run_limits = run_limits or RunLimits()
        self.github = github
        self.public_url = public_url.rstrip("/") if public_url else None
        self.ensure_commit = ensure_commit
        self.metrics = Metrics()
        self.reports = reports if reports is not None else ReportCache()
        self.jobs = JobQueue(workers=workers, capacity=queue,
                             on_depth=self.metrics.queue_depth.set)
        self.history: deque[Validation] = deque(maxlen=HISTORY_KEPT)
        self._snapshots: OrderedDict[str, Snapshot | str] = OrderedDict()
        self._lock = threading.Lock()
        self._last_fetch = 0.0

    # ---- the target revision ------------------------------------------------------------

    def target_revision(self) -> str:
        try:
            return config.load(self.root).target_revision
        except GitopsGenError:
            return config.DEFAULT_REVISION

    def target(self) -> tuple[str, str | None]:
        """The target revision and its commit: origin's branch when the clone has a remote
        (what Argo CD follows), else the local branch."""
        revision = self.target_revision()
        for ref in (f"refs/remotes/origin/{revision}", f"refs/heads/{revision}", revision):
            sha = gitrepo.resolve(self.root, ref)
            if sha:
                return revision, sha
        return revision, None

    def refresh(self, *, now: bool = False) -> None:
        """Fetch origin in the background, at most every FETCH_EVERY seconds unless now."""
        if gitrepo.remote_url(self.root) is None:
            return
        with self._lock:
            if not now and time.monotonic() - self._last_fetch < FETCH_EVERY:
                return
            self._last_fetch = time.monotonic()
        self.jobs.submit("fetch", self.fetch)

    def fetch(self) -> None:
        try:
            gitrepo.fetch(self.root, timeout=FETCH_TIMEOUT)
        except GitopsGenError as exc:
            log.warning("%s", self.github.clean(exc.message) if self.github else exc.message)

    def commit_url(self, sha: str) -> str | None:
        """The dashboard's page of a commit, when a public URL is configured."""
        return f"{self.public_url}/commits/{sha}" if self.public_url else None

    # ---- snapshots ----------------------------------------------------------------------

    def cached(self, sha: str) -> Snapshot | str | None:
        """The snapshot of sha (or why it could not be taken), if this replica has it."""
        with self._lock:
            found = self._snapshots.get(sha)
            if found is not None:
                self._snapshots.move_to_end(sha)
            return found

    def keep(self, sha: str, snapshot: Snapshot | str) -> None:
        with self._lock:
            self._snapshots[sha] = snapshot
            self._snapshots.move_to_end(sha)
            while len(self._snapshots) > SNAPSHOTS_KEPT:
                self._snapshots.popitem(last=False)

    def snapshot(self, sha: str, source: str = "dashboard",
                 label: str = "dashboard") -> Snapshot | str | None:
        """The snapshot of sha, or why not (a message); None while it is being taken (queued
        now if it was not)."""
        found = self.cached(sha)
        if found is not None:
            return found
        if not self.jobs.submit(f"snapshot:{sha}", lambda: self.take_and_keep(sha, source,
                                                                                label)):
            self.metrics.queue_rejected.inc()
            return QUEUE_FULL
        return None

    def take_and_keep(self, sha: str, source: str, label: str) -> None:
        self.take(sha, source, label)

    def take(self, sha: str, source: str, label: str) -> Snapshot | str:
        """Take sha's snapshot now (in a worker), keep it, count and record the validation."""
        found = self.cached(sha)
        if isinstance(found, Snapshot):
            return found
        start = time.monotonic()
        result: Snapshot | str
        try:
            with self.metrics.validation(source) as done:
                result = snapshots.take(self.root, sha, self.run_limits)
                done(result.report.ok)
        except GitopsGenError as exc:
            result = " ".join(exc.render().split())
            self.record(source, label, sha, None, time.monotonic() - start, problem=result)
        else:
            self.record(source, label, sha, result.report, result.seconds)
            self.keep_report(reportcache.key(sha), result.report)
        self.keep(sha, result)
        return result

    # ---- reports by commit and options (reportcache.py) --------------------------------

    def keep_report(self, key: Key, report: Report) -> Answer:
        """report's answer, kept when complete; the cache's gauges follow."""
        answer = self.reports.put(key, report)
        self.metrics.reports_kept.set(len(self.reports))
        self.metrics.report_bytes.set(self.reports.bytes)
        return answer

    # ---- recent validations -------------------------------------------------------------

    def record(self, source: str, label: str, sha: str, report: Report | None, seconds: float,
               problem: str | None = None) -> None:
        findings = tuple(report.sorted_findings()[:FINDINGS_KEPT]) if report else ()
        self.history.appendleft(Validation(
            time.time(), source, label, sha, report.ok if report else None,
            len(report.errors) if report else 0, len(report.warnings) if report else 0,
            findings, seconds, problem))
