"""Promotion gates (`gates:` in .gitops-gen.yaml): which image references an environment takes.

- requireDigest: a reference the environment receives carries a digest.
- minSoak: a reference the environment receives comes from the environment before it in the
  promotion order (its source), which runs it in the target revision and has run it for at
  least minSoak, counted from the commit that gave it to the source. A reference the
  environment ran before (a rollback) needs no soak.

`refusals()` is the rule, over data; "received" means the references a change gives the
environment. promote, image set and rollback ask it before writing anything. validate asks it
(`gate_findings()`) for what the work tree changes against its merge-base with the target
revision, which is a pull request's change, under the gates of that merge-base (a branch
cannot loosen the gates it is judged by); references the change leaves alone are not judged
again, except that a reference without a digest where one is required is a warning.
Without git history (a checkout with no .git, as the validation service uses), validate says
the gates were not checked.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ..errors import GitopsGenError, InputError, PathRefused, SettingsError
from ..model import imagehistory
from ..model.imagehistory import History, Refs
from ..model.images import CHART_VALUES, ImageRef, refs_of
from ..repo import config, gitrepo, layout, safefs, yamlio
from ..repo.config import Gate, format_duration
from .findings import Finding, Severity
from .repofiles import EnvFiles, RepoFiles
from .rules import Rule

RULES = (
    Rule("gate-require-digest", "an environment whose gate requires it receives digests only"),
    Rule("gate-source", "an environment receives images from its source environment only"),
    Rule("gate-min-soak", "a received image has soaked in the source environment for minSoak"),
    Rule("gate-unchecked", "the promotion gates could be checked (git history is there)"),
)


@dataclass(frozen=True)
class Refusal:
    component: str
    rule: str
    message: str  # one line: why, then what would satisfy the gate


def source_of(env: str, order: Sequence[str]) -> str | None:
    """The environment before env in the promotion order (None for the first)."""
    index = list(order).index(env) if env in order else 0
    return order[index - 1] if index > 0 else None


def _when(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def refusals(env: str, gate: Gate, received: Mapping[str, ImageRef | None], *,
             source: str | None, history: History | None, now: datetime) -> list[Refusal]:
    """What env's gate refuses of the references a change gives it. history (of source and
    env on the target revision) is needed for minSoak; without it only digests are judged."""
    out: list[Refusal] = []
    if gate.require_digest:
        for component, ref in received.items():
            if ref is not None and not ref.digest:
                out.append(Refusal(component, "gate-require-digest",
                    f"{env} takes images by digest only (gates.{env}.requireDigest) and "
                    f"{component} would run {ref} without one; give the digest, e.g. "
                    f"gitops-gen image set {env} {component} "
                    f"{ref.tag or 'TAG'}@sha256:<digest>, or promote a digest into {env}"))
    if gate.min_soak is None or source is None or history is None:
        return out
    for component, ref in received.items():
        if ref is None or ref in history.ran(env, component):
            continue
        running = history.current(source, component)
        if running is None or running.ref != ref:
            now_runs = running.ref if running and running.ref else "nothing"
            out.append(Refusal(component, "gate-source",
                f"{env} takes references from {source} only (gates.{env}.minSoak) and "
                f"{source} does not run {component} {ref} (it runs {now_runs}); give it "
                f"to {source} first, or promote what {source} runs: gitops-gen promote "
                f"{source} {env}"))
            continue
        age = now - running.since
        if age < gate.min_soak:
            out.append(Refusal(component, "gate-min-soak",
                f"{component} {ref} has run in {source} for {format_duration(age)} (since "
                f"{_when(running.since)}, commit {running.sha[:8]}) and {env} takes it after "
                f"{format_duration(gate.min_soak)} (gates.{env}.minSoak); run again after "
                f"{_when(running.since + gate.min_soak)}, or lower that gate in "
                f"{layout.SETTINGS}"))
    return out


def check_receive(root: Path, env: str, received: Mapping[str, ImageRef | None], *,
                  tip: str, order: Sequence[str], now: datetime | None = None) -> list[Refusal]:
    """The gates' refusals of a change that gives env these references, judged against
    tip's history (promote, image set and rollback ask before they write)."""
    gate = config.load_gates(root).get(env)
    if gate is None:
        return []
    source = source_of(env, order)
    history = None
    if gate.min_soak is not None and source is not None and any(received.values()):
        history = imagehistory.read(root, tip, [source, env])
    return refusals(env, gate, received, source=source, history=history,
                    now=now or datetime.now(UTC))


# ---- validate --------------------------------------------------------------------------


