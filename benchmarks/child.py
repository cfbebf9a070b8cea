"""Timing a command as a user runs it: a fresh child process, its wall time and peak RSS."""

from __future__ import annotations

import os
import shlex
import signal
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

TIMEOUT = 600.0  # seconds, per child run


@dataclass(frozen=True)
class ChildRun:
    seconds: float
    max_rss_mb: float
    exit_code: int
    stdout: str
    stderr: str


# A child's ru_maxrss on Linux starts at the resident size of the process it was spawned from
# (exec records the old address space's high-water mark), so children spawned straight from
# this process, which holds the schema benchmark, would all report at least its size. A small
# launcher spawns and reaps the measured child and reports its wall time, exit code and ru_maxrss
# from os.wait4; the launcher's own few MB are the floor of the figure.
_LAUNCHER = """
import os, sys, time
result, args = sys.argv[1], sys.argv[2:]
start = time.perf_counter()
pid = os.posix_spawn(args[0], args, os.environ)
_, status, usage = os.wait4(pid, 0)
seconds = time.perf_counter() - start
with open(result, "w") as fh:
    fh.write(f"{seconds} {os.waitstatus_to_exitcode(status)} {usage.ru_maxrss}")
"""


def run_child(args: Sequence[str], env: dict[str, str]) -> ChildRun:
    """Run args (args[0] an absolute path) to completion: wall time, exit code, peak RSS."""
    with tempfile.TemporaryDirectory(prefix="gitops-gen-child-") as tmp:
        result, out, err = (Path(tmp) / name for name in ("result", "stdout", "stderr"))
        with out.open("wb") as stdout, err.open("wb") as stderr:
            launcher = subprocess.Popen(
                [sys.executable, "-I", "-S", "-c", _LAUNCHER, str(result), *args],
                stdin=subprocess.DEVNULL, stdout=stdout, stderr=stderr, env=env,
                start_new_session=True)
            try:
                launcher.wait(timeout=TIMEOUT)
            except subprocess.TimeoutExpired:
                os.killpg(launcher.pid, signal.SIGKILL)
                launcher.wait()
                raise RuntimeError(f"{shlex.join(args)} ran over {TIMEOUT:.0f} s") from None
        if launcher.returncode != 0 or not result.is_file():
            raise RuntimeError(f"could not run {shlex.join(args)}: {err.read_text()[-2000:]}")
        seconds, code, rss = result.read_text().split()
        rss_kb = int(rss) / (1024 if sys.platform == "darwin" else 1)  # bytes on macOS
        return ChildRun(float(seconds), rss_kb / 1024, int(code),
                        out.read_text(errors="replace"), err.read_text(errors="replace"))


def checked(args: Sequence[str], env: dict[str, str], ok: Sequence[int] = (0,)) -> ChildRun:
    """run_child, refusing an exit code not in ok (a benchmark of a failure measures nothing)."""
    run = run_child(args, env)
    if run.exit_code not in ok:
        raise RuntimeError(f"{shlex.join(args)} exited {run.exit_code}: {run.stderr[-2000:]}")
    return run


def cli(*args: str, flags: Sequence[str] = ()) -> list[str]:
    """The installed CLI, as `gitops-gen` runs it; flags go to the interpreter."""
    return [sys.executable, *flags, "-m", "gitops_gen", *args]


def console_script() -> str:
    """The `gitops-gen` console script beside this interpreter (what a user types)."""
    script = Path(sys.executable).with_name("gitops-gen")
    if not script.is_file():
        raise RuntimeError(f"{script} not found: install the project (make .venv)")
    return str(script)


def summary(runs: Sequence[ChildRun]) -> dict[str, float]:
    times = [r.seconds for r in runs]
    return {"best": min(times), "median": statistics.median(times),
            "max_rss_mb": max(r.max_rss_mb for r in runs)}


def verdict(ok: bool) -> str:
    return "met" if ok else "NOT met"
