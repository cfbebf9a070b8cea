"""Argo CD's sync order, and the checks that find orders which stall or fail a sync."""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

import pytest

from gitops_gen.checks.syncchecks import check_plan, reads
from gitops_gen.model.syncoptions import SyncOptions, application_options
from gitops_gen.model.syncplan import SyncPlan, plan_sync, render_plan_text

Obj = dict[str, Any]


def obj(kind: str, name: str, wave: int | str | None = None, component: str | None = None,
        namespace: str | None = None, api: str = "v1", **annotations: str) -> Obj:
    meta: Obj = {"name": name}
    ann = {k.replace("__", "/").replace("_", "-"): v for k, v in annotations.items()}
    if wave is not None:
        ann["argocd.argoproj.io/sync-wave"] = str(wave)
    if ann:
        meta["annotations"] = ann
    if component:
        meta["labels"] = {"app.kubernetes.io/component": component}
    if namespace:
        meta["namespace"] = namespace
    return {"apiVersion": api, "kind": kind, "metadata": meta}


def workload(kind: str, name: str, wave: int, component: str, *, replicas: int | None = 1,
             secret: str | None = None, config: str | None = None, claim: str | None = None,
             **annotations: str) -> Obj:
    o = obj(kind, name, wave, component, api="apps/v1" if kind != "Job" else "batch/v1",
            **annotations)
    container: Obj = {"name": "c", "image": "x"}
    if secret:
        container["env"] = [{"name": "P", "valueFrom": {"secretKeyRef": {"name": secret,
                                                                          "key": "p"}}}]
    if config:
        container["envFrom"] = [{"configMapRef": {"name": config}}]
    pod: Obj = {"containers": [container]}
    if claim:
        pod["volumes"] = [{"name": "data", "persistentVolumeClaim": {"claimName": claim}}]
    o["spec"] = {"template": {"spec": pod}}
    if replicas is not None:
        o["spec"]["replicas"] = replicas
    return o


def service(name: str, wave: int, component: str, kind: str = "ClusterIP") -> Obj:
    o = obj("Service", name, wave, component)
    o["spec"] = {"type": kind, "ports": [{"port": 80}]}
    return o


def hpa(name: str, wave: int, component: str, target: str) -> Obj:
    o = obj("HorizontalPodAutoscaler", name, wave, component, api="autoscaling/v2")
    o["spec"] = {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment",
                                    "name": target}, "minReplicas": 2, "maxReplicas": 4}
    return o


def good_objects(final: int = 3) -> list[Obj]:
    """The order the chart aims for: database 0, backend 1, frontend 2, external things last."""
    return [
        obj("Secret", "todo-db", 0, "database"),
        obj("ConfigMap", "todo-db", 0, "database"),
        obj("PersistentVolumeClaim", "todo-db", 0, "database"),
        service("todo-db", 0, "database"),
        workload("Deployment", "todo-db", 0, "database", secret="todo-db", config="todo-db",
                 claim="todo-db"),
        obj("Secret", "todo-backend", 1, "backend"),
        obj("ConfigMap", "todo-backend", 1, "backend"),
        service("todo-backend", 1, "backend"),
        workload("Deployment", "todo-backend", 1, "backend", replicas=None, secret="todo-db",
                 config="todo-backend"),
        obj("ConfigMap", "todo-frontend", 2, "frontend"),
        workload("Deployment", "todo-frontend", 2, "frontend", replicas=None,
                 config="todo-frontend"),
        service("todo-frontend", final, "frontend", "LoadBalancer"),
        obj("Ingress", "todo", final, "frontend", api="networking.k8s.io/v1"),
        hpa("todo-backend", final, "backend", "todo-backend"),
        hpa("todo-frontend", final, "frontend", "todo-frontend"),
    ]


def order(plan: SyncPlan) -> list[tuple[str, int, str]]:
    return [(w.phase, w.number, s.ref) for w, s in plan.steps()]


def refs(plan: SyncPlan) -> list[str]:
    return [s.ref for _, s in plan.steps()]


