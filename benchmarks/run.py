"""Run the benchmarks and print their figures: `python -m benchmarks.run [NAME ...]`.

NAME is one of startup, schema, validate, writing, render, kubeconform, serve (default:
all). Each
benchmark prints its ratio against a baseline measured in the same run; a summary closes.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from types import ModuleType
from typing import Any

from . import env_add, kubeconform, render_output, schema_stage, serve, startup, validate_repo
from .child import verdict

BENCHMARKS: dict[str, ModuleType] = {
    "startup": startup,
    "schema": schema_stage,
    "validate": validate_repo,
    "writing": env_add,
    "render": render_output,
    "kubeconform": kubeconform,
    "serve": serve,
}

Row = tuple[str, str, bool | None]  # target, measured, met (None: a figure without a target)


def _startup(fig: dict[str, Any]) -> list[Row]:
    return [(f"{name} <= {startup.TARGET_RATIO:.0f}x python -c pass",
             f"{fig['commands'][name]['ratio']:.1f}x", ok)
            for name, ok in fig["targets_met"].items()]


def _schema(fig: dict[str, Any]) -> list[Row]:
    warm, ratio = fig["kubeschema_objects_per_second"]["warm"], fig["ratio"]["warm"]
    return [
        (f"schema stage >= {schema_stage.TARGET_RATIO:.0f}x kubernetes-validate",
         f"{ratio:,.0f}x", ratio >= schema_stage.TARGET_RATIO),
        (f"schema stage >= {schema_stage.TARGET_RATE:,.0f} objects/s", f"{warm:,.0f}/s",
         warm >= schema_stage.TARGET_RATE),
    ]


def _validate(fig: dict[str, Any]) -> list[Row]:
    small, large = fig["environments"][0], fig["environments"][-1]
    return [
        (f"validate, {small} envs < {validate_repo.TARGET_SECONDS:.0f} s (median)",
         f"{fig['validate'][small]['median']:.2f} s", fig["targets_met"]["seconds"]),
        (f"validate linear: per-env cost {large}/{small} envs "
         f"<= {validate_repo.TARGET_LINEARITY}", validate_repo.ratio_text(fig["per_env_ratio"]),
         fig["targets_met"]["linear"]),
        (f"validate peak RSS < {validate_repo.TARGET_RSS_MB:.0f} MB",
         f"{fig['peak_rss_mb']:.0f} MB", fig["targets_met"]["rss"]),
        (f"validate_repo, {large} envs, < {validate_repo.TARGET_IN_PROCESS_MS:.0f} ms/env",
         f"{fig['in_process'][large]['validate_ms_per_env']:.1f} ms",
         fig["targets_met"]["in_process"]),
        ("  the same, render cache off",
         f"{fig['in_process_no_render_cache'][large]['validate_ms_per_env']:.1f} ms",
         fig["targets_met"]["in_process_no_render_cache"]),
    ]


def _writing(fig: dict[str, Any]) -> list[Row]:
    small, large = fig["environments"][0], fig["environments"][-1]
    return [(f"{name}, {large} envs <= {env_add.TARGET_RATIO}x {small} envs",
             f"{fig['commands'][name]['ratio']:.2f}x", ok)
            for name, ok in fig["targets_met"].items()]


def _render(fig: dict[str, Any]) -> list[Row]:
    return [("render --output over --version", f"{fig['ratio']:.1f}x", None),
            ("render's emitter over the round-trip one", f"{fig['emitter']['ratio']:.3f}x",
             None)]


def _kubeconform(fig: dict[str, Any]) -> list[Row]:
    if "skipped" in fig:
        return [("kubeconform comparisons", "skipped", None)]
    sizes = list(fig["validate"])
    return [
        ("schema stage over kubeconform, same objects", f"{fig['schema_stage']['ratio']:.2f}x",
         None),
        (f"validate, {sizes[0]} envs <= {kubeconform.TARGET_SMALL}x the script",
         f"{fig['validate'][sizes[0]]['ratio']:.2f}x", fig["targets_met"]["small"]),
        (f"validate, {sizes[-1]} envs <= {kubeconform.TARGET_LARGE}x the script",
         f"{fig['validate'][sizes[-1]]['ratio']:.2f}x", fig["targets_met"]["large"]),
        (f"validate, {sizes[-1]} envs: peak RSS <= {kubeconform.TARGET_RSS_MIB:.0f} MiB",
         f"{kubeconform.peak_rss(fig['validate'][sizes[-1]]):.0f} MiB",
         fig["targets_met"]["rss"]),
        *((f"validate, {n} envs, render cache off, over the script",
           f"{fig['validate'][n]['no_render_cache']['ratio']:.2f}x", None) for n in sizes),
    ]


def _serve(fig: dict[str, Any]) -> list[Row]:
    met = fig["targets_met"]
    return [
        (f"serve, commit validated before <= {serve.TARGET_REPEATED_MS:.0f} ms (p50)",
         f"{fig['repeated']['p50_ms']:.1f} ms", met["repeated"]),
        ("serve, commit validated before over a cold validation",
         f"{fig['repeated']['ratio']:.4f}x", None),
        ("serve, new commit over a cold validation", f"{fig['new']['ratio']:.2f}x", None),
        (f"serve, new commit <= {serve.TARGET_NEW_MS:.0f} ms (p50)",
         f"{fig['new']['p50_ms']:.0f} ms", met["new"]),
        (f"serve, new commit beyond the validation <= {serve.TARGET_BEYOND_MS:.0f} ms",
         f"{fig['new_beyond_validation_ms']:.0f} ms", met["beyond"]),
    ]


ROWS: dict[str, Callable[[dict[str, Any]], list[Row]]] = {
    "startup": _startup, "schema": _schema, "validate": _validate, "writing": _writing,
    "render": _render, "kubeconform": _kubeconform, "serve": _serve,
}


def summary(figures: dict[str, dict[str, Any]]) -> str:
    """One line per target: what was measured in this run, and whether it meets the target."""
    rows = [row for name, fig in figures.items() for row in ROWS[name](fig)]
    width = max(len(r[0]) for r in rows)
    lines = ["summary", f"  {'target':<{width}}  {'measured':>10}  verdict"]
    lines += [f"  {name:<{width}}  {value:>10}  {'-' if ok is None else verdict(ok)}"
              for name, value, ok in rows]
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    unknown = [a for a in argv if a not in BENCHMARKS]
    if unknown:
        print(f"unknown benchmark {', '.join(unknown)}; choose from {', '.join(BENCHMARKS)}",
              file=sys.stderr)
        return 2
    figures: dict[str, dict[str, Any]] = {}
    for name in argv or list(BENCHMARKS):
        module = BENCHMARKS[name]
        figures[name] = module.run()
        print(module.format_figures(figures[name]), end="\n\n", flush=True)
    print(summary(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
