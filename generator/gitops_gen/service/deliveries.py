"""Webhook work done after the reply: a pull request's review, a push to the target revision.

The webhook route checks the signature and the event, queues one of these and answers 202 at
once. A pull request's job fetches its head and base, reviews the head against their
merge-base, posts the commit status (linking the dashboard's page of the commit when a public
URL is set) and keeps the pull request's one comment up to date. A push to the target revision
fetches it, takes its snapshot (the dashboard's) and posts its status.
"""

from __future__ import annotations

import logging
import re
import time
from dataclasses import dataclass
from typing import Any

from ..errors import GitopsGenError
from ..repo import forge, gitrepo
from ..repo.yamlio import lookup
from . import comments, review
from .snapshots import Snapshot
from .state import ServiceState

log = logging.getLogger(__name__)

_SHA = re.compile(r"[0-9a-f]{40}(?:[0-9a-f]{24})?")
_ZERO = re.compile(r"0+")


@dataclass(frozen=True)
class PullRequest:
    repository: str  # owner/name
    number: int | None
    head: str
    base: str | None  # the base branch's commit when the event was sent
    action: str


@dataclass(frozen=True)
class Queued:
    """What the webhook answers: status and body."""

    status: int
    body: dict[str, Any]


def pull_request(repository: str, number: int | None, head: str, action: str,
                 payload: Any) -> PullRequest:
    base = lookup(payload, "pull_request", "base", "sha")
    return PullRequest(repository, number, head,
                       base if isinstance(base, str) and _SHA.fullmatch(base) else None, action)


def summary(errors: int, warnings: int) -> str:
    return f"{errors} error{'s' * (errors != 1)}, {warnings} warning{'s' * (warnings != 1)}"


def queue_pull_request(state: ServiceState, pr: PullRequest) -> Queued:
    key = f"pull_request:{pr.repository}#{pr.number}:{pr.head}"
    if not state.jobs.submit(key, lambda: review_pull_request(state, pr)):
        state.metrics.queue_rejected.inc()
        state.metrics.delivery("pull_request", "refused")
        return Queued(503, {"error": "the work queue is full; redeliver the event shortly"})
    state.metrics.delivery("pull_request", "queued")
    return Queued(202, {"queued": "pull_request", "commit": pr.head, "number": pr.number})


def queue_push(state: ServiceState, payload: Any) -> Queued:
    ref, after = lookup(payload, "ref"), lookup(payload, "after")
    full_name = lookup(payload, "repository", "full_name")
    revision = state.target_revision()
    if not isinstance(ref, str) or not isinstance(after, str) or not isinstance(full_name, str):
        state.metrics.delivery("push", "refused")
        return Queued(400, {"error": "not a push payload: ref, after and "
                                     "repository.full_name needed"})
    if ref != f"refs/heads/{revision}" or _ZERO.fullmatch(after) or not _SHA.fullmatch(after):
        state.metrics.delivery("push", "ignored")
        return Queued(202, {"ignored": f"push to {ref[:80]!r}: only pushes to the target "
                                       f"revision {revision!r} are validated"})
    if not state.jobs.submit(f"push:{after}", lambda: validate_push(state, full_name, after)):
        state.metrics.queue_rejected.inc()
        state.metrics.delivery("push", "refused")
        return Queued(503, {"error": "the work queue is full; redeliver the event shortly"})
    state.metrics.delivery("push", "queued")
    return Queued(202, {"queued": "push", "commit": after})


# ---- the jobs -------------------------------------------------------------------------------


