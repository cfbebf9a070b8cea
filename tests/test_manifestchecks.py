"""The values schema's findings (checks/manifestchecks.py) on a real repository, in-process: which
quote the schema's message and which withhold it because the value is, or holds, a secret; and
where a sync option's finding points.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import jsonschema_rs
import pytest

from gitops_gen.checks import manifestchecks
from gitops_gen.checks.findings import Finding
from gitops_gen.checks.repofiles import load_repo
from gitops_gen.repo import layout
from gitops_gen.secrets import sops

from .helpers import edit

WITHHELD = "has the wrong type or format (value not shown)"


def values_findings(root: Path, overlay: str, env: str = "dev") -> list[Finding]:
    """The values schema's findings of env with this overlay and no SOPS file (whose values
    would be merged over the overlay's)."""
    (root / layout.values_path(env)).write_text(overlay)
    (root / layout.secrets_path(env)).unlink(missing_ok=True)
    repo = load_repo(root, [env])
    return manifestchecks.values_findings(repo, repo.envs[env])


def test_a_wrong_value_that_holds_no_secret_is_quoted(repo: Path) -> None:
    found = values_findings(repo, "backend:\n  replicaCount: many\n")
    assert [(f.rule, f.env, f.file, f.line) for f in found] == [
        ("values-schema", "dev", layout.values_path("dev"), 2)]
    assert found[0].message.startswith("backend.replicaCount: ")
    assert "'many'" in found[0].message or '"many"' in found[0].message
    assert WITHHELD not in found[0].message
    assert found[0].message.endswith("; fix the value to match chart/values.schema.json")


def test_a_wrong_value_in_a_list_that_holds_no_secret_is_quoted(repo: Path) -> None:
    found = values_findings(repo, "backend:\n  replicaCount: [{name: NOT-SECRET-1}]\n")
    assert len(found) == 1
    assert "NOT-SECRET-1" in found[0].message


@pytest.mark.parametrize(("overlay", "where"), [
    # a secret's own place (the name says so too)
    ("postgresql:\n  auth:\n    password: 12345678912345\n", "postgresql.auth.password"),
    # places above a secret: their value holds it, though no name says so
    ("postgresql:\n  auth: SECRET-VALUE-12345\n", "postgresql.auth"),
    ("backend:\n  secrets: SECRET-VALUE-12345\n", "backend.secrets"),
    # a value that holds a secret-named key, in a mapping or in a list
    ("backend:\n  replicaCount: {apiToken: SECRET-VALUE-12345}\n", "backend.replicaCount"),
    ("backend:\n  replicaCount: [{name: x, password: SECRET-VALUE-12345}]\n",
     "backend.replicaCount"),
    ("backend:\n  replicaCount: [[1, {token: SECRET-VALUE-12345}]]\n", "backend.replicaCount"),
])
def test_a_wrong_value_that_is_or_holds_a_secret_is_withheld(repo: Path, overlay: str,
                                                             where: str) -> None:
    found = values_findings(repo, overlay)
    assert found, overlay
    ours = [f for f in found if f.message.startswith(f"{where}: ")]
    assert ours, [f.message for f in found]
    assert all(f.message == f"{where}: {WITHHELD}; fix the value to match "
                            "chart/values.schema.json" for f in ours)
    assert not [f for f in found if "SECRET-VALUE" in f.message or "12345" in f.message]


def test_a_place_beside_a_secret_is_not_taken_for_one(repo: Path) -> None:
    # postgresql.au is a prefix of postgresql.auth but not a place above it
    found = values_findings(repo, "postgresql:\n  au: NOT-SECRET-2\n")
    assert len(found) == 1
    assert found[0].message.startswith("postgresql: ")
    assert "NOT-SECRET-2" not in found[0].message or WITHHELD not in found[0].message
    found = values_findings(repo, "postgresql:\n  image:\n    tag: [NOT-SECRET-3]\n")
    assert len(found) == 1
    assert found[0].message.startswith("postgresql.image.tag: ")
    assert "NOT-SECRET-3" in found[0].message


def test_every_secret_key_ends_in_a_secret_name() -> None:
    """Why a place below a secret key needs no test of its own: its path names the secret."""
    from gitops_gen.checks.filechecks import is_secret_name

    assert all(is_secret_name(key.rsplit(".", 1)[-1]) for key in sops.SECRET_KEYS)


