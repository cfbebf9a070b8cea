"""Pull requests and pushes through the real service: one comment per pull request, kept up to
date; commit statuses that link the dashboard; pushes to the target revision; the metrics.

Real git repositories, real sops and Helm; GitHub's API is the stand-in of servicekit.
"""

from __future__ import annotations

from pathlib import Path

import git
import httpx
import pytest

from gitops_gen.repo import layout
from gitops_gen.repo.forge import STATUS_CONTEXT, ForgeSettings
from gitops_gen.secrets import sops
from gitops_gen.service.comments import MARKER
from gitops_gen.service.server import create_app

from .helpers import cli, copy_repo, set_value, template_repo
from .servicekit import (
    FULL_NAME,
    SECRET,
    TIMEOUT,
    TOKEN,
    FakeGitHub,
    deliver,
    fake_github,
    idle,
    metrics,
    pull_request_event,
    running,
    sample,
)

PUBLIC = "https://gitops.example.com"
STAGING, DEV = layout.values_path("staging"), layout.values_path("dev")


def dev_moves_on(root: Path) -> None:
    set_value(root, DEV, ["backend", "image", "tag"], "1.3.0")
    git.Repo(root).git.commit("-q", "-am", "dev: backend 1.3.0")


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """dev runs backend 1.3.0, staging 1.2.0: a promotion dev -> staging moves the backend."""
    return template_repo(tmp_path_factory.mktemp("pull-requests"),
                         ["staging", "--host", "staging.example.com", "--backend-tag", "1.2.0"],
                         then=dev_moves_on)


