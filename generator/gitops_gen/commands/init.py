"""gitops-gen init PATH."""

from __future__ import annotations

from pathlib import Path

import click

from ..model import argocd, scaffold


@click.command()
@click.argument("path", type=click.Path(path_type=Path))
@click.option("--repo-url", help="The git URL Argo CD pulls this repository from.")
@click.option("--revision", default="main", show_default=True, help="Branch Argo CD follows.")
@click.option("--argocd-version", default=argocd.DEFAULT_VERSION, show_default=True,
              help=f"The Argo CD release gitops/bootstrap is written for ({argocd.SUPPORTED}).")
def init(path: Path, repo_url: str | None, revision: str, argocd_version: str) -> None:
    """Create a new GitOps repository at PATH: chart, .sops.yaml, gitops/, overlays/, CI."""
    sha = scaffold.init(path, repo_url, revision, argocd_version)
    click.echo(f"created {path} (commit {sha[:8]})")
    if not repo_url:
        click.secho(
            "note: no --repo-url given; Applications point at "
            f"{scaffold.default_repo_url(path)} until you set repoURL in .gitops-gen.yaml",
            fg="cyan",
            err=True,
        )
    click.echo(f"next: gitops-gen --repo {path} env add dev")
