"""Argo CD's sync order for rendered objects, and the ways an order can stall or fail a sync.

plan_sync() reproduces what Argo CD's sync engine does (argocd-facts.md): phase (from
argocd.argoproj.io/hook, else Helm's hook annotation), then wave (sync-wave, else
helm.sh/hook-weight, else 0), then kind in a fixed order, then name; a Namespace moves into
the wave of the first thing it contains, a CRD into the wave of its first custom resource.
Argo CD applies one wave, waits until all of it is Healthy, then applies the next; the final
wave is not health-gated. The Application's sync options that change this order or waiting
(SyncOptions: PruneLast, ApplyOutOfSyncOnly, Prune, automated.prune, CreateNamespace) are
modelled too. syncchecks.check_plan() finds the orders that deadlock or fail that process.

Line numbers below are of argoproj/argo-cd at tag v3.5.1, whose gitops-engine is in-tree.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from ..repo.yamlio import lookup
from .syncoptions import (
    PruneLast,
    SyncOptions,
    annotations_of,
    csv,
    has_annotation_option,
    option_notes,
)

PHASES = ("PreSync", "Sync", "PostSync", "SyncFail")
HOOK_TYPES = (*PHASES, "Skip")
HELM_HOOKS = {"pre-install": "PreSync", "pre-upgrade": "PreSync",
              "post-install": "PostSync", "post-upgrade": "PostSync"}
KIND_ORDER = (
    "Namespace", "NetworkPolicy", "ResourceQuota", "LimitRange", "PodSecurityPolicy",
    "PodDisruptionBudget", "ServiceAccount", "Secret", "SecretList", "ConfigMap",
    "StorageClass", "PersistentVolume", "PersistentVolumeClaim", "CustomResourceDefinition",
    "ClusterRole", "ClusterRoleList", "ClusterRoleBinding", "ClusterRoleBindingList", "Role",
    "RoleList", "RoleBinding", "RoleBindingList", "Service", "DaemonSet", "Pod",
    "ReplicationController", "ReplicaSet", "Deployment", "HorizontalPodAutoscaler",
    "StatefulSet", "Job", "CronJob", "IngressClass", "Ingress", "APIService",
)
_KIND_RANK = {kind: i - len(KIND_ORDER) for i, kind in enumerate(KIND_ORDER)}  # unknown: 0

WAVE = "argocd.argoproj.io/sync-wave"
HOOK = "argocd.argoproj.io/hook"
HELM_HOOK = "helm.sh/hook"
HELM_WEIGHT = "helm.sh/hook-weight"
COMPONENT = "app.kubernetes.io/component"
COMPONENT_ORDER = ("database", "backend", "frontend")
WORKLOADS = frozenset({"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet",
                       "ReplicationController", "Job", "CronJob", "Pod"})
_CLUSTER_SCOPED = frozenset({
    "Namespace", "ClusterRole", "ClusterRoleBinding", "CustomResourceDefinition", "StorageClass",
    "PersistentVolume", "IngressClass", "APIService", "PriorityClass", "RuntimeClass",
    "ValidatingWebhookConfiguration", "MutatingWebhookConfiguration", "PodSecurityPolicy",
})
_INTEGER = re.compile(r"^[+-]?[0-9]+$")  # what Go's strconv.Atoi accepts
_AT_ONCE = "nothing (healthy at once)"
_WAITS = {
    "Deployment": "updated and available replicas = spec (readiness probes)",
    "StatefulSet": "ready and updated replicas = spec (readiness probes)",
    "DaemonSet": "updated and available pods on every node",
    "ReplicaSet": "available replicas = spec",
    "ReplicationController": "available replicas = spec",
    "PersistentVolumeClaim": "Bound",
    "Ingress": "external address",
    "Job": "complete",
    "Pod": "Running and ready (or Succeeded)",
    "HorizontalPodAutoscaler": "metrics readable (Degraded without metrics-server)",
    "PodDisruptionBudget": "status from the disruption controller",
    "CronJob": "first status (Degraded if its last run failed)",
    "APIService": "Available condition",
}


@dataclass(frozen=True)
class Step:
    """One object applied in a wave, and what Argo CD waits for before the next wave."""

    kind: str
    name: str
    namespace: str | None
    component: str | None
    health_gated: bool
    waits_for: str
    hook: bool = False
    obj: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def ref(self) -> str:
        return f"{self.kind}/{self.name}"


@dataclass(frozen=True)
class Wave:
    phase: str
    number: int
    steps: tuple[Step, ...]
    final: bool = False
    pruning_follows: bool = False  # the final wave but for PruneLast's prune wave

    @property
    def health_gated(self) -> bool:
        return any(s.health_gated for s in self.steps)


@dataclass(frozen=True)
class PlanIssue:
    """A problem with the order; kind/name point at the object it is about."""

    rule: str
    severity: Literal["error", "warning"]  # a finding's severity, when reported
    message: str
    kind: str | None = None
    name: str | None = None
    option: str | None = None  # the Application's sync option it is about, e.g. PruneLast=true


@dataclass
class SyncPlan:
    waves: list[Wave]
    notes: list[str] = field(default_factory=list)  # objects a sync leaves out, and why
    issues: list[PlanIssue] = field(default_factory=list)  # found while planning
    options: SyncOptions = field(default_factory=SyncOptions)
    prune_last: PruneLast | None = None  # set when a sync that prunes gets a prune wave
    option_notes: list[str] = field(default_factory=list)  # what the sync options change

    def steps(self) -> Iterator[tuple[Wave, Step]]:
        for wave in self.waves:
            for step in wave.steps:
                yield wave, step


# --- planning ---------------------------------------------------------------------------------


@dataclass
class _Task:
    obj: Mapping[str, Any]
    kind: str
    name: str
    namespace: str
    phase: str
    wave: int
    hook: bool


def _phases(obj: Mapping[str, Any]) -> tuple[list[str], bool, str | None]:
    """(phases, is a hook, why it is left out) as Argo CD's hook rules decide."""
    ann = annotations_of(obj)
    types = [t for t in csv(ann.get(HOOK)) if t in HOOK_TYPES]
    if not types:
        types = [HELM_HOOKS[t] for t in csv(ann.get(HELM_HOOK)) if t in HELM_HOOKS]
    if types == ["Skip"]:
        return [], True, f"{HOOK}: Skip"
    is_hook = HOOK in ann or (HELM_HOOK in ann and ann.get(HELM_HOOK) != "crd-install")
    if not is_hook:
        return ["Sync"], False, None
    phases = [p for p in PHASES if p in types]
    if phases:
        return phases, True, None
    if HOOK not in ann and "test" in " ".join(csv(ann.get(HELM_HOOK))):
        return [], True, f"Helm test hook ({HELM_HOOK}: {ann[HELM_HOOK]}); Argo CD never runs it"
    value = ann.get(HOOK, ann.get(HELM_HOOK))
    return [], True, f"hook {value!r} is no sync phase (PostDelete and Helm delete hooks run " \
        "only when the Application is deleted)"