def test_an_option_finding_points_at_the_option_or_else_at_the_sync_policy(repo: Path) -> None:
    app = layout.app_path("dev")
    edit(repo, app, lambda t: t.replace("      - CreateNamespace=true\n",
                                        "      - CreateNamespace=true\n      - PruneLast=true\n"))
    lines = (repo / app).read_text().splitlines()
    env_files = load_repo(repo, ["dev"]).envs["dev"]
    line = manifestchecks._option_line(env_files, "PruneLast=true")
    assert line is not None and lines[line - 1].strip() == "- PruneLast=true"
    line = manifestchecks._option_line(env_files, "Replace=true")
    assert line is not None and lines[line - 1].strip() == "syncPolicy:"
    edit(repo, app, lambda t: t.replace("    syncOptions:\n      - CreateNamespace=true\n"
                                        "      - PruneLast=true\n", ""))
    lines = (repo / app).read_text().splitlines()
    env_files = load_repo(repo, ["dev"]).envs["dev"]
    line = manifestchecks._option_line(env_files, "PruneLast=true")
    assert line is not None and lines[line - 1].strip() == "syncPolicy:"


def test_a_missing_top_level_field_of_an_application_is_reported_at_line_1(repo: Path) -> None:
    path = layout.app_path("dev")
    edit(repo, path, lambda t: "# a comment\n\n" + t.replace("apiVersion: argoproj.io/v1alpha1\n",
                                                             "", 1))
    found = list(manifestchecks.argo_findings(load_repo(repo, ["dev"]).envs["dev"]))
    assert [(f.rule, f.env, f.file, f.line, f.message) for f in found] == [
        ("argocd-schema", "dev", path, 1, "missing required field 'apiVersion'; fix it or run "
         "'gitops-gen env add dev' to rewrite it")]


def test_a_missing_top_level_field_of_the_root_application_is_reported_at_line_1(
        repo: Path) -> None:
    edit(repo, layout.ROOT_APP, lambda t: "# a comment\n\n" + t.replace(
        "apiVersion: argoproj.io/v1alpha1\n", "", 1))
    found = list(manifestchecks.root_argo_findings(load_repo(repo)))
    assert [(f.rule, f.env, f.file, f.line, f.message) for f in found] == [
        ("argocd-schema", None, layout.ROOT_APP, 1,
         f"missing required field 'apiVersion'; fix {layout.ROOT_APP}")]


def test_the_values_schema_validator_never_fetches_a_schema() -> None:
    """Behind the check that every $ref stays inside the schema (chart.schema_problem): the
    validator is given a retriever that reads nothing."""
    uri = "https://example.com/" + "a" * 100
    with pytest.raises(ValueError) as caught:
        manifestchecks._no_retrieval(uri)
    assert str(caught.value) == f"{uri[:80]} is not read: a schema may only refer inside itself"
    with pytest.raises(jsonschema_rs.ValidationError) as refused:
        jsonschema_rs.Draft7Validator({"$ref": uri}, retriever=manifestchecks._no_retrieval)
    assert "is not read: a schema may only refer inside itself" in str(refused.value)


def test_the_root_project_is_checked_against_argo_cds_schema(repo: Path) -> None:
    path = f"{layout.BOOTSTRAP_DIR}/root-project.yaml"
    edit(repo, path, lambda t: t.replace("spec:\n", "spec:\n  bogus: 1\n", 1))
    lines = (repo / path).read_text().splitlines()
    found = list(manifestchecks.root_argo_findings(load_repo(repo)))
    assert [(f.rule, f.env, f.file, f.message) for f in found] == [
        ("argocd-schema", None, path, f"spec: unknown field 'bogus'; fix {path}")]
    assert found[0].line is not None and lines[found[0].line - 1] == "  bogus: 1"


NAMESPACE_PROBE = ("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: probe\n"
                   "data:\n  namespace: {{ .Release.Namespace | quote }}\n")


