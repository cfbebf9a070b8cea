"""promote against real git repositories, a real bare remote and a stand-in GitHub API."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import git
import pytest
import yaml

from gitops_gen.errors import ForgeError, MissingError
from gitops_gen.repo import forge, layout

from .conftest import AgeKey
from .fakegithub import ORIGIN, TOKEN, FakeGitHub, bare_remote, github, no_proxy
from .helpers import cli, commit_files, new_repo, set_value, snapshot, write_executable

__all__ = ["github", "no_proxy"]  # fixtures, used by name

BRANCH = "promote/dev-to-staging"
PR_PATH = "/repos/org/todo-gitops/pulls"


# ---- repositories --------------------------------------------------------------------


@pytest.fixture
def repo(tmp_path: Path, age_key: AgeKey) -> Path:
    """dev runs 1.4.0, staging 1.3.2, prod was made from staging."""
    return new_repo(tmp_path / "gitops",
                    ["dev", "--backend-tag", "1.4.0", "--frontend-tag", "1.4.0"],
                    ["staging", "--backend-tag", "1.3.2", "--frontend-tag", "1.3.2"],
                    ["prod", "--from", "staging"], url=ORIGIN)


@pytest.fixture
def remote(repo: Path, tmp_path: Path) -> Path:
    """A bare repository that origin (a GitHub URL) really pushes to, via url.insteadOf."""
    return bare_remote(repo, tmp_path / "remote.git")


def commit_edit(root: Path, path: str, text: str) -> None:
    (root / path).write_text(text)
    repo = git.Repo(root)
    repo.git.add(path)
    repo.git.commit("-q", "-m", f"edit {path}")


def branches(root: Path) -> list[str]:
    return sorted(h.name for h in git.Repo(root).heads)


def promote_branch(root: Path) -> str:
    names = [b for b in branches(root) if b.startswith("promote/")]
    assert len(names) == 1, names
    return names[0]


def values_at(root: Path, ref: str, env: str) -> str:
    return str(git.Repo(root).git.show(f"{ref}:{layout.values_path(env)}"))


def tags(text: str) -> dict[str, str]:
    data = yaml.safe_load(text)
    return {c: data[c]["image"]["tag"] for c in ("backend", "frontend") if "tag" in
            data.get(c, {}).get("image", {})}


# ---- the change ------------------------------------------------------------------------


def test_promote_copies_tags_on_a_branch_and_leaves_the_work_tree_alone(repo: Path) -> None:
    staging = layout.values_path("staging")
    commented = (repo / staging).read_text().replace(
        "backend:\n", "# owned by the release team\nbackend:\n  replicaCount: 3  # peak load\n")
    commented = commented.replace("tag: 1.3.2\nfrontend", "tag: 1.3.2  # last good\nfrontend")
    commit_edit(repo, staging, commented)
    (repo / "NOTES.txt").write_text("work in progress\n")  # the user's own untracked work
    before = snapshot(repo)
    head = git.Repo(repo).head.commit.hexsha

    result = cli("promote", "dev", "staging", repo=repo)

    assert result.exit_code == 0, result.output
    assert snapshot(repo) == before
    assert git.Repo(repo).active_branch.name == "main"
    branch = promote_branch(repo)
    assert branch == BRANCH
    assert branch in result.output and "backend: 1.3.2 -> 1.4.0" in result.output
    commit = git.Repo(repo).commit(branch)
    assert [p.hexsha for p in commit.parents] == [head]
    assert commit_files(repo, commit.hexsha) == [staging]
    assert commit.message.splitlines()[0] == (
        "promote: dev -> staging (backend 1.3.2 -> 1.4.0, frontend 1.3.2 -> 1.4.0)")
    assert "backend: 1.3.2 -> 1.4.0" in commit.message
    assert "frontend: 1.3.2 -> 1.4.0" in commit.message
    promoted = values_at(repo, branch, "staging")
    assert tags(promoted) == {"backend": "1.4.0", "frontend": "1.4.0"}
    # Only the tag lines differ: comments, replicas, the header and the rest stay byte for byte.
    assert promoted.replace("1.4.0", "1.3.2") == commented.rstrip("\n")
    assert "tag: 1.4.0  # last good" in promoted
    assert "replicaCount: 3  # peak load" in promoted
    assert "# owned by the release team" in promoted
    # The secrets, the Applications and the other environments are the same files at HEAD.
    assert git.Repo(repo).git.diff("--name-only", head, branch).split() == [staging]


def test_component_backend_moves_only_the_backend_tag(repo: Path) -> None:
    result = cli("promote", "dev", "staging", "--component", "backend", repo=repo)
    assert result.exit_code == 0, result.output
    branch = promote_branch(repo)
    assert tags(values_at(repo, branch, "staging")) == {"backend": "1.4.0", "frontend": "1.3.2"}
    subject = git.Repo(repo).commit(branch).message.splitlines()[0]
    assert subject == "promote: dev -> staging (backend 1.3.2 -> 1.4.0)"


def test_equal_tags_make_nothing(repo: Path) -> None:
    before = snapshot(repo)
    result = cli("promote", "staging", "prod", repo=repo)
    assert result.exit_code == 0, result.output
    assert "prod already runs staging's references" in result.output
    assert branches(repo) == ["main"] and snapshot(repo) == before


def test_rerun_after_a_promotion_keeps_the_one_branch(repo: Path) -> None:
    assert cli("promote", "dev", "staging", repo=repo).exit_code == 0
    first = git.Repo(repo).commit(promote_branch(repo)).hexsha
    again = cli("promote", "dev", "staging", repo=repo)
    assert again.exit_code == 0, again.output
    assert f"branch {BRANCH} already holds this change" in again.output
    assert git.Repo(repo).commit(promote_branch(repo)).hexsha == first


def test_chart_default_is_the_tag_in_effect(repo: Path) -> None:
    """staging without its own frontend tag runs the chart's; prod gets that tag pinned."""
    staging = layout.values_path("staging")
    text = (repo / staging).read_text()
    commit_edit(repo, staging, text.replace("frontend:\n  image:\n    tag: 1.3.2\n", ""))
    chart_tag = yaml.safe_load((repo / "chart" / "values.yaml").read_text())[
        "frontend"]["image"]["tag"]
    assert chart_tag != "1.3.2"

    result = cli("promote", "staging", "prod", repo=repo)

    assert result.exit_code == 0, result.output
    branch = promote_branch(repo)
    assert tags(values_at(repo, branch, "prod")) == {"backend": "1.3.2", "frontend": chart_tag}
    assert git.Repo(repo).commit(branch).message.splitlines()[0] == (
        f"promote: staging -> prod (frontend 1.3.2 -> {chart_tag})")


