"""gitops-gen render | plan | diff."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import click

from ..checks import isolated, rendering, syncchecks
from ..checks.repofiles import check_env_names
from ..errors import InputError
from ..model import chart, manifestdiff, syncplan
from ..repo import changes, gitrepo, layout, safefs
from ..repo import config as settings_mod
from .context import AppContext

# The names render --output gives its files (rendering.object_filename): kind-name.yaml.
_OBJECT_FILE = re.compile(r"^[a-z0-9]+-[a-z0-9]([-a-z0-9.]*[a-z0-9])?\.yaml$")


@click.command()
@click.argument("env")
@click.option("--output", type=click.Path(file_okay=False, path_type=Path),
              help="Write one file per object (kind-name.yaml) here instead of a stream on "
                   "stdout; such files written before for objects that no longer render "
                   "are removed.")
@click.option("--decrypt", is_flag=True,
              help="Render real secret values (needs the age key; stdout only).")
@click.pass_obj
def render(obj: AppContext, env: str, output: Path | None, decrypt: bool) -> None:
    """Render ENV's manifests as Argo CD would (secrets as ENC placeholders by default)."""
    if decrypt and output is not None:
        raise click.UsageError(
            "--decrypt writes to stdout only: plaintext secrets never go to disk")
    rendered = isolated.render(obj.root(), env, decrypt=decrypt)
    if output is None:
        click.echo(rendering.to_stream(rendered), nl=False)
        return
    output.mkdir(parents=True, exist_ok=True)
    files: dict[str, str | None] = dict(rendering.to_files(rendered))
    stale = sorted(p.name for p in output.iterdir()
                   if p.name not in files and _written_by_render(p))
    planned = changes.plan(output, {**files, **dict.fromkeys(stale)})
    changes.apply(output, planned)
    click.echo(f"wrote {len(files)} objects to {output}")
    if stale:
        click.echo(f"removed {len(stale)} files of objects that no longer render: "
                   f"{', '.join(stale)}")


def _written_by_render(path: Path) -> bool:
    """A file render --output writes: kind-name.yaml, starting with its '# Source:' line."""
    if not (_OBJECT_FILE.fullmatch(path.name) and path.is_file()):
        return False
    with path.open(errors="replace") as fh:
        return fh.readline().startswith(f"# Source: {layout.CHART_DIR}/")


@click.command()
@click.argument("env")
@click.pass_obj
def plan(obj: AppContext, env: str) -> None:
    """Show ENV's sync plan: objects in Argo CD's order, by wave, and what each wave waits for,
    under the sync options of ENV's Application (PruneLast, ApplyOutOfSyncOnly, Prune...)."""
    rendered = isolated.render(obj.root(), env)
    sync = rendering.plan_environment(obj.root(), env, rendered)
    click.echo(syncplan.render_plan_text(sync), nl=False)
    issues = syncchecks.check_plan(sync)
    for issue in issues:
        colour = "red" if issue.severity == "error" else "yellow"
        click.secho(f"{issue.severity}: {issue.message}", fg=colour)
    sys.exit(1 if any(i.severity == "error" for i in issues) else 0)


@click.command()
@click.argument("env")
@click.option("--base", help="Base git ref (default: merge-base with the target revision).")
@click.option("--head", help="Head git ref (default: the work tree).")
@click.pass_obj
def diff(obj: AppContext, env: str, base: str | None, head: str | None) -> None:
    """Rendered-manifest diff of ENV between two git refs; secret values masked."""
    check_env_names([env])
    root = obj.root()
    # An empty --base is a bad ref like any other, not a request for the default.
    base_ref = base if base is not None else gitrepo.merge_base(
        root, settings_mod.load(root).target_revision)
    with rendering.checkout(root, base_ref) as base_tree:
        old = _render_if_present(base_tree, env)
    if head is None:
        new = _render_if_present(root, env)
    else:
        with rendering.checkout(root, head) as head_tree:
            new = _render_if_present(head_tree, env)
    if old is None and new is None:
        raise InputError(
            f"no environment {env!r} at {base if base is not None else 'the merge-base'} "
            f"({base_ref[:12]}) nor in {head or 'the work tree'}",
            "see 'gitops-gen env list', or name other refs with --base/--head")
    diffs = manifestdiff.diff_objects(old or [], new or [])
    if not diffs:
        click.echo(f"{env}: no changes to rendered manifests")
        return
    for d in diffs:
        click.secho(f"{d.status}: {d.key}", bold=True)
        click.echo(d.text, nl=False)


def _render_if_present(tree: Path, env: str) -> list[chart.Rendered] | None:
    """env's objects in tree, or None when the tree has no overlay for env (added/removed)."""
    if not safefs.is_file(tree, layout.values_path(env)):
        return None
    return isolated.render(tree, env)
