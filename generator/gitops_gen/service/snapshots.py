"""The state of the repository at one commit, as the dashboard and the pull-request comment show it.

take() reads a commit (a temporary checkout, never the work tree): the validation report,
each environment in promotion order with its destination, image tags, chart version, secrets'
recipients and placeholders, whether it is behind its predecessor, and its sync plan. A
snapshot depends on the commit alone, so any replica computes the same one; secret values
never enter it (secrets stay ENC placeholders, recipients are public keys).
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..checks import isolated, rendering
from ..checks.findings import Finding, Report
from ..errors import GitopsGenError
from ..model import environments, syncplan
from ..repo import gitrepo, layout, safefs, yamlio
from ..repo.gitrepo import CommitInfo
from ..repo.limits import RunLimits

COMPONENTS = ("backend", "frontend")
CHART_FILE = f"{layout.CHART_DIR}/Chart.yaml"
CHART_VALUES = f"{layout.CHART_DIR}/{layout.VALUES_FILE}"


@dataclass(frozen=True)
class Image:
    """A component's image tag in an environment; default: it comes from the chart."""

    tag: str | None
    default: bool = False

    def describe(self) -> str:
        return (self.tag or "(none)") + (" (chart default)" if self.default else "")


_VERSION = re.compile(r"v?(\d+(?:\.\d+)*)")


def version_of(tag: str | None) -> tuple[int, ...] | None:
    """A tag like 1.2.3 or v1.2 as numbers; None for any other tag (a name, a sha)."""
    match = _VERSION.fullmatch(tag or "")
    return tuple(int(part) for part in match[1].split(".")) if match else None


@dataclass(frozen=True)
class Move:
    """What promoting from the predecessor would change: component, from here, to there."""

    component: str
    old: Image
    new: Image

    @property
    def backwards(self) -> bool:
        """Both tags are versions and the new one is lower (a promotion would go back)."""
        old, new = version_of(self.old.tag), version_of(self.new.tag)
        return old is not None and new is not None and new < old


@dataclass
class EnvState:
    name: str
    namespace: str = ""
    destination: str = ""
    images: dict[str, Image] = field(default_factory=dict)
    recipients: list[str] = field(default_factory=list)
    placeholders: list[str] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    predecessor: str | None = None
    behind: list[Move] = field(default_factory=list)
    plan: syncplan.SyncPlan | None = None
    problem: str | None = None  # why the environment could not be described or planned

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.is_error]

    @property
    def ahead(self) -> bool:
        """Its tags differ from its predecessor's only by being newer versions."""
        return bool(self.behind) and all(m.backwards for m in self.behind)

    @property
    def warnings(self) -> list[Finding]:
        return [f for f in self.findings if not f.is_error]


@dataclass
class Snapshot:
    commit: CommitInfo
    report: Report
    envs: list[EnvState]
    chart_version: str | None
    seconds: float  # how long taking it took
    taken_at: float  # time.time() when done

    @property
    def sha(self) -> str:
        return self.commit.sha

    @property
    def general_findings(self) -> list[Finding]:
        """Findings about no one environment (settings, .sops.yaml, the root Application)."""
        return [f for f in self.report.sorted_findings() if f.env is None]


def chart_version(tree: Path) -> str | None:
    return _string(read_yaml(tree, CHART_FILE), "version")


def read_yaml(tree: Path, path: str) -> Any:
    try:
        text = safefs.read_text(tree, path)
        return yamlio.read(text, path) if text is not None else None
    except (OSError, GitopsGenError):
        return None


def _string(data: Any, *keys: str) -> str | None:
    value = yamlio.lookup(data, *keys)
    return str(value) if isinstance(value, (str, int, float)) else None


def images(tree: Path, env: str, chart_values: Any) -> dict[str, Image]:
    """Each component's image tag in env: its overlay's, else the chart's default."""
    values = read_yaml(tree, layout.values_path(env))
    out = {}
    for component in COMPONENTS:
        own = _string(values, component, "image", "tag")
        out[component] = (Image(own) if own is not None
                          else Image(_string(chart_values, component, "image", "tag"), True))
    return out


def moves(old: dict[str, Image], new: dict[str, Image]) -> list[Move]:
    """Components whose tag differs between two environments (or two commits of one)."""
    return [Move(c, old[c], new[c]) for c in COMPONENTS
            if c in old and c in new and old[c].tag != new[c].tag]


def describe_envs(tree: Path, report: Report) -> list[EnvState]:
    """Every environment of tree in promotion order (then any others), without plans."""
    chart_values = read_yaml(tree, CHART_VALUES)
    names = environments.known_names(tree)
    states = []
    for name in names:
        state = EnvState(name, findings=[f for f in report.sorted_findings() if f.env == name])
        try:
            info = environments.describe(tree, name)
        except GitopsGenError as exc:
            state.problem = exc.message
        else:
            state.namespace, state.destination = info.namespace, info.destination
            state.recipients, state.placeholders = info.recipients, info.placeholders
        state.images = images(tree, name, chart_values)
        states.append(state)
    for before, after in zip(states, states[1:], strict=False):
        after.predecessor = before.name
        after.behind = moves(after.images, before.images)
    return states


def take(root: Path, sha: str, run_limits: RunLimits | None = None) -> Snapshot:
    """The snapshot of commit sha of the repository at root."""
    with rendering.checkout(root, sha) as tree:
        return from_tree(tree, gitrepo.commit_info(root, sha), run_limits)


def from_tree(tree: Path, commit: CommitInfo, run_limits: RunLimits | None = None) -> Snapshot:
    """The snapshot of commit, whose files are checked out at tree. Validation and rendering
    run in worker processes under run_limits (checks/isolated.py)."""
    start = time.monotonic()
    report = isolated.validate(tree, run_limits=run_limits)
    states = describe_envs(tree, report)
    for state in states:
        if state.problem is None:
            try:
                rendered = isolated.render(tree, state.name, run_limits=run_limits)
                state.plan = rendering.plan_environment(tree, state.name, rendered)
            except GitopsGenError as exc:
                state.problem = exc.message
        if state.problem:
            state.problem = state.problem.replace(str(tree), commit.sha[:12])
    return Snapshot(commit, report, states, chart_version(tree), time.monotonic() - start,
                    time.time())
