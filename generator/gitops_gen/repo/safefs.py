"""Reading the repository without leaving it.

Every path is repo-relative (POSIX, no '..'); each component is opened relative to its parent's
descriptor with O_NOFOLLOW, so a symbolic link anywhere on the way (`chart -> /`,
`overlays/dev/values.yaml -> /etc/passwd`) is refused, never followed, and so is anything but
a directory or a regular file (a FIFO would block a read forever). Files are read up to their
cap only, and text must be UTF-8. The repository root itself is trusted: it is where the user
or the service pointed the tool.
"""

from __future__ import annotations

import errno
import os
import posixpath
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from ..errors import InputError, PathRefused, TreeTooLarge
from . import limits

Kind = Literal["file", "dir", "link", "other"]
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)
_FILE_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)
_BOM = "\ufeff"


# Argo CD's repo-server refuses a checkout holding a link that leaves it
# (util/app/path/path.go:50 CheckOutOfBoundsSymlinks, called from
# reposerver/repository/repository.go:623 at v3.5.1); here every link is refused.
LINK_FIX = ("replace the link with the file itself: gitops-gen reads only regular files "
            "inside the repository, and Argo CD refuses links that leave it")


def _link(path: str) -> PathRefused:
    return PathRefused(path, "is a symbolic link", LINK_FIX)


def _irregular(path: str) -> PathRefused:
    return PathRefused(path, "is not a regular file or directory", "remove it from the repository")


def too_large(path: str, size: int, cap: int) -> PathRefused:
    return PathRefused(path, f"is {size} bytes, over the {cap}-byte limit for one file",
                   "make it smaller; gitops-gen reads no larger file")


def parts_of(rel: str) -> list[str]:
    """The components of a repo-relative path; InputError for '..', absolute or empty ones."""
    parts = rel.split("/")
    if not rel or rel.startswith("/") or any(p in ("", ".", "..") or "\0" in p for p in parts):
        raise InputError(f"{rel!r} is not a path inside the repository",
                         "give a relative path without '..'")
    return parts


def inside(base: str, target: str) -> str | None:
    """target (relative to the repo-relative directory base) as a repo-relative path, resolved
    by its text alone; None when it leaves the repository. Touches no file system."""
    if not target or target.startswith("/") or "\0" in target:
        return None
    joined = posixpath.normpath(posixpath.join(base, target))
    if joined in (".", "") or joined == ".." or joined.startswith("../"):
        return None
    return joined


def _kind(mode: int) -> Kind:
    if stat.S_ISLNK(mode):
        return "link"
    if stat.S_ISDIR(mode):
        return "dir"
    return "file" if stat.S_ISREG(mode) else "other"


@dataclass(frozen=True)
class Entry:
    path: str  # repo-relative
    kind: Kind
    size: int

    @property
    def name(self) -> str:
        return self.path.rsplit("/", 1)[-1]


@contextmanager
def _directory(root: Path, parts: list[str]) -> Iterator[int | None]:
    """A descriptor of root/parts[0]/..., every component a real directory; None if absent."""
    try:
        fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY | getattr(os, "O_CLOEXEC", 0))
    except (FileNotFoundError, NotADirectoryError):
        yield None
        return
    try:
        for n, part in enumerate(parts):
            try:
                mode = os.lstat(part, dir_fd=fd).st_mode
            except FileNotFoundError:
                yield None
                return
            except NotADirectoryError:  # an earlier component is a file
                yield None
                return
            here = "/".join(parts[: n + 1])
            if stat.S_ISLNK(mode):
                raise _link(here)
            if not stat.S_ISDIR(mode):
                yield None
                return
            try:
                child = os.open(part, _DIR_FLAGS, dir_fd=fd)
            except OSError as exc:  # swapped for a link or a file since the lstat
                if exc.errno in (errno.ELOOP, errno.ENOTDIR):
                    raise _link(here) from exc
                raise
            os.close(fd)
            fd = child
        yield fd
    finally:
        os.close(fd)


def entry(root: Path, rel: str) -> Entry | None:
    """What rel is and its size, links not followed anywhere on the way; None when absent."""
    *parents, name = parts_of(rel)
    with _directory(root, parents) as fd:
        if fd is None:
            return None
        try:
            info = os.lstat(name, dir_fd=fd)
        except (FileNotFoundError, NotADirectoryError):
            return None
        return Entry(rel, _kind(info.st_mode), info.st_size)


def kind(root: Path, rel: str) -> Kind | None:
    """What rel is, links not followed anywhere on the way; None when absent."""
    found = entry(root, rel)
    return found.kind if found is not None else None


