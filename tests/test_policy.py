"""Policy over rendered workloads (checks/policy.py): each rule fires outside dev on the value
or template that breaks it, at the overlay line when there is one, and stays quiet in dev."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from gitops_gen.checks import manifestchecks, policy, repofiles
from gitops_gen.checks.findings import Finding
from gitops_gen.checks.validate import validate_repo
from gitops_gen.model.chart import Rendered
from gitops_gen.repo import layout

from .conftest import AgeKey
from .helpers import edit, new_repo, set_value, template_repo


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return template_repo(tmp_path_factory.mktemp("template"),
                         ["staging", "--backend-tag", "1.4.0", "--frontend-tag", "1.4.0"])


def findings(root: Path, rule: str, env: str) -> list[Finding]:
    return [f for f in validate_repo(root, [env]).findings if f.rule == rule]


@pytest.fixture(scope="module")
def staging(template: Path) -> tuple[repofiles.EnvFiles, list[Rendered]]:
    """staging's files and what the chart renders for it: policy_findings' own input."""
    files = repofiles.load_repo(template, ["staging"])
    env_files = files.envs["staging"]
    rendered, problems = manifestchecks.render_env(files, env_files)
    assert not problems and rendered
    return env_files, rendered


def policy_of(staging: tuple[repofiles.EnvFiles, list[Rendered]], kind: str, name: str,
              change: Any, env: str = "staging") -> list[tuple[str, str, int | None, str]]:
    """policy_findings after change(obj) on a copy of the rendered kind/name, as
    (rule, file, line, message) of that object's findings."""
    env_files, rendered = staging
    env_files = copy.copy(env_files)
    env_files.env = env
    objects = []
    for item in rendered:
        obj = copy.deepcopy(item.obj)
        if (item.kind, item.name) == (kind, name):
            change(obj)
        objects.append(Rendered(item.source, item.index, obj))
    found = [f for f in policy.policy_findings(env_files, objects)
             if f.message.startswith(f"{kind}/{name}: ")]
    assert all((f.env, f.severity) == (env, "error") for f in found), found
    return [(f.rule, f.file, f.line, f.message) for f in found]


def pod_of(obj: dict[str, Any]) -> dict[str, Any]:
    spec: dict[str, Any] = obj["spec"]["template"]["spec"]
    return spec


def test_the_rendered_chart_passes_the_policy(
    staging: tuple[repofiles.EnvFiles, list[Rendered]]
) -> None:
    env_files, rendered = staging
    assert policy.policy_findings(env_files, rendered) == []
    assert any(pod_of(r.obj).get("initContainers") for r in rendered if r.kind == "Deployment")


# ---- replicas ------------------------------------------------------------------------------


@pytest.mark.parametrize("component", ["backend", "frontend"])
def test_autoscaling_down_to_one_pod_is_flagged_outside_dev(repo: Path, component: str) -> None:
    set_value(repo, layout.values_path("staging"), [component, "autoscaling", "enabled"], True)
    line = set_value(repo, layout.values_path("staging"), [component, "autoscaling",
                                                           "minReplicas"], 1)
    found = findings(repo, "policy-replicas", "staging")
    assert [(f.env, f.file, f.line, f.severity) for f in found] == [
        ("staging", layout.values_path("staging"), line, "error")]
    assert "autoscaling minReplicas is 1; outside dev keep at least 2" in found[0].message

    set_value(repo, layout.values_path("staging"), [component, "autoscaling", "minReplicas"], 2)
    assert not findings(repo, "policy-replicas", "staging")


def test_one_replica_is_flagged_outside_dev_only(repo: Path) -> None:
    line = set_value(repo, layout.values_path("staging"), ["backend", "replicaCount"], 1)
    found = findings(repo, "policy-replicas", "staging")
    assert [(f.file, f.line) for f in found] == [(layout.values_path("staging"), line)]
    assert "1 replica(s); outside dev run at least 2" in found[0].message
    assert "(set backend.replicaCount)" in found[0].message
    set_value(repo, layout.values_path("staging"), ["backend", "replicaCount"], 2)
    assert not findings(repo, "policy-replicas", "staging")
    set_value(repo, layout.values_path("dev"), ["backend", "replicaCount"], 1)
    assert not findings(repo, "policy-replicas", "dev")


