"""A stand-in for GitHub's REST API at the HTTP boundary: a real HTTP server on 127.0.0.1.

It keeps the state the endpoints gitops-gen calls act on, and answers as GitHub documents
them (https://docs.github.com/en/rest, API version 2022-11-28):

- GET   /repos/{o}/{r}/pulls?state=&head=OWNER:BRANCH&base=   the matching pull requests
- POST  /repos/{o}/{r}/pulls                 201; 422 "A pull request already exists for
                                             OWNER:BRANCH." when one is open for head and base
- PATCH /repos/{o}/{r}/pulls/{n}             200 with the updated pull request; 404 if none
- GET   /repos/{o}/{r}/labels/{name}         200, or 404 when the repository lacks the label
- POST  /repos/{o}/{r}/labels                201; 422 code already_exists
- POST  /repos/{o}/{r}/issues/{n}/labels     200 with the issue's labels; a name the
                                             repository lacks is created with GitHub's default
                                             colour, as GitHub does

Every request needs `Authorization: Bearer <token>` (401 otherwise). `fail` makes the next
request of a method and path prefix answer with a given status and body.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import git
import pytest

OWNER, REPO = "org", "todo-gitops"
TOKEN = "ghp_test0nlyTOKEN0do0not0print"


@dataclass
class FakeGitHub:
    url: str
    pulls: list[dict[str, Any]] = field(default_factory=list)
    labels: dict[str, dict[str, str]] = field(default_factory=dict)
    requests: list[dict[str, Any]] = field(default_factory=list)
    failures: list[tuple[str, str, int, dict[str, Any]]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def fail(self, method: str, prefix: str, status: int, body: dict[str, Any]) -> None:
        """The next `method` request whose path starts with prefix answers status/body."""
        self.failures.append((method, prefix, status, body))

    def calls(self, method: str | None = None) -> list[tuple[str, str]]:
        return [(r["method"], r["path"]) for r in self.requests
                if method is None or r["method"] == method]

    def open_pulls(self) -> list[dict[str, Any]]:
        return [p for p in self.pulls if p["state"] == "open"]

    # ---- the endpoints -------------------------------------------------------------

    def _pull(self, pr: dict[str, Any]) -> dict[str, Any]:
        return {**pr, "html_url": f"https://github.com/{OWNER}/{REPO}/pull/{pr['number']}",
                "head": {"ref": pr["head"], "label": f"{OWNER}:{pr['head']}"},
                "base": {"ref": pr["base"]},
                "labels": [{"name": n, **self.labels[n]} for n in pr["labels"]]}

    def handle(self, method: str, path: str, query: dict[str, list[str]],
               body: Any) -> tuple[int, Any]:
        base = f"/repos/{OWNER}/{REPO}/"
        if not path.startswith(base):
            return 404, {"message": "Not Found"}
        parts = [unquote(p) for p in path[len(base):].strip("/").split("/")]
        if parts[0] == "pulls":
            return self._pulls(method, parts[1:], query, body)
        if parts[0] == "labels":
            return self._labels(method, parts[1:], body)
        if len(parts) == 3 and parts[0] == "issues" and parts[2] == "labels" \
                and method == "POST":
            pr = next((p for p in self.pulls if str(p["number"]) == parts[1]), None)
            if pr is None:
                return 404, {"message": "Not Found"}
            for name in body["labels"]:
                self.labels.setdefault(name, {"color": "ededed", "description": ""})
                if name not in pr["labels"]:
                    pr["labels"].append(name)
            return 200, [{"name": n, **self.labels[n]} for n in pr["labels"]]
        return 404, {"message": "Not Found"}

    def _pulls(self, method: str, rest: list[str], query: dict[str, list[str]],
               body: Any) -> tuple[int, Any]:
        if not rest and method == "GET":
            state = query.get("state", ["open"])[0]
            head = query.get("head", [None])[0]
            found = [p for p in self.pulls
                     if (state == "all" or p["state"] == state)
                     and (head is None or f"{OWNER}:{p['head']}" == head)
                     and ("base" not in query or p["base"] == query["base"][0])]
            return 200, [self._pull(p) for p in found]
        if not rest and method == "POST":
            if any(p["head"] == body["head"] and p["base"] == body["base"]
                   for p in self.open_pulls()):
                return 422, {"message": "Validation Failed", "errors": [{
                    "resource": "PullRequest", "code": "custom",
                    "message": f"A pull request already exists for {OWNER}:{body['head']}."}]}
            pr = {"number": len(self.pulls) + 1, "state": "open", "title": body["title"],
                  "body": body["body"], "head": body["head"], "base": body["base"],
                  "labels": []}
            self.pulls.append(pr)
            return 201, self._pull(pr)
        if len(rest) == 1 and method == "PATCH":
            pr = next((p for p in self.pulls if str(p["number"]) == rest[0]), None)
            if pr is None:
                return 404, {"message": "Not Found"}
            pr.update({k: body[k] for k in ("title", "body", "state") if k in body})
            return 200, self._pull(pr)
        return 404, {"message": "Not Found"}

    def _labels(self, method: str, rest: list[str], body: Any) -> tuple[int, Any]:
        if len(rest) == 1 and method == "GET":
            if rest[0] not in self.labels:
                return 404, {"message": "Not Found"}
            return 200, {"name": rest[0], **self.labels[rest[0]]}
        if not rest and method == "POST":
            if body["name"] in self.labels:
                return 422, {"message": "Validation Failed", "errors": [{
                    "resource": "Label", "code": "already_exists", "field": "name"}]}
            self.labels[body["name"]] = {"color": body.get("color", "ededed"),
                                         "description": body.get("description", "")}
            return 201, {"name": body["name"], **self.labels[body["name"]]}
        return 404, {"message": "Not Found"}


class _Server(ThreadingHTTPServer):
    fake: FakeGitHub


class _Handler(BaseHTTPRequestHandler):
    timeout = 5
    server: _Server

    def _serve(self) -> None:
        fake = self.server.fake
        raw = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        body = json.loads(raw) if raw else None
        parts = urlsplit(self.path)
        with fake.lock:
            fake.requests.append({"method": self.command, "path": parts.path,
                                  "query": parts.query, "headers": dict(self.headers),
                                  "json": body})
            failure = next((f for f in fake.failures if f[0] == self.command
                            and parts.path.startswith(f[1])), None)
            if self.headers.get("Authorization") != f"Bearer {TOKEN}":
                status, reply = 401, {"message": "Bad credentials"}
            elif failure is not None:
                fake.failures.remove(failure)
                status, reply = failure[2], failure[3]
            else:
                status, reply = fake.handle(self.command, parts.path, parse_qs(parts.query),
                                            body)
        payload = json.dumps(reply).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_GET = do_POST = do_PATCH = _serve  # noqa: N815 - the names http.server dispatches to

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


ORIGIN = f"https://github.com/{OWNER}/{REPO}.git"


def bare_remote(local: Path, bare: Path) -> Path:
    """GitHub's git side: a bare repository that local's origin (a GitHub URL) really pushes
    to, through url.insteadOf; main is pushed there."""
    git.Repo.init(bare, bare=True, initial_branch="main")
    repo = git.Repo(local)
    repo.create_remote("origin", ORIGIN)
    with repo.config_writer() as cfg:
        cfg.set_value(f'url "{bare}"', "insteadOf", ORIGIN)
    repo.git.push("origin", "main")
    return bare
