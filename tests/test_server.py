"""The validation service: a real uvicorn server on loopback, real git and sops, real Helm.

The one stand-in is the forge: a small HTTP server on loopback in place of GitHub's API.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import os
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import anyio
import git
import httpx
import pytest
from fastapi import FastAPI

from gitops_gen import __version__
from gitops_gen.errors import InputError
from gitops_gen.repo import layout, proc
from gitops_gen.repo.forge import STATUS_CONTEXT, ForgeSettings
from gitops_gen.repo.limits import RunLimits
from gitops_gen.service.server import (
    Gate,
    Refused,
    answering_stop,
    create_app,
    resolve_commit,
    server_config,
)

from .helpers import cli, set_value, template_repo
from .servicekit import (
    FULL_NAME,
    SECRET,
    TIMEOUT,
    TOKEN,
    deliver,
    idle,
    metrics,
    running,
    sample,
)

STAGING = layout.values_path("staging")


# ---- a repository: staging passes at HEAD~1 and fails at HEAD -----------------------------


def break_staging(root: Path) -> None:
    set_value(root, STAGING, ["frontend", "replicaCount"], -1)
    git.Repo(root).git.commit("-q", "-am", "staging: frontend replicas -1")


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return template_repo(tmp_path_factory.mktemp("server"),
                         ["staging", "--host", "staging.example.com", "--backend-tag", "1.2.0"],
                         then=break_staging)


def sha_of(root: Path, ref: str) -> str:
    return str(git.Repo(root).commit(ref).hexsha)


# ---- a real server in a thread, and a stand-in for GitHub's API ----------------------------


@pytest.fixture
def serve() -> Iterator[Callable[[FastAPI], str]]:
    """Start an app under uvicorn on 127.0.0.1 (a free port); returns its base URL."""
    with ExitStack() as stack:

        def start(app: FastAPI) -> str:
            return stack.enter_context(running(app))

        yield start


@dataclass
class FakeForge:
    """Records every request; answers `status` (and `location`, for a redirect)."""

    status: int = 201
    location: str | None = None
    requests: list[dict[str, Any]] = field(default_factory=list)
    url: str = ""


@pytest.fixture
def forge_factory() -> Iterator[Callable[..., FakeForge]]:
    servers: list[ThreadingHTTPServer] = []

    def make(status: int = 201, location: str | None = None) -> FakeForge:
        forge = FakeForge(status, location)

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - the http.server API
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                forge.requests.append({"path": self.path, "headers": dict(self.headers),
                                       "body": json.loads(body)})
                self.send_response(forge.status)
                if forge.location:
                    self.send_header("Location", forge.location)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(b'{"id": 1}')

            def log_message(self, *_args: Any) -> None:
                pass

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
        servers.append(server)
        forge.url = f"http://127.0.0.1:{server.server_address[1]}"
        return forge

    yield make
    for server in servers:
        server.shutdown()
        server.server_close()


def post_validate(url: str, body: object) -> httpx.Response:
    return httpx.post(f"{url}/validate", json=body, timeout=TIMEOUT)


def pull_request(sha: str, action: str = "synchronize", number: int = 7) -> dict[str, Any]:
    return {"action": action, "number": number, "pull_request": {"head": {"sha": sha}},
            "repository": {"full_name": FULL_NAME}}


def until(condition: Callable[[], bool], seconds: float) -> None:
    """Wait until condition holds; fail after seconds."""
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "the condition did not come true in time"
        time.sleep(0.02)


def assert_one_line_error(response: httpx.Response, status: int) -> str:
    assert response.status_code == status, response.text
    data = response.json()
    assert list(data) == ["error"] and data["error"] and "\n" not in data["error"]
    return str(data["error"])


# ---- /healthz and /validate ----------------------------------------------------------------


def test_healthz(repo: Path, serve: Callable[[FastAPI], str]) -> None:
    app = create_app(repo, webhook_secret=None, github=None)
    assert app.state.repository == FULL_NAME  # its origin's, which `serve` reports
    url = serve(app)
    response = httpx.get(f"{url}/healthz", timeout=TIMEOUT)
    assert response.status_code == 200
    assert response.json() == {"ok": True, "version": __version__}
    assert_one_line_error(httpx.get(f"{url}/validate", timeout=TIMEOUT), 405)
    for path in ("/nowhere", "/openapi.json", "/docs", "/redoc"):  # no API schema served
        assert_one_line_error(httpx.get(f"{url}{path}", timeout=TIMEOUT), 404)


def test_validate_head_is_what_the_cli_prints(repo: Path, serve: Callable[[FastAPI], str]) -> None:
    url = serve(create_app(repo, webhook_secret=None, github=None))
    response = post_validate(url, {})
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.headers["x-gitops-gen-commit"] == sha_of(repo, "HEAD")
    printed = cli("validate", "--format", "json", repo=repo)
    assert printed.exit_code == 1
    assert response.json() == json.loads(printed.output)
    assert response.json()["ok"] is False
    again = httpx.post(f"{url}/validate", timeout=TIMEOUT)  # no body: HEAD, as before
    assert again.json() == response.json()
    assert again.headers["x-gitops-gen-report"] == "hit"  # HEAD's commit has its report kept


def test_validate_at_an_older_ref_and_never_the_work_tree(
        repo: Path, serve: Callable[[FastAPI], str]) -> None:
    url = serve(create_app(repo, webhook_secret=None, github=None))
    (repo / STAGING).write_text("frontend: [unfinished edit\n")  # someone is editing
    head = post_validate(url, {"ref": "HEAD"}).json()
    assert head["ok"] is False
    assert [(f["rule"], f["env"], f["file"]) for f in head["findings"] if f["severity"] == "error"
            ] == [("values-schema", "staging", STAGING)]
    older = post_validate(url, {"ref": "HEAD~1", "kubeVersion": "1.30"})
    assert older.status_code == 200 and older.json()["ok"] is True
    assert older.headers["x-gitops-gen-commit"] == sha_of(repo, "HEAD~1")
    assert older.json()["environments"] == ["dev", "staging"]
    dev_only = post_validate(url, {"ref": sha_of(repo, "HEAD"), "environments": ["dev"]}).json()
    assert dev_only["ok"] is True and dev_only["environments"] == ["dev"]


def test_an_api_validation_is_recorded_for_the_dashboard_and_logged(
        repo: Path, serve: Callable[[FastAPI], str], caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, "gitops_gen.service.server")
    app = create_app(repo, webhook_secret=None, github=None)
    url = serve(app)
    branch = "release/" + "x" * 50  # the label keeps the first 40 characters of the ref
    git.Repo(repo).create_head(branch, "HEAD~1")
    start = time.monotonic()
    answer = post_validate(url, {"ref": branch})
    took = time.monotonic() - start
    assert answer.status_code == 200
    [done] = app.state.service.history
    sha = sha_of(repo, "HEAD~1")
    assert (done.source, done.label, done.sha, done.ok, done.errors, done.warnings) == (
        "api", f"POST /validate {branch[:40]}", sha, True, 0, 1)
    assert 0 < done.seconds <= took
    assert answer.json()["summary"] == {"errors": 0, "warnings": 1}
    assert f"validated {sha[:12]}: 0 errors, 1 warning" in caplog.messages


def test_an_unknown_ref_is_named_with_what_to_give(
        repo: Path, serve: Callable[[FastAPI], str]) -> None:
    url = serve(create_app(repo, webhook_secret=None, github=None))
    error = assert_one_line_error(post_validate(url, {"ref": "no-such-branch"}), 400)
    assert error == "git ref 'no-such-branch' not found; give a branch, tag or commit"


def test_an_unknown_environment_is_named_with_the_commit_not_the_checkout(
        repo: Path, serve: Callable[[FastAPI], str]) -> None:
    url = serve(create_app(repo, webhook_secret=None, github=None))
    sha = sha_of(repo, "HEAD")
    error = assert_one_line_error(post_validate(url, {"ref": sha, "environments": ["nowhere"]}),
                                  400)
    assert error == (f"no environment 'nowhere' in {sha[:12]}; known environments: dev, "
                     "staging (gitops-gen env list)")


@pytest.mark.parametrize(("body", "words"), [
    ({"ref": "no-such-branch"}, "no-such-branch"),
    ({"ref": "--output=/tmp/x"}, "ref"),
    ({"ref": ""}, "ref"),
    ({"environments": ["nowhere"]}, "nowhere"),
    ({"kubeVersion": "1.9"}, "not supported"),
    ({"kubeVersion": "latest"}, "invalid request: kubeVersion: not MAJOR.MINOR; give e.g. 1.30"),
    ({"kubeVersion": "SENTINEL-VALUE"}, "kubeVersion: not MAJOR.MINOR"),
    ({"kubeVersion": 1.3}, "invalid request: kubeVersion: Input should be a valid string"),
    ({"environments": "dev-SENTINEL-VALUE"}, "environments"),
    ({"environments": [1]}, "invalid request: environments.0: Input should be a valid string"),
    ({"ref": "HEAD", "token": "SENTINEL-VALUE"}, "token"),
    ("SENTINEL-VALUE", "invalid request: body: Input should be a valid dictionary or instance "
                       "of ValidateRequest"),
])
def test_bad_input_is_400_in_one_line(repo: Path, serve: Callable[[FastAPI], str],
                                      body: object, words: str) -> None:
    url = serve(create_app(repo, webhook_secret=None, github=None))
    error = assert_one_line_error(post_validate(url, body), 400)
    assert words in error
    assert "SENTINEL" not in error  # what was sent is not echoed
    assert "gitops-gen-ref-" not in error  # nor the temporary checkout's path
    raw = httpx.post(f"{url}/validate", content=b"{not json SENTINEL", timeout=TIMEOUT)
    assert "SENTINEL" not in assert_one_line_error(raw, 400)


def test_burst_of_requests_is_bounded(repo: Path, serve: Callable[[FastAPI], str]) -> None:
    app = create_app(repo, webhook_secret=None, github=None, max_concurrent=2)
    url = serve(app)
    refs = ["HEAD", "HEAD~1"] * 3
    with ThreadPoolExecutor(max_workers=len(refs)) as pool:
        responses = list(pool.map(lambda ref: post_validate(url, {"ref": ref}), refs))
    assert [r.status_code for r in responses] == [200] * len(refs)
    assert [r.json()["ok"] for r in responses] == [False, True] * 3
    assert 1 <= app.state.gate.peak <= 2
    assert app.state.gate.admitted == 0


def test_the_gate_refuses_work_beyond_its_queue() -> None:
    gate = Gate(limit=1, queue=1)
    release = threading.Event()

    async def main() -> list[object]:
        results: list[object] = []

        async def attempt() -> None:
            try:
                results.append(await gate.run(lambda: release.wait(10)))
            except Refused as exc:
                results.append(exc.status)
                release.set()  # the third was refused: let the first two finish

        async with anyio.create_task_group() as tasks:
            for _ in range(3):
                tasks.start_soon(attempt)
                await anyio.sleep(0.05)
        return results

    assert anyio.run(main) == [503, True, True]
    assert (gate.peak, gate.admitted, gate.running) == (1, 0, 0)


# ---- /webhook/github -------------------------------------------------------------------------


def test_webhook_answers_at_once_then_validates_the_head_and_posts_a_status(
        repo: Path, serve: Callable[[FastAPI], str], forge_factory: Callable[..., FakeForge],
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    forge = forge_factory()
    app = create_app(repo, webhook_secret=SECRET, github=ForgeSettings(TOKEN, forge.url))
    url = serve(app)
    assert deliver(url, {"zen": "hi", "hook_id": 1}, event="ping").status_code == 200
    head, older = sha_of(repo, "HEAD"), sha_of(repo, "HEAD~1")

    failing = deliver(url, pull_request(head))
    assert failing.status_code == 202
    assert failing.json() == {"queued": "pull_request", "commit": head, "number": 7}
    passing = deliver(url, pull_request(older, action="opened", number=8))
    assert passing.status_code == 202
    assert deliver(url, pull_request(older, action="closed")).status_code == 202
    other = deliver(url, {"ref": "refs/heads/feature", "after": older,
                          "repository": {"full_name": FULL_NAME}}, event="push")
    assert other.status_code == 202 and "ignored" in other.json()
    assert app.state.service.jobs.wait_idle(120)

    assert [(r["path"], r["body"]) for r in forge.requests] == [
        (f"/repos/{FULL_NAME}/statuses/{head}",
         {"state": "failure", "context": STATUS_CONTEXT, "description": "1 error, 1 warning"}),
        (f"/repos/{FULL_NAME}/statuses/{older}",
         {"state": "success", "context": STATUS_CONTEXT, "description": "0 errors, 1 warning"}),
    ]
    assert forge.requests[0]["headers"]["Authorization"] == f"Bearer {TOKEN}"
    for response in (failing, passing):
        assert TOKEN not in response.text and TOKEN not in str(response.headers)
    assert f"commit status failure for {head[:12]} on {FULL_NAME}" in caplog.text
    assert TOKEN not in caplog.text and SECRET not in caplog.text


@pytest.mark.parametrize("signature", ["", "sha256=" + "0" * 64, "sha1=abc", "other"])
def test_webhook_with_a_bad_signature_is_401(
        repo: Path, serve: Callable[[FastAPI], str], forge_factory: Callable[..., FakeForge],
        signature: str) -> None:
    forge = forge_factory()
    url = serve(create_app(repo, webhook_secret=SECRET, github=ForgeSettings(TOKEN, forge.url)))
    payload = pull_request(sha_of(repo, "HEAD"))
    bad = deliver(url, payload, signature=signature) if signature else deliver(
        url, payload, secret=None)
    assert "X-Hub-Signature-256" in assert_one_line_error(bad, 401)
    assert assert_one_line_error(deliver(url, payload, secret="not-the-secret"), 401)
    assert forge.requests == []


def test_webhook_without_a_secret_refuses(repo: Path, serve: Callable[[FastAPI], str]) -> None:
    url = serve(create_app(repo, webhook_secret=None, github=None))
    error = assert_one_line_error(deliver(url, pull_request(sha_of(repo, "HEAD"))), 503)
    assert error == ("webhook signatures cannot be checked: set GITOPS_GEN_WEBHOOK_SECRET to "
                     "the webhook's secret and restart")


def test_webhook_events_it_does_not_act_on_are_named_and_ignored(
        repo: Path, serve: Callable[[FastAPI], str]) -> None:
    url = serve(create_app(repo, webhook_secret=SECRET, github=None))
    for event, name in (("issues", "'issues'"), (None, "''")):
        answer = deliver(url, {"action": "opened"}, event=event)
        assert (answer.status_code, answer.json()) == (202, {"ignored": f"event {name}"})
    ping = deliver(url, {"zen": "hi", "hook_id": 1}, event="ping")  # sent when a hook is made
    assert (ping.status_code, ping.json()) == (200, {"ok": True, "event": "ping"})
    answer = deliver(url, {"action": "opened"}, event="e" * 70)  # named, cut to 64 characters
    assert (answer.status_code, answer.json()) == (202, {"ignored": f"event {'e' * 64!r}"})
    head = sha_of(repo, "HEAD")
    for action in ("closed", "x" * 70):  # pull requests' other actions
        answer = deliver(url, pull_request(head, action=action))
        assert (answer.status_code, answer.json()) == (
            202, {"ignored": f"pull_request action {action[:64]!r}"})
    assert sample(metrics(url), "gitops_gen_webhook_deliveries_total", event="pull_request",
                  outcome="ignored") == 2


def test_webhook_fetches_a_commit_the_clone_lacks(
        repo: Path, tmp_path: Path, serve: Callable[[FastAPI], str],
        forge_factory: Callable[..., FakeForge]) -> None:
    origin = tmp_path / "origin.git"
    git.Repo.clone_from(str(repo), str(origin), bare=True)
    git.Repo(repo).create_remote("origin", str(origin))
    work = git.Repo.clone_from(str(origin), str(tmp_path / "work"))
    shas = []
    for replicas, refspec in ((3, "HEAD:refs/heads/feature"), (4, "HEAD:refs/pull/9/head")):
        set_value(Path(work.working_dir), STAGING, ["frontend", "replicaCount"], replicas)
        work.git.commit("-q", "-am", f"staging: frontend replicas {replicas}")
        work.git.push("-q", "origin", refspec)
        shas.append(work.head.commit.hexsha)
    forge = forge_factory()
    app = create_app(repo, webhook_secret=SECRET, github=ForgeSettings(TOKEN, forge.url))
    url = serve(app)
    for sha in shas:  # a branch (git fetch origin), then a PR head only under refs/pull/
        response = deliver(url, pull_request(sha, number=9))
        assert response.status_code == 202, response.text
        assert app.state.service.jobs.wait_idle(120)
    assert deliver(url, pull_request("ab" * 20)).status_code == 202
    assert app.state.service.jobs.wait_idle(120)
    assert [r["body"]["state"] for r in forge.requests] == ["success", "success", "error"]
    assert [r["path"].rsplit("/", 1)[1] for r in forge.requests] == [*shas, "ab" * 20]
    assert "not in the repository" in forge.requests[2]["body"]["description"]


def test_a_failed_status_post_is_logged_without_the_token(
        repo: Path, serve: Callable[[FastAPI], str], forge_factory: Callable[..., FakeForge],
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    elsewhere = forge_factory()
    redirecting = forge_factory(status=307, location=f"{elsewhere.url}/collect")
    broken = forge_factory(status=502)
    sha = sha_of(repo, "HEAD~1")
    for forge in (redirecting, broken):
        app = create_app(repo, webhook_secret=SECRET, github=ForgeSettings(TOKEN, forge.url))
        url = serve(app)
        response = deliver(url, pull_request(sha))
        assert response.status_code == 202
        assert app.state.service.jobs.wait_idle(120)
        assert len(forge.requests) == 1
        counted = metrics(url)
        assert sample(counted, "gitops_gen_github_posts_total", kind="status",
                      outcome="failed") == 1
    assert elsewhere.requests == []  # a redirect never carries the token elsewhere
    assert "not posted" in caplog.text
    assert TOKEN not in caplog.text


# ---- the serve command -----------------------------------------------------------------------


def test_serve_refuses_a_remote_host_without_allow_remote(repo: Path) -> None:
    result = cli("serve", "--host", "0.0.0.0", repo=repo)
    assert result.exit_code == 2 and "--allow-remote" in result.output


def test_serve_refuses_a_bad_render_cache_size_before_it_starts(repo: Path) -> None:
    result = cli("serve", "--port", "1", repo=repo, env={"GITOPS_GEN_RENDER_CACHE": "lots"})
    assert result.exit_code == 2
    assert "GITOPS_GEN_RENDER_CACHE must be a whole number of MiB" in result.output


def test_the_cli_does_not_load_the_web_stack() -> None:
    code = ("import sys, gitops_gen.cli; "
            "print([m for m in ('fastapi', 'uvicorn', 'starlette') if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, timeout=60)
    assert out.stdout.strip() == "[]"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def serve_command(repo: Path, port: int, **popen: Any) -> subprocess.Popen[Any]:
    """`gitops-gen serve` in a child process on port."""
    return subprocess.Popen([sys.executable, "-m", "gitops_gen", "--repo", str(repo), "serve",
                             "--port", str(port)], **popen)


def healthz(process: subprocess.Popen[Any], port: int, seconds: float = 60,
            output: Callable[[], str] = str) -> httpx.Response:
    """GET /healthz of the child process's service once it answers."""
    deadline = time.monotonic() + seconds
    while True:
        assert process.poll() is None and time.monotonic() < deadline, output()
        try:
            return httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2)
        except httpx.TransportError:
            time.sleep(0.1)


