"""history, status and rollback, read from a real repository whose history (merged and squashed
pull requests, direct commits) the tests write with set commit times."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import git
import pytest
import yaml

from gitops_gen.checks.validate import validate_repo
from gitops_gen.repo import layout

from .fakegithub import FakeGitHub, bare_remote, github, no_proxy
from .helpers import cli, commit_files, set_value, snapshot, template_repo

__all__ = ["github", "no_proxy"]  # fixtures, used by name

DIGEST = "sha256:" + "0123456789abcdef" * 4
STAGING = layout.values_path("staging")
NOW = datetime.now(UTC).replace(second=0, microsecond=0)
T0, T1, T2, T3, T4 = (NOW - timedelta(hours=h) for h in (6, 5, 4, 3, 2))


@contextmanager
def committed_at(when: datetime) -> Iterator[None]:
    with pytest.MonkeyPatch.context() as mp:
        stamp = when.strftime("%Y-%m-%dT%H:%M:%S+00:00")
        mp.setenv("GIT_COMMITTER_DATE", stamp)
        mp.setenv("GIT_AUTHOR_DATE", stamp)
        yield


def releases(root: Path) -> None:
    """dev gets backend 1.1.0 (T1); a pull request #12 gives it to staging (merged at T3);
    a squash-merged #13 gives staging frontend 1.2.0 (T4)."""
    repo = git.Repo(root)
    with committed_at(T1):
        assert cli("image", "set", "dev", "backend", "1.1.0", repo=root).exit_code == 0
    repo.git.checkout("-q", "-b", "promote/dev-to-staging")
    with committed_at(T2):
        set_value(root, STAGING, ["backend", "image", "tag"], "1.1.0")
        repo.git.commit("-q", "-am", "promote: dev -> staging (backend 1.0.0 -> 1.1.0)")
    repo.git.checkout("-q", "main")
    with committed_at(T3):
        repo.git.merge("-q", "--no-ff", "-m", "Merge pull request #12 from "
                       "org/promote/dev-to-staging", "promote/dev-to-staging")
    repo.git.branch("-q", "-D", "promote/dev-to-staging")
    with committed_at(T4):
        set_value(root, STAGING, ["frontend", "image", "tag"], "1.2.0")
        repo.git.commit("-q", "-am", "image: staging frontend 1.0.0 -> 1.2.0 (#13)")


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """dev and staging added at T0, then the releases."""
    with committed_at(T0):
        return template_repo(tmp_path_factory.mktemp("history"), ["staging"], then=releases)


def sha(root: Path, rev: str) -> str:
    return git.Repo(root).commit(rev).hexsha


def subject_sha(root: Path, subject: str) -> str:
    return str(git.Repo(root).git.log("--format=%H", f"--grep=^{subject}", "-1"))


def error_lines(output: str) -> list[str]:
    return [ln for ln in output.splitlines() if ln.startswith("error:")]


# ---- history -------------------------------------------------------------------------------


def test_history_says_what_ran_from_when_to_when_by_which_commit_and_pr(repo: Path) -> None:
    result = cli("history", "staging", "--format", "json", repo=repo)
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["env"] == "staging" and data["revision"] == "main"
    assert data["commit"] == sha(repo, "main")
    added = subject_sha(repo, "env: add staging")
    rows = [(p["component"], p["ref"], p["to"] is None, p["commit"], p["pull_request"])
            for p in data["periods"]]
    assert rows == [
        ("frontend", "1.2.0", True, sha(repo, "main"), 13),
        ("backend", "1.1.0", True, sha(repo, "main~1"), 12),
        ("frontend", "1.0.0", False, added, None),
        ("backend", "1.0.0", False, added, None),
    ]
    newest, merged = data["periods"][:2]
    assert newest["from"] == T4.isoformat() and merged["from"] == T3.isoformat()
    assert data["periods"][2]["to"] == T4.isoformat()
    assert data["periods"][3]["to"] == T3.isoformat()  # the merge, not the branch's commit
    assert data["periods"][3]["from"] == T0.isoformat()
    assert merged["subject"].startswith("Merge pull request #12")

    text = cli("history", "staging", repo=repo).output
    assert "#12" in text and "#13" in text
    assert f"{T3:%Y-%m-%d %H:%M}" in text and "now" in text


def test_history_of_an_unknown_environment_is_refused(repo: Path) -> None:
    result = cli("history", "qa", repo=repo)
    assert result.exit_code == 2 and "no environment 'qa'" in result.output


# ---- status --------------------------------------------------------------------------------


