"""The command line: parses, calls one core function, prints. Nothing else imports this."""

from __future__ import annotations

import re
import signal
import sys
import threading
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import click

from . import __version__
from .commands import LazyGroup
from .commands.context import AppContext
from .errors import GitopsGenError, Stopped

if TYPE_CHECKING:
    from collections.abc import Iterator
    from types import FrameType

STOP_SIGNALS = (signal.SIGTERM, signal.SIGHUP, signal.SIGINT)
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def one_line(text: str) -> str:
    """text with its line breaks and runs of blanks folded into single spaces, and any other
    control character (an escape sequence from a file name) shown as \\xNN, not sent to
    the terminal."""
    folded = " ".join(text.split())
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", folded)


def _stop(signum: int, _frame: FrameType | None) -> None:
    for sig in STOP_SIGNALS:  # a second signal must not cut the cleanup short
        signal.signal(sig, signal.SIG_IGN)
    raise Stopped(signum)


@contextmanager
def _signals_unwind() -> Iterator[None]:
    """While the command runs, SIGTERM and SIGHUP unwind it like any failure."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {sig: signal.signal(sig, _stop) for sig in STOP_SIGNALS}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler if handler is not None else signal.SIG_DFL)


class GitopsGenGroup(LazyGroup):
    """Maps the error family to exit codes; hides tracebacks unless --debug. A command's
    modules are imported when it runs (see commands/__init__.py)."""

    def main(self, *args: Any, **kwargs: Any) -> Any:
        with _signals_unwind():
            try:
                return super().main(*args, **kwargs)
            except Stopped as exc:
                outcome = exc.outcome or "run the command again"
                click.secho(f"error: stopped by {exc.signal_name}; {outcome}", fg="red",
                            err=True)
                raise

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except GitopsGenError as exc:
            click.secho(f"error: {one_line(exc.render())}", fg="red", err=True)
            sys.exit(exc.exit_code)
        except (click.ClickException, click.exceptions.Exit, click.Abort, SystemExit):
            raise
        except Exception as exc:  # noqa: BLE001 - the last line of defence
            debug = ctx.obj is not None and ctx.obj.debug
            if debug:
                import traceback

                traceback.print_exc()
            else:
                click.secho(
                    f"internal error: {type(exc).__name__}: {one_line(str(exc))}; "
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
    type=click.Path(file_okay=False),
    help="The GitOps repository (default: the git repository around the current directory).",
)
@click.option("--debug", is_flag=True, help="Show tracebacks of internal errors.")
@click.pass_context
def main(ctx: click.Context, repo: str | None, debug: bool) -> None:
    """Write and check the Todo Chatbot's GitOps repository (Helm, SOPS, Argo CD)."""
    ctx.obj = AppContext(repo_option=repo, debug=debug)

