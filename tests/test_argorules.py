"""Argo CD's own rules for an Application or AppProject spec, word for word.

Each case gives a spec and every problem argorules finds in it: where (path and location),
the sentence a user reads and the kind of problem. The schema side, and these rules reached
through validate_argo, are in test_argoschema.py.
"""

from __future__ import annotations

from typing import Any

import pytest

from gitops_gen.checks.argorules import SYNC_OPTIONS, application_rules, project_rules
from gitops_gen.checks.schemamessages import SchemaProblem

REPO = "https://github.com/acme/todo-gitops.git"
DEST = {"server": "https://kubernetes.default.svc", "namespace": "todo-dev"}
SOURCE = {"repoURL": REPO, "path": "chart", "helm": {"valueFiles": ["values.yaml"]}}
KNOWN = ", ".join(SYNC_OPTIONS)

Problem = tuple[str, str, str, tuple[str | int, ...]]


def found(problems: list[SchemaProblem]) -> list[Problem]:
    return [(p.path, p.message, p.keyword, p.location) for p in problems]


def app(**spec: Any) -> dict[str, Any]:
    return {"destination": DEST, "source": SOURCE, **spec}


APPLICATIONS: dict[str, tuple[dict[str, Any], list[Problem]]] = {
    "fine": (app(), []),
    "server-and-name": (app(destination={**DEST, "name": "in-cluster"}), [(
        "spec.destination", "sets both server and name; Argo CD needs exactly one: a server URL "
        "or a registered cluster name", "exclusive", ("spec", "destination"))]),
    "empty-server-no-name": (app(destination={"server": "", "namespace": "todo-dev"}), [(
        "spec.destination", "sets neither server nor name; Argo CD needs exactly one: a server "
        "URL or a registered cluster name", "required", ("spec", "destination"))]),
    "destination-not-a-mapping": (app(destination="in-cluster"), []),
    "no-source": ({"destination": DEST, "sources": []}, [(
        "spec", "sets neither source nor sources; an Application takes one source, or a list "
        "in sources", "required", ("spec",))]),
    "source-and-sources": (app(sources=[{"repoURL": REPO, "path": "k8s"}]), [(
        "spec", "sets both source and sources; an Application takes one source, or a list in "
        "sources", "exclusive", ("spec",))]),
    "hydrator-alone": ({"destination": DEST, "sourceHydrator": {"drySource": {}}}, []),
    "hydrator-and-source": (app(sourceHydrator={"drySource": {}}), [(
        "spec", "sets sourceHydrator with source/sources; the hydrator writes its own sync "
        "source, so drop source/sources", "exclusive", ("spec",))]),
    "hydrator-and-sources": ({"destination": DEST, "sourceHydrator": {"drySource": {}},
                              "sources": [SOURCE]}, [(
        "spec", "sets sourceHydrator with source/sources; the hydrator writes its own sync "
        "source, so drop source/sources", "exclusive", ("spec",))]),
    "three-tools": (app(source={**SOURCE, "kustomize": {}, "plugin": {"name": "p"},
                                "directory": "not-a-mapping"}), [(
        "spec.source", "combines helm and kustomize and plugin; one source uses one tool (Argo "
        "CD refuses multiple application source types)", "exclusive", ("spec", "source"))]),
    "path-and-chart": (app(source={**SOURCE, "chart": "todo-chatbot"}), [(
        "spec.source", "sets both path (a chart in git) and chart (a chart from a Helm "
        "repository); keep the one that matches repoURL", "exclusive", ("spec", "source"))]),
    "source-not-a-mapping": (app(source="chart"), []),
    "sources-tools-and-missing-ref": ({"destination": DEST, "sources": [
        "not-a-mapping",
        {"repoURL": REPO, "ref": "values"},
        {"repoURL": REPO, "path": "chart", "directory": {}, "helm": {"valueFiles": [
            "$values/dev.yaml", "$vals/dev.yaml", "$values", "plain.yaml", 7]}},
        {"repoURL": REPO, "chart": "c", "helm": {"valueFiles": "$other/x.yaml"}},
        {"repoURL": REPO, "chart": "c", "helm": "not-a-mapping"},
    ]}, [
        ("spec.sources[2]", "combines helm and directory; one source uses one tool (Argo CD "
         "refuses multiple application source types)", "exclusive", ("spec", "sources", 2)),
        ("spec.sources[2].helm.valueFiles[1]", "refers to $vals but no source has ref: vals; "
         "add that ref or fix the name", "ref", ("spec", "sources", 2, "helm", "valueFiles", 1)),
    ]),
    "sync-options": (app(syncPolicy={"syncOptions": [
        "CreateNamespace=true", "CreateNamespace", "Validate=yes", "prunelast=true",
        "AutoPrune=true", "PrunePropagationPolicy=delete", "Prune=confirm", "Delete=maybe",
        "ServerSideApply=True", "Validate=true=false",
    ]}), [
        ("spec.syncPolicy.syncOptions[2]", "Validate takes true or false, not 'yes'; Argo CD "
         "ignores any other value", "sync-option", ("spec", "syncPolicy", "syncOptions", 2)),
        ("spec.syncPolicy.syncOptions[3]", "unknown sync option 'prunelast' (did you mean "
         "PruneLast?); Argo CD ignores it", "sync-option",
         ("spec", "syncPolicy", "syncOptions", 3)),
        ("spec.syncPolicy.syncOptions[4]", f"unknown sync option 'AutoPrune' (known: {KNOWN}); "
         "Argo CD ignores it", "sync-option", ("spec", "syncPolicy", "syncOptions", 4)),
        ("spec.syncPolicy.syncOptions[5]", "PrunePropagationPolicy takes foreground or "
         "background or orphan, not 'delete'; Argo CD ignores any other value", "sync-option",
         ("spec", "syncPolicy", "syncOptions", 5)),
        ("spec.syncPolicy.syncOptions[7]", "Delete takes true or false or confirm, not 'maybe'; "
         "Argo CD ignores any other value", "sync-option",
         ("spec", "syncPolicy", "syncOptions", 7)),
        ("spec.syncPolicy.syncOptions[8]", "ServerSideApply takes true or false, not 'True'; "
         "Argo CD ignores any other value", "sync-option",
         ("spec", "syncPolicy", "syncOptions", 8)),
        ("spec.syncPolicy.syncOptions[9]", "Validate takes true or false, not 'true=false'; Argo "
         "CD ignores any other value", "sync-option", ("spec", "syncPolicy", "syncOptions", 9)),
    ]),
    "sync-options-not-a-list": (app(syncPolicy={"syncOptions": "Validate=yes"}), []),
    "sync-policy-not-a-mapping": (app(syncPolicy=["Validate=yes"]), []),
}


