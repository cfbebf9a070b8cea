"""The forge: pull requests through the GitHub REST API (standard library only).

The token goes into the Authorization header and nowhere else: never into a URL, a message
or an exception; an error from the API is redacted of it before anyone sees it.
"""

from __future__ import annotations

import http.client
import json
import re
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from . import __version__
from .errors import InputError, MissingError
from .proc import redact

DEFAULT_API_URL = "https://api.github.com"
TOKEN_ENV = "GITHUB_TOKEN"
API_URL_ENV = "GITHUB_API_URL"
TIMEOUT = 30.0
_LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})
_NAME = r"[A-Za-z0-9_.-]+"
_REMOTE_FORMS = (
    re.compile(rf"^https?://(?:[^@/\s]+@)?[^/\s]+/(?P<owner>{_NAME})/(?P<repo>{_NAME})/?$"),
    re.compile(rf"^ssh://(?:[^@/\s]+@)?[^/\s]+/(?P<owner>{_NAME})/(?P<repo>{_NAME})/?$"),
    re.compile(rf"^[^@/\s]+@[^:/\s]+:(?P<owner>{_NAME})/(?P<repo>{_NAME})/?$"),
)


class ForgeError(MissingError):
    """The forge refused or could not be reached."""


@dataclass(frozen=True)
class RepoRef:
    owner: str
    repo: str


def parse_remote(url: str) -> RepoRef:
    """owner/repo of a GitHub remote URL: https://host/o/r(.git), git@host:o/r.git, ssh://."""
    for form in _REMOTE_FORMS:
        match = form.match(url)
        if match:
            repo = match["repo"].removesuffix(".git")
            if repo:
                return RepoRef(match["owner"], repo)
    safe = re.sub(r"(://)[^/@\s]+@", r"\1<redacted>@", url)
    raise MissingError(
        f"the origin remote {safe!r} does not name a GitHub repository (owner/repo)",
        "point origin at https://github.com/OWNER/REPO.git or git@github.com:OWNER/REPO.git",
    )


def check_api_url(url: str) -> str:
    """The API base URL without a trailing slash; plain http only to this machine."""
    parts = urlsplit(url)
    loopback = parts.scheme == "http" and (parts.hostname or "") in _LOOPBACK
    if not parts.hostname or not (parts.scheme == "https" or loopback):
        raise InputError(
            f"{API_URL_ENV} {url!r} is not an https:// URL",
            f"set it to the API of your GitHub (default {DEFAULT_API_URL}); plain http "
            "would send the token in clear",
        )
    return url.rstrip("/")


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """A redirect would carry the Authorization header elsewhere: treat it as an error."""

    def redirect_request(self, *_args: Any, **_kwargs: Any) -> None:
        return None


def _api_message(status: int, raw: bytes) -> str:
    """GitHub's error body ({"message", "errors": [...]}) as one line."""
    try:
        data: Any = json.loads(raw or b"{}")
    except ValueError:
        data = {}
    if not isinstance(data, dict):
        data = {}
    parts = [str(data.get("message") or "no message")]
    for err in data.get("errors") or []:
        if isinstance(err, dict):
            parts.append(str(err.get("message") or err.get("code") or err))
        else:
            parts.append(str(err))
    return f"HTTP {status}: " + ": ".join(parts)


def create_pull_request(api_url: str, token: str, owner: str, repo: str, head: str,
                        base: str, title: str, body: str, *, timeout: float = TIMEOUT) -> str:
    """Open a pull request of head into base; returns its web URL."""
    url = f"{check_api_url(api_url)}/repos/{owner}/{repo}/pulls"
    payload = json.dumps({"title": title, "head": head, "base": base, "body": body}).encode()
    request = urllib.request.Request(url, data=payload, method="POST", headers={
        "Accept": "application/vnd.github+json",
        "Authorization": f"Bearer {token}",
        "Content-Type": "application/json",
        "User-Agent": f"gitops-gen/{__version__}",
        "X-GitHub-Api-Version": "2022-11-28",
    })
    opener = urllib.request.build_opener(_NoRedirect)
    fix = "check the token's access to the repository and that the branches exist"
    try:
        with opener.open(request, timeout=timeout) as response:
            raw = response.read()
    except urllib.error.HTTPError as exc:
        message = _api_message(exc.code, exc.read())
        raise ForgeError(redact(f"GitHub refused the pull request: {message}", [token]),
                         fix) from None
    except (urllib.error.URLError, http.client.HTTPException, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise ForgeError(redact(f"could not reach {url}: {reason}", [token]),
                         f"check {API_URL_ENV} and the network") from None
    try:
        html_url = json.loads(raw).get("html_url")
    except (ValueError, AttributeError):
        html_url = None
    if not isinstance(html_url, str):
        raise ForgeError(f"{url} answered without a pull request URL",
                         f"check that {API_URL_ENV} is a GitHub API")
    return html_url
