"""Promotion: one environment's image references into the next one's overlay, on a branch.

plan() reads the target revision (the branch Argo CD follows: the local branch, else
origin's), never HEAD, so commits of the branch checked out never ride along; it says which
references move, asks the gates before anything is written, and gathers what the pull request
tells (the commits that changed SRC since DST last ran the same). The branch is
promote/SRC-to-DST: a re-run replaces its commit and updates its pull request (see
proposal). Only image references move: never secrets, replicas or hosts.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ..checks import gates
from ..errors import ConflictError, InputError
from ..model import environments, imagehistory, images
from ..model.imagehistory import Snapshot
from ..model.images import COMPONENTS, ImageRef
from ..repo import config, gitrepo, layout, yamlio
from .proposal import BranchResult, Proposal, env_label, target_commit

LABEL = "promotion"
LISTED_CHANGES = 20


@dataclass(frozen=True)
class RefMove:
    component: str
    old: ImageRef | None  # what DST runs now (None: neither overlay nor chart names one)
    new: ImageRef
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
    moves: list[RefMove]
    new_text: str | None
    notes: list[str] = field(default_factory=list)
    matched: Snapshot | None = None  # the last commit after which DST ran SRC's references
    src_changes: list[Snapshot] = field(default_factory=list)  # SRC's changes since then
    gate: config.Gate | None = None

    @property
    def title(self) -> str:
        moves = ", ".join(f"{m.component} {m.old.short if m.old else '(none)'} -> "
                          f"{m.new.short}" for m in self.moves)
        return f"promote: {self.src} -> {self.dst} ({moves})"

    @property
    def message(self) -> str:
        lines = [m.describe() for m in self.moves]
        return (f"{self.title}\n\n" + "\n".join(lines)
                + f"\n\nReferences of {self.src} at {self.base[:12]}.\n")

    def proposal(self) -> Proposal:
        if self.new_text is None:
            raise InputError(f"{self.dst} already runs {self.src}'s references", "nothing to do")
        return Proposal(self.dst, layout.values_path(self.dst), self.new_text, self.base,
                        self.target_revision, self.branch, self.message, self.title,
                        (LABEL, env_label(self.dst)))


def components_of(choice: str) -> tuple[str, ...]:
    if choice == "all":
        return COMPONENTS
    if choice not in COMPONENTS:
        raise InputError(f"--component {choice!r} is unknown", "give backend, frontend or all")
    return (choice,)


def branch_name(src: str, dst: str) -> str:
    return f"promote/{src}-to-{dst}"


def check_envs(settings: config.Settings, *names: tuple[str, str]) -> None:
    """Each (name, what) is an environment of the settings; exit 2 naming the known ones."""
    order = list(settings.environments)
    for name, what in names:
        environments.check_env_name(name, what)
        if name not in order:
            raise InputError(
                f"no environment {name!r} in {layout.SETTINGS}",
                f"known environments: {', '.join(order) or 'none'} (gitops-gen env list)",
            )


def _check_order(settings: config.Settings, src: str, dst: str) -> None:
    check_envs(settings, (src, "SRC"), (dst, "DST"))
    order = list(settings.environments)
    if src == dst:
        raise InputError(f"SRC and DST are both {src!r}", "promote to the next environment")
    if order.index(dst) < order.index(src):
        raise InputError(
            f"{dst} comes before {src} in the promotion order {' -> '.join(order)}",
            f"promote forward only; to change the order, edit 'environments:' in "
            f"{layout.SETTINGS}",
        )


def committed(root: Path, base: str, path: str, revision: str) -> tuple[Any, str]:
    """path's round-trip data and text at base; exit 2 when it is not there."""
    text = gitrepo.show_file(root, base, path)
    if text is None:
        raise InputError(f"{path} is not in {revision} ({base[:12]})",
                         f"merge the environment into {revision} first (gitops-gen env add)")
    return yamlio.load(text, path) or {}, text


def refuse_gates(root: Path, settings: config.Settings, env: str,
                 received: Mapping[str, ImageRef | None], base: str,
                 now: datetime | None) -> None:
    """Exit 2 with the gates' refusals, one line, before anything is written."""
    refused = gates.check_receive(root, env, received, tip=base, order=settings.environments,
                                  now=now)
    if refused:
        raise InputError("; ".join(r.message for r in refused))


