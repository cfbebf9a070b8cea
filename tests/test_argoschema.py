"""Argo CD Application/AppProject schemas, cross-checked against Argo CD v3.5.1's CRDs."""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema_rs
import pytest
import yaml

from gitops_gen.checks import argoschema
from gitops_gen.checks.argoschema import validate_argo
from gitops_gen.repo import layout

from .conftest import CRD_FILES

Obj = dict[str, Any]
REPO = "https://github.com/acme/todo-gitops.git"


# --- the CRDs as schemas ----------------------------------------------------------------------


@cache
def crd_schema(reference: Path, kind: str) -> Obj:
    """openAPIV3Schema of the CRD, as published by Argo CD (the `reference` fixture's copy)."""
    crd = yaml.safe_load((reference / CRD_FILES[kind]).read_text())
    (version,) = [v for v in crd["spec"]["versions"] if v["name"] == "v1alpha1"]
    schema: Obj = version["schema"]["openAPIV3Schema"]
    return schema


def strict_crd(node: Any) -> Any:
    """The CRD schema as the API server applies it with strict field validation: x-kubernetes-*
    keys dropped, unknown fields rejected wherever the CRD lists properties and does not
    preserve unknown fields."""
    if isinstance(node, dict):
        out = {k: strict_crd(v) for k, v in node.items() if not k.startswith("x-kubernetes-")}
        if "properties" in node:
            out["properties"] = {k: strict_crd(v) for k, v in node["properties"].items()}
            if not node.get("x-kubernetes-preserve-unknown-fields"):
                out.setdefault("additionalProperties", False)
        return out
    if isinstance(node, list):
        return [strict_crd(v) for v in node]
    return node


@cache
def crd_validator(reference: Path, kind: str) -> jsonschema_rs.Validator:
    schema = {"$schema": "https://json-schema.org/draft/2020-12/schema",
              **strict_crd(crd_schema(reference, kind))}
    return jsonschema_rs.Draft202012Validator(schema)


def crd_errors(reference: Path, obj: Obj) -> list[str]:
    return [f"{list(e.instance_path)}: {e.message}"
            for e in crd_validator(reference, obj["kind"]).iter_errors(obj)]


# --- (a) our schema only declares what the CRD has, and covers all of it ---------------------


def _types(node: Obj) -> set[str]:
    if "const" in node:
        return {"string"}
    if "anyOf" in node:
        return {t for sub in node["anyOf"] for t in _types(sub)}
    kind = node.get("type")
    if kind is None:
        return set()
    return set(kind) if isinstance(kind, list) else {kind}


def _free_form(crd: Obj) -> bool:
    return crd.get("type") == "object" and "properties" not in crd and \
        "additionalProperties" not in crd


def walk_pairs(ours: Obj, crd: Obj, path: str) -> Iterator[tuple[str, Obj | None, Obj]]:
    """(path, CRD node or None when missing, our node) for every node our schema declares."""
    yield path, crd, ours
    if _free_form(crd):
        return  # metadata, valuesObject: the CRD accepts anything below
    for key, sub in ours.get("properties", {}).items():
        crd_sub = crd.get("properties", {}).get(key)
        if crd_sub is None:
            yield f"{path}.{key}", None, sub
        else:
            yield from walk_pairs(sub, crd_sub, f"{path}.{key}")
    if isinstance(ours.get("items"), dict):
        yield from walk_pairs(ours["items"], crd.get("items", {}), f"{path}[]")
    if isinstance(ours.get("additionalProperties"), dict):
        yield from walk_pairs(ours["additionalProperties"], crd.get("additionalProperties", {}),
                              f"{path}{{}}")


def crd_paths(crd: Obj, path: str) -> Iterator[str]:
    yield path
    for key, sub in crd.get("properties", {}).items():
        yield from crd_paths(sub, f"{path}.{key}")
    if isinstance(crd.get("items"), dict):
        yield from crd_paths(crd["items"], f"{path}[]")
    if isinstance(crd.get("additionalProperties"), dict):
        yield from crd_paths(crd["additionalProperties"], f"{path}{{}}")


