"""gitops-gen promote SRC DST."""

from __future__ import annotations

import click

from ..checks.validate import env_errors
from ..promotion import promote as core
from ..promotion import proposal
from .common import echo_notes
from .context import AppContext
from .publishing import publish_options, publishing, report


@click.command()
@click.argument("src")
@click.argument("dst")
@click.option("--component", type=click.Choice(["backend", "frontend", "all"]), default="all",
              show_default=True, help="Which image references to promote.")
@publish_options
@click.pass_obj
def promote(obj: AppContext, src: str, dst: str, component: str, push: bool,
            open_pr: bool) -> None:
    """Copy SRC's image references into DST's overlay as a commit on branch promote/SRC-to-DST.

    The branch starts from the target revision of .gitops-gen.yaml (the local branch, else
    origin's), and SRC's references are read there, whatever branch is checked out; the
    current branch and work tree stay as they are. DST must come after SRC in the promotion
    order, and DST's gates (gates: in .gitops-gen.yaml) must let the references in. Running
    it again replaces the branch's commit and updates its pull request.
    """
    root = obj.root()
    plan = core.plan(root, src, dst, core.components_of(component))
    echo_notes(plan.notes)
    if not plan.moves:
        which = "" if component == "all" else f" ({component})"
        click.echo(f"{dst} already runs {src}'s references{which}: nothing to promote")
        return
    publish = publishing(root, push, open_pr)
    click.echo(f"promote {src} -> {dst}")
    for move in plan.moves:
        click.echo(f"  {move.describe()}")
    change = plan.proposal()
    result = proposal.apply(root, change, check=env_errors, remote=publish.push)
    report(root, change, result, publish, lambda: core.pr_body(plan, result),
           f"gitops-gen promote {src} {dst}")