@pytest.fixture
def repo(template: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("SOPS_AGE_KEY_FILE", str(template.parent / "age" / "keys.txt"))
    return copy_repo(template, tmp_path)


@pytest.fixture
def github() -> FakeGitHub:
    with fake_github() as fake:
        yield fake  # type: ignore[misc]


def sha_of(root: Path, ref: str) -> str:
    return str(git.Repo(root).commit(ref).hexsha)


def promotion_branch(root: Path) -> str:
    result = cli("promote", "dev", "staging", repo=root)
    assert result.exit_code == 0, result.output
    return next(h.name for h in git.Repo(root).heads if h.name.startswith("promote/"))


def commit_on(root: Path, branch: str, path: str, keys: list[str], value: object) -> str:
    repo = git.Repo(root)
    repo.git.checkout("-q", branch)
    set_value(root, path, keys, value)
    repo.git.commit("-q", "-am", f"{branch}: {'.'.join(keys)} {value}")
    repo.git.checkout("-q", "main")
    return str(repo.commit(branch).hexsha)


def marked(github: FakeGitHub, number: int) -> list[str]:
    return [body for body in github.comment_bodies(number) if MARKER in body]


def comment_writes(github: FakeGitHub) -> list[tuple[str, str]]:
    return [(m, p) for m, p in github.requests if m in ("POST", "PATCH") and "comments" in p]


def test_a_pull_request_is_reviewed_against_the_base_its_event_names(
        repo: Path, github: FakeGitHub) -> None:
    branch = promotion_branch(repo)
    base, head = sha_of(repo, "main~1"), sha_of(repo, branch)  # not the target revision's tip
    github.heads[7] = head
    app = create_app(repo, webhook_secret=SECRET, github=ForgeSettings(TOKEN, github.url))
    with running(app) as url:
        assert deliver(url, pull_request_event(head, base, ref=branch)).status_code == 202
        idle(app)
    [comment] = marked(github, 7)
    assert f"against `{base[:12]}`, its merge-base with `main`" in comment


def test_one_comment_per_pull_request_kept_up_to_date(
        repo: Path, github: FakeGitHub) -> None:
    branch = promotion_branch(repo)
    base, head = sha_of(repo, "main"), sha_of(repo, branch)
    github.heads[7] = head
    for i in range(130):  # the conversation so far: the marker is looked for past page one
        github.seed_comment(7, f"review comment {i}")
    app = create_app(repo, webhook_secret=SECRET, github=ForgeSettings(TOKEN, github.url),
                     public_url=PUBLIC + "/")
    with running(app) as url:
        opened = deliver(url, pull_request_event(head, base, ref=branch))
        assert opened.status_code == 202, opened.text
        assert opened.json() == {"queued": "pull_request", "commit": head, "number": 7}
        idle(app)
        [first] = marked(github, 7)
        assert len(github.comment_bodies(7)) == 131
        assert github.statuses == [{
            "sha": head, "repo": FULL_NAME, "state": "success", "context": STATUS_CONTEXT,
            "description": "0 errors, 1 warning", "target_url": f"{PUBLIC}/commits/{head}"}]
        # what the promotion moves, the one environment it changes, the other in one line
        assert "### gitops-gen: :white_check_mark: passed (0 errors, 1 warning)" in first
        assert "**Promotion dev → staging**: backend `1.2.0` → `1.3.0`" in first
        assert "<summary><b>staging</b>: 0 errors, 0 warnings, 5 objects change</summary>" \
            in first
        assert "changed: Deployment/todo-backend\n--- base/Deployment/todo-backend\n" in first
        assert "-          image: todo-chatbot-backend:1.2.0\n" \
               "+          image: todo-chatbot-backend:1.3.0\n" in first
        assert "**Sync plan of what changes**\n\n- wave 1: `NetworkPolicy/todo-backend`, " \
               "`Secret/todo-backend`, `ConfigMap/todo-backend`, `Service/todo-backend`, " \
               "`Deployment/todo-backend`; waits for Deployment/todo-backend: " in first
        assert "**No changes**: dev (1 warning)\n" in first
        assert f"[This commit on the dashboard]({PUBLIC}/commits/{head})" in first
        assert f"against `{base[:12]}`, its merge-base with `main`" in first

        # a push to the pull request that breaks staging: the same comment, edited
        newer = commit_on(repo, branch, STAGING, ["frontend", "replicaCount"], -1)
        github.heads[7] = newer
        event = pull_request_event(newer, base, action="synchronize", ref=branch)
        assert deliver(url, event, delivery="delivery-2").status_code == 202
        idle(app)
        [second] = marked(github, 7)
        assert "### gitops-gen: :x: failed (1 error, 1 warning)" in second
        assert "<details open><summary><b>staging</b>: 1 error, 0 warnings" in second
        assert f"- :x: `values-schema` at `{STAGING}:" in second
        assert github.statuses[-1]["state"] == "failure"
        writes = comment_writes(github)
        assert [m for m, _ in writes] == ["POST", "PATCH"]

        # GitHub redelivers the event, and an older event arrives late: nothing changes
        assert deliver(url, event, delivery="delivery-2").status_code in (200, 202)
        stale = pull_request_event(head, base, action="synchronize", ref=branch)
        assert deliver(url, stale).status_code == 202
        idle(app)
        assert marked(github, 7) == [second]
        assert comment_writes(github) == writes
        # the dashboard's page of the head, linked from the status, is already there
        page = httpx.get(f"{url}/commits/{newer}", timeout=TIMEOUT).text
        assert 'data-state="failed"' in page and "values-schema" in page
        counted = metrics(url)
    assert sample(counted, "gitops_gen_github_posts_total", kind="comment",
                  outcome="posted") == 2
    # (a redelivery may be dropped before it is queued: at least the newer head failed)
    assert sample(counted, "gitops_gen_validations_total", source="webhook",
                  result="failed") >= 1


def test_a_secret_rotation_shows_which_keys_change_never_their_values(
        repo: Path, github: FakeGitHub) -> None:
    base = sha_of(repo, "main")
    before = sops.decrypt(repo / layout.secrets_path("staging"), repo)
    git.Repo(repo).git.checkout("-q", "-b", "rotate")
    result = cli("secrets", "rotate", "staging", repo=repo)
    assert result.exit_code == 0, result.output
    head = sha_of(repo, "rotate")
    after = sops.decrypt(repo / layout.secrets_path("staging"), repo)
    git.Repo(repo).git.checkout("-q", "main")
    github.heads[3] = head
    app = create_app(repo, webhook_secret=SECRET, github=ForgeSettings(TOKEN, github.url))
    with running(app) as url:
        assert deliver(url, pull_request_event(head, base, number=3)).status_code == 202
        idle(app)
    [body] = marked(github, 3)
    assert "changed: Secret/todo-db\n  data.password: changed\n" in body
    assert "changed: Secret/todo-backend\n  data.DATABASE_URL: changed\n" in body
    secrets = [str(v) for v in [*before.values(), *after.values()] if len(str(v)) >= 8]
    assert len(secrets) >= 4
    for value in secrets:
        assert value not in body
    assert github.statuses[0].get("target_url") is None  # no public URL configured


def test_a_push_to_the_target_revision_is_validated_and_shown(
        repo: Path, github: FakeGitHub) -> None:
    main = sha_of(repo, "main")
    app = create_app(repo, webhook_secret=SECRET, github=ForgeSettings(TOKEN, github.url))
    push = {"ref": "refs/heads/main", "before": sha_of(repo, "main~1"), "after": main,
            "repository": {"full_name": FULL_NAME}}
    with running(app) as url:
        assert deliver(url, push, event="push").json() == {"queued": "push", "commit": main}
        for ref, after in (("refs/heads/feature", main), ("refs/heads/main", "0" * 40)):
            ignored = deliver(url, {**push, "ref": ref, "after": after}, event="push")
            assert ignored.status_code == 202 and "ignored" in ignored.json()
        bad = deliver(url, {"ref": "refs/heads/main"}, event="push")
        assert bad.status_code == 400 and "after" in bad.json()["error"]
        idle(app)
        page = httpx.get(url, timeout=TIMEOUT).text  # no waiting: the push took the snapshot
        counted = metrics(url)
    assert [(s["sha"], s["state"]) for s in github.statuses] == [(main, "success")]
    assert 'data-state="ok"' in page and "push to main" in page
    assert sample(counted, "gitops_gen_webhook_deliveries_total", event="push",
                  outcome="ignored") == 2
    assert sample(counted, "gitops_gen_webhook_deliveries_total", event="push",
                  outcome="refused") == 1
    assert sample(counted, "gitops_gen_validations_total", source="push", result="passed") == 1


def test_a_full_queue_answers_503_and_github_can_redeliver(
        repo: Path, github: FakeGitHub) -> None:
    import threading

    app = create_app(repo, webhook_secret=SECRET, github=ForgeSettings(TOKEN, github.url),
                     queue=1)
    release = threading.Event()
    head = sha_of(repo, "main")
    with running(app) as url:
        assert app.state.service.jobs.submit("hold", lambda: release.wait(60))
        full = deliver(url, pull_request_event(head, None))
        assert (full.status_code, full.json()) == (
            503, {"error": "the work queue is full; redeliver the event shortly"})
        # refused before its body is read: a wrong signature is not even looked at
        unread = deliver(url, pull_request_event(head, None), secret="another-secret")
        assert unread.status_code == 503
        assert sample(metrics(url), "gitops_gen_queue_depth") == 1
        release.set()
        idle(app)
        assert deliver(url, pull_request_event(head, None)).status_code == 202
        idle(app)
        counted = metrics(url)
    assert sample(counted, "gitops_gen_queue_depth") == 0
    assert sample(counted, "gitops_gen_queue_rejected_total") == 2
    assert [s["state"] for s in github.statuses] == ["success"]


def test_metrics_in_prometheus_text_format(repo: Path, github: FakeGitHub) -> None:
    app = create_app(repo, webhook_secret=SECRET, github=ForgeSettings(TOKEN, github.url))
    head = sha_of(repo, "main")
    with running(app) as url:
        before = metrics(url)
        assert httpx.post(f"{url}/validate", json={}, timeout=TIMEOUT).json()["ok"] is True
        assert httpx.post(f"{url}/validate", json={"ref": "nowhere"},
                          timeout=TIMEOUT).status_code == 400
        assert deliver(url, {"zen": "hi"}, event="ping").status_code == 200
        assert deliver(url, pull_request_event(head, None), secret="wrong").status_code == 401
        assert deliver(url, {"action": "labeled"}, event="issues").status_code == 202
        github.heads[7] = head
        assert deliver(url, pull_request_event(head, None)).status_code == 202
        idle(app)
        response = httpx.get(f"{url}/metrics", timeout=TIMEOUT)
        after = metrics(url)
    assert "# TYPE gitops_gen_validation_duration_seconds histogram" in response.text
    assert "# TYPE gitops_gen_validations_total counter" in response.text
    assert "# TYPE gitops_gen_queue_depth gauge" in response.text
    assert all(value == 0 for (name, _), value in before.items()
               if not name.endswith("_created"))
    assert sample(after, "gitops_gen_validations_total", source="api", result="passed") == 1
    assert sample(after, "gitops_gen_validations_total", source="webhook", result="passed") == 1
    assert sample(after, "gitops_gen_validation_duration_seconds_count", source="api") == 1
    assert sample(after, "gitops_gen_validation_duration_seconds_sum", source="api") > 0
    assert sample(after, "gitops_gen_validation_duration_seconds_bucket", source="api",
                  le="+Inf") == 1
    deliveries = {(dict(labels)["event"], dict(labels)["outcome"]): value
                  for (name, labels), value in after.items()
                  if name == "gitops_gen_webhook_deliveries_total" and value}
    assert deliveries == {("ping", "done"): 1, ("pull_request", "refused"): 1,
                          ("other", "ignored"): 1, ("pull_request", "queued"): 1,
                          ("pull_request", "done"): 1}
    assert sample(after, "gitops_gen_github_posts_total", kind="status", outcome="posted") == 1
    assert sample(after, "gitops_gen_github_posts_total", kind="comment", outcome="posted") == 1
    assert sample(after, "gitops_gen_queue_depth") == 0
    assert TOKEN not in response.text and SECRET not in response.text


@pytest.mark.parametrize("url", ["ftp://gitops.example.com", "gitops.example.com",
                                 "https://user:pw@gitops.example.com", "https://x/?a=b"])
def test_serve_refuses_a_public_url_that_is_not_one(repo: Path, url: str) -> None:
    result = cli("serve", "--public-url", url, repo=repo)
    assert result.exit_code == 2 and "--public-url" in result.output, result.output
    assert ":pw@" not in result.output