def is_file(root: Path, rel: str) -> bool:
    """rel is a regular file reached through real directories (a link is not a file here)."""
    try:
        return kind(root, rel) == "file"
    except PathRefused:
        return False


def is_dir(root: Path, rel: str) -> bool:
    try:
        return kind(root, rel) == "dir"
    except PathRefused:
        return False


def read_bytes(root: Path, rel: str, cap: int = limits.MAX_FILE_BYTES) -> bytes | None:
    """rel's bytes, None when absent; PathRefused for a link, a non-file, or more than cap bytes."""
    *parents, name = parts_of(rel)
    with _directory(root, parents) as dir_fd:
        if dir_fd is None:
            return None
        try:
            mode = os.lstat(name, dir_fd=dir_fd).st_mode
        except (FileNotFoundError, NotADirectoryError):
            return None
        if stat.S_ISLNK(mode):
            raise _link(rel)
        if not stat.S_ISREG(mode):
            if stat.S_ISDIR(mode):
                raise PathRefused(rel, "is a directory, not a file", "replace it with a file")
            raise _irregular(rel)
        try:
            fd = os.open(name, _FILE_FLAGS, dir_fd=dir_fd)
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                raise _link(rel) from exc
            raise
        with os.fdopen(fd, "rb") as fh:
            info = os.fstat(fh.fileno())
            if not stat.S_ISREG(info.st_mode):
                raise _irregular(rel)
            if info.st_size > cap:
                raise too_large(rel, info.st_size, cap)
            data = fh.read(cap + 1)
        if len(data) > cap:
            raise too_large(rel, len(data), cap)
        return data


def decode(rel: str, data: bytes) -> str:
    """UTF-8 text of a file (a leading byte-order mark dropped, as Helm does); else PathRefused."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise PathRefused(rel, f"is not UTF-8 text (byte 0x{data[exc.start]:02x} on line {line})",
                      "save it as UTF-8", line) from None
    return text.removeprefix(_BOM)


def read_text(root: Path, rel: str, cap: int = limits.MAX_FILE_BYTES) -> str | None:
    """rel's UTF-8 text, None when absent; PathRefused as read_bytes, or when it is not UTF-8."""
    data = read_bytes(root, rel, cap)
    return None if data is None else decode(rel, data)


def list_dir(root: Path, rel: str) -> list[Entry]:
    """The entries of directory rel, sorted, links not followed; [] when it is absent."""
    parts = parts_of(rel)
    with _directory(root, parts) as fd:
        if fd is None:
            return []
        out = []
        for name in sorted(os.listdir(fd)):  # noqa: PTH208 - a descriptor, not a path
            try:
                info = os.lstat(name, dir_fd=fd)
            except FileNotFoundError:
                continue
            out.append(Entry(f"{rel}/{name}", _kind(info.st_mode), info.st_size))
        return out


def walk(root: Path, rel: str, *, max_files: int = limits.MAX_TREE_FILES,
         max_depth: int = limits.MAX_TREE_DEPTH) -> Iterator[Entry]:
    """Every entry under directory rel, depth first and sorted, links listed but not entered;
    TreeTooLarge past max_files entries or max_depth levels."""
    seen = 0
    todo: list[tuple[str, int]] = [(rel, 0)]
    while todo:
        here, depth = todo.pop()
        entries = list_dir(root, here)
        seen += len(entries)
        if seen > max_files:
            raise TreeTooLarge(rel, f"holds more than {max_files} files and directories")
        yield from entries
        subdirs = [e.path for e in entries if e.kind == "dir"]
        if subdirs and depth + 1 > max_depth:
            raise TreeTooLarge(subdirs[0], f"is nested more than {max_depth} directories deep")
        todo.extend((d, depth + 1) for d in reversed(subdirs))


def read_tree(root: Path, rel: str, *, cap: int = limits.MAX_FILE_BYTES,
              total: int = limits.MAX_TREE_BYTES) -> dict[str, bytes]:
    """Every regular file under rel: {path relative to rel: bytes}. PathRefused at the first link
    or irregular file, at a file over cap, or when the files together pass total."""
    if kind(root, rel) == "link":
        raise _link(rel)
    out: dict[str, bytes] = {}
    size = 0
    for entry in walk(root, rel):
        if entry.kind == "link":
            raise _link(entry.path)
        if entry.kind == "other":
            raise _irregular(entry.path)
        if entry.kind != "file":
            continue
        data = read_bytes(root, entry.path, cap)
        if data is None:
            continue
        size += len(data)
        if size > total:
            raise TreeTooLarge(rel, f"holds more than {total} bytes")
        out[entry.path[len(rel) + 1:]] = data
    return out
