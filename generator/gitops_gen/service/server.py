"""The validation service: validate_repo() over HTTP, always at a git commit, never the work tree.

GET /healthz, POST /validate ({"ref", "environments", "kubeVersion"} -> the report object of
`validate --format json`) and POST /webhook/github (signed events, answered at once; the work
runs after the reply: deliveries.py). GET / and GET /commits/{sha} are the dashboard
(dashboard.py), GET /metrics the Prometheus metrics (metrics.py). Errors are {"error": one
line}; no handler echoes a body.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import anyio
import anyio.to_thread
from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.exceptions import HTTPException

from .. import __version__
from ..checks import rendering
from ..checks.findings import Report
from ..checks.validate import validate_repo
from ..errors import GitopsGenError, InputError, MissingError
from ..repo import config, gitrepo
from ..repo.forge import ForgeSettings
from ..repo.yamlio import lookup
from . import dashboard, deliveries, metrics
from .state import ServiceState

log = logging.getLogger(__name__)

T = TypeVar("T")

PR_ACTIONS = frozenset({"opened", "synchronize", "reopened"})
MAX_REQUEST_BYTES = 64 * 1024
MAX_WEBHOOK_BYTES = 25 * 1024 * 1024  # GitHub caps webhook payloads at 25 MB
FETCH_TIMEOUT = 120  # seconds
_SHA = re.compile(r"[0-9a-f]{40}(?:[0-9a-f]{24})?")
_FULL_NAME = re.compile(r"[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+")
_REF_MAX = 256


class Refused(Exception):
    """A request the service answers with `status` and {"error": message}."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = " ".join(message.split())  # one line, always


def _refusal(exc: GitopsGenError) -> Refused:
    return Refused(400 if isinstance(exc, InputError) else 503, exc.render())


# --- the core calls, run in worker threads ------------------------------------------------


def resolve_commit(root: Path, ref: str) -> str:
    """The commit sha a ref names in the service's repository."""
    if not ref or len(ref) > _REF_MAX or ref.startswith("-") or not ref.isprintable() \
            or any(c.isspace() for c in ref):
        raise InputError("ref must be a branch, tag or commit name", "e.g. main or HEAD~1")
    with gitrepo.open_repo(root) as repo:
        try:
            return str(repo.commit(ref).hexsha)
        except Exception as exc:  # noqa: BLE001 - GitPython raises several types for a bad ref
            raise InputError(f"git ref {ref!r} not found", "give a branch, tag or commit") from exc


def validate_commit(root: Path, sha: str, envs: list[str] | None = None,
                    kube_version: str | None = None) -> Report:
    """validate_repo() over the repository's files at sha (a temporary checkout)."""
    with rendering.checkout(root, sha) as tree:
        try:
            return validate_repo(tree, envs, kube_version)
        except GitopsGenError as exc:
            refused = _refusal(exc)
            raise Refused(refused.status, refused.message.replace(str(tree), sha[:12])) from exc


_FETCH_LOCK = threading.Lock()


def ensure_commit(root: Path, sha: str, pull: int | None, github: ForgeSettings | None) -> None:
    """Make sure the repository has sha: else `git fetch origin` (and the PR's head ref)."""
    if gitrepo.has_commit(root, sha):
        return
    with _FETCH_LOCK:  # one fetch at a time; another may have brought sha meanwhile
        if gitrepo.has_commit(root, sha) or _fetch(root, sha, pull, github):
            return
    raise Refused(422, f"commit {sha} is not in the repository, even after 'git fetch origin'; "
                       "check the service's clone has the webhook's repository as origin")


def _fetch(root: Path, sha: str, pull: int | None, github: ForgeSettings | None) -> bool:
    """Best effort: fetch origin, then the PR's head ref; True once sha is there."""
    for refspecs in [()] + ([(f"refs/pull/{pull}/head",)] if pull else []):
        try:
            gitrepo.fetch(root, *refspecs, timeout=FETCH_TIMEOUT)
        except GitopsGenError as exc:
            log.warning("%s", github.clean(exc.message) if github else exc.message)
        if gitrepo.has_commit(root, sha):
            return True
    return False


def summary(report: Report) -> str:
    errors, warnings = len(report.errors), len(report.warnings)
    return f"{errors} error{'s' * (errors != 1)}, {warnings} warning{'s' * (warnings != 1)}"


# --- request parsing ------------------------------------------------------------------------


class ValidateRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    ref: str = "HEAD"
    environments: list[str] | None = None
    kube_version: str | None = Field(default=None, alias="kubeVersion")


@dataclass(frozen=True)
class PullRequestEvent:
    action: str
    sha: str
    repository: str  # owner/name of the repository the webhook belongs to
    number: int | None