def test_serve_command_runs_the_service(repo: Path, tmp_path: Path) -> None:
    port = free_port()
    env = {**os.environ, "GITOPS_GEN_WEBHOOK_SECRET": SECRET, "GITHUB_TOKEN": TOKEN,
           "GITHUB_API_URL": "http://127.0.0.1:9"}
    log_file = tmp_path / "serve.log"
    with log_file.open("wb") as log:
        process = serve_command(repo, port, stdout=log, stderr=subprocess.STDOUT, env=env)
        try:
            health = healthz(process, port, 30, log_file.read_text)
            assert health.json()["ok"] is True
            assert "server" not in health.headers  # no server name or version to fingerprint
            response = deliver(f"http://127.0.0.1:{port}", pull_request(sha_of(repo, "HEAD")))
            assert response.status_code == 202 and response.json()["queued"] == "pull_request"
        finally:
            process.terminate()
            code = process.wait(timeout=15)
    output = log_file.read_text()
    assert code == 0, output  # SIGTERM is how a service is stopped: a clean exit
    assert "error:" not in output
    assert "POST /webhook/github" in output
    assert TOKEN not in output and SECRET not in output


def test_forge_settings_from_the_environment() -> None:
    assert ForgeSettings.from_env({}) is None
    local = ForgeSettings.from_env({"GITHUB_TOKEN": TOKEN, "GITHUB_API_URL": "http://127.0.0.1:9/"})
    assert local == ForgeSettings(TOKEN, "http://127.0.0.1:9")
    assert TOKEN not in repr(local)
    with pytest.raises(InputError, match="https://"):
        ForgeSettings.from_env({"GITHUB_TOKEN": TOKEN, "GITHUB_API_URL": "http://github.example"})


