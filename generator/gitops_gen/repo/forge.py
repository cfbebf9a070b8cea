"""The forge: pull requests, labels and commit statuses through GitHub's REST API (stdlib only).

Every request goes through _call(): a timeout, no redirects (one would carry the Authorization
header to another address), https only except to this machine. The token goes into that
header and nowhere else: never into a URL, a message, a log line or an exception; an error
from the API is redacted of it before anyone sees it.
"""

from __future__ import annotations

import http.client
import json
import re
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from .. import __version__
from ..errors import ForgeError, InputError, MissingError
from .gitrepo import redact_url
from .proc import redact

DEFAULT_API_URL = "https://api.github.com"
TOKEN_ENV = "GITHUB_TOKEN"
API_URL_ENV = "GITHUB_API_URL"
TIMEOUT = 30.0
STATUS_TIMEOUT = 10.0
STATUS_CONTEXT = "gitops-gen/validate"
STATUS_DESCRIPTION_MAX = 140  # GitHub's limit
_ANSWER_MAX = 1024 * 1024  # bytes read of an answer
_LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})
_NAME = r"[A-Za-z0-9_.-]+"
_REMOTE_FORMS = (
    re.compile(rf"^https?://(?:[^@/\s]+@)?[^/\s]+/(?P<owner>{_NAME})/(?P<repo>{_NAME})/?$"),
    re.compile(rf"^ssh://(?:[^@/\s]+@)?[^/\s]+/(?P<owner>{_NAME})/(?P<repo>{_NAME})/?$"),
    re.compile(rf"^[^@/\s]+@[^:/\s]+:(?P<owner>{_NAME})/(?P<repo>{_NAME})/?$"),
)


@dataclass(frozen=True)
class RepoRef:
    owner: str
    repo: str


@dataclass(frozen=True)
class ForgeSettings:
    """Where commit statuses go: the GitHub API and a token that may write statuses."""

    token: str = field(repr=False)
    api_url: str = DEFAULT_API_URL
    timeout: float = STATUS_TIMEOUT

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> ForgeSettings | None:
        """GITHUB_TOKEN and GITHUB_API_URL; None when no token is set (statuses are off)."""
        token = environ.get(TOKEN_ENV, "").strip()
        if not token:
            return None
        return cls(token, check_api_url(environ.get(API_URL_ENV, "").strip() or DEFAULT_API_URL))

    def clean(self, text: str) -> str:
        """text without the token or any URL credentials (for logs)."""
        return clean(text, self.token)


def clean(text: str, token: str) -> str:
    """text without the token or any credentials embedded in URLs."""
    return redact_url(redact(text, [token]))


