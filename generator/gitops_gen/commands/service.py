"""gitops-gen service add: the validation service deployed by Argo CD from this repository."""

from __future__ import annotations

import os
from pathlib import Path

import click

from ..checks import kubeschema, servicechecks
from ..checks.repofiles import load_repo
from ..errors import InputError, ValidationFailed
from ..model import overlays, servicedeploy
from ..repo import config, layout, transaction
from ..repo.changes import Action, FileChange
from .common import echo_changes, echo_notes
from .context import AppContext
from .serve import check_public_url


def from_env(var: str | None, flag: str) -> str | None:
    """The value of environment variable var (never shown), None when var is None."""
    if var is None:
        return None
    value = os.environ.get(var, "").strip()
    if not value:
        raise InputError(f"{flag} {var}: that environment variable is not set or empty",
                         f"export {var} first, or leave {flag} out")
    return value


def _check(root: Path) -> None:
    """The service's files as validate checks them; any error undoes the change."""
    repo = load_repo(root, [])
    version = kubeschema.resolve_version(
        repo.settings.kube_version if repo.settings else config.DEFAULT_KUBE_VERSION)
    errors = [f"[{f.rule}] {f.location}: {f.message}"
              for f in servicechecks.service_findings(repo, version) if f.is_error]
    if errors:
        raise ValidationFailed(errors, "the validation service's files do not validate")


def install(root: Path, opts: servicedeploy.ServiceOptions, *,
            commit: bool = True) -> tuple[list[FileChange], str | None]:
    """Plan, print, write, validate and commit gitops/service/; the changes and the commit."""
    keys, created = servicedeploy.recipients(root, opts.recipients)
    if created:
        click.secho(f"created an age identity at {created} (keep it safe)", fg="cyan", err=True)
    planned = servicedeploy.plan_add(root, opts, keys)
    echo_changes(planned)
    sha = transaction.apply(root, planned, "service: add the validation service",
                            commit=commit, check=lambda: _check(root))
    return planned, sha


@click.group()
def service() -> None:
    """The validation service's deployment in this repository (gitops/service/)."""


@service.command("add")
@click.option("--image", help="The service's image, REPOSITORY:TAG (built from gitops-gen's "
              "Dockerfile).")
@click.option("--host", help="Host of an Ingress that routes GitHub's webhook "
              "(/webhook/github, nothing else) to the service.")
@click.option("--public-url", help="Where people reach the dashboard; commit statuses link "
              "to it.")
@click.option("--age-recipient", "recipients", multiple=True,
              help="age public key the secrets are encrypted to (repeatable; include the key "
                   "Argo CD's repo-server decrypts with). Default: the file's .sops.yaml rule, "
                   "else the local identity.")
@click.option("--webhook-secret-from-env", metavar="VAR",
              help="Take the webhook secret from this environment variable (default: a new "
                   "random one; read it with 'sops decrypt gitops/service/secrets.sops.yaml').")
@click.option("--github-token-from-env", metavar="VAR",
              help="Take the GitHub token (statuses and pull-request comments) from this "
                   "environment variable (default: none; the service then posts nothing).")
@click.option("--no-commit", is_flag=True, help="Write the files but do not commit.")
@click.pass_obj
def add(obj: AppContext, image: str | None, host: str | None, public_url: str | None,
        recipients: tuple[str, ...], webhook_secret_from_env: str | None,
        github_token_from_env: str | None, no_commit: bool) -> None:
    """Write gitops/service/ (chart, values, SOPS secrets, AppProject, Application), add them
    to the root app-of-apps, validate, commit."""
    if image:
        servicedeploy.split_image(image)
    if host:
        overlays.check_host(host)
    opts = servicedeploy.ServiceOptions(
        image, host, check_public_url(public_url) if public_url else None, recipients,
        from_env(webhook_secret_from_env, "--webhook-secret-from-env"),
        from_env(github_token_from_env, "--github-token-from-env"))
    root = obj.root()
    planned, sha = install(root, opts, commit=not no_commit)
    if sha:
        click.echo(f"committed {sha[:8]} service: add the validation service")
    elif no_commit:
        click.echo("written, not committed (--no-commit)")
    else:
        click.echo(f"{layout.SERVICE_DIR}: already up to date, nothing to commit")
    secrets = next(c for c in planned if c.path == layout.service_secrets())
    if secrets.action is not Action.CREATE:
        return
    notes = [f"enter the webhook secret at GitHub too; read it with 'sops decrypt --extract "
             f"'[\"{servicedeploy.WEBHOOK_KEY}\"]' {layout.service_secrets()}'"]
    if not opts.github_token:
        notes.append("no GitHub token: the service validates but posts no statuses or "
                     f"comments until {servicedeploy.TOKEN_KEY} is set in "
                     f"{layout.service_secrets()} (sops set)")
    echo_notes(notes)
