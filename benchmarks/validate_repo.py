"""`gitops-gen validate` as a user runs it: the CLI in a fresh process, per repository size.

Repositories with 3 and with 50 environments are built once per run in a temp dir (init, then
env add in-process: real sops encryption to a throw-away age key). HOME, git identity, the age
key, the schema cache and the bytecode cache all live in that temp dir, so nothing touches the
user's configuration. Every timed figure is the wall time of a child process from start to
exit, with its peak RSS from os.wait4 (see run_child); the baseline is `gitops-gen --version`
(interpreter start and imports) measured in the same rounds, and the cost of an environment is
what a validate run takes beyond that baseline, divided by the number of environments.

Timed runs find the bytecode and the Kubernetes schema cache filled, as after a pip install and
a first validate; the first run (schema cache empty) and runs without bytecode are shown too.
"""

from __future__ import annotations

import json
import math
import os
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyrage

from gitops_gen.model import environments, scaffold

ENV_COUNTS = (3, 50)
RUNS = 5
NAMED_ENVS = ("dev", "staging", "prod")
REPO_URL = "https://github.com/acme/todo-gitops.git"
TARGET_SECONDS = 1.0  # median wall time of validate on the smaller repository
TARGET_LINEARITY = 1.5  # per-environment cost, larger repository over smaller, at most
TARGET_RSS_MB = 300.0
SERVER_MODULES = ("fastapi", "uvicorn", "starlette")
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


def env_names(count: int) -> list[str]:
    extra = [f"team-{n:02d}" for n in range(1, count - len(NAMED_ENVS) + 1)]
    return [*NAMED_ENVS, *extra][:count]


@contextmanager
def isolated(tmp: Path) -> Iterator[dict[str, str]]:
    """HOME, git identity, age key and caches under tmp for this process; yields the
    environment for the children (bytecode cached under tmp too). Restores os.environ."""
    home = tmp / "home"
    home.mkdir()
    gitconfig = home / ".gitconfig"
    gitconfig.write_text("[user]\n\tname = Bench\n\temail = bench@example.invalid\n"
                         "[init]\n\tdefaultBranch = main\n[commit]\n\tgpgsign = false\n")
    key = home / "age" / "keys.txt"
    key.parent.mkdir()
    key.write_text(f"# throw-away benchmark key\n{pyrage.x25519.Identity.generate()}\n")
    key.chmod(0o600)
    updates = {
        "HOME": str(home), "XDG_CONFIG_HOME": str(home / ".config"),
        "XDG_CACHE_HOME": str(home / ".cache"), "GIT_CONFIG_GLOBAL": str(gitconfig),
        "GIT_CONFIG_NOSYSTEM": "1", "GIT_AUTHOR_NAME": "Bench", "GIT_COMMITTER_NAME": "Bench",
        "GIT_AUTHOR_EMAIL": "bench@example.invalid",
        "GIT_COMMITTER_EMAIL": "bench@example.invalid",
        "SOPS_AGE_KEY_FILE": str(key), "GEMINI_API_KEY": "bench-not-a-real-key",
    }
    removed = ("SOPS_AGE_KEY", "SOPS_AGE_RECIPIENTS", "GIT_DIR", "GIT_WORK_TREE")
    saved = {k: os.environ.get(k) for k in (*updates, *removed)}
    os.environ.update(updates)
    for k in removed:
        os.environ.pop(k, None)
    try:
        child = dict(os.environ, PYTHONPYCACHEPREFIX=str(tmp / "pycache"))
        child.pop("PYTHONDONTWRITEBYTECODE", None)
        yield child
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def add_envs(root: Path, names: Sequence[str]) -> None:
    """env add for each name, in-process, committed (the next add refuses uncommitted files)."""
    for name in names:
        plan = environments.plan_add(root, environments.AddRequest(name=name))
        environments.apply(root, name, plan.changes, f"env add {name}", check=None)


def build_repos(tmp: Path, counts: Sequence[int]) -> dict[int, Path]:
    """One repository per count, each grown from a copy of the previous one."""
    repos: dict[int, Path] = {}
    names: list[str] = []
    for count in sorted(counts):
        root = tmp / f"repo-{count}-envs"
        if repos:
            shutil.copytree(repos[max(repos)], root, symlinks=True)
        else:
            scaffold.init(root, REPO_URL)
        add_envs(root, env_names(count)[len(names):])
        names = env_names(count)
        repos[count] = root
    return repos


def _cli(*args: str, flags: Sequence[str] = ()) -> list[str]:
    """The installed CLI, as `gitops-gen` runs it; flags go to the interpreter."""
    return [sys.executable, *flags, "-m", "gitops_gen", *args]


def _validate(root: Path, env: dict[str, str], count: int, flags: Sequence[str] = ()) -> ChildRun:
    run = run_child(_cli("--repo", str(root), "validate", "--format", "json", flags=flags), env)
    if run.exit_code not in (0, 1):
        raise RuntimeError(f"validate of {root} exited {run.exit_code}: {run.stderr[-2000:]}")
    report = json.loads(run.stdout)
    if len(report["environments"]) != count:
        raise RuntimeError(f"validate of {root} checked {report['environments']}, not {count}")
    return run


def _summary(runs: Sequence[ChildRun]) -> dict[str, float]:
    times = [r.seconds for r in runs]
    return {"best": min(times), "median": statistics.median(times),
            "max_rss_mb": max(r.max_rss_mb for r in runs)}


def _imported(importtime: str) -> set[str]:
    return {line.rsplit("|", 1)[-1].strip() for line in importtime.splitlines()
            if line.startswith("import time:") and "|" in line}


