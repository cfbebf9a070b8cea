"""Validation and rendering in a worker process that a time limit, a memory limit, SIGTERM or
Ctrl-C can end at any moment.

The Helm SDK runs Go code inside the process that calls it: no Python signal handler or
timeout runs while a template loops, and a Go allocation is not a MemoryError. So the commands
and the service never call validate_repo() or render_environment() themselves: they ask a
worker (checks/worker.py) under RunLimits, read what it reports as it goes, and stop it (SIGTERM,
then SIGKILL) when an environment or the whole validation passes its time, when it runs out of
memory, or when this process is told to stop. What a stopped validation had found is kept, and
the limit it passed is a finding of its own (rule resource-limit); the process itself never
hangs. Its temporary files live in a directory this process removes, whatever the worker did.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import shutil
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .. import errors
from ..errors import GitopsGenError, InputError, MissingError, RenderError
from ..repo import layout, limits, proc
from ..repo.limits import RunLimits
from . import prestart
from .findings import Finding, Report
from .rules import Rule

if TYPE_CHECKING:  # the Helm SDK and the engine load in the worker, not in this process
    from ..model import chart

WORKER = (sys.executable, "-m", "gitops_gen.checks.worker")
HELM_FIRST = "--load-helm"  # the worker's flag: load the Helm SDK (its Go runtime) while idle
RULE = "resource-limit"
RULES = (Rule(RULE, "rendering and checking an environment stay within the worker's time and "
                   "memory limits"),)
MAX_OUTPUT = 256 * limits.MIB
# How a worker that hit its data-segment limit says so on its way out. The last one is the Go
# runtime's (the Helm SDK): a new OS thread's stack is a private writable mapping, which
# RLIMIT_DATA counts, so at the limit glibc's pthread_create fails (nptl/pthread_create.c turns
# allocate_stack's ENOMEM into EAGAIN), Go retries EAGAIN and then aborts with this line
# (src/runtime/cgo/gcc_libinit.c, _cgo_try_pthread_create; gcc_linux_amd64.c).
_MEMORY_SIGNS = ("out of memory", "MemoryError", "memory allocation", "cannot allocate memory",
                 "pthread_create failed: Resource temporarily unavailable")


# Not of the error family on purpose: a bug, which the CLI shows as an internal error (exit 3).
class WorkerFailed(Exception):
    """The worker ended in a way no input should cause: a bug, shown as an internal error."""


@dataclass
class _Run:
    """What a worker reported so far."""

    limits: RunLimits
    envs: list[str] | None = None
    running: dict[str, float] = field(default_factory=dict)  # env -> when it started
    done: set[str] = field(default_factory=set)
    findings: list[Finding] = field(default_factory=list)
    final: dict[str, Any] | None = None


def validate(root: Path, envs: list[str] | None = None, kube_version: str | None = None,
             run_limits: RunLimits | None = None) -> Report:
    """validate_repo() in a worker; a limit it passes is a finding, never a hang."""
    run_limits = run_limits or RunLimits.from_env(os.environ)
    request = {"op": "validate", "root": str(root), "envs": envs, "kube_version": kube_version}
    state = _talk(request, run_limits)
    final = state.final or {}
    if "report" in final:
        report = Report.from_dict(final["report"])
        report.checked_rules = list(final["report"].get("checked_rules", []))
        return report
    return Report(findings=state.findings, environments=state.envs or list(envs or []))


def render(root: Path, env: str, *, decrypt: bool = False,
           run_limits: RunLimits | None = None) -> list[chart.Rendered]:
    """render_environment() in a worker; a limit it passes is a RenderError naming it."""
    from ..model.chart import Rendered

    run_limits = run_limits or RunLimits.from_env(os.environ)
    request = {"op": "render", "root": str(root), "env": env, "decrypt": decrypt}
    state = _talk(request, run_limits, single=env)
    final = state.final or {}
    if "rendered" not in final:
        raise RenderError(env, state.findings or [_finding(None, "stopped")])
    return [Rendered(str(r["source"]), int(r["index"]), dict(r["obj"]))
            for r in final["rendered"]]


class _Scratch:
    """A worker's private temporary directory (its TMPDIR), removed by cleanup()."""

    def __init__(self, name: str | None = None) -> None:
        self.name = name or tempfile.mkdtemp(prefix=prestart.SCRATCH_PREFIX)

    def cleanup(self) -> None:
        shutil.rmtree(self.name, ignore_errors=True)


