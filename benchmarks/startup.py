"""Start-up: `gitops-gen --version` and `--help` against `python -c pass`, same interpreter.

Each round runs the three child processes one after the other (interleaved, so a busy moment
hits all of them alike); the figures are medians over the rounds, and the ratio is the
command's median over the interpreter's. A first round, not timed, compiles the bytecode (into
a temp dir), so the timed ones find it as pip leaves it.
"""

from __future__ import annotations

import os
import sys
import tempfile
from typing import Any

from .child import ChildRun, checked, console_script, summary, verdict

RUNS = 15
TARGET_RATIO = 4.0  # --version and --help, over `python -c pass`, at most


def _commands() -> dict[str, list[str]]:
    script = console_script()
    return {
        "python -c pass": [sys.executable, "-c", "pass"],
        "python -c 'import click'": [sys.executable, "-c", "import click"],
        "gitops-gen --version": [script, "--version"],
        "gitops-gen --help": [script, "--help"],
    }


def run(runs: int = RUNS) -> dict[str, Any]:
    commands = _commands()
    timed: dict[str, list[ChildRun]] = {name: [] for name in commands}
    with tempfile.TemporaryDirectory(prefix="gitops-gen-bench-") as tmp:
        env = dict(os.environ, COLUMNS="80", PYTHONPYCACHEPREFIX=tmp)
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        for args in commands.values():
            checked(args, env)
        for _ in range(runs):
            for name, args in commands.items():
                timed[name].append(checked(args, env))
    figures = {name: summary(rs) for name, rs in timed.items()}
    base = figures["python -c pass"]["median"]
    for fig in figures.values():
        fig["ratio"] = fig["median"] / base
    met = {name: figures[name]["ratio"] <= TARGET_RATIO
           for name in ("gitops-gen --version", "gitops-gen --help")}
    return {"runs": runs, "commands": figures, "target_ratio": TARGET_RATIO, "targets_met": met}


def format_figures(figures: dict[str, Any]) -> str:
    lines = [f"start-up: child processes, median of {figures['runs']} interleaved rounds "
             "(baseline: python -c pass)",
             f"  {'':<28}{'median':>9}{'best':>9}{'peak RSS':>10}{'ratio':>8}"]
    for name, fig in figures["commands"].items():
        lines.append(f"  {name:<28}{fig['median'] * 1000:>6.0f} ms{fig['best'] * 1000:>6.0f} ms"
                     f"{fig['max_rss_mb']:>7.0f} MB{fig['ratio']:>7.1f}x")
    met = figures["targets_met"]
    lines.append(f"  targets (<= {figures['target_ratio']:.0f}x python -c pass): " + "; ".join(
        f"{name} {verdict(ok)}" for name, ok in met.items()))
    return "\n".join(lines)


if __name__ == "__main__":
    print(format_figures(run()))
