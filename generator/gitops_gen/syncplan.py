"""Argo CD's sync order for rendered objects, and the ways an order can stall or fail a sync.

plan_sync() reproduces what Argo CD's sync engine does (argocd-facts.md): phase (from
argocd.argoproj.io/hook, else Helm's hook annotation), then wave (sync-wave, else
helm.sh/hook-weight, else 0), then kind in a fixed order, then name; a Namespace moves into
the wave of the first thing it contains, a CRD into the wave of its first custom resource.
Argo CD applies one wave, waits until all of it is Healthy, then applies the next; the final
wave is not health-gated. check_plan() finds the orders that deadlock or fail that process.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from itertools import pairwise
from typing import Any

from .findings import Severity

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

    @property
    def health_gated(self) -> bool:
        return any(s.health_gated for s in self.steps)


@dataclass(frozen=True)
class PlanIssue:
    """A problem with the order; kind/name point at the object it is about."""

    rule: str
    severity: Severity
    message: str
    kind: str | None = None
    name: str | None = None


@dataclass
class SyncPlan:
    waves: list[Wave]
    notes: list[str] = field(default_factory=list)  # objects a sync leaves out, and why
    issues: list[PlanIssue] = field(default_factory=list)  # found while planning

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


def _annotations(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    ann = _get(obj, "metadata", "annotations")
    return ann if isinstance(ann, Mapping) else {}


def _csv(value: Any) -> list[str]:
    return [v.strip() for v in str(value or "").split(",") if v.strip()]


def _phases(obj: Mapping[str, Any]) -> tuple[list[str], bool, str | None]:
    """(phases, is a hook, why it is left out) as Argo CD's hook rules decide."""
    ann = _annotations(obj)
    types = [t for t in _csv(ann.get(HOOK)) if t in HOOK_TYPES]
    if not types:
        types = [HELM_HOOKS[t] for t in _csv(ann.get(HELM_HOOK)) if t in HELM_HOOKS]
    if types == ["Skip"]:
        return [], True, f"{HOOK}: Skip"
    is_hook = HOOK in ann or (HELM_HOOK in ann and ann.get(HELM_HOOK) != "crd-install")
    if not is_hook:
        return ["Sync"], False, None
    phases = [p for p in PHASES if p in types]
    if phases:
        return phases, True, None
    if HOOK not in ann and "test" in " ".join(_csv(ann.get(HELM_HOOK))):
        return [], True, f"Helm test hook ({HELM_HOOK}: {ann[HELM_HOOK]}); Argo CD never runs it"
    value = ann.get(HOOK, ann.get(HELM_HOOK))
    return [], True, f"hook {value!r} is no sync phase (PostDelete and Helm delete hooks run " \
        "only when the Application is deleted)"


def _wave(obj: Mapping[str, Any], ref: str, issues: list[PlanIssue]) -> int:
    ann = _annotations(obj)
    for key in (WAVE, HELM_WEIGHT):
        if key in ann:
            text = str(ann[key])
            if _INTEGER.match(text):
                return int(text)
            issues.append(PlanIssue(
                "sync-wave-invalid", "error",
                f"{ref}: {key} {text!r} is not an integer, so Argo CD ignores it; write a whole "
                "number as a string, such as \"1\" or \"-2\"", *ref.split("/", 1)))
    return 0


def _get(node: Any, *keys: str) -> Any:
    """node[k1][k2]... or None when any level is missing or not a mapping."""
    for key in keys:
        if not isinstance(node, Mapping):
            return None
        node = node.get(key)
    return node


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
    kind = _get(task.obj, "spec", "names", "kind")
    return f"{_get(task.obj, 'spec', 'group')}/{kind}" if kind else None


def _is_lb(obj: Mapping[str, Any]) -> bool:
    return bool(_get(obj, "spec", "type") == "LoadBalancer")


