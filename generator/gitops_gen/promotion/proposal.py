"""A proposed change of one environment's overlay: a commit on a branch of its own, pushed, and
its pull request opened or updated in place.

The commit is made on the target revision in a throw-away index and validated before the
branch points at it, so the user's branch, index and work tree never change. The branch is
named after what it proposes (promote/dev-to-staging, image/dev-backend, rollback/prod), so a
re-run finds its earlier work: the same change on the same base is kept as it is; a new base
or a newer change replaces the branch's commit, and the branch's open pull request gets the
new title and body instead of a second pull request being opened. A branch holding anything
else (a commit someone added, another file) is never overwritten. A refused push puts the
local branch back where it was.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

from ..checks import isolated, rendering
from ..errors import ConflictError, ForgeError, GitopsGenError, MissingError, ValidationFailed
from ..model import manifestdiff
from ..repo import forge, gitrepo, layout

Check = Callable[[Path, str], Sequence[str]]

LABEL_COLORS = {"promotion": "0e8a16", "image": "fbca04", "rollback": "d93f0b"}
ENV_LABEL_COLOR = "1d76db"
LABEL_DESCRIPTIONS = {
    "promotion": "Moves image references to the next environment (gitops-gen promote)",
    "image": "Sets an environment's image reference (gitops-gen image set)",
    "rollback": "Puts an environment's image references back (gitops-gen rollback)",
}


@dataclass(frozen=True)
class Proposal:
    env: str
    path: str  # the one file the commit changes
    new_text: str
    base: str  # the target revision's commit it starts from
    target_revision: str
    branch: str
    message: str
    title: str
    labels: tuple[str, ...]


class Outcome(StrEnum):
    CREATED = "created"
    UPDATED = "updated"  # the branch held an earlier version of this proposal
    KEPT = "kept"  # the branch already holds exactly this change on this base


@dataclass(frozen=True)
class BranchResult:
    branch: str
    sha: str
    outcome: Outcome
    previous: str | None  # the local branch before (None: there was none)
    remote: str | None  # origin's branch when looked at (None: absent or not asked)
    changed_objects: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class PullRequestTarget:
    api_url: str
    token: str = field(repr=False)
    repo: forge.RepoRef


@dataclass(frozen=True)
class Publish:
    push: bool
    pull_request: PullRequestTarget | None


@dataclass(frozen=True)
class PullRequestResult:
    url: str
    number: int
    created: bool  # False: the branch's open pull request was updated
    labels_created: list[str]


def env_label(env: str) -> str:
    return f"env:{env}"


def target_commit(root: Path, revision: str) -> str:
    """The commit of the target revision: the local branch, else origin's; exit 3 if neither."""
    sha = gitrepo.revision_commit(root, revision)
    if sha is None:
        raise MissingError(
            f"neither branch {revision} nor origin/{revision} exists here: promotions start "
            f"from the target revision ({layout.SETTINGS} targetRevision)",
            f"run 'git fetch origin {revision}', or set targetRevision to the branch Argo CD "
            "follows",
        )
    return sha


def prepare_publish(root: Path, *, push: bool, open_pr: bool, token: str | None,
                    api_url: str | None) -> Publish:
    """Check what publishing needs (remote, token, API URL) before anything is written."""
    if not (push or open_pr):
        return Publish(False, None)
    url = gitrepo.remote_url(root)
    if url is None:
        raise MissingError("this repository has no 'origin' remote",
                           "add it with 'git remote add origin URL'")
    if not open_pr:
        return Publish(True, None)
    if not token:
        raise MissingError(f"--open-pr needs a GitHub token in {forge.TOKEN_ENV}",
                           f"export {forge.TOKEN_ENV} with a token that may open pull requests")
    api = forge.check_api_url(api_url or forge.DEFAULT_API_URL)
    return Publish(True, PullRequestTarget(api, token, forge.parse_remote(url)))


def _is_proposal(root: Path, sha: str, path: str, tip: str) -> bool:
    """A commit this module could have made: one parent on the target revision's line, and
    path the only file it changes."""
    parents, paths = gitrepo.parents_and_paths(root, sha)
    return len(parents) == 1 and paths == [path] and gitrepo.is_ancestor(root, parents[0], tip)


def _holds(root: Path, sha: str, proposal: Proposal) -> bool:
    """sha is exactly this proposal: made on its base, with its text."""
    parents, _ = gitrepo.parents_and_paths(root, sha)
    text = gitrepo.show_file(root, sha, proposal.path)
    return parents == [proposal.base] and (text or "").rstrip("\n") == \
        proposal.new_text.rstrip("\n")


