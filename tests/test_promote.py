"""promote against real git repositories, a real bare remote and a real HTTP server for GitHub."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import git
import pytest
import yaml

from gitops_gen.errors import MissingError
from gitops_gen.repo import forge, layout

from .conftest import AgeKey
from .helpers import cli, commit_files, new_repo, set_value, snapshot, write_executable

ORIGIN = "https://github.com/org/todo-gitops.git"
TOKEN = "ghp_test0nlyTOKEN0do0not0print"
BRANCH = "promote/dev-to-staging-"


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
    bare = tmp_path / "remote.git"
    git.Repo.init(bare, bare=True, initial_branch="main")
    local = git.Repo(repo)
    local.create_remote("origin", ORIGIN)
    with local.config_writer() as cfg:
        cfg.set_value(f'url "{bare}"', "insteadOf", ORIGIN)
    local.git.push("origin", "main")
    return bare


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


# ---- a fake GitHub API: a real HTTP server on 127.0.0.1 --------------------------------


@dataclass
class FakeGitHub:
    url: str
    status: int = 201
    reply: dict[str, Any] = field(default_factory=lambda: {
        "html_url": "https://github.com/org/todo-gitops/pull/7", "number": 7})
    requests: list[dict[str, Any]] = field(default_factory=list)


class _Server(ThreadingHTTPServer):
    fake: FakeGitHub


class _Handler(BaseHTTPRequestHandler):
    timeout = 5
    server: _Server

    def do_POST(self) -> None:  # noqa: N802 - the name http.server dispatches to
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        fake = self.server.fake
        fake.requests.append({"method": "POST", "path": self.path,
                              "headers": dict(self.headers), "json": json.loads(body)})
        payload = json.dumps(fake.reply).encode()
        self.send_response(fake.status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *_args: Any) -> None:
        pass


@pytest.fixture
def no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    """Requests to 127.0.0.1 go straight there, whatever proxy the machine has."""
    for var in ("http_proxy", "https_proxy", "all_proxy", "HTTP_PROXY", "HTTPS_PROXY",
                "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")


@pytest.fixture
def github(no_proxy: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeGitHub]:
    server = _Server(("127.0.0.1", 0), _Handler)
    server.fake = FakeGitHub(f"http://127.0.0.1:{server.server_address[1]}")
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                              daemon=True)
    thread.start()
    monkeypatch.setenv("GITHUB_API_URL", server.fake.url)
    monkeypatch.setenv("GITHUB_TOKEN", TOKEN)
    try:
        yield server.fake
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
        assert not thread.is_alive()


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
    assert branch == f"{BRANCH}{head[:7]}"
    assert branch in result.output and "backend: 1.3.2 -> 1.4.0" in result.output
    commit = git.Repo(repo).commit(branch)
    assert [p.hexsha for p in commit.parents] == [head]
    assert commit_files(repo, commit.hexsha) == [staging]
    assert commit.message.splitlines()[0] == (
        "promote: dev -> staging (backend 1.4.0, frontend 1.4.0)")
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
    assert subject == "promote: dev -> staging (backend 1.4.0)"


def test_equal_tags_make_nothing(repo: Path) -> None:
    before = snapshot(repo)
    result = cli("promote", "staging", "prod", repo=repo)
    assert result.exit_code == 0, result.output
    assert "prod already runs staging's tags" in result.output
    assert branches(repo) == ["main"] and snapshot(repo) == before


def test_rerun_after_a_promotion_keeps_the_one_branch(repo: Path) -> None:
    assert cli("promote", "dev", "staging", repo=repo).exit_code == 0
    first = git.Repo(repo).commit(promote_branch(repo)).hexsha
    again = cli("promote", "dev", "staging", repo=repo)
    assert again.exit_code == 0, again.output
    assert "already holds this promotion" in again.output
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
        f"promote: staging -> prod (frontend {chart_tag})")


def test_no_tag_on_either_side_is_nothing_to_do(repo: Path) -> None:
    for env in ("staging", "prod"):
        path = layout.values_path(env)
        text = (repo / path).read_text()
        commit_edit(repo, path, text.replace("frontend:\n  image:\n    tag: 1.3.2\n", ""))
    result = cli("promote", "staging", "prod", "--component", "frontend", repo=repo)
    assert result.exit_code == 0, result.output
    assert "already runs staging's tags" in result.output and branches(repo) == ["main"]


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
    assert branch == f"promote/dev-to-staging-{main[:7]}"
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


def test_push_without_origin_exits_3_before_writing(repo: Path) -> None:
    before = snapshot(repo)
    result = cli("promote", "dev", "staging", "--push", repo=repo)
    assert result.exit_code == 3 and "no 'origin' remote" in result.output
    assert branches(repo) == ["main"] and snapshot(repo) == before


# ---- pull requests ---------------------------------------------------------------------------


def test_open_pr_sends_the_pull_request(repo: Path, remote: Path, github: FakeGitHub) -> None:
    result = cli("promote", "dev", "staging", "--open-pr", repo=repo)

    assert result.exit_code == 0, result.output
    assert "opened pull request https://github.com/org/todo-gitops/pull/7" in result.output
    branch = promote_branch(repo)
    assert git.Repo(remote).commit(branch)  # pushed before the PR was asked for
    [request] = github.requests
    assert request["path"] == "/repos/org/todo-gitops/pulls"
    assert request["headers"]["Authorization"] == f"Bearer {TOKEN}"
    assert request["headers"]["Accept"] == "application/vnd.github+json"
    sent = request["json"]
    assert sent["head"] == branch and sent["base"] == "main"
    assert sent["title"] == "promote: dev -> staging (backend 1.4.0, frontend 1.4.0)"
    assert "| backend | `1.3.2` | `1.4.0` |" in sent["body"]
    assert "changed Deployment/todo-backend" in sent["body"]
    assert TOKEN not in result.output and TOKEN not in json.dumps(sent)


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
    github.status = 422
    github.reply = {"message": "Validation Failed",
                    "errors": [{"message": "No commits between main and the branch"}]}
    failed = cli("promote", "dev", "staging", "--open-pr", repo=repo)
    assert failed.exit_code == 3, failed.output
    assert "Validation Failed" in failed.output
    assert "No commits between main and the branch" in failed.output
    assert "open the pull request by hand" in failed.output
    assert TOKEN not in failed.output

    github.status, github.reply = 201, {"html_url": "https://github.com/org/todo-gitops/pull/8"}
    again = cli("promote", "dev", "staging", "--open-pr", repo=repo)
    assert again.exit_code == 0, again.output
    assert "pull/8" in again.output and len(github.requests) == 2


def test_api_error_quoting_the_token_is_redacted(repo: Path, remote: Path,
                                                 github: FakeGitHub) -> None:
    github.status, github.reply = 401, {"message": f"Bad credentials: Bearer {TOKEN}"}
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
        with pytest.raises(forge.ForgeError, match="could not reach .*timed out") as caught:
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