class _Early:
    """A worker started before its request was known, with its scratch directory and the
    environment it was started with: spawned, or forked by the console script (prestart)."""

    def __init__(self, load_helm: bool = False, forked: prestart.Forked | None = None) -> None:
        self.scratch = _Scratch(forked.scratch if forked else None)
        self.env = forked.environ if forked else {**os.environ, "TMPDIR": self.scratch.name}
        self._loaded = False
        try:
            self.worker = proc.Worker(
                (*WORKER, HELM_FIRST) if load_helm else WORKER, None, env=self.env,
                max_output=MAX_OUTPUT,
                forked=proc.Forked(forked.pid, forked.stdin, forked.stdout, forked.stderr)
                if forked else None)
        except BaseException:
            self.scratch.cleanup()
            raise

    def loaded(self) -> bool:
        """Whether the worker has loaded the checks and waits for its request (it said so)."""
        if not self._loaded:
            line = self.worker.next_line(0.001)
            if line:
                self._loaded = b'"loaded"' in line  # its first line, never anything else
        return self._loaded

    def usable(self) -> bool:
        """Alive, and started with the environment a worker would be started with now."""
        return self.worker.process.poll() is None and \
            self.env == {**os.environ, "TMPDIR": self.scratch.name}

    def close(self) -> None:
        self.worker.close()
        self.scratch.cleanup()


