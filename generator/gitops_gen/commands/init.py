"""gitops-gen init PATH."""

from __future__ import annotations

from pathlib import Path

import click

from ..model import argocd, scaffold, servicedeploy
from .service import install


@click.command()
@click.argument("path", type=click.Path(path_type=Path))
@click.option("--repo-url", help="The git URL Argo CD pulls this repository from.")
@click.option("--revision", default="main", show_default=True, help="Branch Argo CD follows.")
@click.option("--argocd-version", default=argocd.DEFAULT_VERSION, show_default=True,
              help=f"The Argo CD release gitops/bootstrap is written for ({argocd.SUPPORTED}).")
@click.option("--with-service", is_flag=True,
              help="Also deploy the validation service from the repository (gitops/service/, "
                   "as 'gitops-gen service add' writes it, with its defaults; its secrets are "
                   "encrypted to the local age identity).")
def init(path: Path, repo_url: str | None, revision: str, argocd_version: str,
         with_service: bool) -> None:
    """Create a new GitOps repository at PATH: chart, .sops.yaml, gitops/, overlays/, CI."""
    created = not path.exists()
    sha = scaffold.init(path, repo_url, revision, argocd_version)
    if with_service:
        try:
            _, sha2 = install(path, servicedeploy.ServiceOptions())
        except BaseException:
            scaffold.remove_tree(path, keep_dir=not created)
            raise
        sha = sha2 or sha
    click.echo(f"created {path} (commit {sha[:8]})")
    if not repo_url:
        click.secho(
            "note: no --repo-url given; Applications point at "
            f"{scaffold.default_repo_url(path)} until you set repoURL in .gitops-gen.yaml",
            fg="cyan",
            err=True,
        )
    click.echo(f"next: gitops-gen --repo {path} env add dev")
