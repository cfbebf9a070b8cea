"""Small printing helpers shared by the commands (only the CLI layer prints)."""

from __future__ import annotations

from collections.abc import Sequence

import click

from ..repo.changes import Action, FileChange

_COLOURS = {Action.CREATE: "green", Action.UPDATE: "yellow", Action.DELETE: "red"}


def echo_changes(planned: Sequence[FileChange], *, diff: bool = False) -> None:
    for change in planned:
        if change.action is Action.UNCHANGED:
            click.echo(f"  unchanged  {change.path}")
            continue
        click.secho(f"  {change.action.value:<9}  {change.path}", fg=_COLOURS[change.action])
        if diff:
            for line in change.diff().splitlines():
                colour = {"+": "green", "-": "red"}.get(line[:1])
                click.secho(f"    {line}", fg=colour)


def echo_notes(notes: Sequence[str]) -> None:
    for note in notes:
        click.secho(f"note: {note}", fg="cyan", err=True)
