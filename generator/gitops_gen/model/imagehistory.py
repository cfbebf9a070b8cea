"""What the environments ran: their image references along the target revision's history.

Argo CD deploys the target revision, so its first-parent line is the record: every commit on
it that changed an overlay or the chart's values is read once, and an environment's reference
of a component holds from the commit that set it until the next one that changed it. Times
are committer dates: when a commit landed on the branch (for a merged pull request, its merge
commit). The pull request is read from the subject, as GitHub writes it: "Merge pull request
#12 from ..." for a merge, "... (#12)" for a squash merge.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from pathlib import Path
from typing import Any

import yaml

from ..repo import gitrepo, layout, yamlio
from .images import CHART_VALUES, COMPONENTS, ImageRef, refs_of

_PULL_REQUEST = (re.compile(r"^Merge pull request #(\d+) "), re.compile(r"\(#(\d+)\)\s*$"))

Refs = dict[str, ImageRef | None]  # component -> reference (None: neither tag nor digest)


def pull_request_of(subject: str) -> int | None:
    for pattern in _PULL_REQUEST:
        match = pattern.search(subject)
        if match:
            return int(match[1])
    return None


@dataclass(frozen=True)
class Snapshot:
    """The references after one commit; an environment without an overlay there is absent."""

    sha: str
    committed_at: datetime
    subject: str
    refs: dict[str, Refs]

    @property
    def pull_request(self) -> int | None:
        return pull_request_of(self.subject)


@dataclass(frozen=True)
class Period:
    """One reference an environment ran for one component, from since until until (None:
    still running), set by commit sha."""

    env: str
    component: str
    ref: ImageRef | None
    since: datetime
    until: datetime | None
    sha: str
    subject: str
    pull_request: int | None

    def to_dict(self) -> dict[str, Any]:
        ref = self.ref.to_dict() if self.ref else {"ref": None, "tag": None, "digest": None}
        return {"env": self.env, "component": self.component, **ref,
                "from": self.since.isoformat(), "to": self.until.isoformat()
                if self.until else None, "commit": self.sha, "subject": self.subject,
                "pull_request": self.pull_request}


@dataclass
class History:
    tip: str
    snapshots: list[Snapshot] = field(default_factory=list)  # oldest first

    def periods(self, env: str, components: Sequence[str] = COMPONENTS) -> list[Period]:
        """env's periods in the order of the history (oldest first; by component within one
        commit), whatever the commit dates say."""
        out: list[tuple[int, int, Period]] = []
        open_: dict[str, tuple[int, Period]] = {}
        for index, snap in enumerate(self.snapshots):
            refs = snap.refs.get(env)
            for rank, component in enumerate(components):
                started = open_.get(component)
                if started is not None and (refs is None or started[1].ref != refs[component]):
                    out.append((started[0], rank, _closed(started[1], snap.committed_at)))
                    del open_[component]
                if refs is not None and component not in open_:
                    open_[component] = (index, Period(
                        env, component, refs[component], snap.committed_at, None, snap.sha,
                        snap.subject, snap.pull_request))
        out += [(index, components.index(p.component), p) for index, p in open_.values()]
        return [p for _, _, p in sorted(out, key=lambda item: (item[0], item[1]))]

    def current(self, env: str, component: str) -> Period | None:
        running = [p for p in self.periods(env, (component,)) if p.until is None]
        return running[-1] if running else None

    def ran(self, env: str, component: str) -> set[ImageRef]:
        """Every reference env has run for component."""
        return {p.ref for p in self.periods(env, (component,)) if p.ref is not None}

    @cached_property
    def _positions(self) -> dict[str, int]:
        return {s.sha: n for n, s in enumerate(self.snapshots)}

    def position(self, sha: str) -> int:
        """Where a commit of the history comes in it (0: the oldest)."""
        return self._positions[sha]

    def changes(self, env: str, components: Sequence[str] = COMPONENTS) -> list[Snapshot]:
        """The commits that changed env's references of components, oldest first."""
        out, last = [], None
        for snap in self.snapshots:
            refs = snap.refs.get(env)
            now = None if refs is None else tuple(refs[c] for c in components)
            if now is not None and now != last:
                out.append(snap)
            last = now
        return out

    def since_match(self, src: str, dst: str,
                    components: Sequence[str]) -> tuple[Snapshot | None, list[Snapshot]]:
        """The last commit after which dst ran src's references, and src's changes since.

        (None, every change of src) when dst never ran what src ran at the same time."""
        matched: Snapshot | None = None
        for snap in reversed(self.snapshots):
            a, b = snap.refs.get(src), snap.refs.get(dst)
            if a is not None and b is not None and all(a[c] == b[c] for c in components):
                matched = snap
                break
        changes = self.changes(src, components)
        if matched is not None:
            after = self.snapshots.index(matched)
            changes = [s for s in changes if self.snapshots.index(s) > after]
        return matched, changes


def _closed(period: Period, until: datetime) -> Period:
    return Period(period.env, period.component, period.ref, period.since, until, period.sha,
                  period.subject, period.pull_request)


def plain_data(text: str | None) -> Any:
    """Loaded data of a file at an old commit; a broken file counts as empty."""
    if text is None:
        return None
    try:
        return next(iter(yamlio.load_all_fast(text)), None) or {}
    except yaml.YAMLError:
        return {}


def read(root: Path, tip: str, envs: Sequence[str]) -> History:
    """The references of envs on tip's first-parent line (one read of each file version)."""
    paths = [CHART_VALUES, *(layout.values_path(e) for e in envs)]
    entries = list(reversed(gitrepo.first_parent_log(root, tip, paths)))
    texts = gitrepo.read_files(root, [(e.sha, p) for e in entries for p in paths])
    history = History(tip)
    parsed: dict[str | None, Any] = {}
    for entry in entries:
        data = {}
        for path in paths:
            text = texts[(entry.sha, path)]
            if text not in parsed:
                parsed[text] = plain_data(text)
            data[path] = parsed[text]
        chart_values = data[CHART_VALUES]
        refs = {env: refs_of(chart_values, data[layout.values_path(env)], strict=False)
                for env in envs if data[layout.values_path(env)] is not None}
        history.snapshots.append(Snapshot(entry.sha, entry.committed_at, entry.subject, refs))
    return history
