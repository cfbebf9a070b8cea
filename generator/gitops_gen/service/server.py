"""The validation service: validate_repo() over HTTP, always at a git commit, never the work tree.

GET /healthz, POST /validate ({"ref", "environments", "kubeVersion"} -> the report object of
`validate --format json`; with GITOPS_GEN_API_TOKEN set, only with that bearer token; a report
kept for the same commit and options answers at once, and requests for a commit being validated
wait for that validation: reportcache.py) and
POST /webhook/github (signed pull_request and push events of the served repository, answered at
once; the work runs after the reply: deliveries.py). GET / and GET /commits/{sha} are the
dashboard (dashboard.py), GET /metrics the Prometheus metrics (metrics.py). Errors are
{"error": one line}; no handler echoes a body.

Load is shed before it is buffered (service/admission.py): bodies are capped in size, time
and number read at once, a webhook's signature is checked as its body streams in, a delivery
seen before is not worked again, a full work queue refuses a delivery before its body is read.
/validate has worker slots of its own, the webhook's work its own queue, and each validation
runs in a worker process under time and memory limits (checks/isolated.py), so one bad request
holds one slot for a bounded time at most.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import anyio
import anyio.to_thread
from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .. import __version__
from ..checks import isolated, rendering
from ..checks.findings import Report
from ..errors import GitopsGenError, InputError, MissingError
from ..repo import config, forge, gitrepo, limits, proc, scratch
from ..repo.forge import ForgeSettings
from ..repo.limits import RunLimits
from ..repo.yamlio import lookup
from . import dashboard, deliveries, metrics, reportcache
from .admission import (
    Deliveries,
    Readers,
    Refused,
    delivery_id,
    parse_json,
    read_body,
    read_signed,
    require_bearer,
)
from .deliveries import Queued
from .reportcache import Abandoned, Answer, Flights, Key, ReportCache
from .state import ServiceState

if TYPE_CHECKING:
    import uvicorn

log = logging.getLogger(__name__)

T = TypeVar("T")

PR_ACTIONS = frozenset({"opened", "synchronize", "reopened"})
MAX_REQUEST_BYTES = 64 * 1024
MAX_WEBHOOK_BYTES = 25 * 1024 * 1024  # GitHub caps webhook payloads at 25 MB
READ_SECONDS = 30.0  # a body must arrive within this
FETCH_TIMEOUT = 120  # seconds
WAIT_MARGIN = 30.0  # seconds a request waits for another's validation beyond its time limit
_SHA = re.compile(r"[0-9a-f]{40}(?:[0-9a-f]{24})?")
_NAME = r"[A-Za-z0-9_-][A-Za-z0-9_.-]*"  # GitHub's owner and repository names; never . or ..
_FULL_NAME = re.compile(rf"{_NAME}/{_NAME}")
_REF_MAX = 256
STOP_GRACE = 1  # seconds a stop waits for the requests in flight
STOPPED = "the service is stopping; retry once it is back"
# Worker processes kept started ahead of the validations and renders that will use them
# (checks/isolated.keep_spares), as many as /validate runs at once by default: a new commit's
# validation does not wait for one to start. Each is an idle interpreter with the checks loaded
# (about 40 MiB); one taken is replaced in the background once its validation ends, and ended
# (its exit waited for) beside the answer.
SPARE_WORKERS = 2
# What the service may have written at once at its limits: two checkouts of each of two
# concurrent validations (a review reads the base beside the head) and a chart copy per spare
# worker. With that much free in memory, its temporary files go there (repo/scratch.py).
SCRATCH_BYTES = (2 * 2 + SPARE_WORKERS) * limits.MAX_TREE_BYTES
__all__ = ["Gate", "Refused", "create_app"]


def _refusal(exc: GitopsGenError) -> Refused:
    return Refused(400 if isinstance(exc, InputError) else 503, exc.render())


# --- the core calls, run in worker threads ------------------------------------------------


def resolve_commit(root: Path, ref: str) -> str | None:
    """The commit sha a ref names in the service's clone; None when the clone has none."""
    if not ref or len(ref) > _REF_MAX or ref.startswith("-") or not ref.isprintable() \
            or any(c.isspace() for c in ref):
        raise InputError("ref must be a branch, tag or commit name", "e.g. main or HEAD~1")
    return gitrepo.resolve(root, ref)