# ---- hostile requests and hostile commits ----------------------------------------------------


def raw_request(url: str, head: str, body: bytes = b"", wait: float = 10.0) -> bytes:
    """Send head (and body) on a raw socket; what comes back within wait seconds."""
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=wait) as conn:
        conn.sendall(head.encode() + body)
        try:
            return conn.recv(65536)
        except TimeoutError:
            return b""


def test_validate_can_require_a_bearer_token(repo: Path, serve: Callable[[FastAPI], str]) -> None:
    url = serve(create_app(repo, webhook_secret=None, github=None, api_token="t0ken"))
    missing = assert_one_line_error(post_validate(url, {}), 401)
    assert "bearer token" in missing and "t0ken" not in missing
    wrong = httpx.post(f"{url}/validate", json={}, headers={"Authorization": "Bearer nope"},
                       timeout=TIMEOUT)
    assert_one_line_error(wrong, 401)
    assert wrong.headers["www-authenticate"] == "Bearer"
    right = httpx.post(f"{url}/validate", json={"ref": "HEAD~1"},
                       headers={"Authorization": "Bearer t0ken"}, timeout=TIMEOUT)
    assert right.status_code == 200 and right.json()["ok"] is True


def test_deeply_nested_json_is_a_400(repo: Path, serve: Callable[[FastAPI], str]) -> None:
    url = serve(create_app(repo, webhook_secret=SECRET, github=None))
    deep = b"[" * 30_000 + b"]" * 30_000
    response = httpx.post(f"{url}/validate", content=deep, timeout=TIMEOUT)
    assert "nests too deep" in assert_one_line_error(response, 400)
    signature = "sha256=" + hmac.new(SECRET.encode(), deep, hashlib.sha256).hexdigest()
    hook = httpx.post(f"{url}/webhook/github", content=deep, timeout=TIMEOUT, headers={
        "X-GitHub-Event": "pull_request", "X-Hub-Signature-256": signature,
        "X-GitHub-Delivery": str(uuid.uuid4())})
    assert_one_line_error(hook, 400)


