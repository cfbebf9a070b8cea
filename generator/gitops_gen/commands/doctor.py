"""gitops-gen doctor: is this machine ready to write and check the repository?"""

from __future__ import annotations

import sys

import click

from ..model import doctor as core


@click.command()
def doctor() -> None:
    """Check sops, the age key, git identity and the Helm SDK."""
    checks = core.run_checks()
    for check in checks:
        mark = click.style("ok", fg="green") if check.ok else click.style("missing", fg="red")
        line = f"{mark:>8}  {check.name}: {check.detail}"
        if not check.ok and check.fix:
            line += f" ({check.fix})"
        click.echo(line)
    if not all(c.ok for c in checks):
        sys.exit(3)
