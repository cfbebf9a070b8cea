"""One transactional apply: write planned files and commit exactly them, or change nothing.

Under the repository lock: refuse targets with uncommitted edits (and, given the plan's base,
targets another commit touched since the plan was made), write atomically (changes.apply),
run an optional check, commit exactly these paths. Any failure after the write, a signal
included, settles the repository in one of two states and says which: the commit landed (its
files stay, the index matches it) or nothing changed (files put back, index entries reset).
A stop during the commit stops git first (proc.run), so the answer cannot change afterwards.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from ..errors import ConflictError, GitopsGenError, MissingError, PathRefused, Stopped
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
        except PathRefused:
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
    other failure, restores the files. A Stopped on the way out carries the outcome.
    """
    todo = changes.pending(planned)
    if not todo:
        return None
    paths = [c.path for c in todo]
    try:
        with gitrepo.locked(root):
            if base is not None:
                refuse_stale(root, base)
            refuse_dirty(root, paths)
            refuse_moved(root, todo)
            head = gitrepo.head_sha(root)
            changes.apply(root, todo)  # all or nothing by itself, signals included
            try:
                if check is not None:
                    check()
                return gitrepo.commit_paths(root, paths, message) if commit else None
            except BaseException as exc:
                outcome = settle(root, todo, head, message)
                if isinstance(exc, Stopped):
                    exc.outcome = outcome + (
                        "; run the command again" if outcome == NOTHING_CHANGED else "")
                elif isinstance(exc, OSError):  # a full or read-only file system
                    raise MissingError(f"could not write in {root}: {exc.strerror}",
                                       f"check free space and permissions; {outcome}") from exc
                elif isinstance(exc, GitopsGenError) and (
                        outcome != NOTHING_CHANGED or "nothing was" not in exc.fix):
                    exc.fix = f"{exc.fix}; {outcome}" if exc.fix else outcome
                raise
    except OSError as exc:  # the lock file: a read-only or full file system
        raise MissingError(f"could not write in {root}: {exc.strerror}",
                           "check the file system's permissions and free space; nothing was "
                           "changed") from exc


NOTHING_CHANGED = "nothing was changed"


def settle(root: Path, todo: Sequence[FileChange], head: str | None, message: str) -> str:
    """After a failure or a stop: either the commit landed (keep it) or put everything back.
    Returns what the repository holds now, in words."""
    paths = [c.path for c in todo]
    try:
        now = gitrepo.head_sha(root)
        landed = now is not None and now != head and gitrepo.commit_summary(root, now) == (
            [head] if head else [], message.splitlines()[0])
    except GitopsGenError:
        now, landed = None, False
    left: list[str] = []
    if not landed:
        left = changes.restore(root, todo)
    try:
        gitrepo.unstage(root, paths)
        index_ok = True
    except GitopsGenError:
        index_ok = False
    if landed and now is not None:
        said = f"the commit {now[:8]} ({message.splitlines()[0]}) landed before it stopped"
        return said + ("" if index_ok else
                       f"; the index still differs: run 'git reset -q -- {' '.join(paths)}'")
    problems = []
    if left:
        problems.append(f"{', '.join(left)} could not be put back: run 'git checkout -- "
                        f"{' '.join(left)}'")
    if not index_ok:
        problems.append(f"the index still stages them: run 'git reset -q -- {' '.join(paths)}'")
    if problems:
        return "nothing was committed, but " + "; ".join(problems)
    return NOTHING_CHANGED