def test_a_delivery_is_acted_on_once(repo: Path, serve: Callable[[FastAPI], str],
                                     forge_factory: Callable[..., FakeForge]) -> None:
    forge = forge_factory()
    app = create_app(repo, webhook_secret=SECRET, github=ForgeSettings(TOKEN, forge.url))
    url = serve(app)
    payload = pull_request(sha_of(repo, "HEAD~1"))
    first = deliver(url, payload, delivery="72d3162e-cc78-11e3-81ab-4c9367dc0958")
    again = deliver(url, payload, delivery="72d3162e-cc78-11e3-81ab-4c9367dc0958")
    assert first.status_code == 202 and first.json()["queued"] == "pull_request"
    assert again.status_code == 200
    assert again.json() == {"duplicate": "72d3162e-cc78-11e3-81ab-4c9367dc0958"}
    assert app.state.service.jobs.wait_idle(120)
    assert [r["body"]["state"] for r in forge.requests] == ["success"]
    assert deliver(url, payload).status_code == 202  # a new delivery of the same commit
    assert app.state.service.jobs.wait_idle(120)
    assert [r["body"]["state"] for r in forge.requests] == ["success", "success"]


@pytest.mark.parametrize(("full_name", "status"), [
    ("../..", 400), ("org/..", 400), ("org/other-repo", 403), ("ORG/Todo-Gitops", 202)])
def test_only_the_served_repository_is_validated(
        repo: Path, serve: Callable[[FastAPI], str], forge_factory: Callable[..., FakeForge],
        full_name: str, status: int) -> None:
    forge = forge_factory()
    app = create_app(repo, webhook_secret=SECRET, github=ForgeSettings(TOKEN, forge.url))
    url = serve(app)
    payload = pull_request(sha_of(repo, "HEAD~1"))
    payload["repository"]["full_name"] = full_name
    response = deliver(url, payload)
    assert response.status_code == status, response.text
    push = deliver(url, {"ref": "refs/heads/feature", "after": sha_of(repo, "HEAD~1"),
                         "repository": {"full_name": full_name}}, event="push")
    assert push.status_code == (202 if status == 202 else 403), push.text
    assert app.state.service.jobs.wait_idle(120)
    assert [r["path"].split("/statuses/")[0] for r in forge.requests] == (
        [f"/repos/{full_name}"] if status == 202 else [])


def test_an_unsigned_body_is_refused_before_it_is_read(
        repo: Path, serve: Callable[[FastAPI], str]) -> None:
    url = serve(create_app(repo, webhook_secret=SECRET, github=None))
    head = ("POST /webhook/github HTTP/1.1\r\nHost: x\r\nX-GitHub-Event: pull_request\r\n"
            "Content-Type: application/json\r\nContent-Length: 20000000\r\n\r\n")
    answer = raw_request(url, head)  # no body is ever sent
    assert answer.startswith(b"HTTP/1.1 401"), answer[:200]


def test_concurrent_body_reads_are_capped_and_timed(
        repo: Path, serve: Callable[[FastAPI], str]) -> None:
    app = create_app(repo, webhook_secret=SECRET, github=None, max_reading=2, read_seconds=3)
    url = serve(app)
    head = ("POST /webhook/github HTTP/1.1\r\nHost: x\r\nX-GitHub-Event: pull_request\r\n"
            f"X-Hub-Signature-256: sha256={'0' * 64}\r\nContent-Length: 1000\r\n\r\n")
    host, port = url.removeprefix("http://").split(":")
    # each is answered 408 after its 3 s, long before the sockets give up (15 s)
    slow = [socket.create_connection((host, int(port)), timeout=15) for _ in range(2)]
    try:
        for conn in slow:
            conn.sendall(head.encode() + b"{")  # a body that never completes
        until(lambda: app.state.readers.reading == 2, 30)
        third = raw_request(url, head, b"{" * 1000)
        assert third.startswith(b"HTTP/1.1 503"), third[:200]
        for conn in slow:  # each slow reader is answered once its time is up
            assert conn.recv(65536).startswith(b"HTTP/1.1 408")
    finally:
        for conn in slow:
            conn.close()
    assert app.state.readers.reading == 0


LOOP = "{{- range until 100000 }}{{- range until 100000 }}{{- end }}{{- end }}\n"


def commit_file(root: Path, path: str, text: str | None = None, link: str | None = None) -> str:
    target = root / path
    target.parent.mkdir(parents=True, exist_ok=True)
    target.unlink(missing_ok=True)
    if link is not None:
        target.symlink_to(link)
    else:
        target.write_text(text or "")
    repo = git.Repo(root)
    repo.git.add("--all")
    repo.git.commit("-q", "-m", f"hostile {path}")
    return str(repo.head.commit.hexsha)


def test_hostile_commits_are_findings_not_errors(repo: Path, tmp_path: Path,
                                                 serve: Callable[[FastAPI], str]) -> None:
    marker = tmp_path / "outside.txt"
    marker.write_text("MARKER-outside\n")
    url = serve(create_app(repo, webhook_secret=None, github=None))
    bomb = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{n}: &{n} [{', '.join([f'*{p}'] * 9)}]\n"
        for p, n in zip("abcdefgh", "bcdefghi", strict=True))
    cases = {
        commit_file(repo, layout.app_path("staging"), bomb): ("yaml-syntax",
                                                              layout.app_path("staging")),
        commit_file(repo, "chart/files/k", link=str(marker)): ("file-refused", "chart/files/k"),
        commit_file(repo, "chart/files/k", link="/proc/self/environ"): ("file-refused",
                                                                        "chart/files/k"),
    }
    for sha, (rule, path) in cases.items():
        response = post_validate(url, {"ref": sha})
        assert response.status_code == 200, response.text
        assert "MARKER" not in response.text
        assert (rule, path) in {(f["rule"], f["file"]) for f in response.json()["findings"]}