def parse_pull_request(payload: Any) -> PullRequestEvent:
    action, sha = lookup(payload, "action"), lookup(payload, "pull_request", "head", "sha")
    full_name, number = lookup(payload, "repository", "full_name"), lookup(payload, "number")
    if not isinstance(action, str) or not isinstance(sha, str) or not _SHA.fullmatch(sha):
        raise Refused(400, "not a pull_request payload: action and pull_request.head.sha needed")
    if not isinstance(full_name, str) or not _FULL_NAME.fullmatch(full_name):
        raise Refused(400, "not a pull_request payload: repository.full_name needed")
    return PullRequestEvent(action, sha, full_name,
                            number if isinstance(number, int) and number > 0 else None)


def signature_ok(secret: str, body: bytes, header: str | None) -> bool:
    """X-Hub-Signature-256 is 'sha256=' + HMAC-SHA256(secret, body) in hex."""
    if not header:
        return False
    expected = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected.encode(), header.strip().encode())


async def _read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise Refused(413, f"request body over {limit} bytes")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise Refused(413, f"request body over {limit} bytes")
    return bytes(body)


def _json(body: bytes) -> Any:
    try:
        return json.loads(body) if body.strip() else {}
    except (ValueError, UnicodeDecodeError):
        raise Refused(400, "request body is not JSON") from None


# --- the app --------------------------------------------------------------------------------


class Gate:
    """At most `limit` validations at once and `queue` waiting; more are refused with 503."""

    def __init__(self, limit: int, queue: int) -> None:
        self._limiter = anyio.CapacityLimiter(limit)
        self._admit = limit + queue
        self.admitted = 0
        self.running = 0
        self.peak = 0

    async def run(self, work: Callable[[], T]) -> T:
        if self.admitted >= self._admit:
            raise Refused(503, "too many validations in progress; retry shortly")
        self.admitted += 1
        try:
            async with self._limiter:
                self.running += 1
                self.peak = max(self.peak, self.running)
                try:
                    return await anyio.to_thread.run_sync(work)
                finally:
                    self.running -= 1
        finally:
            self.admitted -= 1


async def _refused(_request: Request, exc: Exception) -> JSONResponse:
    if isinstance(exc, GitopsGenError):
        exc = _refusal(exc)
    status, message = (exc.status, exc.message) if isinstance(exc, Refused) else (500, "error")
    return JSONResponse({"error": message}, status_code=status)


async def _http_error(_request: Request, exc: Exception) -> JSONResponse:
    status = exc.status_code if isinstance(exc, HTTPException) else 500
    detail = exc.detail if isinstance(exc, HTTPException) else "internal error"
    return JSONResponse({"error": str(detail)}, status_code=status)


async def _internal(_request: Request, exc: Exception) -> JSONResponse:
    log.error("internal error: %s", type(exc).__name__)
    return JSONResponse({"error": f"internal error ({type(exc).__name__}); see the service log"},
                        status_code=500)


