"""Every git operation goes through here (GitPython)."""

from __future__ import annotations

import fcntl
import os
import re
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import ConflictError, InputError, MissingError, ToolError
from . import proc
from .layout import LOCK

if TYPE_CHECKING:
    import git
else:

    class _GitPython:
        """GitPython, imported when first used: importing it runs `git version` and loads
        some fifty modules, which commands that only read the work tree never need."""

        def __getattr__(self, name: str) -> Any:
            import git as module

            return getattr(module, name)

    git = _GitPython()

# Variables that change how git finds a repository; with any of them set, GitPython decides.
_DISCOVERY_ENV = ("GIT_DIR", "GIT_WORK_TREE", "GIT_COMMON_DIR", "GIT_CEILING_DIRECTORIES",
                  "GIT_DISCOVERY_ACROSS_FILESYSTEM")


def _plain_top(start: Path) -> Path | None:
    """The work tree's top from `git rev-parse --show-cdup` (no GitPython), in the case where
    it is surely what GitPython's search finds: no discovery variables, no symlink on the way
    (git walks the resolved path, GitPython the given one), a .git directory at the top.
    None in any other case, or when git fails."""
    here = Path(os.path.normpath(Path.cwd() / start))  # absolute, symlinks kept
    if any(name in os.environ for name in _DISCOVERY_ENV) or not here.is_dir():
        return None
    try:
        if here.resolve() != here:
            return None
        out = proc.run(["git", "-C", str(here), "rev-parse", "--show-cdup"], timeout=30)
    except (OSError, ToolError):
        return None
    cdup = out.stdout.decode().strip()  # "../../", or nothing at the top itself
    top = Path(os.path.normpath(here / cdup)) if cdup else here
    return top if (top / ".git").is_dir() else None


def find_root(start: Path) -> Path:
    """The top of the git work tree around start."""
    top = _plain_top(start)
    if top is not None:
        return top
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
    """Which of paths have uncommitted changes (staged, unstaged or untracked).

    Never writes (no optional index refresh): it works on a full or read-only disk."""
    repo = open_repo(root)
    if not repo.head.is_valid():
        return [p for p in paths if (root / p).exists()]
    code, out, err = _git(root, "--no-optional-locks", "status", "--porcelain",
                          "--untracked-files=all", "--", *paths)
    if code != 0:
        raise ToolError(f"git status failed: {' '.join(err.split())}",
                        "fix what git reports, then run the command again")
    return [line[3:] for line in out.splitlines() if line]


def _git(root: Path, *args: str, timeout: float = 120.0) -> tuple[int, str, str]:
    """git in root through proc.run: stopped with SIGTERM (so it removes its lock files) by
    whatever ends the wait, a signal included. (exit code, stdout, stderr)."""
    result = proc.run(["git", *args], cwd=str(root), timeout=timeout, check=False,
                      env={**os.environ, "GIT_TERMINAL_PROMPT": "0"})
    return (result.returncode, result.stdout.decode(errors="replace"),
            result.stderr.decode(errors="replace"))


def head_sha(root: Path) -> str | None:
    """HEAD's commit, or None before the first commit."""
    code, out, _ = _git(root, "rev-parse", "--verify", "--quiet", "HEAD^{commit}")
    return out.strip() if code == 0 and out.strip() else None


def commit_summary(root: Path, sha: str) -> tuple[list[str], str]:
    """A commit's parents and subject."""
    code, out, err = _git(root, "log", "-1", "--format=%P%x00%s", sha)
    if code != 0:
        raise ToolError(f"git log {sha[:12]} failed: {' '.join(err.split())}", "check git")
    parents, _, subject = out.rstrip("\n").partition("\x00")
    return parents.split(), subject


def unstage(root: Path, paths: Sequence[str]) -> None:
    """The index entries of paths back to HEAD's (none before the first commit)."""
    if head_sha(root) is not None:
        code, _, err = _git(root, "reset", "--quiet", "HEAD", "--", *paths)
    else:
        code, _, err = _git(root, "rm", "--cached", "-r", "--quiet", "--ignore-unmatch",
                            "--", *paths)
    if code != 0:
        raise ToolError(f"git could not reset the index: {' '.join(err.split())}",
                        f"run 'git reset -q -- {' '.join(paths)}' once git can write")