@pytest.mark.parametrize("kind", ["Application", "AppProject"])
def test_every_declared_path_exists_in_the_crd_with_a_compatible_type(kind: str,
                                                                     reference: Path) -> None:
    pairs = list(walk_pairs(argoschema.schema_for(kind), crd_schema(reference, kind), kind))
    assert len(pairs) > 100 if kind == "Application" else len(pairs) > 60
    missing = [path for path, crd, _ in pairs if crd is None]
    assert missing == []
    clashes = [(path, _types(ours), _types(crd)) for path, crd, ours in pairs
               if crd is not None and _types(ours) and _types(crd)
               and not _types(ours) <= _types(crd)]
    assert clashes == []


@pytest.mark.parametrize("kind", ["Application", "AppProject"])
def test_every_crd_spec_field_is_covered(kind: str, reference: Path) -> None:
    crd = crd_schema(reference, kind)
    ours = {path for path, _, _ in walk_pairs(argoschema.schema_for(kind), crd, kind)}
    theirs = set(crd_paths(crd["properties"]["spec"], f"{kind}.spec"))
    assert sorted(theirs - ours) == []


# --- (b) valid objects pass both ----------------------------------------------------------------


def generated_application(env: str = "dev") -> Obj:
    """The shape gitops-gen writes for one environment."""
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Application",
        "metadata": {
            "name": layout.app_name(env),
            "namespace": layout.ARGOCD_NAMESPACE,
            "labels": {"app.kubernetes.io/part-of": "todo-chatbot", "todo-chatbot/env": env},
            "finalizers": ["resources-finalizer.argocd.argoproj.io"],
        },
        "spec": {
            "project": layout.project_name(env),
            "source": {
                "repoURL": REPO,
                "path": layout.CHART_DIR,
                "targetRevision": "main",
                "helm": {
                    "releaseName": layout.RELEASE_NAME,
                    "valueFiles": [
                        f"../overlays/{env}/values.yaml",
                        f"secrets://../overlays/{env}/secrets.sops.yaml",
                    ],
                },
            },
            "destination": {"server": "https://kubernetes.default.svc",
                            "namespace": layout.default_namespace(env)},
            "syncPolicy": {
                "automated": {"prune": True, "selfHeal": True},
                "syncOptions": ["CreateNamespace=true"],
                "retry": {"limit": 5, "backoff": {"duration": "5s", "factor": 2,
                                                  "maxDuration": "3m"}},
            },
        },
    }


def generated_project(env: str = "dev") -> Obj:
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "AppProject",
        "metadata": {"name": layout.project_name(env), "namespace": "argocd"},
        "spec": {
            "description": f"Todo Chatbot, {env} environment",
            "sourceRepos": [REPO],
            "destinations": [{"server": "https://kubernetes.default.svc",
                              "namespace": layout.default_namespace(env)}],
            "clusterResourceWhitelist": [{"group": "", "kind": "Namespace"}],
            "namespaceResourceWhitelist": [{"group": "*", "kind": "*"}],
            "orphanedResources": {"warn": True},
        },
    }


def _edit(base: Callable[[], Obj], change: Callable[[Obj], None]) -> Obj:
    obj = base()
    change(obj)
    return obj


def _spec(**values: Any) -> Callable[[Obj], None]:
    def apply(obj: Obj) -> None:
        obj["spec"].update(copy.deepcopy(values))
    return apply


def _drop(*keys: str) -> Callable[[Obj], None]:
    def apply(obj: Obj) -> None:
        for key in keys:
            obj["spec"].pop(key, None)
    return apply


def _both(*changes: Callable[[Obj], None]) -> Callable[[Obj], None]:
    def apply(obj: Obj) -> None:
        for change in changes:
            change(obj)
    return apply