def run(env_counts: Sequence[int] = ENV_COUNTS, runs: int = RUNS) -> dict[str, Any]:
    """Build the repositories, time the CLI; return the figures and the targets' verdicts."""
    small, large = min(env_counts), max(env_counts)
    with tempfile.TemporaryDirectory(prefix="gitops-gen-bench-") as tmp_name:
        tmp = Path(tmp_name)
        with isolated(tmp) as env:
            start = time.perf_counter()
            repos = build_repos(tmp, env_counts)
            build_seconds = time.perf_counter() - start
            # Compile the bytecode (into tmp) aside; then a first run with the schema cache empty.
            _validate(repos[small], dict(env, XDG_CACHE_HOME=str(tmp / "warm-up-cache")), small)
            first = _validate(repos[small], env, small)
            traced = _validate(repos[small], env, small, ("-X", "importtime"))
            no_pyc = dict(env, PYTHONDONTWRITEBYTECODE="1")
            no_pyc.pop("PYTHONPYCACHEPREFIX")
            baseline: list[ChildRun] = []
            timed: dict[int, list[ChildRun]] = {n: [] for n in env_counts}
            cold_bytecode: list[ChildRun] = []
            for _ in range(runs):  # interleaved, so a busy moment hits every kind alike
                version = run_child(_cli("--version"), env)
                if version.exit_code != 0:
                    raise RuntimeError(f"gitops-gen --version exited {version.exit_code}")
                baseline.append(version)
                for n in env_counts:
                    timed[n].append(_validate(repos[n], env, n))
                cold_bytecode.append(_validate(repos[small], no_pyc, small))
    base = _summary(baseline)
    validate = {n: _summary(rs) for n, rs in timed.items()}
    for n, fig in validate.items():
        fig["per_env_seconds"] = max(fig["best"] - base["best"], 0.0) / n
        fig["over_baseline"] = fig["median"] / base["median"]
        fig["exit_code"] = timed[n][-1].exit_code
    small_cost = validate[small]["per_env_seconds"]
    per_env_ratio = validate[large]["per_env_seconds"] / small_cost if small_cost else math.inf
    no_bytecode = _summary(cold_bytecode)
    peak = max(first.max_rss_mb, no_bytecode["max_rss_mb"],
               *(fig["max_rss_mb"] for fig in validate.values()))
    servers = sorted(m for m in _imported(traced.stderr) if m.split(".")[0] in SERVER_MODULES)
    return {
        "environments": sorted(env_counts),
        "runs": runs,
        "build_seconds": build_seconds,
        "baseline": base,
        "validate": validate,
        "first_run": {"seconds": first.seconds, "max_rss_mb": first.max_rss_mb},
        "no_bytecode": no_bytecode,
        "per_env_ratio": per_env_ratio,
        "peak_rss_mb": peak,
        "server_modules_imported": servers,
        "targets": {"seconds": TARGET_SECONDS, "linearity": TARGET_LINEARITY,
                    "rss_mb": TARGET_RSS_MB},
        "targets_met": {
            "seconds": validate[small]["median"] < TARGET_SECONDS,
            "linear": per_env_ratio <= TARGET_LINEARITY,
            "rss": peak < TARGET_RSS_MB,
        },
    }


def verdict(ok: bool) -> str:
    return "met" if ok else "NOT met"


def ratio_text(value: float) -> str:
    return f"{value:.2f}x" if math.isfinite(value) else "n/a (no cost above the baseline)"


def _envs(n: int) -> str:
    return f"{n} env{'' if n == 1 else 's'}"


def format_figures(figures: dict[str, Any]) -> str:
    base, val, met = figures["baseline"], figures["validate"], figures["targets_met"]
    small, large = figures["environments"][0], figures["environments"][-1]
    lines = [
        f"gitops-gen validate: CLI in a fresh process, best / median of {figures['runs']} "
        f"(bytecode and schema cache warm; repos built in {figures['build_seconds']:.1f} s)",
        f"  {'':<26}{'best':>8}{'median':>9}{'per env':>10}{'peak RSS':>10}",
        f"  {'--version (baseline)':<26}{base['best']:>7.2f}s{base['median']:>8.2f}s"
        f"{'':>10}{base['max_rss_mb']:>7.0f} MB",
    ]
    for n in figures["environments"]:
        fig = val[n]
        lines.append(
            f"  {f'validate, {_envs(n)}':<26}{fig['best']:>7.2f}s{fig['median']:>8.2f}s"
            f"{fig['per_env_seconds'] * 1000:>7.1f} ms{fig['max_rss_mb']:>7.0f} MB"
            f"   ({fig['over_baseline']:.1f}x baseline, exit {fig['exit_code']})")
    first, cold = figures["first_run"], figures["no_bytecode"]
    servers = ", ".join(figures["server_modules_imported"]) or "none"
    lines += [
        f"  first run, {_envs(small)} (empty schema cache): {first['seconds']:.2f} s; "
        f"PYTHONDONTWRITEBYTECODE=1: median {cold['median']:.2f} s",
        f"  per-env cost, {large} over {small} envs: {ratio_text(figures['per_env_ratio'])}; "
        f"server modules imported: {servers}",
        f"  targets: {_envs(small)} < {TARGET_SECONDS:.0f} s (median) {verdict(met['seconds'])}; "
        f"linear (per-env ratio <= {TARGET_LINEARITY}) {verdict(met['linear'])}; "
        f"peak RSS < {TARGET_RSS_MB:.0f} MB {verdict(met['rss'])}",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    print(format_figures(run()))