def test_an_autoscaler_without_min_replicas_means_one(
    staging: tuple[repofiles.EnvFiles, list[Rendered]]
) -> None:
    hpa = {"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
           "metadata": {"name": "todo-frontend"},
           "spec": {"scaleTargetRef": {"kind": "Deployment", "name": "todo-frontend"},
                    "maxReplicas": 4}}
    env_files, rendered = staging
    with_hpa = [*rendered, Rendered("templates/frontend/hpa.yaml", 0, hpa)]
    found = [f for f in policy.policy_findings(env_files, with_hpa) if f.rule == "policy-replicas"]
    line = env_files.values.line(["frontend", "autoscaling", "minReplicas"])
    assert [(f.file, f.line) for f in found] == [(layout.values_path("staging"), line)]
    assert found[0].message == ("Deployment/todo-frontend: autoscaling minReplicas is 1; "
                                "outside dev keep at least 2")
    hpa["spec"]["minReplicas"] = 2
    assert not policy.policy_findings(env_files, with_hpa)


def test_a_deployment_without_replicas_means_one(
    staging: tuple[repofiles.EnvFiles, list[Rendered]]
) -> None:
    found = policy_of(staging, "Deployment", "todo-backend",
                      lambda obj: obj["spec"].pop("replicas"))
    line = staging[0].values.line(["backend", "replicaCount"])
    assert found == [("policy-replicas", layout.values_path("staging"), line,
                      "Deployment/todo-backend: 1 replica(s); outside dev run at least 2 for "
                      "availability (set backend.replicaCount)")]


# ---- resources and probes ------------------------------------------------------------------


def test_missing_requests_and_limits_are_named(
    staging: tuple[repofiles.EnvFiles, list[Rendered]]
) -> None:
    def drop(obj: dict[str, Any]) -> None:
        resources = pod_of(obj)["containers"][0]["resources"]
        del resources["requests"]["cpu"]
        resources.pop("limits")

    found = policy_of(staging, "Deployment", "todo-db", drop)
    assert [(rule, file, line) for rule, file, line, _ in found] == [
        ("policy-resources", "chart/templates/database/deployment.yaml", None)] * 2
    assert [message.split(": ", 1)[1] for *_, message in found] == [
        "container postgresql has no requests for cpu; set deployment resources in the values",
        "container postgresql has no limits for cpu, memory; set deployment resources in the "
        "values"]


def test_probes_are_required_of_containers_not_of_init_containers_or_jobs(
    staging: tuple[repofiles.EnvFiles, list[Rendered]]
) -> None:
    def no_probes(obj: dict[str, Any]) -> None:
        for group in ("initContainers", "containers"):
            for container in pod_of(obj).get(group) or []:
                container.pop("livenessProbe", None)
                container.pop("readinessProbe", None)

    found = policy_of(staging, "Deployment", "todo-backend", no_probes)
    assert [(rule, message.split(": ", 1)[1]) for rule, _, _, message in found] == [
        ("policy-probes", "container backend has no livenessProbe; add one in the chart"),
        ("policy-probes", "container backend has no readinessProbe; add one in the chart")]

    def as_job(obj: dict[str, Any]) -> None:
        no_probes(obj)
        obj["kind"] = "Job"

    # policy_of picks the object by its kind before the change: the Deployment, become a Job.
    env_files, rendered = staging
    objects = [Rendered(item.source, item.index, copy.deepcopy(item.obj)) for item in rendered]
    (backend,) = [r for r in objects if (r.kind, r.name) == ("Deployment", "todo-backend")]
    as_job(backend.obj)
    assert backend.kind == "Job"
    found_job = [f for f in policy.policy_findings(env_files, objects)
                 if f.message.startswith("Job/todo-backend: ")]
    assert found_job == []


def test_init_containers_are_held_to_resources_and_security(
    staging: tuple[repofiles.EnvFiles, list[Rendered]]
) -> None:
    def loosen(obj: dict[str, Any]) -> None:
        init = pod_of(obj)["initContainers"][0]
        init.pop("resources")
        init["securityContext"]["allowPrivilegeEscalation"] = True

    found = policy_of(staging, "Deployment", "todo-backend", loosen)
    rules = [rule for rule, *_ in found]
    assert rules == ["policy-resources", "policy-resources", "policy-security-context"]
    assert all("container wait-for-database " in message for *_, message in found), found