def test_a_bad_request_holds_one_slot_for_a_bounded_time_and_the_webhook_has_its_own(
        repo: Path, serve: Callable[[FastAPI], str],
        forge_factory: Callable[..., FakeForge]) -> None:
    good = sha_of(repo, "HEAD~1")
    looping = commit_file(repo, "chart/templates/loop.yaml", LOOP)
    forge = forge_factory()
    app = create_app(repo, webhook_secret=SECRET, github=ForgeSettings(TOKEN, forge.url),
                     max_concurrent=1, max_waiting=0,
                     run_limits=RunLimits(env_seconds=20, total_seconds=200))
    url = serve(app)
    with ThreadPoolExecutor(max_workers=1) as pool:
        stuck = pool.submit(post_validate, url, {"ref": looping})
        until(lambda: app.state.gate.running >= 1, 60)
        busy = post_validate(url, {"ref": good})
        assert "too many validations" in assert_one_line_error(busy, 503)
        assert httpx.get(f"{url}/healthz", timeout=TIMEOUT).status_code == 200
        hook = deliver(url, pull_request(good))
        assert hook.status_code == 202 and hook.json()["queued"] == "pull_request"
        assert app.state.service.jobs.wait_idle(120)  # its own queue, not /validate's slot
        assert [(r["path"], r["body"]["state"]) for r in forge.requests] == [
            (f"/repos/{FULL_NAME}/statuses/{good}", "success")]
        limited = stuck.result(timeout=300)
    assert limited.status_code == 200
    found = [f for f in limited.json()["findings"] if f["rule"] == "resource-limit"]
    assert {f["env"] for f in found} == {"dev"}  # staging's values fail before rendering
    assert any("did not finish within 20 s" in f["message"] for f in found)
    assert post_validate(url, {"ref": good}).json()["ok"] is True  # the slot is free again


def test_serve_stops_within_moments_with_a_validation_in_flight(repo: Path) -> None:
    looping = commit_file(repo, "chart/templates/loop.yaml", LOOP)
    port = free_port()
    process = serve_command(repo, port, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            text=True, env={**os.environ, "GITOPS_GEN_ENV_TIMEOUT": "600"})
    try:
        healthz(process, port)
        with ThreadPoolExecutor(max_workers=1) as pool:
            in_flight = pool.submit(httpx.post, f"http://127.0.0.1:{port}/validate",
                                    json={"ref": looping}, timeout=httpx.Timeout(120))
            time.sleep(3)  # the worker is rendering the looping template
            process.terminate()
            code = process.wait(timeout=30)
            try:
                answer: object = in_flight.result(timeout=30).status_code
            except httpx.TransportError:
                answer = "closed"
    finally:
        process.kill()
        _, stderr = process.communicate()
    assert code == 0, stderr
    assert answer in (503, "closed")
    assert "Traceback" not in stderr


def test_serve_stops_within_moments_while_a_body_is_still_arriving(repo: Path) -> None:
    """A client that sends a body slowly cannot hold the service's stop for the body's whole
    time limit (30 s): the request is answered 503 once the stop's grace is over, and logged
    in one line."""
    port = free_port()
    process = serve_command(repo, port, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            text=True)
    try:
        healthz(process, port)
        with socket.create_connection(("127.0.0.1", port), timeout=30) as conn:
            conn.sendall(b"POST /validate HTTP/1.1\r\nHost: x\r\n"
                         b"Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{")
            time.sleep(0.5)  # the request is in flight, reading its body
            process.terminate()
            code = process.wait(timeout=15)
            answer = conn.recv(65536)
    finally:
        process.kill()
        _, stderr = process.communicate()
    assert code == 0, stderr
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 503"), answer
    assert json.loads(body) == {"error": "the service is stopping; retry once it is back"}
    assert "POST '/validate' cut short: the service is stopping" in stderr, stderr
    assert "Traceback" not in stderr and "ERROR:    Exception" not in stderr, stderr


# ---- reports kept by commit, one validation per commit at a time (reportcache.py) ------------


def validations(url: str) -> float:
    return sample(metrics(url), "gitops_gen_validations_total", source="api", result="passed") \
        + sample(metrics(url), "gitops_gen_validations_total", source="api", result="failed")


def test_a_repeated_commit_is_answered_from_its_kept_report_without_git(
        repo: Path, serve: Callable[[FastAPI], str]) -> None:
    url = serve(create_app(repo, webhook_secret=None, github=None))
    head = sha_of(repo, "HEAD")
    first = post_validate(url, {"ref": "HEAD"})
    assert first.status_code == 200 and first.headers["x-gitops-gen-report"] == "miss"
    (repo / ".git").rename(repo / "git-away")  # no git from here on: no resolve, no checkout
    again = post_validate(url, {"ref": head})
    assert again.status_code == 200, again.text
    assert again.headers["x-gitops-gen-report"] == "hit"
    assert again.headers["x-gitops-gen-commit"] == head
    assert again.content == first.content and again.json()["ok"] is False
    found = metrics(url)
    assert validations(url) == 1
    assert sample(found, "gitops_gen_report_cache_lookups_total", result="hit") == 1
    assert sample(found, "gitops_gen_report_cache_lookups_total", result="miss") == 1
    assert sample(found, "gitops_gen_report_cache_entries") == 1
    assert sample(found, "gitops_gen_report_cache_bytes") == len(first.content)
    other = post_validate(url, {"ref": head, "environments": ["dev"]})  # other options
    assert other.status_code != 200 and validations(url) == 1  # needs git: none here


def test_concurrent_requests_for_one_new_commit_validate_it_once(
        repo: Path, serve: Callable[[FastAPI], str]) -> None:
    url = serve(create_app(repo, webhook_secret=None, github=None, max_concurrent=2))
    older = sha_of(repo, "HEAD~1")
    with ThreadPoolExecutor(max_workers=3) as pool:
        answers = list(pool.map(lambda ref: post_validate(url, {"ref": ref}),
                                [older, "HEAD~1", older]))
    assert [a.status_code for a in answers] == [200] * 3
    assert len({a.content for a in answers}) == 1 and answers[0].json()["ok"] is True
    how = sorted(a.headers["x-gitops-gen-report"] for a in answers)
    assert how.count("miss") == 1 and set(how) <= {"miss", "joined", "hit"}
    assert validations(url) == 1
    dev = post_validate(url, {"ref": older, "environments": ["dev"]})  # other options: a key
    assert dev.headers["x-gitops-gen-report"] == "miss" and validations(url) == 2  # of its own
    kube = post_validate(url, {"ref": older, "kubeVersion": "1.30"})
    assert kube.headers["x-gitops-gen-report"] == "miss" and validations(url) == 3
    # each report is kept under its own options: none replaced another
    for body, content in [({"ref": older}, answers[0].content),
                          ({"ref": older, "environments": ["dev"]}, dev.content),
                          ({"ref": older, "kubeVersion": "1.30"}, kube.content)]:
        again = post_validate(url, body)
        assert (again.headers["x-gitops-gen-report"], again.content) == ("hit", content), body
    assert json.loads(dev.content)["environments"] == ["dev"]
    assert validations(url) == 3


