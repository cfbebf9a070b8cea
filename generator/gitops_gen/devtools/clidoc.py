"""The command reference (docs/commands.md) and the launcher's top-level help (help.txt in the
package), generated from Click's own help texts.

python -m gitops_gen.devtools.clidoc --write   rewrites both; --check exits 1 when one is stale.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import click

from .. import launcher
from ..cli import main as gitops_gen

DOC = Path(__file__).resolve().parents[3] / "docs" / "commands.md"
HELP = Path(launcher.HELP_FILE)
HEADER = (
    "# gitops-gen command reference\n\n"
    "Generated from the commands' own help by `python -m gitops_gen.devtools.clidoc --write`; "
    "CI checks it is current.\n"
)


def _walk(command: click.Command, path: list[str]) -> list[tuple[list[str], click.Command]]:
    out = [(path, command)]
    if isinstance(command, click.Group):
        for name in command.list_commands(click.Context(command)):
            sub = command.get_command(click.Context(command), name)
            if sub is not None and not sub.hidden:
                out.extend(_walk(sub, [*path, name]))
    return out


def render() -> str:
    parts = [HEADER]
    for path, command in _walk(gitops_gen, ["gitops-gen"]):
        with click.Context(command, info_name=" ".join(path), terminal_width=100,
                           help_option_names=["-h", "--help"]) as ctx:
            help_text = command.get_help(ctx)
        level = "#" * min(len(path) + 1, 4)
        parts.append(f"\n{level} `{' '.join(path)}`\n\n```\n{help_text}\n```\n")
    return "".join(parts)


def top_help() -> str:
    """What `gitops-gen --help` prints on a terminal of launcher.HELP_COLUMNS columns or more."""
    settings = dict(gitops_gen.context_settings)
    with click.Context(gitops_gen, info_name=launcher.PROG,
                       terminal_width=launcher.HELP_COLUMNS - 2, **settings) as ctx:
        return gitops_gen.get_help(ctx) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--write", action="store_true")
    group.add_argument("--check", action="store_true")
    args = parser.parse_args(argv)
    wanted = {DOC: render(), HELP: top_help()}
    if args.write:
        for path, text in wanted.items():
            path.parent.mkdir(exist_ok=True)
            path.write_text(text, encoding="utf-8")
        return 0
    stale = [path for path, text in wanted.items()
             if not path.is_file() or path.read_text(encoding="utf-8") != text]
    for path in stale:
        print(f"{path} is stale; run 'python -m gitops_gen.devtools.clidoc --write'",
              file=sys.stderr)
    return 1 if stale else 0


if __name__ == "__main__":
    sys.exit(main())