def commit_paths(root: Path, paths: Sequence[str], message: str) -> str | None:
    """Commit exactly these paths (added, changed or deleted), nothing else that is staged.

    Returns the new commit's sha, or None when the paths hold no change. On a failure the
    index entries of paths are put back; a caller interrupted meanwhile (a signal) finds out
    what landed with head_sha() (repo/transaction.py does).
    """
    open_repo(root)
    problem = identity_problem(root)
    if problem:
        raise MissingError(problem, "run 'git config --global user.name NAME' and user.email")
    code, _, err = _git(root, "add", "--all", "--", *paths)
    if code == 0 and head_sha(root) is not None:
        code, out, err = _git(root, "diff", "--cached", "--name-only", "HEAD", "--", *paths)
        if code == 0 and not out.strip():
            return None
    if code == 0:
        # --only: whatever else is staged (even before the first commit) stays out.
        code, _, err = _git(root, "commit", "--quiet", "-m", message, "--only", "--", *paths)
    if code != 0:
        try:
            unstage(root, paths)
        except ToolError:
            pass  # the caller settles the index again and says what is left
        reason = " ".join(err.split()) or f"exit code {code}"
        raise ToolError(f"git commit failed: {reason}",
                        "fix what git reports (identity, hooks, signing), then run again")
    sha = head_sha(root)
    assert sha is not None
    return sha


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
    """Hold the repository's gitops-gen lock; a second run at once is refused.

    The lock is flock(2) on an open file, so the kernel drops it when the holder ends, however
    it ends (even killed): a lock file left behind by a dead run never blocks the next one.
    """
    lock = Path(open_repo(root).git_dir) / LOCK
    while True:
        fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            os.close(fd)
            raise ConflictError(
                f"another gitops-gen run holds {lock}",
                "wait for it to finish, then run the command again",
            ) from exc
        except BaseException:
            os.close(fd)
            raise
        # The previous holder removes the file as it lets go: the lock counts only when it
        # is on the file that is there now, not on one removed since it was opened.
        try:
            current = lock.stat().st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            current = False
        if current:
            break
        os.close(fd)
    try:
        yield
    finally:
        lock.unlink(missing_ok=True)
        os.close(fd)


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


# ---- branches, pushes and fetches (promote, serve) -------------------------------------

_URL_USERINFO = re.compile(r"(://)[^/@\s]+@")


def head_commit(root: Path) -> str:
    repo = open_repo(root)
    if not repo.head.is_valid():
        raise MissingError(f"{root} has no commits yet", "commit something first")
    return str(repo.head.commit.hexsha)


def branch_commit(root: Path, name: str) -> str | None:
    """The sha a local branch points at, or None when there is no such branch."""
    try:
        return str(open_repo(root).git.rev_parse("--verify", "--quiet", f"refs/heads/{name}"))
    except git.GitCommandError:
        return None


def commit_file(root: Path, parent: str, path: str, text: str, message: str) -> str:
    """A new commit on parent whose one change is path's text. Returns its sha.

    Built in a throw-away index: HEAD, the index, the work tree and every ref stay as they are.
    """
    problem = identity_problem(root)
    if problem:
        raise MissingError(problem, "run 'git config --global user.name NAME' and user.email")
    repo = open_repo(root)
    try:
        with tempfile.TemporaryDirectory(prefix="gitops-gen-index-") as tmp:
            blob_file = Path(tmp) / "blob"
            blob_file.write_bytes(text.encode())
            with repo.git.custom_environment(GIT_INDEX_FILE=str(Path(tmp) / "index")):
                repo.git.read_tree(parent)
                blob = repo.git.hash_object("-w", f"--path={path}", str(blob_file))
                mode = (repo.git.ls_tree(parent, "--", path).split() or ["100644"])[0]
                repo.git.update_index("--add", "--cacheinfo", f"{mode},{blob},{path}")
                tree = repo.git.write_tree()
            return str(repo.git.commit_tree(tree, "-p", parent, "-m", message))
    except git.GitCommandError as exc:
        raise ToolError(f"git could not make the commit: {exc.stderr.strip()}",
                        "see git's message") from exc


def create_branch(root: Path, name: str, sha: str) -> None:
    """Point a new branch at sha; refused when the branch already exists."""
    try:
        open_repo(root).git.update_ref(f"refs/heads/{name}", sha, "")
    except git.GitCommandError as exc:
        raise ConflictError(f"could not create branch {name}: {exc.stderr.strip()}",
                            f"delete it with 'git branch -D {name}' and run again") from exc


def delete_branch(root: Path, name: str) -> None:
    open_repo(root).git.update_ref("-d", f"refs/heads/{name}")


def remote_url(root: Path, remote: str = "origin") -> str | None:
    try:
        return str(open_repo(root).remote(remote).url)
    except ValueError:
        return None


