"""The command reference (docs/commands.md), generated from Click's own help texts.

python -m gitops_gen.devtools.clidoc --write   rewrites it; --check exits 1 when it is stale.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import click

from ..cli import main as gitops_gen

DOC = Path(__file__).resolve().parents[3] / "docs" / "commands.md"
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--write", action="store_true")
    group.add_argument("--check", action="store_true")
    args = parser.parse_args(argv)
    text = render()
    if args.write:
        DOC.parent.mkdir(exist_ok=True)
        DOC.write_text(text)
        return 0
    if not DOC.is_file() or DOC.read_text() != text:
        print(f"{DOC} is stale; run 'python -m gitops_gen.devtools.clidoc --write'",
              file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
