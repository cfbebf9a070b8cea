"""The todo-chatbot chart, rendered by real Helm over a matrix of values.

Every case is checked against the specification (objects, names, replicas, labels, sync waves,
secrets handling, security, probes, resources) and validated strictly with kubernetes-validate.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import json
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import helm_python
import kubernetes_validate
import pytest
import yaml

from gitops_gen.errors import ChartError, MissingError
from gitops_gen.model import chart
from gitops_gen.repo import layout

CHART = chart.packaged_chart_dir()
NS = "todo-test"
PASSWORD = "db-Pa55 @:/%#?-sentinel"
SECRET_KEY = "jwt-signing-key-sentinel"
GEMINI_KEY = "gemini-api-key-sentinel"
SECRET_VALUES = (PASSWORD, SECRET_KEY, GEMINI_KEY)
SECRETS: dict[str, Any] = {
    "postgresql": {"auth": {"password": PASSWORD}},
    "backend": {"secrets": {"secretKey": SECRET_KEY, "geminiApiKey": GEMINI_KEY}},
}
KUBE_VERSIONS = ("1.30", kubernetes_validate.utils.latest_version())
COMPONENTS = ("database", "backend", "frontend")
LABEL_KEYS = {
    "app.kubernetes.io/name",
    "app.kubernetes.io/instance",
    "app.kubernetes.io/version",
    "app.kubernetes.io/component",
    "app.kubernetes.io/part-of",
    "app.kubernetes.io/managed-by",
    "helm.sh/chart",
}
WAVE = chart.WAVE_ANNOTATION

INGRESS = {"ingress": {"enabled": True, "host": "todo.example.com", "className": "nginx",
                       "tls": {"enabled": True}}}
AUTOSCALING = {"backend": {"autoscaling": {"enabled": True,
                                           "targetMemoryUtilizationPercentage": 75}},
               "frontend": {"autoscaling": {"enabled": True}}}
EXISTING = {"postgresql": {"auth": {"existingSecret": "db-credentials", "password": ""}},
            "backend": {"secrets": {"existingSecret": "backend-credentials", "secretKey": ""}}}
ACCOUNTS = {"serviceAccount": {"create": True, "annotations": {"example.com/role": "todo"}},
            "rbac": {"create": True, "rules": [{"apiGroups": [""], "resources": ["configmaps"],
                                                 "verbs": ["get"]}]}}
PDBS = {"backend": {"podDisruptionBudget": {"enabled": True}},
        "frontend": {"podDisruptionBudget": {"enabled": True, "minAvailable": "50%"}}}
NETPOL = {"networkPolicy": {"enabled": True}}
NODEPORT = {"frontend": {"service": {"type": "NodePort", "nodePort": 30080}}}

CASES: dict[str, list[dict[str, Any]]] = {
    "defaults": [],
    "ingress": [INGRESS, {"frontend": {"service": {"type": "ClusterIP"}}}],
    "network-policy": [NETPOL],
    "autoscaling": [AUTOSCALING],
    "nodeport": [NODEPORT],
    "existing-secret": [EXISTING],
    "service-accounts": [ACCOUNTS],
    "pdb": [PDBS],
    "everything": [INGRESS, NETPOL, AUTOSCALING, NODEPORT, ACCOUNTS, PDBS,
                   {"postgresql": {"persistence": {"storageClass": "fast-ssd", "size": "20Gi"}},
                    "imagePullSecrets": [{"name": "registry"}]}],
}


def merged(layers: list[dict[str, Any]]) -> dict[str, Any]:
    """Chart defaults under the layers, as Helm sees them."""
    defaults = yaml.safe_load((CHART / "values.yaml").read_text())
    return chart.merge_layers([defaults, SECRETS, *layers])


def render(*layers: dict[str, Any], include_tests: bool = False) -> list[chart.Rendered]:
    return chart.render(CHART, [SECRETS, *layers], namespace=NS, include_tests=include_tests)


_RENDERED: dict[str, list[chart.Rendered]] = {}


@pytest.fixture(params=sorted(CASES))
def case(request: pytest.FixtureRequest) -> tuple[str, list[chart.Rendered], dict[str, Any]]:
    name = request.param
    if name not in _RENDERED:
        _RENDERED[name] = render(*CASES[name])
    return name, _RENDERED[name], merged(CASES[name])


def by_key(rendered: list[chart.Rendered]) -> dict[tuple[str, str], dict[str, Any]]:
    out = {(r.kind, r.name): r.obj for r in rendered}
    assert len(out) == len(rendered), "two objects share a kind and name"
    return out


def component(obj: dict[str, Any]) -> str:
    return str(obj["metadata"]["labels"]["app.kubernetes.io/component"])


def wave(obj: dict[str, Any]) -> int:
    return int(obj["metadata"]["annotations"][WAVE])


def pod_spec(obj: dict[str, Any]) -> dict[str, Any]:
    spec = obj["spec"]
    return dict(spec["template"]["spec"] if "template" in spec else spec)


def containers(obj: dict[str, Any], *, init: bool = True) -> Iterator[dict[str, Any]]:
    spec = pod_spec(obj)
    yield from spec.get("containers", [])
    if init:
        yield from spec.get("initContainers", [])


def is_final(obj: dict[str, Any]) -> bool:
    kind = obj["kind"]
    if kind in ("Ingress", "HorizontalPodAutoscaler"):
        return True
    return bool(kind == "Service" and obj["spec"]["type"] == "LoadBalancer")


def expected_objects(values: dict[str, Any]) -> set[tuple[str, str]]:
    be, fe = values["backend"], values["frontend"]
    want = {("Deployment", n) for n in ("todo-db", "todo-backend", "todo-frontend")}
    want |= {("Service", n) for n in ("todo-db", "todo-backend", "todo-frontend")}
    want |= {("ConfigMap", n) for n in ("todo-db", "todo-backend", "todo-frontend")}
    want.add(("PersistentVolumeClaim", "todo-db"))
    if not values["postgresql"]["auth"]["existingSecret"]:
        want.add(("Secret", "todo-db"))
    if not be["secrets"]["existingSecret"]:
        want.add(("Secret", "todo-backend"))
    if values["ingress"]["enabled"]:
        want.add(("Ingress", "todo"))
    if values["networkPolicy"]["enabled"]:
        want |= {("NetworkPolicy", "todo-db"), ("NetworkPolicy", "todo-backend")}
    if values["serviceAccount"]["create"]:
        want |= {("ServiceAccount", n) for n in ("todo-db", "todo-backend", "todo-frontend")}
    if values["rbac"]["create"]:
        want |= {("Role", "todo-backend"), ("RoleBinding", "todo-backend")}
    for name, comp in (("todo-backend", be), ("todo-frontend", fe)):
        if comp["autoscaling"]["enabled"]:
            want.add(("HorizontalPodAutoscaler", name))
        if comp["podDisruptionBudget"]["enabled"]:
            want.add(("PodDisruptionBudget", name))
    return want


# --- the matrix -----------------------------------------------------------------------------


def test_objects_names_and_types(case: tuple[str, list[chart.Rendered], dict[str, Any]]) -> None:
    _, rendered, values = case
    objs = by_key(rendered)
    assert set(objs) == expected_objects(values)
    assert objs[("Service", "todo-db")]["spec"]["type"] == "ClusterIP"
    assert objs[("Service", "todo-db")]["spec"]["ports"][0]["port"] == 5432
    assert objs[("Service", "todo-backend")]["spec"]["type"] == "ClusterIP"
    assert objs[("Service", "todo-backend")]["spec"]["ports"][0]["port"] == 8000
    frontend_svc = objs[("Service", "todo-frontend")]["spec"]
    assert frontend_svc["type"] == values["frontend"]["service"]["type"]
    if values["frontend"]["service"].get("nodePort"):
        assert frontend_svc["ports"][0]["nodePort"] == values["frontend"]["service"]["nodePort"]


def test_replicas_and_strategy(case: tuple[str, list[chart.Rendered], dict[str, Any]]) -> None:
    _, rendered, values = case
    objs = by_key(rendered)
    db = objs[("Deployment", "todo-db")]["spec"]
    assert db["replicas"] == 1 and db["strategy"] == {"type": "Recreate"}
    for name, comp in (("todo-backend", "backend"), ("todo-frontend", "frontend")):
        spec = objs[("Deployment", name)]["spec"]
        if values[comp]["autoscaling"]["enabled"]:
            assert "replicas" not in spec, f"{name} sets replicas under an HPA"
            hpa = objs[("HorizontalPodAutoscaler", name)]["spec"]
            assert hpa["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment",
                                             "name": name}
            assert hpa["minReplicas"] <= hpa["maxReplicas"]
        else:
            assert spec["replicas"] == values[comp]["replicaCount"] == 2


def test_labels_and_selectors(case: tuple[str, list[chart.Rendered], dict[str, Any]]) -> None:
    _, rendered, values = case
    for r in rendered:
        labels = r.obj["metadata"].get("labels") or {}
        assert LABEL_KEYS <= set(labels), f"{r.kind}/{r.name} lacks {LABEL_KEYS - set(labels)}"
        assert labels["app.kubernetes.io/name"] == "todo-chatbot"
        assert labels["app.kubernetes.io/instance"] == layout.RELEASE_NAME
        assert labels["app.kubernetes.io/part-of"] == "todo-chatbot"
        assert labels["app.kubernetes.io/managed-by"] == "Helm"
        assert labels["helm.sh/chart"] == "todo-chatbot-" + chart_yaml()["version"]
        assert labels["app.kubernetes.io/component"] in COMPONENTS
        assert re.fullmatch(r"[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?",
                            labels["app.kubernetes.io/version"])
    objs = by_key(rendered)
    for comp, name in zip(COMPONENTS, ("todo-db", "todo-backend", "todo-frontend"), strict=True):
        selector = {"app.kubernetes.io/name": "todo-chatbot",
                    "app.kubernetes.io/instance": "todo", "app.kubernetes.io/component": comp}
        deploy = objs[("Deployment", name)]
        assert deploy["spec"]["selector"] == {"matchLabels": selector}
        assert selector.items() <= deploy["spec"]["template"]["metadata"]["labels"].items()
        assert objs[("Service", name)]["spec"]["selector"] == selector
        for kind in ("PodDisruptionBudget", "NetworkPolicy"):
            if (kind, name) in objs:
                key = "selector" if kind == "PodDisruptionBudget" else "podSelector"
                assert objs[(kind, name)]["spec"][key] == {"matchLabels": selector}
    labels = objs[("Deployment", "todo-backend")]["metadata"]["labels"]
    assert labels["app.kubernetes.io/version"] == values["backend"]["image"]["tag"]


def test_sync_waves(case: tuple[str, list[chart.Rendered], dict[str, Any]]) -> None:
    _, rendered, _ = case
    for r in rendered:
        assert WAVE in r.annotations, f"{r.kind}/{r.name} has no sync-wave"
        assert re.fullmatch(r"-?\d+", r.annotations[WAVE])
    ordinary = [r.obj for r in rendered if not is_final(r.obj)]
    final = [r.obj for r in rendered if is_final(r.obj)]
    waves = {c: [wave(o) for o in ordinary if component(o) == c] for c in COMPONENTS}
    assert max(waves["database"]) < min(waves["backend"])
    assert max(waves["backend"]) < min(waves["frontend"])
    for obj in final:
        assert wave(obj) > max(wave(o) for o in ordinary), f"{obj['kind']} not in the final wave"
    objs = by_key(rendered)
    assert wave(objs[("PersistentVolumeClaim", "todo-db")]) == wave(objs[("Deployment", "todo-db")])
    for key, deploy in objs.items():
        if key[0] != "Deployment":
            continue
        for kind, name in referenced_config(deploy):
            if (kind, name) in objs:
                assert wave(objs[(kind, name)]) <= wave(deploy), f"{kind}/{name} after {key}"


def test_default_waves_are_0_1_2_3() -> None:
    objs = by_key(render(INGRESS, AUTOSCALING))
    assert wave(objs[("Deployment", "todo-db")]) == 0
    assert wave(objs[("Deployment", "todo-backend")]) == 1
    assert wave(objs[("Deployment", "todo-frontend")]) == 2
    assert {wave(objs[k]) for k in objs if is_final(objs[k])} == {3}
    nodeport = by_key(render(NODEPORT))
    assert wave(nodeport[("Service", "todo-frontend")]) == 2


def referenced_config(deploy: dict[str, Any]) -> set[tuple[str, str]]:
    refs: set[tuple[str, str]] = set()
    for c in containers(deploy):
        for src in c.get("envFrom") or []:
            if "configMapRef" in src:
                refs.add(("ConfigMap", src["configMapRef"]["name"]))
            if "secretRef" in src:
                refs.add(("Secret", src["secretRef"]["name"]))
        for item in c.get("env") or []:
            ref = item.get("valueFrom") or {}
            if "secretKeyRef" in ref:
                refs.add(("Secret", ref["secretKeyRef"]["name"]))
            if "configMapKeyRef" in ref:
                refs.add(("ConfigMap", ref["configMapKeyRef"]["name"]))
    return refs


def test_pvc(case: tuple[str, list[chart.Rendered], dict[str, Any]]) -> None:
    _, rendered, values = case
    pvc = by_key(rendered)[("PersistentVolumeClaim", "todo-db")]
    assert pvc["metadata"]["annotations"]["argocd.argoproj.io/sync-options"] == \
        "Prune=false,Delete=false"
    assert pvc["spec"]["accessModes"] == ["ReadWriteOnce"]
    persistence = values["postgresql"]["persistence"]
    assert pvc["spec"]["resources"]["requests"]["storage"] == persistence["size"]
    if persistence["storageClass"]:
        assert pvc["spec"]["storageClassName"] == persistence["storageClass"]
    else:
        assert "storageClassName" not in pvc["spec"]


def test_secrets_never_literal(case: tuple[str, list[chart.Rendered], dict[str, Any]]) -> None:
    name, rendered, _ = case
    for r in rendered:
        if r.kind == "Secret":
            continue
        text = json.dumps(r.obj)
        for secret in SECRET_VALUES:
            assert secret not in text, f"a secret value appears in {r.kind}/{r.name}"
        if r.kind != "Deployment":
            continue
        for c in containers(r.obj):
            for item in c.get("env") or []:
                assert "value" in item or "secretKeyRef" in item["valueFrom"] \
                    or "configMapKeyRef" in item["valueFrom"]
                if item["name"] in ("POSTGRES_PASSWORD", "DATABASE_URL", "SECRET_KEY",
                                    "GEMINI_API_KEY", "POSTGRES_USER", "PGUSER"):
                    assert "secretKeyRef" in item["valueFrom"], item["name"]
    objs = by_key(rendered)
    backend = objs[("Deployment", "todo-backend")]
    env_from = [s for c in containers(backend, init=False) for s in c.get("envFrom") or []]
    secret_name = "backend-credentials" if name == "existing-secret" else "todo-backend"
    assert {"secretRef": {"name": secret_name}} in env_from


def test_backend_secret_content() -> None:
    objs = by_key(render())
    secret = objs[("Secret", "todo-backend")]
    data = {k: base64.b64decode(v).decode() for k, v in secret["data"].items()}
    assert set(data) == {"DATABASE_URL", "GEMINI_API_KEY", "SECRET_KEY"}
    assert data["SECRET_KEY"] == SECRET_KEY and data["GEMINI_API_KEY"] == GEMINI_KEY
    assert data["DATABASE_URL"] == (
        "postgresql://todo:db-Pa55%20%40%3A%2F%25%23%3F-sentinel@todo-db:5432/todoapp")
    db = {k: base64.b64decode(v).decode() for k, v in objs[("Secret", "todo-db")]["data"].items()}
    assert db == {"username": "todo", "password": PASSWORD}
    assert objs[("ConfigMap", "todo-db")]["data"]["POSTGRES_DB"] == "todoapp"
    assert objs[("ConfigMap", "todo-db")]["data"]["PGPORT"] == "5432"


def test_security_context(case: tuple[str, list[chart.Rendered], dict[str, Any]]) -> None:
    _, rendered, values = case
    for r in rendered:
        if r.kind != "Deployment":
            continue
        spec = pod_spec(r.obj)
        rbac_backend = values["rbac"]["create"] and component(r.obj) == "backend"
        assert spec["automountServiceAccountToken"] is bool(rbac_backend)
        pod = spec["securityContext"]
        assert pod["runAsNonRoot"] is True and pod["runAsUser"] > 0 and pod["fsGroup"] > 0
        assert pod["seccompProfile"] == {"type": "RuntimeDefault"}
        for c in containers(r.obj):
            sc = c["securityContext"]
            assert sc["allowPrivilegeEscalation"] is False
            assert sc["capabilities"] == {"drop": ["ALL"]}
            assert sc["readOnlyRootFilesystem"] is True
            assert sc["runAsNonRoot"] is True
            assert sc["seccompProfile"] == {"type": "RuntimeDefault"}
            mounts = {m["mountPath"] for m in c.get("volumeMounts") or []}
            if c in pod_spec(r.obj)["containers"]:
                assert "/tmp" in mounts
    db = by_key(rendered)[("Deployment", "todo-db")]
    assert pod_spec(db)["securityContext"]["runAsUser"] == 999
    assert pod_spec(db)["securityContext"]["fsGroup"] == 999
    (pg,) = pod_spec(db)["containers"]
    volume_of = {m["mountPath"]: m["name"] for m in pg["volumeMounts"]}
    volumes = {v["name"]: v for v in pod_spec(db)["volumes"]}
    for path in ("/tmp", "/var/run/postgresql"):
        assert "emptyDir" in volumes[volume_of[path]]
    assert volumes[volume_of["/var/lib/postgresql/data"]]["persistentVolumeClaim"] == \
        {"claimName": "todo-db"}
    # Shared memory of parallel queries: memory-backed, bigger than the runtime's 64Mi.
    assert volumes[volume_of["/dev/shm"]]["emptyDir"] == {
        "medium": "Memory", "sizeLimit": values["postgresql"]["shmSizeLimit"]}


def test_probes_and_resources(case: tuple[str, list[chart.Rendered], dict[str, Any]]) -> None:
    _, rendered, values = case
    for r in rendered:
        if r.kind != "Deployment":
            continue
        for c in containers(r.obj, init=False):
            assert "livenessProbe" in c and "readinessProbe" in c, f"{r.name}/{c['name']}"
        for c in containers(r.obj):
            for part in ("requests", "limits"):
                assert {"cpu", "memory"} <= set(c["resources"][part]), f"{r.name}/{c['name']}"
    objs = by_key(rendered)
    health = values["backend"]["healthPath"]
    (be,) = pod_spec(objs[("Deployment", "todo-backend")])["containers"]
    assert be["livenessProbe"]["httpGet"] == {"path": health, "port": "http"}
    assert be["readinessProbe"]["httpGet"] == {"path": health, "port": "http"}
    assert be["ports"] == [{"name": "http", "containerPort": 8000, "protocol": "TCP"}]
    # Frontend: liveness only checks the port (a backend outage must not restart the pods),
    # readiness renders the configured page.
    (fe,) = pod_spec(objs[("Deployment", "todo-frontend")])["containers"]
    assert fe["livenessProbe"]["tcpSocket"] == {"port": "http"}
    assert "httpGet" not in fe["livenessProbe"]
    assert fe["readinessProbe"]["httpGet"] == {"path": values["frontend"]["healthPath"],
                                               "port": "http"}
    # Database: one pg_isready command for startup, liveness and readiness; the startup probe
    # covers initdb, so liveness need not wait.
    (pg,) = pod_spec(objs[("Deployment", "todo-db")])["containers"]
    command = ["sh", "-c", 'pg_isready -U "$POSTGRES_USER" -d "$POSTGRES_DB" -h 127.0.0.1']
    for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
        assert pg[probe]["exec"]["command"] == command, probe
        timings = {k: v for k, v in pg[probe].items() if k != "exec"}
        assert timings == values["postgresql"][probe], probe
    startup = values["postgresql"]["startupProbe"]
    assert startup["periodSeconds"] * startup["failureThreshold"] >= 300
    assert values["postgresql"]["livenessProbe"]["initialDelaySeconds"] == 0


def test_frontend_config(case: tuple[str, list[chart.Rendered], dict[str, Any]]) -> None:
    _, rendered, _ = case
    data = by_key(rendered)[("ConfigMap", "todo-frontend")]["data"]
    assert data["HOSTNAME"] == "0.0.0.0"
    # The browser calls the same-origin API path in every mode, never a cluster-internal name.
    assert data["NEXT_PUBLIC_API_BASE_URL"] == "/api"
    # The frontend's server forwards that path to the backend Service's in-cluster origin.
    assert data["API_INTERNAL_URL"] == "http://todo-backend:8000"


def api_routes(rendered: list[chart.Rendered]) -> dict[str, str]:
    """Where the API path leads: what the browser calls, what the backend serves, the
    frontend's forwarding target and (with an Ingress) the path it routes to the backend."""
    objs = by_key(rendered)
    frontend = objs[("ConfigMap", "todo-frontend")]["data"]
    out = {"browser": frontend["NEXT_PUBLIC_API_BASE_URL"],
           "backend": objs[("ConfigMap", "todo-backend")]["data"]["API_PREFIX"],
           "forward": frontend["API_INTERNAL_URL"]}
    ingress = objs.get(("Ingress", "todo"))
    if ingress is not None:
        (rule,) = ingress["spec"]["rules"]
        out["ingress"] = next(p["path"] for p in rule["http"]["paths"]
                              if p["backend"]["service"]["name"] == "todo-backend")
    return out


