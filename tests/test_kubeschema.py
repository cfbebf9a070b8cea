"""Strict Kubernetes schema validation: same verdicts as kubernetes-validate, readable messages."""

from __future__ import annotations

import copy
import datetime
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest

from gitops_gen.checks import kubeschema
from gitops_gen.errors import InputError

Obj = dict[str, Any]
LABELS = {"app.kubernetes.io/name": "todo-chatbot", "app.kubernetes.io/component": "backend"}


def meta(name: str, **extra: Any) -> Obj:
    return {"name": name, "namespace": "todo-dev", "labels": dict(LABELS), **extra}


def container() -> Obj:
    return {
        "name": "backend",
        "image": "ghcr.io/example/todo-backend:1.2.3",
        "ports": [{"name": "http", "containerPort": 8000, "protocol": "TCP"}],
        "envFrom": [{"secretRef": {"name": "todo-backend"}}],
        "env": [
            {"name": "LOG_LEVEL", "value": "info"},
            {"name": "DB_PASSWORD",
             "valueFrom": {"secretKeyRef": {"name": "todo-db", "key": "pw"}}},
        ],
        "resources": {
            "requests": {"cpu": "100m", "memory": "128Mi"},
            "limits": {"cpu": 1, "memory": "512Mi", "ephemeral-storage": 0.5},
        },
        "livenessProbe": {"httpGet": {"path": "/health", "port": "http"}, "periodSeconds": 10},
        "readinessProbe": {"tcpSocket": {"port": 8000}, "initialDelaySeconds": 2},
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": 1000,
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "capabilities": {"drop": ["ALL"]},
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],
    }


def pod_spec() -> Obj:
    return {
        "automountServiceAccountToken": False,
        "securityContext": {"fsGroup": 1000, "runAsNonRoot": True},
        "containers": [container()],
        "volumes": [
            {"name": "tmp", "emptyDir": {"sizeLimit": "64Mi"}},
            {"name": "data", "persistentVolumeClaim": {"claimName": "todo-db"}},
        ],
    }


def selector() -> Obj:
    return {"matchLabels": dict(LABELS)}


def samples() -> dict[str, Obj]:
    """Realistic objects of every kind the chart may render (all valid in 1.25 .. 1.37)."""
    template = {"metadata": {"labels": dict(LABELS)}, "spec": pod_spec()}
    return {
        "deployment": {
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": meta("todo-backend", annotations={"argocd.argoproj.io/sync-wave": "1"}),
            "spec": {"replicas": 2, "selector": selector(), "strategy": {"type": "Recreate"},
                     "template": template},
        },
        "service": {
            "apiVersion": "v1", "kind": "Service", "metadata": meta("todo-backend"),
            "spec": {"type": "NodePort", "selector": dict(LABELS), "ports": [
                {"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"},
                {"name": "alt", "port": 8080, "targetPort": 8000, "nodePort": 30080},
            ]},
        },
        "configmap": {
            "apiVersion": "v1", "kind": "ConfigMap", "metadata": meta("todo-backend"),
            "data": {"LOG_LEVEL": "info", "NEXT_PUBLIC_API_BASE_URL": "/api"},
        },
        "secret": {
            "apiVersion": "v1", "kind": "Secret", "metadata": meta("todo-db"),
            "type": "Opaque", "stringData": {"pw": "not-a-real-secret"},
            "data": {"key": "c2VjcmV0"},
        },
        "pvc": {
            "apiVersion": "v1", "kind": "PersistentVolumeClaim",
            "metadata": meta("todo-db", annotations={
                "argocd.argoproj.io/sync-options": "Prune=false,Delete=false"}),
            "spec": {"accessModes": ["ReadWriteOnce"], "storageClassName": "standard",
                     "resources": {"requests": {"storage": "1Gi"}}},
        },
        "ingress": {
            "apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "metadata": meta("todo"),
            "spec": {"ingressClassName": "nginx", "tls": [{"hosts": ["todo.example.com"],
                                                           "secretName": "todo-tls"}],
                     "rules": [{"host": "todo.example.com", "http": {"paths": [
                         {"path": "/api", "pathType": "Prefix", "backend": {"service": {
                             "name": "todo-backend", "port": {"number": 80}}}},
                         {"path": "/", "pathType": "Prefix", "backend": {"service": {
                             "name": "todo-frontend", "port": {"name": "http"}}}},
                     ]}}]},
        },
        "hpa": {
            "apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
            "metadata": meta("todo-backend"),
            "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment",
                                        "name": "todo-backend"},
                     "minReplicas": 2, "maxReplicas": 5,
                     "metrics": [{"type": "Resource", "resource": {"name": "cpu", "target": {
                         "type": "Utilization", "averageUtilization": 80}}},
                                 {"type": "Resource", "resource": {"name": "memory", "target": {
                                     "type": "AverageValue", "averageValue": "400Mi"}}}]},
        },
        "networkpolicy": {
            "apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
            "metadata": meta("todo-db"),
            "spec": {"podSelector": selector(), "policyTypes": ["Ingress"], "ingress": [
                {"from": [{"podSelector": {"matchLabels": {"app.kubernetes.io/component":
                                                           "backend"}}}],
                 "ports": [{"protocol": "TCP", "port": 5432}, {"port": "postgres"}]}]},
        },
        "pdb": {
            "apiVersion": "policy/v1", "kind": "PodDisruptionBudget", "metadata": meta("todo"),
            "spec": {"minAvailable": 1, "selector": selector()},
        },
        "pdb-percent": {
            "apiVersion": "policy/v1", "kind": "PodDisruptionBudget", "metadata": meta("todo2"),
            "spec": {"maxUnavailable": "50%", "selector": selector()},
        },
        "serviceaccount": {
            "apiVersion": "v1", "kind": "ServiceAccount", "metadata": meta("todo"),
            "automountServiceAccountToken": False,
        },
        "role": {
            "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": meta("todo"),
            "rules": [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get", "list"]}],
        },
        "rolebinding": {
            "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
            "metadata": meta("todo"),
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "todo"},
            "subjects": [{"kind": "ServiceAccount", "name": "todo", "namespace": "todo-dev"}],
        },
        "pod": {
            "apiVersion": "v1", "kind": "Pod",
            "metadata": meta("todo-test", annotations={"helm.sh/hook": "test"}),
            "spec": {**pod_spec(), "restartPolicy": "Never"},
        },
        "job": {
            "apiVersion": "batch/v1", "kind": "Job", "metadata": meta("todo-migrate"),
            "spec": {"backoffLimit": 3, "ttlSecondsAfterFinished": 600, "template": {
                "metadata": {"labels": dict(LABELS)},
                "spec": {**pod_spec(), "restartPolicy": "OnFailure"}}},
        },
    }


