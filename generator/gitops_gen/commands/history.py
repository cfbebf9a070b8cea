"""gitops-gen history ENV."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime

import click

from ..promotion import status as core
from .context import AppContext

FORMAT = click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text",
                      show_default=True, help="Output format.")


def _when(moment: datetime | None) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M") if moment else "now"


def table(rows: Sequence[Sequence[str]]) -> list[str]:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip()
            for r in rows]


@click.command()
@click.argument("env")
@FORMAT
@click.pass_obj
def history(obj: AppContext, env: str, fmt: str) -> None:
    """Which image reference of each component ENV ran, from when to when, set by which commit
    and pull request (read from the target revision's history, newest first; times UTC)."""
    found = core.env_history(obj.root(), env)
    if fmt == "json":
        click.echo(json.dumps(found.to_dict(), indent=2))
        return
    click.echo(f"{env} in {found.revision} at {found.commit[:8]}, newest first (UTC):")
    rows = [["COMPONENT", "REFERENCE", "FROM", "TO", "COMMIT", "PR", "SUBJECT"]]
    for p in found.periods:
        rows.append([p.component, p.ref.short if p.ref else "-", _when(p.since),
                     _when(p.until), p.sha[:8],
                     f"#{p.pull_request}" if p.pull_request else "-", p.subject])
    for line in table(rows):
        click.echo(f"  {line}")

