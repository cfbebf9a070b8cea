"""Run every benchmark and print its figures: `python -m benchmarks.run`."""

from __future__ import annotations

from typing import Any

from . import schema_stage, validate_repo


def summary(schema: dict[str, Any], cli: dict[str, Any]) -> str:
    """One line per target: what was measured in this run, and whether it meets the target."""
    small, large = cli["environments"][0], cli["environments"][-1]
    warm = schema["kubeschema_objects_per_second"]["warm"]
    ratio = schema["ratio"]["warm"]
    seconds = cli["validate"][small]["median"]
    rows = [
        (f"schema stage >= {schema_stage.TARGET_RATIO:.0f}x kubernetes-validate",
         f"{ratio:,.0f}x", ratio >= schema_stage.TARGET_RATIO),
        (f"schema stage >= {schema_stage.TARGET_RATE:,.0f} objects/s", f"{warm:,.0f}/s",
         warm >= schema_stage.TARGET_RATE),
        (f"validate, {small} envs < {validate_repo.TARGET_SECONDS:.0f} s (median)",
         f"{seconds:.2f} s", cli["targets_met"]["seconds"]),
        (f"validate linear: per-env cost {large}/{small} envs "
         f"<= {validate_repo.TARGET_LINEARITY}", validate_repo.ratio_text(cli['per_env_ratio']),
         cli["targets_met"]["linear"]),
        (f"validate peak RSS < {validate_repo.TARGET_RSS_MB:.0f} MB",
         f"{cli['peak_rss_mb']:.0f} MB", cli["targets_met"]["rss"]),
    ]
    width = max(len(r[0]) for r in rows)
    lines = ["summary", f"  {'target':<{width}}  {'measured':>10}  verdict"]
    lines += [f"  {name:<{width}}  {value:>10}  {validate_repo.verdict(ok)}"
              for name, value, ok in rows]
    return "\n".join(lines)


def main() -> None:
    schema = schema_stage.run()
    print(schema_stage.format_figures(schema), flush=True)
    print()
    cli = validate_repo.run()
    print(validate_repo.format_figures(cli))
    print()
    print(summary(schema, cli))


if __name__ == "__main__":
    main()
