"""gitrepo.find_root against GitPython's own search, on real repositories."""

from __future__ import annotations

from pathlib import Path

import git
import pytest

from gitops_gen.errors import GitopsGenError
from gitops_gen.repo import gitrepo


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    repo = git.Repo.init(root, initial_branch="main")
    (root / "a" / "b").mkdir(parents=True)
    (root / "a" / "b" / "f.txt").write_text("f\n")
    repo.git.add("--all")
    repo.git.commit("-q", "-m", "start")
    return root


def gitpython(start: Path) -> Path | str:
    """What find_root answered before it asked git first: GitPython's search."""
    try:
        found = git.Repo(start, search_parent_directories=True).working_tree_dir
    except (git.InvalidGitRepositoryError, git.NoSuchPathError):
        return "not inside a git repository"
    return Path(found) if found else "a bare repository"


def ours(start: Path) -> Path | str:
    try:
        return gitrepo.find_root(start)
    except GitopsGenError as exc:
        return "a bare repository" if "bare" in exc.message else "not inside a git repository"


def test_top_and_subdirectories_find_the_top(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for start in (repo, repo / "a", repo / "a" / "b"):
        assert ours(start) == gitpython(start) == repo
        assert gitrepo._plain_top(start) == repo  # git's answer, without GitPython
    monkeypatch.chdir(repo / "a")
    assert ours(Path("b")) == gitpython(Path("b")) == repo
    assert ours(Path("..")) == repo


def test_unusual_layouts_answer_as_gitpython_does(
    repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "link").symlink_to(repo / "a")  # git would resolve it and find the repository
    git.Repo(repo).git.worktree("add", "-q", str(tmp_path / "tree"), "-b", "other")
    git.Repo.init(tmp_path / "bare.git", bare=True)
    (tmp_path / "plain").mkdir()
    starts = [tmp_path / "link", tmp_path / "link" / "b", tmp_path / "tree",
              tmp_path / "bare.git", tmp_path / "plain"]
    answers = {start: gitpython(start) for start in starts}
    assert answers[tmp_path / "tree"] == tmp_path / "tree"
    assert answers[tmp_path / "bare.git"] == "a bare repository"
    assert answers[tmp_path / "plain"] == "not inside a git repository"
    assert {start: ours(start) for start in starts} == answers
    assert [gitrepo._plain_top(start) for start in starts] == [None] * len(starts)
    monkeypatch.setenv("GIT_DIR", str(repo / ".git"))  # discovery variables: GitPython decides
    assert ours(tmp_path / "plain") == gitpython(tmp_path / "plain")
