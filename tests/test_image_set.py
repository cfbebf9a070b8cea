"""image set ENV COMPONENT REF: the round-trip edit, the commit, the refusals, and publishing
through a real bare remote and the stand-in GitHub API."""

from __future__ import annotations

from pathlib import Path

import git
import pytest
import yaml

from gitops_gen.checks.validate import validate_repo
from gitops_gen.repo import layout

from .fakegithub import FakeGitHub, bare_remote, github, no_proxy
from .helpers import cli, commit_files, snapshot, template_repo, write_executable

__all__ = ["github", "no_proxy"]  # fixtures, used by name

DIGEST = "sha256:" + "0123456789abcdef" * 4
STAGING = layout.values_path("staging")


def annotate(root: Path) -> None:
    """staging's overlay with people's comments and a pinned tag of its own."""
    path = root / STAGING
    text = path.read_text().replace(
        "networkPolicy:", "# owned by the release team\nbackend:\n  replicaCount: 3  # peak\n"
        "  image:\n    tag: \"1.3.2\"  # last good\nnetworkPolicy:")
    path.write_text(text)
    repo = git.Repo(root)
    repo.git.add(STAGING)
    repo.git.commit("-q", "-m", "staging: pin 1.3.2")


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return template_repo(tmp_path_factory.mktemp("image-set"), ["staging"], then=annotate)


@pytest.fixture
def remote(repo: Path, tmp_path: Path) -> Path:
    return bare_remote(repo, tmp_path / "remote.git")


def error_lines(output: str) -> list[str]:
    return [ln for ln in output.splitlines() if ln.startswith("error:")]


def image_of(text: str, component: str) -> dict[str, str]:
    return dict(yaml.safe_load(text)[component]["image"])


def test_sets_the_tag_round_trip_and_commits_only_the_overlay(repo: Path) -> None:
    before = (repo / STAGING).read_text()
    head = git.Repo(repo).head.commit.hexsha

    result = cli("image", "set", "staging", "backend", "1.4.0", repo=repo)

    assert result.exit_code == 0, result.output
    assert "image staging backend: 1.3.2 -> 1.4.0" in result.output
    after = (repo / STAGING).read_text()
    assert after == before.replace('tag: "1.3.2"  # last good', 'tag: "1.4.0"  # last good')
    commit = git.Repo(repo).head.commit
    assert [p.hexsha for p in commit.parents] == [head]
    assert commit.message.splitlines()[0] == "image: staging backend 1.3.2 -> 1.4.0"
    assert commit_files(repo, commit.hexsha) == [STAGING]
    assert git.Repo(repo).git.status("--porcelain") == ""


def test_digest_and_back(repo: Path) -> None:
    ok = cli("image", "set", "staging", "frontend", f"1.4.0@{DIGEST}", repo=repo)
    assert ok.exit_code == 0, ok.output
    assert image_of((repo / STAGING).read_text(), "frontend") == {"tag": "1.4.0",
                                                                  "digest": DIGEST}
    subject = git.Repo(repo).head.commit.message.splitlines()[0]
    assert subject == f"image: staging frontend 1.0.0 -> 1.4.0@{DIGEST}"
    assert validate_repo(repo, ["staging"]).ok

    assert cli("image", "set", "staging", "frontend", "1.5.0", repo=repo).exit_code == 0
    assert image_of((repo / STAGING).read_text(), "frontend") == {"tag": "1.5.0"}

    assert cli("image", "set", "dev", "backend", DIGEST, repo=repo).exit_code == 0
    assert image_of((repo / layout.values_path("dev")).read_text(), "backend") == {
        "tag": "", "digest": DIGEST}
    assert validate_repo(repo, ["dev"]).ok


def test_a_moving_tag_is_fine_in_dev(repo: Path) -> None:
    result = cli("image", "set", "dev", "backend", "latest", repo=repo)
    assert result.exit_code == 0, result.output
    assert image_of((repo / layout.values_path("dev")).read_text(), "backend")["tag"] == "latest"


def test_a_moving_tag_pinned_by_digest_is_fine_outside_dev(repo: Path) -> None:
    result = cli("image", "set", "staging", "backend", f"main@{DIGEST}", repo=repo)
    assert result.exit_code == 0, result.output
    assert validate_repo(repo, ["staging"]).ok


def test_the_same_reference_changes_nothing(repo: Path) -> None:
    before = snapshot(repo)
    result = cli("image", "set", "staging", "backend", "1.3.2", repo=repo)
    assert result.exit_code == 0, result.output
    assert "staging already runs backend 1.3.2: nothing to change" in result.output
    assert snapshot(repo) == before