def validate_commit(root: Path, sha: str, envs: list[str] | None = None,
                    kube_version: str | None = None,
                    run_limits: RunLimits | None = None) -> Report:
    """validate_repo() over the repository's files at sha (a temporary checkout of what
    validation reads), in a worker process under run_limits."""
    try:
        with rendering.checkout(root, sha) as tree:
            try:
                return isolated.validate(tree, envs, kube_version, run_limits)
            except GitopsGenError as exc:
                refused = _refusal(exc)
                raise Refused(refused.status,
                              refused.message.replace(str(tree), sha[:12])) from exc
    except GitopsGenError as exc:
        if proc.is_stopping():
            raise Refused(503, STOPPED) from exc
        raise


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
        raise Refused(400, "not a pull_request payload: repository.full_name (owner/repo) "
                           "needed")
    return PullRequestEvent(action, sha, full_name,
                            number if isinstance(number, int) and number > 0 else None)


def served_repository(root: Path) -> str | None:
    """owner/repo of the GitHub repository this clone serves: its origin's, else the
    settings' repoURL; None when neither names one."""
    candidates = [gitrepo.remote_url(root)]
    try:
        candidates.append(config.load(root).repo_url)
    except GitopsGenError:
        pass
    for url in candidates:
        if url:
            try:
                ref = forge.parse_remote(url)
            except GitopsGenError:
                continue
            name = f"{ref.owner}/{ref.repo}"
            if _FULL_NAME.fullmatch(name):
                return name
    return None


# --- the app --------------------------------------------------------------------------------