def _finding(env_files: EnvFiles, refusal: Refusal, severity: Severity = "error") -> Finding:
    """At the overlay's tag line (its digest line for a wrong digest, when there is one)."""
    key = "digest" if "digest" in refusal.rule and yamlio.lookup(
        env_files.values.data, refusal.component, "image", "digest") is not None else "tag"
    line = env_files.values.line([refusal.component, "image", key])
    return Finding(refusal.rule, severity, env_files.env, env_files.values.path, line,
                   refusal.message)


def _chart_values(root: Path) -> Any:
    try:
        text = safefs.read_text(root, CHART_VALUES)
    except PathRefused:  # a file-refused finding of its own
        text = None
    return imagehistory.plain_data(text or "")


def _base_refs(root: Path, base: str, env: str) -> Refs:
    wanted = [(base, CHART_VALUES), (base, layout.values_path(env))]
    texts = gitrepo.read_files(root, wanted)
    chart, overlay = (imagehistory.plain_data(texts[w]) for w in wanted)
    return refs_of(chart, overlay, strict=False)


def _history_base(repo: RepoFiles) -> tuple[str, str] | None:
    """The target revision's commit and HEAD's merge-base with it; None without git history."""
    assert repo.settings is not None
    try:
        tip = gitrepo.revision_commit(repo.root, repo.settings.target_revision)
        base = gitrepo.merge_base_of(repo.root, "HEAD", tip) if tip else None
    except GitopsGenError:
        return None
    return (tip, base) if tip and base else None


def _env_findings(repo: RepoFiles, env_files: EnvFiles, gate: Gate, after: Refs, tip: str,
                  base: str, now: datetime) -> list[Finding]:
    assert repo.settings is not None
    before = _base_refs(repo.root, base, env_files.env)
    received = {c: r for c, r in after.items() if r is not None and r != before.get(c)}
    kept = {c: r for c, r in after.items() if c not in received}
    out = [_finding(env_files, r, "warning") for r in refusals(
        env_files.env, Gate(None, gate.require_digest), kept, source=None, history=None, now=now)]
    if not received:
        return out
    source = source_of(env_files.env, repo.settings.environments)
    history = None
    if gate.min_soak is not None and source is not None:
        history = imagehistory.read(repo.root, tip, [source, env_files.env])
    refused = refusals(env_files.env, gate, received, source=source, history=history, now=now)
    out += [_finding(env_files, r) for r in refused]
    if history is not None and refused and gitrepo.is_shallow(repo.root):
        out.append(Finding("gate-unchecked", "warning", env_files.env, layout.SETTINGS, None,
                           "this clone's history is shallow, so soak times may read short; "
                           "fetch the whole history (fetch-depth: 0)"))
    return out


def _gates_at(root: Path, base: str) -> dict[str, Gate] | None:
    """The gates of the settings at base ({} without any); None when they do not parse."""
    text = gitrepo.file_at(root, base, layout.SETTINGS)
    try:
        return config.parse_gates(yamlio.read(text, layout.SETTINGS)) if text else {}
    except InputError:
        return None


def gate_findings(repo: RepoFiles, now: datetime | None = None) -> list[Finding]:
    """The gates over the loaded environments (validate).

    A change is judged by the gates of its merge-base with the target revision, so a branch
    cannot loosen or drop the gates its own change is held to; gates a branch adds apply once
    it is merged."""
    try:
        work = config.load_gates(repo.root)
    except SettingsError as exc:
        return [Finding("settings", "error", None, layout.SETTINGS, exc.line,
                        f"{exc.problem}; {exc.fix}")]
    except InputError:
        return []  # a settings file that does not parse is a finding of its own already
    if repo.settings is None:
        return []
    where = _history_base(repo)
    if where is None:
        revision = repo.settings.target_revision
        return [Finding("gate-unchecked", "warning", env, layout.SETTINGS, None,
                        f"gates.{env} not checked: no git history of {revision} here; "
                        "validate in a clone that has it (CI: actions/checkout with "
                        "fetch-depth: 0)") for env in repo.envs if env in work]
    gates = _gates_at(repo.root, where[1])
    if gates is None:
        gates = work
    now = now or datetime.now(UTC)
    chart_values = _chart_values(repo.root)
    out: list[Finding] = []
    for env, env_files in repo.envs.items():
        if env not in gates or not isinstance(env_files.values.data, Mapping):
            continue
        try:
            after = refs_of(chart_values, env_files.values.data, where=env_files.values.path)
        except InputError:
            continue  # the values schema check reports the bad tag or digest
        out += _env_findings(repo, env_files, gates[env], after, *where, now)
    return out
