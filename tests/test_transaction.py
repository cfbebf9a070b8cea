"""transaction.apply against a real git repository: all or nothing, exactly the planned paths."""

from __future__ import annotations

import errno
import os
import signal
from collections.abc import Callable
from pathlib import Path

import git
import pytest

from gitops_gen.errors import ConflictError, MissingError, Stopped
from gitops_gen.repo import changes, gitrepo, layout, transaction

from .conftest import AgeKey
from .helpers import cli, commit_files, new_repo, python, snapshot, wait_for


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    repo = git.Repo.init(root, initial_branch="main")
    (root / "a.txt").write_text("a\n")
    (root / "b.txt").write_text("b\n")
    repo.git.add("--all")
    repo.git.commit("-q", "-m", "start")
    return root


def test_commits_exactly_the_planned_paths(repo: Path) -> None:
    (repo / "b.txt").write_text("the user's own edit\n")
    planned = changes.plan(repo, {"a.txt": "A\n", "new/c.txt": "c\n"})
    sha = transaction.apply(repo, planned, "change a, add c")
    assert sha is not None and commit_files(repo, sha) == ["a.txt", "new/c.txt"]
    assert (repo / "b.txt").read_text() == "the user's own edit\n"
    assert transaction.apply(repo, changes.plan(repo, {"a.txt": "A\n"}), "again") is None


def test_a_failing_check_restores_the_tree(repo: Path) -> None:
    before = snapshot(repo)

    def check() -> None:
        assert (repo / "new/c.txt").read_text() == "c\n"  # written when the check runs
        raise ConflictError("no", "nothing kept")

    planned = changes.plan(repo, {"a.txt": "A\n", "new/c.txt": "c\n"})
    with pytest.raises(ConflictError, match="nothing kept"):
        transaction.apply(repo, planned, "m", check=check)
    assert snapshot(repo) == before and not (repo / "new").exists()


def test_dirty_or_stale_targets_are_refused_before_writing(repo: Path) -> None:
    base = transaction.last_commits(repo, ["a.txt"])
    planned = changes.plan(repo, {"a.txt": "A\n"})
    (repo / "a.txt").write_text("edited\n")
    with pytest.raises(ConflictError) as dirty:
        transaction.apply(repo, planned, "m", base=base)
    assert dirty.value.render() == (
        "uncommitted changes in a.txt; commit or stash them first, then run the command again")
    (repo / "b.txt").write_text("edited too\n")
    with pytest.raises(ConflictError) as both:
        transaction.refuse_dirty(repo, ["a.txt", "b.txt"])
    assert both.value.message == "uncommitted changes in a.txt, b.txt"
    (repo / "b.txt").write_text("b\n")
    git.Repo(repo).git.commit("-q", "-am", "someone else")
    before = snapshot(repo)
    with pytest.raises(ConflictError) as stale:
        transaction.apply(repo, planned, "m", base=base)
    assert stale.value.render() == (
        "a.txt was changed by another commit while this ran; run the command again")
    assert snapshot(repo) == before
    # Even without a base, a plan made from other content never overwrites what is there now.
    with pytest.raises(ConflictError) as moved:
        transaction.apply(repo, planned, "m", commit=False)
    assert moved.value.render() == "a.txt changed while this command ran; run the command again"
    assert snapshot(repo) == before
    fresh = changes.plan(repo, {"a.txt": "A\n"})
    assert transaction.apply(repo, fresh, "m", commit=False) is None
    assert (repo / "a.txt").read_text() == "A\n"


def test_a_file_another_commit_created_since_the_plan_is_refused(repo: Path) -> None:
    base = transaction.last_commits(repo, ["a.txt", "new.txt"])
    assert base == {"a.txt": git.Repo(repo).head.commit.hexsha, "new.txt": None}
    planned = changes.plan(repo, {"new.txt": "mine\n"})
    (repo / "new.txt").write_text("theirs\n")
    git.Repo(repo).git.add("new.txt")
    git.Repo(repo).git.commit("-q", "-m", "someone else adds new.txt")
    before = snapshot(repo)
    with pytest.raises(ConflictError) as stale:
        transaction.apply(repo, planned, "m", base=base)
    assert str(stale.value).startswith("new.txt was changed by another commit")
    assert snapshot(repo) == before


