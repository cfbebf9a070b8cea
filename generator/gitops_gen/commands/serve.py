"""gitops-gen serve: the validation service (HTTP over the same validation engine)."""

from __future__ import annotations

import ipaddress
import os
import signal

import click

from ..errors import InputError
from ..repo.forge import ForgeSettings
from .common import echo_notes
from .context import AppContext

WEBHOOK_SECRET_VAR = "GITOPS_GEN_WEBHOOK_SECRET"


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8080, show_default=True, type=click.IntRange(1, 65535),
              help="Port to listen on.")
@click.option("--allow-remote", is_flag=True,
              help="Allow a non-loopback --host. POST /validate has no authentication of its "
                   "own: put it behind a proxy that does.")
@click.pass_obj
def serve(obj: AppContext, host: str, port: int, allow_remote: bool) -> None:
    """The validation service: GET /healthz, POST /validate, POST /webhook/github.

    Validates the repository's commits (never its work tree) and answers with the object of
    'validate --format json'. Keep the repository a clone its webhook's commits can be fetched
    into. The webhook needs GITOPS_GEN_WEBHOOK_SECRET (its signatures are checked); with
    GITHUB_TOKEN set it also posts a commit status (GITHUB_API_URL, default
    https://api.github.com). Listens on loopback only unless --allow-remote.
    """
    if not allow_remote and not is_loopback(host):
        raise InputError(f"--host {host} is not a loopback address",
                         "add --allow-remote to listen there (POST /validate is not "
                         "authenticated), or keep the default 127.0.0.1")
    from ..service import server

    secret = os.environ.get(WEBHOOK_SECRET_VAR, "").strip() or None
    forge = ForgeSettings.from_env(os.environ)
    app = server.create_app(obj.root(), webhook_secret=secret, github=forge)
    notes = []
    if secret is None:
        notes.append(f"{WEBHOOK_SECRET_VAR} is not set: POST /webhook/github answers 503")
    if forge is None:
        notes.append("GITHUB_TOKEN is not set: the webhook posts no commit statuses")
    echo_notes(notes)
    # A service stops on SIGTERM by design: uvicorn shuts down cleanly, then hands the signal
    # to the previous handler, which must not turn that into an error.
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, lambda *_: None)
    server.run(app, host, port)