def test_a_commit_pushed_to_origin_is_fetched_into_the_clone_and_validated(
        repo: Path, tmp_path: Path, serve: Callable[[FastAPI], str]) -> None:
    origin = tmp_path / "origin.git"
    git.Repo.clone_from(repo, origin, bare=True)
    served = tmp_path / "served"
    git.Repo.clone_from(origin, served)
    url = serve(create_app(served, webhook_secret=None, github=None))
    assert post_validate(url, {"ref": "HEAD"}).json()["ok"] is False

    elsewhere = tmp_path / "elsewhere"
    git.Repo.clone_from(origin, elsewhere)
    set_value(elsewhere, STAGING, ["frontend", "replicaCount"], 2)  # staging fixed
    git.Repo(elsewhere).git.commit("-q", "-am", "staging: frontend replicas 2")
    git.Repo(elsewhere).git.push("-q", "origin", "main")
    pushed = sha_of(elsewhere, "HEAD")
    assert pushed not in git.Repo(served).git.rev_list("--all")

    answer = post_validate(url, {"ref": pushed})
    assert answer.status_code == 200, answer.text
    assert answer.headers["x-gitops-gen-commit"] == pushed
    assert answer.headers["x-gitops-gen-report"] == "miss" and answer.json()["ok"] is True
    missing = post_validate(url, {"ref": "0" * 40})
    assert "not in the repository" in assert_one_line_error(missing, 422)


def test_a_validation_a_limit_cut_short_is_not_kept(
        repo: Path, serve: Callable[[FastAPI], str]) -> None:
    looping = commit_file(repo, "chart/templates/loop.yaml", LOOP)
    url = serve(create_app(repo, webhook_secret=None, github=None,
                           run_limits=RunLimits(env_seconds=2, total_seconds=60)))
    for _ in range(2):
        answer = post_validate(url, {"ref": looping, "environments": ["dev"]})
        assert answer.status_code == 200, answer.text
        assert answer.headers["x-gitops-gen-report"] == "miss"
        assert "resource-limit" in {f["rule"] for f in answer.json()["findings"]}
    assert sample(metrics(url), "gitops_gen_report_cache_entries") == 0


def test_a_request_for_a_commit_being_validated_waits_for_that_validation_within_its_time(
        repo: Path, serve: Callable[[FastAPI], str], monkeypatch: pytest.MonkeyPatch) -> None:
    looping = commit_file(repo, "chart/templates/loop.yaml", LOOP)
    app = create_app(repo, webhook_secret=None, github=None,
                     run_limits=RunLimits(env_seconds=2, total_seconds=4))
    url = serve(app)
    body = {"ref": looping, "environments": ["dev"]}

    def beside_a_validation() -> tuple[httpx.Response, httpx.Response]:
        with ThreadPoolExecutor(max_workers=1) as pool:
            first = pool.submit(post_validate, url, body)
            until(lambda: app.state.gate.running >= 1, 60)
            second = post_validate(url, body)  # the first's takes 2 s: its limit
            return first.result(timeout=60), second

    # it waits up to the validation's time limit (4 s) and a margin
    owner, joined = beside_a_validation()
    assert (owner.status_code, owner.headers["x-gitops-gen-report"]) == (200, "miss")
    assert (joined.status_code, joined.headers["x-gitops-gen-report"]) == (200, "joined")
    assert joined.content == owner.content
    # told to retry when the validation outlasts its wait (here half a second)
    monkeypatch.setattr("gitops_gen.service.server.WAIT_MARGIN", -3.5)
    owner, late = beside_a_validation()
    assert owner.status_code == 200
    assert assert_one_line_error(late, 503) == ("this commit's validation is still running; "
                                                "retry shortly")


def test_a_pull_request_is_validated_under_the_service_s_limits(
        repo: Path, serve: Callable[[FastAPI], str],
        forge_factory: Callable[..., FakeForge]) -> None:
    looping = commit_file(repo, "chart/templates/loop.yaml", LOOP)
    forge = forge_factory()
    app = create_app(repo, webhook_secret=SECRET, github=ForgeSettings(TOKEN, forge.url),
                     run_limits=RunLimits(env_seconds=2, total_seconds=20))
    url = serve(app)
    assert deliver(url, pull_request(looping)).status_code == 202
    idle(app, 40)  # each environment's render is cut at 2 s, not the default minute
    [status] = [r["body"] for r in forge.requests]
    assert status["state"] == "failure"
    [done] = app.state.service.history
    assert "resource-limit" in {f.rule for f in done.findings}


def test_the_kept_reports_are_bounded_and_the_least_recently_used_goes_first(
        repo: Path, serve: Callable[[FastAPI], str]) -> None:
    url = serve(create_app(repo, webhook_secret=None, github=None, report_cache=2))
    a, b, c = (sha_of(repo, ref) for ref in ("HEAD", "HEAD~1", "HEAD~2"))
    how = [post_validate(url, {"ref": sha}).headers["x-gitops-gen-report"]
           for sha in (a, b, c, a, c)]
    assert how == ["miss", "miss", "miss", "miss", "hit"]  # c's came in: a's went out
    assert sample(metrics(url), "gitops_gen_report_cache_entries") == 2
    assert validations(url) == 4


def test_a_snapshot_s_report_answers_post_validate_of_its_commit(
        repo: Path, serve: Callable[[FastAPI], str]) -> None:
    app = create_app(repo, webhook_secret=None, github=None)
    url = serve(app)
    older = sha_of(repo, "HEAD~1")
    taken = app.state.service.take(older, "dashboard", "dashboard")  # as a push's job does
    answer = post_validate(url, {"ref": older})
    assert answer.headers["x-gitops-gen-report"] == "hit"
    assert answer.json() == taken.report.to_dict() and answer.json()["ok"] is True


# ---- the error handlers, in-process ----------------------------------------------------------


def _answer(handler: Callable[..., Any], exc: Exception) -> tuple[int, Any, dict[str, str]]:
    from starlette.requests import Request

    request = Request({"type": "http", "method": "GET", "path": "/", "headers": []})
    response = anyio.run(handler, request, exc)
    return response.status_code, json.loads(response.body), dict(response.headers)


def test_an_http_error_answers_its_status_and_detail_as_json() -> None:
    from starlette.exceptions import HTTPException

    from gitops_gen.service import server

    assert _answer(server._http_error, HTTPException(404))[:2] == (404, {"error": "Not Found"})
    assert _answer(server._http_error, HTTPException(405, "use POST"))[:2] == (
        405, {"error": "use POST"})
    assert _answer(server._http_error, ValueError("a detail never shown"))[:2] == (
        500, {"error": "internal error"})


def test_an_internal_error_names_its_type_only_in_the_answer_and_the_log(
        caplog: pytest.LogCaptureFixture) -> None:
    from gitops_gen.service import server

    with caplog.at_level(logging.ERROR, logger=server.__name__):
        status, body, _ = _answer(server._internal, KeyError("SECRET-DETAIL"))
    assert (status, body) == (500, {"error": "internal error (KeyError); see the service log"})
    assert [(r.levelno, r.getMessage()) for r in caplog.records] == [
        (logging.ERROR, "internal error: KeyError")]


