"""Writing commands as the repository grows: `env add` and `secrets set` at 3 and at 200
environments, the CLI in a fresh process.

Both repositories are built once (benchmarks.repos, in time linear in their size). Each round
runs every command on every repository, interleaved; after each run the commit it made is
undone (git reset --hard HEAD~1, not timed), so every run does the same work. The ratio is a
command's median on the larger repository over its median on the smaller one.
"""

from __future__ import annotations

import subprocess
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from gitops_gen.secrets import sops

from .child import ChildRun, checked, cli, summary, verdict
from .repos import build_repo, isolated

ENV_COUNTS = (3, 200)
RUNS = 5
TARGET_RATIO = 1.2  # a writing command at the larger size over the smaller, at most
VALUE_VAR = "BENCH_SECRET_VALUE"


def _commands(root: Path) -> dict[str, list[str]]:
    repo = ("--repo", str(root))
    return {
        "env add": cli(*repo, "env", "add", "bench-new"),
        "secrets set": cli(*repo, "secrets", "set", "dev", sops.SECRET_KEY,
                           "--from-env", VALUE_VAR),
    }


def _undo(root: Path, before: str) -> None:
    """Back to the commit before the command, work tree included."""
    subprocess.run(["git", "-C", str(root), "reset", "--quiet", "--hard", before], check=True)
    subprocess.run(["git", "-C", str(root), "clean", "--quiet", "-fd"], check=True)


def _head(root: Path) -> str:
    out = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], check=True,
                         capture_output=True, text=True)
    return out.stdout.strip()


def run(env_counts: Sequence[int] = ENV_COUNTS, runs: int = RUNS) -> dict[str, Any]:
    small, large = min(env_counts), max(env_counts)
    with tempfile.TemporaryDirectory(prefix="gitops-gen-bench-") as tmp_name:
        tmp = Path(tmp_name)
        with isolated(tmp) as env:
            start = time.perf_counter()
            repos = {n: build_repo(tmp / f"repo-{n}-envs", n) for n in sorted(env_counts)}
            build_seconds = time.perf_counter() - start
            env = dict(env, **{VALUE_VAR: "bench-value-0123456789"})
            heads = {n: _head(root) for n, root in repos.items()}
            for n, root in repos.items():  # compile bytecode, fill the schema cache
                checked(_commands(root)["env add"], env)
                _undo(root, heads[n])
            timed: dict[str, dict[int, list[ChildRun]]] = {
                name: {n: [] for n in env_counts} for name in _commands(tmp)}
            for _ in range(runs):
                for n, root in repos.items():
                    for name, args in _commands(root).items():
                        timed[name][n].append(checked(args, env))
                        _undo(root, heads[n])
    figures: dict[str, Any] = {}
    for name, by_count in timed.items():
        fig: dict[Any, Any] = {n: summary(rs) for n, rs in by_count.items()}
        fig["ratio"] = fig[large]["median"] / fig[small]["median"]
        figures[name] = fig
    return {
        "environments": sorted(env_counts), "runs": runs, "build_seconds": build_seconds,
        "commands": figures, "target_ratio": TARGET_RATIO,
        "targets_met": {name: fig["ratio"] <= TARGET_RATIO for name, fig in figures.items()},
    }


def format_figures(figures: dict[str, Any]) -> str:
    small, large = figures["environments"][0], figures["environments"][-1]
    lines = [
        f"writing commands: CLI in a fresh process, median of {figures['runs']} interleaved "
        f"rounds (repos built in {figures['build_seconds']:.1f} s; baseline: {small} envs)",
        f"  {'':<14}{f'{small} envs':>10}{f'{large} envs':>10}{'ratio':>8}",
    ]
    for name, fig in figures["commands"].items():
        lines.append(f"  {name:<14}{fig[small]['median']:>9.2f}s{fig[large]['median']:>9.2f}s"
                     f"{fig['ratio']:>7.2f}x")
    lines.append(f"  targets ({large} envs <= {figures['target_ratio']}x {small} envs): "
                 + "; ".join(f"{name} {verdict(ok)}"
                             for name, ok in figures["targets_met"].items()))
    return "\n".join(lines)


if __name__ == "__main__":
    print(format_figures(run()))
