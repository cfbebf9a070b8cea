"""The sync-order checks, word for word: every issue check_plan finds in a changed chart order.

test_syncplan.py builds the plans and checks which rule each change trips; here each case
gives every issue in full (rule, severity, the sentence a user reads, the object it names).
"""

from __future__ import annotations

import pytest

from gitops_gen.checks.syncchecks import check_plan, reads
from gitops_gen.model.syncoptions import application_options
from gitops_gen.model.syncplan import PlanIssue, plan_sync

from .test_syncplan import (
    MUTATIONS,
    PRUNE_LAST,
    Obj,
    app,
    good_objects,
    hpa,
    obj,
    service,
    workload,
)

HPA_WHY = ("is Degraded until metrics can be read (no metrics-server, or pods without resource "
           "requests), which fails the sync")
EXTERNAL_WHY = ("stays Progressing until an external address is published (forever on Minikube "
                "without a tunnel), so the sync never ends")
KEEP_PVC = ("the database's PersistentVolumeClaim needs no PruneLast: its sync options "
            "Prune=false,Delete=false already keep it")


def presync(o: Obj) -> Obj:
    o["metadata"]["annotations"]["argocd.argoproj.io/hook"] = "PreSync"
    return o


def not_gated(wave: int, refs: str, users: str) -> str:
    return (f"Sync wave {wave} holds only objects Argo CD counts as healthy at once ({refs})"
            f"{users}: wave {wave + 1} starts as soon as they are applied, so a separate wave "
            "gains nothing but a delay; merge it into the wave that uses them (kind order "
            "already applies Secrets and ConfigMaps before workloads)")


def order(after: str, before: str, first: str, first_wave: int, last: str,
          last_wave: int) -> str:
    return (f"{after} starts before {before} is ready: {first} is in wave {first_wave} but "
            f"{before}'s {last} is in wave {last_wave}; give every {before} object a lower "
            f"argocd.argoproj.io/sync-wave than the {after} workloads")


def not_final(ref: str, wave: int, why: str) -> str:
    return (f"{ref} is in wave {wave}, which Argo CD health-gates: it {why}; move it to the "
            "final wave (3)")


def later(ref: str, wave: int, dep: str, dep_wave: int) -> str:
    return (f"{ref} (wave {wave}) needs {dep}, which comes later (wave {dep_wave}): its pods "
            "cannot start, so the wave never turns Healthy and the sync stalls; put "
            f"{dep} in wave {wave} or earlier")


def pvc(name: str, wave: int, ref: str, ref_wave: int) -> str:
    return (f"PersistentVolumeClaim/{name} is in wave {wave}, before {ref} (wave {ref_wave}) "
            "that mounts it: under a WaitForFirstConsumer storage class it stays Pending until a "
            f"pod uses it, and Argo CD waits for it forever; put it in wave {ref_wave} (kind "
            "order still applies it first)")


