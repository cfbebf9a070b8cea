"""An environment's manifests as Argo CD would apply them, from the work tree or a git ref."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import ChartError, InputError, RenderError
from ..model import chart, syncplan
from ..repo import layout, limits, yamlio
from ..secrets import sops
from . import manifestchecks, servicechecks
from .findings import Finding
from .repofiles import READ_DIRS, READ_FILES, EnvFiles, load_repo

if TYPE_CHECKING:
    from ..repo import gitrepo


def render_environment(root: Path, env: str, *, decrypt: bool = False) -> list[chart.Rendered]:
    """Render env with its overlay and SOPS values (ENC placeholders unless decrypt)."""
    return _render(root, env, decrypt)[1]


def render_service(root: Path, *, decrypt: bool = False) -> list[chart.Rendered]:
    """The validation service's manifests as the plugin renders them for source.path
    gitops/service (servicechecks.render): its SOPS values ENC placeholders unless decrypt."""
    found: list[Finding] = []
    files = servicechecks.load_files(root, found)
    if found:
        raise RenderError(layout.SERVICE_NAME, found)
    if decrypt:
        files.secrets.data = sops.nest(sops.decrypt(root / layout.service_secrets(), root))
    try:
        return servicechecks.render(root, files, decrypted=decrypt)
    except ChartError as exc:
        raise RenderError(layout.SERVICE_NAME, [Finding(
            "helm-render", "error", None, layout.service_values(), None,
            f"{exc.helm_message}; fix the value or the service chart's template")]) from exc


def plan_environment(root: Path, env: str,
                     rendered: Sequence[chart.Rendered] | None = None) -> syncplan.SyncPlan:
    """env's sync plan: its rendered objects in Argo CD's order, under its Application's sync
    options (secrets stay ENC placeholders). rendered: env's objects rendered already (by the
    worker of checks/isolated.py), so only the Application is read here."""
    if rendered is None:
        env_files, rendered = _render(root, env, False)
    else:
        env_files = load_repo(root, [env]).envs[env]
    return manifestchecks.sync_plan(env_files, rendered)


def _render(root: Path, env: str, decrypt: bool) -> tuple[EnvFiles, list[chart.Rendered]]:
    repo = load_repo(root, [env])
    env_files = repo.envs[env]
    problems = [f for f in repo.findings if f.is_error]
    if env_files.secrets.text:
        problems += [Finding(
            "sops-encrypted", "error", env, env_files.secrets.path,
            env_files.secrets.line(key.split(".")), f"{key} is not encrypted (value not shown); "
            f"re-encrypt it with 'gitops-gen secrets set {env} {key}'")
            for key in sops.unencrypted_keys(env_files.secrets.text)]
    problems += manifestchecks.values_findings(repo, env_files)
    if problems:
        raise RenderError(env, problems)
    if decrypt:
        plain = sops.nest(sops.decrypt(root / layout.secrets_path(env), root))
        env_files.secrets.data = plain
    rendered, errors = manifestchecks.render_env(repo, env_files, decrypted=decrypt)
    if errors:
        raise RenderError(env, errors)
    return env_files, rendered


def object_filename(item: chart.Rendered) -> str:
    return f"{item.kind.lower()}-{item.name}.yaml"


def _document(item: chart.Rendered) -> str:
    return f"# Source: {layout.CHART_DIR}/{item.source}\n{yamlio.dump_fast(item.obj)}"


def to_stream(rendered: Sequence[chart.Rendered]) -> str:
    return "".join(f"---\n{_document(r)}" for r in rendered)


def to_files(rendered: Sequence[chart.Rendered]) -> dict[str, str]:
    return {object_filename(r): _document(r) for r in rendered}


CHECKOUT_PATHS = (*READ_DIRS, *READ_FILES)


@contextmanager
def checkout(root: Path, ref: str) -> Iterator[Path]:
    """What validation reads of the repository at ref (chart/, overlays/, gitops/ and the
    settings), in a new temporary directory: that commit's tree exactly as git stores it.

    The files come from the object store (git ls-tree and cat-file), never from a work tree
    and never through .gitattributes: no export-ignore hides a file, no filter or line-ending
    conversion runs or changes one. A commit holding more than the caps allow is refused before
    anything is read; a tree git itself would refuse to check out (a path naming . or .., a
    file under a link) is refused before anything is written."""
    from ..repo import gitrepo  # GitPython: only here, not in every worker process

    entries = gitrepo.tree_entries(root, ref, CHECKOUT_PATHS)
    files = [e for e in entries if e.size is not None]
    total = sum(e.size or 0 for e in files)
    if total > limits.MAX_TREE_BYTES or len(files) > limits.MAX_TREE_FILES:
        raise InputError(f"{ref!r} holds {len(files)} files of {total} bytes in "
                         f"{', '.join(CHECKOUT_PATHS)}, over the limits ("
                         f"{limits.MAX_TREE_FILES} files, {limits.MAX_TREE_BYTES} bytes)",
                         "gitops-gen validates no larger repository")
    problem = _unsafe_path(entries)
    if problem:
        raise InputError(f"{ref!r} holds a path that leaves its own tree ({problem!r})",
                         "fix the commit")
    blobs = gitrepo.read_blobs(root, [e.oid for e in files])
    with tempfile.TemporaryDirectory(prefix="gitops-gen-ref-") as tmp:
        try:
            _write_tree(Path(tmp), entries, blobs)
        except (OSError, ValueError) as exc:  # a name too long, a NUL in a link's target
            raise InputError(f"{ref!r} holds a path this system cannot write "
                             f"({type(exc).__name__})", "fix the commit") from None
        yield Path(tmp)


def _unsafe_path(entries: Sequence[gitrepo.TreeEntry]) -> str | None:
    """The first path that is not a plain relative one, repeats another, or lies under a
    file or a link: None when every entry can be written without following anything."""
    leaves: set[str] = set()
    seen: set[str] = set()
    for entry in entries:
        parts = entry.path.split("/")
        if entry.path in seen or any(part in ("", ".", "..") for part in parts):
            return entry.path
        seen.add(entry.path)
        if not entry.is_dir:
            leaves.add(entry.path)
    for entry in entries:
        parts = entry.path.split("/")
        if any("/".join(parts[:n]) in leaves for n in range(1, len(parts))):
            return entry.path
    return None


def _write_tree(dest: Path, entries: Sequence[gitrepo.TreeEntry],
                blobs: dict[str, bytes]) -> None:
    """Write entries (checked by _unsafe_path) under dest: directories and files first, each
    file created anew (O_EXCL, O_NOFOLLOW), then the links, as the links they are: nothing
    is written through one (safefs refuses to follow them later, as a finding)."""
    from ..repo import gitrepo

    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)
    for entry in entries:
        target = dest.joinpath(*entry.path.split("/"))
        if entry.is_dir:
            target.mkdir(parents=True, exist_ok=True)
        elif entry.mode != gitrepo.LINK_MODE:
            target.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(target, flags, 0o755 if entry.mode == "100755" else 0o644)
            with os.fdopen(fd, "wb") as out:
                out.write(blobs[entry.oid])
    for entry in entries:
        if entry.mode == gitrepo.LINK_MODE:
            target = dest.joinpath(*entry.path.split("/"))
            target.parent.mkdir(parents=True, exist_ok=True)
            target.symlink_to(os.fsdecode(blobs[entry.oid]))
