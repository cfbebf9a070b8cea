"""Promotion: one environment's image tags into the next one's overlay, on a branch of its own.

plan() reads the target revision (the branch Argo CD follows: the local branch, else
origin's), never HEAD, so commits of the branch checked out never ride along, and says which
tags move; apply() makes the commit on the target revision in a throw-away index, validates
exactly that commit's tree, and only then creates the branch, so the user's branch, index and
work tree never change. push() and open_pull_request()
publish it. Only image tags move: never secrets, replicas or hosts.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import git

from ..checks import isolated, rendering
from ..errors import ConflictError, GitopsGenError, InputError, MissingError
from ..model import environments, manifestdiff, overlays
from ..repo import config, forge, gitrepo, layout, yamlio
from ..repo.changes import Action, FileChange

COMPONENTS = ("backend", "frontend")
CHART_VALUES = f"{layout.CHART_DIR}/{layout.VALUES_FILE}"
Check = Callable[[Path, str], Sequence[str]]


@dataclass(frozen=True)
class TagMove:
    component: str
    old: str | None  # the tag DST runs now (None: neither overlay nor chart names one)
    new: str
    old_is_default: bool  # old comes from the chart's values.yaml

    def describe(self) -> str:
        old = f"{self.old} (chart default)" if self.old_is_default else self.old or "(none)"
        return f"{self.component}: {old} -> {self.new}"


@dataclass
class PromotePlan:
    src: str
    dst: str
    base: str  # the target revision's commit when planned: read from, and the parent
    branch: str
    target_revision: str
    moves: list[TagMove]
    change: FileChange | None
    notes: list[str] = field(default_factory=list)

    @property
    def title(self) -> str:
        tags = ", ".join(f"{m.component} {m.new}" for m in self.moves)
        return f"promote: {self.src} -> {self.dst} ({tags})"

    @property
    def message(self) -> str:
        lines = [m.describe() for m in self.moves]
        return (f"{self.title}\n\n" + "\n".join(lines)
                + f"\n\nTags of {self.src} at {self.base[:12]}.\n")


@dataclass(frozen=True)
class PromoteResult:
    branch: str
    sha: str
    created: bool  # False: an earlier run made the same branch and commit
    changed_objects: list[str]  # "changed Deployment/todo-backend"; empty when not rendered


@dataclass(frozen=True)
class PullRequestTarget:
    api_url: str
    token: str = field(repr=False)
    repo: forge.RepoRef


@dataclass(frozen=True)
class Publish:
    push: bool
    pull_request: PullRequestTarget | None


def components_of(choice: str) -> tuple[str, ...]:
    if choice == "all":
        return COMPONENTS
    if choice not in COMPONENTS:
        raise InputError(f"--component {choice!r} is unknown", "give backend, frontend or all")
    return (choice,)


def branch_name(src: str, dst: str, base: str) -> str:
    return f"promote/{src}-to-{dst}-{base[:7]}"


def _check_order(settings: config.Settings, src: str, dst: str) -> None:
    order = list(settings.environments)
    for name in (src, dst):
        environments.check_env_name(name, "SRC" if name == src else "DST")
        if name not in order:
            raise InputError(
                f"no environment {name!r} in {layout.SETTINGS}",
                f"known environments: {', '.join(order) or 'none'} (gitops-gen env list)",
            )
    if src == dst:
        raise InputError(f"SRC and DST are both {src!r}", "promote to the next environment")
    if order.index(dst) < order.index(src):
        raise InputError(
            f"{dst} comes before {src} in the promotion order {' -> '.join(order)}",
            f"promote forward only; to change the order, edit 'environments:' in "
            f"{layout.SETTINGS}",
        )


def _tag_of(values: Any, component: str, where: str) -> str | None:
    node = values.get(component) if isinstance(values, dict) else None
    image = node.get("image") if isinstance(node, dict) else None
    tag = image.get("tag") if isinstance(image, dict) else None
    if tag is None:
        return None
    if not isinstance(tag, str):
        raise InputError(f"{where}: {component}.image.tag {tag!r} is not a string",
                         "quote the tag in that file, e.g. tag: \"1.4\"")
    return overlays.check_tag(tag, f"{where}: {component}.image.tag")


def target_commit(root: Path, revision: str) -> str:
    """The commit of the target revision: the local branch, else origin's; exit 3 if neither."""
    repo = gitrepo.open_repo(root)
    for ref in (f"refs/heads/{revision}", f"refs/remotes/origin/{revision}"):
        try:
            return str(repo.git.rev_parse("--verify", "--quiet", f"{ref}^{{commit}}"))
        except git.GitCommandError:
            continue
    raise MissingError(
        f"neither branch {revision} nor origin/{revision} exists here: promotions start "
        f"from the target revision ({layout.SETTINGS} targetRevision)",
        f"run 'git fetch origin {revision}', or set targetRevision to the branch Argo CD "
        "follows",
    )


def _committed(root: Path, base: str, path: str, revision: str) -> tuple[Any, str]:
    """path's data and text at base."""
    text = gitrepo.show_file(root, base, path)
    if text is None:
        raise InputError(f"{path} is not in {revision} ({base[:12]})",
                         f"merge the environment into {revision} first (gitops-gen env add)")
    return yamlio.load(text, path) or {}, text


