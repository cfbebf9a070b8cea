"""gitops-gen rollback ENV [--to REV]."""

from __future__ import annotations

import click

from ..checks.validate import env_errors
from ..promotion import proposal
from ..promotion import rollback as core
from .context import AppContext
from .publishing import publish_options, publishing, report


@click.command()
@click.argument("env")
@click.option("--to", "to", metavar="REV",
              help="The commit, tag or branch whose image references come back (default: "
                   "before ENV's last change in the target revision).")
@publish_options
@click.pass_obj
def rollback(obj: AppContext, env: str, to: str | None, push: bool, open_pr: bool) -> None:
    """Put ENV's image references back to what they were at REV.

    Only image references change; the result is validated and gated like a promotion (a
    reference ENV ran before needs no soak). Committed on the checked-out branch, or with
    --push/--open-pr on branch rollback/ENV from the target revision.
    """
    root = obj.root()
    publish = publishing(root, push, open_pr)
    plan = core.plan(root, env, to, publish=publish.push)
    if plan.new_text is None:
        click.echo(f"{env} already runs the image references of {plan.to_label}: "
                   "nothing to roll back")
        return
    click.echo(f"rollback {env} to {plan.to_label} ({plan.to[:8]})")
    for move in plan.moves:
        click.echo(f"  {move.describe()}")
    if not publish.push:
        sha = core.commit(root, plan, env_errors)
        click.echo(f"committed {str(sha)[:8]}: {plan.title}")
        return
    change = plan.proposal()
    result = proposal.apply(root, change, check=env_errors, remote=True)
    report(root, change, result, publish, lambda: core.pr_body(plan, result),
           f"gitops-gen rollback {env}" + (f" --to {to}" if to else ""))
