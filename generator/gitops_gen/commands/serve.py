"""gitops-gen serve: the validation service (HTTP over the same validation engine)."""

from __future__ import annotations

import ipaddress
import logging
import os
import signal
import sys
from urllib.parse import urlsplit

import click

from ..errors import InputError
from ..model import rendercache
from ..repo.forge import ForgeSettings
from ..repo.gitrepo import redact_url
from ..repo.limits import RunLimits
from .common import echo_notes
from .context import AppContext

WEBHOOK_SECRET_VAR = "GITOPS_GEN_WEBHOOK_SECRET"
API_TOKEN_VAR = "GITOPS_GEN_API_TOKEN"
PUBLIC_URL_VAR = "GITOPS_GEN_PUBLIC_URL"
REPORT_CACHE_VAR = "GITOPS_GEN_REPORT_CACHE"
REPORT_CACHE_DEFAULT = 256  # service/reportcache.py's DEFAULT_ENTRIES (not imported: web stack)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_public_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.query \
            or parts.fragment or parts.username or parts.password:
        raise InputError(f"--public-url {redact_url(url)!r} is not an http(s) URL of the "
                         "dashboard",
                         "give e.g. https://gitops-gen.example.com (no query, no user)")
    return url.rstrip("/")


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8080, show_default=True, type=click.IntRange(1, 65535),
              help="Port to listen on.")
@click.option("--allow-remote", is_flag=True,
              help="Allow a non-loopback --host. Set GITOPS_GEN_API_TOKEN so that POST "
                   "/validate requires it (or put the service behind a proxy that "
                   "authenticates).")
@click.option("--public-url", envvar=PUBLIC_URL_VAR, show_envvar=True,
              help="Where people reach the dashboard (https://...): commit statuses link to "
                   "its page of the commit.")
@click.option("--report-cache", envvar=REPORT_CACHE_VAR, show_envvar=True,
              default=REPORT_CACHE_DEFAULT, show_default=True, type=click.IntRange(0, 100_000),
              help="How many validation reports to keep, by commit and options (0: none): a "
                   "commit validated before is answered from its report.")
@click.pass_obj
def serve(obj: AppContext, host: str, port: int, allow_remote: bool,
          public_url: str | None, report_cache: int) -> None:
    """The validation service: GET / (dashboard), GET /metrics, GET /healthz, POST /validate,
    POST /webhook/github.

    Validates the repository's commits (never its work tree) and answers with the object of
    'validate --format json'. Keep the repository a clone its webhook's commits can be fetched
    into; deliveries of other repositories than its origin's (else its settings' repoURL's)
    are refused. The webhook needs GITOPS_GEN_WEBHOOK_SECRET (its signatures are checked) and
    answers at once; the work runs after the reply. Pull requests get a commit status and one
    comment kept up to date, pushes to the target revision a status, when GITHUB_TOKEN is set
    (GITHUB_API_URL, default https://api.github.com). With GITOPS_GEN_API_TOKEN set, POST
    /validate requires it as a bearer token. Listens on loopback only unless --allow-remote.
    Each validation runs in a worker process bounded in time and memory
    (GITOPS_GEN_ENV_TIMEOUT, GITOPS_GEN_VALIDATE_TIMEOUT, GITOPS_GEN_MEMORY_MB; see
    docs/security.md).
    """
    if not allow_remote and not is_loopback(host):
        raise InputError(f"--host {host} is not a loopback address",
                         f"add --allow-remote to listen there (and set {API_TOKEN_VAR}), or "
                         "keep the default 127.0.0.1")
    from ..service import server

    secret = os.environ.get(WEBHOOK_SECRET_VAR, "").strip() or None
    token = os.environ.get(API_TOKEN_VAR, "").strip() or None
    forge = ForgeSettings.from_env(os.environ)
    run_limits = RunLimits.from_env(os.environ)
    rendercache.default()  # a bad GITOPS_GEN_RENDER_CACHE is refused now, not per validation
    if public_url is not None:
        public_url = check_public_url(public_url)
    app = server.create_app(obj.root(), webhook_secret=secret, github=forge, api_token=token,
                            run_limits=run_limits, public_url=public_url,
                            report_cache=report_cache)
    notes = []
    if secret is None:
        notes.append(f"{WEBHOOK_SECRET_VAR} is not set: POST /webhook/github answers 503")
    elif app.state.repository is None:
        notes.append("neither origin nor repoURL names a GitHub repository: POST "
                     "/webhook/github answers 503")
    if forge is None:
        notes.append("GITHUB_TOKEN is not set: the webhook posts no commit statuses")
    if token is None and not is_loopback(host):
        notes.append(f"{API_TOKEN_VAR} is not set: anyone who reaches {host}:{port} may "
                     "run validations")
    echo_notes(notes)
    # A service stops on SIGTERM by design: uvicorn shuts down cleanly, then hands the signal
    # to the previous handler, which must not turn that into an error.
    for sig in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
        signal.signal(sig, lambda *_: None)
    server.run(app, host, port)
    # Requests in flight ended with their worker processes; a thread still waiting on a
    # forge's answer is abandoned rather than waited for.
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)