@pytest.mark.parametrize(("namespace", "rendered"), [
    ("team-x", "team-x"), ('""', "todo-dev"), ("5", "todo-dev"), ("[a]", "todo-dev"),
])
def test_the_chart_renders_into_the_applications_namespace(repo: Path, namespace: str,
                                                           rendered: str) -> None:
    (repo / "chart/templates/probe.yaml").write_text(NAMESPACE_PROBE)
    edit(repo, layout.app_path("dev"), lambda t: t.replace("    namespace: todo-dev\n",
                                                           f"    namespace: {namespace}\n"))
    repo_files = load_repo(repo, ["dev"])
    objects, errors = manifestchecks.render_env(repo_files, repo_files.envs["dev"])
    assert errors == []
    probe = [r.obj for r in objects if r.kind == "ConfigMap" and r.name == "probe"]
    assert probe == [{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "probe"},
                      "data": {"namespace": rendered}}]
    assert layout.default_namespace("dev") == "todo-dev"


def test_a_template_that_fails_is_a_finding_on_the_values(repo: Path) -> None:
    (repo / "chart/templates/stop.yaml").write_text('{{ fail "stopped here" }}\n')
    repo_files = load_repo(repo, ["dev"])
    objects, errors = manifestchecks.render_env(repo_files, repo_files.envs["dev"])
    assert objects == []
    assert [(f.rule, f.severity, f.env, f.file, f.line) for f in errors] == [
        ("helm-render", "error", "dev", layout.values_path("dev"), None)]
    assert "stopped here" in errors[0].message
    assert errors[0].message.endswith("; fix the overlay value or the chart template")


def test_a_chart_without_chart_yaml_is_a_finding_on_chart_yaml(repo: Path) -> None:
    (repo / "chart/Chart.yaml").unlink()
    repo_files = load_repo(repo, ["dev"])
    objects, errors = manifestchecks.render_env(repo_files, repo_files.envs["dev"])
    assert objects == []
    assert [(f.rule, f.severity, f.env, f.file, f.line) for f in errors] == [
        ("helm-render", "error", "dev", "chart/Chart.yaml", None)]
    assert "Chart.yaml" in errors[0].message


def test_no_values_schema_is_one_finding(repo: Path) -> None:
    (repo / "chart/values.schema.json").unlink()
    found = values_findings(repo, "backend:\n  replicaCount: many\n")
    assert [(f.rule, f.severity, f.env, f.file, f.line, f.message) for f in found] == [
        ("values-schema", "error", "dev", "chart/values.schema.json", None,
         "the chart has no values.schema.json; restore it")]


@pytest.mark.parametrize("name", ["values.schema.json", "values.yaml"])
def test_a_chart_file_that_is_a_link_is_refused_not_read(repo: Path, name: str) -> None:
    (repo / "chart" / name).unlink()
    (repo / "chart" / name).symlink_to("/etc/hostname")
    found = values_findings(repo, "backend:\n  replicaCount: many\n")
    assert [(f.rule, f.env, f.file) for f in found] == [("file-refused", "dev", f"chart/{name}")]


@pytest.mark.parametrize(("name", "text", "line", "message"), [
    ("values.yaml", "a: 1\nb: [\n", 3, "fix the YAML at that line"),
    ("values.yaml", "- a\n", 1, "chart/values.yaml is not a mapping; write it as key: value "
                                "pairs"),
    ("values.schema.json", '{"type": 5}', None, "chart/values.schema.json is not a valid JSON "
                                                "schema"),
])
def test_a_broken_chart_file_is_one_finding_on_it(repo: Path, name: str, text: str,
                                                  line: int | None, message: str) -> None:
    (repo / "chart" / name).write_text(text)
    found = values_findings(repo, "backend:\n  replicaCount: many\n")
    assert [(f.rule, f.env, f.file, f.line) for f in found] == [
        ("values-schema", "dev", f"chart/{name}", line)]
    assert message in found[0].message


def test_an_error_at_the_top_level_is_named_so_and_withheld(repo: Path) -> None:
    found = values_findings(repo, "bogus: SECRET-VALUE-4\n")
    assert [f.message for f in found] == [
        f"(top level): {WITHHELD}; fix the value to match chart/values.schema.json"]


def test_a_wrong_value_of_the_sops_file_is_reported_at_its_line(repo: Path) -> None:
    secrets = layout.secrets_path("dev")
    (repo / layout.values_path("dev")).write_text("backend: {}\n")
    (repo / secrets).write_text("# not encrypted\npostgresql:\n  auth:\n    username: x\n")
    repo_files = load_repo(repo, ["dev"])
    found = manifestchecks.values_findings(repo_files, repo_files.envs["dev"])
    assert [(f.file, f.line) for f in found] == [(secrets, 4)]
    assert found[0].message.startswith("postgresql.auth.username: ")
    assert manifestchecks.UNENCRYPTED in found[0].message  # the value, withheld