def review_pull_request(state: ServiceState, pr: PullRequest) -> None:
    label = f"pull request #{pr.number}" if pr.number else "pull request"
    start = time.monotonic()
    try:
        state.ensure_commit(pr.head, pr.number)
        base = _base_of(state, pr)
        with state.metrics.validation("webhook") as done:
            found = review.take(state.root, base, pr.head, state.run_limits)
            done(found.head.report.ok)
    except GitopsGenError as exc:
        message = " ".join(exc.render().split())
        log.warning("%s of %s at %s not reviewed: %s", label, pr.repository, pr.head[:12],
                    message)
        state.record("webhook", label, pr.head, None, time.monotonic() - start, message)
        state.metrics.delivery("pull_request", "failed")
        post_status(state, pr.repository, pr.head, "error", message)
        return
    report = found.head.report
    state.keep(pr.head, found.head)
    state.record("webhook", label, pr.head, report, found.head.seconds)
    log.info("reviewed %s of %s at %s: %s", label, pr.repository, pr.head[:12],
             summary(len(report.errors), len(report.warnings)))
    ok = post_status(state, pr.repository, pr.head, "success" if report.ok else "failure",
                     summary(len(report.errors), len(report.warnings)))
    if pr.number is not None:
        ok = post_comment(state, pr, found) and ok
    state.metrics.delivery("pull_request", "done" if ok else "failed")


def _base_of(state: ServiceState, pr: PullRequest) -> str:
    """The merge-base of the pull request's base and head; the target revision's commit when
    the event named no base."""
    base = pr.base
    if base is not None:
        state.ensure_commit(base, None)
    else:
        base = state.target()[1]
    if base is None:
        return pr.head
    return gitrepo.merge_base_of(state.root, base, pr.head) or base


def validate_push(state: ServiceState, full_name: str, sha: str) -> None:
    state.fetch()
    try:
        state.ensure_commit(sha, None)
    except GitopsGenError as exc:
        log.warning("push of %s to %s not validated: %s", sha[:12], full_name,
                    " ".join(exc.render().split()))
        state.metrics.delivery("push", "failed")
        return
    result = state.take(sha, "push", f"push to {state.target_revision()}")
    if isinstance(result, Snapshot):
        report = result.report
        ok = post_status(state, full_name, sha, "success" if report.ok else "failure",
                         summary(len(report.errors), len(report.warnings)))
    else:
        ok = post_status(state, full_name, sha, "error", result) and False
    state.metrics.delivery("push", "done" if ok else "failed")


# ---- GitHub ---------------------------------------------------------------------------------


def post_status(state: ServiceState, full_name: str, sha: str, state_name: str,
                description: str) -> bool:
    """The commit status posted (True), or why not logged; True when statuses are off."""
    github = state.github
    if github is None:
        return True
    try:
        forge.post_commit_status(github, full_name, sha, state_name, description,
                                 state.commit_url(sha))
    except GitopsGenError as exc:
        state.metrics.posted("status", False)
        log.warning("commit status for %s on %s not posted: %s", sha[:12], full_name,
                    github.clean(exc.render()))
        return False
    state.metrics.posted("status", True)
    log.info("commit status %s for %s on %s: %s", state_name, sha[:12], full_name, description)
    return True


def post_comment(state: ServiceState, pr: PullRequest, found: review.Review) -> bool:
    """Keep the pull request's comment up to date; a head that moved on is left to the
    newer event (an older review never overwrites a newer one)."""
    github, number = state.github, pr.number
    if github is None or number is None:
        return True
    try:
        current = forge.pull_request_head(github, pr.repository, number)
        if current != pr.head:
            log.info("pull request #%d moved on to %s: no comment for %s", number,
                     current[:12], pr.head[:12])
            return True
        body = comments.compose(found, comments.Context(state.target_revision(),
                                                        state.commit_url(pr.head)))
        outcome = comments.publish(github, pr.repository, number, body)
    except GitopsGenError as exc:
        state.metrics.posted("comment", False)
        log.warning("comment on #%d of %s not posted: %s", number, pr.repository,
                    github.clean(exc.render()))
        return False
    if outcome != "unchanged":
        state.metrics.posted("comment", True)
    log.info("comment on #%d of %s %s for %s", number, pr.repository, outcome, pr.head[:12])
    return True
