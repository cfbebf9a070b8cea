"""What a pull request changes, environment by environment: the review its comment shows.

take() checks out the base (the merge-base of the pull request's base and head, as GitHub's
"Files changed" compares) and the head, takes the head's snapshot (validation, tags, plans),
and for every environment of either side diffs the rendered manifests (secret values masked:
manifestdiff) and says which image tags move, and from which environment they come.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from ..checks import isolated, rendering
from ..errors import GitopsGenError
from ..model import chart, environments, manifestdiff
from ..model.manifestdiff import ObjectDiff
from ..repo import gitrepo, layout, safefs
from ..repo.limits import RunLimits
from . import snapshots
from .snapshots import EnvState, Move, Snapshot

Status = Literal["added", "removed", "changed", "unchanged"]


@dataclass
class EnvChange:
    env: str
    status: Status
    diffs: list[ObjectDiff] = field(default_factory=list)
    state: EnvState | None = None  # at the head; None when the head removes the environment
    moves: list[Move] = field(default_factory=list)  # image tags, base -> head
    source: str | None = None  # the environment every moved tag comes from (a promotion)
    problem: str | None = None  # why it could not be diffed

    @property
    def affected(self) -> bool:
        """Worth a section of its own: it changes, or it has errors at the head."""
        return (self.status != "unchanged" or self.problem is not None
                or bool(self.state and self.state.errors))

    @property
    def changed_refs(self) -> set[str]:
        return {d.key for d in self.diffs if d.status != "removed"}


@dataclass
class Review:
    head: Snapshot
    base: str  # the commit the head is compared with
    changes: list[EnvChange]

    @property
    def affected(self) -> list[EnvChange]:
        return [c for c in self.changes if c.affected]

    @property
    def unaffected(self) -> list[EnvChange]:
        return [c for c in self.changes if not c.affected]

    @property
    def promotions(self) -> list[EnvChange]:
        return [c for c in self.changes if c.moves]


def _rendered(tree: Path, env: str, run_limits: RunLimits | None) -> list[chart.Rendered] | None:
    if not safefs.is_file(tree, layout.values_path(env)):
        return None
    return isolated.render(tree, env, run_limits=run_limits)


def _source(moved: list[Move], env: str, base_images: dict[str, dict[str, snapshots.Image]],
            order: list[str]) -> str | None:
    """The environment before env in the promotion order whose tags (at the base) are the new
    ones: what a promotion moves from."""
    if not moved or env not in order or order.index(env) == 0:
        return None
    before = order[order.index(env) - 1]
    there = base_images.get(before, {})
    if all(c.component in there and there[c.component].tag == c.new.tag for c in moved):
        return before
    return None


def take(root: Path, base: str, head: str, run_limits: RunLimits | None = None) -> Review:
    """The review of head against base (two commits of the repository at root); validation
    and rendering run in worker processes under run_limits (checks/isolated.py)."""
    commit = gitrepo.commit_info(root, head)
    with rendering.checkout(root, base) as base_tree, rendering.checkout(root, head) as tree:
        snapshot = snapshots.from_tree(tree, commit, run_limits)
        states = {s.name: s for s in snapshot.envs}
        base_chart = snapshots.read_yaml(base_tree, snapshots.CHART_VALUES)
        base_names = environments.known_names(base_tree)
        base_images = {e: snapshots.images(base_tree, e, base_chart) for e in base_names}
        order = [s.name for s in snapshot.envs]
        changes = []
        for env in order + [e for e in base_names if e not in states]:
            change = _change(base_tree, tree, env, states.get(env), run_limits)
            if change.state is not None and env in base_images:
                change.moves = snapshots.moves(base_images[env], change.state.images)
                change.source = _source(change.moves, env, base_images, order)
            if change.problem:
                change.problem = change.problem.replace(str(tree), head[:12]).replace(
                    str(base_tree), base[:12])
            changes.append(change)
    return Review(snapshot, base, changes)


def _change(base_tree: Path, tree: Path, env: str, state: EnvState | None,
            run_limits: RunLimits | None) -> EnvChange:
    problem: str | None = None
    try:
        old = _rendered(base_tree, env, run_limits)
    except GitopsGenError as exc:
        old, problem = [], f"does not render at the base: {exc.message}"
    try:
        new = _rendered(tree, env, run_limits)
    except GitopsGenError as exc:
        return EnvChange(env, "changed", [], state, problem=f"does not render: {exc.message}")
    if new is None:
        return EnvChange(env, "removed", manifestdiff.diff_objects(old or [], []), None)
    diffs = manifestdiff.diff_objects(old or [], new)
    status: Status = "added" if old is None else "changed" if diffs else "unchanged"
    return EnvChange(env, status, diffs, state, problem=problem)