@pytest.mark.parametrize("name", sorted(CASES))
def test_one_api_path_in_every_mode(name: str) -> None:
    routes = api_routes(render(*CASES[name]))
    # The backend serves /api/... whether the Ingress or the frontend's server brings the
    # request: both pass the path on unchanged.
    assert {routes["browser"], routes["backend"], routes.get("ingress", "/api")} == {"/api"}
    assert routes["forward"] == "http://todo-backend:8000"


@pytest.mark.parametrize(("layer", "path", "origin"), [
    ({"backend": {"apiPath": "/backend/v2"}}, "/backend/v2", "http://todo-backend:8000"),
    ({**INGRESS, "backend": {"apiPath": "/v1"}}, "/v1", "http://todo-backend:8000"),
    ({"backend": {"port": 9000}}, "/api", "http://todo-backend:9000"),
])
def test_api_path_follows_backend_api_path(layer: dict[str, Any], path: str,
                                           origin: str) -> None:
    routes = api_routes(render(layer))
    assert routes.pop("forward") == origin
    assert set(routes.values()) == {path}
    assert ("ingress" in routes) is ("ingress" in layer)


def test_database_pgdata_and_images(case: tuple[str, list[chart.Rendered], dict[str, Any]]) -> None:
    _, rendered, _ = case
    objs = by_key(rendered)
    pgdata = objs[("ConfigMap", "todo-db")]["data"]["PGDATA"]
    assert pgdata.startswith("/var/lib/postgresql/data/") and pgdata != "/var/lib/postgresql/data/"
    for r in rendered:
        if r.kind == "Deployment":
            for c in containers(r.obj):
                repo, _, tag = c["image"].rpartition(":")
                assert repo and tag and tag != "latest", c["image"]
    (pg,) = pod_spec(objs[("Deployment", "todo-db")])["containers"]
    assert int(pg["image"].rpartition(":")[2].split(".")[0]) <= 17  # 18 moved the data dir