def parse_remote(url: str) -> RepoRef:
    """owner/repo of a GitHub remote URL: https://host/o/r(.git), git@host:o/r.git, ssh://."""
    for form in _REMOTE_FORMS:
        match = form.fullmatch(url)
        if match:
            repo = match["repo"].removesuffix(".git")
            if repo:
                return RepoRef(match["owner"], repo)
    raise MissingError(
        f"the origin remote {redact_url(url)!r} does not name a GitHub repository (owner/repo)",
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


def _call(method: str, api_url: str, path: str, token: str,
          payload: Mapping[str, Any] | None, *, what: str, fix: str, timeout: float,
          accept: frozenset[int] = frozenset()) -> tuple[int, str, bytes]:
    """One request to the API: its status, URL and body.

    ForgeError, redacted of the token, when the API refuses `what` (with `fix` as the advice)
    or cannot be reached; a status in accept is returned instead (a 404 that means "none").
    """
    url = check_api_url(api_url) + path
    data = json.dumps(payload).encode() if payload is not None else None
    headers = {
        "Accept": "application/vnd.github+json",
        "Authorization": f"Bearer {token}",
        "User-Agent": f"gitops-gen/{__version__}",
        "X-GitHub-Api-Version": "2022-11-28",
    }
    if data is not None:
        headers["Content-Type"] = "application/json"
    request = urllib.request.Request(url, data=data, method=method, headers=headers)
    opener = urllib.request.build_opener(_NoRedirect)
    try:
        with opener.open(request, timeout=timeout) as response:
            return int(response.status), url, response.read(_ANSWER_MAX)
    except urllib.error.HTTPError as exc:
        raw = exc.read(_ANSWER_MAX)
        if exc.code in accept:
            return exc.code, url, raw
        message = _api_message(exc.code, raw)
        raise ForgeError(clean(f"GitHub refused {what}: {message}", token), fix) from None
    except (urllib.error.URLError, http.client.HTTPException, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        raise ForgeError(clean(f"could not reach {url}: {reason}", token),
                         f"check {API_URL_ENV} and the network") from None


def _post(api_url: str, path: str, token: str, payload: Mapping[str, Any], *, what: str,
          fix: str, timeout: float) -> tuple[str, bytes]:
    """POST payload as JSON to the API; the URL and the answer's body (ForgeError if refused)."""
    _, url, raw = _call("POST", api_url, path, token, payload, what=what, fix=fix,
                        timeout=timeout)
    return url, raw


def _json(url: str, raw: bytes) -> Any:
    try:
        return json.loads(raw)
    except ValueError:
        raise ForgeError(f"{url} answered with something that is not JSON",
                         f"check that {API_URL_ENV} is a GitHub API") from None


@dataclass(frozen=True)
class PullRequest:
    number: int
    html_url: str


def _pull_request(url: str, data: Any) -> PullRequest:
    number = data.get("number") if isinstance(data, dict) else None
    html_url = data.get("html_url") if isinstance(data, dict) else None
    if not isinstance(number, int) or not isinstance(html_url, str):
        raise ForgeError(f"{url} answered without a pull request number and URL",
                         f"check that {API_URL_ENV} is a GitHub API")
    return PullRequest(number, html_url)


def _repo_path(repo: RepoRef) -> str:
    return f"/repos/{urllib.parse.quote(repo.owner)}/{urllib.parse.quote(repo.repo)}"


def create_pull_request(api_url: str, token: str, owner: str, repo: str, head: str,
                        base: str, title: str, body: str, *, timeout: float = TIMEOUT) -> str:
    """Open a pull request of head into base; returns its web URL."""
    return open_pull_request(api_url, token, RepoRef(owner, repo), head, base, title, body,
                             timeout=timeout).html_url


def find_pull_request(api_url: str, token: str, repo: RepoRef, head: str, base: str, *,
                      timeout: float = TIMEOUT) -> PullRequest | None:
    """The open pull request of branch head (in repo itself) into base, if there is one.

    GET /repos/{owner}/{repo}/pulls?state=open&head={owner}:{head}&base={base}."""
    query = urllib.parse.urlencode({"state": "open", "head": f"{repo.owner}:{head}",
                                    "base": base})
    _, url, raw = _call("GET", api_url, f"{_repo_path(repo)}/pulls?{query}", token, None,
                        what="the list of pull requests",
                        fix="check the token's read access to the repository's pull requests",
                        timeout=timeout)
    found = _json(url, raw)
    if not isinstance(found, list):
        raise ForgeError(f"{url} did not answer with a list",
                         f"check that {API_URL_ENV} is a GitHub API")
    return _pull_request(url, found[0]) if found else None


def update_pull_request(api_url: str, token: str, repo: RepoRef, number: int, title: str,
                        body: str, *, timeout: float = TIMEOUT) -> PullRequest:
    """PATCH /repos/{owner}/{repo}/pulls/{number}: a new title and body."""
    _, url, raw = _call("PATCH", api_url, f"{_repo_path(repo)}/pulls/{number}", token,
                        {"title": title, "body": body}, what=f"the update of pull request "
                        f"#{number}", fix="check the token's write access to pull requests",
                        timeout=timeout)
    return _pull_request(url, _json(url, raw))


def ensure_label(api_url: str, token: str, repo: RepoRef, name: str, color: str,
                 description: str, *, timeout: float = TIMEOUT) -> bool:
    """Create the repository's label name unless it exists; True when it was created.

    GET /repos/{owner}/{repo}/labels/{name} (404: missing), then POST .../labels; a 422
    there means another run created it meanwhile."""
    path = f"{_repo_path(repo)}/labels"
    fix = "check that the token may manage the repository's labels"
    status, _, _ = _call("GET", api_url, f"{path}/{urllib.parse.quote(name, safe='')}", token,
                         None, what=f"the label {name!r}", fix=fix, timeout=timeout,
                         accept=frozenset({404}))
    if status != 404:
        return False
    status, _, _ = _call("POST", api_url, path, token,
                         {"name": name, "color": color, "description": description},
                         what=f"the new label {name!r}", fix=fix, timeout=timeout,
                         accept=frozenset({422}))
    return status != 422


def add_labels(api_url: str, token: str, repo: RepoRef, number: int, labels: list[str], *,
               timeout: float = TIMEOUT) -> None:
    """POST /repos/{owner}/{repo}/issues/{number}/labels: add labels (others stay)."""
    _call("POST", api_url, f"{_repo_path(repo)}/issues/{number}/labels", token,
          {"labels": labels}, what=f"the labels of pull request #{number}",
          fix="check that the token may label pull requests", timeout=timeout)


def open_pull_request(api_url: str, token: str, repo: RepoRef, head: str, base: str,
                      title: str, body: str, *, timeout: float = TIMEOUT) -> PullRequest:
    """POST /repos/{owner}/{repo}/pulls: a new pull request of head into base."""
    url, raw = _post(api_url, f"{_repo_path(repo)}/pulls", token,
                     {"title": title, "head": head, "base": base, "body": body},
                     what="the pull request",
                     fix="check the token's access to the repository and that the branches "
                         "exist", timeout=timeout)
    return _pull_request(url, _json(url, raw))


def _repo_of(full_name: str) -> str:
    """/repos/{owner}/{repo} of an owner/repo name, each part quoted."""
    owner, name = full_name.split("/", 1)
    return f"/repos/{urllib.parse.quote(owner)}/{urllib.parse.quote(name)}"


def post_commit_status(settings: ForgeSettings, full_name: str, sha: str, state: str,
                       description: str, target_url: str | None = None) -> None:
    """POST {api}/repos/{owner}/{repo}/statuses/{sha} under STATUS_CONTEXT.

    full_name is owner/repo; a description over GitHub's limit is shortened; target_url is
    where the status's "Details" link goes. ForgeError (InputError for a bad API URL) when the
    status is not posted.
    """
    if len(description) > STATUS_DESCRIPTION_MAX:
        description = description[:STATUS_DESCRIPTION_MAX - 3] + "..."
    payload = {"state": state, "context": STATUS_CONTEXT, "description": description}
    if target_url:
        payload["target_url"] = target_url
    _post(settings.api_url, f"{_repo_of(full_name)}/statuses/{sha}", settings.token, payload,
          what="the commit status", fix="check that the token may write commit statuses",
          timeout=settings.timeout)


# ---- pull-request comments (the service keeps one per pull request) -------------------------

COMMENTS_PER_PAGE = 100
COMMENT_PAGES_MAX = 30  # 3,000 comments read at most when looking for one


@dataclass(frozen=True)
class IssueComment:
    id: int
    body: str


def pull_request_head(settings: ForgeSettings, full_name: str, number: int) -> str:
    """The sha a pull request's head points at now (GET /repos/{o}/{r}/pulls/{number})."""
    _, url, raw = _call("GET", settings.api_url, f"{_repo_of(full_name)}/pulls/{number}",
                        settings.token, None, what=f"pull request #{number}",
                        fix="check the token's read access to pull requests",
                        timeout=settings.timeout)
    data = _json(url, raw)
    head = data.get("head") if isinstance(data, dict) else None
    sha = head.get("sha") if isinstance(head, dict) else None
    if not isinstance(sha, str):
        raise ForgeError(f"{url} answered without head.sha",
                         f"check that {API_URL_ENV} is a GitHub API")
    return sha


def find_issue_comment(settings: ForgeSettings, full_name: str, number: int,
                       marker: str) -> IssueComment | None:
    """The first comment on issue or pull request number whose body contains marker.

    GET /repos/{o}/{r}/issues/{number}/comments, page by page (oldest first)."""
    for page in range(1, COMMENT_PAGES_MAX + 1):
        query = urllib.parse.urlencode({"per_page": COMMENTS_PER_PAGE, "page": page})
        _, url, raw = _call("GET", settings.api_url,
                            f"{_repo_of(full_name)}/issues/{number}/comments?{query}",
                            settings.token, None, what=f"the comments of #{number}",
                            fix="check the token's read access to pull requests",
                            timeout=settings.timeout)
        found = _json(url, raw)
        if not isinstance(found, list):
            raise ForgeError(f"{url} did not answer with a list",
                             f"check that {API_URL_ENV} is a GitHub API")
        for item in found:
            body = item.get("body") if isinstance(item, dict) else None
            if isinstance(body, str) and marker in body and isinstance(item.get("id"), int):
                return IssueComment(item["id"], body)
        if len(found) < COMMENTS_PER_PAGE:
            return None
    return None


def create_issue_comment(settings: ForgeSettings, full_name: str, number: int,
                         body: str) -> IssueComment:
    """POST /repos/{o}/{r}/issues/{number}/comments."""
    _, url, raw = _call("POST", settings.api_url,
                        f"{_repo_of(full_name)}/issues/{number}/comments", settings.token,
                        {"body": body}, what=f"the comment on #{number}",
                        fix="check that the token may write pull requests (issues)",
                        timeout=settings.timeout)
    return _comment(url, _json(url, raw))


def update_issue_comment(settings: ForgeSettings, full_name: str, comment_id: int,
                         body: str) -> IssueComment:
    """PATCH /repos/{o}/{r}/issues/comments/{comment_id}."""
    _, url, raw = _call("PATCH", settings.api_url,
                        f"{_repo_of(full_name)}/issues/comments/{comment_id}", settings.token,
                        {"body": body}, what=f"the update of comment {comment_id}",
                        fix="check that the token may write pull requests (issues)",
                        timeout=settings.timeout)
    return _comment(url, _json(url, raw))


def _comment(url: str, data: Any) -> IssueComment:
    if not isinstance(data, dict) or not isinstance(data.get("id"), int):
        raise ForgeError(f"{url} answered without a comment id",
                         f"check that {API_URL_ENV} is a GitHub API")
    return IssueComment(data["id"], str(data.get("body") or ""))