def _wave(obj: Mapping[str, Any], ref: str, issues: list[PlanIssue]) -> int:
    ann = annotations_of(obj)
    for key in (WAVE, HELM_WEIGHT):
        if key in ann:
            text = str(ann[key])
            if _INTEGER.fullmatch(text):
                return int(text)
            issues.append(PlanIssue(
                "sync-wave-invalid", "error",
                f"{ref}: {key} {text!r} is not an integer, so Argo CD ignores it; write a whole "
                "number as a string, such as \"1\" or \"-2\"", *ref.split("/", 1)))
    return 0


def _group(obj: Mapping[str, Any]) -> str:
    api = str(obj.get("apiVersion") or "")
    return api.split("/", 1)[0] if "/" in api else ""


def _adjust(tasks: list[_Task], dep_key: Any, ref_key: Any) -> None:
    """Move a dependency (Namespace, CRD) before its first dependent, into that one's wave."""
    first: dict[str, int] = {}
    for i in range(len(tasks)):
        task = tasks[i]
        key = dep_key(task)
        if key is not None:
            if key in first:
                index = first[key]
                task.wave, task.phase = tasks[index].wave, tasks[index].phase
                tasks[index + 1 : i + 1] = tasks[index:i]
                tasks[index] = task
                first = {k: v + 1 if v >= index else v for k, v in first.items()}
        else:
            ref = ref_key(task)
            if ref is not None and ref not in first:
                first[ref] = i