def test_ingress_routes() -> None:
    ingress = by_key(render(INGRESS))[("Ingress", "todo")]
    # No rewrite annotation: the backend gets the path as the browser sent it.
    assert set(ingress["metadata"]["annotations"]) == {WAVE}
    ing = ingress["spec"]
    (rule,) = ing["rules"]
    assert rule["host"] == "todo.example.com"
    routes = {p["path"]: p["backend"]["service"] for p in rule["http"]["paths"]}
    assert routes == {"/api": {"name": "todo-backend", "port": {"name": "http"}},
                      "/": {"name": "todo-frontend", "port": {"name": "http"}}}
    assert ing["ingressClassName"] == "nginx"
    assert ing["tls"] == [{"hosts": ["todo.example.com"], "secretName": "todo-tls"}]


def test_network_policies() -> None:
    objs = by_key(render(NETPOL))
    release = {"app.kubernetes.io/name": "todo-chatbot", "app.kubernetes.io/instance": "todo"}
    db = objs[("NetworkPolicy", "todo-db")]["spec"]
    (rule,) = db["ingress"]
    assert rule["from"] == [
        {"podSelector": {"matchLabels": {**release, "app.kubernetes.io/component": "backend"}}},
        {"podSelector": {"matchLabels": {**release, "app.kubernetes.io/component": "test",
                                         "todo-chatbot/test-target": "database"}}},
    ]
    backend = objs[("NetworkPolicy", "todo-backend")]["spec"]
    (rule,) = backend["ingress"]
    peers = rule["from"]
    assert peers[0]["podSelector"]["matchLabels"]["app.kubernetes.io/component"] == "frontend"
    assert peers[1]["namespaceSelector"] == {
        "matchLabels": {"kubernetes.io/metadata.name": "ingress-nginx"}}
    assert peers[2] == {"podSelector": {"matchLabels": {
        **release, "app.kubernetes.io/component": "test",
        "todo-chatbot/test-target": "backend"}}}