BACKEND_WAVE_1 = "Secret/todo-backend, ConfigMap/todo-backend"
EXPECTED: dict[str, list[PlanIssue]] = {
    "backend-after-frontend": [
        PlanIssue("sync-component-order", "error", order(
            "frontend", "backend", "Deployment/todo-frontend", 2, "Deployment/todo-backend", 2),
            "Deployment", "todo-frontend"),
        PlanIssue("sync-wave-not-gated", "warning", not_gated(
            1, f"{BACKEND_WAVE_1}, Service/todo-backend",
            "; Deployment/todo-backend in wave 2 reads them"), "Secret", "todo-backend"),
    ],
    "config-after-its-workload": [
        PlanIssue("sync-reads-later-wave", "error", later(
            "Deployment/todo-backend", 1, "ConfigMap/todo-backend", 2), "Deployment",
            "todo-backend"),
        PlanIssue("sync-component-order", "error", order(
            "frontend", "backend", "Deployment/todo-frontend", 2, "ConfigMap/todo-backend", 2),
            "Deployment", "todo-frontend"),
    ],
    "config-only-wave": [
        PlanIssue("sync-wave-not-gated", "warning", not_gated(
            1, BACKEND_WAVE_1, "; Deployment/todo-backend in wave 2 reads them"), "Secret",
            "todo-backend"),
    ],
    "database-secret-late": [
        PlanIssue("sync-reads-later-wave", "error", later(
            "Deployment/todo-db", 0, "Secret/todo-db", 1), "Deployment", "todo-db"),
        PlanIssue("sync-component-order", "error", order(
            "backend", "database", "Deployment/todo-backend", 1, "Secret/todo-db", 1),
            "Deployment", "todo-backend"),
    ],
    "database-with-backend": [
        PlanIssue("sync-pvc-wave", "error", pvc("todo-db", 0, "Deployment/todo-db", 1),
                  "PersistentVolumeClaim", "todo-db"),
        PlanIssue("sync-component-order", "error", order(
            "backend", "database", "Deployment/todo-backend", 1, "Deployment/todo-db", 1),
            "Deployment", "todo-backend"),
    ],
    "hpa-not-final": [
        PlanIssue("sync-final-wave", "error", not_final(
            "HorizontalPodAutoscaler/todo-backend", 1, HPA_WHY), "HorizontalPodAutoscaler",
            "todo-backend"),
    ],
    "hpa-target-sets-replicas": [
        PlanIssue("sync-hpa-replicas", "warning", "Deployment/todo-frontend sets replicas: 3 "
                  "while HorizontalPodAutoscaler/todo-frontend scales it: every sync (and "
                  "self-heal) resets the replica count the HPA chose; omit replicas when "
                  "autoscaling is enabled", "Deployment", "todo-frontend"),
    ],
    "ingress-not-final": [
        PlanIssue("sync-final-wave", "error", not_final("Ingress/todo", 2, EXTERNAL_WHY),
                  "Ingress", "todo"),
    ],
    "loadbalancer-not-final": [
        PlanIssue("sync-final-wave", "error", not_final("Service/todo-frontend", 2,
                                                        EXTERNAL_WHY), "Service",
                  "todo-frontend"),
    ],
    "presync-migration": [
        PlanIssue("sync-hook-before-database", "warning", "Job/todo-migrate is a PreSync hook, "
                  "so it runs before every Sync wave: on the first install Deployment/todo-db "
                  "does not exist yet; put it in a Sync wave between the database and the "
                  "backend instead of making it a hook", "Job", "todo-migrate"),
    ],
    "pvc-before-its-deployment": [
        PlanIssue("sync-pvc-wave", "error", pvc("todo-db", -1, "Deployment/todo-db", 0),
                  "PersistentVolumeClaim", "todo-db"),
    ],
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_each_change_of_the_chart_order_reads_in_full(name: str) -> None:
    objects = good_objects()
    MUTATIONS[name][0](objects)
    assert check_plan(plan_sync(objects)) == EXPECTED[name]


def held(*refs_and_whys: tuple[str, str]) -> str:
    return "; ".join(f"{ref} {why}" for ref, why in refs_and_whys)


FINAL_WAVE = held(("Service/todo-frontend", EXTERNAL_WHY),
                  ("HorizontalPodAutoscaler/todo-backend", HPA_WHY),
                  ("HorizontalPodAutoscaler/todo-frontend", HPA_WHY),
                  ("Ingress/todo", EXTERNAL_WHY))


def test_prune_last_on_the_application_reads_in_full() -> None:
    assert check_plan(plan_sync(good_objects(), options=PRUNE_LAST)) == [PlanIssue(
        "sync-prune-last", "error", "syncOptions PruneLast=true: on every sync that prunes, "
        "pruning runs in an extra wave (4) after the last one, so wave 3 is health-gated "
        f"instead of final: {FINAL_WAVE}; remove PruneLast=true from the Application's "
        f"syncOptions ({KEEP_PVC})", option="PruneLast=true")]


def test_prune_last_on_objects_reads_in_full_once_per_object() -> None:
    objects = good_objects()
    for o in objects:
        if o["kind"] == "ConfigMap" and o["metadata"]["name"] != "todo-db":
            o["metadata"]["annotations"]["argocd.argoproj.io/sync-options"] = "PruneLast=true"
    gated = ("pruning runs in an extra wave (4) after the last one, so wave 3 is health-gated "
             f"instead of final: {FINAL_WAVE}")
    assert check_plan(plan_sync(objects)) == [PlanIssue(
        "sync-prune-last", "error", f"ConfigMap/{name} carries argocd.argoproj.io/sync-options "
        f"PruneLast=true: on the sync that prunes it (once it leaves the chart), {gated}; "
        f"remove PruneLast=true from its sync-options annotation ({KEEP_PVC})", "ConfigMap",
        name) for name in ("todo-backend", "todo-frontend")]


def test_prune_last_says_when_the_prune_tasks_are_skipped() -> None:
    options = application_options(app("PruneLast=true", "Prune=false"))
    (issue,) = check_plan(plan_sync(good_objects(), options=options))
    assert "pruning runs in an extra wave (4) after the last one (" in issue.message
    assert ", yet they still take that wave), so wave 3 is health-gated" in issue.message


def test_prune_last_names_the_first_held_wave() -> None:
    """Everything that never turns healthy moves to wave 5, and wave 3 keeps nothing of it."""
    objects = good_objects(final=5)
    (issue,) = check_plan(plan_sync(objects, options=PRUNE_LAST))
    assert "pruning runs in an extra wave (6) after the last one, so wave 5 is" in issue.message


def test_a_plan_without_a_database_has_no_hook_issue() -> None:
    objects = [o for o in good_objects() if o["metadata"]["labels"]["app.kubernetes.io/"
                                                                     "component"] != "database"]
    objects.append(presync(workload("Job", "todo-migrate", 0, "backend")))
    assert [i.rule for i in check_plan(plan_sync(objects))] == []


def test_a_presync_hook_of_the_database_itself_is_no_issue() -> None:
    objects = [*good_objects(), presync(workload("Job", "todo-db-init", 0, "database"))]
    assert check_plan(plan_sync(objects)) == []


def test_a_hook_wave_is_never_a_wave_without_a_gate() -> None:
    objects = [*good_objects(), obj("ConfigMap", "todo-hook", 0, "backend",
                                    **{"argocd.argoproj.io__hook": "PreSync"}),
               obj("ConfigMap", "todo-pre", 1, "backend",
                   **{"argocd.argoproj.io__hook": "PreSync"}),
               presync(workload("Job", "todo-pre-job", 2, "database"))]
    assert [i.rule for i in check_plan(plan_sync(objects))] == []


def test_a_long_wave_without_a_gate_lists_its_first_four_objects() -> None:
    for count, listed in ((4, ""), (5, ", ...")):
        objects = [*good_objects(final=4),
                   *(obj("ConfigMap", f"extra-{i}", 3, "frontend") for i in range(count))]
        refs = ", ".join(f"ConfigMap/extra-{i}" for i in range(4)) + listed
        assert check_plan(plan_sync(objects)) == [PlanIssue(
            "sync-wave-not-gated", "warning", not_gated(3, refs, ""), "ConfigMap", "extra-0")]


def test_a_wave_without_a_gate_and_no_reader_says_so_without_readers() -> None:
    objects = [*good_objects(final=4), obj("ConfigMap", "extra", 3, "frontend")]
    assert check_plan(plan_sync(objects)) == [PlanIssue(
        "sync-wave-not-gated", "warning", not_gated(3, "ConfigMap/extra", ""), "ConfigMap",
        "extra")]


def test_an_hpa_scaling_something_absent_or_unset_is_no_issue() -> None:
    objects = good_objects()
    objects.append(hpa("todo-other", 3, "backend", "todo-missing"))
    for o in objects:
        if o["kind"] == "Deployment" and o["metadata"]["name"] == "todo-frontend":
            o["spec"] = "not-a-mapping"
    assert [i.rule for i in check_plan(plan_sync(objects))] == []


def test_the_component_order_is_judged_on_the_last_needed_and_first_started() -> None:
    objects = good_objects()
    # a second backend workload in wave 2 does not make the frontend (wave 2) late ...
    objects.append(workload("Deployment", "todo-worker", 1, "backend", replicas=None))
    assert check_plan(plan_sync(objects)) == []
    # ... but one in wave 2 does; and the frontend's first workload is the one named
    objects.append(workload("Deployment", "todo-worker-2", 2, "backend", replicas=None))
    objects.append(workload("Deployment", "todo-web-2", 3, "frontend", replicas=None))
    issues = [i for i in check_plan(plan_sync(objects)) if i.rule == "sync-component-order"]
    assert issues == [PlanIssue("sync-component-order", "error", order(
        "frontend", "backend", "Deployment/todo-frontend", 2, "Deployment/todo-worker-2", 2),
        "Deployment", "todo-frontend")]


def test_other_components_and_kinds_take_no_part_in_the_component_order() -> None:
    objects = [*good_objects(), workload("Deployment", "todo-cache", 2, "cache"),
               obj("ConfigMap", "todo-late", 2, "database")]
    assert check_plan(plan_sync(objects)) == []


def test_a_pvc_in_the_wave_of_its_pod_or_unread_is_fine() -> None:
    objects = [*good_objects(), obj("PersistentVolumeClaim", "unused", 0, "database")]
    assert check_plan(plan_sync(objects)) == []


def test_reads_covers_init_containers_pods_cron_jobs_and_skips_odd_entries() -> None:
    def pod_spec(**spec: object) -> Obj:
        return {"kind": "Pod", "spec": spec}
    spec = {
        "volumes": ["odd", {"secret": {"secretName": "vol-secret"}},
                    {"configMap": {"name": "vol-cm"}},
                    {"secret": {"secretName": "opt", "optional": True}},
                    {"configMap": {"name": ""}}],
        "initContainers": ["odd", {"envFrom": ["odd", {"secretRef": {"name": "init-secret"}},
                                               {"configMapRef": {"name": "init-cm"}}],
                                   "env": ["odd", {"name": "A"},
                                           {"valueFrom": {"configMapKeyRef": {"name": "env-cm",
                                                                              "key": "k"}}},
                                           {"valueFrom": "odd"}]}],
    }
    expected = {("Secret", "vol-secret"), ("ConfigMap", "vol-cm"), ("Secret", "init-secret"),
                ("ConfigMap", "init-cm"), ("ConfigMap", "env-cm")}
    assert reads(pod_spec(**spec)) == expected
    cron = {"kind": "CronJob", "spec": {"jobTemplate": {"spec": {"template": {"spec": spec}}}}}
    assert reads(cron) == expected
    assert reads({"kind": "Deployment", "spec": {"template": {"spec": spec}}}) == expected
    assert reads({"kind": "Deployment", "spec": {"template": {"spec": "odd"}}}) == set()
    assert reads({"kind": "Pod", "spec": spec | {"containers": None}}) == expected


def test_a_load_balancer_outside_the_final_wave_only_if_it_is_one() -> None:
    objects = [*good_objects(), service("todo-internal", 2, "frontend")]
    assert check_plan(plan_sync(objects)) == []


def test_only_workloads_are_judged_on_what_they_read() -> None:
    """A PodTemplate (or a custom resource shaped like one) starts no pods of its own."""
    template = obj("PodTemplate", "todo-template", 0, "backend")
    template["spec"] = {"template": {"spec": {"volumes": [
        {"name": "cfg", "configMap": {"name": "todo-frontend"}}]}}}
    assert reads(template) == {("ConfigMap", "todo-frontend")}
    objects = [*good_objects(), template]
    assert check_plan(plan_sync(objects)) == []


def test_the_component_order_is_judged_without_a_database_too() -> None:
    objects = [o for o in good_objects()
               if o["metadata"]["labels"]["app.kubernetes.io/component"] != "database"]
    for o in objects:
        if (o["kind"], o["metadata"]["name"]) == ("Deployment", "todo-backend"):
            o["metadata"]["annotations"]["argocd.argoproj.io/sync-wave"] = "2"
    issues = [i for i in check_plan(plan_sync(objects)) if i.rule == "sync-component-order"]
    assert issues == [PlanIssue("sync-component-order", "error", order(
        "frontend", "backend", "Deployment/todo-frontend", 2, "Deployment/todo-backend", 2),
        "Deployment", "todo-frontend")]


def test_a_wave_without_a_gate_names_every_reader_in_the_next_wave() -> None:
    objects = good_objects()
    MUTATIONS["config-only-wave"][0](objects)
    objects.append(workload("Deployment", "todo-worker", 2, "backend", replicas=None,
                            config="todo-backend"))
    issues = [i for i in check_plan(plan_sync(objects)) if i.rule == "sync-wave-not-gated"]
    assert issues == [PlanIssue("sync-wave-not-gated", "warning", not_gated(
        1, BACKEND_WAVE_1, "; Deployment/todo-backend, Deployment/todo-worker in wave 2 reads "
        "them"), "Secret", "todo-backend")]
