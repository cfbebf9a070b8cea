"""gitops-gen env add | list | show | remove."""

from __future__ import annotations

import json

import click

from ..checks.validate import env_errors
from ..model import environments as core
from ..repo import gitrepo, transaction
from .common import echo_changes, echo_notes
from .context import AppContext


@click.group()
def env() -> None:
    """Add, list, show and remove environments."""


@env.command("add")
@click.argument("name")
@click.option("--age-recipient", "recipients", multiple=True,
              help="age public key (repeatable). Default: the environment's .sops.yaml rule, "
                   "else the local identity: SOPS_AGE_KEY_FILE (else sops' default key "
                   "file), else SOPS_AGE_KEY, else what SOPS_AGE_KEY_CMD prints; with none "
                   "of them, a new identity is created in the key file.")
@click.option("--namespace", help="Destination namespace (default: todo-NAME).")
@click.option("--cluster", "cluster_url", help="Destination cluster API URL.")
@click.option("--cluster-name", help="Destination cluster name as registered in Argo CD.")
@click.option("--host", help="Ingress host; turns the Ingress on and makes the frontend Service "
              "ClusterIP, so the Ingress is its one public address.")
@click.option("--backend-tag", help="Backend image tag.")
@click.option("--frontend-tag", help="Frontend image tag.")
@click.option("--from", "from_env", help="Copy non-secret values from this environment.")
@click.option("--no-commit", is_flag=True, help="Write the files but do not commit.")
@click.option("--dry-run", is_flag=True, help="Show the planned changes; write nothing.")
@click.pass_obj
def add(obj: AppContext, name: str, recipients: tuple[str, ...], namespace: str | None,
        cluster_url: str | None, cluster_name: str | None, host: str | None,
        backend_tag: str | None, frontend_tag: str | None, from_env: str | None,
        no_commit: bool, dry_run: bool) -> None:
    """Write an environment's values, SOPS secrets, AppProject and Application; commit."""
    request = core.AddRequest(
        name=name, recipients=recipients, namespace=namespace, cluster_url=cluster_url,
        cluster_name=cluster_name, host=host, backend_tag=backend_tag,
        frontend_tag=frontend_tag, from_env=from_env,
    )
    root = obj.root()
    plan = core.plan_add(root, request, dry_run=dry_run)
    if plan.identity_created:
        click.secho(f"created an age identity at {plan.identity_created} (keep it safe)",
                    fg="cyan", err=True)
    echo_changes(plan.changes, diff=dry_run)
    if dry_run:
        # The real run refuses to overwrite uncommitted edits: say so now, as it would.
        transaction.refuse_dirty(root, [c.path for c in plan.pending])
        click.echo("dry run: nothing written")
        echo_notes(plan.notes)
        return
    sha = core.apply(root, name, plan.changes, f"env: add {name}", commit=not no_commit,
                     check=env_errors)
    if not plan.pending:
        written = gitrepo.dirty_paths(root, [c.path for c in plan.changes])
        if written:
            click.echo(f"{name}: files already written (not committed): {', '.join(written)}")
        else:
            click.echo(f"{name}: already up to date, nothing to commit")
    elif sha:
        click.echo(f"committed {sha[:8]} env: add {name}")
    else:
        click.echo("written, not committed (--no-commit)")
    echo_notes(plan.notes)


@env.command("list")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text",
              show_default=True)
@click.pass_obj
def list_(obj: AppContext, fmt: str) -> None:
    """List environments in promotion order."""
    infos = core.list_envs(obj.root())
    if fmt == "json":
        click.echo(json.dumps([i.to_dict() for i in infos], indent=2))
        return
    if not infos:
        click.echo("no environments yet: gitops-gen env add dev")
        return
    click.echo(f"{'NAME':<12} {'DESTINATION':<45} {'BACKEND':<10} {'FRONTEND':<10} RECIPIENTS")
    for i in infos:
        click.echo(f"{i.name:<12} {i.destination:<45} {i.backend_tag or '(chart)':<10} "
                   f"{i.frontend_tag or '(chart)':<10} {len(i.recipients)}")


@env.command("show")
@click.argument("name")
@click.pass_obj
def show(obj: AppContext, name: str) -> None:
    """Show one environment."""
    info = core.describe(obj.root(), name)
    for key, value in info.to_dict().items():
        if isinstance(value, list):
            value = ", ".join(value) or "-"
        click.echo(f"{key:<12} {value if value is not None else '(chart default)'}")


@env.command("remove")
@click.argument("name")
@click.option("--yes", is_flag=True, help="Confirm the removal.")
@click.pass_obj
def remove(obj: AppContext, name: str, yes: bool) -> None:
    """Remove an environment's files and SOPS rule, and commit."""
    root = obj.root()
    planned = core.plan_remove(root, name)
    if not yes:
        raise click.UsageError("removing an environment needs --yes", ctx=None)
    click.secho(
        f"warning: once merged, Argo CD prunes todo-chatbot-{name} and its finalizer deletes "
        "the environment's resources; the database PVC is kept (Prune=false,Delete=false)",
        fg="yellow", err=True,
    )
    echo_changes(planned)
    sha = core.apply(root, name, planned, f"env: remove {name}")
    click.echo(f"committed {sha[:8]} env: remove {name}" if sha else "nothing to remove")