class Gate:
    """At most `limit` validations at once and `queue` waiting; more are refused with 503.

    admit() tells at once whether one more would be refused, so a caller can refuse before
    it reads a body."""

    def __init__(self, limit: int, queue: int) -> None:
        self.limit, self.queue = limit, queue
        self._limiter = anyio.CapacityLimiter(limit)
        self.admitted = 0
        self.running = 0
        self.peak = 0

    def admit(self) -> None:
        if self.admitted >= self.limit + self.queue:
            raise Refused(503, "too many validations in progress; retry shortly")

    async def run(self, work: Callable[[], T]) -> T:
        self.admit()
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
    if isinstance(exc, Refused):
        return JSONResponse({"error": exc.message}, status_code=exc.status, headers=exc.headers)
    return JSONResponse({"error": "error"}, status_code=500)


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
    api_token: str | None = None
    repository: str | None = None  # owner/repo whose deliveries are accepted
    run_limits: RunLimits = field(default_factory=RunLimits)
    readers: Readers = field(default_factory=lambda: Readers(8))
    deliveries: Deliveries = field(default_factory=Deliveries)
    read_seconds: float = READ_SECONDS
    flights: Flights[Key, Answer] = field(default_factory=Flights)

    async def healthz(self) -> dict[str, Any]:
        return {"ok": True, "version": __version__}

    async def validate(self, request: Request) -> Response:
        require_bearer(request, self.api_token)
        self.gate.admit()
        body = parse_json(await read_body(request, MAX_REQUEST_BYTES, self.readers,
                                          self.read_seconds))
        try:
            args = ValidateRequest.model_validate(body)
        except ValidationError as exc:
            first = exc.errors(include_input=False, include_url=False)[0]
            where = ".".join(str(p) for p in first["loc"]) or "body"
            raise Refused(400, f"invalid request: {where}: {first['msg']}") from None
        if args.kube_version is not None:
            try:
                config.check_kube_version(args.kube_version)
            except InputError:  # its message quotes the value: no answer echoes what was sent
                raise Refused(400, "invalid request: kubeVersion: not MAJOR.MINOR; give e.g. "
                                   "1.30") from None

        # A full sha names its commit: a report kept for it answers without asking git.
        sha = args.ref if _SHA.fullmatch(args.ref) else ""
        options = (args.environments, args.kube_version)
        answer = self.state.reports.get(reportcache.key(sha, *options)) if sha else None
        if answer is None:
            sha = await self._commit(args.ref)
            answer = self.state.reports.get(reportcache.key(sha, *options))
        result = "hit"
        if answer is None:
            answer, result = await self._validated(sha, args)
        self.state.metrics.report_lookups.labels(result).inc()
        return Response(answer.body, media_type="application/json",
                        headers={"X-Gitops-Gen-Commit": sha, "X-Gitops-Gen-Report": result})

    async def _validated(self, sha: str, args: ValidateRequest) -> tuple[Answer, str]:
        """sha validated under args in a worker slot, its report kept, and "miss"; or the
        answer of the validation another request has under way for the same key, "joined"."""
        at = reportcache.key(sha, args.environments, args.kube_version)

        def work() -> Answer:
            start = time.monotonic()
            with self.state.metrics.validation("api") as done:
                report = validate_commit(self.root, sha, args.environments or None,
                                         args.kube_version, self.run_limits)
                done(report.ok)
            self.state.record("api", f"POST /validate {args.ref[:40]}", sha, report,
                              time.monotonic() - start)
            log.info("validated %s: %s", sha[:12], summary(report))
            return self.state.keep_report(at, report)

        try:
            answer, joined = await self.flights.run(
                at, lambda: self.gate.run(work), self.run_limits.total_seconds + WAIT_MARGIN)
        except TimeoutError:
            raise Refused(503, "this commit's validation is still running; retry shortly"
                          ) from None
        except Abandoned:
            raise Refused(503, "this commit's validation was stopped; retry") from None
        return answer, "joined" if joined else "miss"

    async def _commit(self, ref: str) -> str:
        """The full sha ref names; a full sha the clone lacks is fetched from origin first
        (in a worker slot: a fetch is slow)."""
        sha = await anyio.to_thread.run_sync(resolve_commit, self.root, ref)
        if sha is not None:
            return sha
        if not _SHA.fullmatch(ref):
            raise InputError(f"git ref {ref!r} not found", "give a branch, tag or commit")
        await self.gate.run(lambda: ensure_commit(self.root, ref, None, self.github))
        return ref

    async def webhook(self, request: Request) -> JSONResponse:
        if not self.webhook_secret:
            raise Refused(503, "webhook signatures cannot be checked: set "
                               "GITOPS_GEN_WEBHOOK_SECRET to the webhook's secret and restart")
        event = request.headers.get("x-github-event", "")
        acted_on = event in ("pull_request", "push")
        if acted_on and self.state.jobs.depth >= self.state.jobs.capacity:
            # busy: refused before the body is read; GitHub can redeliver
            self.state.metrics.queue_rejected.inc()
            raise Refused(503, "the work queue is full; redeliver the event shortly")
        body = await read_signed(request, self.webhook_secret, MAX_WEBHOOK_BYTES, self.readers,
                                 self.read_seconds, keep=acted_on)
        if event == "ping":
            self.state.metrics.delivery("ping", "done")
            return JSONResponse({"ok": True, "event": "ping"})
        if not acted_on:
            self.state.metrics.delivery(event, "ignored")
            return JSONResponse({"ignored": f"event {event[:64]!r}"}, status_code=202)
        delivery = delivery_id(request)
        payload = parse_json(body)
        if event == "push":
            full_name = lookup(payload, "repository", "full_name")
            if isinstance(full_name, str):
                self._served_only(full_name)
            return self._queue(delivery, lambda: deliveries.queue_push(self.state, payload))
        pr = parse_pull_request(payload)
        self._served_only(pr.repository)
        if pr.action not in PR_ACTIONS:
            self.state.metrics.delivery(event, "ignored")
            return JSONResponse({"ignored": f"pull_request action {pr.action[:64]!r}"},
                                status_code=202)
        return self._queue(delivery, lambda: deliveries.queue_pull_request(
            self.state, deliveries.pull_request(pr.repository, pr.number, pr.sha, pr.action,
                                                payload)))

    def _served_only(self, full_name: str) -> None:
        if self.repository is None:
            raise Refused(503, "the service cannot tell which GitHub repository it serves; "
                               "give its clone an origin on GitHub (or a GitHub repoURL)")
        if full_name.lower() != self.repository.lower():
            raise Refused(403, f"this service validates {self.repository} only")

    def _queue(self, delivery: str, submit: Callable[[], Queued]) -> JSONResponse:
        """The delivery's work queued once: a delivery seen before is answered as a duplicate,
        one the queue refused is forgotten so that its redelivery is acted on."""
        if not self.deliveries.first_time(delivery):
            return JSONResponse({"duplicate": delivery}, status_code=200)
        try:
            queued = submit()
        except BaseException:
            self.deliveries.forget(delivery)
            raise
        if queued.status >= 300:
            self.deliveries.forget(delivery)
        return _queued(queued)

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


