"""gitops-gen image set ENV COMPONENT REF."""

from __future__ import annotations

import click

from ..checks.validate import env_errors
from ..model.images import COMPONENTS
from ..promotion import imageset as core
from ..promotion import proposal
from .context import AppContext
from .publishing import publish_options, publishing, report


@click.group()
def image() -> None:
    """Set the image an environment runs (the entry point for an application's CI)."""


@image.command("set")
@click.argument("env")
@click.argument("component", type=click.Choice(COMPONENTS), metavar="COMPONENT")
@click.argument("ref")
@publish_options
@click.pass_obj
def set_(obj: AppContext, env: str, component: str, ref: str, push: bool,
         open_pr: bool) -> None:
    """Set COMPONENT's image of ENV to REF: a tag (1.4.0), a digest (sha256:...) or both
    (1.4.0@sha256:...).

    Refused before anything is written where validate would refuse it in ENV: a moving tag
    (latest, main, ...) outside dev without a digest, a tag where the gates require digests, a
    reference the gates do not let in. The overlay is edited in place (comments and order
    kept), validated and committed on the checked-out branch; with --push or --open-pr the
    commit goes on branch image/ENV-COMPONENT from the target revision instead.
    """
    root = obj.root()
    publish = publishing(root, push, open_pr)
    plan = core.plan(root, env, component, ref, publish=publish.push)
    if plan.new_text is None:
        click.echo(f"{env} already runs {component} {plan.ref}: nothing to change")
        return
    click.echo(f"image {env} {component}: {plan.old or '(none)'} -> {plan.ref}")
    if not publish.push:
        sha = core.commit(root, plan, env_errors)
        click.echo(f"committed {str(sha)[:8]}: {plan.title}")
        return
    change = plan.proposal()
    result = proposal.apply(root, change, check=env_errors, remote=True)
    report(root, change, result, publish, lambda: core.pr_body(plan, result),
           f"gitops-gen image set {env} {component} {plan.ref}")