def test_no_tag_on_either_side_is_nothing_to_do(repo: Path) -> None:
    for env in ("staging", "prod"):
        path = layout.values_path(env)
        text = (repo / path).read_text()
        commit_edit(repo, path, text.replace("frontend:\n  image:\n    tag: 1.3.2\n", ""))
    result = cli("promote", "staging", "prod", "--component", "frontend", repo=repo)
    assert result.exit_code == 0, result.output
    assert "already runs staging's references" in result.output and branches(repo) == ["main"]


# ---- refusals: exit 2 (or 1), one line, nothing written ------------------------------------


@pytest.mark.parametrize(("src", "dst", "words"), [
    ("prod", "dev", ["promotion order dev -> staging -> prod", ".gitops-gen.yaml"]),
    ("staging", "dev", ["promotion order", "environments:"]),
    ("dev", "dev", ["both 'dev'"]),
    ("dev", "qa", ["no environment 'qa'", "dev, staging, prod"]),
    ("qa", "prod", ["no environment 'qa'"]),
    ("Dev", "prod", ["DNS-1123"]),
])
def test_refused_without_writing(repo: Path, src: str, dst: str, words: list[str]) -> None:
    before = snapshot(repo)
    result = cli("promote", src, dst, repo=repo)
    assert result.exit_code == 2, result.output
    errors = [ln for ln in result.output.splitlines() if ln.startswith("error:")]
    assert len(errors) == 1 and all(w in errors[0] for w in words), result.output
    assert snapshot(repo) == before and branches(repo) == ["main"]


def test_dirty_target_values_refused(repo: Path) -> None:
    path = repo / layout.values_path("staging")
    path.write_text(path.read_text() + "# thinking about it\n")
    before = snapshot(repo)
    result = cli("promote", "dev", "staging", repo=repo)
    assert result.exit_code == 2, result.output
    assert "overlays/staging/values.yaml has uncommitted changes" in result.output
    assert snapshot(repo) == before and branches(repo) == ["main"]