def plan(root: Path, src: str, dst: str, components: Sequence[str] = COMPONENTS, *,
         now: datetime | None = None) -> PromotePlan:
    """Which of SRC's references DST lacks in the target revision, DST's overlay with them,
    and what the pull request tells. Reads the target revision's commit; writes nothing."""
    settings = config.load(root)
    _check_order(settings, src, dst)
    dst_path = layout.values_path(dst)
    if gitrepo.dirty_paths(root, [dst_path]):
        raise ConflictError(f"{dst_path} has uncommitted changes",
                            "commit or stash them first, then run the command again")
    revision = settings.target_revision
    base = target_commit(root, revision)
    src_values, _ = committed(root, base, layout.values_path(src), revision)
    dst_values, old_text = committed(root, base, dst_path, revision)
    chart_values, _ = committed(root, base, images.CHART_VALUES, revision)
    moves: list[RefMove] = []
    for component in components:
        new = images.ref_of(chart_values, src_values, component, where=layout.values_path(src))
        old = images.ref_of(chart_values, dst_values, component, where=dst_path)
        own = images.ref_of({}, dst_values, component, where=dst_path)
        if new is not None and new != old:
            moves.append(RefMove(component, old, new, own is None and old is not None))
    result = PromotePlan(src, dst, base, branch_name(src, dst), revision, moves, None,
                         gate=config.load_gates(root).get(dst))
    if gitrepo.head_commit(root) != base:
        result.notes.append(f"promoting from {revision} at {base[:12]}: commits of the "
                            "checked-out branch that are not in it stay out")
    if gitrepo.dirty_paths(root, [layout.values_path(src)]):
        result.notes.append(f"{layout.values_path(src)} has uncommitted changes: promoting "
                            f"the references of {revision} at {base[:12]}")
    if moves:
        refuse_gates(root, settings, dst, {m.component: m.new for m in moves}, base, now)
        result.new_text = images.with_refs(old_text, dst_path,
                                           {m.component: m.new for m in moves}, chart_values)
        history = imagehistory.read(root, base, [src, dst])
        result.matched, result.src_changes = history.since_match(
            src, dst, [m.component for m in moves])
    return result


def _when(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def _change_line(snap: Snapshot) -> str:
    pr = f" (#{snap.pull_request})" if snap.pull_request and f"#{snap.pull_request}" not in \
        snap.subject else ""
    return f"- `{snap.sha[:8]}` {_when(snap.committed_at)} {snap.subject}{pr}"


def _history_lines(planned: PromotePlan) -> list[str]:
    if planned.matched is not None:
        head = (f"Commits that changed {planned.src}'s references since {planned.dst} last ran "
                f"the same (`{planned.matched.sha[:8]}`, {_when(planned.matched.committed_at)}):")
    else:
        head = (f"{planned.dst} has not run {planned.src}'s references before; the commits "
                f"that changed them:")
    changes = planned.src_changes[-LISTED_CHANGES:]
    lines = ["", head, "", *(_change_line(s) for s in reversed(changes))]
    if len(planned.src_changes) > len(changes):
        lines.append(f"- ... and {len(planned.src_changes) - len(changes)} earlier")
    return lines


def _gate_lines(planned: PromotePlan) -> list[str]:
    gate = planned.gate
    if gate is None:
        return []
    parts = []
    if gate.min_soak is not None:
        parts.append(f"`minSoak: {config.format_duration(gate.min_soak)}` (the references "
                     f"have run in the environment before {planned.dst} at least that long)")
    if gate.require_digest:
        parts.append("`requireDigest: true` (every reference carries a digest)")
    return ["", f"Gates of {planned.dst}, checked: " + "; ".join(parts) + "."] if parts else []


def pr_body(planned: PromotePlan, result: BranchResult) -> str:
    rows = [f"| {m.component} | `{m.old or '-'}`{' (chart default)' if m.old_is_default else ''}"
            f" | `{m.new}` |" for m in planned.moves]
    lines = [
        f"Promotes the image references of **{planned.src}** (in `{planned.target_revision}` "
        f"at `{planned.base[:12]}`) to **{planned.dst}**. Only image references change: "
        "secrets, replicas and hosts stay as they are.",
        "",
        f"| component | {planned.dst} now | after merge |",
        "|---|---|---|",
        *rows,
        *_history_lines(planned),
    ]
    if result.changed_objects:
        lines += ["", f"Rendered objects of {planned.dst} that change:", ""]
        lines += [f"- {obj}" for obj in result.changed_objects]
    lines += _gate_lines(planned)
    lines += ["", f"Argo CD syncs {planned.dst} once this is merged into "
                  f"`{planned.target_revision}`.", "", "Prepared by `gitops-gen promote "
                  f"{planned.src} {planned.dst}`; running it again updates this pull request."]
    return "\n".join(lines) + "\n"

