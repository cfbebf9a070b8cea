"""The gitops-gen command's entry point: `--version` and `--help` answered before click loads.

Importing click costs four times what starting Python does (inspect, uuid, platform...), and
these two are the calls people make to see whether the tool is there and what it does. So the
launcher answers exactly `gitops-gen --version` and `gitops-gen --help` (or `-h`) itself, with
the very text click would print: the version line is click's `version_option` format, and the
help is click's own rendering of the top-level help, kept in help.txt beside this file
(`python -m gitops_gen.devtools.clidoc --write` regenerates it; tests/test_launcher.py fails
when it differs from what click prints). Anything else, or a terminal narrower than the one
help.txt was rendered for, goes to click (cli.main), which then imports what the command needs.
For validate, render, plan and env add, a worker starts first (forked: checks/prestart.py), so
that it loads the checks while this process loads click (and env add writes its files). A
command through click ends the process with end(): exit handlers, flushed output, and no
teardown of every module after them.
"""

# os.path rather than pathlib: importing pathlib would cost these answers a tenth of their time.
# ruff: noqa: PTH118, PTH119, PTH120, PTH123

from __future__ import annotations

import os
import sys

from . import __version__

PROG = "gitops-gen"
VERSION_LINE = f"{PROG}, version {__version__}\n"  # click.version_option's default message
HELP_FILE = os.path.join(os.path.dirname(__file__), "help.txt")
# click wraps help to min(terminal columns, 80) - 2; help.txt is that rendering at 80 columns
# or more (and when the output is no terminal, where click assumes 80).
HELP_COLUMNS = 80


def terminal_columns() -> int:
    """The width click's help formatter sees: shutil.get_terminal_size()'s columns (COLUMNS,
    else the terminal on stdout, else 80), without importing shutil."""
    try:
        columns = int(os.environ.get("COLUMNS", "0"))
    except ValueError:
        columns = 0
    if columns <= 0:
        try:
            columns = os.get_terminal_size(sys.__stdout__.fileno()).columns  # type: ignore[union-attr]
        except (AttributeError, ValueError, OSError):
            columns = 0
    return columns if columns > 0 else 80


def answer(argv: list[str], prog: str) -> str | None:
    """The text to print for argv when the launcher can answer it alone, else None."""
    if prog != PROG:
        return None  # click would name the program differently in its usage line
    if argv == ["--version"]:
        return VERSION_LINE
    if argv in (["--help"], ["-h"]) and terminal_columns() >= HELP_COLUMNS:
        try:
            with open(HELP_FILE, encoding="utf-8") as file:
                return file.read()
        except OSError:
            return None
    return None


def main() -> None:
    """The console script: answer --version/--help here, hand anything else to click, and
    end the process with its exit status (end)."""
    text = answer(sys.argv[1:], os.path.basename(sys.argv[0]))
    if text is not None:
        sys.stdout.write(text)
        sys.stdout.flush()
        return
    end(run(sys.argv[1:]))


def run(argv: list[str]) -> int:
    """The command (sys.argv's, which click reads) through click: its exit status."""
    if starts_worker(argv):
        from .checks import prestart

        if not prestart.fork_worker():  # forked here, loaded while click loads
            from .checks import isolated

            isolated.start_early()  # where it cannot fork: spawned
    from .cli import main as cli_main

    try:
        cli_main()
    except SystemExit as stop:
        return status(stop.code)
    return 0


def status(code: object) -> int:
    """The exit status of SystemExit(code), as the interpreter takes it (a message: 1)."""
    if code is None:
        return 0
    if isinstance(code, int):
        return code
    sys.stderr.write(f"{code}\n")
    return 1


def end(code: int) -> None:
    """Exit with code: the exit handlers run and the output is flushed, as at any exit, but
    the interpreter does not then take every module apart (about a tenth of a validation of a
    small repository). A thread still running that is no daemon gets the usual exit, which
    waits for it."""
    import atexit
    import threading

    if any(t.is_alive() and not t.daemon for t in threading.enumerate()
           if t is not threading.main_thread()):
        sys.exit(code)
    atexit._run_exitfuncs()  # what the interpreter's own exit runs first
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe: the exit status stands
            pass
    os._exit(code & 0xFF)


# The commands that run a worker's validation or render (checks/isolated.py): as their first
# work, or (env add) once they have written the environment's files.
WORKER_COMMANDS = (("validate",), ("render",), ("plan",), ("env", "add"))


def starts_worker(argv: list[str]) -> bool:
    """Whether argv names one of WORKER_COMMANDS (its words after the top-level --repo option,
    its value, and --debug), and asks for no help and no dry run."""
    words = iter(argv)
    command: list[str] = []
    for word in words:
        if word == "--repo":
            next(words, None)
        elif word != "--debug" and not word.startswith("--repo="):
            command = [word, *words]
            break
    if {"--help", "-h", "--dry-run"} & set(argv):
        return False
    return any(command[:len(c)] == list(c) for c in WORKER_COMMANDS)