LOCK_HOLDER = """
import fcntl, time
with open({lock!r}, "w") as held:
    fcntl.flock(held, fcntl.LOCK_EX)
    open({mark!r}, "w").close()
    time.sleep(60)
"""


def test_lock_file_of_a_killed_run_does_not_block(tmp_path: Path, age_key: AgeKey) -> None:
    repo = new_repo(tmp_path / "gitops")
    lock = repo / ".git" / layout.LOCK
    mark = tmp_path / "held"
    holder = python(LOCK_HOLDER.format(lock=str(lock), mark=str(mark)))
    try:
        wait_for(mark, holder)
        before = snapshot(repo)
        refused = cli("env", "add", "dev", repo=repo)
        assert refused.exit_code == 2, refused.output
        assert f"another gitops-gen run holds {lock}" in refused.output
        assert len(refused.stderr.strip().splitlines()) == 1
        assert snapshot(repo) == before
    finally:
        holder.kill()  # SIGKILL: no cleanup runs, the file stays
        holder.communicate(timeout=30)
    assert lock.exists()
    result = cli("env", "add", "dev", repo=repo)
    assert result.exit_code == 0, result.output
    assert not lock.exists()


# ---- settle: what a failure after the write leaves, in words ----------------------------------


def written(root: Path, files: dict[str, str]) -> list[changes.FileChange]:
    """The plan for files, already written to the work tree (as apply() does before its commit)."""
    todo = changes.pending(changes.plan(root, files))
    changes.apply(root, todo)
    return todo


def test_settle_keeps_a_commit_that_landed_and_says_so(repo: Path) -> None:
    head = gitrepo.head_sha(repo)
    todo = written(repo, {"a.txt": "A\n", "new/c.txt": "c\n"})
    sha = gitrepo.commit_paths(repo, ["a.txt", "new/c.txt"], "change a\n\nand add c")
    assert sha is not None
    said = transaction.settle(repo, todo, head, "change a\n\nand add c")
    assert said == f"the commit {sha[:8]} (change a) landed before it stopped"
    assert (repo / "a.txt").read_text() == "A\n" and (repo / "new/c.txt").read_text() == "c\n"
    assert gitrepo.head_sha(repo) == sha


def test_settle_keeps_the_first_commit_of_a_repository(tmp_path: Path) -> None:
    root = tmp_path / "empty"
    git.Repo.init(root, initial_branch="main")
    todo = written(root, {"a.txt": "a\n"})
    sha = gitrepo.commit_paths(root, ["a.txt"], "first")
    assert sha is not None
    assert transaction.settle(root, todo, None, "first") == (
        f"the commit {sha[:8]} (first) landed before it stopped")
    assert (root / "a.txt").read_text() == "a\n"


def test_settle_puts_back_what_no_commit_holds(repo: Path) -> None:
    before = snapshot(repo)
    head = gitrepo.head_sha(repo)
    todo = written(repo, {"a.txt": "A\n", "new/c.txt": "c\n"})
    git.Repo(repo).git.add("--all")  # staged, as a commit stopped half-way leaves them
    assert transaction.settle(repo, todo, head, "change a") == transaction.NOTHING_CHANGED
    assert snapshot(repo) == before
    assert git.Repo(repo).git.diff("--cached", "--name-only", "HEAD") == ""


def test_settle_puts_back_what_another_commit_holds(repo: Path) -> None:
    head = gitrepo.head_sha(repo)
    todo = written(repo, {"a.txt": "A\n"})
    git.Repo(repo).git.commit("-q", "--allow-empty", "-m", "someone else")
    assert transaction.settle(repo, todo, head, "change a") == transaction.NOTHING_CHANGED
    assert (repo / "a.txt").read_text() == "a\n"


