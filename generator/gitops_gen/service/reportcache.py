"""Validation reports kept by what they depend on, and one validation per key at a time.

A report depends on the commit's tree alone (named by its full sha), the tool's version and the
request's options (the environments asked for, the Kubernetes version): a key of those names
one report for good, so once kept it answers every later request with that key. ReportCache
keeps the answers most recently used, bounded in number and in bytes. Only complete reports
are kept: a validation that failed (an exception: a timeout of git, a worker that crashed, a
tool missing) leaves nothing behind, and a report a limit cut short (rule resource-limit) is
not kept either, so the next request validates again.

Flights runs one piece of work per key at a time: who asks for a key while its work runs waits
for that run's result, or its failure, instead of running it again; the wait is bounded.
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

import anyio

from .. import __version__
from ..checks import isolated
from ..checks.findings import Report

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")

DEFAULT_ENTRIES = 256
DEFAULT_BYTES = 64 * 1024 * 1024  # of JSON answers, all kept ones together


@dataclass(frozen=True)
class Key:
    """Everything a report depends on."""

    sha: str  # the commit's full sha
    version: str  # gitops-gen's
    environments: tuple[str, ...] | None  # as asked, in order; None: all of them
    kube_version: str | None


def key(sha: str, environments: Sequence[str] | None = None,
        kube_version: str | None = None) -> Key:
    return Key(sha, __version__, tuple(environments) if environments else None, kube_version)


@dataclass(frozen=True)
class Answer:
    """A report as the service answers it: its JSON, and what the logs and metrics need."""

    body: bytes
    ok: bool
    errors: int
    warnings: int

    @classmethod
    def of(cls, report: Report) -> Answer:
        # Rendered as FastAPI's JSONResponse renders report.to_dict(): the same bytes.
        body = json.dumps(report.to_dict(), ensure_ascii=False, allow_nan=False, indent=None,
                          separators=(",", ":")).encode()
        return cls(body, report.ok, len(report.errors), len(report.warnings))


def complete(report: Report) -> bool:
    """Whether the validation ran to its end: no limit stopped any of it."""
    return not any(f.rule == isolated.RULE for f in report.findings)


class ReportCache:
    """The answers of the `entries` keys used last, at most `max_bytes` of JSON in all (an
    answer larger than that is not kept). Safe to use from any thread."""

    def __init__(self, entries: int = DEFAULT_ENTRIES, max_bytes: int = DEFAULT_BYTES) -> None:
        self.entries = entries
        self.max_bytes = max_bytes
        self.bytes = 0
        self._kept: OrderedDict[Key, Answer] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._kept)

    def get(self, found: Key) -> Answer | None:
        with self._lock:
            answer = self._kept.get(found)
            if answer is not None:
                self._kept.move_to_end(found)
            return answer

    def put(self, at: Key, report: Report) -> Answer:
        """report's answer, kept under `at` when the report is complete and fits."""
        answer = Answer.of(report)
        size = len(answer.body)
        if not complete(report) or size > self.max_bytes or self.entries <= 0:
            return answer
        with self._lock:
            old = self._kept.pop(at, None)
            self.bytes -= len(old.body) if old else 0
            self._kept[at] = answer
            self.bytes += size
            while len(self._kept) > self.entries or self.bytes > self.max_bytes:
                _, dropped = self._kept.popitem(last=False)
                self.bytes -= len(dropped.body)
        return answer


# Between the service's requests only (a waiter gets a 503), never of the CLI, so not of the
# error family (errors.py).
class Abandoned(Exception):  # noqa: N818 - what happened, not an error of the caller's
    """The run a caller waited for was cancelled before it ended."""


@dataclass
class _Flight(Generic[V]):
    done: anyio.Event = field(default_factory=anyio.Event)
    value: V | None = None
    error: BaseException | None = None


class Flights(Generic[K, V]):
    """At most one run of work per key at a time, in one event loop."""

    def __init__(self) -> None:
        self._running: dict[K, _Flight[V]] = {}

    def __len__(self) -> int:
        return len(self._running)

    async def run(self, at: K, work: Callable[[], Awaitable[V]],
                  wait_seconds: float) -> tuple[V, bool]:
        """work's result for key `at`, and whether another caller's run gave it (joined).

        When a run for `at` is under way, its result (or its exception) is this call's too,
        after a wait of at most wait_seconds (then TimeoutError); a run that was cancelled is
        Abandoned to those who waited for it. Nothing is kept once the run ends."""
        flight = self._running.get(at)
        if flight is not None:
            with anyio.fail_after(wait_seconds):
                await flight.done.wait()
            if flight.error is not None:
                raise flight.error
            return flight.value, True  # type: ignore[return-value] # set when no error
        flight = _Flight()
        self._running[at] = flight
        try:
            flight.value = value = await work()
        except Exception as exc:
            flight.error = exc
            raise
        except BaseException:
            flight.error = Abandoned("the validation this request waited for was cancelled")
            raise
        finally:
            del self._running[at]
            flight.done.set()
        return value, False