def test_hooks_and_other_kinds_are_not_workloads(
    staging: tuple[repofiles.EnvFiles, list[Rendered]]
) -> None:
    def as_hook(obj: dict[str, Any]) -> None:
        pod_of(obj)["containers"][0].pop("livenessProbe")
        obj["metadata"].setdefault("annotations", {})["helm.sh/hook"] = "pre-install"

    assert policy_of(staging, "Deployment", "todo-backend", as_hook) == []

    def as_other_kind(obj: dict[str, Any]) -> None:
        pod_of(obj)["containers"][0].pop("livenessProbe")
        obj["kind"] = "PodTemplate"

    assert policy_of(staging, "PodTemplate", "todo-backend", as_other_kind) == []


# ---- security context ----------------------------------------------------------------------

RESTRICTED: dict[str, Any] = {
    "allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]},
    "runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"},
}


@pytest.mark.parametrize(("change", "wanted"), [
    ({"privileged": True}, ["privileged: false"]),
    ({"allowPrivilegeEscalation": None}, ["allowPrivilegeEscalation: false"]),
    ({"capabilities": {"drop": ["NET_RAW"]}}, ["capabilities.drop: [ALL]"]),
    ({"runAsNonRoot": False}, ["runAsNonRoot: true"]),
    ({"seccompProfile": {"type": "Unconfined"}}, ["seccompProfile.type: RuntimeDefault"]),
    ({"seccompProfile": {"type": "Localhost"}}, []),
    ({"privileged": False}, []),
])
def test_restricted_level_of_one_container(change: dict[str, Any], wanted: list[str]) -> None:
    context = {k: v for k, v in {**RESTRICTED, **change}.items() if v is not None}
    assert policy.restricted_problems(context, {}) == wanted


def test_pod_level_settings_count_unless_the_container_overrides_them() -> None:
    container = {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}}
    pod = {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}}
    assert policy.restricted_problems(container, pod) == []
    assert policy.restricted_problems({**container, "runAsNonRoot": False}, pod) == [
        "runAsNonRoot: true"]
    assert policy.restricted_problems(container, {}) == [
        "runAsNonRoot: true", "seccompProfile.type: RuntimeDefault"]


def test_a_privileged_container_is_flagged(repo: Path) -> None:
    edit(repo, "chart/templates/_helpers.tpl",
         lambda t: t.replace("privileged: false", "privileged: true", 1))
    found = findings(repo, "policy-security-context", "staging")
    workloads = {f.message.split(":", 1)[0] for f in found}
    assert workloads == {"Deployment/todo-db", "Deployment/todo-backend",
                         "Deployment/todo-frontend"}
    assert all(f.message.endswith("set privileged: false") for f in found), found
    assert all(f.file.startswith("chart/templates/") for f in found)


def test_every_missing_security_setting_is_named_in_one_finding(
    staging: tuple[repofiles.EnvFiles, list[Rendered]]
) -> None:
    def loosen(obj: dict[str, Any]) -> None:
        context = pod_of(obj)["containers"][0]["securityContext"]
        context["privileged"] = True
        context.pop("allowPrivilegeEscalation")

    found = policy_of(staging, "Deployment", "todo-backend", loosen)
    assert [(rule, file, line) for rule, file, line, _ in found] == [
        ("policy-security-context", "chart/templates/backend/deployment.yaml", None)]
    assert found[0][3].endswith("is not at the 'restricted' Pod Security level; set "
                                "allowPrivilegeEscalation: false, privileged: false")


# ---- image tags ----------------------------------------------------------------------------


def test_moving_tags_are_unpinned_outside_dev(tmp_path: Path, age_key: AgeKey) -> None:
    root = new_repo(tmp_path / "gitops", ["dev"], ["staging"])

    def tag_findings(env: str, tag: str) -> list[tuple[str, str, int | None]]:
        line = set_value(root, layout.values_path(env), ["backend", "image", "tag"], tag)
        found = [f for f in validate_repo(root, [env]).errors if f.rule == "policy-image-tag"]
        assert all(f.line == line for f in found)
        return [(f.env, f.file, f.line) for f in found]

    for tag in ("main", "Master", "STABLE", "edge", "dev", "Nightly", "latest"):
        found = tag_findings("staging", tag)
        assert [(env, file) for env, file, _ in found] == [
            ("staging", layout.values_path("staging"))], tag
        assert not tag_findings("dev", tag), tag
    for tag in ("1.4.0", "main-3f2a9c1", "stable-1.4", "v2"):
        assert not tag_findings("staging", tag), tag
    assert tag_findings("staging", "edge")
    message = next(f.message for f in validate_repo(root, ["staging"]).errors
                   if f.rule == "policy-image-tag")
    assert "the moving tag 'edge'" in message and "backend.image.tag" in message


