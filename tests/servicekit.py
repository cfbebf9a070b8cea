"""For the service's tests: the real app under uvicorn on 127.0.0.1, signed webhook deliveries,
and a stand-in for GitHub's REST API (the one faked part) that keeps statuses and comments.

The stand-in answers as GitHub documents: statuses (POST /repos/{o}/{r}/statuses/{sha}, 201),
a pull request (GET /repos/{o}/{r}/pulls/{n}), issue comments listed page by page
(GET .../issues/{n}/comments?per_page=&page=), created (POST, 201) and edited
(PATCH /repos/{o}/{r}/issues/comments/{id}, 200); a body over 65,536 characters is a 422
"Validation Failed" as GitHub answers it; unknown things are 404 {"message": "Not Found"}.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import uvicorn
from fastapi import FastAPI
from prometheus_client.parser import text_string_to_metric_families

SECRET = "webhook-secret-for-tests-only"
TOKEN = "ghp_TestOnlyToken0123456789abcdefABCDEF"
FULL_NAME = "org/todo-gitops"
TIMEOUT = httpx.Timeout(30.0, connect=5.0)
COMMENT_MAX = 65_536


@contextmanager
def running(app: FastAPI) -> Iterator[str]:
    """The app under uvicorn on 127.0.0.1 (a free port) while the block runs; its base URL."""
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_config=None,
                                           log_level="info", lifespan="off"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "server did not start"
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{server.servers[0].sockets[0].getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(10)
        assert not thread.is_alive()


def idle(app: FastAPI, seconds: float = 120) -> None:
    """Wait until the app's after-reply work is done."""
    assert app.state.service.jobs.wait_idle(seconds), "the work queue did not drain"