# --- ordering ---------------------------------------------------------------------------------

# The documented order inside one wave, written out by hand (SecretList, ClusterRoleList and the
# like are left out: nothing renders them).
DOCUMENTED = [
    "Namespace", "NetworkPolicy", "ResourceQuota", "LimitRange", "PodSecurityPolicy",
    "PodDisruptionBudget", "ServiceAccount", "Secret", "ConfigMap", "StorageClass",
    "PersistentVolume", "PersistentVolumeClaim", "CustomResourceDefinition", "ClusterRole",
    "ClusterRoleBinding", "Role", "RoleBinding", "Service", "DaemonSet", "Pod",
    "ReplicationController", "ReplicaSet", "Deployment", "HorizontalPodAutoscaler",
    "StatefulSet", "Job", "CronJob", "IngressClass", "Ingress", "APIService",
]


def test_kind_order_inside_one_wave() -> None:
    objects = [obj(kind, "x") for kind in DOCUMENTED]
    objects += [obj("Widget", "a", api="example.com/v1"), obj("Application", "b",
                                                              api="argoproj.io/v1alpha1")]
    random.Random(7).shuffle(objects)
    plan = plan_sync(objects)
    assert len(plan.waves) == 1 and plan.waves[0].number == 0
    assert [s.kind for _, s in plan.steps()] == [*DOCUMENTED, "Widget", "Application"]


def test_chart_like_wave_zero() -> None:
    objects = good_objects(final=0)
    for o in objects:
        o["metadata"]["annotations"]["argocd.argoproj.io/sync-wave"] = "0"
    objects.append(obj("NetworkPolicy", "todo-db", 0, "database", api="networking.k8s.io/v1"))
    objects.append(obj("Namespace", "todo-dev", 0))
    plan = plan_sync(reversed(objects))
    assert refs(plan) == [
        "Namespace/todo-dev", "NetworkPolicy/todo-db", "Secret/todo-backend", "Secret/todo-db",
        "ConfigMap/todo-backend", "ConfigMap/todo-db", "ConfigMap/todo-frontend",
        "PersistentVolumeClaim/todo-db", "Service/todo-backend", "Service/todo-db",
        "Service/todo-frontend", "Deployment/todo-backend", "Deployment/todo-db",
        "Deployment/todo-frontend", "HorizontalPodAutoscaler/todo-backend",
        "HorizontalPodAutoscaler/todo-frontend", "Ingress/todo",
    ]


def test_waves_sort_as_numbers_and_may_be_negative() -> None:
    plan = plan_sync([obj("ConfigMap", "ten", 10), obj("ConfigMap", "two", 2),
                      obj("ConfigMap", "minus", -3), obj("ConfigMap", "plus", "+1"),
                      obj("ConfigMap", "none")])
    assert [(w.number, [s.name for s in w.steps]) for w in plan.waves] == [
        (-3, ["minus"]), (0, ["none"]), (1, ["plus"]), (2, ["two"]), (10, ["ten"])]
    assert [w.final for w in plan.waves] == [False, False, False, False, True]


