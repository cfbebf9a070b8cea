"""gitops-gen bootstrap."""

from __future__ import annotations

import click

from ..model import bootstrap as core
from .context import AppContext


@click.command()
@click.option("--print", "print_only", is_flag=True,
              help="Print the kubectl command instead of running it (only when the key file "
                   "holds nothing but this repository's identities).")
@click.option("--context", help="kubectl context of the cluster that runs Argo CD.")
@click.pass_obj
def bootstrap(obj: AppContext, print_only: bool, context: str | None) -> None:
    """Give Argo CD's repo-server the local age key (a Secret piped to kubectl).

    Only the local identities this repository encrypts to are sent (its .sops.yaml rules and
    its secrets files say which). The local identities are those of SOPS_AGE_KEY_FILE (else
    sops' default key file), else of SOPS_AGE_KEY, else what SOPS_AGE_KEY_CMD prints.
    """
    root = obj.root()
    if print_only:
        click.echo(core.command_text(root, context=context))
        return
    click.echo(core.apply_secret(root, context=context))
    click.echo("next: kubectl apply -k gitops/bootstrap && kubectl apply -f gitops/root.yaml")
