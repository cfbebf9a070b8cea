"""JSON schemas of Argo CD's Application and AppProject (argoproj.io/v1alpha1); validate_argo()
checks an object against them, then against the rules Argo CD enforces that a schema cannot
say (argorules).

Written from Argo CD v3.5's API types. Stricter than the CRD's structural schema, as kubectl's
strict field validation is: an unknown field is an error, not silently pruned. Fields that only
the controller writes (status, operation) are rejected: they do not belong in git.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from functools import cache
from typing import Any

import jsonschema_rs

from . import argorules
from .rules import Rule
from .schemamessages import SchemaProblem, describe, show

RULE = "argocd-schema"
RULES = (Rule(RULE, "every Argo CD manifest is valid against Argo CD's schema"),)
API_VERSION = "argoproj.io/v1alpha1"

_DNS_SUBDOMAIN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
_DNS_LABEL = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
_LABEL_KEY = r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$"  # noqa: E501
_LABEL_VALUE = r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$"
# retry backoff and sync windows: a Go duration ("5s", "1h30m") or, for backoff, plain seconds
_DURATION = r"^([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$|^[0-9]+$"
_GO_DURATION = r"^([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$"

S: dict[str, Any] = {"type": "string"}
B: dict[str, Any] = {"type": "boolean"}
I: dict[str, Any] = {"type": "integer"}  # noqa: E741 - reads like the CRD's types


def _obj(props: dict[str, Any], required: tuple[str, ...] = (), **extra: Any) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "object", "properties": props, "additionalProperties": False}
    if required:
        schema["required"] = list(required)
    schema.update(extra)
    return schema


def _arr(items: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"type": "array", "items": items, **extra}


def _str(pattern: str, **extra: Any) -> dict[str, Any]:
    return {"type": "string", "pattern": pattern, **extra}


STR_MAP: dict[str, Any] = {"type": "object", "additionalProperties": S}
STRS = _arr(S)
NON_EMPTY = {"type": "string", "minLength": 1}

METADATA = _obj(
    {
        "name": _str(_DNS_SUBDOMAIN, maxLength=253),
        "namespace": _str(_DNS_LABEL, maxLength=63),
        "labels": {
            "type": "object",
            "propertyNames": {"pattern": _LABEL_KEY},
            "additionalProperties": _str(_LABEL_VALUE, maxLength=63),
        },
        "annotations": {"type": "object", "propertyNames": {"pattern": _LABEL_KEY},
                        "additionalProperties": S},
        "finalizers": _arr(NON_EMPTY),
    },
    ("name",),
)

NAME_VALUE = _obj({"name": S, "value": S}, ("name", "value"))
JSONNET_VAR = _obj({"name": S, "value": S, "code": B}, ("name", "value"))

HELM = _obj({
    "valueFiles": STRS,
    "values": S,
    "valuesObject": {"type": "object"},  # free-form values, as the CRD preserves them
    "parameters": _arr(_obj({"name": S, "value": S, "forceString": B})),
    "fileParameters": _arr(_obj({"name": S, "path": S})),
    "releaseName": _str(_DNS_SUBDOMAIN, maxLength=53),  # what `helm template` accepts
    "passCredentials": B,
    "ignoreMissingValueFiles": B,
    "skipCrds": B,
    "skipSchemaValidation": B,
    "skipTests": B,
    "version": S,
    "kubeVersion": S,
    "apiVersions": STRS,
    "namespace": S,
})

KUSTOMIZE = _obj({
    "namePrefix": S, "nameSuffix": S, "images": STRS,
    "commonLabels": STR_MAP, "commonAnnotations": STR_MAP, "commonAnnotationsEnvsubst": B,
    "forceCommonLabels": B, "forceCommonAnnotations": B,
    "labelWithoutSelector": B, "labelIncludeTemplates": B,
    "version": S, "namespace": S, "kubeVersion": S, "apiVersions": STRS,
    "components": STRS, "ignoreMissingComponents": B,
    "replicas": _arr(_obj({"name": S, "count": {"type": ["integer", "string"]}},
                          ("count", "name"))),
    "patches": _arr(_obj({
        "path": S, "patch": S,
        "target": _obj({k: S for k in ("group", "version", "kind", "name", "namespace",
                                        "labelSelector", "annotationSelector")}),
        "options": {"type": "object", "additionalProperties": B},
    })),
})

DIRECTORY = _obj({
    "recurse": B, "exclude": S, "include": S,
    "jsonnet": _obj({"extVars": _arr(JSONNET_VAR), "tlas": _arr(JSONNET_VAR), "libs": STRS}),
})

PLUGIN = _obj({
    "name": S,
    "env": _arr(NAME_VALUE),
    "parameters": _arr(_obj({"name": S, "string": S, "array": STRS, "map": STR_MAP})),
})

SOURCE = _obj(
    {
        "repoURL": NON_EMPTY, "path": S, "targetRevision": S, "chart": S,
        "ref": _str(r"^[A-Za-z0-9_-]+$"), "name": S, "tagPrefix": S,
        "helm": HELM, "kustomize": KUSTOMIZE, "directory": DIRECTORY, "plugin": PLUGIN,
    },
    ("repoURL",),
)

DESTINATION = _obj({
    "server": _str(r"^https?://\S+$"),
    "name": NON_EMPTY,
    "namespace": _str(_DNS_LABEL, maxLength=63),
})

RETRY = _obj({
    "limit": I,  # a negative limit retries forever
    "backoff": _obj({
        "duration": _str(_DURATION), "factor": {"type": "integer", "minimum": 1},
        "maxDuration": _str(_DURATION),
    }),
    "refresh": B,
})

SYNC_POLICY = _obj({
    "automated": _obj({"prune": B, "selfHeal": B, "allowEmpty": B, "enabled": B}),
    "syncOptions": _arr(_str(r"^[A-Za-z]+=\S+$")),
    "retry": RETRY,
    "managedNamespaceMetadata": _obj({"labels": STR_MAP, "annotations": STR_MAP}),
})

HYDRATOR = _obj(
    {
        "drySource": _obj(
            {"repoURL": NON_EMPTY, "targetRevision": S, "path": S, "helm": HELM,
             "kustomize": KUSTOMIZE, "directory": DIRECTORY, "plugin": PLUGIN},
            ("path", "repoURL", "targetRevision"),
        ),
        "syncSource": _obj(
            {"targetBranch": S, "path": _str(r"^.{2,}|[^./]$", minLength=1), "repoURL": S},
            ("path", "targetBranch"),
        ),
        "hydrateTo": _obj({"targetBranch": S}, ("targetBranch",)),
    },
    ("drySource", "syncSource"),
)

APPLICATION_SPEC = _obj(
    {
        "project": NON_EMPTY,
        "source": SOURCE,
        "sources": _arr(SOURCE, minItems=1),
        "sourceHydrator": HYDRATOR,
        "destination": DESTINATION,
        "syncPolicy": SYNC_POLICY,
        "ignoreDifferences": _arr(_obj(
            {"group": S, "kind": S, "name": S, "namespace": S, "jsonPointers": STRS,
             "jqPathExpressions": STRS, "managedFieldsManagers": STRS},
            ("kind",),
        )),
        "info": _arr(NAME_VALUE),
        "revisionHistoryLimit": {"type": "integer", "minimum": 0},
    },
    ("destination", "project"),
)

GROUP_KIND = _obj({"group": S, "kind": S}, ("group", "kind"))
GROUP_KIND_NAME = _obj({"group": S, "kind": S, "name": S}, ("group", "kind"))

APPPROJECT_SPEC = _obj({
    "description": S,
    "sourceRepos": _arr(NON_EMPTY),
    "sourceNamespaces": STRS,
    "destinations": _arr(_obj({"server": S, "name": S, "namespace": S})),
    "clusterResourceWhitelist": _arr(GROUP_KIND_NAME),
    "clusterResourceBlacklist": _arr(GROUP_KIND_NAME),
    "namespaceResourceWhitelist": _arr(GROUP_KIND),
    "namespaceResourceBlacklist": _arr(GROUP_KIND),
    "roles": _arr(_obj(
        {"name": _str(r"^[a-zA-Z0-9]([-_a-zA-Z0-9]*[a-zA-Z0-9])?$"), "description": S,
         "policies": STRS, "groups": STRS,
         "jwtTokens": _arr(_obj({"iat": I, "exp": I, "id": S}, ("iat",)))},
        ("name",),
    )),
    "syncWindows": _arr(_obj(
        {"kind": {"type": "string", "enum": ["allow", "deny"]}, "schedule": NON_EMPTY,
         "duration": _str(_GO_DURATION), "applications": STRS, "namespaces": STRS,
         "clusters": STRS, "manualSync": B, "timeZone": S, "andOperator": B,
         "syncOverrun": B, "description": S},
        ("kind", "schedule", "duration"),
    )),
    "orphanedResources": _obj({"warn": B, "ignore": _arr(_obj({"group": S, "kind": S,
                                                               "name": S}))}),
    "signatureKeys": _arr(_obj({"keyID": NON_EMPTY}, ("keyID",))),
    "destinationServiceAccounts": _arr(_obj(
        {"server": S, "namespace": S, "defaultServiceAccount": NON_EMPTY},
        ("defaultServiceAccount", "server"),
    )),
    "permitOnlyProjectScopedClusters": B,
    "sourceIntegrity": _obj({"git": _obj({"policies": _arr(_obj(
        {"repos": _arr(_obj({"url": S}, ("url",))),
         "gpg": _obj({"keys": STRS, "mode": S}, ("keys", "mode"))},
        ("gpg", "repos"),
    ))}, ("policies",))}, ("git",)),
})


def _top(kind: str, spec: dict[str, Any]) -> dict[str, Any]:
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        **_obj(
            {"apiVersion": {"const": API_VERSION}, "kind": {"const": kind},
             "metadata": METADATA, "spec": spec},
            ("apiVersion", "kind", "metadata", "spec"),
        ),
    }


SCHEMAS: Mapping[str, dict[str, Any]] = {
    "Application": _top("Application", APPLICATION_SPEC),
    "AppProject": _top("AppProject", APPPROJECT_SPEC),
}


PATTERN_HELP: Mapping[str, str] = {
    _DURATION: "a duration (seconds, or Go syntax such as 5s, 3m, 1h30m)",
    _GO_DURATION: "a duration such as 1h, 30m or 1h30m",
    _DNS_SUBDOMAIN: "a valid name (lower-case letters, digits, '-' and '.')",
    _DNS_LABEL: "a valid name (lower-case letters, digits and '-', at most 63)",
    _LABEL_VALUE: "a valid label value (letters, digits, '-', '_', '.'; at most 63)",
    _LABEL_KEY: "a valid label or annotation key ([prefix/]name)",
    r"^[A-Za-z]+=\S+$": "a sync option of the form Key=Value (CreateNamespace=true)",
    r"^https?://\S+$": "a cluster API server URL (https://kubernetes.default.svc)",
}


def schema_for(kind: str) -> dict[str, Any]:
    """A copy of the schema of "Application" or "AppProject"."""
    return copy.deepcopy(SCHEMAS[kind])


@cache
def _validator(kind: str) -> jsonschema_rs.Validator:
    return jsonschema_rs.Draft202012Validator(SCHEMAS[kind], validate_formats=False)


def validate_argo(obj: Mapping[str, Any]) -> list[SchemaProblem]:
    """Every problem of an Application or AppProject: schema first, then Argo CD's own rules."""
    kind = obj.get("kind") if isinstance(obj, Mapping) else None
    if not isinstance(kind, str) or kind not in SCHEMAS:
        return [SchemaProblem("kind", f"{kind!r} is not an Argo CD Application or AppProject "
                              "(argoproj.io/v1alpha1)", "kind", ("kind",))]
    schema = SCHEMAS[str(kind)]
    problems: list[SchemaProblem] = []
    for error in _validator(str(kind)).iter_errors(obj):
        found = describe(error, schema, obj)
        pattern = str(getattr(error.kind, "pattern", "")) if error.kind.name == "pattern" else ""
        if pattern in PATTERN_HELP:
            found = [SchemaProblem(p.path, f"{show(error.instance)} is not "
                                   f"{PATTERN_HELP[pattern]}", p.keyword, p.location)
                     for p in found]
        problems.extend(found)
    spec = obj.get("spec")
    if isinstance(spec, Mapping):
        check = argorules.application_rules if kind == "Application" else argorules.project_rules
        problems.extend(check(spec, obj))
    return problems