def _crd_key(task: _Task) -> str | None:
    if task.kind != "CustomResourceDefinition" or _group(task.obj) != "apiextensions.k8s.io":
        return None
    kind = lookup(task.obj, "spec", "names", "kind")
    return f"{lookup(task.obj, 'spec', 'group')}/{kind}" if kind else None


def is_load_balancer(obj: Mapping[str, Any]) -> bool:
    """A Service of type LoadBalancer: healthy only once it has an external address."""
    return bool(lookup(obj, "spec", "type") == "LoadBalancer")


def _waits_for(task: _Task) -> tuple[str, bool]:
    if task.hook and task.kind in ("Job", "Pod"):
        return "hook completes", True
    if task.kind == "Service":
        return ("external address", True) if is_load_balancer(task.obj) else (_AT_ONCE, False)
    if task.kind == "Application" and _group(task.obj) == "argoproj.io":
        return "nothing (no Application health check since Argo CD 1.8)", False
    phrase = _WAITS.get(task.kind)
    return (phrase, True) if phrase else (_AT_ONCE, False)


def plan_sync(
    objects: Iterable[Mapping[str, Any] | None], namespace: str | None = None,
    options: SyncOptions | None = None,
) -> SyncPlan:
    """The order Argo CD syncs `objects` in. `namespace` is the Application's destination
    namespace, given to namespaced objects that name none (as Argo CD does); `options` are the
    Application's (syncoptions.application_options)."""
    options = options or SyncOptions()
    tasks: list[_Task] = []
    notes: list[str] = []
    issues: list[PlanIssue] = []
    for obj in objects:
        if not isinstance(obj, Mapping) or not obj.get("kind"):
            continue
        meta = lookup(obj, "metadata")
        meta = meta if isinstance(meta, Mapping) else {}
        kind, name = str(obj["kind"]), str(meta.get("name") or meta.get("generateName") or "")
        ns = str(meta.get("namespace") or "")
        ns = ns or ("" if kind in _CLUSTER_SCOPED else namespace or "")
        phases, hook, left_out = _phases(obj)
        if left_out:
            notes.append(f"{kind}/{name} is not synced: {left_out}")
        wave = _wave(obj, f"{kind}/{name}", issues)
        tasks += [_Task(obj, kind, name, ns, phase, wave, hook) for phase in phases]
    tasks.sort(key=lambda t: (PHASES.index(t.phase), t.wave, _KIND_RANK.get(t.kind, 0), t.name,
                              t.namespace))
    _adjust(tasks, lambda t: t.name if t.kind == "Namespace" and _group(t.obj) == "" else None,
            lambda t: t.namespace or None)
    _adjust(tasks, _crd_key, lambda t: f"{_group(t.obj)}/{t.kind}")
    # SyncFail hooks run only when the sync fails: they are split off before Argo CD looks for
    # the last wave (sync_context.go L630, L703-712).
    ran = [(t.phase, t.wave) for t in tasks if t.phase != "SyncFail"]
    last = ran[-1] if ran else None
    prune_last = _prune_last(tasks, options)
    waves: list[Wave] = []
    for task in tasks:
        key = (task.phase, task.wave)
        final = key == last and (prune_last is None or last[0] != "Sync")
        follows = key == last and not final
        waits, gated = _waits_for(task)
        component = lookup(task.obj, "metadata", "labels", COMPONENT)
        step = Step(task.kind, task.name, task.namespace or None,
                    None if component is None else str(component),
                    gated and (not final or task.hook), waits, task.hook, task.obj)
        if waves and (waves[-1].phase, waves[-1].number) == key:
            waves[-1] = Wave(task.phase, task.wave, (*waves[-1].steps, step), final, follows)
        else:
            waves.append(Wave(task.phase, task.wave, (step,), final, follows))
    return SyncPlan(waves, notes, issues, options, prune_last,
                    option_notes(options, namespace, prune_last))