def _set(path: list[str | int], value: Any) -> Callable[[Obj], None]:
    def apply(obj: Obj) -> None:
        node: Any = obj
        for part in path[:-1]:
            node = node[part]
        node[path[-1]] = value
    return apply


def _delete(path: list[str | int]) -> Callable[[Obj], None]:
    def apply(obj: Obj) -> None:
        node: Any = obj
        for part in path[:-1]:
            node = node[part]
        del node[path[-1]]
    return apply


C0 = ["spec", "template", "spec", "containers", 0]
# (sample, mutation, expected path of the problem, expected keyword)
INVALID: list[tuple[str, Callable[[Obj], None], str, str]] = [
    ("deployment", _set([*C0, "foo"], 1), "spec.template.spec.containers[0]", "unknown-field"),
    ("deployment", _set(["spec", "replicas"], "three"), "spec.replicas", "type"),
    ("deployment", _set(["spec", "replicas"], True), "spec.replicas", "type"),
    ("deployment", _set(["spec", "replicas"], 1.5), "spec.replicas", "type"),
    ("deployment", _delete(["spec", "selector"]), "spec", "required"),
    ("deployment", _set([*C0, "resources", "limits", "cpu"], True),
     "spec.template.spec.containers[0].resources.limits.cpu", "oneOf"),
    ("deployment", _set([*C0, "resources", "limits", "memory"], ["1Gi"]),
     "spec.template.spec.containers[0].resources.limits.memory", "oneOf"),
    ("deployment", _set([*C0, "livenessProbe", "httpGet", "port"], 1.5),
     "spec.template.spec.containers[0].livenessProbe.httpGet.port", "oneOf"),
    ("deployment", _set([*C0, "livenessProbe", "httpGet", "port"], None),
     "spec.template.spec.containers[0].livenessProbe.httpGet.port", "oneOf"),
    ("deployment", _set(["metadata", "labels", "app.kubernetes.io/version"], 1),
     'metadata.labels["app.kubernetes.io/version"]', "type"),
    ("deployment", _set(["status"], {"bogus": 1}), "status", "unknown-field"),
    ("service", _set(["spec", "ports", 0, "targetPort"], {"port": 1}),
     "spec.ports[0].targetPort", "oneOf"),
    ("service", _set(["spec", "ports", 0, "port"], "80"), "spec.ports[0].port", "type"),
    ("service", _set(["spec", "loadBalancer"], {}), "spec", "unknown-field"),
    ("configmap", _set(["data", "n"], 1), "data.n", "type"),
    ("configmap", _set(["spec"], {}), "", "unknown-field"),
    ("secret", _set(["stringData"], ["a"]), "stringData", "type"),
    ("pvc", _set(["spec", "resources", "requests", "storage"], False),
     "spec.resources.requests.storage", "oneOf"),
    ("pvc", _set(["spec", "accessModes"], "ReadWriteOnce"), "spec.accessModes", "type"),
    ("ingress", _set(["spec", "rules", 0, "http", "paths", 0, "backend", "service", "port"], 80),
     "spec.rules[0].http.paths[0].backend.service.port", "type"),
    ("ingress", _delete(["spec", "rules", 0, "http", "paths", 0, "pathType"]),
     "spec.rules[0].http.paths[0]", "required"),
    ("hpa", _set(["spec", "targetCPUUtilizationPercentage"], 80), "spec", "unknown-field"),
    ("hpa", _delete(["spec", "maxReplicas"]), "spec", "required"),
    ("networkpolicy", _set(["spec", "ingress", 0, "ports", 0, "port"], 5432.5),
     "spec.ingress[0].ports[0].port", "oneOf"),
    ("pdb", _set(["spec", "minAvailable"], [1]), "spec.minAvailable", "oneOf"),
    ("serviceaccount", _set(["secrets"], "x"), "secrets", "type"),
    ("role", _set(["rules", 0, "verb"], ["get"]), "rules[0]", "unknown-field"),
    ("rolebinding", _delete(["roleRef", "name"]), "roleRef", "required"),
    ("pod", _set(["spec", "containers", 0, "image"], 3), "spec.containers[0].image", "type"),
    ("job", _set(["spec", "template", "spec", "containers"], {}),
     "spec.template.spec.containers", "type"),
]
VERSIONS = ["1.25", "1.30", "1.37"]


