"""Plan, then apply: desired files in memory, compared with disk, written atomically.

A plan is a list of FileChange. apply() writes every file to a temp file beside it, renames
them all at the end, and restores the previous contents if anything fails before the end,
so a failure halfway leaves the tree as it was.
"""

from __future__ import annotations

import difflib
import os
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

from ..errors import MissingError
from . import safefs


class Action(StrEnum):
    CREATE = "create"
    UPDATE = "update"
    DELETE = "delete"
    UNCHANGED = "unchanged"


@dataclass(frozen=True)
class FileChange:
    path: str  # repo-relative, POSIX
    action: Action
    old: str | None
    new: str | None

    def diff(self) -> str:
        old = (self.old or "").splitlines(keepends=True)
        new = (self.new or "").splitlines(keepends=True)
        a = f"a/{self.path}" if self.old is not None else "/dev/null"
        b = f"b/{self.path}" if self.new is not None else "/dev/null"
        return "".join(difflib.unified_diff(old, new, a, b))


def plan(root: Path, desired: Mapping[str, str | None]) -> list[FileChange]:
    """Compare desired {path: text or None to delete} with what is on disk."""
    out: list[FileChange] = []
    for path, new in desired.items():
        old = safefs.read_text(root, path)  # a link or a device is refused, never followed
        if new is None:
            action = Action.UNCHANGED if old is None else Action.DELETE
        elif old is None:
            action = Action.CREATE
        else:
            action = Action.UNCHANGED if old == new else Action.UPDATE
        out.append(FileChange(path, action, old, new))
    return out


def pending(changes: Sequence[FileChange]) -> list[FileChange]:
    return [c for c in changes if c.action is not Action.UNCHANGED]


def _stage(target: Path, text: str, mode: int) -> Path:
    """Write text to a temp file beside target (same filesystem, so the rename is atomic)."""
    fd, name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    staged = Path(name)
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
        staged.chmod(mode)
    except BaseException:
        staged.unlink(missing_ok=True)
        raise
    return staged


def apply(root: Path, changes: Sequence[FileChange]) -> None:
    """Write every pending change atomically; on any failure, or a signal, put everything back.

    A full disk or a read-only file system is a MissingError saying nothing was changed (or,
    should putting back fail too, which files still differ from the last commit).
    """
    todo = pending(changes)
    staged: list[tuple[FileChange, Path | None]] = []
    created_dirs: list[Path] = []
    done: list[FileChange] = []
    try:
        for change in todo:
            target = root / change.path
            if change.new is None:
                staged.append((change, None))
                continue
            created_dirs.extend(p for p in reversed(target.parents) if not p.exists())
            target.parent.mkdir(parents=True, exist_ok=True)
            mode = target.stat().st_mode & 0o777 if change.old is not None else 0o644
            staged.append((change, _stage(target, change.new, mode)))
        for change, temp in staged:
            done.append(change)  # before the rename: putting back an unchanged file is harmless
            target = root / change.path
            if temp is None:
                target.unlink()
            else:
                temp.replace(target)
    except BaseException as exc:
        left = restore(root, done)
        for _, temp in staged:
            if temp is not None:
                _quietly(temp.unlink, missing_ok=True)
        for d in reversed(created_dirs):
            if d.is_dir() and not any(d.iterdir()):
                _quietly(d.rmdir)
        if isinstance(exc, OSError):
            raise MissingError(
                f"could not write {exc.filename or root}: {exc.strerror}",
                "check the directory's permissions and free space; " + (
                    "nothing was changed" if not left else
                    f"{', '.join(left)} could not be put back: run 'git checkout -- "
                    f"{' '.join(left)}'"),
            ) from exc
        raise
    _prune_empty_dirs(root, [c for c in todo if c.new is None])


def _quietly(action: Callable[..., object], *args: Any, **kwargs: Any) -> bool:
    try:
        action(*args, **kwargs)
        return True
    except OSError:
        return False


def restore(root: Path, changes: Sequence[FileChange]) -> list[str]:
    """Undo applied changes: put back each file's old text (or remove a created file), each
    atomically. Created files go first: on a full disk that frees the room the others need.
    Returns the paths that could not be put back."""
    failed: list[str] = []
    ordered = [c for c in changes if c.old is None] + [c for c in changes if c.old is not None]
    for change in ordered:
        target = root / change.path
        if change.old is None:
            ok = _quietly(target.unlink, missing_ok=True)
        else:
            ok = _quietly(target.parent.mkdir, parents=True, exist_ok=True)
            ok = ok and _put_back(target, change.old)
        if not ok:
            failed.append(change.path)
    _prune_empty_dirs(root, [c for c in changes if c.old is None])
    return failed


def _put_back(target: Path, text: str) -> bool:
    try:
        mode = target.stat().st_mode & 0o777 if target.exists() else 0o644
        _stage(target, text, mode).replace(target)
        return True
    except OSError:
        return False


def _prune_empty_dirs(root: Path, changes: Sequence[FileChange]) -> None:
    for change in changes:
        parent = (root / change.path).parent
        while parent != root and parent.is_dir() and not any(parent.iterdir()):
            if not _quietly(parent.rmdir):
                break
            parent = parent.parent