VALID: dict[str, Obj] = {
    "generated-app": generated_application(),
    "generated-app-prod": generated_application("prod"),
    "generated-project": generated_project(),
    "cluster-by-name": _edit(generated_application, _spec(destination={
        "name": "in-cluster", "namespace": "todo-dev"})),
    "multi-source": _edit(generated_application, _both(_drop("source"), _spec(sources=[
        {"repoURL": "https://charts.example.com", "chart": "todo-chatbot",
         "targetRevision": "1.2.*", "helm": {"valueFiles": ["$values/overlays/dev/values.yaml"],
                                             "valuesObject": {"backend": {"replicaCount": 2}},
                                             "parameters": [{"name": "a", "value": "1",
                                                             "forceString": True}]}},
        {"repoURL": REPO, "targetRevision": "main", "ref": "values"},
    ]))),
    "helm-everything": _edit(generated_application, _spec(source={
        "repoURL": REPO, "path": "chart", "targetRevision": "v1.0.0", "helm": {
            "values": "a: 1\n", "fileParameters": [{"name": "cfg", "path": "files/cfg"}],
            "passCredentials": False, "ignoreMissingValueFiles": True, "skipCrds": True,
            "skipSchemaValidation": False, "skipTests": True, "version": "v3",
            "kubeVersion": "1.30", "apiVersions": ["monitoring.coreos.com/v1"],
            "namespace": "todo-dev", "releaseName": "todo"}})),
    "kustomize": _edit(generated_application, _spec(source={
        "repoURL": REPO, "path": "k8s", "kustomize": {
            "namePrefix": "dev-", "images": ["todo=ghcr.io/x/todo:1"],
            "commonLabels": {"a": "b"}, "replicas": [{"name": "todo", "count": 2},
                                                     {"name": "web", "count": "3"}],
            "patches": [{"target": {"kind": "Deployment"}, "patch": "[]",
                         "options": {"allowNameChange": True}}]}})),
    "directory-jsonnet": _edit(generated_application, _spec(source={
        "repoURL": REPO, "path": "jsonnet", "directory": {
            "recurse": True, "include": "*.jsonnet",
            "jsonnet": {"tlas": [{"name": "env", "value": "dev", "code": False}],
                        "libs": ["vendor"]}}})),
    "plugin": _edit(generated_application, _spec(source={
        "repoURL": REPO, "path": "chart", "plugin": {
            "name": "helm-sops", "env": [{"name": "ENV", "value": "dev"}],
            "parameters": [{"name": "files", "array": ["a", "b"]},
                           {"name": "m", "map": {"k": "v"}}]}})),
    "ignore-and-info": _edit(generated_application, _spec(
        ignoreDifferences=[{"group": "apps", "kind": "Deployment",
                            "jsonPointers": ["/spec/replicas"]}],
        info=[{"name": "owner", "value": "platform"}], revisionHistoryLimit=3)),
    "all-sync-options": _edit(generated_application, _spec(syncPolicy={
        "automated": {"prune": True, "selfHeal": True, "allowEmpty": False, "enabled": True},
        "syncOptions": ["CreateNamespace=true", "ServerSideApply=true", "PruneLast=true",
                        "PrunePropagationPolicy=foreground", "ApplyOutOfSyncOnly=true",
                        "RespectIgnoreDifferences=true", "Validate=false", "Prune=confirm"],
        "retry": {"limit": -1, "refresh": True, "backoff": {"duration": "30",
                                                             "maxDuration": "1h30m"}},
        "managedNamespaceMetadata": {"labels": {"team": "todo"},
                                     "annotations": {"note": "x"}}})),
    "hydrator": _edit(generated_application, _both(_drop("source"), _spec(sourceHydrator={
        "drySource": {"repoURL": REPO, "targetRevision": "main", "path": "chart"},
        "syncSource": {"targetBranch": "env/dev", "path": "dev"},
        "hydrateTo": {"targetBranch": "env/dev-next"}}))),
    "project-everything": _edit(generated_project, _spec(
        sourceNamespaces=["argocd"],
        destinations=[{"name": "in-cluster", "namespace": "todo-*"},
                      {"server": "https://10.0.0.1:6443", "namespace": "todo-dev"}],
        clusterResourceBlacklist=[{"group": "rbac.authorization.k8s.io", "kind": "ClusterRole"}],
        namespaceResourceBlacklist=[{"group": "", "kind": "ResourceQuota"}],
        roles=[{"name": "ci", "description": "CI syncs",
                "policies": ["p, proj:todo-dev:ci, applications, sync, todo-dev/*, allow"],
                "groups": ["acme:platform"], "jwtTokens": [{"iat": 1700000000, "id": "x"}]}],
        syncWindows=[{"kind": "deny", "schedule": "0 22 * * *", "duration": "8h",
                      "applications": ["*"], "manualSync": True, "timeZone": "Europe/Paris"}],
        signatureKeys=[{"keyID": "4AEE18F83AFDEB23"}],
        destinationServiceAccounts=[{"server": "https://kubernetes.default.svc",
                                     "namespace": "todo-dev",
                                     "defaultServiceAccount": "argocd-sync"}],
        permitOnlyProjectScopedClusters=False,
        orphanedResources={"warn": True, "ignore": [{"kind": "ConfigMap",
                                                     "name": "kube-root-ca.crt"}]})),
}