def test_promotion_that_does_not_validate_keeps_nothing(repo: Path) -> None:
    """dev may run 'latest'; staging may not, so the validator refuses the promotion."""
    assert cli("env", "add", "dev", "--backend-tag", "latest", repo=repo).exit_code == 0
    before = snapshot(repo)
    result = cli("promote", "dev", "staging", repo=repo)
    assert result.exit_code == 1, result.output
    assert "policy-image-tag" in result.output and "nothing was written" in result.output
    assert snapshot(repo) == before and branches(repo) == ["main"]


# ---- promotion starts from the target revision, whatever is checked out -----------------


def on_feature_branch(root: Path) -> git.Repo:
    """A feature branch off main with an unrelated commit and a commit moving dev's tag."""
    local = git.Repo(root)
    local.git.checkout("-q", "-b", "feature/notes")
    (root / "NOTES.md").write_text("unrelated work\n")
    local.git.add("NOTES.md")
    local.git.commit("-q", "-m", "unrelated")
    set_value(root, layout.values_path("dev"), ["backend", "image", "tag"], "9.9.9")
    local.git.commit("-q", "-am", "dev tries 9.9.9")
    return local


def test_promote_from_a_feature_branch_starts_from_the_target_revision(repo: Path) -> None:
    main = git.Repo(repo).commit("main").hexsha
    local = on_feature_branch(repo)
    before = snapshot(repo)

    result = cli("promote", "dev", "staging", repo=repo)

    assert result.exit_code == 0, result.output
    assert "backend: 1.3.2 -> 1.4.0" in result.output and "9.9.9" not in result.stdout
    assert f"promoting from main at {main[:12]}" in result.stderr
    branch = promote_branch(repo)
    assert branch == "promote/dev-to-staging"  # one branch per pair: re-runs update it
    assert [p.hexsha for p in local.commit(branch).parents] == [main]
    assert local.git.diff("--name-only", main, branch).split() == [
        layout.values_path("staging")]
    assert "NOTES.md" not in local.git.ls_tree("--name-only", branch).split()
    assert local.active_branch.name == "feature/notes" and snapshot(repo) == before


def test_promote_uses_origins_target_revision_without_a_local_branch(
    repo: Path, tmp_path: Path
) -> None:
    bare = tmp_path / "remote.git"
    git.Repo.init(bare, bare=True, initial_branch="main")
    local = git.Repo(repo)
    local.create_remote("origin", str(bare))
    local.git.push("-q", "origin", "main")
    local.git.fetch("-q", "origin")
    main = local.commit("origin/main").hexsha
    on_feature_branch(repo)
    local.git.branch("-D", "main")

    result = cli("promote", "dev", "staging", repo=repo)

    assert result.exit_code == 0, result.output
    assert [p.hexsha for p in local.commit(promote_branch(repo)).parents] == [main]


def test_promote_without_the_target_revision_exits_3(repo: Path) -> None:
    local = git.Repo(repo)
    local.git.branch("-m", "main", "trunk")
    before = snapshot(repo)
    result = cli("promote", "dev", "staging", repo=repo)
    assert result.exit_code == 3, result.output
    assert "neither branch main nor origin/main exists" in result.stderr
    assert len(result.stderr.splitlines()) == 1
    assert branches(repo) == ["trunk"] and snapshot(repo) == before


# ---- push ----------------------------------------------------------------------------------


def test_push_lands_the_branch_on_the_remote(repo: Path, remote: Path) -> None:
    before = snapshot(repo)
    result = cli("promote", "dev", "staging", "--push", repo=repo)
    assert result.exit_code == 0, result.output
    branch = promote_branch(repo)
    assert f"pushed {branch} to origin" in result.output
    assert git.Repo(remote).commit(branch).hexsha == git.Repo(repo).commit(branch).hexsha
    assert snapshot(repo) == before


def test_refused_push_exits_3_and_leaves_no_branch(repo: Path, remote: Path) -> None:
    write_executable(remote / "hooks" / "pre-receive",
                     "#!/bin/sh\necho 'promotions need a review first' >&2\nexit 1\n")
    before = snapshot(repo)
    result = cli("promote", "dev", "staging", "--push", repo=repo)
    assert result.exit_code == 3, result.output
    assert "pre-receive hook declined" in result.output
    assert "promotions need a review first" in result.output
    assert branches(repo) == ["main"] and snapshot(repo) == before
    assert [h.name for h in git.Repo(remote).heads] == ["main"]
    assert "created branch" not in result.output and "promote/" not in result.stdout


