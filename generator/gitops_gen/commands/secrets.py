"""gitops-gen secrets list | set | rotate | rekey. Values are never printed."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from ..errors import InputError
from ..model import envsecrets as core
from .common import echo_changes, echo_notes
from .context import AppContext

MAX_VALUE_BYTES = 64 * 1024


@click.group()
def secrets() -> None:
    """List, set, rotate and re-key an environment's SOPS secrets."""


def _commit(root: Path, plan: core.SecretsPlan, what: str) -> None:
    echo_changes(plan.pending)
    sha = core.apply(root, plan)
    first = plan.message.splitlines()[0]
    click.echo(f"committed {sha[:8]} {first}" if sha else f"{what}: nothing to commit")
    echo_notes(plan.notes)


@secrets.command("list")
@click.argument("env")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text",
              show_default=True)
@click.pass_obj
def list_(obj: AppContext, env: str, fmt: str) -> None:
    """Secret keys of ENV: recipients, last change, placeholder state (no key needed)."""
    infos = core.list_secrets(obj.root(), env)
    if fmt == "json":
        click.echo(json.dumps({"env": env, "secrets": [i.to_dict() for i in infos]}, indent=2))
        return
    click.echo(f"{'KEY':<30} {'STATE':<12} {'LAST CHANGE':<20} RECIPIENTS")
    for i in infos:
        last = f"{i.last_sha} {(i.last_date or '')[:10]}" if i.last_sha else "(not committed)"
        state = "placeholder" if i.placeholder else "set"
        click.echo(f"{i.key:<30} {state:<12} {last:<20} {', '.join(i.recipients) or '-'}")


def _stdin_value(key: str) -> str:
    if sys.stdin.isatty():
        value = click.prompt(f"value of {key}", hide_input=True, confirmation_prompt=True,
                             err=True)
        return str(value)
    data = sys.stdin.buffer.read(MAX_VALUE_BYTES + 1)
    if len(data) > MAX_VALUE_BYTES:
        raise InputError(f"the value on stdin is over {MAX_VALUE_BYTES} bytes",
                         "give the secret itself, not a file of that size")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise InputError("the value on stdin is not UTF-8 text (value not shown)",
                         "give it as UTF-8 text, or base64-encode binary values") from None


@secrets.command("set", context_settings={"ignore_unknown_options": True})
@click.argument("env")
@click.argument("key")
@click.argument("extra", nargs=-1, type=click.UNPROCESSED, metavar="")
@click.option("--from-file", type=click.Path(dir_okay=False, path_type=Path),
              help="Read the value from this file (one trailing newline is dropped).")
@click.option("--from-env", metavar="VAR", help="Read the value from this environment variable.")
@click.pass_obj
def set_(obj: AppContext, env: str, key: str, extra: tuple[str, ...], from_file: Path | None,
         from_env: str | None) -> None:
    """Set KEY of ENV from stdin (default), --from-file or --from-env; re-encrypt and commit."""
    if extra:
        raise InputError(
            "secrets set takes no value on the command line (shell history and process "
            "lists would keep it)",
            "pipe it on stdin, or use --from-file F or --from-env VAR",
        )
    root = obj.root()
    core.check_env(root, env)
    core.check_key(key)
    value = core.read_value(lambda: _stdin_value(key), from_file, from_env)
    _commit(root, core.plan_set(root, env, key, value), f"{key} already holds that value")


@secrets.command("rotate")
@click.argument("env")
@click.argument("keys", nargs=-1, metavar="[KEY]...")
@click.pass_obj
def rotate(obj: AppContext, env: str, keys: tuple[str, ...]) -> None:
    """New generated values for KEYs (default: all generated ones) and a new SOPS data key."""
    core.check_rotate_keys(keys, env)
    root = obj.root()
    _commit(root, core.plan_rotate(root, env, keys), env)


@secrets.command("rekey")
@click.argument("env", required=False)
@click.option("--add-recipient", "add", multiple=True, metavar="R",
              help="age public key to add (repeatable).")
@click.option("--remove-recipient", "remove", multiple=True, metavar="R",
              help="age public key to remove (repeatable); rotates the data key.")
@click.option("--all", "all_", is_flag=True, help="Every environment, in one commit.")
@click.pass_obj
def rekey(obj: AppContext, env: str | None, add: tuple[str, ...], remove: tuple[str, ...],
          all_: bool) -> None:
    """Change who can decrypt ENV (sops updatekeys) and its .sops.yaml rule; commit."""
    if all_ and env is not None:
        raise InputError(f"both ENV ({env}) and --all given", "give one of them")
    if not all_ and env is None:
        raise InputError("secrets rekey needs ENV or --all",
                         "name one environment, or pass --all for every environment")
    root = obj.root()
    plan = core.plan_rekey(root, None if all_ else [env or ""], add, remove)
    _commit(root, plan, "recipients already match")