def test_service_accounts_without_tokens() -> None:
    objs = by_key(render(ACCOUNTS))
    for name in ("todo-db", "todo-backend", "todo-frontend"):
        assert objs[("ServiceAccount", name)]["automountServiceAccountToken"] is False
        assert pod_spec(objs[("Deployment", name)])["serviceAccountName"] == name
    binding = objs[("RoleBinding", "todo-backend")]
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "todo-backend",
                                    "namespace": NS}]


# --- Kubernetes schemas, lint -----------------------------------------------------------------


@pytest.mark.parametrize("version", KUBE_VERSIONS)
def test_kubernetes_schema_strict(case: tuple[str, list[chart.Rendered], dict[str, Any]],
                                  version: str) -> None:
    _, rendered, _ = case
    problems = []
    for r in [*rendered, *(t for t in render_tests(case[0]))]:
        try:
            kubernetes_validate.validate(r.obj, version, strict=True)
        except kubernetes_validate.ValidationError as exc:
            problems.append(f"{r.kind}/{r.name}: {exc.message}")
    assert not problems


def render_tests(name: str) -> list[chart.Rendered]:
    return [r for r in render(*CASES[name], include_tests=True)
            if r.source.startswith(chart.TESTS_DIR)]


@pytest.mark.parametrize("name", ["defaults", "everything"])
def test_helm_lint_clean(name: str) -> None:
    values = chart.merge_layers([SECRETS, *CASES[name]])
    messages = chart.lint(CHART, values, strict=True, namespace=NS, kube_version="v1.30.0")
    assert not [m for m in messages if m.severity in ("error", "warning")], messages


def test_lint_reports_errors() -> None:
    messages = chart.lint(CHART, {**SECRETS, "backend": {"replicaCount": -3}})
    assert any(m.severity == "error" and "replicaCount" in m.message for m in messages)


# --- bad values -------------------------------------------------------------------------------