@pytest.mark.parametrize("name", sorted(VALID))
def test_valid_objects_pass_ours_and_the_crd(name: str, reference: Path) -> None:
    obj = VALID[name]
    assert crd_errors(reference, obj) == []
    assert [str(p) for p in validate_argo(obj)] == []


# --- (c) invalid objects fail ours ------------------------------------------------------------


def app_with(change: Callable[[Obj], None]) -> Obj:
    return _edit(generated_application, change)


def _set(path: str, value: Any) -> Callable[[Obj], None]:
    def apply(obj: Obj) -> None:
        node: Any = obj
        parts = path.split(".")
        for part in parts[:-1]:
            node = node[int(part)] if isinstance(node, list) else node[part]
        node[parts[-1]] = copy.deepcopy(value)
    return apply


# name -> (object, path of the problem, keyword, also rejected by the strict CRD?)
INVALID: dict[str, tuple[Obj, str, str, bool]] = {
    "unknown-spec-field": (app_with(_set("spec.autoSync", True)), "spec", "unknown-field", True),
    "unknown-helm-field": (app_with(_set("spec.source.helm.valueFile", [])), "spec.source.helm",
                           "unknown-field", True),
    "unknown-automated-field": (app_with(_set("spec.syncPolicy.automated.selfheal", True)),
                                "spec.syncPolicy.automated", "unknown-field", True),
    "status-in-git": (app_with(lambda o: o.update(status={"sync": {}})), "", "unknown-field",
                      False),
    "server-and-name": (app_with(_set("spec.destination.name", "in-cluster")),
                        "spec.destination", "exclusive", False),
    "no-server-no-name": (app_with(lambda o: o["spec"]["destination"].pop("server")),
                          "spec.destination", "required", False),
    "prune-as-string": (app_with(_set("spec.syncPolicy.automated.prune", "true")),
                        "spec.syncPolicy.automated.prune", "type", True),
    "limit-as-string": (app_with(_set("spec.syncPolicy.retry.limit", "5")),
                        "spec.syncPolicy.retry.limit", "type", True),
    "valuefiles-as-string": (app_with(_set("spec.source.helm.valueFiles", "values.yaml")),
                             "spec.source.helm.valueFiles", "type", True),
    "helm-and-plugin": (app_with(_set("spec.source.plugin", {"name": "sops"})), "spec.source",
                        "exclusive", False),
    "source-and-sources": (app_with(_set("spec.sources", [{"repoURL": REPO}])), "spec",
                           "exclusive", False),
    "no-source": (app_with(lambda o: o["spec"].pop("source")), "spec", "required", False),
    "no-destination": (app_with(lambda o: o["spec"].pop("destination")), "spec", "required",
                       True),
    "no-repo-url": (app_with(lambda o: o["spec"]["source"].pop("repoURL")), "spec.source",
                    "required", True),
    "sync-option-typo": (app_with(_set("spec.syncPolicy.syncOptions", ["CreateNamespace=True"])),
                         "spec.syncPolicy.syncOptions[0]", "sync-option", False),
    "sync-option-unknown": (app_with(_set("spec.syncPolicy.syncOptions", ["AutoPrune=true"])),
                            "spec.syncPolicy.syncOptions[0]", "sync-option", False),
    "sync-option-format": (app_with(_set("spec.syncPolicy.syncOptions", ["CreateNamespace"])),
                           "spec.syncPolicy.syncOptions[0]", "pattern", False),
    "bad-backoff": (app_with(_set("spec.syncPolicy.retry.backoff.duration", "5 seconds")),
                    "spec.syncPolicy.retry.backoff.duration", "pattern", False),
    "bad-release-name": (app_with(_set("spec.source.helm.releaseName", "Todo_App")),
                         "spec.source.helm.releaseName", "pattern", False),
    "missing-values-ref": (_edit(lambda: copy.deepcopy(VALID["multi-source"]),
                                 lambda o: o["spec"]["sources"][1].update(ref="vals")),
                           "spec.sources[0].helm.valueFiles[0]", "ref", False),
    "no-name": (app_with(lambda o: o["metadata"].pop("name")), "metadata", "required", False),
    "wrong-api-version": (app_with(lambda o: o.update(apiVersion="argoproj.io/v1")),
                          "apiVersion", "const", False),
    "project-unknown-field": (_edit(generated_project, _set("spec.sourceRepo", [REPO])), "spec",
                              "unknown-field", True),
    "project-window-kind": (_edit(generated_project, _set("spec.syncWindows", [
        {"kind": "block", "schedule": "* * * * *", "duration": "1h"}])),
        "spec.syncWindows[0].kind", "enum", False),
    "project-policy-subject": (_edit(generated_project, _set("spec.roles", [
        {"name": "ci", "policies": ["p, proj:other:ci, applications, get, todo-dev/*, allow"]}])),
        "spec.roles[0].policies[0]", "policy", False),
    "project-duplicate-repo": (_edit(generated_project, _set("spec.sourceRepos", [REPO, REPO])),
                               "spec.sourceRepos[1]", "duplicate", False),
    "project-empty-destination": (_edit(generated_project, _set("spec.destinations", [
        {"namespace": "todo-dev"}])), "spec.destinations[0]", "required", False),
    "project-group-kind-required": (_edit(generated_project, _set(
        "spec.namespaceResourceWhitelist", [{"kind": "Deployment"}])),
        "spec.namespaceResourceWhitelist[0]", "required", True),
}


