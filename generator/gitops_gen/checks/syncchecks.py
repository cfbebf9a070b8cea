"""The ways a sync order stalls or fails Argo CD's sync, found in a SyncPlan (syncplan).

A workload reading a ConfigMap, Secret or PVC of a later wave never turns Healthy; a PVC in
an earlier wave than its first pod waits forever under WaitForFirstConsumer; an HPA, Ingress or
LoadBalancer Service outside the final wave may never turn Healthy, and PruneLast=true takes
the final wave's exemption away on every sync that prunes; components out of order
(database < backend < frontend); replicas fighting an HPA; PreSync hooks that run before the
database exists; waves that gate nothing.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from itertools import pairwise
from typing import Any

from ..model.syncplan import (
    COMPONENT_ORDER,
    PHASES,
    WORKLOADS,
    PlanIssue,
    Step,
    SyncPlan,
    Wave,
    is_load_balancer,
)
from ..repo.yamlio import lookup
from .rules import Rule

RULES = (
    # model/syncplan.py emits this one while it reads the waves
    Rule("sync-wave-invalid", "every sync-wave or hook weight is an integer"),
    Rule("sync-pvc-wave", "a PersistentVolumeClaim is in the wave of the first pod that mounts it"),
    Rule("sync-final-wave", "what Argo CD may never see healthy is in the final wave"),
    Rule("sync-prune-last", "PruneLast=true does not take the final wave's exemption away"),
    Rule("sync-component-order", "the database syncs before the backend, the backend before the "
         "frontend"),
    Rule("sync-reads-later-wave", "a workload reads nothing of a later wave"),
    Rule("sync-hpa-replicas", "a workload an HPA scales sets no replicas"),
    Rule("sync-wave-not-gated", "a wave gates something: it holds an object Argo CD waits for"),
    Rule("sync-hook-before-database", "no PreSync hook needs the database before it exists"),
)


def _pod_spec(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    kind = obj.get("kind")
    path = {"Pod": ("spec",), "CronJob": ("spec", "jobTemplate", "spec", "template", "spec")}
    spec = lookup(obj, *path.get(str(kind), ("spec", "template", "spec")))
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
            *_prune_last_issues(plan, sync), *_component_issues(sync), *_hpa_issues(sync),
            *_hook_issues(plan), *_empty_wave_issues(plan)]


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


def _never_healthy(step: Step) -> str | None:
    """Why a health-gated wave may wait forever (or fail) on step, for the final-wave kinds.

    gitops-engine/pkg/health at argo-cd v3.5.1: health_service.go L28-37 and health_ingress.go
    L7-16 (Progressing until status.loadBalancer.ingress is set), health_hpa.go L86-135
    (Degraded when metrics cannot be read)."""
    if step.kind == "HorizontalPodAutoscaler":
        return ("is Degraded until metrics can be read (no metrics-server, or pods without "
                "resource requests), which fails the sync")
    if step.kind == "Ingress" or (step.kind == "Service" and is_load_balancer(step.obj)):
        return ("stays Progressing until an external address is published (forever on "
                "Minikube without a tunnel), so the sync never ends")
    return None


def _final_wave_issues(plan: SyncPlan, sync: list[tuple[Wave, Step]]) -> Iterator[PlanIssue]:
    for wave, step in sync:
        why = None if wave.final or wave.pruning_follows else _never_healthy(step)
        if why is None:
            continue  # PruneLast's case is _prune_last_issues'
        yield PlanIssue(
            "sync-final-wave", "error",
            f"{step.ref} is in wave {wave.number}, which Argo CD health-gates: it {why}; move it "
            f"to the final wave ({plan.waves[-1].number})", step.kind, step.name)


_KEEP_PVC = ("the database's PersistentVolumeClaim needs no PruneLast: its sync options "
             "Prune=false,Delete=false already keep it")


def _prune_last_issues(plan: SyncPlan, sync: list[tuple[Wave, Step]]) -> list[PlanIssue]:
    """PruneLast=true puts pruning in a wave after the last one (sync_context.go at argo-cd
    v3.5.1, L1127-1144), so that wave, which held what must not be waited for, is waited for
    on every sync that prunes (L573-597, L703-712)."""
    prune = plan.prune_last
    held = [(w, s, why) for w, s in sync if w.pruning_follows and (why := _never_healthy(s))]
    if prune is None or not held:
        return []
    number = held[0][0].number
    what = "; ".join(f"{s.ref} {why}" for _, s, why in held)
    extra = f" ({prune.skipped}, yet they still take that wave)" if prune.skipped else ""
    gated = (f"pruning runs in an extra wave ({prune.wave}) after the last one{extra}, so wave "
             f"{number} is health-gated instead of final: {what}")
    out: list[PlanIssue] = []
    if prune.app_level:
        out.append(PlanIssue(
            "sync-prune-last", "error",
            f"syncOptions PruneLast=true: on every sync that prunes, {gated}; remove "
            f"PruneLast=true from the Application's syncOptions ({_KEEP_PVC})",
            option="PruneLast=true"))
    for kind, name in prune.annotated:
        out.append(PlanIssue(
            "sync-prune-last", "error",
            f"{kind}/{name} carries argocd.argoproj.io/sync-options PruneLast=true: on the "
            f"sync that prunes it (once it leaves the chart), {gated}; remove PruneLast=true "
            f"from its sync-options annotation ({_KEEP_PVC})", kind, name))
    return out


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
        target = (str(lookup(step.obj, "spec", "scaleTargetRef", "kind")),
                  str(lookup(step.obj, "spec", "scaleTargetRef", "name")))
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
    ran = [w for w in plan.waves if w.phase != "SyncFail"]  # SyncFail runs only on failure
    for wave, following in pairwise(ran):
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