def cut_short(monkeypatch: pytest.MonkeyPatch, *, stopping: bool, begun: bool = False,
              kind: str = "http") -> tuple[list[dict[str, Any]], bool]:
    """A request cancelled while its app waits (having begun its answer when begun), through
    answering_stop, as uvicorn cancels it when a stop's grace is over: what was sent,
    and whether the cancellation went on."""
    monkeypatch.setattr(proc, "is_stopping", lambda: stopping)
    sent: list[dict[str, Any]] = []

    async def main() -> bool:
        waiting = asyncio.Event()

        async def app(scope: Any, receive: Any, send: Any) -> None:
            if begun:
                await send({"type": "http.response.start", "status": 200, "headers": []})
            waiting.set()
            await asyncio.Event().wait()

        async def receive() -> dict[str, Any]:
            return {"type": "http.disconnect"}

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)

        scope = {"type": kind, "method": "POST", "path": "/validate\n" + "x" * 60}
        task = asyncio.create_task(answering_stop(app)(scope, receive, send))
        await waiting.wait()
        task.cancel()
        try:
            await task
        except asyncio.CancelledError:
            return True
        return False

    return sent, asyncio.run(main())


def test_the_service_s_limits_are_the_documented_ones(repo: Path) -> None:
    """docs/security.md's: /validate's worker slots (2, 16 waiting), the webhook's queue (32
    jobs, one at a time), fewer than 8 bodies read at once; and `serve --report-cache`'s
    256 kept reports, of 64 MiB at most together (service/reportcache.py)."""
    app = create_app(repo, webhook_secret=None, github=None)
    state = app.state.service
    assert (app.state.gate.limit, app.state.gate.queue) == (2, 16)
    assert (app.state.gate.admitted, app.state.gate.running, app.state.gate.peak) == (0, 0, 0)
    assert (state.jobs.capacity, state.jobs.workers) == (32, 1)
    assert app.state.readers.limit == 8
    assert (state.reports.entries, state.reports.max_bytes) == (256, 64 * 1024 * 1024)
    given = create_app(repo, webhook_secret=None, github=None, max_concurrent=3, max_waiting=4,
                       webhook_concurrent=5, max_reading=6, queue=7, report_cache=8,
                       report_cache_bytes=9)
    state = given.state.service
    assert (given.state.gate.limit, given.state.gate.queue) == (3, 4)
    assert (state.jobs.workers, state.jobs.capacity, given.state.readers.limit) == (5, 7, 6)
    assert (state.reports.entries, state.reports.max_bytes) == (8, 9)


def test_the_server_s_configuration(repo: Path) -> None:
    config = server_config(create_app(repo, webhook_secret=None, github=None), "::1", 8123)
    assert (config.host, config.port, config.log_level) == ("::1", 8123, "info")
    assert config.server_header is False  # no server name or version to fingerprint
    assert config.timeout_graceful_shutdown == 1  # then requests in flight are answered 503


def test_a_request_a_stop_cuts_short_is_answered_503(
        monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING)
    body = b'{"error": "the service is stopping; retry once it is back"}'
    assert cut_short(monkeypatch, stopping=True) == ([
        {"type": "http.response.start", "status": 503,
         "headers": [(b"content-type", b"application/json"),
                     (b"content-length", str(len(body)).encode()), (b"connection", b"close")]},
        {"type": "http.response.body", "body": body}], False)
    # one line, the path quoted (a newline in it cannot start a line of its own) and cut
    assert caplog.messages == ["POST '/validate\\n" + "x" * 54 + "' cut short: the service is "
                               "stopping; retry once it is back"]


def test_an_answer_begun_before_the_stop_is_not_begun_again(
        monkeypatch: pytest.MonkeyPatch) -> None:
    begun = {"type": "http.response.start", "status": 200, "headers": []}
    assert cut_short(monkeypatch, stopping=True, begun=True) == ([begun], False)


@pytest.mark.parametrize(("stopping", "kind"), [(False, "http"), (True, "lifespan"),
                                                 (True, "websocket")])
def test_a_cancellation_that_is_not_a_stop_s_goes_on(
        monkeypatch: pytest.MonkeyPatch, stopping: bool, kind: str) -> None:
    assert cut_short(monkeypatch, stopping=stopping, kind=kind) == ([], True)


def test_a_refusal_answers_its_status_message_and_headers() -> None:
    from gitops_gen.errors import MissingError
    from gitops_gen.service import server

    assert _answer(server._refused, Refused(429, "slow down", {"Retry-After": "3"})) == (
        429, {"error": "slow down"}, {"retry-after": "3", "content-length": "21",
                                      "content-type": "application/json"})
    assert _answer(server._refused, InputError("bad ref", "give a commit"))[:2] == (
        400, {"error": "bad ref; give a commit"})
    assert _answer(server._refused, MissingError("no git", "install git"))[:2] == (
        503, {"error": "no git; install git"})
    assert _answer(server._refused, ValueError("a detail never shown"))[:2] == (
        500, {"error": "error"})


def one_commit_clone(tmp_path: Path, origin: str | None = None) -> tuple[Path, str]:
    """A clone holding one commit, with origin (a path under tmp_path that does not exist:
    git quotes it when a fetch fails) or none; its path and its commit."""
    root = tmp_path / "clone"
    clone = git.Repo.init(root)
    (root / "a").write_text("a\n")
    clone.index.add(["a"])
    head = clone.index.commit("a").hexsha
    if origin is not None:
        clone.create_remote("origin", str(tmp_path / origin))
    return root, head


def test_a_failed_fetch_is_logged_once_per_ref_tried_and_never_with_the_token(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    from gitops_gen.service import server

    token = "SECRET-TOKEN-7"
    root, _ = one_commit_clone(tmp_path, f"gone-{token}")
    missing = "1" * 40

    def warnings(pull: int | None, github: ForgeSettings | None) -> list[str]:
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger=server.__name__), \
                pytest.raises(Refused) as caught:
            server.ensure_commit(root, missing, pull, github)
        assert caught.value.status == 422
        assert caught.value.message == (
            f"commit {missing} is not in the repository, even after 'git fetch origin'; check "
            "the service's clone has the webhook's repository as origin")
        return [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]

    settings = ForgeSettings(token, "http://127.0.0.1:9")
    (logged,) = warnings(None, settings)
    assert logged.startswith("git fetch origin failed: ") and token not in logged
    first, second = warnings(7, settings)
    assert second.startswith("git fetch origin refs/pull/7/head failed: ")
    assert token not in first + second
    (raw,) = warnings(None, None)  # no forge, no token to hide: git's words as they are
    assert f"gone-{token}" in raw


def test_a_full_sha_the_clone_lacks_is_fetched_for_validate_and_the_token_never_logged(
        tmp_path: Path, serve: Callable[[FastAPI], str],
        caplog: pytest.LogCaptureFixture) -> None:
    token = "SECRET-TOKEN-8"
    root, _ = one_commit_clone(tmp_path, f"gone-{token}")
    url = serve(create_app(root, webhook_secret=None,
                           github=ForgeSettings(token, "http://127.0.0.1:9")))
    missing = "1" * 40
    with caplog.at_level(logging.WARNING, logger="gitops_gen.service.server"):
        error = assert_one_line_error(post_validate(url, {"ref": missing}), 422)
    assert error == (f"commit {missing} is not in the repository, even after 'git fetch "
                     "origin'; check the service's clone has the webhook's repository as origin")
    (fetched,) = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert fetched.startswith("git fetch origin failed: ") and token not in fetched