def redact_url(text: str) -> str:
    """text with credentials embedded in URLs (https://user:token@host) removed."""
    return _URL_USERINFO.sub(r"\1<redacted>@", text)


def push_branch(root: Path, name: str, remote: str = "origin", timeout: int = 120,
                lease: str | None = None) -> None:
    """Push a local branch to remote under the same name; git's reason on failure.

    lease: replace the remote branch only if it is at that sha ("" : only if it does not
    exist), so a branch someone else moved meanwhile is never overwritten.
    """
    repo = open_repo(root)
    refspec = f"refs/heads/{name}:refs/heads/{name}"
    options = ["--porcelain"]
    if lease is not None:
        options.append(f"--force-with-lease=refs/heads/{name}:{lease}")
    try:
        with repo.git.custom_environment(GIT_TERMINAL_PROMPT="0"):
            repo.git.push(*options, remote, refspec, kill_after_timeout=timeout)
    except git.GitCommandError as exc:
        lines = _output_lines(exc)
        # porcelain: "!<TAB>from:to<TAB>[rejected] (why)", then the hook's "remote:" lines
        reasons = [ln.split("\t")[-1] for ln in lines if ln.startswith("!")]
        reasons += [ln for ln in lines if ln.startswith("remote:")]
        reasons = reasons or [ln for ln in lines if ln.startswith(("fatal:", "error:"))]
        reason = "; ".join(reasons) or f"exit {exc.status}"
        raise ToolError(f"git push to {remote} failed: {redact_url(reason)}",
                        "check the remote's rules and your access, then run again") from exc


def has_commit(root: Path, sha: str) -> bool:
    """Whether the repository holds the commit sha."""
    with open_repo(root) as repo:  # the service asks often: free GitPython's resources
        try:
            repo.git.cat_file("-e", f"{sha}^{{commit}}")
        except git.GitCommandError:
            return False
        return True


def fetch(root: Path, *refspecs: str, remote: str = "origin", timeout: int = 120) -> None:
    """git fetch remote [refspecs], never asking for credentials; git's reason on failure.

    Through proc.run: a stopping service ends it at once (proc.stop_all)."""
    try:
        code, _, err = _git(root, "fetch", "--quiet", remote, *refspecs, timeout=timeout)
    except ToolError as exc:  # the timeout
        raise ToolError(f"git fetch {' '.join([remote, *refspecs])} failed: {exc.message}",
                        "check the remote and your access") from exc
    if code != 0:
        reason = " ".join(err.split()) or f"exit {code}"
        raise ToolError(f"git fetch {' '.join([remote, *refspecs])} failed: "
                        f"{redact_url(reason)}", "check the remote and your access")


TREE_MODE, LINK_MODE, SUBMODULE_MODE = "040000", "120000", "160000"


@dataclass(frozen=True)
class TreeEntry:
    """One entry of a commit's tree: a file, link, directory or submodule."""

    mode: str  # git's: 100644, 100755, 120000 (a link), 040000 (a directory), 160000
    oid: str
    size: int | None  # a blob's bytes (a link's: its target's length); None otherwise
    path: str  # as git stores it, undecodable bytes kept (os.fsdecode)

    @property
    def is_dir(self) -> bool:
        return self.mode in (TREE_MODE, SUBMODULE_MODE)


def _git_bytes(root: Path, *args: str, stdin: bytes | None = None,
               timeout: float = 120.0) -> tuple[int, bytes, str]:
    result = proc.run(["git", *args], cwd=str(root), timeout=timeout, check=False,
                      stdin=stdin, env={**os.environ, "GIT_TERMINAL_PROMPT": "0"})
    return result.returncode, result.stdout, result.stderr.decode(errors="replace")


def tree_entries(root: Path, ref: str, paths: Sequence[str]) -> list[TreeEntry]:
    """Every entry under paths in the tree of the commit ref names, directories included, read
    from the object store alone (git ls-tree: no work tree, no attributes, no filters)."""
    code, out, err = (1, b"", "") if ref.startswith("-") else _git_bytes(
        root, "ls-tree", "-r", "-t", "-l", "-z", f"{ref}^{{commit}}", "--", *paths)
    if code != 0:
        raise InputError(f"git ref {ref!r} not found", "give a branch, tag or commit")
    entries = []
    for record in out.split(b"\0"):
        meta, tab, path = record.partition(b"\t")
        fields = meta.decode(errors="replace").split()
        if not tab or len(fields) != 4:
            continue
        mode, _kind, oid, size = fields
        entries.append(TreeEntry(mode, oid, int(size) if size.isdigit() else None,
                                 os.fsdecode(path)))
    return entries