def plan(root: Path, src: str, dst: str,
         components: Sequence[str] = COMPONENTS) -> PromotePlan:
    """Which of SRC's tags DST lacks in the target revision, and DST's overlay with them.

    Reads the target revision's commit, never HEAD or the work tree; writes nothing.
    """
    settings = config.load(root)
    _check_order(settings, src, dst)
    dst_path = layout.values_path(dst)
    if gitrepo.dirty_paths(root, [dst_path]):
        raise ConflictError(f"{dst_path} has uncommitted changes",
                            "commit or stash them first, then run the command again")
    revision = settings.target_revision
    base = target_commit(root, revision)
    src_values, _ = _committed(root, base, layout.values_path(src), revision)
    dst_values, old_text = _committed(root, base, dst_path, revision)
    chart_values, _ = _committed(root, base, CHART_VALUES, revision)
    moves: list[TagMove] = []
    for component in components:
        default = _tag_of(chart_values, component, CHART_VALUES)
        new = _tag_of(src_values, component, layout.values_path(src)) or default
        own = _tag_of(dst_values, component, dst_path)
        old = own or default
        if new is not None and new != old:
            moves.append(TagMove(component, old, new, own is None and old is not None))
    result = PromotePlan(src, dst, base, branch_name(src, dst, base), revision, moves, None)
    if gitrepo.head_commit(root) != base:
        result.notes.append(f"promoting from {revision} at {base[:12]}: commits of the "
                            "checked-out branch that are not in it stay out")
    if gitrepo.dirty_paths(root, [layout.values_path(src)]):
        result.notes.append(f"{layout.values_path(src)} has uncommitted changes: promoting "
                            f"the tags of {revision} at {base[:12]}")
    if moves:
        tags = {m.component: m.new for m in moves}
        new_text = overlays.build(dst, overlays.OverlayOptions(
            backend_tag=tags.get("backend"), frontend_tag=tags.get("frontend")), old_text)
        result.change = FileChange(dst_path, Action.UPDATE, old_text, new_text)
    return result


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


def apply(root: Path, planned: PromotePlan, *, check: Check | None = None) -> PromoteResult:
    """Commit the change on planned.branch; the current branch and work tree stay as they are.

    check(tree, env) validates the new commit's files; any line it returns keeps nothing.
    """
    change = planned.change
    if change is None or change.new is None:
        raise InputError(f"{planned.dst} already runs {planned.src}'s tags", "nothing to do")
    with gitrepo.locked(root):
        if target_commit(root, planned.target_revision) != planned.base:
            raise ConflictError(f"{planned.target_revision} moved while the promotion was "
                                "planned", "run it again")
        existing = gitrepo.branch_commit(root, planned.branch)
        if existing is not None:
            done = gitrepo.show_file(root, existing, change.path)
            if (done or "").rstrip("\n") != change.new.rstrip("\n"):
                raise ConflictError(
                    f"branch {planned.branch} already exists with other changes",
                    f"delete it with 'git branch -D {planned.branch}' and run again",
                )
            sha, created = existing, False
        else:
            sha = gitrepo.commit_file(root, planned.base, change.path, change.new,
                                      planned.message)
            if check is not None:
                with rendering.checkout(root, sha) as tree:
                    problems = list(check(tree, planned.dst))
                if problems:
                    raise environments.ValidationFailed(problems)
            gitrepo.create_branch(root, planned.branch, sha)
            created = True
    changed = _changed_objects(root, planned.base, sha, planned.dst)
    return PromoteResult(planned.branch, sha, created, changed)


def push(root: Path, result: PromoteResult) -> None:
    """Push the branch to origin; when the push fails, a branch made by this run goes away."""
    try:
        gitrepo.push_branch(root, result.branch)
    except GitopsGenError:
        if result.created:
            gitrepo.delete_branch(root, result.branch)
        raise


def pr_body(planned: PromotePlan, result: PromoteResult) -> str:
    rows = [f"| {m.component} | `{m.old or '-'}`{' (chart default)' if m.old_is_default else ''}"
            f" | `{m.new}` |" for m in planned.moves]
    lines = [
        f"Promotes the image tags of **{planned.src}** (at `{planned.base[:12]}`) to "
        f"**{planned.dst}**. Only tags change: secrets, replicas and hosts stay as they are.",
        "",
        f"| component | {planned.dst} now | after merge |",
        "|---|---|---|",
        *rows,
    ]
    if result.changed_objects:
        lines += ["", f"Rendered objects of {planned.dst} that change:", ""]
        lines += [f"- {obj}" for obj in result.changed_objects]
    lines += ["", f"Argo CD syncs {planned.dst} once this is merged into "
                  f"`{planned.target_revision}`.", "", "Prepared by `gitops-gen promote "
                  f"{planned.src} {planned.dst}`."]
    return "\n".join(lines) + "\n"


def open_pull_request(planned: PromotePlan, result: PromoteResult,
                      target: PullRequestTarget) -> str:
    """Open the pull request of the pushed branch into the target revision; its URL."""
    try:
        return forge.create_pull_request(
            target.api_url, target.token, target.repo.owner, target.repo.repo,
            head=result.branch, base=planned.target_revision, title=planned.title,
            body=pr_body(planned, result),
        )
    except forge.ForgeError as exc:
        raise forge.ForgeError(
            exc.message,
            f"{exc.fix}; branch {result.branch} is pushed to origin, so you can also open "
            "the pull request by hand",
        ) from None