def test_settle_without_git_puts_the_files_back_and_says_the_index_may_differ(
    repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    head = gitrepo.head_sha(repo)
    todo = written(repo, {"a.txt": "A\n", "b.txt": "B\n"})
    (tmp_path / "nothing").mkdir()
    monkeypatch.setenv("PATH", str(tmp_path / "nothing"))
    said = transaction.settle(repo, todo, head, "change a")
    assert said == ("nothing was committed, but the index still stages them: run "
                    "'git reset -q -- a.txt b.txt'")
    assert (repo / "a.txt").read_text() == "a\n" and (repo / "b.txt").read_text() == "b\n"


def test_settle_names_the_files_it_could_not_put_back(
    repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    head = gitrepo.head_sha(repo)
    todo = written(repo, {"a.txt": "A\n", "new/c.txt": "c\n"})
    for path in ("a.txt", "new/c.txt"):  # something else took their place meanwhile
        (repo / path).unlink()
        (repo / path).mkdir()
        (repo / path / "keep").write_text("")
    (tmp_path / "nothing").mkdir()
    monkeypatch.setenv("PATH", str(tmp_path / "nothing"))
    assert transaction.settle(repo, todo, head, "change a") == (
        "nothing was committed, but new/c.txt, a.txt could not be put back: run 'git checkout "
        "-- new/c.txt a.txt'; the index still stages them: run 'git reset -q -- a.txt "
        "new/c.txt'")


def test_settle_after_a_landed_commit_names_the_index_it_could_not_reset(repo: Path) -> None:
    head = gitrepo.head_sha(repo)
    todo = written(repo, {"a.txt": "A\n", "b.txt": "B\n"})
    sha = gitrepo.commit_paths(repo, ["a.txt", "b.txt"], "change a")
    assert sha is not None
    (repo / ".git" / "index.lock").write_text("")  # another git holds the index
    assert transaction.settle(repo, todo, head, "change a") == (
        f"the commit {sha[:8]} (change a) landed before it stopped; the index still differs: "
        "run 'git reset -q -- a.txt b.txt'")


# ---- apply: what a failure after the write says ------------------------------------------------


def failing(exc: BaseException) -> Callable[[], None]:
    def check() -> None:
        raise exc
    return check


def test_a_failing_check_keeps_its_own_fix_and_adds_what_was_left(repo: Path) -> None:
    before = snapshot(repo)
    planned = changes.plan(repo, {"a.txt": "A\n", "new/c.txt": "c\n"})
    for exc, fix in ((ConflictError("no", "nothing kept"), "nothing kept; nothing was changed"),
                     (ConflictError("no", "nothing was written; fix x"),
                      "nothing was written; fix x"),
                     (ConflictError("no"), "nothing was changed")):
        with pytest.raises(ConflictError) as caught:
            transaction.apply(repo, planned, "m", check=failing(exc))
        assert caught.value.fix == fix
        assert snapshot(repo) == before


def test_a_stop_during_the_check_says_nothing_changed(repo: Path) -> None:
    before = snapshot(repo)
    planned = changes.plan(repo, {"a.txt": "A\n"})
    with pytest.raises(Stopped) as caught:
        transaction.apply(repo, planned, "m", check=failing(Stopped(signal.SIGTERM)))
    assert caught.value.outcome == "nothing was changed; run the command again"
    assert snapshot(repo) == before


def test_a_full_disk_after_the_write_is_a_missing_error_naming_the_outcome(repo: Path) -> None:
    before = snapshot(repo)
    planned = changes.plan(repo, {"a.txt": "A\n"})
    full = OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    with pytest.raises(MissingError) as caught:
        transaction.apply(repo, planned, "m", check=failing(full))
    assert caught.value.render() == (f"could not write in {repo}: No space left on device; check "
                                     "free space and permissions; nothing was changed")
    assert snapshot(repo) == before


def test_a_lock_that_cannot_be_opened_is_a_missing_error(repo: Path) -> None:
    (repo / ".git" / layout.LOCK).mkdir()
    before = snapshot(repo)
    with pytest.raises(MissingError) as caught:
        transaction.apply(repo, changes.plan(repo, {"a.txt": "A\n"}), "m")
    assert caught.value.render() == (f"could not write in {repo}: Is a directory; check the file "
                                     "system's permissions and free space; nothing was changed")
    assert snapshot(repo) == before


def test_a_target_replaced_by_a_directory_since_the_plan_is_refused(repo: Path) -> None:
    (repo / "empty.txt").write_text("")
    git.Repo(repo).git.add("empty.txt")
    git.Repo(repo).git.commit("-q", "-m", "an empty file")
    planned = changes.plan(repo, {"empty.txt": "now something\n"})
    (repo / "empty.txt").unlink()
    (repo / "empty.txt").mkdir()
    with pytest.raises(ConflictError) as caught:
        transaction.refuse_moved(repo, changes.pending(planned))
    assert caught.value.message == "empty.txt changed while this command ran"