@pytest.fixture(autouse=True)
def fresh_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Each test builds into its own cache directory and compiles afresh."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    kubeschema.forget_compiled()
    return tmp_path / "cache"


def reference(obj: Obj, version: str) -> tuple[bool, list[str | int] | None]:
    """kubernetes-validate's own strict verdict, and the path of the error it reports."""
    try:
        kubernetes_validate.validate(copy.deepcopy(obj), version, strict=True)
    except kubernetes_validate.ValidationError as exc:
        return False, list(exc.path)
    return True, None


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("name", sorted(samples()))
def test_valid_samples_agree(name: str, version: str) -> None:
    obj = samples()[name]
    assert reference(obj, version) == (True, None)
    assert kubeschema.validate_object(obj, version) == []


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize(
    ("name", "mutate", "path", "keyword"), INVALID,
    ids=[f"{case[0]}-{case[2] or 'root'}-{case[3]}" for case in INVALID],
)
def test_invalid_samples_agree(
    name: str, mutate: Callable[[Obj], None], path: str, keyword: str, version: str
) -> None:
    obj = samples()[name]
    mutate(obj)
    ok, ref_path = reference(obj, version)
    assert not ok
    problems = kubeschema.validate_object(obj, version)
    assert problems, "kubernetes-validate rejects it, so must we"
    assert (path, keyword) in {(p.path, p.keyword) for p in problems}
    # kubernetes-validate's reported error is one of ours (unknown fields: at the parent)
    locations = {p.location for p in problems} | {p.location[:-1] for p in problems}
    assert tuple(ref_path or ()) in locations


def test_readable_messages() -> None:
    dep = samples()["deployment"]
    dep["spec"]["template"]["spec"]["containers"][0]["foo"] = 1
    dep["spec"]["replica"] = 2
    dep["spec"]["replicas"] = "three"
    dep["spec"]["template"]["spec"]["containers"][0]["ports"][0]["containerPort"] = "http"
    texts = {str(p) for p in kubeschema.validate_object(dep, "1.30")}
    assert "spec.template.spec.containers[0]: unknown field 'foo'" in texts
    assert "spec: unknown field 'replica' (did you mean 'replicas'?)" in texts
    assert 'spec.replicas: expected integer, got string "three"' in texts
    assert ('spec.template.spec.containers[0].ports[0].containerPort: '
            'expected integer, got string "http"') in texts
    unknown = [p for p in kubeschema.validate_object(dep, "1.30") if p.keyword == "unknown-field"]
    assert ("spec", "template", "spec", "containers", 0, "foo") in {p.location for p in unknown}