def metrics(url: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """GET /metrics, parsed by prometheus_client's own parser: {(sample name, labels): value}."""
    response = httpx.get(f"{url}/metrics", timeout=TIMEOUT)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    return {(sample.name, frozenset(sample.labels.items())): sample.value
            for family in text_string_to_metric_families(response.text)
            for sample in family.samples}


def sample(found: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str,
           **labels: str) -> float:
    return found[(name, frozenset(labels.items()))]


def deliver(url: str, payload: object, *, event: str | None = "pull_request",
            secret: str | None = SECRET, signature: str | None = None,
            delivery: str | None = None) -> httpx.Response:
    """POST payload to the webhook as GitHub would: signed with secret (or carrying signature
    as given), with event (none when None) and a delivery id."""
    body = json.dumps(payload).encode()
    headers = {"Content-Type": "application/json",
               "X-GitHub-Delivery": delivery or str(uuid.uuid4())}
    if event is not None:
        headers["X-GitHub-Event"] = event
    if signature is None and secret is not None:
        signature = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    if signature is not None:
        headers["X-Hub-Signature-256"] = signature
    return httpx.post(f"{url}/webhook/github", content=body, headers=headers, timeout=TIMEOUT)


def pull_request_event(head: str, base: str | None, *, action: str = "opened",
                       number: int = 7, ref: str = "feature") -> dict[str, Any]:
    pr: dict[str, Any] = {"number": number, "head": {"sha": head, "ref": ref}}
    if base is not None:
        pr["base"] = {"sha": base, "ref": "main"}
    return {"action": action, "number": number, "pull_request": pr,
            "repository": {"full_name": FULL_NAME}}


# ---- GitHub's API, faked at the HTTP boundary ------------------------------------------------


@dataclass
class FakeGitHub:
    url: str = ""
    heads: dict[int, str] = field(default_factory=dict)  # pull request number -> head sha
    comments: dict[int, list[dict[str, Any]]] = field(default_factory=dict)
    statuses: list[dict[str, Any]] = field(default_factory=list)
    requests: list[tuple[str, str]] = field(default_factory=list)  # (method, path)
    next_id: int = 1000
    lock: threading.Lock = field(default_factory=threading.Lock)

    def comment_bodies(self, number: int) -> list[str]:
        return [c["body"] for c in self.comments.get(number, [])]

    def seed_comment(self, number: int, body: str, login: str = "someone") -> None:
        self.comments.setdefault(number, []).append(self._comment(number, body, login))

    def _comment(self, number: int, body: str, login: str) -> dict[str, Any]:
        self.next_id += 1
        now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        return {"id": self.next_id, "node_id": f"IC_{self.next_id}",
                "url": f"{self.url}/repos/{FULL_NAME}/issues/comments/{self.next_id}",
                "html_url": f"https://github.com/{FULL_NAME}/pull/{number}"
                            f"#issuecomment-{self.next_id}",
                "issue_url": f"{self.url}/repos/{FULL_NAME}/issues/{number}",
                "body": body, "user": {"login": login, "type": "Bot"},
                "created_at": now, "updated_at": now, "author_association": "NONE"}


_REPO = r"/repos/(?P<owner>[^/]+)/(?P<repo>[^/]+)"
_ROUTES = [
    ("POST", re.compile(_REPO + r"/statuses/(?P<sha>[0-9a-f]{40})$"), "status"),
    ("GET", re.compile(_REPO + r"/pulls/(?P<number>\d+)$"), "pull"),
    ("GET", re.compile(_REPO + r"/issues/(?P<number>\d+)/comments$"), "list_comments"),
    ("POST", re.compile(_REPO + r"/issues/(?P<number>\d+)/comments$"), "create_comment"),
    ("PATCH", re.compile(_REPO + r"/issues/comments/(?P<id>\d+)$"), "edit_comment"),
]
_TOO_LONG = {"message": "Validation Failed", "errors": [
    {"resource": "IssueComment", "code": "custom", "field": "body",
     "message": "body is too long (maximum is 65536 characters)"}],
    "documentation_url": "https://docs.github.com/rest/issues/comments#create-an-issue-comment",
    "status": "422"}


class _Server(ThreadingHTTPServer):
    fake: FakeGitHub


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def _answer(self, status: int, data: Any) -> None:
        raw = json.dumps(data).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    def _dispatch(self, method: str) -> None:
        fake = self.server.fake
        parts = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(length)) if length else None
        with fake.lock:
            fake.requests.append((method, self.path))
            if self.headers.get("Authorization") != f"Bearer {TOKEN}":
                return self._answer(401, {"message": "Bad credentials"})
            for verb, pattern, name in _ROUTES:
                match = pattern.match(parts.path)
                if verb == method and match:
                    status, data = getattr(self, name)(fake, match, parse_qs(parts.query), body)
                    return self._answer(status, data)
            return self._answer(404, {"message": "Not Found"})

    def status(self, fake: FakeGitHub, m: re.Match[str], _q: Any, body: Any) -> tuple[int, Any]:
        fake.statuses.append({"sha": m["sha"], "repo": f"{m['owner']}/{m['repo']}", **body})
        return 201, {"id": len(fake.statuses), "state": body["state"],
                     "context": body.get("context")}

    def pull(self, fake: FakeGitHub, m: re.Match[str], _q: Any, _b: Any) -> tuple[int, Any]:
        number = int(m["number"])
        if number not in fake.heads:
            return 404, {"message": "Not Found"}
        return 200, {"number": number, "state": "open", "head": {"sha": fake.heads[number]}}

    def list_comments(self, fake: FakeGitHub, m: re.Match[str], q: dict[str, list[str]],
                      _b: Any) -> tuple[int, Any]:
        per_page = min(100, int(q.get("per_page", ["30"])[0]))
        page = int(q.get("page", ["1"])[0])
        items = fake.comments.get(int(m["number"]), [])
        return 200, items[(page - 1) * per_page: page * per_page]

    def create_comment(self, fake: FakeGitHub, m: re.Match[str], _q: Any,
                       body: Any) -> tuple[int, Any]:
        if len(body["body"]) > COMMENT_MAX:
            return 422, _TOO_LONG
        number = int(m["number"])
        comment = fake._comment(number, body["body"], "gitops-gen[bot]")
        fake.comments.setdefault(number, []).append(comment)
        return 201, comment

    def edit_comment(self, fake: FakeGitHub, m: re.Match[str], _q: Any,
                     body: Any) -> tuple[int, Any]:
        if len(body["body"]) > COMMENT_MAX:
            return 422, _TOO_LONG
        for items in fake.comments.values():
            for comment in items:
                if comment["id"] == int(m["id"]):
                    comment["body"] = body["body"]
                    return 200, comment
        return 404, {"message": "Not Found"}

    def do_GET(self) -> None:  # noqa: N802 - the names http.server dispatches to
        self._dispatch("GET")

    def do_POST(self) -> None:  # noqa: N802
        self._dispatch("POST")

    def do_PATCH(self) -> None:  # noqa: N802
        self._dispatch("PATCH")

    def log_message(self, *_args: Any) -> None:
        pass


@contextmanager
def fake_github() -> Iterator[FakeGitHub]:
    server = _Server(("127.0.0.1", 0), _Handler)
    server.fake = FakeGitHub(f"http://127.0.0.1:{server.server_address[1]}")
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                              daemon=True)
    thread.start()
    try:
        yield server.fake
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