def _waits_for(task: _Task) -> tuple[str, bool]:
    if task.hook and task.kind in ("Job", "Pod"):
        return "hook completes", True
    if task.kind == "Service":
        return ("external address", True) if _is_lb(task.obj) else (_AT_ONCE, False)
    if task.kind == "Application" and _group(task.obj) == "argoproj.io":
        return "nothing (no Application health check since Argo CD 1.8)", False
    phrase = _WAITS.get(task.kind)
    return (phrase, True) if phrase else (_AT_ONCE, False)


def plan_sync(
    objects: Iterable[Mapping[str, Any] | None], namespace: str | None = None
) -> SyncPlan:
    """The order Argo CD syncs `objects` in. `namespace` is the Application's destination
    namespace, given to namespaced objects that name none (as Argo CD does)."""
    tasks: list[_Task] = []
    notes: list[str] = []
    issues: list[PlanIssue] = []
    for obj in objects:
        if not isinstance(obj, Mapping) or not obj.get("kind"):
            continue
        meta = _get(obj, "metadata")
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
    waves: list[Wave] = []
    for i, task in enumerate(tasks):
        final = i >= len(tasks) - 1 or (task.phase, task.wave) == (tasks[-1].phase, tasks[-1].wave)
        waits, gated = _waits_for(task)
        component = _get(task.obj, "metadata", "labels", COMPONENT)
        step = Step(task.kind, task.name, task.namespace or None,
                    None if component is None else str(component),
                    gated and (not final or task.hook), waits, task.hook, task.obj)
        if waves and (waves[-1].phase, waves[-1].number) == (task.phase, task.wave):
            waves[-1] = Wave(task.phase, task.wave, (*waves[-1].steps, step), final)
        else:
            waves.append(Wave(task.phase, task.wave, (step,), final))
    return SyncPlan(waves, notes, issues)


# --- checking ---------------------------------------------------------------------------------