def test_int_or_string_and_quantity_messages() -> None:
    svc = samples()["service"]
    svc["spec"]["ports"][0]["targetPort"] = True
    pvc = samples()["pvc"]
    pvc["spec"]["resources"]["requests"]["storage"] = [1]
    (svc_problem,) = kubeschema.validate_object(svc, "1.30")
    (pvc_problem,) = kubeschema.validate_object(pvc, "1.30")
    assert "integer or a string" in svc_problem.message and "boolean true" in svc_problem.message
    assert "quantity" in pvc_problem.message and "array [1]" in pvc_problem.message


def test_all_errors_are_reported_not_only_the_first() -> None:
    cm = samples()["configmap"]
    cm["data"] = {"a": 1, "b": 2}
    cm["bogus"] = True
    problems = kubeschema.validate_object(cm, "1.30")
    assert {p.path for p in problems} == {"data.a", "data.b", ""}


def test_unknown_kind_and_skipped_kinds() -> None:
    app = {"apiVersion": "argoproj.io/v1alpha1", "kind": "Application", "metadata": {"name": "a"}}
    (problem,) = kubeschema.validate_object(app, "1.30")
    assert problem.keyword == "no-schema"
    assert "Application" in problem.message and "1.30" in problem.message
    assert kubeschema.validate_object(app, "1.30", skip_kinds={"Application"}) == []
    with pytest.raises(kubernetes_validate.SchemaNotFoundError):
        kubernetes_validate.validate(app, "1.30", strict=True)


def test_removed_api_version_suggests_the_served_one() -> None:
    hpa = samples()["hpa"]
    hpa["apiVersion"] = "autoscaling/v2beta2"
    (problem,) = kubeschema.validate_object(hpa, "1.30")
    assert problem.keyword == "no-schema"
    assert "autoscaling/v2" in problem.message and "change apiVersion" in problem.message


@pytest.mark.parametrize(
    "obj",
    [{"kind": "ConfigMap"}, {"apiVersion": "v1"}, {"apiVersion": "v1", "kind": 3}, ["x"],
     {"apiVersion": "../../x/v1", "kind": "ConfigMap"}, {"apiVersion": "v1", "kind": "../Con"}],
)
def test_malformed_objects_are_problems_not_crashes(obj: Any) -> None:
    problems = kubeschema.validate_object(obj, "1.30")
    assert len(problems) == 1


def test_yaml_dates_and_int_keys_are_checked_as_the_api_server_sees_them() -> None:
    cm = samples()["configmap"]
    cm["metadata"]["annotations"] = {"released": datetime.date(2024, 1, 2)}
    assert kubeschema.validate_object(cm, "1.30") == []
    cm["data"] = {1: "x"}
    assert kubeschema.validate_object(cm, "1.30") == []
    cm["data"] = {1: 2}
    assert [p.path for p in kubeschema.validate_object(cm, "1.30")] == ['data["1"]']


def test_versions() -> None:
    versions = kubeschema.supported_versions()
    assert versions[0] == "1.25" and versions[-1] == "1.37"
    assert versions == [f"1.{m}" for m in range(25, 38)]
    assert kubeschema.resolve_version("1.30.4") == "1.30"
    assert kubeschema.resolve_version("v1.31") == "1.31"
    for version in [*versions, "1.30.4"]:
        used = kubernetes_validate.validate(samples()["configmap"], version, strict=True)
        assert kubeschema.resolve_version(version) == used


@pytest.mark.parametrize("version", ["1.24", "1.38", "2.0", "latest", ""])
def test_unsupported_versions_name_the_flag_and_range(version: str) -> None:
    with pytest.raises(InputError) as info:
        kubeschema.resolve_version(version)
    text = info.value.render()
    assert "--kube-version" in text and "1.25" in text and "1.37" in text
    assert info.value.exit_code == 2


def test_version_matters() -> None:
    # ValidatingAdmissionPolicy became GA in 1.30: no v1 schema before that
    vap = {"apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingAdmissionPolicy",
           "metadata": {"name": "x"}, "spec": {}}
    assert kubeschema.validate_object(vap, "1.30") == []
    assert [p.keyword for p in kubeschema.validate_object(vap, "1.29")] == ["no-schema"]


def _cached_files(cache: Path) -> list[Path]:
    return sorted(cache.glob("gitops-gen/*/v*/*.json"))


