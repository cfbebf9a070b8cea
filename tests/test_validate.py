"""The validation engine: each rule fires on a mutation (with its file and line) and stays quiet
on a clean repository made by the tool itself; no output format ever shows a secret."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path

import git
import pytest
import yaml

from gitops_gen.checks import filechecks
from gitops_gen.checks.findings import Finding
from gitops_gen.checks.validate import validate_repo
from gitops_gen.repo import layout
from gitops_gen.secrets import sops
from gitops_gen.secrets.demo_key import DEMO_RECIPIENT

from .conftest import make_age_key
from .helpers import (
    GEMINI,
    REPO_URL,
    cli,
    edit,
    new_repo,
    set_value,
    snapshot,
    template_repo,
)


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return template_repo(tmp_path_factory.mktemp("template"),
                         ["staging", "--host", "staging.example.com", "--backend-tag", "1.2.0"],
                         ["prod", "--from", "staging", "--host", "todo.example.com"])


def findings(root: Path, rule: str, envs: list[str] | None = None) -> list[Finding]:
    return [f for f in validate_repo(root, envs).findings if f.rule == rule]


def test_clean_repository_has_no_errors(repo: Path) -> None:
    report = validate_repo(repo)
    assert report.ok, [f.to_dict() for f in report.errors]
    assert report.environments == ["dev", "staging", "prod"]
    assert [(f.rule, f.env) for f in report.warnings] == [("placeholder-secret", "dev")]


def test_yaml_syntax_and_duplicate_keys(repo: Path) -> None:
    edit(repo, layout.values_path("dev"), lambda t: t + "backend: [1\n")
    edit(repo, layout.app_path("prod"), lambda t: t.replace("kind: Application",
                                                            "kind: Application\nkind: Other"))
    found = {(f.env, f.file, f.line) for f in findings(repo, "yaml-syntax")}
    dev_lines = len((repo / layout.values_path("dev")).read_text().splitlines())
    assert ("dev", layout.values_path("dev"), dev_lines + 1) in found
    assert ("prod", layout.app_path("prod"), 3) in found  # the duplicate's line


def test_values_schema_points_at_the_line(repo: Path) -> None:
    line = set_value(repo, layout.values_path("staging"), ["frontend", "replicaCount"], "two")
    found = findings(repo, "values-schema")
    where = [(f.env, f.file, f.line) for f in found]
    assert where == [("staging", layout.values_path("staging"), line)]
    assert "frontend.replicaCount" in found[0].message


def test_plaintext_secret_is_reported_without_its_value(repo: Path) -> None:
    leaked = "hunter2-Plaintext-Value"
    set_value(repo, layout.values_path("prod"), ["postgresql", "auth", "password"], leaked)
    set_value(repo, layout.values_path("dev"), ["backend", "config", "API_TOKEN"], leaked)
    found = findings(repo, "plaintext-secret")
    assert {(f.env, f.file) for f in found} == {("prod", layout.values_path("prod")),
                                               ("dev", layout.values_path("dev"))}
    assert all(f.line is not None for f in found)
    for fmt in ("text", "json", "junit", "github"):
        out = cli("validate", "--format", fmt, repo=repo)
        assert out.exit_code == 1
        assert leaked not in out.output


@pytest.mark.parametrize(
    ("mutate", "rule"),
    [
        (lambda t: t.replace("geminiApiKey: ENC[", "geminiApiKey: plain-text #ENC["),
         "sops-encrypted"),
        (lambda t: t.split("sops:")[0], "sops-metadata"),
        (lambda t: t.replace("    secretKey:", "    otherKey:"), "sops-keys"),
    ],
)
def test_sops_file_structure(repo: Path, mutate: Callable[[str], str], rule: str) -> None:
    edit(repo, layout.secrets_path("staging"), mutate)
    found = findings(repo, rule)
    assert found and all(f.env == "staging" and f.file == layout.secrets_path("staging")
                         for f in found)


def test_sops_recipients_must_match_rule(repo: Path, tmp_path: Path) -> None:
    other = make_age_key(tmp_path / "other")
    edit(repo, ".sops.yaml", lambda t: t.replace(
        "secrets\\.sops\\.yaml$\n    age: ",
        f"secrets\\.sops\\.yaml$\n    age: {other.recipient},", 1))
    found = findings(repo, "sops-recipients")
    assert [(f.env, f.file) for f in found] == [("dev", layout.secrets_path("dev"))]
    assert other.recipient in found[0].message and "secrets rekey dev" in found[0].message


def test_a_recipient_dropped_from_sops_yaml_still_in_the_file_is_reported(
    tmp_path: Path, age_key: object
) -> None:
    kept, dropped = (make_age_key(tmp_path / name) for name in ("kept", "dropped"))
    root = new_repo(tmp_path / "gitops", ["staging", "--age-recipient", kept.recipient,
                                          "--age-recipient", dropped.recipient])
    assert not findings(root, "sops-recipients")
    edit(root, ".sops.yaml", lambda t: t.replace(f",{dropped.recipient}", "").replace(
        f"{dropped.recipient},", ""))
    assert dropped.recipient not in (root / ".sops.yaml").read_text()
    found = findings(root, "sops-recipients")
    assert [(f.env, f.file, f.severity) for f in found] == [
        ("staging", layout.secrets_path("staging"), "error")]
    assert f"says {kept.recipient}; run 'gitops-gen secrets rekey staging'" in found[0].message


def test_placeholder_and_demo_recipient_warnings(repo: Path) -> None:
    result = cli("env", "add", "qa", "--age-recipient", DEMO_RECIPIENT, repo=repo,
                 env={"GEMINI_API_KEY": GEMINI})
    assert result.exit_code == 0, result.output
    cli("env", "add", "dev-2", "--age-recipient", DEMO_RECIPIENT, repo=repo)
    demo = findings(repo, "demo-recipient")
    assert [(f.env, f.severity) for f in demo] == [("qa", "warning")]
    placeholders = {f.env for f in findings(repo, "placeholder-secret")}
    assert placeholders == {"dev", "dev-2"}


def test_helm_render_failure(repo: Path) -> None:
    set_value(repo, layout.values_path("staging"), ["postgresql", "auth", "existingSecret"],
              "db-creds")
    found = findings(repo, "helm-render")
    assert [f.env for f in found] == ["staging"]
    assert "backend.secrets.existingSecret" in found[0].message


def test_kubernetes_schema_of_rendered_objects(repo: Path) -> None:
    edit(repo, "chart/templates/backend/service.yaml",
         lambda t: t.replace("spec:\n", "spec:\n  sessionAffinityy: None\n", 1))
    found = findings(repo, "k8s-schema", ["dev"])
    assert found and found[0].file == "chart/templates/backend/service.yaml"
    assert "sessionAffinityy" in found[0].message


def test_a_kind_kubernetes_does_not_serve_has_its_own_rule(repo: Path) -> None:
    (repo / "chart/templates/widget.yaml").write_text(
        "apiVersion: example.com/v1\nkind: Widget\nmetadata:\n  name: widget\n")
    found = findings(repo, "k8s-schema-unknown-kind", ["dev"])
    assert [f.file for f in found] == ["chart/templates/widget.yaml"]
    assert "no schema for Widget example.com/v1" in found[0].message
    assert findings(repo, "k8s-schema", ["dev"]) == []


def test_argocd_schema_with_line(repo: Path) -> None:
    edit(repo, layout.app_path("dev"), lambda t: t.replace("  project: todo-dev",
                                                          "  project: todo-dev\n  projekt: x"))
    found = findings(repo, "argocd-schema")
    lines = (repo / layout.app_path("dev")).read_text().splitlines()
    assert [(f.env, f.file) for f in found] == [("dev", layout.app_path("dev"))]
    assert lines[found[0].line - 1].strip() == "projekt: x"


@pytest.mark.parametrize(
    ("old", "new", "rule"),
    [
        (REPO_URL, "https://git.example.com/elsewhere.git", "app-source"),
        ("path: overlays/prod", "path: overlays/staging", "app-plugin"),
        ("project: todo-prod", "project: todo-staging", "app-source"),
        ("namespace: todo-prod\n  syncPolicy", "namespace: kube-system\n  syncPolicy",
         "app-destination"),
    ],
)
def test_application_semantics(repo: Path, old: str, new: str, rule: str) -> None:
    path = layout.app_path("prod")
    assert old in (repo / path).read_text()
    edit(repo, path, lambda t: t.replace(old, new, 1))
    found = [f for f in findings(repo, rule) if f.env == "prod"]
    assert found and found[0].file == path and found[0].line is not None


_RUN_ENV_ADD = "run 'gitops-gen env add dev'"


@pytest.mark.parametrize("path, old, new, rule, at, message", [
    ("gitops/projects/dev.yaml", "  name: todo-dev\n", "  name: todo-other\n", "app-project",
     "  name: todo-other", f"AppProject is named 'todo-other' but the Application uses project "
     f"'todo-dev'; {_RUN_ENV_ADD}"),
    ("gitops/projects/dev.yaml", f"    - {REPO_URL}\n", "    - https://git.example.com/x.git\n",
     "app-project", "  sourceRepos:", f"sourceRepos does not allow {REPO_URL}; add it or "
     f"{_RUN_ENV_ADD}"),
    ("gitops/apps/dev.yaml", "    namespace: todo-dev\n", "    namespace: kube-system\n",
     "app-destination", "  destination:", "destination {'server': 'https://kubernetes.default"
     ".svc', 'namespace': 'kube-system'} is outside AppProject gitops/projects/dev.yaml's "
     f"destinations; {_RUN_ENV_ADD} with the right --namespace/--cluster"),
    ("gitops/apps/dev.yaml", "    plugin:\n", "    helm:\n      releaseName: x\n    plugin:\n",
     "app-plugin", "    helm:", "source.helm is set; the todo-chatbot-sops plugin renders the "
     f"chart with overlays/dev's files and nothing else. Remove it ({_RUN_ENV_ADD} to rewrite "
     "the Application)"),
])
def test_an_application_and_its_project_disagree(
        repo: Path, path: str, old: str, new: str, rule: str, at: str, message: str) -> None:
    edit(repo, path, lambda t: t.replace(old, new, 1))
    line = (repo / path).read_text().splitlines().index(at) + 1
    found = [f for f in findings(repo, rule) if f.env == "dev"]
    assert [(f.severity, f.file, f.line, f.message) for f in found] == [
        ("error", path, line, message)]


def test_a_missing_app_project_is_said_once(repo: Path) -> None:
    (repo / "gitops" / "projects" / "dev.yaml").unlink()
    assert [f for f in findings(repo, "app-project") if f.env == "dev"] == []
    assert [f.message.split(";")[0] for f in findings(repo, "env-files") if f.env == "dev"] \
        == ["AppProject of environment dev missing"]


def test_missing_value_file_and_root_app(repo: Path) -> None:
    (repo / layout.values_path("staging")).unlink()
    edit(repo, layout.ROOT_APP, lambda t: t.replace(REPO_URL, "https://git.example.com/x.git"))
    assert any(f.env == "staging" for f in findings(repo, "env-files"))
    assert [f.file for f in findings(repo, "root-app")] == [layout.ROOT_APP]


def test_chart_refuses_an_overlay_that_puts_database_and_backend_in_one_wave(
    repo: Path
) -> None:
    set_value(repo, layout.values_path("staging"), ["syncWaves", "backend"], 0)
    found = [(f.rule, f.env, f.file) for f in validate_repo(repo, ["staging"]).errors]
    assert found == [("helm-render", "staging", layout.values_path("staging"))]
    (message,) = [f.message for f in findings(repo, "helm-render", ["staging"])]
    assert "syncWaves must increase: database (0) < backend (0)" in message


def test_sync_check_catches_a_template_that_starts_the_backend_with_the_database(
    repo: Path
) -> None:
    # The chart's guard sees only values: a template that names the wrong wave gets past it.
    deployment = "chart/templates/backend/deployment.yaml"
    edit(repo, deployment, lambda t: t.replace('"wave" "backend"', '"wave" "database"', 1))
    found = {(f.rule, f.env, f.file) for f in validate_repo(repo, ["staging"]).errors}
    # It also reads its Secret and ConfigMap, still in the backend wave, before they exist.
    assert found == {("sync-component-order", "staging", deployment),
                     ("sync-reads-later-wave", "staging", deployment)}


def test_prune_last_added_by_hand_is_reported_at_its_line(repo: Path) -> None:
    path = layout.app_path("staging")
    assert "PruneLast" not in (repo / path).read_text()
    assert not findings(repo, "sync-prune-last")
    edit(repo, path, lambda t: t.replace("      - CreateNamespace=true\n",
                                         "      - CreateNamespace=true\n      - PruneLast=true\n"))
    found = findings(repo, "sync-prune-last")
    assert [(f.env, f.file, f.severity) for f in found] == [("staging", path, "error")]
    lines = (repo / path).read_text().splitlines()
    assert lines[found[0].line - 1].strip() == "- PruneLast=true"
    message = found[0].message
    assert "extra wave (4) after the last one" in message
    assert "wave 3 is health-gated" in message and "Ingress/todo stays Progressing" in message
    assert "remove PruneLast=true" in message and "Prune=false,Delete=false" in message
    # The same option on an Application whose final wave holds nothing to wait on is harmless.
    edit(repo, layout.app_path("dev"), lambda t: t.replace(
        "      - CreateNamespace=true\n", "      - CreateNamespace=true\n      - PruneLast=true\n"))
    assert [f.env for f in findings(repo, "sync-prune-last")] == ["staging"]


def test_prune_last_annotation_from_an_overlay_is_reported_at_the_template(repo: Path) -> None:
    set_value(repo, layout.values_path("prod"),
              ["ingress", "annotations", "argocd.argoproj.io/sync-options"], "PruneLast=true")
    found = findings(repo, "sync-prune-last")
    assert [(f.env, f.file) for f in found] == [("prod", "chart/templates/ingress.yaml")]
    assert found[0].message.startswith("Ingress/todo carries argocd.argoproj.io/sync-options "
                                       "PruneLast=true")


def test_prune_last_in_the_options_and_in_an_annotation_are_both_reported(repo: Path) -> None:
    path = layout.app_path("staging")
    edit(repo, path, lambda t: t.replace("      - CreateNamespace=true\n",
                                         "      - CreateNamespace=true\n      - PruneLast=true\n"))
    set_value(repo, layout.values_path("staging"),
              ["ingress", "annotations", "argocd.argoproj.io/sync-options"], "PruneLast=true")
    found = findings(repo, "sync-prune-last")
    assert [(f.env, f.file) for f in found] == [("staging", path),
                                                ("staging", "chart/templates/ingress.yaml")]


@pytest.mark.parametrize(
    ("env", "keys", "value", "rule"),
    [
        ("staging", ["backend", "replicaCount"], 1, "policy-replicas"),
        ("prod", ["frontend", "image", "tag"], "latest", "policy-image-tag"),
    ],
)
def test_policy_outside_dev(repo: Path, env: str, keys: list[str], value: object,
                            rule: str) -> None:
    line = set_value(repo, layout.values_path(env), keys, value)
    found = findings(repo, rule)
    assert [(f.env, f.file, f.line) for f in found] == [(env, layout.values_path(env), line)]
    set_value(repo, layout.values_path("dev"), keys, value)
    assert not [f for f in findings(repo, rule) if f.env == "dev"]


def test_policy_resources_probes_security(repo: Path) -> None:
    edit(repo, "chart/templates/frontend/deployment.yaml",
         lambda t: t.replace("livenessProbe:", "livenessProbeX:", 1))
    edit(repo, "chart/templates/_helpers.tpl",
         lambda t: t.replace("allowPrivilegeEscalation: false", "allowPrivilegeEscalation: true"))
    rules = {f.rule for f in validate_repo(repo, ["dev"]).errors}
    assert {"policy-security-context", "policy-probes", "k8s-schema"} <= rules


def test_formats_parse_back(repo: Path) -> None:
    set_value(repo, layout.values_path("staging"), ["frontend", "replicaCount"], -1)
    out = cli("validate", "--format", "json", repo=repo)
    assert out.exit_code == 1
    data = json.loads(out.output)
    assert data["ok"] is False
    assert {"rule", "severity", "env", "file", "line", "message"} <= set(data["findings"][0])
    junit = ET.fromstring(cli("validate", "--format", "junit", repo=repo).output)
    failures = junit.findall(".//testcase/failure")
    assert failures
    github = cli("validate", "--format", "github", repo=repo).output.splitlines()
    prefix = "::error file=overlays/staging/values.yaml,line="
    assert any(line.startswith(prefix) for line in github)
    text = cli("validate", repo=repo)
    assert text.exit_code == 1 and "values-schema" in text.output


def test_no_secret_value_in_any_output(repo: Path) -> None:
    encrypted = (repo / layout.secrets_path("prod")).read_text()
    enc_values = [v for v in sops.flatten(yaml.safe_load(encrypted)).values()]
    for fmt in ("text", "json", "junit", "github"):
        out = cli("validate", "--format", fmt, repo=repo).output
        assert GEMINI not in out
        assert not any(v in out for v in enc_values)


def test_kube_version_option(repo: Path) -> None:
    assert cli("validate", "--kube-version", "1.37", "dev", repo=repo).exit_code == 0
    bad = cli("validate", "--kube-version", "1.9", repo=repo)
    assert bad.exit_code == 2 and "--kube-version" in bad.output
    unknown = cli("validate", "nowhere", repo=repo)
    assert unknown.exit_code == 2 and "nowhere" in unknown.output


def test_env_add_refuses_to_commit_what_does_not_validate(repo: Path, age_key: object) -> None:
    edit(repo, "chart/templates/backend/service.yaml",
         lambda t: t.replace("spec:\n", "spec:\n  sessionAffinityy: None\n", 1))
    git.Repo(repo).git.commit("-qam", "break the chart")
    before = snapshot(repo)
    result = cli("env", "add", "qa", repo=repo)
    assert result.exit_code == 1, result.output
    assert "sessionAffinityy" in result.output
    assert snapshot(repo) == before


def test_duplicate_key_message_never_quotes_values(repo: Path) -> None:
    edit(repo, layout.values_path("dev"),
         lambda t: t + "postgresql:\n  auth:\n    username: hunter2-secret\n"
                       "    username: other-secret\n")
    found = findings(repo, "yaml-syntax")
    assert found and "duplicate key 'username'" in found[0].message
    for fmt in ("text", "json", "github"):
        out = cli("validate", "--format", fmt, repo=repo).output
        assert "hunter2-secret" not in out and "other-secret" not in out


def test_plaintext_in_any_overlay_file(repo: Path) -> None:
    (repo / "overlays" / "dev" / "extra-values.yaml").write_text(
        "postgresql:\n  auth:\n    password: hunter2-plain\n")
    found = findings(repo, "plaintext-secret")
    assert [(f.env, f.file, f.line) for f in found] == [
        ("dev", "overlays/dev/extra-values.yaml", 3)]


def test_duplicate_application_names(repo: Path) -> None:
    copy = repo / "gitops" / "apps" / "dev-copy.yaml"
    copy.write_text((repo / layout.app_path("dev")).read_text())
    found = findings(repo, "app-project")
    assert any("also defined in gitops/apps/dev" in f.message for f in found)


@pytest.mark.parametrize("spelling", ["todo-chatbot-staging", '"todo-chatbot-st\\x61ging"',
                                      "'todo-chatbot-staging'"])
def test_a_clash_with_a_named_environment_is_found_when_only_it_is_validated(
        repo: Path, spelling: str) -> None:
    """validate staging (and env add's check) reads in full only the manifests whose text
    can name staging's; an escape in a quoted name still gets the file read."""
    (repo / "gitops" / "apps" / "copy.yaml").write_text(
        f"apiVersion: argoproj.io/v1alpha1\nkind: Application\nmetadata:\n  name: {spelling}\n")
    found = findings(repo, "app-project", ["staging"])
    assert [(f.env, f.file, f.message.split(";")[0]) for f in found] == [
        ("staging", layout.app_path("staging"),
         "Application todo-chatbot-staging is also defined in gitops/apps/copy.yaml")]
    assert findings(repo, "app-project", ["prod"]) == []  # not prod's clash


@pytest.mark.parametrize("name", ["aa-copy.yaml", "zz-copy.yaml"])  # before and after its own
def test_a_clash_of_a_named_environment_is_found_in_any_file_and_said_in_full(
        repo: Path, name: str) -> None:
    (repo / "gitops" / "apps" / name).write_text(
        (repo / layout.app_path("staging")).read_text())
    found = findings(repo, "app-project", ["staging"])
    assert [(f.severity, f.env, f.file, f.line, f.message) for f in found] == [
        ("error", "staging", layout.app_path("staging"), None,
         f"Application todo-chatbot-staging is also defined in gitops/apps/{name}; Argo CD "
         "keeps only one of them. Rename or remove one")]


def test_a_file_that_does_not_read_hides_no_clash_after_it(repo: Path) -> None:
    (repo / "gitops" / "apps" / "aa-latin1.yaml").write_bytes(b"name: caf\xe9\n")
    (repo / "gitops" / "apps" / "zz-copy.yaml").write_text(
        (repo / layout.app_path("staging")).read_text())
    found = findings(repo, "app-project", ["staging"])
    assert [(f.file, f.message.split(";")[0]) for f in found] == [
        (layout.app_path("staging"),
         "Application todo-chatbot-staging is also defined in gitops/apps/zz-copy.yaml")]


def test_two_named_environments_with_one_name_clash(repo: Path) -> None:
    edit(repo, layout.app_path("prod"), lambda t: t.replace("name: todo-chatbot-prod\n",
                                                            "name: todo-chatbot-staging\n", 1))
    found = findings(repo, "app-project", ["staging", "prod"])
    assert [(f.env, f.file, f.message.split(";")[0]) for f in found] == [
        ("prod", layout.app_path("prod"),
         f"Application todo-chatbot-staging is also defined in {layout.app_path('staging')}"),
        ("staging", layout.app_path("staging"),
         f"Application todo-chatbot-staging is also defined in {layout.app_path('prod')}")]


def test_a_manifest_without_a_document_names_nothing(repo: Path) -> None:
    (repo / "gitops" / "apps" / "notes.yaml").write_text("# todo-chatbot-staging, later\n")
    assert findings(repo, "app-project", ["staging"]) == []
    assert findings(repo, "app-project") == []


def test_an_application_whose_source_is_no_mapping_points_at_its_spec(repo: Path) -> None:
    app = layout.app_path("dev")
    text = (repo / app).read_text()
    start, end = text.index("  source:\n"), text.index("  destination:\n")
    (repo / app).write_text(text[:start] + "  source: overlays/dev\n" + text[end:])
    line = text.splitlines().index("spec:") + 1
    found = [f for f in findings(repo, "app-plugin") if f.env == "dev"]
    assert [(f.severity, f.file, f.line, f.message) for f in found] == [
        ("error", app, line, "spec.source is not a mapping; the Application renders from one "
         "source. run 'gitops-gen env add dev' to rewrite the Application")]


@pytest.mark.parametrize("plugin, at, named", [
    ("    plugin:\n      name: kustomize\n", "      name: kustomize", "'kustomize'"),
    ("", "  source:", "None"),  # no plugin: the line of the source
])
def test_an_application_rendered_by_another_plugin_points_at_its_name(
        repo: Path, plugin: str, at: str, named: str) -> None:
    app = layout.app_path("dev")
    edit(repo, app, lambda t: t.replace("    plugin:\n      name: todo-chatbot-sops\n", plugin, 1))
    line = (repo / app).read_text().splitlines().index(at) + 1
    found = [f for f in findings(repo, "app-plugin") if f.env == "dev"]
    assert [(f.severity, f.file, f.line, f.message) for f in found] == [
        ("error", app, line, f"source.plugin.name is {named}: only the todo-chatbot-sops plugin "
         "decrypts overlays/dev/secrets.sops.yaml (gitops/bootstrap); run 'gitops-gen env add "
         "dev' to rewrite the Application")]


@pytest.mark.parametrize("path, old, new", [
    ("gitops/apps/dev.yaml", "spec:\n  project: todo-dev\n", "spec: todo-dev\nx:\n  project: x\n"),
    ("gitops/apps/dev.yaml", "  destination:\n", "  destination: here\n  x:\n"),
    ("gitops/apps/dev.yaml", "  syncPolicy:\n", "  syncPolicy: auto\n  x:\n"),
    ("gitops/projects/dev.yaml", "spec:\n", "spec: open\nx:\n"),
    ("gitops/projects/dev.yaml", "  destinations:\n", "  destinations: [anywhere]\n  x:\n"),
    ("gitops/projects/dev.yaml", "  destinations:\n", "  destinations: 7\n  x:\n"),
    ("gitops/projects/dev.yaml", "  sourceRepos:\n", "  sourceRepos: 7\n  x:\n"),
    ("gitops/projects/dev.yaml", "    - server: https://kubernetes.default.svc\n",
     "    - server: [https://kubernetes.default.svc]\n"),
    ("gitops/apps/dev.yaml", "  finalizers:\n", "  finalizers: 7\n  x:\n"),
    ("gitops/apps/dev.yaml", "kind: Application\n", "kind: [Application]\n"),
])
def test_a_field_of_another_type_is_a_finding_not_a_crash(
        repo: Path, path: str, old: str, new: str) -> None:
    edit(repo, path, lambda t: t.replace(old, new, 1))
    report = validate_repo(repo)
    assert not report.ok and any(f.env == "dev" and f.severity == "error"
                                 for f in report.findings)


def test_an_application_without_the_chart_points_at_its_source_path(repo: Path) -> None:
    (repo / "chart" / "Chart.yaml").unlink()
    app = layout.app_path("dev")
    line = (repo / app).read_text().splitlines().index("    path: overlays/dev") + 1
    found = [f for f in findings(repo, "app-source") if f.env == "dev"]
    assert [(f.severity, f.file, f.line, f.message) for f in found] == [
        ("error", app, line, "chart/Chart.yaml not found; restore the chart")]


def test_a_named_environment_that_replaces_the_root_app_is_found(repo: Path) -> None:
    edit(repo, layout.app_path("prod"), lambda t: t.replace("name: todo-chatbot-prod\n",
                                                            "name: todo-chatbot-root\n", 1))
    found = findings(repo, "root-app", ["prod"])
    assert [(f.file, f.message.split(";")[0]) for f in found] == [
        (layout.app_path("prod"),
         "Application todo-chatbot-root replaces the app-of-apps in gitops/root.yaml")]


@pytest.mark.parametrize("text, name, may", [
    ("metadata:\n  name: staging\n", "staging", True),
    ("metadata:\n  name: Staging\n", "staging", True),  # case: read it, compare exactly
    ("metadata:\n  name: prod\n", "staging", False),
    ('metadata:\n  name: "pro\\x64"\n', "staging", True),  # an escape: read it
    ("metadata:\n  name: 0x1A\n", "26", True),  # a number: any notation may spell it
    ("metadata:\n  name: prod\n", "a b", True),  # not a Kubernetes name: read it
])
def test_which_manifests_are_read_in_full(text: str, name: str, may: bool) -> None:
    assert filechecks._may_hold(text, name) is may