def test_hook_phases() -> None:
    ann = "argocd.argoproj.io/hook"
    objects = [
        obj("Job", "argo-pre", 5, **{"argocd.argoproj.io__hook": "PreSync"}),
        obj("Job", "helm-pre", **{"helm.sh__hook": "pre-install,pre-upgrade"}),
        obj("Job", "helm-post", **{"helm.sh__hook": "post-upgrade"}),
        obj("Job", "both", **{"argocd.argoproj.io__hook": "PreSync,PostSync"}),
        obj("Job", "argo-wins", **{"argocd.argoproj.io__hook": "PostSync",
                                   "helm.sh__hook": "pre-install"}),
        obj("Job", "on-fail", **{"argocd.argoproj.io__hook": "SyncFail"}),
        obj("Job", "sync-hook", **{"argocd.argoproj.io__hook": "Sync"}),
        obj("Pod", "helm-test", **{"helm.sh__hook": "test"}),
        obj("Job", "skipped", **{"argocd.argoproj.io__hook": "Skip"}),
        obj("Job", "on-delete", **{"argocd.argoproj.io__hook": "PostDelete"}),
        obj("CustomResourceDefinition", "crd-install", api="apiextensions.k8s.io/v1",
            **{"helm.sh__hook": "crd-install"}),
        obj("ConfigMap", "plain", -3),
    ]
    assert objects[0]["metadata"]["annotations"][ann] == "PreSync"
    plan = plan_sync(objects)
    assert order(plan) == [
        ("PreSync", 0, "Job/both"), ("PreSync", 0, "Job/helm-pre"),
        ("PreSync", 5, "Job/argo-pre"),
        ("Sync", -3, "ConfigMap/plain"),
        ("Sync", 0, "CustomResourceDefinition/crd-install"), ("Sync", 0, "Job/sync-hook"),
        ("PostSync", 0, "Job/argo-wins"), ("PostSync", 0, "Job/both"),
        ("PostSync", 0, "Job/helm-post"),
        ("SyncFail", 0, "Job/on-fail"),
    ]
    hooks = {s.name: s.hook for _, s in plan.steps()}
    assert hooks["helm-pre"] and not hooks["plain"] and not hooks["crd-install"]
    notes = "\n".join(plan.notes)
    assert "Pod/helm-test" in notes and "test" in notes
    assert "Job/skipped" in notes and "Job/on-delete" in notes
    assert len(plan.notes) == 3


def test_hook_weight_is_the_fallback_wave() -> None:
    plan = plan_sync([
        obj("Job", "weighted", **{"helm.sh__hook": "pre-install", "helm.sh__hook-weight": "-5"}),
        obj("ConfigMap", "weight-only", **{"helm.sh__hook-weight": "4"}),
        obj("ConfigMap", "wave-wins", 1, **{"helm.sh__hook-weight": "9"}),
        obj("ConfigMap", "bad-wave", "abc", **{"helm.sh__hook-weight": "3"}),
        obj("ConfigMap", "bad-both", "1.5"),
    ])
    assert order(plan) == [
        ("PreSync", -5, "Job/weighted"), ("Sync", 0, "ConfigMap/bad-both"),
        ("Sync", 1, "ConfigMap/wave-wins"), ("Sync", 3, "ConfigMap/bad-wave"),
        ("Sync", 4, "ConfigMap/weight-only"),
    ]
    issues = [i for i in check_plan(plan) if i.rule == "sync-wave-invalid"]
    assert {(i.kind, i.name) for i in issues} == {("ConfigMap", "bad-wave"),
                                                   ("ConfigMap", "bad-both")}
    assert all(i.severity == "error" and "integer" in i.message for i in issues)


def test_namespace_moves_into_the_wave_of_its_contents() -> None:
    plan = plan_sync([
        obj("Namespace", "todo-dev", 5),
        obj("Deployment", "app", 2, namespace="todo-dev", api="apps/v1"),
        obj("ConfigMap", "cfg", 1, namespace="todo-dev"),
        obj("Namespace", "early", -1),
        obj("ConfigMap", "in-early", 1, namespace="early"),
        obj("Namespace", "empty", 7),
    ])
    assert order(plan) == [
        ("Sync", -1, "Namespace/early"),
        ("Sync", 1, "Namespace/todo-dev"), ("Sync", 1, "ConfigMap/cfg"),
        ("Sync", 1, "ConfigMap/in-early"),
        ("Sync", 2, "Deployment/app"),
        ("Sync", 7, "Namespace/empty"),
    ]


def test_namespace_follows_its_first_object_into_a_hook_phase() -> None:
    plan = plan_sync([obj("Namespace", "todo-dev", 0),
                      obj("Job", "migrate", 3, namespace="todo-dev",
                          **{"argocd.argoproj.io__hook": "PreSync"})])
    assert order(plan) == [("PreSync", 3, "Namespace/todo-dev"), ("PreSync", 3, "Job/migrate")]


