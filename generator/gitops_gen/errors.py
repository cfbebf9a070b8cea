"""One error family, in this module. Every message says what went wrong and ends with what to do.

The CLI (cli.py) maps each branch of the family to an exit code, the table in docs/security.md,
"Exit codes":

    GitopsGenError                  base (a failure the user can act on)
      ValidationFailed          1   the result of a change does not validate; nothing was kept
      InputError                2   bad usage or bad input; nothing was written
        ConflictError               the repository is not in a state the command can work on
        YamlError                   a YAML file that does not parse
        SettingsError               a value of .gitops-gen.yaml
        PathRefused                 a path the tool will not read (a link, a device, too large)
        TreeTooLarge                a directory past the caps
        ChartError                  Helm refused the chart or the values
        RenderError                 an environment's files do not render
      MissingError              3   a needed tool, key, remote or file is missing or failed
        ToolError                   an external program failed or is not installed
        NoDecryptionKey             no age identity can decrypt what was asked
        ForgeError                  the forge (GitHub) refused or could not be reached
    Stopped (a SystemExit)    128+N stopped by signal N

Core modules raise these and never print or exit. tests/test_errors.py holds every class of the
family to this module and each branch to its code.
"""

from __future__ import annotations

import signal
from collections.abc import Sequence
from typing import Protocol


class GitopsGenError(Exception):
    """Base class: a failure the user can act on (docs/security.md, "Exit codes")."""

    exit_code = 3

    def __init__(self, message: str, fix: str = "") -> None:
        self.message = message
        self.fix = fix
        super().__init__(self.render())

    def render(self) -> str:
        """One line: what went wrong, then how to fix it."""
        return f"{self.message}; {self.fix}" if self.fix else self.message


# ---- exit 1 ------------------------------------------------------------------------------


class ValidationFailed(GitopsGenError):
    """Exit 1 (docs/security.md, "Exit codes"): what a command wrote (an environment, a
    promotion, the service's files) does not validate, so nothing was kept."""

    exit_code = 1

    def __init__(self, problems: Sequence[str],
                 subject: str = "the environment does not validate") -> None:
        self.problems = list(problems)
        super().__init__(
            f"{subject}: " + "; ".join(self.problems[:3]),
            "fix the inputs or the chart and run again (nothing was written)",
        )


# ---- exit 2 ------------------------------------------------------------------------------


class InputError(GitopsGenError):
    """Exit 2 (docs/security.md, "Exit codes"): bad usage or bad input: a flag, a name, a file's
    content. Nothing was written."""

    exit_code = 2


class ConflictError(InputError):
    """The repository is not in a state the command can work on (dirty file, lock held)."""


class YamlError(InputError):
    """A YAML file that does not parse, with its file and line."""

    def __init__(self, where: str, problem: str, line: int | None) -> None:
        self.where = where
        self.line = line
        self.problem = problem
        super().__init__(f"{where}: {problem}", "fix the YAML at that line")


class SettingsError(InputError):
    """A value of the settings file (.gitops-gen.yaml) that is missing or of the wrong type,
    with its line."""

    def __init__(self, file: str, message: str, fix: str, line: int | None) -> None:
        self.line = line
        self.problem = message
        super().__init__(f"{file}:{line or 1}: {message}", fix)


class PathRefused(InputError):
    """A path the tool will not read: a link, not a regular file, too large, not UTF-8
    (repo/safefs.py)."""

    def __init__(self, path: str, problem: str, fix: str, line: int | None = None) -> None:
        self.path = path
        self.problem = problem
        self.line = line
        super().__init__(f"{path}: {problem}", fix)


class TreeTooLarge(InputError):
    """A directory holds more files, levels or bytes than the caps allow (repo/limits.py)."""

    def __init__(self, path: str, problem: str) -> None:
        self.path = path
        self.problem = problem
        super().__init__(f"{path}: {problem}", "gitops-gen reads no larger repository")


class ChartError(InputError):
    """Helm refused the chart or the values; helm_message is Helm's own (cleaned) message."""

    def __init__(self, helm_message: str, fix: str = "fix the value or template it names",
                 file: str | None = None, line: int | None = None) -> None:
        self.helm_message = helm_message
        self.file = file  # the chart's file at fault, repo-relative, when one is
        self.line = line
        super().__init__(f"the chart does not render: {helm_message}", fix)


class Located(Protocol):
    """What RenderError reads of a finding (checks/findings.py Finding)."""

    @property
    def location(self) -> str: ...

    @property
    def message(self) -> str: ...


class RenderError(InputError):
    """The environment's files do not render; the findings (checks/findings.py) say why."""

    def __init__(self, env: str, findings: Sequence[Located]) -> None:
        self.env = env
        self.findings = list(findings)
        first = self.findings[0]
        super().__init__(f"{env} does not render: {first.location}: {first.message}",
                         "run 'gitops-gen validate' for every finding")


# ---- exit 3 ------------------------------------------------------------------------------


class MissingError(GitopsGenError):
    """Exit 3 (docs/security.md, "Exit codes"): a needed tool, key, remote or file is missing
    or failed. Nothing was half-written."""

    exit_code = 3


class ToolError(MissingError):
    """An external program (sops, git) failed or is not installed."""


class NoDecryptionKey(MissingError):
    """No age identity can decrypt what was asked (none set, unreadable, or not a recipient)."""


class ForgeError(MissingError):
    """The forge refused or could not be reached."""


# ---- 128+N ---------------------------------------------------------------------------------


class Stopped(SystemExit):
    """Exit 128+N (docs/security.md, "Exit codes" and "Stopping"): SIGTERM, SIGHUP or SIGINT
    (Ctrl-C), raised where the program is, so every cleanup on the way out runs (written files
    put back, a worker stopped, the repository lock freed).

    outcome says what the stop left, when a step that changes the repository was under way
    (repo/transaction.py sets it): nothing changed, or the commit that landed.
    """

    def __init__(self, signum: int) -> None:
        super().__init__(128 + signum)
        self.signal_name = signal.Signals(signum).name
        self.outcome: str | None = None