def test_schemas_are_self_contained_and_cached(fresh_cache: Path) -> None:
    kubeschema.validate_objects(list(samples().values()), "1.30")
    files = _cached_files(fresh_cache)
    assert {f.name for f in files} >= {"deployment-apps-v1.json", "service-v1.json"}
    assert all(f.parent.name == "v1.30" for f in files)
    assert kubernetes_validate.__version__ in files[0].parent.parent.name
    schema = json.loads((files[0].parent / "deployment-apps-v1.json").read_text())
    text = json.dumps(schema)
    assert "_definitions.json" not in text
    refs: set[str] = set()

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if isinstance(node.get("$ref"), str):
                refs.add(node["$ref"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(schema)
    assert refs and all(r.startswith("#/$defs/") for r in refs)
    assert {r.removeprefix("#/$defs/") for r in refs} == set(schema["$defs"])  # only reachable


@pytest.mark.parametrize("damage", ["{not json", "{}", '{"x-gitops-gen": {"format": -1}}', ""])
def test_a_corrupt_cache_file_is_rebuilt(fresh_cache: Path, damage: str) -> None:
    bad = samples()["deployment"]
    bad["spec"]["bogus"] = 1
    assert kubeschema.validate_object(bad, "1.30")
    (path,) = [f for f in _cached_files(fresh_cache) if f.name == "deployment-apps-v1.json"]
    path.write_text(damage)
    kubeschema.forget_compiled()
    assert [p.keyword for p in kubeschema.validate_object(bad, "1.30")] == ["unknown-field"]
    assert json.loads(path.read_text())["$defs"]


def test_the_disk_cache_is_reused(fresh_cache: Path) -> None:
    kubeschema.validate_object(samples()["configmap"], "1.30")
    (path,) = _cached_files(fresh_cache)
    before = path.stat().st_mtime_ns
    kubeschema.forget_compiled()
    kubeschema.validate_object(samples()["configmap"], "1.30")
    assert path.stat().st_mtime_ns == before
    assert not list(path.parent.glob(".*.tmp"))  # no temp files left behind


def test_warm_compiles_the_kinds_built_before_and_only_those(fresh_cache: Path) -> None:
    assert kubeschema.warm("1.30") == 0  # nothing built on this machine yet
    kubeschema.validate_objects([samples()["configmap"], samples()["deployment"]], "1.30")
    (fresh_cache / "stray.txt").write_text("")
    built = {f.name for f in _cached_files(fresh_cache)}
    (next(iter(_cached_files(fresh_cache))).parent / "not a schema.json").write_text("{}")
    kubeschema.forget_compiled()
    assert kubeschema.warm("1.30") == len(built) == 2
    assert set(kubeschema._compiled) == {("1.30", name) for name in built}
    assert kubeschema.warm("1.29") == 0  # another version's schemas were never built


def test_unwritable_cache_still_validates(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocker))
    kubeschema.forget_compiled()
    bad = samples()["configmap"]
    bad["data"] = {"a": 1}
    assert [p.path for p in kubeschema.validate_object(bad, "1.30")] == ["data.a"]


def test_batch_lines_up_with_input() -> None:
    # How fast a batch goes is measured by benchmarks/schema_stage.py, against its target.
    good = list(samples().values())
    bad = samples()["service"]
    bad["spec"]["ports"][0]["port"] = "x"
    objs = good * 3 + [bad] + good
    results = kubeschema.validate_objects(objs, "1.30")
    assert len(results) == len(objs)
    assert [i for i, r in enumerate(results) if r] == [3 * len(good)]
    assert [p.path for p in results[3 * len(good)]] == ["spec.ports[0].port"]


def test_benchmark_objects_are_valid_for_both_validators() -> None:
    from benchmarks import schema_stage

    distinct = schema_stage.distinct_objects()
    assert len(distinct) == 30
    assert kubeschema.validate_objects(distinct, schema_stage.VERSION) == [[]] * len(distinct)
    for obj in distinct:
        assert reference(obj, schema_stage.VERSION) == (True, None)
    # The benchmark itself runs (its speed against the targets is for `make bench` to report).
    figures = schema_stage.run(count=90, sample=6)
    assert figures["problems_found"] == 0
    assert (figures["objects"], figures["kubernetes_validate_sample"]) == (90, 6)
    assert set(figures["ratio"]) == set(figures["kubeschema_objects_per_second"])


def test_the_cache_key_has_the_installed_kubernetes_validate_version() -> None:
    import importlib.metadata

    assert kubeschema._kv_version() == importlib.metadata.version("kubernetes-validate")