BAD: list[tuple[dict[str, Any], str]] = [
    ({"backend": {"replicaCount": -1}}, "/backend/replicaCount"),
    ({"frontend": {"replicaCount": "two"}}, "/frontend/replicaCount"),
    ({"backend": {"replicaCount": 1.5}}, "/backend/replicaCount"),
    ({"frontend": {"service": {"type": "Ingress"}}}, "/frontend/service/type"),
    ({"postgresql": {"auth": {"password": ""}}}, "postgresql.auth.password"),
    ({"postgresql": {"auth": {"password": None}}}, "postgresql.auth.password"),
    ({"backend": {"secrets": {"secretKey": ""}}}, "backend.secrets.secretKey"),
    ({"postgresql": {"auth": {"password": 12345}}}, "/postgresql/auth/password"),
    ({"postgresql": {"auth": {"existingSecret": "db"}}}, "backend.secrets.existingSecret"),
    ({"syncWaves": {"final": 1}}, "syncWaves"),
    ({"syncWaves": {"backend": "one"}}, "/syncWaves/backend"),
    ({"backend": {"image": {"tag": "1.0 beta"}}}, "/backend/image/tag"),
    # A digest is sha256 and 64 lower-case hex digits; an empty tag needs one.
    ({"backend": {"image": {"digest": "sha256:abc"}}}, "/backend/image/digest"),
    ({"frontend": {"image": {"digest": "sha256:" + "AB" * 32}}}, "/frontend/image/digest"),
    ({"frontend": {"image": {"digest": "md5:" + "ab" * 16}}}, "/frontend/image/digest"),
    ({"backend": {"image": {"tag": ""}}}, "/backend/image/digest"),
    ({"frontend": {"replicas": 3}}, "replicas"),
    ({"backend": {"config": {"SECRET_KEY": "x"}}}, "/backend/config/SECRET_KEY"),
    ({"postgresql": {"persistence": {"size": "big"}}}, "/postgresql/persistence/size"),
    ({"ingress": {"enabled": True, "tls": {"enabled": True}}}, "ingress.host"),
    ({"backend": {"autoscaling": {"enabled": True, "minReplicas": 6}}}, "minReplicas"),
    ({"rbac": {"create": True}}, "serviceAccount.create"),
    ({"frontend": {"service": {"nodePort": 80}}}, "/frontend/service/nodePort"),
    ({"backend": {"resources": {"limits": {"memory": None}}}}, "/backend/resources/limits"),
    ({"frontend": {"resources": {"requests": {"cpu": "lots"}}}},
     "/frontend/resources/requests/cpu"),
    # PostgreSQL 18+ refuses the data directory the chart mounts: the schema stops at 17.
    ({"postgresql": {"image": {"tag": "18"}}}, "/postgresql/image/tag"),
    ({"postgresql": {"image": {"tag": "18.1"}}}, "/postgresql/image/tag"),
    ({"postgresql": {"image": {"tag": "18-alpine"}}}, "/postgresql/image/tag"),
    ({"postgresql": {"image": {"tag": "19.0-bookworm"}}}, "/postgresql/image/tag"),
    ({"postgresql": {"image": {"tag": "170"}}}, "/postgresql/image/tag"),
    ({"postgresql": {"image": {"tag": "latest"}}}, "/postgresql/image/tag"),
    ({"postgresql": {"image": {"tag": "alpine"}}}, "/postgresql/image/tag"),
    ({"postgresql": {"image": {"tag": ""}}}, "/postgresql/image/tag"),
    ({"postgresql": {"shmSizeLimit": "lots"}}, "/postgresql/shmSizeLimit"),
    ({"postgresql": {"startupProbe": {"failureThreshold": 0}}},
     "/postgresql/startupProbe/failureThreshold"),
    # A disruption budget that never lets a pod go blocks node drains.
    ({"backend": {"podDisruptionBudget": {"enabled": True, "minAvailable": 2}}},
     "backend.podDisruptionBudget.minAvailable (2) must be less than backend.replicaCount (2)"),
    ({"frontend": {"replicaCount": 3, "podDisruptionBudget": {"enabled": True,
                                                              "minAvailable": 5}}},
     "frontend.podDisruptionBudget.minAvailable (5) must be less than frontend.replicaCount (3)"),
    ({"frontend": {"autoscaling": {"enabled": True, "minReplicas": 2},
                   "podDisruptionBudget": {"enabled": True, "minAvailable": 2}}},
     "must be less than frontend.autoscaling.minReplicas (2)"),
    ({"backend": {"podDisruptionBudget": {"enabled": True, "minAvailable": "100%"}}},
     "backend.podDisruptionBudget.minAvailable (100%) must be below 100%"),
    # The backend policy admits only the selected ingress controller: name its class.
    ({**NETPOL, "ingress": {"enabled": True}}, "ingress.className is required"),
    ({"backend": {"apiPath": "/"}}, "/backend/apiPath"),
    ({"backend": {"apiPath": "/api/"}}, "/backend/apiPath"),
    ({"backend": {"apiPath": "api"}}, "/backend/apiPath"),
    ({"backend": {"config": {"API_PREFIX": "/x"}}}, "/backend/config/API_PREFIX"),
    # The browser's API base is the API path, never a value that could name a cluster Service.
    ({"frontend": {"apiBaseUrl": "http://todo-backend:8000"}}, "apiBaseUrl"),
    ({"frontend": {"config": {"NEXT_PUBLIC_API_BASE_URL": "http://todo-backend:8000"}}},
     "/frontend/config/NEXT_PUBLIC_API_BASE_URL"),
    ({"ingress": {"apiPath": "/api"}}, "apiPath"),
    ({"frontend": {"cacheDir": "/tmp"}}, "/frontend/cacheDir"),
    ({"frontend": {"cacheDir": "/"}}, "/frontend/cacheDir"),
    ({"frontend": {"cacheDir": "cache"}}, "/frontend/cacheDir"),
    ({"frontend": {"config": {"API_INTERNAL_URL": "x"}}}, "/frontend/config/API_INTERNAL_URL"),
    ({"fullnameOverride": "1todo"}, "/fullnameOverride"),
    ({"nameOverride": "9chat"}, "/nameOverride"),
]


@pytest.mark.parametrize(("layer", "named"), BAD, ids=[b[1] for b in BAD])
def test_bad_values_fail_clearly(layer: dict[str, Any], named: str) -> None:
    with pytest.raises(ChartError) as info:
        render(layer)
    message = str(info.value)
    assert named in message
    assert "\n" not in message
    assert "execution error at" not in message and "template:" not in message
    for secret in SECRET_VALUES:
        assert secret not in message


@pytest.mark.parametrize(("waves", "shown"), [
    ({"backend": 0}, "database (0) < backend (0) < frontend (2) < final (3)"),
    ({"frontend": 1}, "database (0) < backend (1) < frontend (1) < final (3)"),
    ({"final": 2}, "database (0) < backend (1) < frontend (2) < final (2)"),
], ids=["database-with-backend", "backend-with-frontend", "frontend-with-final"])
def test_two_components_in_one_wave_are_refused(waves: dict[str, int], shown: str) -> None:
    # One wave for two components lets the later one start before the earlier is Healthy.
    with pytest.raises(ChartError) as info:
        render({"syncWaves": waves})
    assert f"syncWaves must increase: {shown}" in str(info.value)


def test_ingress_class_message_names_both_values() -> None:
    with pytest.raises(ChartError) as info:
        render(NETPOL, {"ingress": {"enabled": True, "host": "todo.example.com"}})
    assert "ingress.className" in str(info.value)
    assert "networkPolicy.ingressController" in str(info.value)
    # Either switch alone needs no class.
    render(NETPOL)
    render({"ingress": {"enabled": True}})