RENDERED_PROJECT = ("apiVersion: argoproj.io/v1alpha1\nkind: AppProject\nmetadata:\n"
                    "  name: rendered\nspec: {}\n")
RENDERED_WIDGET = "apiVersion: example.com/v1\nkind: Widget\nmetadata:\n  name: w\n"


def test_the_kubernetes_schema_check_leaves_argo_cds_kinds_to_its_own_schemas(
        repo: Path) -> None:
    (repo / "chart/templates/project.yaml").write_text(RENDERED_PROJECT)
    (repo / "chart/templates/widget.yaml").write_text(RENDERED_WIDGET)
    repo_files = load_repo(repo, ["dev"])
    env_files = repo_files.envs["dev"]
    objects, errors = manifestchecks.render_env(repo_files, env_files)
    assert errors == []
    found = manifestchecks.kube_findings(env_files, objects, "1.33.0")
    assert [(f.rule, f.env, f.file, f.line) for f in found] == [
        ("k8s-schema-unknown-kind", "dev", "chart/templates/widget.yaml", None)]
    assert found[0].message.startswith("Widget/w: ")
    assert found[0].message.endswith(" (Kubernetes 1.33.0); fix the template or the value that "
                                     "feeds it")


def test_a_rendered_object_against_its_kubernetes_schema(repo: Path) -> None:
    (repo / "chart/templates/bad.yaml").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: bad\ndata:\n  n: 5\n")
    repo_files = load_repo(repo, ["dev"])
    env_files = repo_files.envs["dev"]
    objects, _ = manifestchecks.render_env(repo_files, env_files)
    found = manifestchecks.kube_findings(env_files, objects, "1.33.0")
    assert [(f.rule, f.severity, f.env, f.file, f.line) for f in found] == [
        ("k8s-schema", "error", "dev", "chart/templates/bad.yaml", None)]
    assert found[0].message.startswith("ConfigMap/bad: ")


@pytest.mark.parametrize(("application", "namespace"), [
    (lambda t: t.replace("    namespace: todo-dev\n", "    namespace: team-x\n"), "team-x"),
    (lambda _: "- not an Application\n", "todo-dev"),
])
def test_the_sync_plan_puts_objects_in_the_applications_namespace(
        repo: Path, application: Callable[[str], str], namespace: str) -> None:
    rendered_with = load_repo(repo, ["dev"])
    objects, _ = manifestchecks.render_env(rendered_with, rendered_with.envs["dev"])
    edit(repo, layout.app_path("dev"), application)
    plan = manifestchecks.sync_plan(load_repo(repo, ["dev"]).envs["dev"], objects)
    spaces = {step.namespace for wave in plan.waves for step in wave.steps}
    assert spaces == {namespace}


def test_a_sops_value_left_in_plaintext_is_withheld_from_the_render(repo: Path) -> None:
    import base64

    secrets = layout.secrets_path("dev")
    text = (repo / secrets).read_text()  # the other keys stay encrypted, so the chart renders
    start = text.index("        password: ENC[")
    end = text.index("\n", start)
    (repo / secrets).write_text(text[:start] + "        password: PLAIN-PASSWORD-1" + text[end:])
    repo_files = load_repo(repo, ["dev"])
    objects, errors = manifestchecks.render_env(repo_files, repo_files.envs["dev"])
    assert errors == []
    rendered = json.dumps([r.obj for r in objects])
    assert "PLAIN-PASSWORD-1" not in rendered
    assert base64.b64encode(b"PLAIN-PASSWORD-1").decode() not in rendered
    withheld = base64.b64encode(manifestchecks.UNENCRYPTED.encode()).decode()
    assert withheld in rendered


def test_the_sync_plan_follows_the_applications_sync_options(repo: Path) -> None:
    edit(repo, layout.app_path("dev"), lambda t: t.replace(
        "      - CreateNamespace=true\n", "      - CreateNamespace=true\n      - PruneLast=true\n"))
    repo_files = load_repo(repo, ["dev"])
    objects, _ = manifestchecks.render_env(repo_files, repo_files.envs["dev"])
    plan = manifestchecks.sync_plan(repo_files.envs["dev"], objects)
    assert plan.options.options == ("CreateNamespace=true", "PruneLast=true")
    assert plan.options.automated and plan.options.automated_prune


