"""One error family. Every message says what went wrong and ends with what to do.

The CLI maps each class to an exit code: InputError -> 2, MissingError -> 3 (the whole table
is in docs/security.md, "Exit codes"). Core modules raise these and never print or exit.
"""

from __future__ import annotations

import signal


class GitopsGenError(Exception):
    """Base class: a failure the user can act on."""

    exit_code = 3

    def __init__(self, message: str, fix: str = "") -> None:
        self.message = message
        self.fix = fix
        super().__init__(self.render())

    def render(self) -> str:
        """One line: what went wrong, then how to fix it."""
        return f"{self.message}; {self.fix}" if self.fix else self.message


class InputError(GitopsGenError):
    """Bad usage or bad input: a flag, a name, a file's content. Nothing was written."""

    exit_code = 2


class MissingError(GitopsGenError):
    """A needed tool, key, remote or file is missing or failed. Nothing was half-written."""

    exit_code = 3


class ToolError(MissingError):
    """An external program (sops, git) failed or is not installed."""


class KeyError_(MissingError):
    """No age identity can decrypt what was asked."""


class ConflictError(InputError):
    """The repository is not in a state the command can work on (dirty file, lock held)."""


class Stopped(SystemExit):
    """SIGTERM, SIGHUP or SIGINT (Ctrl-C), raised where the program is, so every cleanup on the
    way out runs (written files put back, a worker stopped, the repository lock freed).

    outcome says what the stop left, when a step that changes the repository was under way
    (repo/transaction.py sets it): nothing changed, or the commit that landed.
    """

    def __init__(self, signum: int) -> None:
        super().__init__(128 + signum)
        self.signal_name = signal.Signals(signum).name
        self.outcome: str | None = None