DIGEST = "sha256:" + "0123456789abcdef" * 4


@pytest.mark.parametrize(("image", "ref", "version"), [
    ({"tag": "1.4.0"}, "todo-chatbot-backend:1.4.0", "1.4.0"),
    ({"tag": "1.4.0", "digest": DIGEST}, f"todo-chatbot-backend:1.4.0@{DIGEST}", "1.4.0"),
    ({"tag": "", "digest": DIGEST}, f"todo-chatbot-backend@{DIGEST}", "sha256-0123456789ab"),
    ({"repository": "ghcr.io/org/api", "tag": "", "digest": DIGEST},
     f"ghcr.io/org/api@{DIGEST}", "sha256-0123456789ab"),
])
def test_image_by_tag_digest_or_both(image: dict[str, str], ref: str, version: str) -> None:
    objs = by_key(render({"backend": {"image": image}, "frontend": {"image": image}}))
    for name in ("todo-backend", "todo-frontend"):
        deploy = objs[("Deployment", name)]
        (container,) = pod_spec(deploy)["containers"]
        assert container["image"] == ref.replace("backend", name.removeprefix("todo-"))
        assert deploy["spec"]["template"]["metadata"]["labels"][
            "app.kubernetes.io/version"] == version
    # The database image and the backend's wait-for-database container keep postgres:TAG.
    (init,) = pod_spec(objs[("Deployment", "todo-backend")])["initContainers"]
    assert init["image"].startswith("postgres:") and "@" not in init["image"]


@pytest.mark.parametrize("tag", ["17", "17.6", "17.6-alpine", "17.6-alpine3.22", "16-bookworm",
                                 "15.8-bullseye", "9.6"])
def test_postgres_tags_up_to_17_render(tag: str) -> None:
    objs = by_key(render({"postgresql": {"image": {"tag": tag}}}))
    (pg,) = pod_spec(objs[("Deployment", "todo-db")])["containers"]
    assert pg["image"] == f"postgres:{tag}"


@pytest.mark.parametrize("layer", [
    {"backend": {"podDisruptionBudget": {"enabled": True, "minAvailable": 1}}},
    {"backend": {"replicaCount": 3, "podDisruptionBudget": {"enabled": True, "minAvailable": 2}}},
    {"frontend": {"podDisruptionBudget": {"enabled": True, "minAvailable": "99%"}}},
    {"frontend": {"autoscaling": {"enabled": True, "minReplicas": 3},
                  "podDisruptionBudget": {"enabled": True, "minAvailable": 2}}},
    # replicaCount is ignored under an HPA: only minReplicas counts.
    {"backend": {"replicaCount": 1, "autoscaling": {"enabled": True, "minReplicas": 2},
                 "podDisruptionBudget": {"enabled": True, "minAvailable": 1}}},
    # No pods: nothing a budget could block.
    {"backend": {"replicaCount": 0, "podDisruptionBudget": {"enabled": True}}},
])
def test_disruption_budgets_that_leave_a_pod_evictable_render(layer: dict[str, Any]) -> None:
    kinds = {kind for kind, _ in by_key(render(layer))}
    assert "PodDisruptionBudget" in kinds


def test_missing_secrets_without_any_layer() -> None:
    with pytest.raises(ChartError, match=r"postgresql\.auth\.password is required"):
        chart.render(CHART, [], namespace=NS)


def test_validate_values() -> None:
    chart.validate_values(CHART, [SECRETS])
    with pytest.raises(ChartError, match="/frontend/service/type"):
        chart.validate_values(CHART, [{"frontend": {"service": {"type": "External"}}}])


# --- chart.py behaviour ---------------------------------------------------------------------


def test_packaged_chart_dir_is_the_checkout_chart() -> None:
    assert CHART == Path(__file__).resolve().parents[1] / layout.CHART_DIR
    meta = chart_yaml()
    assert meta["apiVersion"] == "v2" and meta["name"] == layout.CHART_NAME
    assert meta["appVersion"]


def chart_yaml() -> dict[str, Any]:
    return dict(yaml.safe_load((CHART / "Chart.yaml").read_text()))


def test_image_tags_default_to_app_version() -> None:
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    app_version = chart_yaml()["appVersion"]
    assert values["backend"]["image"]["tag"] == app_version
    assert values["frontend"]["image"]["tag"] == app_version
    for comp in ("postgresql", "backend", "frontend"):
        assert values[comp]["image"]["tag"] not in ("", "latest")


def test_merge_layers_like_helm() -> None:
    a: dict[str, Any] = {"backend": {"config": {"A": "1", "B": "2"}, "replicaCount": 3},
                         "x": [1, 2]}
    b: dict[str, Any] = {"backend": {"config": {"B": "3", "C": None}}, "x": [3]}
    out = chart.merge_layers([a, b])
    assert out == {"backend": {"config": {"A": "1", "B": "3", "C": None}, "replicaCount": 3},
                   "x": [3]}
    assert a["backend"]["config"] == {"A": "1", "B": "2"}  # inputs untouched


def test_null_in_a_later_layer_drops_a_chart_default() -> None:
    rendered = render({"backend": {"config": {"EXTRA": "yes"}}},
                      {"backend": {"config": {"LOG_LEVEL": None}}})
    data = by_key(rendered)[("ConfigMap", "todo-backend")]["data"]
    assert data["EXTRA"] == "yes" and "LOG_LEVEL" not in data


def test_tests_only_on_request_and_are_hooks() -> None:
    assert not [r for r in render() if r.source.startswith("templates/tests/")]
    tests = [r for r in render(include_tests=True) if r.source.startswith("templates/tests/")]
    assert {r.name for r in tests} == {"todo-test-database", "todo-test-backend"}
    for r in tests:
        assert r.is_hook and r.annotations[chart.HOOK_ANNOTATION] == "test"
        assert LABEL_KEYS <= set(r.obj["metadata"]["labels"])
    db_test = next(r for r in tests if r.name == "todo-test-database")
    (c,) = db_test.obj["spec"]["containers"]
    assert c["env"][0]["valueFrom"]["secretKeyRef"] == {"name": "todo-backend",
                                                        "key": "DATABASE_URL"}