def test_status_marks_who_is_behind_and_what_the_gates_say(repo: Path) -> None:
    with committed_at(NOW - timedelta(minutes=10)):
        assert cli("image", "set", "dev", "backend", "1.3.0", repo=repo).exit_code == 0
    settings = repo / layout.SETTINGS
    settings.write_text(settings.read_text() + "gates:\n  staging:\n    minSoak: 1h\n")
    git.Repo(repo).git.commit("-q", "-am", "gates")

    result = cli("status", "--format", "json", repo=repo)

    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert [e["env"] for e in data["environments"]] == ["dev", "staging"]
    dev, staging = data["environments"]
    assert dev["source"] is None and dev["components"]["backend"]["ref"] == "1.3.0"
    backend, frontend = staging["components"]["backend"], staging["components"]["frontend"]
    assert (backend["ref"], backend["source_ref"], backend["behind"]) == ("1.1.0", "1.3.0", True)
    assert backend["pull_request"] == 12 and not backend["promotable"]
    assert "has run in dev for" in backend["blocked_by"][0]
    assert (frontend["ref"], frontend["source_ref"]) == ("1.2.0", "1.0.0")
    assert frontend["diverged"] and not frontend["behind"]

    text = cli("status", repo=repo).output.splitlines()
    [row] = [ln for ln in text if ln.startswith("  staging ")]
    assert "1.1.0 < 1.3.0" in row and "1.2.0 != 1.0.0" in row
    assert any(ln.startswith("staging backend: behind dev; held back:") for ln in text)


# ---- rollback ------------------------------------------------------------------------------


def test_rollback_undoes_the_last_change(repo: Path) -> None:
    head = sha(repo, "main")
    result = cli("rollback", "staging", repo=repo)

    assert result.exit_code == 0, result.output
    assert "frontend: 1.2.0 -> 1.0.0" in result.output
    commit = git.Repo(repo).head.commit
    assert [p.hexsha for p in commit.parents] == [head]
    assert commit.message.splitlines()[0] == (
        f"rollback: staging to before {head[:8]} (frontend 1.2.0 -> 1.0.0)")
    assert commit_files(repo, commit.hexsha) == [STAGING]
    data = yaml.safe_load((repo / STAGING).read_text())
    assert data["frontend"]["image"]["tag"] == "1.0.0"
    assert data["backend"]["image"]["tag"] == "1.1.0"  # the change before stays
    assert validate_repo(repo, ["staging"]).ok


def test_rollback_to_a_revision(repo: Path) -> None:
    added = subject_sha(repo, "env: add staging")
    result = cli("rollback", "staging", "--to", added[:10], repo=repo)
    assert result.exit_code == 0, result.output
    data = yaml.safe_load((repo / STAGING).read_text())
    assert (data["backend"]["image"]["tag"], data["frontend"]["image"]["tag"]) == (
        "1.0.0", "1.0.0")
    again = cli("rollback", "staging", "--to", added[:10], repo=repo)
    assert again.exit_code == 0 and "nothing to roll back" in again.output


def test_rollback_of_a_reference_the_source_no_longer_runs_passes_the_soak_gate(
        repo: Path) -> None:
    settings = repo / layout.SETTINGS
    settings.write_text(settings.read_text() + "gates:\n  staging:\n    minSoak: 7d\n")
    git.Repo(repo).git.commit("-q", "-am", "gates")
    assert cli("image", "set", "dev", "frontend", "2.0.0", repo=repo).exit_code == 0
    result = cli("rollback", "staging", repo=repo)  # back to frontend 1.0.0: ran there before
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize(("args", "words"), [
    (["--to", "no-such-rev"], "--to 'no-such-rev' names no commit"),
    (["--to", "--help"], None),
    (["--to", "main~4"], "staging has no overlay at"),
])
def test_rollback_refusals(repo: Path, args: list[str], words: str | None) -> None:
    before = snapshot(repo)
    result = cli("rollback", "staging", *args, repo=repo)
    if words is None:  # click takes --help as the value; git must not take it as an option
        assert result.exit_code == 2 and "not a git revision" in result.output
    else:
        assert result.exit_code == 2, result.output
        [line] = error_lines(result.output)
        assert words in line
    assert snapshot(repo) == before


def test_rollback_with_nothing_before_is_refused(tmp_path: Path,
                                                 template: Path) -> None:
    fresh = template_repo(tmp_path / "fresh", ["staging"])
    result = cli("rollback", "staging", repo=fresh)
    assert result.exit_code == 2
    [line] = error_lines(result.output)
    assert "staging has run the same image references all along in main" in line
    assert "--to REV" in line


def test_rollback_into_a_digest_only_environment_needs_digests(repo: Path) -> None:
    settings = repo / layout.SETTINGS
    settings.write_text(settings.read_text() + "gates:\n  staging:\n    requireDigest: true\n")
    git.Repo(repo).git.commit("-q", "-am", "gates")
    before = snapshot(repo)
    result = cli("rollback", "staging", repo=repo)
    assert result.exit_code == 2
    assert "staging takes images by digest only" in error_lines(result.output)[0]
    assert snapshot(repo) == before


def test_rollback_open_pr(repo: Path, tmp_path: Path, github: FakeGitHub) -> None:
    remote = bare_remote(repo, tmp_path / "remote.git")
    (repo / "NOTES.txt").write_text("mine\n")
    before = snapshot(repo)
    result = cli("rollback", "staging", "--open-pr", repo=repo)
    assert result.exit_code == 0, result.output
    assert snapshot(repo) == before
    [pr] = github.pulls
    assert pr["head"] == "rollback/staging" and pr["labels"] == ["rollback", "env:staging"]
    assert pr["title"].startswith("rollback: staging to before ")
    assert "| frontend | `1.2.0` | `1.0.0` |" in pr["body"]
    pushed = git.Repo(remote).commit("rollback/staging")
    assert pushed.parents[0].hexsha == sha(repo, "main")
