"""What runs where, read from the target revision's history: one environment's past (history)
and every environment's present (status), with where each is behind the one before it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ..checks import gates
from ..model import imagehistory
from ..model.imagehistory import Period
from ..model.images import COMPONENTS, ImageRef
from ..repo import config
from .promote import check_envs
from .proposal import target_commit


@dataclass(frozen=True)
class EnvHistory:
    env: str
    revision: str
    commit: str
    periods: list[Period]  # newest first

    def to_dict(self) -> dict[str, Any]:
        return {"env": self.env, "revision": self.revision, "commit": self.commit,
                "periods": [p.to_dict() for p in self.periods]}


def env_history(root: Path, env: str) -> EnvHistory:
    """Which reference of each component env ran, from when to when, set by which commit/PR."""
    settings = config.load(root)
    check_envs(settings, (env, "ENV"))
    tip = target_commit(root, settings.target_revision)
    periods = imagehistory.read(root, tip, [env]).periods(env)
    return EnvHistory(env, settings.target_revision, tip, list(reversed(periods)))


@dataclass(frozen=True)
class Cell:
    ref: ImageRef | None
    since: datetime | None
    commit: str | None
    pull_request: int | None
    source_ref: ImageRef | None = None  # what the environment before runs, when different
    # This environment changed on its own after the one before did (a fix, a rollback).
    diverged: bool = False
    blocked: list[str] = field(default_factory=list)  # why the gates hold source_ref back

    @property
    def behind(self) -> bool:
        """The environment before changed since this one did: a promotion is due."""
        return self.source_ref is not None and not self.diverged

    def to_dict(self) -> dict[str, Any]:
        ref = self.ref.to_dict() if self.ref else {"ref": None, "tag": None, "digest": None}
        return {**ref, "since": self.since.isoformat() if self.since else None,
                "commit": self.commit, "pull_request": self.pull_request,
                "source_ref": str(self.source_ref) if self.source_ref else None,
                "behind": self.behind, "diverged": self.diverged,
                "promotable": self.source_ref is not None and not self.blocked,
                "blocked_by": self.blocked}


@dataclass(frozen=True)
class Row:
    env: str
    source: str | None
    cells: dict[str, Cell]  # empty: no overlay in the target revision

    def to_dict(self) -> dict[str, Any]:
        return {"env": self.env, "source": self.source,
                "components": {c: cell.to_dict() for c, cell in self.cells.items()}}


@dataclass(frozen=True)
class Status:
    revision: str
    commit: str
    rows: list[Row]

    def to_dict(self) -> dict[str, Any]:
        return {"revision": self.revision, "commit": self.commit, "components": list(COMPONENTS),
                "environments": [r.to_dict() for r in self.rows]}


def status(root: Path, now: datetime | None = None) -> Status:
    """Environments x components in promotion order; a cell whose reference differs from the
    environment before it names that one's, and whether the gates would let it through."""
    settings = config.load(root)
    order = settings.environments
    tip = target_commit(root, settings.target_revision)
    history = imagehistory.read(root, tip, order)
    gate_of = config.load_gates(root)
    now = now or datetime.now(UTC)
    rows: list[Row] = []
    for env in order:
        source = gates.source_of(env, order)
        cells: dict[str, Cell] = {}
        for component in COMPONENTS:
            period = history.current(env, component)
            if period is None:
                continue
            upstream = history.current(source, component) if source else None
            if upstream is None or upstream.ref is None or upstream.ref == period.ref:
                cells[component] = Cell(period.ref, period.since, period.sha,
                                        period.pull_request)
                continue
            gate = gate_of.get(env)
            blocked = [] if gate is None else [r.message for r in gates.refusals(
                env, gate, {component: upstream.ref}, source=source, history=history, now=now)]
            diverged = history.position(period.sha) > history.position(upstream.sha)
            cells[component] = Cell(period.ref, period.since, period.sha, period.pull_request,
                                    upstream.ref, diverged, blocked)
        rows.append(Row(env, source, cells))
    return Status(settings.target_revision, tip, rows)
