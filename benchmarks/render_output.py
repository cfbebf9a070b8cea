"""`gitops-gen render ENV --output DIR` as a user runs it, and its YAML emitter alone.

The CLI runs in a fresh process on the 3-environment repository (benchmarks.repos), into a new
directory each time, beside `gitops-gen --version` (start-up and imports) in the same rounds.
In-process, the rendered objects of one environment are dumped by the round-trip emitter
(yamlio.dump, for files people edit) and by the C emitter render uses (yamlio.dump_fast).
"""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from gitops_gen.checks import rendering
from gitops_gen.repo import yamlio

from .child import ChildRun, checked, cli, summary
from .repos import build_repo, isolated

ENV = "staging"
RUNS = 5


def _best(fn: Callable[[], object], times: int = 5) -> float:
    out = []
    for _ in range(times):
        start = time.perf_counter()
        fn()
        out.append(time.perf_counter() - start)
    return min(out)


def emitters(root: Path, env: str = ENV) -> dict[str, Any]:
    objs = [r.obj for r in rendering.render_environment(root, env)]
    round_trip = _best(lambda: [yamlio.dump(o) for o in objs])
    fast = _best(lambda: [yamlio.dump_fast(o) for o in objs])
    return {"objects": len(objs), "round_trip_seconds": round_trip, "fast_seconds": fast,
            "ratio": fast / round_trip}


def run(runs: int = RUNS) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="gitops-gen-bench-") as tmp_name:
        tmp = Path(tmp_name)
        with isolated(tmp) as env:
            root = build_repo(tmp / "repo-3-envs", 3)
            out = tmp / "rendered"
            render = cli("--repo", str(root), "render", ENV, "--output", str(out))
            version = cli("--version")
            checked(render, env)  # warm: bytecode
            timed: tuple[list[ChildRun], list[ChildRun]] = ([], [])
            for _ in range(runs):
                shutil.rmtree(out)
                timed[0].append(checked(render, env))
                timed[1].append(checked(version, env))
            written = len(list(out.iterdir()))
            emitted = emitters(root)
    cmd, base = summary(timed[0]), summary(timed[1])
    return {"runs": runs, "files": written, "render": cmd, "baseline": base,
            "ratio": cmd["median"] / base["median"], "emitter": emitted}


def format_figures(figures: dict[str, Any]) -> str:
    r, b, e = figures["render"], figures["baseline"], figures["emitter"]
    return "\n".join([
        f"render {ENV} --output: CLI in a fresh process, median of {figures['runs']} "
        f"interleaved rounds ({figures['files']} files)",
        f"  render --output {r['median']:.2f} s, peak RSS {r['max_rss_mb']:.0f} MB; "
        f"--version {b['median']:.2f} s ({figures['ratio']:.1f}x --version)",
        f"  emitter, {e['objects']} objects in-process: C {e['fast_seconds'] * 1000:.1f} ms, "
        f"round-trip {e['round_trip_seconds'] * 1000:.1f} ms "
        f"({e['ratio']:.3f}x the round-trip emitter)",
    ])


if __name__ == "__main__":
    print(format_figures(run()))
