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
    "init": CommandRef("init", "init", "Create a new GitOps repository at PATH: chart, "
                       ".sops.yaml, gitops/, overlays/, CI."),
    "env": CommandRef("env", "env", "Add, list, show and remove environments."),
    "secrets": CommandRef("secrets", "secrets",
                          "List, set, rotate and re-key an environment's SOPS secrets."),
    "validate": CommandRef("checks", "validate", "Run every check (all environments, or the "
                           "ones named). Exit 1 on any error."),
    "render": CommandRef("checks", "render", "Render ENV's manifests as Argo CD would (secrets "
                         "as ENC placeholders by default)."),
    "plan": CommandRef("checks", "plan", "Show ENV's sync plan: objects in Argo CD's order, by "
                       "wave, and what each wave waits for."),
    "diff": CommandRef("checks", "diff", "Rendered-manifest diff of ENV between two git refs; "
                       "secret values masked."),
    "promote": CommandRef("promote", "promote", "Copy SRC's image tags into DST's overlay as a "
                          "commit on a new branch promote/SRC-to-DST-*."),
    "serve": CommandRef("serve", "serve", "The validation service: GET /healthz, "
                        "POST /validate, POST /webhook/github."),
    "bootstrap": CommandRef("bootstrap", "bootstrap", "Give Argo CD's repo-server the local "
                            "age key (a Secret piped to kubectl)."),
    "doctor": CommandRef("doctor", "doctor",
                         "Check sops, the age key, git identity and the Helm SDK."),
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