def _refuse_foreign(root: Path, proposal: Proposal, sha: str, where: str) -> None:
    if not _is_proposal(root, sha, proposal.path, proposal.base):
        raise ConflictError(
            f"{where} {proposal.branch} holds commits other than this proposal (a commit added "
            f"by hand, or another file changed), so it is not replaced",
            f"merge or close its pull request and delete the branch (git push origin "
            f"--delete {proposal.branch}; git branch -D {proposal.branch}), then run again",
        )


def _changed_objects(root: Path, base: str, head: str, env: str) -> list[str]:
    """The rendered objects of env that differ between two commits (cheap; best effort)."""
    try:
        with rendering.checkout(root, base) as tree:
            old = isolated.render(tree, env)
        with rendering.checkout(root, head) as tree:
            new = isolated.render(tree, env)
    except GitopsGenError:
        return []
    return [f"{d.status} {d.key}" for d in manifestdiff.diff_objects(old, new)]


def apply(root: Path, proposal: Proposal, *, check: Check | None = None,
          remote: bool = False) -> BranchResult:
    """Point proposal.branch at a commit holding the proposal; nothing else changes.

    remote: the branch will be pushed, so origin's branch is looked at first (read only: no
    ref is written) and kept when it already holds the proposal. check(tree, env) validates
    a new commit's files; any line it returns keeps nothing.
    """
    with gitrepo.locked(root):
        if target_commit(root, proposal.target_revision) != proposal.base:
            raise ConflictError(f"{proposal.target_revision} moved while the change was "
                                "planned", "run it again")
        local = gitrepo.branch_commit(root, proposal.branch)
        theirs = gitrepo.remote_branch_commit(root, proposal.branch) if remote else None
        if theirs is not None and not gitrepo.has_commit(root, theirs):
            gitrepo.fetch_objects(root, proposal.branch)
        if theirs is not None:
            _refuse_foreign(root, proposal, theirs, "origin's branch")
        if local is not None:
            _refuse_foreign(root, proposal, local, "branch")
        kept = next((c for c in (local, theirs) if c and _holds(root, c, proposal)), None)
        if kept is not None:
            sha, outcome = kept, Outcome.KEPT
        else:
            sha = gitrepo.commit_file(root, proposal.base, proposal.path, proposal.new_text,
                                      proposal.message)
            if check is not None:
                with rendering.checkout(root, sha) as tree:
                    problems = list(check(tree, proposal.env))
                if problems:
                    raise ValidationFailed(problems)
            outcome = Outcome.CREATED if local is None and theirs is None else Outcome.UPDATED
        if local is None:
            gitrepo.create_branch(root, proposal.branch, sha)
        elif local != sha:
            gitrepo.move_branch(root, proposal.branch, sha, local)
    changed = _changed_objects(root, proposal.base, sha, proposal.env)
    return BranchResult(proposal.branch, sha, outcome, local, theirs, changed)


def push(root: Path, result: BranchResult) -> None:
    """Push the branch to origin, replacing origin's only if it is still what apply() saw;
    when the push fails, the local branch goes back to where it was."""
    try:
        gitrepo.push_branch(root, result.branch, lease=result.remote or "")
    except GitopsGenError:
        if result.previous is None:
            gitrepo.delete_branch(root, result.branch)
        elif result.previous != result.sha:
            gitrepo.move_branch(root, result.branch, result.previous, result.sha)
        raise


def publish_pull_request(proposal: Proposal, result: BranchResult, target: PullRequestTarget,
                         body: str) -> PullRequestResult:
    """Update the branch's open pull request, or open one; then label it (labels made first
    where the repository lacks them)."""
    api, token, repo = target.api_url, target.token, target.repo
    try:
        found = forge.find_pull_request(api, token, repo, proposal.branch,
                                        proposal.target_revision)
        if found is not None:
            pr = forge.update_pull_request(api, token, repo, found.number, proposal.title, body)
        else:
            pr = forge.open_pull_request(api, token, repo, proposal.branch,
                                         proposal.target_revision, proposal.title, body)
        made = []
        for label in proposal.labels:
            color = LABEL_COLORS.get(label, ENV_LABEL_COLOR)
            description = LABEL_DESCRIPTIONS.get(
                label, f"Changes what the {label.removeprefix('env:')} environment runs")
            if forge.ensure_label(api, token, repo, label, color, description):
                made.append(label)
        forge.add_labels(api, token, repo, pr.number, list(proposal.labels))
    except ForgeError as exc:
        raise ForgeError(
            exc.message,
            f"{exc.fix}; branch {result.branch} is pushed to origin, so you can also open "
            "the pull request by hand",
        ) from None
    return PullRequestResult(pr.html_url, pr.number, found is None, made)