@pytest.mark.parametrize("name", sorted(APPLICATIONS))
def test_application_rules(name: str) -> None:
    spec, expected = APPLICATIONS[name]
    assert found(application_rules(spec, {"spec": spec})) == expected


def test_every_sync_option_value_argo_cd_knows_passes() -> None:
    options = [f"{key}={value}" for key, values in SYNC_OPTIONS.items() for value in values]
    assert len(options) == 11 * 2 + 3 + 3 + 3
    assert application_rules(app(syncPolicy={"syncOptions": options}), {}) == []


def project(**spec: Any) -> dict[str, Any]:
    return {"sourceRepos": [REPO], "destinations": [DEST], **spec}


POLICY = "p, proj:todo-dev:ci, applications, sync, todo-dev/*, allow"
PROJECTS: dict[str, tuple[dict[str, Any], list[Problem]]] = {
    "fine": (project(roles=[{"name": "ci", "policies": [POLICY, POLICY.replace("allow",
                                                                               "deny")]}]), []),
    "destinations-by-name": (project(destinations=[{"name": "in-cluster", "namespace": "x"},
                                                   {"name": "staging", "namespace": "x"}]), []),
    "destinations-by-namespace": (project(destinations=[DEST, {**DEST, "namespace": "y"}]), []),
    "destinations-by-server": (project(destinations=[DEST, {**DEST, "server": "https://b"}]), []),
    "empty-destination": (project(destinations=[DEST, {"namespace": "todo-dev", "server": ""}]), [(
        "spec.destinations[1]", "names neither server nor name; such a destination allows "
        "nothing", "required", ("spec", "destinations", 1))]),
    "duplicate-destination": (project(destinations=[DEST, {**DEST, "namespace": "other"}, DEST,
                                                    "odd", "odd"]), [
        ("spec.destinations[2]", "destination ('https://kubernetes.default.svc', None, "
         "'todo-dev') is listed twice; remove one (Argo CD refuses duplicates)", "duplicate",
         ("spec", "destinations", 2)),
        ("spec.destinations[4]", "destination \"'odd'\" is listed twice; remove one (Argo CD "
         "refuses duplicates)", "duplicate", ("spec", "destinations", 4)),
    ]),
    "duplicate-repo": (project(sourceRepos=[REPO, "https://charts.example.com", REPO]), [(
        "spec.sourceRepos[2]", f"source repository {REPO!r} is listed twice; remove one (Argo "
        "CD refuses duplicates)", "duplicate", ("spec", "sourceRepos", 2))]),
    "duplicate-role": (project(roles=[{"name": "ci"}, {"name": "ops"}, {"name": "ci"}]), [(
        "spec.roles[2]", "role 'ci' is listed twice; remove one (Argo CD refuses duplicates)",
        "duplicate", ("spec", "roles", 2))]),
    "odd-roles-differ": (project(roles=["ci", "ops"]), []),
    "policies": (project(roles=[{"name": "ci", "policies": [
        POLICY,
        "p, proj:other:ci, applications, get, todo-dev/*, allow",
        "g, proj:todo-dev:ci, applications, get, todo-dev/*, allow",
        "p, proj:todo-dev:ci, applications",
        "p, proj:todo-dev:ci, applications, get, todo-dev/*, maybe",
    ]}, "not-a-role"]), [
        ("spec.roles[0].policies[1]", "policy 'p, proj:other:ci, applications, get, todo-dev/*, "
         "allow' names subject 'proj:other:ci'; a role's policies must use proj:todo-dev:ci",
         "policy", ("spec", "roles", 0, "policies", 1)),
        ("spec.roles[0].policies[2]", "policy 'g, proj:todo-dev:ci, applications, get, "
         "todo-dev/*, allow' must read 'p, proj:<project>:<role>, <resource>, <action>, "
         "<object>, allow|deny'", "policy", ("spec", "roles", 0, "policies", 2)),
        ("spec.roles[0].policies[3]", "policy 'p, proj:todo-dev:ci, applications' must read "
         "'p, proj:<project>:<role>, <resource>, <action>, <object>, allow|deny'", "policy",
         ("spec", "roles", 0, "policies", 3)),
        ("spec.roles[0].policies[4]", "policy 'p, proj:todo-dev:ci, applications, get, "
         "todo-dev/*, maybe' ends with 'maybe'; the effect is allow or deny", "policy",
         ("spec", "roles", 0, "policies", 4)),
    ]),
}


@pytest.mark.parametrize("name", sorted(PROJECTS))
def test_project_rules(name: str) -> None:
    spec, expected = PROJECTS[name]
    obj = {"metadata": {"name": "todo-dev"}, "spec": spec}
    assert found(project_rules(spec, obj)) == expected


def test_a_project_without_a_name_reads_its_policies_against_an_empty_one() -> None:
    spec = project(roles=[{"name": "ci", "policies": [POLICY]}])
    (problem,) = project_rules(spec, {"spec": spec})
    assert problem.message == (f"policy {POLICY!r} names subject 'proj:todo-dev:ci'; a role's "
                               "policies must use proj::ci")
    for metadata in ("todo-dev", {}):
        (problem,) = project_rules(spec, {"metadata": metadata, "spec": spec})
        assert problem.message.endswith("must use proj::ci")


def test_a_role_without_a_name_reads_its_policies_against_an_empty_one() -> None:
    spec = project(roles=[{"policies": ["p, proj:todo-dev:, applications, get, x/*, allow"]}])
    assert project_rules(spec, {"metadata": {"name": "todo-dev"}, "spec": spec}) == []