def read_blobs(root: Path, oids: Sequence[str], timeout: float = 120.0) -> dict[str, bytes]:
    """The bytes of each blob, exactly as stored (one git cat-file --batch: no filters)."""
    wanted = list(dict.fromkeys(oids))
    if not wanted:
        return {}
    code, out, err = _git_bytes(root, "cat-file", "--batch", "--buffer",
                                stdin="".join(f"{oid}\n" for oid in wanted).encode(),
                                timeout=timeout)
    if code != 0:
        raise ToolError(f"git cat-file failed: {' '.join(err.split())[:200]}",
                        "check the repository with 'git fsck'")
    blobs: dict[str, bytes] = {}
    at = 0
    for oid in wanted:
        end = out.find(b"\n", at)
        header = out[at:end].decode(errors="replace").split() if end >= 0 else []
        if len(header) != 3 or header[0] != oid or header[1] != "blob" \
                or not header[2].isdigit():
            raise ToolError(f"git cat-file has no blob {oid}: {' '.join(header)[:100]}",
                            "check the repository with 'git fsck'")
        size = int(header[2])
        blobs[oid] = out[end + 1:end + 1 + size]
        at = end + 1 + size + 1
    return blobs


def _output_lines(exc: git.GitCommandError) -> list[str]:
    """git's own output lines, without GitPython's "stdout: '...'" wrapping."""
    out: list[str] = []
    for stream in (exc.stdout, exc.stderr):
        text = str(stream or "").strip()
        for prefix in ("stdout: '", "stderr: '"):
            text = text.removeprefix(prefix)
        out.extend(ln.strip() for ln in text.removesuffix("'").splitlines() if ln.strip())
    return out


def tracked_files(root: Path, directory: str) -> list[str]:
    """Repo-relative paths git tracks under directory."""
    out = open_repo(root).git.ls_files("-z", "--", directory)
    return [p for p in out.split("\0") if p]


def check_branch_name(name: str, flag: str) -> str:
    """A name git accepts for a branch (git check-ref-format --branch), else exit 2."""
    try:
        git.Git().check_ref_format("--branch", name)
    except git.GitCommandError as exc:
        raise InputError(f"{flag} {name!r} is not a valid branch name",
                         "give a branch name such as main") from exc
    if name == "HEAD":
        raise InputError(f"{flag} HEAD is not a branch", "give a branch name such as main")
    return name


# ---- history of the target revision (history, status, gates, rollback) ------------------


@dataclass(frozen=True)
class LogEntry:
    sha: str
    committed_at: datetime  # the committer date, UTC: when the commit landed where it is
    subject: str


# The reads validate makes on every run (the target revision, the merge-base, a file there)
# run git directly: GitPython's import and its `git version` cost a validation more than the
# three git processes do.


def revision_commit(root: Path, revision: str) -> str | None:
    """The commit of a branch: the local one, else origin's; None when neither exists (or
    root is no git repository)."""
    for ref in (f"refs/heads/{revision}", f"refs/remotes/origin/{revision}"):
        code, out, _err = _git(root, "rev-parse", "--verify", "--quiet", "--end-of-options",
                               f"{ref}^{{commit}}", timeout=30)
        if code == 0 and out.strip():
            return out.strip()
    return None


def file_at(root: Path, ref: str, path: str) -> str | None:
    """A file's text, byte for byte, at commit ref; None if it does not exist there."""
    code, out, _err = _git(root, "cat-file", "blob", f"{ref}:{path}", timeout=60)
    return out if code == 0 else None


def resolve_commit(root: Path, rev: str, flag: str) -> str:
    """The commit a revision names (sha, branch, tag, HEAD~2, ...); InputError when none."""
    if rev.startswith("-"):
        raise InputError(f"{flag} {rev!r} is not a git revision", "give a commit, branch or tag")
    try:
        return str(open_repo(root).git.rev_parse("--verify", "--quiet", f"{rev}^{{commit}}"))
    except git.GitCommandError as exc:
        raise InputError(f"{flag} {rev!r} names no commit here",
                         "give a commit, branch or tag (gitops-gen history ENV lists them)"
                         ) from exc


def first_parent_log(root: Path, tip: str, paths: Sequence[str]) -> list[LogEntry]:
    """The commits on tip's first-parent line that changed any of paths, newest first.

    A merge counts with its first parent only: a pull request lands at its merge commit."""
    out = open_repo(root).git.log("--first-parent", "--format=%H%x00%ct%x00%s", tip,
                                  "--", *paths)
    entries = []
    for line in out.splitlines():
        sha, stamp, subject = line.split("\x00", 2)
        entries.append(LogEntry(sha, datetime.fromtimestamp(int(stamp), UTC), subject))
    return entries