@pytest.mark.parametrize("name", sorted(INVALID))
def test_invalid_objects_are_rejected(name: str, reference: Path) -> None:
    obj, path, keyword, crd_rejects = INVALID[name]
    problems = validate_argo(obj)
    assert (path, keyword) in {(p.path, p.keyword) for p in problems}, [str(p) for p in problems]
    assert all(p.message for p in problems)
    if crd_rejects:
        assert crd_errors(reference, obj), "the strict CRD rejects this too"


def test_messages_explain_the_fix() -> None:
    obj, *_ = INVALID["server-and-name"]
    (problem,) = [p for p in validate_argo(obj) if p.keyword == "exclusive"]
    assert "server" in problem.message and "name" in problem.message
    assert problem.location == ("spec", "destination")
    obj, *_ = INVALID["sync-option-typo"]
    assert any("true or false" in p.message for p in validate_argo(obj))
    obj, *_ = INVALID["unknown-automated-field"]
    assert any("did you mean 'selfHeal'" in p.message for p in validate_argo(obj))
    obj, *_ = INVALID["bad-backoff"]
    assert any("is not a duration" in str(p) for p in validate_argo(obj))


def test_other_kinds_are_refused() -> None:
    (problem,) = validate_argo({"apiVersion": "v1", "kind": "ConfigMap"})
    assert problem.path == "kind"
    (problem,) = validate_argo({"apiVersion": "argoproj.io/v1alpha1", "kind": "ApplicationSet"})
    assert "ApplicationSet" in problem.message


def test_schema_copies_are_independent() -> None:
    first = argoschema.schema_for("Application")
    first["properties"]["spec"]["properties"].clear()
    assert argoschema.schema_for("Application")["properties"]["spec"]["properties"]