def test_default_namespace_applies_to_namespaced_objects_only() -> None:
    objects = [obj("Namespace", "todo-dev", 3), obj("ConfigMap", "cfg", 1),
               obj("ClusterRole", "reader", 0, api="rbac.authorization.k8s.io/v1")]
    assert refs(plan_sync(objects))[-1] == "Namespace/todo-dev"
    plan = plan_sync(objects, namespace="todo-dev")
    assert order(plan) == [("Sync", 0, "ClusterRole/reader"), ("Sync", 1, "Namespace/todo-dev"),
                           ("Sync", 1, "ConfigMap/cfg")]
    assert {s.name: s.namespace for _, s in plan.steps()} == {
        "reader": None, "todo-dev": None, "cfg": "todo-dev"}


def test_crd_moves_before_its_first_custom_resource() -> None:
    crd = obj("CustomResourceDefinition", "widgets.example.com", 4,
              api="apiextensions.k8s.io/v1")
    crd["spec"] = {"group": "example.com", "names": {"kind": "Widget", "plural": "widgets"}}
    plan = plan_sync([crd, obj("Widget", "w", 0, api="example.com/v1")])
    assert order(plan) == [("Sync", 0, "CustomResourceDefinition/widgets.example.com"),
                           ("Sync", 0, "Widget/w")]


def test_what_each_step_waits_for() -> None:
    plan = plan_sync(good_objects())
    waits = {s.ref: (s.health_gated, s.waits_for) for _, s in plan.steps()}
    assert waits["Deployment/todo-db"] == (
        True, "updated and available replicas = spec (readiness probes)")
    assert waits["PersistentVolumeClaim/todo-db"] == (True, "Bound")
    assert waits["Secret/todo-db"] == (False, "nothing (healthy at once)")
    assert waits["ConfigMap/todo-backend"] == (False, "nothing (healthy at once)")
    assert waits["Service/todo-db"] == (False, "nothing (healthy at once)")
    # the final wave is applied and not waited for
    assert waits["Service/todo-frontend"] == (False, "external address")
    assert waits["Ingress/todo"][0] is False
    assert [w.final for w in plan.waves] == [False, False, False, True]
    assert [w.health_gated for w in plan.waves] == [True, True, True, False]
    job = plan_sync([workload("Job", "migrate", 1, "backend"), obj("ConfigMap", "x", 2)])
    assert [(s.health_gated, s.waits_for) for _, s in job.steps()][0] == (True, "complete")


def test_reads_follows_env_envfrom_and_volumes() -> None:
    d = workload("Deployment", "d", 0, "backend", secret="s", config="c", claim="p")
    d["spec"]["template"]["spec"]["volumes"].append(
        {"name": "opt", "configMap": {"name": "optional-cm", "optional": True}})
    assert reads(d) == {("Secret", "s"), ("ConfigMap", "c"), ("PersistentVolumeClaim", "p")}


# --- checks -----------------------------------------------------------------------------------


def test_a_good_plan_has_no_issues() -> None:
    plan = plan_sync(good_objects())
    assert check_plan(plan) == []
    assert plan.issues == [] and plan.notes == []


def _find(objects: list[Obj], kind: str, name: str) -> Obj:
    return next(o for o in objects if o["kind"] == kind and o["metadata"]["name"] == name)


def _wave(kind: str, name: str, wave: int) -> Callable[[list[Obj]], None]:
    def apply(objects: list[Obj]) -> None:
        _find(objects, kind, name)["metadata"]["annotations"]["argocd.argoproj.io/sync-wave"] = \
            str(wave)
    return apply


def _replicas(objects: list[Obj]) -> None:
    _find(objects, "Deployment", "todo-frontend")["spec"]["replicas"] = 3


def _presync_migration(objects: list[Obj]) -> None:
    objects.append(workload("Job", "todo-migrate", 0, "backend", secret="todo-db",
                            **{"argocd.argoproj.io__hook": "PreSync"}))


