"""gitops-gen bootstrap."""

from __future__ import annotations

import click

from ..model import bootstrap as core
from .context import AppContext


@click.command()
@click.option("--print", "print_only", is_flag=True,
              help="Print the steps as shell commands instead of running them (only when the "
                   "key file holds nothing but this repository's identities).")
@click.option("--context", help="kubectl context of the cluster that runs Argo CD.")
@click.pass_obj
def bootstrap(obj: AppContext, print_only: bool, context: str | None) -> None:
    """Install Argo CD with this repository's decryption sidecar, then the root app.

    In order, with kubectl: the argocd namespace; the age key Secret (piped to kubectl, never
    written or printed); gitops/bootstrap, server-side; a wait for Argo CD's CRDs; the root
    project and gitops/root.yaml. Only the local identities this repository encrypts to are
    sent (its .sops.yaml rules and its secrets files say which). The local identities are those
    of SOPS_AGE_KEY_FILE (else sops' default key file), else of SOPS_AGE_KEY, else what
    SOPS_AGE_KEY_CMD prints.
    """
    root = obj.root()
    if print_only:
        click.echo(core.command_text(root, context=context))
        return
    for line in core.run(root, context=context):
        click.echo(line)