def read_files(root: Path, wanted: Sequence[tuple[str, str]]) -> dict[tuple[str, str], str | None]:
    """{(commit, path): text, or None where the path does not exist} through one git process."""
    out: dict[tuple[str, str], str | None] = {}
    with open_repo(root) as repo:
        for sha, path in wanted:
            try:
                blob = repo.commit(sha).tree / path
                out[(sha, path)] = blob.data_stream.read().decode()
            except KeyError:
                out[(sha, path)] = None
    return out


def is_ancestor(root: Path, ancestor: str, descendant: str) -> bool:
    try:
        open_repo(root).git.merge_base("--is-ancestor", ancestor, descendant)
    except git.GitCommandError:
        return False
    return True


def is_shallow(root: Path) -> bool:
    code, out, _err = _git(root, "rev-parse", "--is-shallow-repository", timeout=30)
    return code == 0 and out.strip() == "true"


def parents_and_paths(root: Path, sha: str) -> tuple[list[str], list[str]]:
    """A commit's parents and the paths it changes against its first parent."""
    repo = open_repo(root)
    parents = str(repo.git.rev_list("--parents", "-n", "1", sha)).split()[1:]
    if not parents:
        return [], []
    names = repo.git.diff("--name-only", "--no-renames", parents[0], sha)
    return parents, [n for n in str(names).splitlines() if n]


def move_branch(root: Path, name: str, sha: str, old: str) -> None:
    """Point an existing branch at sha if it still points at old (else ConflictError)."""
    try:
        open_repo(root).git.update_ref(f"refs/heads/{name}", sha, old)
    except git.GitCommandError as exc:
        raise ConflictError(f"branch {name} moved while this ran: {exc.stderr.strip()}",
                            "run the command again") from exc


def remote_branch_commit(root: Path, name: str, remote: str = "origin",
                         timeout: int = 60) -> str | None:
    """The sha remote's branch points at (git ls-remote), None when it has no such branch."""
    try:
        with open_repo(root) as repo, repo.git.custom_environment(GIT_TERMINAL_PROMPT="0"):
            out = repo.git.ls_remote(remote, f"refs/heads/{name}", kill_after_timeout=timeout)
    except git.GitCommandError as exc:
        reason = " ".join(str(exc.stderr or "").split()) or f"exit {exc.status}"
        raise ToolError(f"git ls-remote {remote} failed: {redact_url(reason)}",
                        "check the remote and your access, then run again") from exc
    for line in str(out).splitlines():
        sha, _, ref = line.partition("\t")
        if ref == f"refs/heads/{name}":
            return sha
    return None


def fetch_objects(root: Path, name: str, remote: str = "origin", timeout: int = 120) -> None:
    """Fetch remote's branch's commits without writing any ref (not even FETCH_HEAD)."""
    try:
        with open_repo(root) as repo, repo.git.custom_environment(GIT_TERMINAL_PROMPT="0"):
            repo.git.fetch("--quiet", "--no-tags", "--no-write-fetch-head", "--refmap=",
                           remote, f"refs/heads/{name}", kill_after_timeout=timeout)
    except git.GitCommandError as exc:
        reason = " ".join(str(exc.stderr or "").split()) or f"exit {exc.status}"
        raise ToolError(f"git fetch {remote} {name} failed: {redact_url(reason)}",
                        "check the remote and your access") from exc


# ---- what the service reads of commits ------------------------------------------------------


@dataclass(frozen=True)
class CommitInfo:
    sha: str
    subject: str
    author: str
    timestamp: int  # committer time, seconds since the epoch


def resolve(root: Path, ref: str) -> str | None:
    """The commit sha ref names (a branch, remote branch, tag or sha), or None."""
    with open_repo(root) as repo:
        try:
            return str(repo.git.rev_parse("--verify", "--quiet", "--end-of-options",
                                          f"{ref}^{{commit}}"))
        except git.GitCommandError:
            return None


def merge_base_of(root: Path, a: str, b: str) -> str | None:
    """The best common ancestor of two commits, or None when they share no history."""
    code, out, _err = _git(root, "merge-base", "--end-of-options", a, b, timeout=60)
    return out.strip() or None if code == 0 else None


def commit_info(root: Path, sha: str) -> CommitInfo:
    with open_repo(root) as repo:
        commit = repo.commit(sha)
        subject = str(commit.message).strip().splitlines()[0] if commit.message else ""
        return CommitInfo(str(commit.hexsha), subject, str(commit.author.name or ""),
                          int(commit.committed_date))