def _split_backend_config(objects: list[Obj]) -> None:
    for o in objects:
        ann = o["metadata"]["annotations"]
        wave = int(ann["argocd.argoproj.io/sync-wave"])
        if wave >= 1 and not (o["kind"] in ("Secret", "ConfigMap") and wave == 1):
            ann["argocd.argoproj.io/sync-wave"] = str(wave + 1)


MUTATIONS: dict[str, tuple[Callable[[list[Obj]], None], str, str, tuple[str, str]]] = {
    "pvc-before-its-deployment": (_wave("PersistentVolumeClaim", "todo-db", -1),
                                  "sync-pvc-wave", "error", ("PersistentVolumeClaim", "todo-db")),
    "loadbalancer-not-final": (_wave("Service", "todo-frontend", 2), "sync-final-wave", "error",
                               ("Service", "todo-frontend")),
    "ingress-not-final": (_wave("Ingress", "todo", 2), "sync-final-wave", "error",
                          ("Ingress", "todo")),
    "hpa-not-final": (_wave("HorizontalPodAutoscaler", "todo-backend", 1), "sync-final-wave",
                      "error", ("HorizontalPodAutoscaler", "todo-backend")),
    "database-with-backend": (_wave("Deployment", "todo-db", 1), "sync-component-order",
                              "error", ("Deployment", "todo-backend")),
    "database-secret-late": (_wave("Secret", "todo-db", 1), "sync-component-order", "error",
                             ("Deployment", "todo-backend")),
    "backend-after-frontend": (_wave("Deployment", "todo-backend", 2), "sync-component-order",
                               "error", ("Deployment", "todo-frontend")),
    "config-after-its-workload": (_wave("ConfigMap", "todo-backend", 2),
                                  "sync-reads-later-wave", "error",
                                  ("Deployment", "todo-backend")),
    "hpa-target-sets-replicas": (_replicas, "sync-hpa-replicas", "warning",
                                 ("Deployment", "todo-frontend")),
    "presync-migration": (_presync_migration, "sync-hook-before-database", "warning",
                          ("Job", "todo-migrate")),
    "config-only-wave": (_split_backend_config, "sync-wave-not-gated", "warning",
                         ("Secret", "todo-backend")),
    "wave-not-an-integer": (_wave("ConfigMap", "todo-db", "zero"),  # type: ignore[arg-type]
                            "sync-wave-invalid", "error", ("ConfigMap", "todo-db")),
}


@pytest.mark.parametrize("name", sorted(MUTATIONS))
def test_each_check_triggers_on_its_mutation(name: str) -> None:
    mutate, rule, severity, (kind, obj_name) = MUTATIONS[name]
    objects = good_objects()
    mutate(objects)
    issues = check_plan(plan_sync(objects))
    hits = [i for i in issues if i.rule == rule]
    assert hits, [i.rule for i in issues]
    assert {(i.severity, i.kind, i.name) for i in hits} == {(severity, kind, obj_name)}
    assert all(f"{kind}/{obj_name}" in i.message and ";" in i.message for i in hits)


def test_messages_say_why_and_what_to_do() -> None:
    objects = good_objects()
    _split_backend_config(objects)
    (issue,) = [i for i in check_plan(plan_sync(objects)) if i.rule == "sync-wave-not-gated"]
    assert "healthy at once" in issue.message
    assert "Deployment/todo-backend in wave 2 reads them" in issue.message
    assert "merge it" in issue.message
    objects = good_objects()
    _wave("PersistentVolumeClaim", "todo-db", -1)(objects)
    (issue,) = [i for i in check_plan(plan_sync(objects)) if i.rule == "sync-pvc-wave"]
    assert "WaitForFirstConsumer" in issue.message and "wave 0" in issue.message


def test_render_plan_text() -> None:
    objects = [*good_objects(), obj("Pod", "todo-test", **{"helm.sh__hook": "test"})]
    text = render_plan_text(plan_sync(objects))
    lines = text.splitlines()
    assert lines[0].startswith("Sync wave 0") and "waits until all Healthy" in lines[0]
    assert any(line.startswith("Sync wave 3") and "not health-gated" in line for line in lines)
    assert "Deployment/todo-db" in text and "[database]" in text
    assert "not waited for" in text
    assert lines[-1].startswith("note: Pod/todo-test")
    assert text.index("Deployment/todo-db") < text.index("Deployment/todo-backend") < \
        text.index("Deployment/todo-frontend") < text.index("Ingress/todo")