def test_a_delivery_is_refused_when_the_service_cannot_tell_its_repository(
        tmp_path: Path, serve: Callable[[FastAPI], str]) -> None:
    root, head = one_commit_clone(tmp_path)  # no origin, no settings: no GitHub repository
    url = serve(create_app(root, webhook_secret=SECRET, github=None))
    assert assert_one_line_error(deliver(url, pull_request(head)), 503) == (
        "the service cannot tell which GitHub repository it serves; give its clone an origin "
        "on GitHub (or a GitHub repoURL)")


def test_a_pull_request_whose_head_cannot_be_fetched_is_an_error_status_without_the_token(
        tmp_path: Path, serve: Callable[[FastAPI], str],
        forge_factory: Callable[..., FakeForge], caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    root, _ = one_commit_clone(tmp_path, f"gone-{TOKEN}")
    forge = forge_factory()
    app = create_app(root, webhook_secret=SECRET, github=ForgeSettings(TOKEN, forge.url),
                     repository=FULL_NAME)
    url = serve(app)
    missing = "2" * 40
    assert deliver(url, pull_request(missing)).status_code == 202
    idle(app)
    [status] = [r["body"] for r in forge.requests]
    assert status["state"] == "error"
    why = (f"commit {missing} is not in the repository, even after 'git fetch origin'; check "
           "the service's clone has the webhook's repository as origin")
    assert f"pull request #7 of {FULL_NAME} at {missing[:12]} not reviewed: {why}" \
        in caplog.messages
    assert TOKEN not in caplog.text


# ---- request parsing, the served repository, the gate, in-process ---------------------------


@pytest.mark.parametrize("ref", ["", "a" * 257, "-", "--output=/tmp/x", "main\x07", "main\x00",
                                 "main branch", "main\n", "main\t"])
def test_a_ref_that_is_no_name_is_refused_before_git_sees_it(repo: Path, ref: str) -> None:
    with pytest.raises(InputError) as refused:
        resolve_commit(repo, ref)
    assert (refused.value.message, refused.value.fix) == (
        "ref must be a branch, tag or commit name", "e.g. main or HEAD~1")


def test_a_ref_up_to_256_characters_is_looked_up(repo: Path) -> None:
    assert resolve_commit(repo, "a" * 256) is None
    assert resolve_commit(repo, "HEAD~1") == sha_of(repo, "HEAD~1")


def test_a_report_summary_counts_errors_and_warnings() -> None:
    from gitops_gen.checks.findings import Finding, Report
    from gitops_gen.service import server

    def report(errors: int, warnings: int) -> Report:
        return Report(findings=[Finding("r", "error", None, None, None, "e")] * errors
                      + [Finding("r", "warning", None, None, None, "w")] * warnings)

    assert server.summary(report(0, 0)) == "0 errors, 0 warnings"
    assert server.summary(report(1, 1)) == "1 error, 1 warning"
    assert server.summary(report(2, 3)) == "2 errors, 3 warnings"


SHA = "a" * 40


@pytest.mark.parametrize(("payload", "event"), [
    ({"action": "opened", "number": 7, "pull_request": {"head": {"sha": SHA}},
      "repository": {"full_name": "acme/todo-gitops"}}, ("opened", SHA, "acme/todo-gitops", 7)),
    ({"action": "synchronize", "number": 0, "pull_request": {"head": {"sha": SHA}},
      "repository": {"full_name": "a.b/c_d-e"}}, ("synchronize", SHA, "a.b/c_d-e", None)),
    ({"action": "opened", "number": "7", "pull_request": {"head": {"sha": SHA}},
      "repository": {"full_name": "acme/x"}}, ("opened", SHA, "acme/x", None)),
    ({"action": "reopened", "number": 1, "pull_request": {"head": {"sha": SHA}},
      "repository": {"full_name": "acme/x"}}, ("reopened", SHA, "acme/x", 1)),
])
def test_a_pull_request_payload(payload: dict[str, Any], event: tuple[Any, ...]) -> None:
    from gitops_gen.service import server

    parsed = server.parse_pull_request(payload)
    assert (parsed.action, parsed.sha, parsed.repository, parsed.number) == event


NO_HEAD = "not a pull_request payload: action and pull_request.head.sha needed"
NO_REPOSITORY = "not a pull_request payload: repository.full_name (owner/repo) needed"


@pytest.mark.parametrize(("payload", "message"), [
    ({}, NO_HEAD),
    ({"action": 1, "pull_request": {"head": {"sha": SHA}}}, NO_HEAD),
    ({"action": "opened", "pull_request": {"head": {"sha": "A" * 40}}}, NO_HEAD),
    ({"action": "opened", "pull_request": {"head": {"sha": SHA[:39]}}}, NO_HEAD),
    ({"action": "opened", "pull_request": {"head": {"sha": SHA}}}, NO_REPOSITORY),
    ({"action": "opened", "pull_request": {"head": {"sha": SHA}},
      "repository": {"full_name": "no-slash"}}, NO_REPOSITORY),
    ({"action": "opened", "pull_request": {"head": {"sha": SHA}},
      "repository": {"full_name": 5}}, NO_REPOSITORY),
])
def test_a_payload_that_is_not_a_pull_request(payload: dict[str, Any], message: str) -> None:
    from gitops_gen.service import server

    with pytest.raises(Refused) as caught:
        server.parse_pull_request(payload)
    assert (caught.value.status, caught.value.message) == (400, message)


def test_the_served_repository_is_origins_else_the_settings(tmp_path: Path) -> None:
    from gitops_gen.service import server

    root = tmp_path / "clone"
    clone = git.Repo.init(root)
    assert server.served_repository(root) is None
    (root / layout.SETTINGS).write_text("repoURL: https://github.com/acme/from-settings.git\n")
    assert server.served_repository(root) == "acme/from-settings"
    clone.create_remote("origin", "git@github.com:acme/from-origin.git")
    assert server.served_repository(root) == "acme/from-origin"
    clone.delete_remote(clone.remote("origin"))
    clone.create_remote("origin", "/a/local/path")  # not a GitHub remote: the settings say
    assert server.served_repository(root) == "acme/from-settings"


def test_the_gate_runs_limit_at_once_and_refuses_past_the_queue() -> None:
    from gitops_gen.service import server

    gate = server.Gate(2, 1)
    started, release = threading.Semaphore(0), threading.Event()

    def work() -> str:
        started.release()
        release.wait(10)
        return "done"

    async def scenario() -> list[Any]:
        results: list[Any] = []

        async def run() -> None:
            results.append(await gate.run(work))

        async with anyio.create_task_group() as group:
            group.start_soon(run)
            group.start_soon(run)
            for _ in range(2):
                assert await anyio.to_thread.run_sync(started.acquire, True, 10)
            group.start_soon(run)  # the one that may wait
            await anyio.sleep(0.05)
            assert (gate.admitted, gate.running) == (3, 2)
            with pytest.raises(Refused) as caught:
                await gate.run(work)
            results.append((caught.value.status, caught.value.message))
            release.set()
        return results

    results = anyio.run(scenario)
    assert results[0] == (503, "too many validations in progress; retry shortly")
    assert results[1:] == ["done", "done", "done"]
    assert (gate.admitted, gate.running, gate.peak) == (0, 0, 2)
