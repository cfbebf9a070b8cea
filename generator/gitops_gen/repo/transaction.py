"""One transactional apply: write planned files and commit exactly them, or change nothing.

Under the repository lock: refuse targets with uncommitted edits (and, given the plan's base,
targets another commit touched since the plan was made), write atomically (changes.apply),
run an optional check, commit exactly these paths. Any failure after the write puts the
files back as they were.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from ..errors import ConflictError
from . import changes, gitrepo, safefs
from .changes import FileChange


def refuse_dirty(root: Path, paths: Sequence[str]) -> None:
    """Refuse when any of paths has uncommitted changes (staged, unstaged or untracked)."""
    dirty = gitrepo.dirty_paths(root, list(paths))
    if dirty:
        raise ConflictError(
            f"uncommitted changes in {', '.join(dirty)}",
            "commit or stash them first, then run the command again",
        )


def last_commits(root: Path, paths: Sequence[str]) -> dict[str, str | None]:
    """The last commit touching each path (None: never committed): a plan's base."""
    return {p: (c.sha if (c := gitrepo.last_change(root, p)) else None) for p in paths}


def refuse_stale(root: Path, base: Mapping[str, str | None]) -> None:
    """Refuse when a commit touched one of base's paths since base was taken."""
    for path, sha in base.items():
        now = gitrepo.last_change(root, path)
        if (now.sha if now else None) != sha:
            raise ConflictError(f"{path} was changed by another commit while this ran",
                                "run the command again")


def refuse_moved(root: Path, todo: Sequence[FileChange]) -> None:
    """Refuse when a target no longer holds what the plan was made from (a concurrent run)."""
    for change in todo:
        try:
            now = safefs.read_text(root, change.path)
        except safefs.Refused:
            now = None  # replaced by a link or a directory since the plan: not what it was
        if now != change.old:
            raise ConflictError(f"{change.path} changed while this command ran",
                                "run the command again")


def apply(
    root: Path,
    planned: Sequence[FileChange],
    message: str,
    *,
    commit: bool = True,
    check: Callable[[], None] | None = None,
    base: Mapping[str, str | None] | None = None,
) -> str | None:
    """Write the pending changes and commit exactly their paths; the new commit's sha.

    None when nothing is pending, commit is False or the files hold no change. base (from
    last_commits() when planning) refuses a stale plan before anything is written. check()
    runs after the files are written and before the commit; an exception from it, like any
    other failure, restores the files.
    """
    todo = changes.pending(planned)
    if not todo:
        return None
    paths = [c.path for c in todo]
    with gitrepo.locked(root):
        if base is not None:
            refuse_stale(root, base)
        refuse_dirty(root, paths)
        refuse_moved(root, todo)
        changes.apply(root, todo)
        try:
            if check is not None:
                check()
            return gitrepo.commit_paths(root, paths, message) if commit else None
        except BaseException:
            changes.restore(root, todo)
            raise