def test_odd_input_does_not_crash() -> None:
    plan = plan_sync([None, {}, {"kind": "ConfigMap"}, {"kind": "Deployment", "metadata": [],
                                                          "spec": "x"}])
    assert [s.kind for _, s in plan.steps()] == ["ConfigMap", "Deployment"]
    assert isinstance(check_plan(plan), list)
    assert render_plan_text(plan_sync([])) == ""


# --- the Application's sync options ------------------------------------------------------------
# What each option does is read from argoproj/argo-cd at tag v3.5.1 (gitops-engine in-tree):
# controller/sync.go L322-333 passes PruneLast, ApplyOutOfSyncOnly, ServerSideApply and the
# Prune default to the sync; gitops-engine/pkg/sync/sync_context.go L1127-1144 moves every prune
# task to wave (greatest Sync wave, at least 0) + 1 under PruneLast, and L703-712 exempts only
# the true last wave from the health wait of L573-597.


def app(*options: str, automated: Any = None) -> dict[str, Any]:
    policy: dict[str, Any] = {"syncOptions": list(options)}
    if automated is not None:
        policy["automated"] = automated
    return {"kind": "Application", "spec": {"syncPolicy": policy}}


PRUNE_LAST = application_options(app("CreateNamespace=true", "PruneLast=true",
                                     automated={"prune": True, "selfHeal": True}))


def test_application_options_read_like_argo_cd() -> None:
    assert PRUNE_LAST.prune_last and PRUNE_LAST.automated and PRUNE_LAST.automated_prune
    # HasOption is an exact match: no trimming, no other case.
    assert not application_options(app(" PruneLast=true")).prune_last
    assert not application_options(app("PruneLast=True")).prune_last
    assert not application_options(app("PruneLast=false")).prune_last
    assert application_options(app("ApplyOutOfSyncOnly=true")).apply_out_of_sync_only
    assert application_options(app("Prune=false")).default_prune == "false"
    assert application_options(app("Prune=confirm")).default_prune == "confirm"
    assert application_options(app()).default_prune is None
    # automated: on unless enabled: false; prune only when set true.
    assert application_options(app(automated={})).automated
    assert not application_options(app(automated={})).automated_prune
    off = application_options(app(automated={"enabled": False, "prune": True}))
    assert not off.automated and not off.automated_prune
    assert application_options({"spec": {}}) == SyncOptions()
    assert application_options(None) == SyncOptions()
    assert application_options({"spec": {"syncPolicy": {"syncOptions": "PruneLast=true"}}}) \
        == SyncOptions()


def _gate(text: str, number: int) -> str:
    return next(line for line in text.splitlines() if line.startswith(f"Sync wave {number}  "))


def test_prune_last_makes_the_former_final_wave_health_gated() -> None:
    objects = good_objects()
    before = plan_sync(objects)
    plan = plan_sync(objects, "todo-staging", PRUNE_LAST)
    assert [w.number for w in plan.waves] == [w.number for w in before.waves] == [0, 1, 2, 3]
    assert [w.final for w in plan.waves] == [False] * 4
    assert [w.pruning_follows for w in plan.waves] == [False, False, False, True]
    assert plan.prune_last is not None
    assert (plan.prune_last.wave, plan.prune_last.gated) == (4, 3)
    assert plan.prune_last.app_level and plan.prune_last.annotated == ()
    waits = {s.ref: s.health_gated for _, s in plan.steps()}
    assert waits["Service/todo-frontend"] and waits["Ingress/todo"]
    assert waits["HorizontalPodAutoscaler/todo-backend"]

    text = render_plan_text(plan)
    assert "not health-gated, the sync ends" in _gate(render_plan_text(before), 3)
    assert "not health-gated" not in _gate(text, 3)
    assert "waits until all Healthy on a sync that prunes" in _gate(text, 3)
    assert _gate(text, 4).startswith("Sync wave 4  (prune wave, PruneLast=true:")
    assert text.index("Sync wave 3") < text.index("Sync wave 4")
    assert "  Service/todo-frontend" in text and "not waited for" not in text
    assert "note: PruneLast=true (the Application's syncOptions)" in text
    assert "note: CreateNamespace=true: Argo CD creates namespace todo-staging" in text


