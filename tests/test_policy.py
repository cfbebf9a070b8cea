"""Policy over rendered workloads (checks/policy.py): each rule fires outside dev on the value
or template that breaks it, at the overlay line when there is one, and stays quiet in dev."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from gitops_gen.checks import policy
from gitops_gen.checks.findings import Finding
from gitops_gen.checks.validate import validate_repo
from gitops_gen.repo import layout

from .conftest import AgeKey
from .helpers import copy_repo, edit, new_repo, set_value, template_repo


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return template_repo(tmp_path_factory.mktemp("template"), ["staging"])


@pytest.fixture
def repo(template: Path, tmp_path: Path) -> Path:
    return copy_repo(template, tmp_path)


def findings(root: Path, rule: str, env: str) -> list[Finding]:
    return [f for f in validate_repo(root, [env]).findings if f.rule == rule]


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


@pytest.mark.parametrize(("image", "tag"), [
    ("todo-backend:1.4.0", "1.4.0"), ("registry:5000/team/todo-backend", ""),
    ("registry:5000/team/todo-backend:main", "main"), ("todo-backend@sha256:" + "a" * 64, None),
    ("todo-backend:1.4.0@sha256:" + "a" * 64, None),
])
def test_image_tag(image: str, tag: str | None) -> None:
    assert policy.image_tag(image) == tag