def _queued(queued: Queued) -> JSONResponse:
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
               max_concurrent: int = 2, max_waiting: int = 16, api_token: str | None = None,
               repository: str | None = None, run_limits: RunLimits | None = None,
               webhook_concurrent: int = 1, max_reading: int = 8,
               read_seconds: float = READ_SECONDS, public_url: str | None = None,
               queue: int = 32, report_cache: int = reportcache.DEFAULT_ENTRIES,
               report_cache_bytes: int = reportcache.DEFAULT_BYTES) -> FastAPI:
    """The service for the repository at root (a clone the operator keeps fetched).

    repository (owner/repo) is the only one whose deliveries are accepted; by default the
    clone's origin (or its settings' repoURL) names it. public_url: where people reach the
    dashboard; commit statuses link to its page of the commit. queue: how many jobs the
    after-reply work queue holds, webhook_concurrent how many of them run at once.
    report_cache: how many validation reports are kept (by commit and options; 0: none),
    report_cache_bytes how many bytes of them at most (reportcache.py).
    """
    gitrepo.open_repo(root)  # fail at start-up, not on the first request
    run_limits = run_limits or RunLimits()

    def ensure(sha: str, pull: int | None) -> None:
        try:
            ensure_commit(root, sha, pull, github)
        except Refused as exc:
            raise MissingError(exc.message, "") from None

    state = ServiceState(root, github, public_url=public_url, ensure_commit=ensure,
                         workers=webhook_concurrent, queue=queue, run_limits=run_limits,
                         reports=ReportCache(report_cache, report_cache_bytes))
    service = Service(root, webhook_secret or None, github, Gate(max_concurrent, max_waiting),
                      state, api_token or None, repository or served_repository(root),
                      run_limits, Readers(max_reading), read_seconds=read_seconds)
    app = FastAPI(title="gitops-gen", version=__version__, docs_url=None, redoc_url=None,
                  openapi_url=None)
    app.state.gate = service.gate
    app.state.service = state
    app.state.readers = service.readers
    app.state.repository = service.repository
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


def use_scratch() -> None:
    """Temporary checkouts and worker directories in memory when it has room (SCRATCH_BYTES)
    and TMPDIR does not say otherwise; said in the log either way."""
    chosen = scratch.prefer_memory(SCRATCH_BYTES)
    log.info("temporary checkouts in %s%s", chosen or tempfile.gettempdir(),
             " (memory)" if chosen else "")


def answering_stop(app: ASGIApp) -> ASGIApp:
    """app, with each request that a stop cancels answered 503 and logged in one line.

    After the stop's grace, uvicorn cancels the requests still in flight (uvicorn 0.55.0,
    server.py L295-304) and would log each as "Exception in ASGI application" with its
    traceback and answer 500 (protocols/http/h11_impl.py L405-415). A request the stop cut
    short (a body still arriving) is no error of the service: it is answered as a validation
    the stop ended is."""

    async def answered(scope: Scope, receive: Receive, send: Send) -> None:
        started = False

        async def sending(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await app(scope, receive, sending)
        except asyncio.CancelledError:
            if scope["type"] != "http" or not proc.is_stopping():
                raise
            log.warning("%s %r cut short: %s", scope["method"], scope["path"][:64], STOPPED)
            if not started:
                body = json.dumps({"error": STOPPED}).encode()
                await send({"type": "http.response.start", "status": 503,
                            "headers": [(b"content-type", b"application/json"),
                                        (b"content-length", str(len(body)).encode()),
                                        (b"connection", b"close")]})
                await send({"type": "http.response.body", "body": body})

    return answered


def server_config(app: FastAPI, host: str, port: int) -> uvicorn.Config:
    """How uvicorn serves app: on host:port, its access log on, no Server header naming it,
    and a stop's grace of STOP_GRACE, after which requests still in flight are answered 503."""
    import uvicorn

    return uvicorn.Config(answering_stop(app), host=host, port=port, log_level="info",
                          server_header=False, timeout_graceful_shutdown=STOP_GRACE)


def run(app: FastAPI, host: str, port: int) -> None:
    """Serve app until SIGTERM or SIGINT: then every worker process and git call is
    stopped at once, so requests in flight end (503) and the server exits within a second."""
    import uvicorn

    class Server(uvicorn.Server):
        def handle_exit(self, sig: int, frame: Any) -> None:
            proc.stop_all()
            isolated.close_spares()
            super().handle_exit(sig, frame)

    config = server_config(app, host, port)
    use_scratch()
    isolated.keep_spares(SPARE_WORKERS, load_helm=True)
    try:
        Server(config).run()
    finally:  # the command ends with os._exit: nothing else would remove their directories
        isolated.close_spares()
