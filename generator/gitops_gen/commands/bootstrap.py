"""gitops-gen bootstrap."""

from __future__ import annotations

import click

from .. import bootstrap as core


@click.command()
@click.option("--print", "print_only", is_flag=True,
              help="Print the kubectl command instead of running it.")
@click.option("--context", help="kubectl context of the cluster that runs Argo CD.")
def bootstrap(print_only: bool, context: str | None) -> None:
    """Give Argo CD's repo-server the local age key (a Secret piped to kubectl)."""
    if print_only:
        click.echo(core.command_text(context=context))
        return
    click.echo(core.apply_secret(context=context))
    click.echo("next: kubectl apply -k gitops/bootstrap && kubectl apply -f gitops/root.yaml")