def test_refused_push_of_an_update_puts_the_branch_back(repo: Path, remote: Path) -> None:
    assert cli("promote", "dev", "staging", "--push", repo=repo).exit_code == 0
    pushed = git.Repo(remote).commit(BRANCH).hexsha
    assert cli("image", "set", "dev", "backend", "1.5.0", repo=repo).exit_code == 0
    git.Repo(repo).git.push("origin", "main")
    write_executable(remote / "hooks" / "pre-receive",
                     "#!/bin/sh\necho 'frozen for the release' >&2\nexit 1\n")
    before = snapshot(repo)
    refs_before = git.Repo(repo).git.for_each_ref()
    remote_refs = git.Repo(remote).git.for_each_ref()

    result = cli("promote", "dev", "staging", "--push", repo=repo)

    assert result.exit_code == 3, result.output
    assert "frozen for the release" in result.output
    assert git.Repo(repo).commit(BRANCH).hexsha == pushed
    assert git.Repo(repo).git.for_each_ref() == refs_before and snapshot(repo) == before
    assert git.Repo(remote).git.for_each_ref() == remote_refs


def test_a_branch_with_someone_elses_commit_is_not_replaced(repo: Path, remote: Path,
                                                             tmp_path: Path) -> None:
    assert cli("promote", "dev", "staging", "--push", repo=repo).exit_code == 0
    other = git.Repo.clone_from(remote, tmp_path / "other", branch=BRANCH)
    (tmp_path / "other" / "NOTE.md").write_text("reviewed by ops\n")
    other.git.add("NOTE.md")
    other.git.commit("-q", "-m", "a reviewer's note")
    other.git.push("origin", BRANCH)
    theirs = git.Repo(remote).commit(BRANCH).hexsha
    assert cli("image", "set", "dev", "backend", "1.5.0", repo=repo).exit_code == 0
    git.Repo(repo).git.push("origin", "main")
    before = snapshot(repo)
    refs_before = git.Repo(repo).git.for_each_ref()

    result = cli("promote", "dev", "staging", "--push", repo=repo)

    assert result.exit_code == 2, result.output
    errors = [ln for ln in result.output.splitlines() if ln.startswith("error:")]
    assert len(errors) == 1 and f"origin's branch {BRANCH} holds commits other" in errors[0]
    assert "git push origin --delete" in errors[0]
    assert git.Repo(remote).commit(BRANCH).hexsha == theirs
    assert git.Repo(repo).git.for_each_ref() == refs_before and snapshot(repo) == before


def test_push_without_origin_exits_3_before_writing(repo: Path) -> None:
    before = snapshot(repo)
    result = cli("promote", "dev", "staging", "--push", repo=repo)
    assert result.exit_code == 3 and "no 'origin' remote" in result.output
    assert branches(repo) == ["main"] and snapshot(repo) == before


# ---- pull requests ---------------------------------------------------------------------------


def test_open_pr_sends_the_pull_request(repo: Path, remote: Path, github: FakeGitHub) -> None:
    result = cli("promote", "dev", "staging", "--open-pr", repo=repo)

    assert result.exit_code == 0, result.output
    assert "opened pull request https://github.com/org/todo-gitops/pull/1" in result.output
    assert git.Repo(remote).commit(BRANCH)  # pushed before the PR was asked for
    assert github.calls() == [
        ("GET", PR_PATH),  # is there an open pull request of the branch? no
        ("POST", PR_PATH),
        ("GET", "/repos/org/todo-gitops/labels/promotion"),
        ("POST", "/repos/org/todo-gitops/labels"),
        ("GET", "/repos/org/todo-gitops/labels/env%3Astaging"),
        ("POST", "/repos/org/todo-gitops/labels"),
        ("POST", "/repos/org/todo-gitops/issues/1/labels"),
    ]
    assert github.requests[0]["query"] == (
        "state=open&head=org%3Apromote%2Fdev-to-staging&base=main")
    for request in github.requests:
        assert request["headers"]["Authorization"] == f"Bearer {TOKEN}"
        assert request["headers"]["Accept"] == "application/vnd.github+json"
    sent = github.requests[1]["json"]
    assert sent["head"] == BRANCH and sent["base"] == "main"
    assert sent["title"] == (
        "promote: dev -> staging (backend 1.3.2 -> 1.4.0, frontend 1.3.2 -> 1.4.0)")
    body = sent["body"]
    assert "**dev**" in body and "**staging**" in body
    assert "| backend | `1.3.2` | `1.4.0` |" in body
    assert "| frontend | `1.3.2` | `1.4.0` |" in body
    assert "changed Deployment/todo-backend" in body
    dev_commit = git.Repo(repo).git.log("-1", "--format=%H", "--", layout.values_path("dev"))
    assert "staging has not run dev's references before" in body
    assert f"`{dev_commit[:8]}`" in body and "env: add dev" in body
    [pr] = github.open_pulls()
    assert pr["labels"] == ["promotion", "env:staging"]
    assert github.labels["promotion"]["color"] == "0e8a16"
    assert "created label promotion" in result.output
    assert "created label env:staging" in result.output
    assert TOKEN not in result.output
    assert TOKEN not in json.dumps([(r["path"], r["query"], r["json"]) for r in github.requests])


