"""gitops-gen status."""

from __future__ import annotations

import json

import click

from ..model.images import COMPONENTS
from ..promotion import status as core
from .context import AppContext
from .history import FORMAT, table


@click.command()
@FORMAT
@click.pass_obj
def status(obj: AppContext, fmt: str) -> None:
    """Environments x components in promotion order, read from the target revision.

    'A < B': the environment before runs B and changed after this one (a promotion is due);
    'A != B': this one changed after it (a fix or a rollback). Below the table: what the
    gates say of promoting B.
    """
    found = core.status(obj.root())
    if fmt == "json":
        click.echo(json.dumps(found.to_dict(), indent=2))
        return
    click.echo(f"{found.revision} at {found.commit[:8]}:")
    components = list(COMPONENTS)
    rows = [["ENV", *(c.upper() for c in components)]]
    notes: list[str] = []
    for row in found.rows:
        out = [row.env]
        for component in components:
            cell = row.cells.get(component)
            if cell is None:
                out.append("-")
                continue
            ref = cell.ref.short if cell.ref else "-"
            if cell.source_ref is None:
                out.append(ref)
                continue
            mark = "<" if cell.behind else "!="
            out.append(f"{ref} {mark} {cell.source_ref.short}")
            what = (f"behind {row.source}" if cell.behind else
                    f"changed after {row.source} (a fix or a rollback)")
            if cell.blocked:
                notes.append(f"{row.env} {component}: {what}; held back: {cell.blocked[0]}")
            else:
                notes.append(f"{row.env} {component}: {what}; to take {row.source}'s: "
                             f"gitops-gen promote {row.source} {row.env}")
        rows.append(out)
    for line in table(rows):
        click.echo(f"  {line}")
    for note in notes:
        click.echo(note)
