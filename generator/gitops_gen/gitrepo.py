"""Every git operation goes through here (GitPython)."""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import git

from .errors import ConflictError, MissingError, ToolError
from .layout import LOCK


def find_root(start: Path) -> Path:
    """The top of the git work tree around start."""
    try:
        repo = git.Repo(start, search_parent_directories=True)
    except (git.InvalidGitRepositoryError, git.NoSuchPathError) as exc:
        raise MissingError(
            f"{start} is not inside a git repository",
            "run 'gitops-gen init PATH' to create one, or pass --repo PATH",
        ) from exc
    if repo.working_tree_dir is None:
        raise MissingError(f"{start} is a bare repository", "pass --repo with a work tree")
    return Path(repo.working_tree_dir)


def open_repo(root: Path) -> git.Repo:
    try:
        return git.Repo(root)
    except (git.InvalidGitRepositoryError, git.NoSuchPathError) as exc:
        raise MissingError(f"{root} is not a git repository", "run 'gitops-gen init PATH'") from exc


def init(root: Path, branch: str = "main") -> git.Repo:
    return git.Repo.init(root, initial_branch=branch)


def identity_problem(root: Path | None = None) -> str | None:
    """None when git can make commits here, else what is missing."""
    repo = git.Repo(root) if root else None
    reader = repo.config_reader() if repo else git.GitConfigParser(read_only=True)
    missing = [
        key
        for key in ("name", "email")
        if not reader.get_value("user", key, default="")
        and not (
            os.environ.get(f"GIT_AUTHOR_{key.upper()}")
            and os.environ.get(f"GIT_COMMITTER_{key.upper()}")
        )
    ]
    if missing:
        return "git user." + " and user.".join(missing) + " not set"
    return None


def dirty_paths(root: Path, paths: Sequence[str]) -> list[str]:
    """Which of paths have uncommitted changes (staged, unstaged or untracked)."""
    repo = open_repo(root)
    if not repo.head.is_valid():
        return [p for p in paths if (root / p).exists()]
    out = repo.git.status("--porcelain", "--untracked-files=all", "--", *paths)
    return [line[3:] for line in out.splitlines() if line]


def commit_paths(root: Path, paths: Sequence[str], message: str) -> str | None:
    """Commit exactly these paths (added, changed or deleted), nothing else that is staged.

    Returns the new commit's sha, or None when the paths hold no change.
    """
    repo = open_repo(root)
    problem = identity_problem(root)
    if problem:
        raise MissingError(problem, "run 'git config --global user.name NAME' and user.email")
    try:
        repo.git.add("--all", "--", *paths)
        if repo.head.is_valid():
            if not repo.git.diff("--cached", "--name-only", "HEAD", "--", *paths).strip():
                return None
            repo.git.commit("--quiet", "--no-verify", "-m", message, "--only", "--", *paths)
        else:
            repo.git.commit("--quiet", "--no-verify", "-m", message)
    except git.GitCommandError as exc:
        if repo.head.is_valid():
            repo.git.reset("--quiet", "HEAD", "--", *paths)
        raise ToolError(f"git commit failed: {exc.stderr.strip()}", "see git's message") from exc
    return repo.head.commit.hexsha


@dataclass(frozen=True)
class FileLog:
    sha: str
    date: str
    subject: str


def last_change(root: Path, path: str) -> FileLog | None:
    repo = open_repo(root)
    if not repo.head.is_valid():
        return None
    out = repo.git.log("-1", "--format=%H%x00%cI%x00%s", "--", path)
    if not out:
        return None
    sha, date, subject = out.split("\x00", 2)
    return FileLog(sha, date, subject)


def show_file(root: Path, ref: str, path: str) -> str | None:
    """A file's text at ref, or None if it does not exist there."""
    repo = open_repo(root)
    try:
        return str(repo.git.show(f"{ref}:{path}"))
    except git.GitCommandError:
        return None


@contextmanager
def locked(root: Path) -> Iterator[None]:
    """Hold the repository's gitops-gen lock; a second run at once is refused."""
    lock = Path(open_repo(root).git_dir) / LOCK
    try:
        fd = lock.open("x")
    except FileExistsError as exc:
        raise ConflictError(
            f"another gitops-gen run holds {lock}",
            "wait for it to finish, or delete the file if no run is active",
        ) from exc
    try:
        fd.close()
        yield
    finally:
        lock.unlink(missing_ok=True)


def merge_base(root: Path, branch: str) -> str:
    """The merge-base of HEAD with branch (or origin/branch), else HEAD itself."""
    repo = open_repo(root)
    for ref in (branch, f"origin/{branch}"):
        try:
            bases = repo.merge_base(ref, "HEAD")
        except git.GitCommandError:
            continue
        if bases:
            return str(bases[0].hexsha)
    return str(repo.head.commit.hexsha)