def test_rerun_updates_the_open_pull_request_instead_of_a_second(
        repo: Path, remote: Path, github: FakeGitHub) -> None:
    first = cli("promote", "dev", "staging", "--open-pr", repo=repo)
    assert first.exit_code == 0, first.output
    sha = git.Repo(remote).commit(BRANCH).hexsha
    github.requests.clear()

    again = cli("promote", "dev", "staging", "--open-pr", repo=repo)

    assert again.exit_code == 0, again.output
    assert f"branch {BRANCH} already holds this change" in again.output
    assert "updated pull request https://github.com/org/todo-gitops/pull/1" in again.output
    assert len(github.pulls) == 1 and git.Repo(remote).commit(BRANCH).hexsha == sha
    assert ("POST", PR_PATH) not in github.calls()
    assert ("PATCH", f"{PR_PATH}/1") in github.calls()
    assert ("POST", "/repos/org/todo-gitops/labels") not in github.calls()  # they exist
    assert "created label" not in again.output


def test_rerun_after_the_target_moved_replaces_the_branch_and_updates_the_pr(
        repo: Path, remote: Path, github: FakeGitHub) -> None:
    assert cli("promote", "dev", "staging", "--open-pr", repo=repo).exit_code == 0
    old = git.Repo(remote).commit(BRANCH).hexsha
    # Meanwhile main moves on (an unrelated change) and dev gets a newer backend.
    commit_edit(repo, "README.md", (repo / "README.md").read_text() + "\nOn call: ops.\n")
    assert cli("image", "set", "dev", "backend", "1.5.0", repo=repo).exit_code == 0
    git.Repo(repo).git.push("origin", "main")
    main = git.Repo(repo).head.commit.hexsha

    again = cli("promote", "dev", "staging", "--open-pr", repo=repo)

    assert again.exit_code == 0, again.output
    assert f"updated branch {BRANCH}" in again.output
    new = git.Repo(remote).commit(BRANCH)
    assert new.hexsha != old and [p.hexsha for p in new.parents] == [main]
    assert git.Repo(repo).commit(BRANCH).hexsha == new.hexsha
    assert tags(values_at(repo, BRANCH, "staging")) == {"backend": "1.5.0", "frontend": "1.4.0"}
    [pr] = github.pulls
    assert pr["state"] == "open" and pr["title"] == (
        "promote: dev -> staging (backend 1.3.2 -> 1.5.0, frontend 1.3.2 -> 1.4.0)")
    assert "| backend | `1.3.2` | `1.5.0` |" in pr["body"]
    assert "image: dev backend 1.4.0 -> 1.5.0" in pr["body"]


def test_pr_lists_the_commits_of_src_since_dst_last_matched(
        repo: Path, remote: Path, github: FakeGitHub) -> None:
    assert cli("image", "set", "staging", "backend", "1.4.0", repo=repo).exit_code == 0
    assert cli("image", "set", "staging", "frontend", "1.4.0", repo=repo).exit_code == 0
    matched = git.Repo(repo).head.commit.hexsha  # staging runs what dev runs from here
    for tag in ("1.4.1", "1.4.2"):
        assert cli("image", "set", "dev", "backend", tag, repo=repo).exit_code == 0
    git.Repo(repo).git.push("origin", "main")

    result = cli("promote", "dev", "staging", "--open-pr", repo=repo)

    assert result.exit_code == 0, result.output
    body = github.pulls[0]["body"]
    assert f"since staging last ran the same (`{matched[:8]}`" in body
    listed = [ln for ln in body.splitlines() if ln.startswith("- `")]
    assert [ln.split(" UTC ", 1)[1] for ln in listed] == [
        "image: dev backend 1.4.1 -> 1.4.2", "image: dev backend 1.4.0 -> 1.4.1"]
    assert "env: add dev" not in body
    assert github.pulls[0]["title"] == "promote: dev -> staging (backend 1.4.0 -> 1.4.2)"


