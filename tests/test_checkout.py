"""rendering.checkout: a commit's tree written from git's object store, exactly as stored.

Real repositories; the hostile trees are real git objects written with `hash-object
--literally`, as a pushed commit can hold them (git only refuses them when fsck is on).
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import git
import pytest

from gitops_gen.checks import rendering
from gitops_gen.errors import InputError
from gitops_gen.repo import gitrepo


def commit_all(root: Path, message: str = "c") -> str:
    repo = git.Repo(root)
    repo.git.add("--all")
    repo.git.commit("-q", "-m", message)
    return str(repo.head.commit.hexsha)


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    git.Repo.init(root, initial_branch="main")
    return root


def files_of(tree: Path) -> dict[str, bytes | str]:
    """Every file (its bytes), link ("-> target") and directory ("dir") under tree."""
    out: dict[str, bytes | str] = {}
    for path in sorted(tree.rglob("*")):
        rel = path.relative_to(tree).as_posix()
        if path.is_symlink():
            out[rel] = f"-> {path.readlink()}"
        elif path.is_dir():
            out[rel] = "dir"
        else:
            out[rel] = path.read_bytes()
    return out


def test_the_checkout_is_the_commit_as_stored_whatever_its_attributes_say(
        repo: Path, tmp_path: Path) -> None:
    marker = tmp_path / "filter-ran"
    (repo / "chart" / "templates").mkdir(parents=True)
    (repo / "chart" / "templates" / "a.yaml").write_bytes(b"a: 1\nb: \xff\n")
    (repo / "chart" / "run.sh").write_text("#!/bin/sh\n")
    (repo / "chart" / "run.sh").chmod(0o755)
    (repo / "chart" / "link").symlink_to("../../outside")
    (repo / "overlays" / "prod").mkdir(parents=True)
    (repo / "overlays" / "prod" / "secrets.yaml").write_text("password: plain\n")
    (repo / "gitops").mkdir()
    (repo / "gitops" / "v.txt").write_text("$Format:%H$\n")
    (repo / "README.md").write_text("not read\n")
    # What git archive or a checkout would honour: hide a file, rewrite one, run a program.
    (repo / ".gitattributes").write_text(
        "overlays/** export-ignore\ngitops/v.txt export-subst\n* text eol=crlf\n"
        "chart/** filter=evil\n")
    git.Repo(repo).git.config("filter.evil.smudge", f"touch {marker}; cat")
    sha = commit_all(repo)
    (repo / "chart" / "run.sh").write_text("edited in the work tree\n")

    with rendering.checkout(repo, sha) as tree:
        found = files_of(tree)
        assert os.access(tree / "chart" / "run.sh", os.X_OK)
        assert not os.access(tree / "chart" / "templates" / "a.yaml", os.X_OK)
    assert found == {
        "chart": "dir", "chart/link": "-> ../../outside", "chart/run.sh": b"#!/bin/sh\n",
        "chart/templates": "dir", "chart/templates/a.yaml": b"a: 1\nb: \xff\n",
        "gitops": "dir", "gitops/v.txt": b"$Format:%H$\n",
        "overlays": "dir", "overlays/prod": "dir",
        "overlays/prod/secrets.yaml": b"password: plain\n",
    }
    assert not marker.exists()
    assert not tree.exists()  # removed after the block


def test_a_ref_that_names_no_commit_is_bad_input(repo: Path) -> None:
    (repo / "chart").mkdir()
    (repo / "chart" / "x").write_text("x\n")
    commit_all(repo)
    tree_sha = git.Repo(repo).git.rev_parse("HEAD^{tree}")
    for ref in ("no-such-branch", "--output=/tmp/x", tree_sha):
        with pytest.raises(InputError, match="not found"), rendering.checkout(repo, ref):
            pass


def write_object(root: Path, kind: str, data: bytes) -> str:
    return subprocess.run(["git", "hash-object", "-w", "-t", kind, "--literally", "--stdin"],
                          cwd=root, input=data, capture_output=True, check=True
                          ).stdout.decode().strip()


def tree(root: Path, entries: list[tuple[str, str, str]]) -> str:
    """A tree object of (mode, name, sha) entries exactly as given: no checks, no sorting."""
    data = b"".join(f"{mode} {name}".encode() + b"\0" + bytes.fromhex(sha)
                    for mode, name, sha in entries)
    return write_object(root, "tree", data)


def commit_of(root: Path, tree_sha: str) -> str:
    return subprocess.run(["git", "commit-tree", tree_sha, "-m", "crafted"], cwd=root,
                          capture_output=True, check=True).stdout.decode().strip()


@pytest.mark.parametrize("shape", ["dotdot", "file-under-a-link", "repeated-name"])
def test_a_tree_git_would_not_check_out_is_refused_before_anything_is_written(
        repo: Path, tmp_path: Path, shape: str) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    blob = write_object(repo, "blob", b"written\n")
    target = write_object(repo, "blob", str(outside).encode())
    inner = tree(repo, [("100644", "x", blob)])
    chart = {
        "dotdot": [("40000", "..", inner), ("100644", "ok", blob)],
        "file-under-a-link": [("120000", "d", target), ("40000", "d", inner)],
        "repeated-name": [("100644", "x", blob), ("100644", "x", blob)],
    }[shape]
    sha = commit_of(repo, tree(repo, [("40000", "chart", tree(repo, chart))]))
    with pytest.raises(InputError, match="leaves its own tree"), rendering.checkout(repo, sha):
        pass
    assert list(outside.iterdir()) == []
    assert not (tmp_path / "x").exists()


def test_tree_entries_and_blobs_come_from_the_object_store(repo: Path) -> None:
    (repo / "chart").mkdir()
    (repo / "chart" / "a").write_bytes(b"same\n")
    (repo / "chart" / "b").write_bytes(b"same\n")
    (repo / "other").write_text("not listed\n")
    sha = commit_all(repo)
    entries = gitrepo.tree_entries(repo, sha, ["chart"])
    assert [(e.path, e.mode, e.size, e.is_dir) for e in entries] == [
        ("chart", "040000", None, True), ("chart/a", "100644", 5, False),
        ("chart/b", "100644", 5, False)]
    assert gitrepo.read_blobs(repo, [e.oid for e in entries[1:]]) == {entries[1].oid: b"same\n"}
    with pytest.raises(InputError):
        gitrepo.tree_entries(repo, "-x", ["chart"])