def test_at_most_max_findings_values_schema_findings(repo: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(manifestchecks.limits, "MAX_FINDINGS", 3)
    found = values_findings(repo, "imagePullSecrets: [1, 2, 3, 4, 5]\n")
    assert [f.message.split(":")[0] for f in found] == [
        "imagePullSecrets.0", "imagePullSecrets.1", "imagePullSecrets.2"]


def test_a_chart_without_values_yaml_has_no_defaults_not_a_broken_file(repo: Path) -> None:
    (repo / "chart/values.yaml").unlink()
    found = values_findings(repo, "backend:\n  replicaCount: many\n")
    assert "chart/values.yaml" not in {f.file for f in found}
    assert "backend.replicaCount" in {f.message.split(":")[0] for f in found}


def test_a_wrong_value_in_the_overlay_and_the_sops_file_points_at_the_overlay(repo: Path) -> None:
    (repo / layout.values_path("dev")).write_text("backend:\n  replicaCount: many\n")
    (repo / layout.secrets_path("dev")).write_text("backend:\n  replicaCount: many\n")
    repo_files = load_repo(repo, ["dev"])
    found = manifestchecks.values_findings(repo_files, repo_files.envs["dev"])
    assert [(f.file, f.line) for f in found if f.message.startswith("backend.replicaCount:")] \
        == [(layout.values_path("dev"), 2)]


def test_renders_are_kept_but_never_decrypted_ones(repo: Path) -> None:
    from gitops_gen.model import chart

    repo_files = load_repo(repo, ["dev"])
    env_files = repo_files.envs["dev"]
    counts = [chart.helm_renders()]
    for decrypted in (False, False, True, True):
        objects, errors = manifestchecks.render_env(repo_files, env_files, decrypted)
        assert objects and not errors
        counts.append(chart.helm_renders())
    assert [b - a for a, b in zip(counts, counts[1:], strict=False)] == [1, 0, 1, 1]


def test_a_decrypted_render_takes_the_sops_files_values_as_they_are(repo: Path) -> None:
    import base64

    secrets = layout.secrets_path("dev")
    text = (repo / secrets).read_text()
    start = text.index("        password: ENC[")
    end = text.index("\n", start)
    (repo / secrets).write_text(text[:start] + "        password: DECRYPTED-1" + text[end:])
    repo_files = load_repo(repo, ["dev"])
    objects, _ = manifestchecks.render_env(repo_files, repo_files.envs["dev"], decrypted=True)
    assert base64.b64encode(b"DECRYPTED-1").decode() in json.dumps([r.obj for r in objects])


def test_a_chart_file_helm_refuses_is_a_finding_on_that_file(repo: Path) -> None:
    (repo / "chart/Chart.yaml").write_text("apiVersion: v2\nname: [\n")
    repo_files = load_repo(repo, ["dev"])
    objects, errors = manifestchecks.render_env(repo_files, repo_files.envs["dev"])
    assert objects == []
    assert [(f.rule, f.env, f.file, f.line) for f in errors] == [
        ("helm-render", "dev", "chart/Chart.yaml", 3)]  # where YAML found the list unclosed
    assert not errors[0].message.endswith("fix the overlay value or the chart template")


def test_the_sops_layer_keeps_encrypted_values_and_withholds_the_rest(repo: Path) -> None:
    enc = "ENC[AES256_GCM,data:eA==,iv:eA==,tag:eA==,type:str]"
    (repo / layout.secrets_path("dev")).write_text(
        f"postgresql:\n  auth:\n    password: {enc}\nbackend:\n  extra:\n    - plain\n"
        f"    - null\n    - {enc}\n  none: null\nsops:\n  mac: x\n")
    overlay, secrets = manifestchecks.env_layers(load_repo(repo, ["dev"]).envs["dev"])
    assert secrets == {"postgresql": {"auth": {"password": enc}},
                       "backend": {"extra": [manifestchecks.UNENCRYPTED, None, enc],
                                   "none": None}}
    assert "sops" not in overlay