def test_open_pr_without_token_exits_3_before_writing(
        repo: Path, remote: Path, github: FakeGitHub, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GITHUB_TOKEN")
    before = snapshot(repo)
    result = cli("promote", "dev", "staging", "--open-pr", repo=repo)
    assert result.exit_code == 3, result.output
    assert "GITHUB_TOKEN" in result.output
    assert snapshot(repo) == before and branches(repo) == ["main"]
    assert [h.name for h in git.Repo(remote).heads] == ["main"] and github.requests == []


def test_api_error_exits_3_with_its_message_and_a_rerun_reuses_the_branch(
        repo: Path, remote: Path, github: FakeGitHub) -> None:
    github.fail("POST", PR_PATH, 422, {"message": "Validation Failed", "errors": [
        {"message": "No commits between main and the branch"}]})
    failed = cli("promote", "dev", "staging", "--open-pr", repo=repo)
    assert failed.exit_code == 3, failed.output
    assert "Validation Failed" in failed.output
    assert "No commits between main and the branch" in failed.output
    assert "open the pull request by hand" in failed.output
    assert TOKEN not in failed.output
    sha = git.Repo(remote).commit(BRANCH).hexsha

    again = cli("promote", "dev", "staging", "--open-pr", repo=repo)
    assert again.exit_code == 0, again.output
    assert "opened pull request https://github.com/org/todo-gitops/pull/1" in again.output
    assert git.Repo(remote).commit(BRANCH).hexsha == sha and len(github.pulls) == 1


def test_api_error_quoting_the_token_is_redacted(repo: Path, remote: Path,
                                                 github: FakeGitHub) -> None:
    github.fail("GET", PR_PATH, 401, {"message": f"Bad credentials: Bearer {TOKEN}"})
    result = cli("promote", "dev", "staging", "--open-pr", repo=repo)
    assert result.exit_code == 3 and "Bad credentials" in result.output
    assert TOKEN not in result.output


def test_plain_http_api_refused_except_on_this_machine(
        repo: Path, remote: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GITHUB_TOKEN", TOKEN)
    monkeypatch.setenv("GITHUB_API_URL", "http://github.example.com/api/v3")
    before = snapshot(repo)
    result = cli("promote", "dev", "staging", "--open-pr", repo=repo)
    assert result.exit_code == 2 and "https://" in result.output
    assert snapshot(repo) == before and branches(repo) == ["main"]
    assert forge.check_api_url("http://127.0.0.1:8080/") == "http://127.0.0.1:8080"


def test_an_api_that_never_answers_times_out(no_proxy: None) -> None:
    with socket.socket() as listener:  # accepts connections (backlog), never replies
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        api = f"http://127.0.0.1:{listener.getsockname()[1]}"
        with pytest.raises(ForgeError, match="could not reach .*timed out") as caught:
            forge.create_pull_request(api, TOKEN, "org", "todo", "b", "main", "t", "body",
                                      timeout=0.5)
    assert TOKEN not in str(caught.value)


@pytest.mark.parametrize(("url", "owner", "name"), [
    ("https://github.com/org/todo-gitops.git", "org", "todo-gitops"),
    ("https://github.com/org/todo-gitops", "org", "todo-gitops"),
    ("https://x-access-token:abc@github.com/org/todo.gitops.git", "org", "todo.gitops"),
    ("git@github.com:org/todo-gitops.git", "org", "todo-gitops"),
    ("ssh://git@github.example.com:2222/org/todo-gitops.git", "org", "todo-gitops"),
])
def test_remote_url_forms(url: str, owner: str, name: str) -> None:
    assert forge.parse_remote(url) == forge.RepoRef(owner, name)


@pytest.mark.parametrize("url", ["/srv/git/todo.git", "file:///srv/git/todo.git",
                                 "https://github.com/todo.git", "https://h/a/b/c.git"])
def test_remote_urls_that_name_no_github_repository(url: str) -> None:
    with pytest.raises(MissingError, match="does not name a GitHub repository"):
        forge.parse_remote(url)