def selects(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    return bool(selector.get("matchLabels")) and selector["matchLabels"].items() <= labels.items()


def test_test_pods_are_selected_only_by_their_network_policy() -> None:
    rendered = render(*CASES["everything"], include_tests=True)
    tests = {r.name: r.obj["metadata"]["labels"] for r in rendered
             if r.source.startswith(chart.TESTS_DIR)}
    assert {labels["app.kubernetes.io/component"] for labels in tests.values()} == {"test"}
    objs = by_key([r for r in rendered if not r.source.startswith(chart.TESTS_DIR)])
    for (kind, name), obj in objs.items():
        spec = obj.get("spec") or {}
        selector = {"Service": {"matchLabels": spec.get("selector")},
                    "PodDisruptionBudget": spec.get("selector"),
                    "Deployment": spec.get("selector"),
                    "NetworkPolicy": spec.get("podSelector")}.get(kind)
        for test_name, labels in tests.items():
            assert not (selector and selects(selector, labels)), f"{kind}/{name}: {test_name}"
    # Each NetworkPolicy admits the test pod that checks its component, and only that one.
    admitted = {name: {test_name for test_name, labels in tests.items()
                       for rule in obj["spec"]["ingress"] for peer in rule["from"]
                       if set(peer) == {"podSelector"} and selects(peer["podSelector"], labels)}
                for (kind, name), obj in objs.items() if kind == "NetworkPolicy"}
    assert admitted == {"todo-db": {"todo-test-database"}, "todo-backend": {"todo-test-backend"}}


def test_rendered_sources_and_indexes() -> None:
    rendered = render()
    assert all(r.source.startswith("templates/") and r.index == 0 for r in rendered)
    assert [r.source for r in rendered] == sorted(r.source for r in rendered)
    assert by_key(rendered)[("Deployment", "todo-db")] is not None
    assert next(r for r in rendered if r.kind == "PersistentVolumeClaim").wave == 0


def test_render_is_deterministic() -> None:
    first = [r.obj for r in render(*CASES["everything"])]
    second = [r.obj for r in chart.render(CHART, [copy.deepcopy(SECRETS),
                                                  *copy.deepcopy(CASES["everything"])],
                                          namespace=NS)]
    assert first == second


def pod_annotations(rendered: list[chart.Rendered], name: str) -> dict[str, str]:
    deploy = by_key(rendered)[("Deployment", name)]
    return dict(deploy["spec"]["template"]["metadata"]["annotations"])


def test_checksums_hash_only_the_data() -> None:
    values = chart.merge_layers([SECRETS])
    with helm_python.Chart.load(str(CHART)) as handle:
        raw = handle.render(values, name="todo", namespace=NS)
    rendered = render()
    expected = {"todo-db": {"checksum/config"},
                "todo-backend": {"checksum/config", "checksum/secret"},
                "todo-frontend": {"checksum/config"}}
    for comp, name in zip(COMPONENTS, ("todo-db", "todo-backend", "todo-frontend"), strict=True):
        annotations = pod_annotations(rendered, name)
        assert set(annotations) == expected[name], name
        for key in expected[name]:
            assert re.fullmatch(r"[0-9a-f]{64}", annotations[key])
            # Not the whole file: its metadata (chart version, waves) must not roll pods.
            kind = key.split("/")[1].replace("config", "configmap")
            text = raw[f"todo-chatbot/templates/{comp}/{kind}.yaml"]
            assert annotations[key] != hashlib.sha256(text.encode()).hexdigest()


def test_checksums_ignore_metadata_and_follow_data() -> None:
    base = render()
    # New waves change every ConfigMap's and Secret's annotations, not their data.
    waves = render({"syncWaves": {"database": 5, "backend": 6, "frontend": 7, "final": 8}})
    for name in ("todo-db", "todo-backend", "todo-frontend"):
        assert pod_annotations(waves, name) == pod_annotations(base, name), name
    # Data changes do roll the pods that read it.
    for layer, name in (({"postgresql": {"auth": {"database": "other"}}}, "todo-db"),
                        ({"frontend": {"config": {"FEATURE": "on"}}}, "todo-frontend")):
        changed = pod_annotations(render(layer), name)
        assert changed["checksum/config"] != pod_annotations(base, name)["checksum/config"]


def test_pods_roll_when_config_or_secret_changes() -> None:
    base = pod_annotations(render(), "todo-backend")
    changed_config = pod_annotations(render({"backend": {"config": {"LOG_LEVEL": "debug"}}}),
                                     "todo-backend")
    changed_secret = pod_annotations(render({"backend": {"secrets": {"secretKey": "rotated"}}}),
                                     "todo-backend")
    assert changed_config["checksum/config"] != base["checksum/config"]
    assert changed_config["checksum/secret"] == base["checksum/secret"]
    assert changed_secret["checksum/secret"] != base["checksum/secret"]


def test_database_does_not_restart_for_a_new_password() -> None:
    """PostgreSQL reads the password only at initdb; the backend rolls for its DATABASE_URL."""
    def templates(password: str) -> dict[str, Any]:
        objs = by_key(render({"postgresql": {"auth": {"password": password}}}))
        return {name: objs[("Deployment", name)]["spec"]["template"]
                for name in ("todo-db", "todo-backend")}

    before, after = templates(PASSWORD), templates(PASSWORD + "-rotated")
    assert after["todo-db"] == before["todo-db"]
    assert after["todo-backend"] != before["todo-backend"]


def pod_templates(rendered: list[chart.Rendered]) -> dict[str, Any]:
    return {r.name: r.obj["spec"]["template"] for r in rendered if r.kind == "Deployment"}


def test_pod_template_labels_leave_out_the_chart_version() -> None:
    for name, template in pod_templates(render(*CASES["everything"])).items():
        labels = template["metadata"]["labels"]
        assert set(labels) == LABEL_KEYS - {"helm.sh/chart"}, name


def test_chart_version_bump_leaves_pod_templates_unchanged(tmp_path: Path) -> None:
    copy_dir = tmp_path / "chart"
    shutil.copytree(CHART, copy_dir)
    meta = copy_dir / "Chart.yaml"
    version = chart_yaml()["version"]
    meta.write_text(meta.read_text().replace(f"version: {version}", "version: 99.1.0"))
    layers = [SECRETS, *CASES["everything"]]
    before = chart.render(CHART, layers, namespace=NS)
    after = chart.render(copy_dir, layers, namespace=NS)
    bumped = by_key(after)[("Deployment", "todo-db")]["metadata"]["labels"]
    assert bumped["helm.sh/chart"] == "todo-chatbot-99.1.0"  # the bump took effect
    assert pod_templates(after) == pod_templates(before)
    assert len(pod_templates(after)) == 3


def notes(*layers: dict[str, Any]) -> str:
    values = chart.merge_layers([SECRETS, *layers])
    with helm_python.Chart.load(str(CHART)) as handle:
        return str(handle.render(values, name="todo", namespace=NS)
                   ["todo-chatbot/templates/NOTES.txt"])


@pytest.mark.parametrize(("layers", "final"), [
    ([], "the frontend LoadBalancer Service"),
    ([INGRESS, {"frontend": {"service": {"type": "ClusterIP"}}}], "the Ingress"),
    ([NODEPORT, {"backend": {"autoscaling": {"enabled": True}}}], "the backend HPA"),
    ([INGRESS, AUTOSCALING], "the frontend LoadBalancer Service, the Ingress, the backend HPA, "
                             "the frontend HPA"),
    ([NODEPORT], None),
])
def test_notes_name_what_the_final_wave_holds(layers: list[dict[str, Any]],
                                              final: str | None) -> None:
    text = notes(*layers)
    final_line = [line for line in text.splitlines() if line.lstrip().startswith("3  final")]
    if final is None:
        assert not final_line
        assert "the frontend wave is the last one" in text
    else:
        assert final_line == [f"  3  final     {final} (not health-gated)"]
        assert "the frontend wave is the last one" not in text


FORWARDS = "the frontend's server forwards it to API_INTERNAL_URL \"http://todo-backend:8000\""


@pytest.mark.parametrize(("layers", "says", "second_address"), [
    ([], FORWARDS, False),
    ([NODEPORT], FORWARDS, False),
    ([INGRESS, {"frontend": {"service": {"type": "ClusterIP"}}}],
     "the Ingress routes it to todo-backend unchanged", False),
    ([INGRESS], "the Ingress routes it to todo-backend unchanged", True),
])
def test_notes_say_how_the_browser_reaches_the_backend(layers: list[dict[str, Any]], says: str,
                                                       second_address: bool) -> None:
    text = " ".join(notes(*layers).split())
    assert 'The browser calls the backend at "/api" on that same address: ' + says in text
    assert ("a second public address beside the Ingress" in text) is second_address


def test_chart_cache_sees_edits(tmp_path: Path) -> None:
    copy_dir = tmp_path / "chart"
    shutil.copytree(CHART, copy_dir)
    assert chart.load(copy_dir) is chart.load(copy_dir)
    before = by_key(chart.render(copy_dir, [SECRETS], namespace=NS))
    assert before[("ConfigMap", "todo-backend")]["data"]["LOG_LEVEL"] == "info"
    values = copy_dir / "values.yaml"
    values.write_text(values.read_text().replace("LOG_LEVEL: info", "LOG_LEVEL: warning"))
    after = by_key(chart.render(copy_dir, [SECRETS], namespace=NS))
    assert after[("ConfigMap", "todo-backend")]["data"]["LOG_LEVEL"] == "warning"


def test_missing_chart_dir(tmp_path: Path) -> None:
    with pytest.raises(MissingError, match="no Helm chart"):
        chart.render(tmp_path, [SECRETS], namespace=NS)


def test_broken_template_is_a_chart_error(tmp_path: Path) -> None:
    copy_dir = tmp_path / "chart"
    shutil.copytree(CHART, copy_dir)
    (copy_dir / "templates" / "broken.yaml").write_text("{{ .Values.nope | nosuchfunction }}\n")
    with pytest.raises(ChartError, match="nosuchfunction") as info:
        chart.render(copy_dir, [SECRETS], namespace=NS)
    assert "\n" not in str(info.value)


def test_clean_message() -> None:
    assert chart.clean_message(
        "execution error at (todo-chatbot/templates/x.yaml:3:4): need a value") == "need a value"
    schema = ("values don't meet the specifications of the schema(s) in the following chart(s):\n"
              "todo-chatbot:\n- at '/a': got string, want integer\n- at '/b': false schema\n")
    assert chart.clean_message(schema) == ("values do not match the chart's schema: at '/a': got "
                                           "string, want integer; at '/b': not allowed here")
    assert chart.clean_message("Error: template: x.yaml:1: bad\n\ttrace") == "x.yaml:1: bad"


# --- the chart's source -----------------------------------------------------------------------


def test_templates_are_deterministic_small_and_one_kind_each() -> None:
    templates = sorted((CHART / "templates").rglob("*"))
    for path in templates:
        if not path.is_file():
            continue
        text = path.read_text()
        assert len(text.splitlines()) < 250, path
        for forbidden in ("randAlphaNum", "randAlpha", "randNumeric", "randAscii", "lookup",
                          "uuidv4", "now", "genCA", "genPrivateKey"):
            assert not re.search(rf"\b{forbidden}\b", text), f"{forbidden} in {path.name}"
    rendered = render(*CASES["everything"], include_tests=True)
    kinds: dict[str, set[str]] = {}
    for r in rendered:
        kinds.setdefault(r.source, set()).add(r.kind)
    assert all(len(k) == 1 for k in kinds.values()), kinds
    for r in rendered:
        if r.source.startswith(("templates/database/", "templates/backend/",
                                "templates/frontend/")):
            assert r.source.split("/")[1] == component(r.obj), r.source


def schema_leaf_paths(schema: dict[str, Any], node: dict[str, Any], prefix: str) -> set[str]:
    node = resolve(schema, node)
    props = node.get("properties")
    free_form = isinstance(node.get("additionalProperties"), dict)  # e.g. backend.config
    if node.get("type") != "object" or not props or free_form:
        return {prefix}
    out: set[str] = set()
    for key, sub in props.items():
        out |= schema_leaf_paths(schema, sub, f"{prefix}.{key}" if prefix else key)
    return out


def resolve(schema: dict[str, Any], node: Any) -> dict[str, Any]:
    if node is False:  # a key the schema refuses outright
        return {}
    while "$ref" in node:
        node = schema["definitions"][node["$ref"].rsplit("/", 1)[1]]
    return dict(node)


def value_leaf_paths(values: Any, prefix: str, schema_paths: set[str]) -> set[str]:
    if not isinstance(values, dict) or not values or prefix in schema_paths:
        return {prefix}
    out: set[str] = set()
    for key, sub in values.items():
        out |= value_leaf_paths(sub, f"{prefix}.{key}" if prefix else key, schema_paths)
    return out


def test_schema_covers_every_value() -> None:
    schema = json.loads((CHART / "values.schema.json").read_text())
    assert schema["$schema"] == "http://json-schema.org/draft-07/schema#"
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    schema_paths = schema_leaf_paths(schema, schema, "")
    missing = value_leaf_paths(values, "", schema_paths) - schema_paths
    assert not missing

    def closed(node: dict[str, Any], where: str) -> None:
        node = resolve(schema, node)
        if isinstance(node.get("additionalProperties"), dict):
            return  # a free-form map with typed values
        if node.get("type") == "object" and node.get("properties"):
            assert node.get("additionalProperties") is False, where
            for key, sub in node["properties"].items():
                closed(sub, f"{where}.{key}")

    closed(schema, "values")


def test_named_value_paths_exist() -> None:
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    for dotted in (
        "postgresql.auth.database", "postgresql.auth.username", "postgresql.auth.password",
        "postgresql.auth.existingSecret", "postgresql.persistence.size",
        "postgresql.persistence.storageClass", "backend.replicaCount", "backend.image.repository",
        "backend.image.tag", "backend.secrets.secretKey", "backend.secrets.geminiApiKey",
        "backend.secrets.existingSecret", "backend.autoscaling.enabled", "frontend.replicaCount",
        "frontend.image.repository", "frontend.image.tag", "frontend.service.type",
        "frontend.autoscaling.enabled", "ingress.enabled", "ingress.host",
        "networkPolicy.enabled", "serviceAccount.create",
    ):
        node = values
        for part in dotted.split("."):
            assert isinstance(node, dict) and part in node, dotted
            node = node[part]
    assert values["postgresql"]["auth"]["database"] == "todoapp"
    assert values["frontend"]["service"]["type"] == "LoadBalancer"
    for switch in ("ingress", "networkPolicy"):
        assert values[switch]["enabled"] is False
    assert values["serviceAccount"]["create"] is False
