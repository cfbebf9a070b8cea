"""`gitops-gen validate` as a user runs it: the CLI in a fresh process, per repository size.

Repositories with 3 and with 50 environments are built once per run in a temp dir
(benchmarks.repos: init, env add in-process with real sops encryption to a throw-away age key,
then copies of one environment under new names). HOME, git identity, the age
key, the schema cache and the bytecode cache all live in that temp dir, so nothing touches the
user's configuration. Every timed figure is the wall time of a child process from start to
exit, with its peak RSS from os.wait4 (see run_child); the baseline is `gitops-gen --version`
(interpreter start and imports) measured in the same rounds, and the cost of an environment is
what a validate run takes beyond that baseline, divided by the number of environments.

Timed runs find the bytecode and the Kubernetes schema cache filled, as after a pip install and
a first validate; the first run (schema cache empty) and runs without bytecode are shown too.
In the same rounds, a child runs validate_repo() in-process (warm, after one untimed run, its
renders kept: model/rendercache.py) and reports the median per-environment time of
validate_repo() and of load_repo() (reading the files) alone; its peak RSS is the child's; a
second child does the same with the render cache off, so Helm renders every environment.
"""

from __future__ import annotations

import json
import math
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .child import ChildRun, cli, run_child, summary, verdict
from .repos import build_repo, isolated

ENV_COUNTS = (3, 50)
RUNS = 5
TARGET_SECONDS = 1.0  # median wall time of validate on the smaller repository
TARGET_LINEARITY = 1.5  # per-environment cost, larger repository over smaller, at most
TARGET_RSS_MB = 300.0
TARGET_IN_PROCESS_MS = 15.0  # validate_repo() per environment, warm, on the larger repository
SERVER_MODULES = ("fastapi", "uvicorn", "starlette")
IN_PROCESS_REPEATS = 3
_IN_PROCESS = """
import json, statistics, sys, time
from pathlib import Path
from gitops_gen.checks.repofiles import load_repo
from gitops_gen.checks.validate import validate_repo
root, repeats = Path(sys.argv[1]), int(sys.argv[2])
count = len(validate_repo(root).environments)  # untimed: imports, caches
checks, loads = [], []
for _ in range(repeats):
    start = time.perf_counter()
    validate_repo(root)
    checks.append(time.perf_counter() - start)
    start = time.perf_counter()
    load_repo(root)
    loads.append(time.perf_counter() - start)
print(json.dumps({"environments": count,
                  "validate_ms_per_env": statistics.median(checks) * 1000 / count,
                  "load_ms_per_env": statistics.median(loads) * 1000 / count}))
"""


def build_repos(tmp: Path, counts: Sequence[int]) -> dict[int, Path]:
    """One repository per count (repos.build_repo)."""
    return {count: build_repo(tmp / f"repo-{count}-envs", count) for count in sorted(counts)}


def _validate(root: Path, env: dict[str, str], count: int, flags: Sequence[str] = ()) -> ChildRun:
    run = run_child(cli("--repo", str(root), "validate", "--format", "json", flags=flags), env)
    if run.exit_code not in (0, 1):
        raise RuntimeError(f"validate of {root} exited {run.exit_code}: {run.stderr[-2000:]}")
    report = json.loads(run.stdout)
    if len(report["environments"]) != count:
        raise RuntimeError(f"validate of {root} checked {report['environments']}, not {count}")
    return run


def _in_process(root: Path, env: dict[str, str], count: int) -> dict[str, float]:
    """validate_repo() and load_repo() per environment in one warm child, and its peak RSS.
    Warm: its renders are kept (model/rendercache.py) unless env turns the cache off."""
    run = run_child([sys.executable, "-c", _IN_PROCESS, str(root), str(IN_PROCESS_REPEATS)],
                    env)
    if run.exit_code != 0:
        raise RuntimeError(f"in-process validate of {root} exited {run.exit_code}: "
                           f"{run.stderr[-2000:]}")
    figures = json.loads(run.stdout)
    if figures.pop("environments") != count:
        raise RuntimeError(f"in-process validate of {root} checked other than {count} envs")
    return {**figures, "max_rss_mb": run.max_rss_mb}


