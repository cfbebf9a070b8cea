"""One module per command (group), imported only when that command runs or shows its help.

COMMANDS names every top-level command, the module and function that define it, and the first
paragraph of its help, so that `gitops-gen --help` and `--version` import none of them (nor
GitPython, the Helm SDK or the HTTP stack that they pull in). tests/test_cli.py checks the
summaries against the commands' own help.
"""

from __future__ import annotations

import importlib
from gettext import gettext as _
from typing import NamedTuple

import click


class CommandRef(NamedTuple):
    module: str  # in this package
    function: str
    summary: str  # the first paragraph of the command's help, as its docstring has it


COMMANDS: dict[str, CommandRef] = {
    "init": CommandRef(
        "init", "init",
        "Create a new GitOps repository at PATH: chart, .sops.yaml, gitops/, overlays/, "
        "CI."),
    "env": CommandRef(
        "env", "env",
        "Add, list, show and remove environments."),
    "secrets": CommandRef(
        "secrets", "secrets",
        "List, set, rotate and re-key an environment's SOPS secrets."),
    "validate": CommandRef(
        "validate", "validate",
        "Run every check (all environments, or the ones named). Exit 1 on any error."),
    "render": CommandRef(
        "checks", "render",
        "Render ENV's manifests as Argo CD would (secrets as ENC placeholders by "
        "default)."),
    "plan": CommandRef(
        "checks", "plan",
        "Show ENV's sync plan: objects in Argo CD's order, by wave, and what each wave "
        "waits for, under the sync options of ENV's Application (PruneLast, "
        "ApplyOutOfSyncOnly, Prune...)."),
    "diff": CommandRef(
        "checks", "diff",
        "Rendered-manifest diff of ENV between two git refs; secret values masked."),
    "promote": CommandRef(
        "promote", "promote",
        "Copy SRC's image references into DST's overlay as a commit on branch "
        "promote/SRC-to-DST."),
    "serve": CommandRef(
        "serve", "serve",
        "The validation service: GET / (dashboard), GET /metrics, GET /healthz, POST "
        "/validate, POST /webhook/github."),
    "service": CommandRef(
        "service", "service",
        "The validation service's deployment in this repository (gitops/service/)."),
    "bootstrap": CommandRef(
        "bootstrap", "bootstrap",
        "Install Argo CD with this repository's decryption sidecar, then the root app."),
    "doctor": CommandRef(
        "doctor", "doctor",
        "Check sops, the age key, git identity and the Helm SDK."),
    "image": CommandRef(
        "image", "image",
        "Set the image an environment runs (the entry point for an application's CI)."),
    "history": CommandRef(
        "history", "history",
        "Which image reference of each component ENV ran, from when to when, set by which"
        " commit and pull request (read from the target revision's history, newest first;"
        " times UTC)."),
    "status": CommandRef(
        "status", "status",
        "Environments x components in promotion order, read from the target revision."),
    "rollback": CommandRef(
        "rollback", "rollback",
        "Put ENV's image references back to what they were at REV."),
}


def load(name: str) -> click.Command:
    """The command called name, its module imported now."""
    ref = COMMANDS[name]
    command = getattr(importlib.import_module(f"{__name__}.{ref.module}"), ref.function)
    if not isinstance(command, click.Command):
        raise TypeError(f"{__name__}.{ref.module}.{ref.function} is not a click command")
    return command


class LazyGroup(click.Group):
    """A group whose commands are imported when one is called; its help lists them all from
    COMMANDS, exactly as click would list the loaded commands."""

    def list_commands(self, ctx: click.Context) -> list[str]:  # noqa: ARG002 - click's API
        return sorted({*self.commands, *COMMANDS})

    def get_command(self, ctx: click.Context,  # noqa: ARG002 - click's API
                    cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands and cmd_name in COMMANDS:
            self.add_command(load(cmd_name), cmd_name)
        return self.commands.get(cmd_name)

    def _listed(self, name: str) -> click.Command:
        """The command if loaded, else a stand-in with its summary (same short help)."""
        return self.commands.get(name) or click.Command(name, help=COMMANDS[name].summary)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        # click.Group.format_commands, with the stand-ins instead of imported commands.
        listed = [(name, self._listed(name)) for name in self.list_commands(ctx)]
        listed = [(name, cmd) for name, cmd in listed if not cmd.hidden]
        if not listed:
            return
        limit = formatter.width - 6 - max(len(name) for name, _cmd in listed)
        rows = [(name, cmd.get_short_help_str(limit)) for name, cmd in listed]
        with formatter.section(_("Commands")):
            formatter.write_dl(rows)