@dataclass
class Service:
    """The handlers, over one repository, one webhook secret and one forge."""

    root: Path
    webhook_secret: str | None
    github: ForgeSettings | None
    gate: Gate
    state: ServiceState

    async def healthz(self) -> dict[str, Any]:
        return {"ok": True, "version": __version__}

    async def validate(self, request: Request) -> JSONResponse:
        body = _json(await _read_body(request, MAX_REQUEST_BYTES))
        try:
            args = ValidateRequest.model_validate(body)
        except ValidationError as exc:
            first = exc.errors(include_input=False, include_url=False)[0]
            where = ".".join(str(p) for p in first["loc"]) or "body"
            raise Refused(400, f"invalid request: {where}: {first['msg']}") from None
        if args.kube_version is not None:
            config.check_kube_version(args.kube_version, "kubeVersion")

        def work() -> tuple[str, Report]:
            sha = resolve_commit(self.root, args.ref)
            with self.state.metrics.validation("api") as done:
                report = validate_commit(self.root, sha, args.environments or None,
                                         args.kube_version)
                done(report.ok)
            return sha, report

        start = time.monotonic()
        sha, report = await self.gate.run(work)
        self.state.record("api", f"POST /validate {args.ref[:40]}", sha, report,
                          time.monotonic() - start)
        log.info("validated %s: %s", sha[:12], summary(report))
        return JSONResponse(report.to_dict(), headers={"X-Gitops-Gen-Commit": sha})

    async def webhook(self, request: Request) -> JSONResponse:
        if not self.webhook_secret:
            raise Refused(503, "webhook signatures cannot be checked: set "
                               "GITOPS_GEN_WEBHOOK_SECRET to the webhook's secret and restart")
        body = await _read_body(request, MAX_WEBHOOK_BYTES)
        signature = request.headers.get("x-hub-signature-256")
        if not signature_ok(self.webhook_secret, body, signature):
            raise Refused(401, "missing or invalid X-Hub-Signature-256; the webhook's secret "
                               "must equal GITOPS_GEN_WEBHOOK_SECRET")
        event = request.headers.get("x-github-event", "")
        if event == "ping":
            self.state.metrics.delivery("ping", "done")
            return JSONResponse({"ok": True, "event": "ping"})
        if event == "push":
            return _queued(deliveries.queue_push(self.state, _json(body)))
        if event != "pull_request":
            self.state.metrics.delivery(event, "ignored")
            return JSONResponse({"ignored": f"event {event[:64]!r}"}, status_code=202)
        payload = _json(body)
        pr = parse_pull_request(payload)
        if pr.action not in PR_ACTIONS:
            self.state.metrics.delivery(event, "ignored")
            return JSONResponse({"ignored": f"pull_request action {pr.action[:64]!r}"},
                                status_code=202)
        return _queued(deliveries.queue_pull_request(self.state, deliveries.pull_request(
            pr.repository, pr.number, pr.sha, pr.action, payload)))

    # --- the dashboard and the metrics (dashboard.py, state.py, metrics.py) -----------------

    async def home(self) -> HTMLResponse:
        self.state.refresh()
        revision, sha = await anyio.to_thread.run_sync(self.state.target)
        return self._page(revision, sha, commit_page=False)

    async def commit(self, sha: str) -> HTMLResponse:
        if not _SHA.fullmatch(sha) or not await anyio.to_thread.run_sync(
                gitrepo.has_commit, self.root, sha):
            return HTMLResponse(dashboard.message_page(
                "No such commit", "the service's clone has no commit by that name (a full "
                "40-character sha); it fetches origin every minute"), status_code=404,
                headers=dashboard.HEADERS)
        return self._page(self.state.target_revision(), sha, commit_page=True)

    def _page(self, revision: str, sha: str | None, *, commit_page: bool) -> HTMLResponse:
        snap = self.state.snapshot(sha) if sha else None
        view = dashboard.View(revision, sha, snap, list(self.state.history),
                              self.state.jobs.depth, commit_page, dashboard.now())
        return HTMLResponse(dashboard.page(view), headers=dashboard.HEADERS)

    async def metrics(self) -> Response:
        return Response(self.state.metrics.text(), media_type=metrics.CONTENT_TYPE)


def _queued(queued: deliveries.Queued) -> JSONResponse:
    return JSONResponse(queued.body, status_code=queued.status)


def _counting(service: Service) -> Callable[[Request], Any]:
    """The webhook route, counting the deliveries it refuses (bad signature, bad payload)."""

    async def webhook(request: Request) -> JSONResponse:
        try:
            return await service.webhook(request)
        except (Refused, GitopsGenError):
            service.state.metrics.delivery(request.headers.get("x-github-event", ""), "refused")
            raise

    return webhook


def create_app(root: Path, *, webhook_secret: str | None, github: ForgeSettings | None,
               max_concurrent: int = 2, max_waiting: int = 16, public_url: str | None = None,
               queue: int = 32) -> FastAPI:
    """The service for the repository at root (a clone the operator keeps fetched).

    public_url: where people reach the dashboard; commit statuses link to its page of the
    commit. queue: how many jobs the after-reply work queue holds."""
    gitrepo.open_repo(root)  # fail at start-up, not on the first request

    def ensure(sha: str, pull: int | None) -> None:
        try:
            ensure_commit(root, sha, pull, github)
        except Refused as exc:
            raise MissingError(exc.message, "") from None

    state = ServiceState(root, github, public_url=public_url, ensure_commit=ensure, queue=queue)
    service = Service(root, webhook_secret or None, github, Gate(max_concurrent, max_waiting),
                      state)
    app = FastAPI(title="gitops-gen", version=__version__, docs_url=None, redoc_url=None,
                  openapi_url=None)
    app.state.gate = service.gate
    app.state.service = state
    app.add_exception_handler(Refused, _refused)
    app.add_exception_handler(GitopsGenError, _refused)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(Exception, _internal)
    app.add_api_route("/healthz", service.healthz, methods=["GET"])
    app.add_api_route("/validate", service.validate, methods=["POST"])
    app.add_api_route("/webhook/github", _counting(service), methods=["POST"])
    app.add_api_route("/", service.home, methods=["GET"], response_class=HTMLResponse)
    app.add_api_route("/commits/{sha}", service.commit, methods=["GET"],
                      response_class=HTMLResponse)
    app.add_api_route("/metrics", service.metrics, methods=["GET"])
    return app


def run(app: FastAPI, host: str, port: int) -> None:
    """Serve app until interrupted."""
    import uvicorn

    uvicorn.run(app, host=host, port=port, log_level="info", server_header=False)