@pytest.mark.parametrize(("args", "words"), [
    (["staging", "backend", "latest"], ["moving tag", "policy-image-tag", "latest@sha256:"]),
    (["staging", "frontend", "Main"], ["moving tag"]),
    (["staging", "backend", "sha256:abc"], ["not an image digest"]),
    (["staging", "backend", "1.0 beta"], ["not a valid image tag"]),
    (["staging", "backend", "ghcr.io/org/api:1.0"], ["names a repository"]),
    (["qa", "backend", "1.0"], ["no environment 'qa'", "dev, staging"]),
    (["staging", "database", "17"], ["'database' is not one of"]),
])
def test_refused_in_one_line_without_writing(repo: Path, args: list[str],
                                             words: list[str]) -> None:
    before = snapshot(repo)
    result = cli("image", "set", *args, repo=repo)
    assert result.exit_code == 2, result.output
    text = result.output if "database" in args else "\n".join(error_lines(result.output))
    assert len(error_lines(result.output)) <= 1
    assert all(w in text for w in words), result.output
    assert snapshot(repo) == before


def test_uncommitted_overlay_is_refused(repo: Path) -> None:
    path = repo / STAGING
    path.write_text(path.read_text() + "# thinking\n")
    before = snapshot(repo)
    result = cli("image", "set", "staging", "backend", "1.4.0", repo=repo)
    assert result.exit_code == 2 and "uncommitted changes in overlays/staging/values.yaml" in \
        result.output
    assert snapshot(repo) == before


def test_a_result_that_does_not_validate_keeps_nothing(repo: Path) -> None:
    path = repo / STAGING
    path.write_text(path.read_text().replace("replicaCount: 3  # peak", "replicaCount: 1"))
    git.Repo(repo).git.commit("-q", "-am", "staging: one replica")
    before = snapshot(repo)
    result = cli("image", "set", "staging", "backend", "1.4.0", repo=repo)
    assert result.exit_code == 1, result.output
    assert "policy-replicas" in result.output and "nothing was written" in result.output
    assert snapshot(repo) == before


def test_push_puts_it_on_a_branch_from_the_target_revision(repo: Path, remote: Path) -> None:
    (repo / "NOTES.txt").write_text("work in progress\n")
    before = snapshot(repo)
    result = cli("image", "set", "staging", "backend", "1.4.0", "--push", repo=repo)
    assert result.exit_code == 0, result.output
    assert "pushed image/staging-backend to origin" in result.output
    assert snapshot(repo) == before
    pushed = git.Repo(remote).commit("image/staging-backend")
    assert pushed.parents[0].hexsha == git.Repo(repo).head.commit.hexsha
    assert pushed.message.splitlines()[0] == "image: staging backend 1.3.2 -> 1.4.0"
    assert image_of(str(git.Repo(remote).git.show(f"{pushed.hexsha}:{STAGING}")),
                    "backend") == {"tag": "1.4.0"}


def test_refused_push_leaves_repository_and_remote_as_they_were(repo: Path,
                                                                remote: Path) -> None:
    write_executable(remote / "hooks" / "pre-receive", "#!/bin/sh\necho 'no' >&2\nexit 1\n")
    before, refs = snapshot(repo), git.Repo(repo).git.for_each_ref()
    remote_refs = git.Repo(remote).git.for_each_ref()
    result = cli("image", "set", "staging", "backend", "1.4.0", "--push", repo=repo)
    assert result.exit_code == 3 and "pre-receive hook declined" in result.output
    assert snapshot(repo) == before and git.Repo(repo).git.for_each_ref() == refs
    assert git.Repo(remote).git.for_each_ref() == remote_refs


def test_open_pr_labels_it_and_a_rerun_updates_it(repo: Path, remote: Path,
                                                  github: FakeGitHub) -> None:
    first = cli("image", "set", "staging", "backend", "1.4.0", "--open-pr", repo=repo)
    assert first.exit_code == 0, first.output
    [pr] = github.pulls
    assert pr["head"] == "image/staging-backend" and pr["base"] == "main"
    assert pr["title"] == "image: staging backend 1.3.2 -> 1.4.0"
    assert pr["labels"] == ["image", "env:staging"]
    assert "changed Deployment/todo-backend" in pr["body"]

    again = cli("image", "set", "staging", "backend", "1.4.1", "--open-pr", repo=repo)
    assert again.exit_code == 0, again.output
    assert "updated branch image/staging-backend" in again.output
    assert "updated pull request https://github.com/org/todo-gitops/pull/1" in again.output
    [pr] = github.pulls
    assert pr["title"] == "image: staging backend 1.3.2 -> 1.4.1"
    assert image_of(str(git.Repo(remote).git.show(f"image/staging-backend:{STAGING}")),
                    "backend") == {"tag": "1.4.1"}
