"""gitops-gen validate.

Only what the command needs before its worker starts: the checks themselves load in the worker
(checks/isolated.py), so this process stays small and starts the worker early.
"""

from __future__ import annotations

import sys

import click

from ..checks import isolated, report
from .context import AppContext


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
    result = isolated.validate(obj.root(), list(envs) or None, kube_version)
    if fmt == "json":
        click.echo(report.as_json(result))
    elif fmt == "junit":
        click.echo(report.as_junit(result))
    elif fmt == "github":
        click.echo(report.as_github(result))
    else:
        from rich.console import Console  # only this format needs rich

        console = Console()
        if not console.is_terminal:
            console = Console(width=140)
        console.print(report.as_rich_table(result))
    sys.exit(0 if result.ok else 1)
