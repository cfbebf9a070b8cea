"""The service's kept reports (an LRU bounded in entries and bytes) and its single flights."""

from __future__ import annotations

import threading

import anyio
import anyio.to_thread

from gitops_gen import __version__
from gitops_gen.checks import isolated
from gitops_gen.checks.findings import Finding, Report
from gitops_gen.service import reportcache
from gitops_gen.service.reportcache import Abandoned, Answer, Flights, ReportCache


def report(n: int, *, rule: str = "values-schema") -> Report:
    """A report whose JSON grows with n."""
    return Report([Finding(rule, "error", "dev", "overlays/dev/values.yaml", i + 1, "x" * 50)
                   for i in range(n)], ["dev"])


def test_a_key_holds_everything_a_report_depends_on() -> None:
    k = reportcache.key("a" * 40, ["dev", "prod"], "1.30")
    assert (k.sha, k.version, k.environments, k.kube_version) == (
        "a" * 40, __version__, ("dev", "prod"), "1.30")
    assert reportcache.key("a" * 40, []) == reportcache.key("a" * 40, None)
    assert len({k, reportcache.key("a" * 40, ["prod", "dev"], "1.30"),
                reportcache.key("a" * 40, ["dev", "prod"]), reportcache.key("b" * 40)}) == 4


def test_the_answer_is_the_report_as_json() -> None:
    answer = Answer.of(report(2))
    assert (answer.ok, answer.errors, answer.warnings) == (False, 2, 0)
    assert answer.body.startswith(b'{"ok":false,"findings":[{')


def test_the_least_recently_used_goes_first_past_the_count() -> None:
    cache = ReportCache(entries=2)
    a, b, c = (reportcache.key(s * 40) for s in "abc")
    cache.put(a, report(1))
    cache.put(b, report(1))
    assert cache.get(a) is not None  # a is now the most recently used
    cache.put(c, report(1))
    assert (cache.get(a) is not None, cache.get(b), cache.get(c) is not None) == (True, None,
                                                                                  True)
    assert len(cache) == 2 and cache.bytes == 2 * len(Answer.of(report(1)).body)


def test_the_bytes_are_bounded_too() -> None:
    size = len(Answer.of(report(10)).body)
    cache = ReportCache(entries=100, max_bytes=2 * size)
    keys = [reportcache.key(s * 40) for s in "abc"]
    for k in keys:
        cache.put(k, report(10))
    assert [cache.get(k) is not None for k in keys] == [False, True, True]
    assert cache.bytes == 2 * size
    huge = reportcache.key("d" * 40)
    assert cache.put(huge, report(40)).errors == 40  # answered, but larger than all: not kept
    assert cache.get(huge) is None and len(cache) == 2


def test_a_report_a_limit_cut_short_is_not_kept_and_none_at_all_with_zero_entries() -> None:
    cache = ReportCache()
    k = reportcache.key("a" * 40)
    cache.put(k, report(1, rule=isolated.RULE))
    assert cache.get(k) is None and cache.bytes == 0
    off = ReportCache(entries=0)
    off.put(k, report(1))
    assert off.get(k) is None


def test_one_run_per_key_and_its_result_is_everyones() -> None:
    flights: Flights[str, int] = Flights()
    started, release = threading.Event(), threading.Event()
    runs: list[str] = []

    def slow(key: str) -> int:
        runs.append(key)
        started.set()
        assert release.wait(10)
        return len(runs)

    async def main() -> list[tuple[int, bool]]:
        results: list[tuple[int, bool]] = []

        async def ask(key: str) -> None:
            results.append(await flights.run(
                key, lambda: anyio.to_thread.run_sync(slow, key), 10))

        async with anyio.create_task_group() as tasks:
            tasks.start_soon(ask, "a")
            await anyio.to_thread.run_sync(started.wait, 10)
            for _ in range(2):
                tasks.start_soon(ask, "a")  # while a's run is under way
            await anyio.wait_all_tasks_blocked()
            assert len(flights) == 1
            release.set()
        assert len(flights) == 0
        results.append(await flights.run("a", lambda: anyio.to_thread.run_sync(slow, "a"), 10))
        return results

    assert anyio.run(main) == [(1, False), (1, True), (1, True), (2, False)]
    assert runs == ["a", "a"]  # once while three asked, once more after it ended


def test_a_failure_reaches_every_waiter_and_is_not_kept() -> None:
    flights: Flights[str, int] = Flights()
    calls: list[int] = []

    async def main() -> list[object]:
        gate = anyio.Event()
        outcomes: list[object] = []

        async def failing() -> int:
            calls.append(1)
            await gate.wait()
            raise ValueError("the worker crashed")

        async def ask() -> None:
            try:
                outcomes.append(await flights.run("a", failing, 10))
            except ValueError as exc:
                outcomes.append(str(exc))

        async with anyio.create_task_group() as tasks:
            for _ in range(3):
                tasks.start_soon(ask)
            await anyio.wait_all_tasks_blocked()
            gate.set()
        return outcomes

    assert anyio.run(main) == ["the worker crashed"] * 3
    assert calls == [1]
    assert len(flights) == 0


def test_a_waiter_waits_a_bounded_time_and_a_cancelled_run_is_abandoned() -> None:
    flights: Flights[str, int] = Flights()

    async def forever() -> int:
        await anyio.sleep_forever()
        return 0

    async def main() -> list[str]:
        seen: list[str] = []
        leader = anyio.CancelScope()

        async def lead() -> None:
            with leader:
                await flights.run("a", forever, 10)

        async def wait(seconds: float) -> None:
            try:
                await flights.run("a", forever, seconds)
            except TimeoutError:
                seen.append("timeout")
            except Abandoned as exc:
                seen.append(f"abandoned: {exc}")

        async with anyio.create_task_group() as tasks:
            tasks.start_soon(lead)
            await anyio.wait_all_tasks_blocked()
            await wait(0.01)
            tasks.start_soon(wait, 10)
            await anyio.wait_all_tasks_blocked()
            leader.cancel()
        assert len(flights) == 0
        return seen

    assert anyio.run(main) == [
        "timeout", "abandoned: the validation this request waited for was cancelled"]


def test_serve_keeps_as_many_reports_by_default_as_the_cache() -> None:
    from gitops_gen.commands import serve

    assert serve.REPORT_CACHE_DEFAULT == reportcache.DEFAULT_ENTRIES
