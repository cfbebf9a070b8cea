"""The command line: parses, calls one core function, prints. Nothing else imports this."""

from __future__ import annotations

import sys
import traceback
from pathlib import Path
from typing import Any

import click

from . import __version__
from .commands import COMMANDS
from .commands.context import AppContext
from .errors import GitopsGenError


class GitopsGenGroup(click.Group):
    """Maps the error family to exit codes; hides tracebacks unless --debug."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except GitopsGenError as exc:
            click.secho(f"error: {exc.render()}", fg="red", err=True)
            sys.exit(exc.exit_code)
        except (click.ClickException, click.exceptions.Exit, click.Abort, SystemExit):
            raise
        except Exception as exc:  # noqa: BLE001 - the last line of defence
            debug = ctx.obj is not None and ctx.obj.debug
            if debug:
                traceback.print_exc()
            else:
                click.secho(
                    f"internal error: {type(exc).__name__}: {exc}\n"
                    "run again with --debug for the traceback, and report it",
                    fg="red",
                    err=True,
                )
            sys.exit(3)


@click.group(cls=GitopsGenGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="gitops-gen")
@click.option(
    "--repo",
    "repo",
    type=click.Path(file_okay=False, path_type=Path),
    help="The GitOps repository (default: the git repository around the current directory).",
)
@click.option("--debug", is_flag=True, help="Show tracebacks of internal errors.")
@click.pass_context
def main(ctx: click.Context, repo: Path | None, debug: bool) -> None:
    """Write and check the Todo Chatbot's GitOps repository (Helm, SOPS, Argo CD)."""
    ctx.obj = AppContext(repo_option=repo, debug=debug)


for command in COMMANDS:
    main.add_command(command)