def test_prune_last_finding_says_what_it_does_and_how_to_fix_it() -> None:
    assert not [i for i in check_plan(plan_sync(good_objects())) if i.rule == "sync-prune-last"]
    issues = check_plan(plan_sync(good_objects(), options=PRUNE_LAST))
    (issue,) = [i for i in issues if i.rule == "sync-prune-last"]
    assert (issue.severity, issue.option, issue.kind, issue.name) == (
        "error", "PruneLast=true", None, None)
    for part in ("PruneLast=true", "extra wave (4)", "wave 3 is health-gated",
                 "Service/todo-frontend stays Progressing", "Ingress/todo",
                 "HorizontalPodAutoscaler/todo-frontend is Degraded", "remove PruneLast=true",
                 "Prune=false,Delete=false"):
        assert part in issue.message, part
    # Not misreported as objects outside the final wave.
    assert not [i for i in issues if i.rule == "sync-final-wave"]


def test_prune_last_without_anything_that_never_turns_healthy_is_no_finding() -> None:
    objects = [o for o in good_objects() if o["kind"] not in ("Ingress", "HorizontalPodAutoscaler")]
    _find(objects, "Service", "todo-frontend")["spec"]["type"] = "NodePort"
    _wave("Service", "todo-frontend", 2)(objects)
    plan = plan_sync(objects, options=PRUNE_LAST)
    assert plan.waves[-1].number == 2 and plan.waves[-1].pruning_follows
    assert "waits until all Healthy on a sync that prunes" in _gate(render_plan_text(plan), 2)
    assert check_plan(plan) == []


def test_prune_wave_follows_the_greatest_sync_wave_and_never_below_one() -> None:
    plan = plan_sync([obj("ConfigMap", "a", -3), service("lb", -2, "frontend", "LoadBalancer")],
                     options=PRUNE_LAST)
    assert plan.prune_last is not None and plan.prune_last.wave == 1
    assert plan.prune_last.gated == -2
    (issue,) = [i for i in check_plan(plan) if i.rule == "sync-prune-last"]
    assert "extra wave (1)" in issue.message and "wave -2 is health-gated" in issue.message


def test_prune_last_before_post_sync_hooks_changes_no_gate() -> None:
    objects = [*good_objects(), workload("Job", "smoke", 0, "frontend",
                                         **{"argocd.argoproj.io__hook": "PostSync"})]
    plain, pruned = plan_sync(objects), plan_sync(objects, options=PRUNE_LAST)
    # A PostSync hook already follows wave 3, so wave 3 was waited for anyway.
    assert [(w.final, w.health_gated) for w in pruned.waves] == \
        [(w.final, w.health_gated) for w in plain.waves]
    assert not any(w.pruning_follows for w in pruned.waves)
    assert [i.rule for i in check_plan(pruned)] == [i.rule for i in check_plan(plain)]
    text = render_plan_text(pruned)
    assert text.index("Sync wave 3") < text.index("Sync wave 4  (prune wave") \
        < text.index("PostSync wave 0")


