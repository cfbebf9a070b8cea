"""gitops-gen promote SRC DST."""

from __future__ import annotations

import os

import click

from ..checks.validate import env_errors
from ..promotion import promote as core
from ..repo import forge
from .common import echo_notes
from .context import AppContext


@click.command()
@click.argument("src")
@click.argument("dst")
@click.option("--component", type=click.Choice(["backend", "frontend", "all"]), default="all",
              show_default=True, help="Which image tags to promote.")
@click.option("--push", is_flag=True, help="Push the branch to origin.")
@click.option("--open-pr", is_flag=True,
              help=f"Push, then open a pull request on GitHub (token in {forge.TOKEN_ENV}, "
                   f"API at {forge.API_URL_ENV}, default {forge.DEFAULT_API_URL}).")
@click.pass_obj
def promote(obj: AppContext, src: str, dst: str, component: str, push: bool,
            open_pr: bool) -> None:
    """Copy SRC's image tags into DST's overlay as a commit on a new branch promote/SRC-to-DST-*.

    The branch starts from the target revision of .gitops-gen.yaml (the local branch, else
    origin's), and SRC's tags are read there, whatever branch is checked out; the current
    branch and work tree stay as they are. DST must come after SRC in the promotion order.
    """
    root = obj.root()
    components = core.components_of(component)
    plan = core.plan(root, src, dst, components)
    echo_notes(plan.notes)
    if not plan.moves:
        which = "" if component == "all" else f" ({component})"
        click.echo(f"{dst} already runs {src}'s tags{which}: nothing to promote")
        return
    publish = core.prepare_publish(root, push=push, open_pr=open_pr,
                                   token=os.environ.get(forge.TOKEN_ENV),
                                   api_url=os.environ.get(forge.API_URL_ENV))
    click.echo(f"promote {src} -> {dst}")
    for move in plan.moves:
        click.echo(f"  {move.describe()}")
    result = core.apply(root, plan, check=env_errors)
    if publish.push:
        core.push(root, result)  # a refused push removes a branch this run made: say nothing
    if result.created:
        click.echo(f"created branch {result.branch} at {result.sha[:8]}; "
                   "your branch and work tree are unchanged")
    else:
        click.echo(f"branch {result.branch} already holds this promotion ({result.sha[:8]})")
    if not publish.push:
        click.echo(f"next: gitops-gen promote {src} {dst} --open-pr "
                   f"(or git push origin {result.branch})")
        return
    click.echo(f"pushed {result.branch} to origin")
    if publish.pull_request is not None:
        url = core.open_pull_request(plan, result, publish.pull_request)
        click.echo(f"opened pull request {url}")