def _pod_spec(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    kind = obj.get("kind")
    path = {"Pod": ("spec",), "CronJob": ("spec", "jobTemplate", "spec", "template", "spec")}
    spec = _get(obj, *path.get(str(kind), ("spec", "template", "spec")))
    return spec if isinstance(spec, Mapping) else {}


def reads(obj: Mapping[str, Any]) -> set[tuple[str, str]]:
    """(kind, name) of the ConfigMaps, Secrets and PVCs a workload's pods need to start."""
    pod = _pod_spec(obj)
    out: set[tuple[str, str]] = set()

    def add(kind: str, ref: Any, key: str = "name") -> None:
        if isinstance(ref, Mapping) and ref.get(key) and not ref.get("optional"):
            out.add((kind, str(ref[key])))

    for volume in pod.get("volumes") or []:
        if isinstance(volume, Mapping):
            add("ConfigMap", volume.get("configMap"))
            add("Secret", volume.get("secret"), "secretName")
            add("PersistentVolumeClaim", volume.get("persistentVolumeClaim"), "claimName")
    for group in ("initContainers", "containers"):
        for container in pod.get(group) or []:
            if not isinstance(container, Mapping):
                continue
            for source in container.get("envFrom") or []:
                if isinstance(source, Mapping):
                    add("ConfigMap", source.get("configMapRef"))
                    add("Secret", source.get("secretRef"))
            for env in container.get("env") or []:
                value_from = env.get("valueFrom") if isinstance(env, Mapping) else None
                if isinstance(value_from, Mapping):
                    add("ConfigMap", value_from.get("configMapKeyRef"))
                    add("Secret", value_from.get("secretKeyRef"))
    return out


def _rank(wave: Wave) -> tuple[int, int]:
    return PHASES.index(wave.phase), wave.number


def check_plan(plan: SyncPlan) -> list[PlanIssue]:
    """Orders that stall or fail a sync (errors) or waste a wave (warnings)."""
    sync = [(w, s) for w, s in plan.steps() if not s.hook]
    return [*plan.issues, *_dependency_issues(sync), *_final_wave_issues(plan, sync),
            *_component_issues(sync), *_hpa_issues(sync), *_hook_issues(plan),
            *_empty_wave_issues(plan)]


def _dependency_issues(sync: list[tuple[Wave, Step]]) -> Iterator[PlanIssue]:
    """A workload needs what it reads in its own wave or earlier; a PVC exactly in its wave."""
    where = {(s.kind, s.name): w for w, s in sync}
    for wave, step in sync:
        for kind, name in sorted(reads(step.obj)) if step.kind in WORKLOADS else []:
            dep = where.get((kind, name))
            if dep is not None and _rank(dep) > _rank(wave):
                yield PlanIssue(
                    "sync-reads-later-wave", "error",
                    f"{step.ref} (wave {wave.number}) needs {kind}/{name}, which comes later "
                    f"(wave {dep.number}): its pods cannot start, so the wave never turns "
                    f"Healthy and the sync stalls; put {kind}/{name} in wave {wave.number} or "
                    "earlier", step.kind, step.name)
            elif kind == "PersistentVolumeClaim" and dep is not None and _rank(dep) < _rank(wave):
                yield PlanIssue(
                    "sync-pvc-wave", "error",
                    f"PersistentVolumeClaim/{name} is in wave {dep.number}, before {step.ref} "
                    f"(wave {wave.number}) that mounts it: under a WaitForFirstConsumer storage "
                    "class it stays Pending until a pod uses it, and Argo CD waits for it "
                    f"forever; put it in wave {wave.number} (kind order still applies it first)",
                    kind, name)


def _final_wave_issues(plan: SyncPlan, sync: list[tuple[Wave, Step]]) -> Iterator[PlanIssue]:
    for wave, step in sync:
        if wave.final:
            continue
        if step.kind == "HorizontalPodAutoscaler":
            why = ("is Degraded until metrics can be read (no metrics-server, or pods without "
                   "resource requests), which fails the sync")
        elif step.kind == "Ingress" or (step.kind == "Service" and _is_lb(step.obj)):
            why = ("stays Progressing until an external address is published (forever on "
                   "Minikube without a tunnel), so the sync never ends")
        else:
            continue
        yield PlanIssue(
            "sync-final-wave", "error",
            f"{step.ref} is in wave {wave.number}, which Argo CD health-gates: it {why}; move it "
            f"to the final wave ({plan.waves[-1].number})", step.kind, step.name)


def _component_issues(sync: list[tuple[Wave, Step]]) -> list[PlanIssue]:
    """database < backend < frontend, judged on workloads and what they read."""
    by_name = {(s.kind, s.name): (w, s) for w, s in sync}
    needed: dict[str, list[tuple[Wave, Step]]] = {}
    starts: dict[str, list[tuple[Wave, Step]]] = {}
    for wave, step in sync:
        if step.kind not in WORKLOADS or step.component not in COMPONENT_ORDER:
            continue
        starts.setdefault(step.component, []).append((wave, step))
        deps = [by_name[r] for r in reads(step.obj) if r in by_name]
        needed.setdefault(step.component, []).extend([(wave, step), *deps])
    out: list[PlanIssue] = []
    for before, after in pairwise(COMPONENT_ORDER):
        if not needed.get(before) or not starts.get(after):
            continue
        last = max(needed[before], key=lambda ws: _rank(ws[0]))
        first = min(starts[after], key=lambda ws: _rank(ws[0]))
        if _rank(last[0]) < _rank(first[0]):
            continue
        out.append(PlanIssue(
            "sync-component-order", "error",
            f"{after} starts before {before} is ready: {first[1].ref} is in wave "
            f"{first[0].number} but {before}'s {last[1].ref} is in wave {last[0].number}; give "
            f"every {before} object a lower argocd.argoproj.io/sync-wave than the {after} "
            "workloads", first[1].kind, first[1].name))
    return out


def _hpa_issues(sync: list[tuple[Wave, Step]]) -> list[PlanIssue]:
    steps = {(s.kind, s.name): s for _, s in sync}
    out: list[PlanIssue] = []
    for _, step in sync:
        if step.kind != "HorizontalPodAutoscaler":
            continue
        target = (str(_get(step.obj, "spec", "scaleTargetRef", "kind")),
                  str(_get(step.obj, "spec", "scaleTargetRef", "name")))
        workload = steps.get(target)
        spec = workload.obj.get("spec") if workload else None
        if workload and isinstance(spec, Mapping) and "replicas" in spec:
            out.append(PlanIssue(
                "sync-hpa-replicas", "warning",
                f"{workload.ref} sets replicas: {spec['replicas']} while {step.ref} scales it: "
                "every sync (and self-heal) resets the replica count the HPA chose; omit "
                "replicas when autoscaling is enabled", workload.kind, workload.name))
    return out


def _hook_issues(plan: SyncPlan) -> list[PlanIssue]:
    """A PreSync workload (a migration Job) runs before any Sync wave creates the database."""
    database = next((s for w, s in plan.steps() if w.phase == "Sync" and s.kind in WORKLOADS
                     and s.component == COMPONENT_ORDER[0]), None)
    if database is None:
        return []
    return [PlanIssue(
        "sync-hook-before-database", "warning",
        f"{step.ref} is a PreSync hook, so it runs before every Sync wave: on the first install "
        f"{database.ref} does not exist yet; put it in a Sync wave between the database and "
        "the backend instead of making it a hook", step.kind, step.name)
        for wave, step in plan.steps()
        if wave.phase == "PreSync" and step.kind in WORKLOADS and step.component != "database"]


def _empty_wave_issues(plan: SyncPlan) -> list[PlanIssue]:
    out: list[PlanIssue] = []
    for wave, following in pairwise(plan.waves):
        if wave.health_gated or any(s.hook for s in wave.steps):
            continue
        here = {(s.kind, s.name) for s in wave.steps}
        users = [s.ref for s in following.steps if s.kind in WORKLOADS and reads(s.obj) & here]
        refs = ", ".join(s.ref for s in wave.steps[:4]) + (", ..." if len(wave.steps) > 4 else "")
        uses = f"; {', '.join(users)} in wave {following.number} reads them" if users else ""
        out.append(PlanIssue(
            "sync-wave-not-gated", "warning",
            f"{wave.phase} wave {wave.number} holds only objects Argo CD counts as healthy at "
            f"once ({refs}){uses}: wave {following.number} starts as soon as they are applied, "
            "so a separate wave gains nothing but a delay; merge it into the wave that uses "
            "them (kind order already applies Secrets and ConfigMaps before workloads)",
            wave.steps[0].kind, wave.steps[0].name))
    return out


# --- text ---------------------------------------------------------------------------------------


def render_plan_text(plan: SyncPlan) -> str:
    """The plan as plain text: one block per wave, one line per object."""
    lines: list[str] = []
    for wave in plan.waves:
        gate = ("final wave: not health-gated, the sync ends once it is applied" if wave.final
                else "waits until all Healthy" if wave.health_gated
                else "nothing to wait for")
        lines.append(f"{wave.phase} wave {wave.number}  ({gate})")
        width = max(len(s.ref) for s in wave.steps)
        for step in wave.steps:
            tags = [t for t in (step.component, "hook" if step.hook else None) if t]
            tag = f" [{', '.join(tags)}]" if tags else ""
            waits = f"waits for: {step.waits_for}"
            if wave.final and not step.health_gated and step.waits_for != _AT_ONCE:
                waits = f"not waited for (elsewhere: {step.waits_for})"
            lines.append(f"  {step.ref:<{width}}  {waits}{tag}")
    lines += [f"note: {note}" for note in plan.notes]
    return "\n".join(lines) + ("\n" if lines else "")
