"""Run every benchmark and print its figures: `python -m benchmarks.run`."""

from __future__ import annotations

from . import schema_stage


def main() -> None:
    print(schema_stage.format_figures(schema_stage.run()))


if __name__ == "__main__":
    main()