def test_no_tag_is_unpinned_outside_dev_and_a_digest_is_pinned(
    staging: tuple[repofiles.EnvFiles, list[Rendered]]
) -> None:
    def image(ref: str) -> Any:
        def change(obj: dict[str, Any]) -> None:
            pod_of(obj)["containers"][0]["image"] = ref
        return change

    found = policy_of(staging, "Deployment", "todo-frontend", image("todo-frontend"))
    line = staging[0].values.line(["frontend", "image", "tag"])
    assert line is not None
    assert [(rule, file, line) for rule, file, line, _ in found] == [
        ("policy-image-tag", layout.values_path("staging"), line)]
    assert found[0][3] == (
        "Deployment/todo-frontend: container frontend runs image 'todo-frontend' without a "
        "pinned tag (no tag); set frontend.image.tag to a release tag")
    assert not policy_of(staging, "Deployment", "todo-frontend", image("todo-frontend"),
                         env="dev")
    digest = "todo-frontend@sha256:" + "0" * 64
    assert not policy_of(staging, "Deployment", "todo-frontend", image(digest))
    # The database's tag cannot move in the values (the values schema takes a major version):
    # a moving one is its template's, which the finding points at.
    found = policy_of(staging, "Deployment", "todo-db", image("postgres:latest"))
    assert [(file, line) for _, file, line, _ in found] == [
        ("chart/templates/database/deployment.yaml", None)]
    assert found[0][3].endswith("(the moving tag 'latest'); pin the image in the chart's "
                                "template")


@pytest.mark.parametrize(("tag", "moving"), [
    ("", True), ("latest", True), ("LATEST", True), ("nightly", True), ("1.4.0", False),
    ("latest-1.4", False),
])
def test_unpinned(tag: str, moving: bool) -> None:
    assert policy.unpinned(tag) is moving


@pytest.mark.parametrize(("image", "tag"), [
    ("todo-backend:1.4.0", "1.4.0"), ("registry:5000/team/todo-backend", ""),
    ("registry:5000/team/todo-backend:main", "main"), ("todo-backend@sha256:" + "a" * 64, None),
    ("todo-backend:1.4.0@sha256:" + "a" * 64, None),
    # Not valid references, but read the same way: the tag is all after the last name's
    # first colon, and a colon before the last slash is no tag.
    ("todo-backend:1.4.0:extra", "1.4.0:extra"), ("host/team:x/todo-backend", ""),
])
def test_image_tag(image: str, tag: str | None) -> None:
    assert policy.image_tag(image) == tag


def test_an_unlabelled_workload_and_an_unnamed_container_are_named_as_such(
    staging: tuple[repofiles.EnvFiles, list[Rendered]]
) -> None:
    def change(obj: dict[str, Any]) -> None:
        obj["metadata"].pop("labels", None)
        pod_of(obj)["containers"][0]["image"] = "postgres:latest"
        pod_of(obj)["containers"][0].pop("name")

    found = policy_of(staging, "Deployment", "todo-db", change)
    assert found == [("policy-image-tag", "chart/templates/database/deployment.yaml", None,
                      "Deployment/todo-db: container ? runs image 'postgres:latest' without a "
                      "pinned tag (the moving tag 'latest'); pin the image in the chart's "
                      "template")]


def test_a_rendered_pod_level_security_context_counts_for_its_containers(
    staging: tuple[repofiles.EnvFiles, list[Rendered]]
) -> None:
    def pod_level(obj: dict[str, Any]) -> None:
        pod = pod_of(obj)
        pod["securityContext"] = {"runAsNonRoot": True, "seccompProfile": {"type": "Localhost"}}
        for group in ("initContainers", "containers"):
            for container in pod.get(group) or []:
                container["securityContext"].pop("runAsNonRoot", None)
                container["securityContext"].pop("seccompProfile", None)

    assert policy_of(staging, "Deployment", "todo-backend", pod_level) == []