def _prune_last(tasks: list[_Task], options: SyncOptions) -> PruneLast | None:
    """PruneLast's wave, for an Application option or objects annotated with it (prune tasks
    come from live objects, so an annotated object counts once it leaves the chart)."""
    annotated = tuple(dict.fromkeys(
        (t.kind, t.name) for t in tasks
        if not t.hook and has_annotation_option(t.obj, "PruneLast=true")))
    if not (options.prune_last or annotated):
        return None
    sync_waves = [t.wave for t in tasks if t.phase == "Sync"]
    # sync_context.go L1129-1137: the greatest Sync wave, starting from 0, plus one.
    wave = max([0, *sync_waves]) + 1
    gated = max(sync_waves) if sync_waves else None
    skipped = None
    # sync_context.go L1454-1459: prune tasks of a sync without prune, or with Prune=false,
    # are skipped ("ignored (requires pruning)" / "ignored (no prune)"), but they exist and
    # keep their wave.
    if options.default_prune == "false":
        skipped = "Prune=false: its prune tasks are skipped (\"ignored (no prune)\")"
    elif options.automated and not options.automated_prune:
        skipped = ("automated.prune is not true: the prune tasks of an automated sync are "
                   "skipped (\"ignored (requires pruning)\")")
    return PruneLast(wave, gated if gated is not None else wave - 1, options.prune_last,
                     annotated, skipped)


# --- text ---------------------------------------------------------------------------------------


def render_plan_text(plan: SyncPlan) -> str:
    """The plan as plain text: one block per wave, one line per object."""
    lines: list[str] = []
    prune = plan.prune_last
    # The prune wave is a Sync wave after every other: before PostSync and SyncFail hooks.
    prune_at = -1 if prune is None else 1 + max(
        (i for i, w in enumerate(plan.waves) if w.phase in ("PreSync", "Sync")), default=-1)
    for i, wave in enumerate(plan.waves):
        if i == prune_at and prune is not None:
            lines.append(_prune_wave_line(prune))
        if wave.final:
            gate = "final wave: not health-gated, the sync ends once it is applied"
        elif wave.phase == "SyncFail":
            gate = "runs only when the sync fails"
        elif wave.pruning_follows and prune is not None:
            gate = (f"waits until all Healthy on a sync that prunes: PruneLast=true prunes in "
                    f"wave {prune.wave} after it; a sync that prunes nothing ends once this "
                    "wave is applied")
        else:
            gate = "waits until all Healthy" if wave.health_gated else "nothing to wait for"
        lines.append(f"{wave.phase} wave {wave.number}  ({gate})")
        width = max(len(s.ref) for s in wave.steps)
        for step in wave.steps:
            tags = [t for t in (step.component, "hook" if step.hook else None) if t]
            tag = f" [{', '.join(tags)}]" if tags else ""
            waits = f"waits for: {step.waits_for}"
            if wave.final and not step.health_gated and step.waits_for != _AT_ONCE:
                waits = f"not waited for (elsewhere: {step.waits_for})"
            lines.append(f"  {step.ref:<{width}}  {waits}{tag}")
    if prune is not None and prune_at == len(plan.waves):
        lines.append(_prune_wave_line(prune))
    lines += [f"note: {note}" for note in plan.notes]
    lines += [f"note: {note}" for note in plan.option_notes]
    return "\n".join(lines) + ("\n" if lines else "")


def _prune_wave_line(prune: PruneLast) -> str:
    what = "objects gone from the chart" if prune.app_level else \
        " or ".join(f"{k}/{n}" for k, n in prune.annotated) + ", once gone from the chart,"
    return (f"Sync wave {prune.wave}  (prune wave, PruneLast=true: {what} are deleted here, "
            "after every Sync wave; not health-gated)")
