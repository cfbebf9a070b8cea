"""--push and --open-pr, shared by promote, image set and rollback: options and reports."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from ..promotion import proposal
from ..repo import forge

F = TypeVar("F", bound=Callable[..., Any])


def publish_options(command: F) -> F:
    command = click.option(
        "--open-pr", is_flag=True,
        help=f"Push, then open the pull request on GitHub, or update the branch's open one "
             f"(token in {forge.TOKEN_ENV}, API at {forge.API_URL_ENV}, default "
             f"{forge.DEFAULT_API_URL}).")(command)
    return click.option("--push", is_flag=True, help="Push the branch to origin.")(command)


def publishing(root: Path, push: bool, open_pr: bool) -> proposal.Publish:
    """What --push/--open-pr need, checked before anything is written."""
    return proposal.prepare_publish(root, push=push, open_pr=open_pr,
                                    token=os.environ.get(forge.TOKEN_ENV),
                                    api_url=os.environ.get(forge.API_URL_ENV))


def report(root: Path, change: proposal.Proposal, result: proposal.BranchResult,
           publish: proposal.Publish, body: Callable[[], str], rerun: str) -> None:
    """Push and open or update the pull request as asked, saying what happened."""
    if publish.push:
        proposal.push(root, result)  # a refused push puts the branch back: say nothing of it
    short = result.sha[:8]
    if result.outcome is proposal.Outcome.KEPT:
        click.echo(f"branch {result.branch} already holds this change ({short})")
    elif result.outcome is proposal.Outcome.UPDATED:
        click.echo(f"updated branch {result.branch} to {short} (it held an earlier version); "
                   "your branch and work tree are unchanged")
    else:
        click.echo(f"created branch {result.branch} at {short}; your branch and work tree "
                   "are unchanged")
    if not publish.push:
        click.echo(f"next: {rerun} --open-pr (or git push origin {result.branch})")
        return
    click.echo(f"pushed {result.branch} to origin")
    if publish.pull_request is not None:
        pr = proposal.publish_pull_request(change, result, publish.pull_request, body())
        for label in pr.labels_created:
            click.echo(f"created label {label}")
        verb = "opened" if pr.created else "updated"
        click.echo(f"{verb} pull request {pr.url} (labels: {', '.join(change.labels)})")
