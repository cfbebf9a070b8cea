"""The worker forked by the console script before it loads anything (launcher.main).

A worker spawned as `python -m gitops_gen.checks.worker` (isolated.start_early) starts a second
interpreter, and its parent first loads the code that spawns it: together about a tenth of a
`validate` of a small repository. The console script's process, right after the interpreter
started, has loaded nothing of ours and runs one thread: a fork there costs a millisecond, and
the child loads the checks while the parent loads click. The child is the same worker
(worker.main): its own session, a private temporary directory as TMPDIR, one request on stdin.

Nothing here but os and sys at import: the launcher's import of this module is on the way of
every command it starts a worker for. isolated adopts the forked worker when it is imported
(take); one never adopted (the command failed first) is stopped at exit, its directory removed.
"""

# os.path rather than pathlib, as in the launcher: this runs before anything else is loaded.
# ruff: noqa: PTH100, PTH102, PTH103, PTH118, PTH208

from __future__ import annotations

import os
import sys
from typing import NamedTuple

SCRATCH_PREFIX = "gitops-gen-work-"


class Forked(NamedTuple):
    """A forked worker: its pid, the parent's ends of its pipes, its TMPDIR, and the
    environment it was forked with (TMPDIR included)."""

    pid: int
    stdin: int
    stdout: int
    stderr: int
    scratch: str
    environ: dict[str, str]


_forked: Forked | None = None


def _single_threaded() -> bool:
    """Whether this process runs one thread, so that a fork is safe (Linux's /proc only: where
    it cannot be told, the worker is spawned instead)."""
    try:
        return len(os.listdir("/proc/self/task")) == 1
    except OSError:
        return False


def _scratch() -> str | None:
    """A new private directory under the temporary directory tempfile would pick first."""
    base = next((os.environ[v] for v in ("TMPDIR", "TEMP", "TMP") if os.environ.get(v)), "/tmp")
    path = os.path.join(os.path.abspath(base), SCRATCH_PREFIX + os.urandom(6).hex())
    try:
        os.mkdir(path, 0o700)
    except OSError:
        return None
    return path


def fork_worker() -> bool:
    """Fork the worker now, when it is safe; whether it was forked (if not, isolated spawns one
    when a validation needs it)."""
    global _forked
    if _forked is not None or not hasattr(os, "fork") or not _single_threaded():
        return False
    scratch = _scratch()
    if scratch is None:
        return False
    environ = {**os.environ, "TMPDIR": scratch}
    pipes = [os.pipe() for _ in range(3)]  # stdin, stdout, stderr: (read end, write end)
    pid = os.fork()
    if pid == 0:
        _be_the_worker(pipes, scratch)
    for n, (read, write) in enumerate(pipes):
        os.close(read if n == 0 else write)
    _forked = Forked(pid, pipes[0][1], pipes[1][0], pipes[2][0], scratch, environ)
    import atexit

    atexit.register(_abandon)
    return True


def _be_the_worker(pipes: list[tuple[int, int]], scratch: str) -> None:
    """The child's whole life: the worker on the pipes, then an exit that runs none of the
    parent's exit handlers."""
    code = 70
    try:
        os.setsid()  # a terminal's Ctrl-C reaches the parent, which stops it
        for fd, end in ((0, pipes[0][0]), (1, pipes[1][1]), (2, pipes[2][1])):
            os.dup2(end, fd)
        for read, write in pipes:
            os.close(read)
            os.close(write)
        os.environ["TMPDIR"] = scratch
        from . import worker

        code = worker.main([])
        sys.stdout.flush()
    except BaseException:  # noqa: BLE001 - its parent reads stderr to explain the end
        import traceback

        traceback.print_exc()
        sys.stderr.flush()
    finally:
        os._exit(code)


def take() -> Forked | None:
    """The forked worker, once: from now on the taker stops it and removes its directory."""
    global _forked
    forked, _forked = _forked, None
    return forked


def _abandon() -> None:
    """At exit, a forked worker nobody took: stop it, remove its directory."""
    forked = take()
    if forked is None:
        return
    import shutil
    import signal

    for fd in (forked.stdin, forked.stdout, forked.stderr):
        os.close(fd)
    try:
        os.kill(forked.pid, signal.SIGKILL)
    except OSError:
        pass
    try:
        os.waitpid(forked.pid, 0)
    except ChildProcessError:
        pass
    shutil.rmtree(forked.scratch, ignore_errors=True)