def test_prune_last_annotation_on_an_object() -> None:
    objects = good_objects()
    _find(objects, "ConfigMap", "todo-frontend")["metadata"]["annotations"][
        "argocd.argoproj.io/sync-options"] = "Prune=false , PruneLast=true"
    objects.append(obj("Job", "hooked", 0, "backend", **{
        "argocd.argoproj.io__hook": "PreSync", "argocd.argoproj.io__sync-options":
            "PruneLast=true"}))
    plan = plan_sync(objects)
    assert plan.prune_last is not None
    assert plan.prune_last.annotated == (("ConfigMap", "todo-frontend"),)  # hooks never prune
    assert not plan.prune_last.app_level
    (issue,) = [i for i in check_plan(plan) if i.rule == "sync-prune-last"]
    assert (issue.kind, issue.name, issue.option) == ("ConfigMap", "todo-frontend", None)
    assert "once it leaves the chart" in issue.message
    assert "ConfigMap/todo-frontend, once gone from the chart," in render_plan_text(plan)
    # Not an option Argo CD would read: another value, or another annotation.
    for other in ("PruneLast=false", "prunelast=true"):
        objects = good_objects()
        _find(objects, "ConfigMap", "todo-frontend")["metadata"]["annotations"][
            "argocd.argoproj.io/sync-options"] = other
        assert plan_sync(objects).prune_last is None


@pytest.mark.parametrize(("automated", "option", "said"), [
    ({"prune": False}, None, "ignored (requires pruning)"),
    ({}, None, "ignored (requires pruning)"),
    ({"prune": True}, "Prune=false", "ignored (no prune)"),
])
def test_prune_last_keeps_its_wave_when_prune_tasks_are_skipped(
        automated: dict[str, Any], option: str | None, said: str) -> None:
    # sync_context.go L1454-1459: without prune, or with Prune=false, a prune task is skipped
    # but exists, in the wave L1140-1142 gave it; the wave before it is then not the last.
    options = application_options(app("PruneLast=true", *([option] if option else []),
                                      automated=automated))
    (issue,) = [i for i in check_plan(plan_sync(good_objects(), options=options))
                if i.rule == "sync-prune-last"]
    assert said in issue.message and "wave 3 is health-gated" in issue.message


def test_options_without_effect_on_order_leave_the_plan_alone() -> None:
    base = plan_sync(good_objects())
    for options in ("ApplyOutOfSyncOnly=true", "ServerSideApply=true", "Prune=false",
                    "Prune=confirm", "Replace=true", "PrunePropagationPolicy=orphan"):
        plan = plan_sync(good_objects(), options=application_options(app(options)))
        assert plan.waves == base.waves and plan.prune_last is None, options
        assert check_plan(plan) == [], options
    notes = {o: render_plan_text(plan_sync(good_objects(), "todo-dev",
                                           application_options(app(o))))
             for o in ("ApplyOutOfSyncOnly=true", "ServerSideApply=true", "Prune=false",
                       "Prune=confirm", "CreateNamespace=true")}
    assert "a wave whose objects are all in sync is skipped" in notes["ApplyOutOfSyncOnly=true"]
    assert "a first sync applies every object" in notes["ApplyOutOfSyncOnly=true"]
    assert "order and what each wave waits for are unchanged" in notes["ServerSideApply=true"]
    assert "stay in the cluster" in notes["Prune=false"]
    assert "until someone confirms it" in notes["Prune=confirm"]
    assert "creates namespace todo-dev before the first wave" in notes["CreateNamespace=true"]
    no_prune = render_plan_text(plan_sync(good_objects(), options=application_options(
        app(automated={"selfHeal": True}))))
    assert "a change that only removes objects is not synced automatically" in no_prune
    assert all(line.startswith(("Sync wave", "  ", "note: ")) for text in notes.values()
               for line in text.splitlines())


def test_sync_fail_hooks_do_not_take_the_final_wave() -> None:
    # SyncFail tasks are split off before the last wave is chosen (sync_context.go L630).
    objects = [*good_objects(), workload("Job", "on-fail", 0, "backend",
                                         **{"argocd.argoproj.io__hook": "SyncFail"})]
    plan = plan_sync(objects)
    assert [(w.phase, w.number, w.final) for w in plan.waves] == [
        ("Sync", 0, False), ("Sync", 1, False), ("Sync", 2, False), ("Sync", 3, True),
        ("SyncFail", 0, False)]
    assert check_plan(plan) == []
    assert "SyncFail wave 0  (runs only when the sync fails)" in render_plan_text(plan)