def _medians(runs: Sequence[dict[str, float]]) -> dict[str, float]:
    return {key: statistics.median(r[key] for r in runs) for key in runs[0]}


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
            in_process: dict[int, list[dict[str, float]]] = {n: [] for n in env_counts}
            uncached: dict[int, list[dict[str, float]]] = {n: [] for n in env_counts}
            no_cache_env = dict(env, GITOPS_GEN_RENDER_CACHE="0")
            for _ in range(runs):  # interleaved, so a busy moment hits every kind alike
                version = run_child(cli("--version"), env)
                if version.exit_code != 0:
                    raise RuntimeError(f"gitops-gen --version exited {version.exit_code}")
                baseline.append(version)
                for n in env_counts:
                    timed[n].append(_validate(repos[n], env, n))
                    in_process[n].append(_in_process(repos[n], env, n))
                    uncached[n].append(_in_process(repos[n], no_cache_env, n))
                cold_bytecode.append(_validate(repos[small], no_pyc, small))
    base = summary(baseline)
    validate = {n: summary(rs) for n, rs in timed.items()}
    for n, fig in validate.items():
        fig["per_env_seconds"] = max(fig["best"] - base["best"], 0.0) / n
        fig["over_baseline"] = fig["median"] / base["median"]
        fig["exit_code"] = timed[n][-1].exit_code
    small_cost = validate[small]["per_env_seconds"]
    per_env_ratio = validate[large]["per_env_seconds"] / small_cost if small_cost else math.inf
    no_bytecode = summary(cold_bytecode)
    peak = max(first.max_rss_mb, no_bytecode["max_rss_mb"],
               *(fig["max_rss_mb"] for fig in validate.values()))
    servers = sorted(m for m in _imported(traced.stderr) if m.split(".")[0] in SERVER_MODULES)
    return {
        "environments": sorted(env_counts),
        "runs": runs,
        "build_seconds": build_seconds,
        "baseline": base,
        "validate": validate,
        "in_process": {n: _medians(rs) for n, rs in in_process.items()},
        "in_process_no_render_cache": {n: _medians(rs) for n, rs in uncached.items()},
        "first_run": {"seconds": first.seconds, "max_rss_mb": first.max_rss_mb},
        "no_bytecode": no_bytecode,
        "per_env_ratio": per_env_ratio,
        "peak_rss_mb": peak,
        "server_modules_imported": servers,
        "targets": {"seconds": TARGET_SECONDS, "linearity": TARGET_LINEARITY,
                    "rss_mb": TARGET_RSS_MB, "in_process_ms": TARGET_IN_PROCESS_MS},
        "targets_met": {
            "seconds": validate[small]["median"] < TARGET_SECONDS,
            "linear": per_env_ratio <= TARGET_LINEARITY,
            "rss": peak < TARGET_RSS_MB,
            "in_process": _medians(in_process[large])["validate_ms_per_env"]
            < TARGET_IN_PROCESS_MS,
            "in_process_no_render_cache": _medians(uncached[large])["validate_ms_per_env"]
            < TARGET_IN_PROCESS_MS,
        },
    }


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
    for n, fig in figures["in_process"].items():
        off = figures["in_process_no_render_cache"][n]
        lines.append(
            f"  {f'in-process, {_envs(n)}':<26}validate_repo {fig['validate_ms_per_env']:.1f} "
            f"ms/env, load_repo {fig['load_ms_per_env']:.1f} ms/env (median), "
            f"peak RSS {fig['max_rss_mb']:.0f} MB")
        lines.append(
            f"  {'  render cache off':<26}validate_repo {off['validate_ms_per_env']:.1f} "
            f"ms/env, peak RSS {off['max_rss_mb']:.0f} MB")
    first, cold = figures["first_run"], figures["no_bytecode"]
    servers = ", ".join(figures["server_modules_imported"]) or "none"
    lines += [
        f"  first run, {_envs(small)} (empty schema cache): {first['seconds']:.2f} s; "
        f"PYTHONDONTWRITEBYTECODE=1: median {cold['median']:.2f} s",
        f"  per-env cost, {large} over {small} envs: {ratio_text(figures['per_env_ratio'])}; "
        f"server modules imported: {servers}",
        f"  targets: {_envs(small)} < {TARGET_SECONDS:.0f} s (median) {verdict(met['seconds'])}; "
        f"linear (per-env ratio <= {TARGET_LINEARITY}) {verdict(met['linear'])}; "
        f"peak RSS < {TARGET_RSS_MB:.0f} MB {verdict(met['rss'])}; in-process, {_envs(large)}"
        f" < {TARGET_IN_PROCESS_MS:.0f} ms/env {verdict(met['in_process'])} (render cache off "
        f"{verdict(met['in_process_no_render_cache'])})",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    print(format_figures(run()))
