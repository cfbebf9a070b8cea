"""gitops-gen validate.

Only what the command needs before its worker starts: the checks themselves load in the worker
(checks/isolated.py), so this process stays small and starts the worker early.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

import click

from ..checks import isolated, report
from .context import AppContext

if TYPE_CHECKING:
    from rich.console import Console


@click.command()
@click.argument("envs", nargs=-1)
@click.option("--format", "fmt", type=click.Choice(["text", "json", "junit", "github"]),
              default="text", show_default=True)
@click.option("--kube-version",
              help="Kubernetes version to check against (default: .gitops-gen.yaml).")
@click.pass_obj
def validate(obj: AppContext, envs: tuple[str, ...], fmt: str, kube_version: str | None) -> None:
    """Run every check (all environments, or the ones named). Exit 1 on any error.

    Reads only chart/, overlays/, gitops/, .sops.yaml and .gitops-gen.yaml, follows no
    symbolic link, and runs in a worker process bounded in time and memory (see
    docs/security.md): safe on a pull request's files.
    """
    # rich (the text format's) loads here, while the worker loads the checks: after the
    # report, it would be a wait of its own.
    console = _console() if fmt == "text" else None
    result = isolated.validate(obj.root(), list(envs) or None, kube_version)
    if console is not None:
        console.print(report.as_rich_table(result))
    elif fmt == "json":
        click.echo(report.as_json(result))
    elif fmt == "junit":
        click.echo(report.as_junit(result))
    else:
        click.echo(report.as_github(result))
    sys.exit(0 if result.ok else 1)


def _console() -> Console:
    """The text format's console, rich loaded with what as_rich_table draws with."""
    import rich.table  # noqa: F401 - as_rich_table's
    import rich.text  # noqa: F401 - as_rich_table's
    from rich.console import Console  # only the text format needs rich

    console = Console()
    return console if console.is_terminal else Console(width=140)
