"""rollback: an environment's image references back to what they were at an earlier revision.

The default revision is the one before the environment's last change on the target revision's
history. Only image references change (the rest of the overlay stays as it is now); the gates
and validation judge the result like any promotion: a reference the environment ran before
needs no soak, but a gate that requires digests still does. The change is committed on the
checked-out branch, or published on branch rollback/ENV (see proposal).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from ..errors import InputError
from ..model import imagehistory, images
from ..model.imagehistory import Refs
from ..repo import config, gitrepo, layout, transaction
from . import imageset, promote
from .promote import RefMove
from .proposal import BranchResult, Check, Proposal, env_label, target_commit

LABEL = "rollback"


@dataclass(frozen=True)
class RollbackPlan:
    env: str
    to: str  # the commit whose references come back
    to_label: str  # how the user named it (or "before <sha>")
    moves: list[RefMove]
    path: str
    old_text: str
    new_text: str | None  # None: the environment runs those references already
    base: str | None  # the target revision's commit (publishing), None: the work tree
    target_revision: str

    @property
    def title(self) -> str:
        moves = ", ".join(f"{m.component} {m.old.short if m.old else '(none)'} -> "
                          f"{m.new.short}" for m in self.moves)
        return f"rollback: {self.env} to {self.to_label} ({moves})"

    @property
    def message(self) -> str:
        lines = "\n".join(m.describe() for m in self.moves)
        return (f"{self.title}\n\n{lines}\n\nImage references of {self.env} as they were at "
                f"{self.to[:12]}.\n")

    def proposal(self) -> Proposal:
        if self.new_text is None or self.base is None:
            raise InputError(f"{self.env} already runs the references of {self.to_label}",
                             "nothing to do")
        return Proposal(self.env, self.path, self.new_text, self.base, self.target_revision,
                        f"rollback/{self.env}", self.message, self.title,
                        (LABEL, env_label(self.env)))


def _refs_at(root: Path, sha: str, env: str, label: str) -> Refs:
    path = layout.values_path(env)
    texts = gitrepo.read_files(root, [(sha, images.CHART_VALUES), (sha, path)])
    if texts[(sha, path)] is None:
        raise InputError(f"--to {label}: {env} has no overlay at {sha[:12]}",
                         f"give a later revision (gitops-gen history {env} lists them)")
    return images.refs_of(imagehistory.plain_data(texts[(sha, images.CHART_VALUES)]),
                          imagehistory.plain_data(texts[(sha, path)]), strict=False)


def _default_target(root: Path, tip: str, env: str, revision: str) -> tuple[str, str]:
    changes = imagehistory.read(root, tip, [env]).changes(env)
    if len(changes) < 2:
        since = f" (since {changes[0].sha[:8]})" if changes else ""
        raise InputError(f"{env} has run the same image references all along in "
                         f"{revision}{since}, so there is nothing before its last change",
                         "give --to REV to name the revision whose references come back")
    return changes[-2].sha, f"before {changes[-1].sha[:8]}"


def plan(root: Path, env: str, to: str | None, *, publish: bool,
         now: datetime | None = None) -> RollbackPlan:
    """The references of env at `to` (default: before its last change) over its overlay now."""
    settings = config.load(root)
    promote.check_envs(settings, (env, "ENV"))
    revision = settings.target_revision
    tip = target_commit(root, revision)
    if to is None:
        target, label = _default_target(root, tip, env, revision)
    else:
        target, label = gitrepo.resolve_commit(root, to, "--to"), to
    wanted = _refs_at(root, target, env, label)
    path = layout.values_path(env)
    base = tip if publish else None
    if base is None:
        transaction.refuse_dirty(root, [path])
    data, text, chart_values = imageset.current(root, base, path, revision)
    now_refs = images.refs_of(chart_values, data, where=path)
    own = images.refs_of({}, data, where=path)
    moves = [RefMove(c, now_refs[c], ref, own[c] is None and now_refs[c] is not None)
             for c, ref in wanted.items() if ref is not None and ref != now_refs[c]]
    if not moves:
        return RollbackPlan(env, target, label, [], path, text, None, base, revision)
    for move in moves:
        images.parse(str(move.new), f"the {move.component} reference at {label}")
    received = {m.component: m.new for m in moves}
    promote.refuse_gates(root, settings, env, received, tip, now)
    new_text = images.with_refs(text, path, received, chart_values)
    return RollbackPlan(env, target, label, moves, path, text, new_text, base, revision)


def commit(root: Path, planned: RollbackPlan, check: Check) -> str | None:
    """Write, validate and commit on the checked-out branch (nothing kept on failure)."""
    assert planned.new_text is not None
    return imageset.commit_text(root, planned.env, planned.path, planned.old_text,
                                planned.new_text, planned.message, check)


def pr_body(planned: RollbackPlan, result: BranchResult) -> str:
    rows = [f"| {m.component} | `{m.old or '-'}` | `{m.new}` |" for m in planned.moves]
    lines = [f"Puts the image references of **{planned.env}** back to what they were at "
             f"`{planned.to[:12]}` ({planned.to_label}).", "",
             f"| component | {planned.env} now | after merge |", "|---|---|---|", *rows]
    if result.changed_objects:
        lines += ["", f"Rendered objects of {planned.env} that change:", ""]
        lines += [f"- {obj}" for obj in result.changed_objects]
    lines += ["", f"Prepared by `gitops-gen rollback {planned.env}`; running it again updates "
              "this pull request."]
    return "\n".join(lines) + "\n"