class _Spares:
    """Workers started ahead of their requests. Each still takes exactly one request, under
    that request's limits (the worker sets them once it has read it), and ends with it: a
    spare only moves the worker's start-up (the interpreter, loading the checks) out of the
    request's time."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._ready: list[_Early] = []
        self._starting = 0  # being started, by any thread: counted as ready
        self._keep = 0
        self._load_helm = False
        self._closing = False
        self._ending: list[threading.Thread] = []  # threads stopping workers that answered

    def start(self, count: int = 1) -> None:
        """Start workers until count are ready; errors are left to the calls that need one."""
        while True:
            with self._lock:
                if self._closing or len(self._ready) + self._starting >= count:
                    return
                self._starting += 1
            try:
                early = _Early(self._load_helm)
            except (OSError, GitopsGenError):
                return  # the next call starts its own worker, and says what fails
            finally:
                with self._lock:
                    self._starting -= 1
            with self._lock:
                if not self._closing:
                    self._ready.append(early)
                    continue
            early.close()
            return

    def keep(self, count: int, load_helm: bool = False) -> None:
        """Keep count workers ready from now on: each taken one is replaced in the
        background. keep(0) stops the ready ones."""
        with self._lock:
            self._keep = count
            self._load_helm = load_helm
            extra = self._ready[count:]
            del self._ready[count:]
        for early in extra:
            early.close()
        self.start(count)

    def adopt(self) -> None:
        """Count the worker the console script forked (prestart) as ready."""
        forked = prestart.take()
        if forked is not None:
            early = _Early(forked=forked)
            with self._lock:
                self._ready.append(early)

    def take(self) -> _Early | None:
        """A ready worker that can take a request now, or None. Its replacement starts once
        the request has ended (refill): a worker's start-up is a core's worth of work for
        a third of a second, which would slow the request it waits beside."""
        taken = None
        stale: list[_Early] = []
        with self._lock:
            while self._ready and taken is None:
                early = self._ready.pop(0)
                if early.usable():
                    taken = early
                else:
                    stale.append(early)
        for early in stale:
            early.close()
        return taken

    def refill(self) -> None:
        """Start, in the background, the workers that keep() asks for and that are missing."""
        with self._lock:
            keep = self._keep
        if keep:
            threading.Thread(target=self.start, args=(keep,), daemon=True,
                             name="worker-spare").start()

    def loaded(self) -> int:
        """How many ready workers are alive with the checks loaded (asked under the lock: a
        worker taken meanwhile is read by its request's thread alone)."""
        with self._lock:
            return sum(1 for early in self._ready
                       if early.loaded() and early.worker.process.poll() is None)

    def finish(self, early: _Early, answered: Callable[[], bool]) -> None:
        """Stop a taken worker and remove its directory. One that answered ends by itself: while
        workers are kept (the service), its request need not wait for that, and a thread does it
        (close() waits for those threads)."""
        with self._lock:
            later = self._keep > 0 and not self._closing and answered()
            if later:
                thread = threading.Thread(target=early.close, daemon=True, name="worker-end")
                thread.start()
                self._ending = [t for t in self._ending if t.is_alive()] + [thread]
        if not later:
            early.close()

    def close(self) -> None:
        with self._lock:
            self._closing = True
            ready, self._ready = self._ready, []
            ending, self._ending = self._ending, []
        for early in ready:
            early.close()
        for thread in ending:
            thread.join(10)


_spares = _Spares()
_spares.adopt()  # the worker the console script forked, if it did
atexit.register(lambda: _spares.close())  # the one in place at exit


def start_early() -> None:
    """Start the next validation's or render's worker now (the CLI, before it parses its
    command line): it loads the checks while this process loads the rest, and the next
    validate() or render() sends it its request. One that no call takes (the command failed
    first, or the environment changed meanwhile) is stopped when this process exits."""
    _spares.start(1)


def keep_spares(count: int, *, load_helm: bool = False) -> None:
    """Keep count workers started ahead of their requests (the service); 0 stops them. With
    load_helm, each also loads the Helm SDK while it waits, so that its Go runtime has started
    when a render is needed (about 60 MiB more per worker)."""
    _spares.keep(count, load_helm)


def close_spares() -> None:
    """Stop the workers started ahead and start no more (a service that stops)."""
    _spares.close()


def spares_loaded() -> int:
    """How many workers started ahead wait for a request with the checks loaded."""
    return _spares.loaded()


def _talk(request: dict[str, Any], run_limits: RunLimits, single: str | None = None) -> _Run:
    state = _Run(run_limits, envs=[single] if single else None)
    if single:
        state.running[single] = time.monotonic()
    start = time.monotonic()
    payload = json.dumps({**request, "limits": run_limits.to_dict()}).encode()
    with contextlib.ExitStack() as stack:
        stack.callback(_spares.refill)  # last, once this request's worker has ended
        early = _spares.take()
        if early is not None:
            stack.callback(_spares.finish, early, lambda: _answered(state))
            try:
                early.worker.send(payload)
            except OSError:  # it ended since it was taken (the OOM killer, a stop): no matter
                early = None
        if early is not None:
            worker = early.worker
        else:
            scratch = stack.enter_context(
                tempfile.TemporaryDirectory(prefix=prestart.SCRATCH_PREFIX))
            env = {**os.environ, "TMPDIR": scratch}
            worker = stack.enter_context(
                proc.Worker(WORKER, payload, env=env, max_output=MAX_OUTPUT))
        while state.final is None:
            now = time.monotonic()
            total_end = start + run_limits.total_seconds
            env_ends = {e: t + run_limits.env_seconds for e, t in state.running.items()}
            deadline = min([total_end, *env_ends.values()])
            line = worker.next_line(deadline - now)
            if line is None:  # a deadline passed: which one?
                late = [e for e, end in env_ends.items() if end <= time.monotonic()]
                _stopped(state, late, "time" if late else "total")
                break
            if line == b"":
                _ended(state, worker)
                break
            _receive(state, line)
    if state.final is not None and "error" in state.final:
        raise _rebuild(state.final["error"])
    if state.final is not None and "internal" in state.final:
        raise WorkerFailed(str(state.final["internal"]))
    return state


def _answered(state: _Run) -> bool:
    """Whether the worker gave its last answer (a report or objects): it is ending by itself."""
    return state.final is not None and ("report" in state.final or "rendered" in state.final)


def _receive(state: _Run, line: bytes) -> None:
    try:
        message = json.loads(line)
    except ValueError as exc:
        raise WorkerFailed(f"unreadable line from the worker: {line[:200]!r}") from exc
    if "loaded" in message:
        pass  # the worker is ready for its request (a spare's readiness: _Early.loaded)
    elif "environments" in message:
        state.envs = [str(e) for e in message["environments"]]
    elif "start" in message:
        state.running[str(message["start"])] = time.monotonic()
    elif "done" in message:
        env = message["done"]
        state.running.pop(env, None)
        if env is not None:
            state.done.add(str(env))
        state.findings.extend(Finding.from_dict(f) for f in message["findings"])
    elif "limit" in message:
        _stopped(state, list(state.running), "memory")
    else:
        state.final = message


def _ended(state: _Run, worker: proc.Worker) -> None:
    """The worker closed its output before its final message: how did it end?"""
    code = worker.wait(5.0)
    if proc.is_stopping():
        raise errors.ToolError("the work was stopped: the service is stopping",
                               "retry once it is back")
    stderr = worker.stderr.decode(errors="replace")
    if code is not None and -code in (signal.SIGKILL, signal.SIGXCPU):  # the OOM killer, CPU
        _stopped(state, list(state.running), "memory" if -code == signal.SIGKILL else "total")
    elif any(sign in stderr for sign in _MEMORY_SIGNS):
        _stopped(state, list(state.running), "memory")
    else:
        last = [ln for ln in stderr.splitlines() if ln.strip()][-1:] or ["no output"]
        raise WorkerFailed(f"the validation worker ended with exit code {code}: {last[0][:300]}")


def _stopped(state: _Run, culprits: list[str], why: str) -> None:
    """The findings a stop leaves: the limit passed (by the culprits, or by the whole
    validation), and every environment it left unfinished or unchecked."""
    state.final = {"stopped": why}
    if why == "total" or not culprits:
        state.findings.append(_finding(None, why, state.limits))
    for env in culprits if why != "total" else []:
        state.findings.append(_finding(env, why, state.limits))
    for env in state.envs or []:
        if env in state.done or (env in culprits and why != "total"):
            continue
        doing = "was stopped before it finished" if env in state.running else "was not checked"
        state.findings.append(Finding(
            RULE, "error", env, None, None,
            f"environment {env} {doing}: the validation stopped at a limit (see the other "
            "resource-limit finding)"))


def _finding(env: str | None, why: str, run_limits: RunLimits | None = None) -> Finding:
    lim = run_limits or RunLimits()
    what = f"checking environment {env} (its Helm rendering included)" if env \
        else "the validation"
    if why == "time":
        text = (f"{what} did not finish within {lim.env_seconds:g} s and was stopped; a "
                "template that loops or recurses too much does this: fix the chart or the "
                "values")
    elif why == "total":
        text = (f"{what} did not finish within {lim.total_seconds:g} s and was stopped; fix "
                "what makes it slow (see the environments' findings)")
    elif why == "memory":
        text = (f"{what} needed more than {lim.memory_mb} MiB of memory and was stopped; a "
                "template or value that expands too much does this: fix the chart or the values")
    else:
        text = f"{what} was stopped before it finished"
    return Finding(RULE, "error", env, layout.values_path(env) if env else None, None, text)


_ERROR_CLASSES: Mapping[str, type[GitopsGenError]] = {
    cls.__name__: cls for cls in (errors.InputError, errors.MissingError, errors.ToolError,
                                  errors.NoDecryptionKey, errors.ConflictError)
}


def _rebuild(data: Mapping[str, Any]) -> GitopsGenError:
    """The worker's GitopsGenError, as the nearest class this process knows."""
    findings = data.get("findings")
    if findings:
        return RenderError(str(data.get("env") or ""), [Finding.from_dict(f) for f in findings])
    cls = _ERROR_CLASSES.get(str(data.get("class")))
    if cls is None:
        cls = InputError if data.get("exit_code") == 2 else MissingError
    error = cls(str(data.get("message", "")), str(data.get("fix", "")))
    error.exit_code = int(data.get("exit_code", error.exit_code))
    return error
