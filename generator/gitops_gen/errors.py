"""One error family. Every message says what went wrong and ends with what to do.

The CLI maps each class to an exit code (see product.md): InputError -> 2,
MissingError -> 3. Core modules raise these and never print or exit.
"""

from __future__ import annotations


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
