"""The checks of an environment's own files (checks/filechecks.py), one at a time and in-process
on a real repository (dev and staging written by `env add`, real sops): each finding in full,
rule, severity, file, line and the message that says how to fix it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path

import pyrage
import pytest

from gitops_gen.checks import filechecks
from gitops_gen.checks.findings import Finding
from gitops_gen.checks.repofiles import EnvFiles, RepoFiles, load_repo
from gitops_gen.repo import layout
from gitops_gen.secrets import sops
from gitops_gen.secrets.demo_key import DEMO_RECIPIENT

from .helpers import copy_repo, edit, template_repo

Row = tuple[str, str, str | None, str | None, int | None, str]
DEV_SECRETS = layout.secrets_path("dev")


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return template_repo(tmp_path_factory.mktemp("filechecks"), ["staging"])


@pytest.fixture
def repo(template: Path, tmp_path: Path) -> Path:
    return copy_repo(template, tmp_path)


def rows(found: Iterable[Finding]) -> list[Row]:
    return [(f.rule, f.severity, f.env, f.file, f.line, f.message) for f in found]


def check(root: Path, run: Callable[[RepoFiles, EnvFiles], Iterable[Finding]],
          env: str = "dev") -> list[Row]:
    repo = load_repo(root, [env])
    return rows(run(repo, repo.envs[env]))


def line_of(root: Path, path: str, text: str) -> int:
    return (root / path).read_text().splitlines().index(text) + 1


def test_a_clean_environment_has_no_file_findings(repo: Path) -> None:
    for run in (filechecks.check_presence, filechecks.check_sops_file):
        assert check(repo, run, "staging") == []
    assert check(repo, lambda _, e: filechecks.check_plaintext(e), "staging") == []


# ---- presence -----------------------------------------------------------------------------


def test_each_missing_file_of_an_environment_is_named_with_the_command_that_writes_it(
        repo: Path) -> None:
    for path in (layout.values_path("dev"), DEV_SECRETS, layout.app_path("dev"),
                 layout.project_path("dev")):
        (repo / path).unlink()
    fix = "missing; run 'gitops-gen env add dev' to write it again"
    assert check(repo, filechecks.check_presence) == [
        ("env-files", "error", "dev", layout.values_path("dev"), None,
         f"overlay values of environment dev {fix}"),
        ("env-files", "error", "dev", DEV_SECRETS, None, f"SOPS secrets of environment dev {fix}"),
        ("env-files", "error", "dev", layout.app_path("dev"), None,
         f"Application of environment dev {fix}"),
        ("env-files", "error", "dev", layout.project_path("dev"), None,
         f"AppProject of environment dev {fix}"),
    ]


def test_an_environment_outside_the_promotion_order_is_a_warning(repo: Path) -> None:
    edit(repo, layout.SETTINGS, lambda t: t.replace("  - staging\n", ""))
    assert check(repo, filechecks.check_presence, "staging") == [
        ("env-files", "warning", "staging", layout.SETTINGS, None,
         "environment staging is not in the promotion order; add it to 'environments' in "
         f"{layout.SETTINGS}")]
    assert check(repo, filechecks.check_presence) == []


# ---- secrets in plaintext -------------------------------------------------------------------


def plaintext(root: Path, overlay: str, env: str = "dev") -> list[Row]:
    (root / layout.values_path(env)).write_text(overlay)
    return check(root, lambda _, e: filechecks.check_plaintext(e), env)


def test_a_secret_key_of_the_chart_in_the_overlay_says_how_to_set_it(repo: Path) -> None:
    assert plaintext(repo, "postgresql:\n  auth:\n    password: hunter2-secret\n") == [
        ("plaintext-secret", "error", "dev", layout.values_path("dev"), 3,
         "postgresql.auth.password holds a literal secret value (not shown); remove it here and "
         "set it with 'gitops-gen secrets set dev postgresql.auth.password'")]


LOOKS = ("looks like a secret in plaintext (value not shown); move it to a Secret the chart "
         "references (existingSecret) or the SOPS file")


@pytest.mark.parametrize(("overlay", "dotted", "line"), [
    ("backend:\n  apiToken: abc\n", "backend.apiToken", 2),  # its name
    ("backend:\n  extra:\n    apiToken: abc\n", "backend.extra.apiToken", 3),
    ("apiToken: abc\n", "apiToken", 1),
    ("backend:\n  tokens:\n    - abc\n", "backend.tokens.0", 3),  # its list's name
    ("backend:\n  env:\n    - name: DB_PASSWORD\n      value: abc\n", "backend.env.0.value", 4),
    ("backend:\n  note: '-----BEGIN RSA PRIVATE KEY-----'\n", "backend.note", 2),
    ("backend:\n  note: AIza" + "x" * 35 + "\n", "backend.note", 2),
    ("backend:\n  password: 12345\n", "backend.password", 2),  # not only strings
])
def test_a_value_that_looks_like_a_secret_is_named_never_shown(repo: Path, overlay: str,
                                                                dotted: str, line: int) -> None:
    found = plaintext(repo, overlay)
    assert found == [("plaintext-secret", "error", "dev", layout.values_path("dev"), line,
                      f"{dotted} {LOOKS}")]


def test_an_age_private_key_is_a_secret_whatever_its_name(repo: Path) -> None:
    key = str(pyrage.x25519.Identity.generate())  # a real key, made for this test
    found = plaintext(repo, f"backend:\n  note: {key}\n")
    assert found == [("plaintext-secret", "error", "dev", layout.values_path("dev"), 2,
                      f"backend.note {LOOKS}")]
    assert key not in repr(found)


@pytest.mark.parametrize("overlay", [
    "backend:\n  existingSecret: todo-backend\n",  # names a Secret, holds none
    "backend:\n  secretName: todo\n",
    "backend:\n  password: ''\n",  # nothing there
    "backend:\n  password: null\n",
    "backend:\n  password: ENC[AES256_GCM,data:eA==,iv:eA==,tag:eA==,type:str]\n",
    "backend:\n  env:\n    - name: LOG_LEVEL\n      value: debug\n",
    "backend:\n  env:\n    - name: DB_PASSWORD\n      valueFrom: {secretKeyRef: {name: x}}\n",
    "backend:\n  note: AGE-SECRET" + "-KEY-\n",  # the prefix alone, not a key
    "backend:\n  note: AIzaShort\n",
    "backend:\n  hosts:\n    - example.com\n",
])
def test_a_value_that_is_not_a_secret_is_left_alone(repo: Path, overlay: str) -> None:
    assert plaintext(repo, overlay) == []


def test_a_file_of_no_environment_says_env_in_the_fix(repo: Path) -> None:
    (repo / layout.values_path("dev")).write_text("postgresql:\n  auth:\n    password: x\n")
    loaded = load_repo(repo, ["dev"]).envs["dev"].values
    assert [f.message for f in filechecks.plaintext_in(loaded, None)] == [
        "postgresql.auth.password holds a literal secret value (not shown); remove it here and "
        "set it with 'gitops-gen secrets set ENV postgresql.auth.password'"]


# ---- the SOPS file --------------------------------------------------------------------------


def test_a_file_without_sops_metadata_is_not_a_sops_file(repo: Path) -> None:
    (repo / DEV_SECRETS).write_text("# plain\npostgresql:\n  auth:\n    password: x\n")
    assert check(repo, filechecks.check_sops_file) == [
        ("sops-metadata", "error", "dev", DEV_SECRETS, 1,
         "not a SOPS-encrypted file (no sops metadata with age, mac, lastmodified); recreate it "
         "with 'gitops-gen secrets rotate dev' or restore it from git")]


@pytest.mark.parametrize("field", ["age", "mac", "lastmodified"])
def test_sops_metadata_missing_a_field_is_not_a_sops_file(repo: Path, field: str) -> None:
    text = (repo / DEV_SECRETS).read_text()
    lines = text.splitlines(keepends=True)
    at = next(n for n, line in enumerate(lines) if line.startswith(f"    {field}:"))
    end = at + 1
    while end < len(lines) and lines[end].startswith("      "):  # the field's own block
        end += 1
    (repo / DEV_SECRETS).write_text("".join(lines[:at] + lines[end:]))
    found = check(repo, filechecks.check_sops_file)
    assert [(r[0], r[3], r[4]) for r in found] == [
        ("sops-metadata", DEV_SECRETS, line_of(repo, DEV_SECRETS, "sops:"))]


def test_a_value_left_unencrypted_is_named_never_shown(repo: Path) -> None:
    edit(repo, DEV_SECRETS, lambda t: t.replace(
        "        secretKey: ENC[", "        secretKey: PLAIN-VALUE\n        unused: ENC[", 1))
    found = [r for r in check(repo, filechecks.check_sops_file) if r[0] == "sops-encrypted"]
    assert found == [
        ("sops-encrypted", "error", "dev", DEV_SECRETS,
         line_of(repo, DEV_SECRETS, "        secretKey: PLAIN-VALUE"),
         "backend.secrets.secretKey is not encrypted (value not shown); re-encrypt with "
         "'gitops-gen secrets set dev backend.secrets.secretKey'")]


def test_missing_and_extra_secret_keys(repo: Path) -> None:
    edit(repo, DEV_SECRETS, lambda t: t.replace("        geminiApiKey: ENC[",
                                                "        other: ENC[", 1))
    keys = ", ".join(sops.SECRET_KEYS)
    assert [r for r in check(repo, filechecks.check_sops_file) if r[0] == "sops-keys"] == [
        ("sops-keys", "error", "dev", DEV_SECRETS, None,
         "missing secret keys backend.secrets.geminiApiKey; set them with 'gitops-gen secrets "
         "set dev KEY'"),
        ("sops-keys", "error", "dev", DEV_SECRETS,
         line_of(repo, DEV_SECRETS, "        other: " + (repo / DEV_SECRETS).read_text().split(
             "        other: ", 1)[1].splitlines()[0]),
         f"backend.secrets.other is not one of the chart's secret keys ({keys}); remove it"),
    ]


# ---- recipients against .sops.yaml ------------------------------------------------------------


def recipient(root: Path, env: str = "dev") -> str:
    (only,) = sops.file_recipients((root / layout.secrets_path(env)).read_text())
    return only


def test_a_file_without_a_creation_rule(repo: Path) -> None:
    edit(repo, layout.SOPS_CONFIG, lambda t: t.replace("overlays/dev/", "overlays/gone/"))
    assert [r for r in check(repo, filechecks.check_sops_file) if r[0] == "sops-recipients"] == [
        ("sops-recipients", "error", "dev", layout.SOPS_CONFIG, None,
         f"no creation rule for {DEV_SECRETS}; run 'gitops-gen secrets rekey dev' to write it")]


def test_a_file_encrypted_to_other_recipients_than_its_rule(repo: Path) -> None:
    have = recipient(repo)
    other = "age1" + "q" * 58
    edit(repo, layout.SOPS_CONFIG, lambda t: t.replace(have, f"{have},{other}", 1))
    found = [r for r in check(repo, filechecks.check_sops_file) if r[0] == "sops-recipients"]
    assert found == [
        ("sops-recipients", "error", "dev", DEV_SECRETS, line_of(repo, DEV_SECRETS, "    age:"),
         f"encrypted to {have} but {layout.SOPS_CONFIG} says {', '.join(sorted([have, other]))}; "
         "run 'gitops-gen secrets rekey dev'")]


def test_recipients_in_another_order_are_the_same_recipients(repo: Path) -> None:
    have = recipient(repo)
    other = "age1" + "q" * 58
    edit(repo, layout.SOPS_CONFIG, lambda t: t.replace(have, f"{other},{have}", 1))
    edit(repo, DEV_SECRETS, lambda t: t.replace(
        f"        - recipient: {have}\n",
        f"        - recipient: {have}\n          enc: x\n        - recipient: {other}\n", 1))
    assert sorted(sops.file_recipients((repo / DEV_SECRETS).read_text())) == sorted([have, other])
    assert [r for r in check(repo, filechecks.check_sops_file) if r[0] == "sops-recipients"] == []


def test_only_the_demo_recipient_outside_dev_is_a_warning(repo: Path) -> None:
    have = recipient(repo, "staging")
    assert recipient(repo, "dev") == have  # one key wrote both
    for env in ("dev", "staging"):
        edit(repo, layout.secrets_path(env), lambda t: t.replace(have, DEMO_RECIPIENT))
    edit(repo, layout.SOPS_CONFIG, lambda t: t.replace(have, DEMO_RECIPIENT))
    path = layout.secrets_path("staging")
    assert check(repo, filechecks.check_sops_file, "staging") == [
        ("demo-recipient", "warning", "staging", path, line_of(repo, path, "    age:"),
         "encrypted only to the public demo recipient, whose private key anyone can read; add a "
         "real recipient: 'gitops-gen secrets rekey staging --add-recipient age1... "
         f"--remove-recipient {DEMO_RECIPIENT}'")]
    assert check(repo, filechecks.check_sops_file) == []  # dev may use it


# ---- placeholders ---------------------------------------------------------------------------


def test_a_placeholder_left_in_an_environment_is_a_warning(repo: Path) -> None:
    assert check(repo, lambda _, e: filechecks.check_placeholders(e)) == [
        ("placeholder-secret", "warning", "dev", layout.values_path("dev"), 1,
         f"{sops.GEMINI_KEY} still holds a placeholder; set it with 'gitops-gen secrets set dev "
         f"{sops.GEMINI_KEY}' (value from stdin)")]
    assert check(repo, lambda _, e: filechecks.check_placeholders(e), "staging") == []


# ---- the Application and its AppProject -----------------------------------------------------


APP = layout.app_path("dev")
PROJECT = layout.project_path("dev")
REWRITE = "run 'gitops-gen env add dev' to rewrite the Application"


def repo_url(root: Path) -> str:
    settings = load_repo(root).settings
    assert settings is not None
    return settings.repo_url


def application(root: Path, change: Callable[[str], str] | None = None,
                path: str = APP) -> list[Row]:
    if change is not None:
        edit(root, path, change)
    return check(root, filechecks.check_application)


def test_a_clean_application_has_no_findings(repo: Path) -> None:
    assert application(repo) == []


@pytest.mark.parametrize(("old", "new", "keys", "have", "want"), [
    ("  name: todo-chatbot-dev\n", "  name: other\n", "metadata.name", "other",
     "todo-chatbot-dev"),
    ("  namespace: argocd\n", "  namespace: default\n", "metadata.namespace", "default",
     "argocd"),
    ("  project: todo-dev\n", "  project: todo-x\n", "spec.project", "todo-x", "todo-dev"),
    ("    repoURL: ", "    repoURL: https://example.com/other.git\n    old: ",
     "spec.source.repoURL", "https://example.com/other.git", None),
])
def test_each_field_the_application_must_hold(repo: Path, old: str, new: str, keys: str,
                                              have: str, want: str | None) -> None:
    want = want or repo_url(repo)
    found = [r for r in application(repo, lambda t: t.replace(old, new, 1))
             if r[5].startswith(f"{keys} is ")]
    assert found == [("app-source", "error", "dev", APP,
                      line_of(repo, APP, new.split("\n")[0]),
                      f"{keys} is {have!r}, expected {want!r}; {REWRITE}")]


def test_another_target_revision_is_a_warning(repo: Path) -> None:
    assert application(repo, lambda t: t.replace("targetRevision: main", "targetRevision: v1")) \
        == [("app-source", "warning", "dev", APP, line_of(repo, APP, "    targetRevision: v1"),
             f"targetRevision 'v1' differs from 'main' in {layout.SETTINGS}; align them unless "
             "this environment pins a release")]


def test_no_automated_sync_and_no_finalizer_are_warnings(repo: Path) -> None:
    def loosen(text: str) -> str:
        text = text.replace("    automated:\n      prune: true\n      selfHeal: true\n", "")
        return text.replace("  finalizers:\n    - resources-finalizer.argocd.argoproj.io\n", "")

    assert application(repo, loosen) == [
        ("app-sync", "warning", "dev", APP, line_of(repo, APP, "  syncPolicy:"),
         "no syncPolicy.automated: Argo CD will not sync merges by itself; add it"),
        ("app-sync", "warning", "dev", APP, line_of(repo, APP, "metadata:"),
         "no resources-finalizer.argocd.argoproj.io: deleting the Application leaves its "
         "resources running"),
    ]


@pytest.mark.parametrize(("old", "new", "at", "message"), [
    ("    path: overlays/dev\n", "    path: overlays/prod\n", "    path: overlays/prod",
     "source.path is 'overlays/prod', expected 'overlays/dev': the plugin renders the "
     f"directory it runs in, and only that; {REWRITE}"),
    ("      name: todo-chatbot-sops\n", "      name: other\n", "      name: other",
     "source.plugin.name is 'other': only the todo-chatbot-sops plugin decrypts "
     f"overlays/dev/secrets.sops.yaml (gitops/bootstrap); {REWRITE}"),
    ("    plugin:\n      name: todo-chatbot-sops\n", "", "  source:",
     "source.plugin.name is None: only the todo-chatbot-sops plugin decrypts "
     f"overlays/dev/secrets.sops.yaml (gitops/bootstrap); {REWRITE}"),
    ("    path: overlays/dev\n", "    path: overlays/dev\n    directory: {}\n",
     "    directory: {}",
     "source.directory is set; the todo-chatbot-sops plugin renders the chart with "
     f"overlays/dev's files and nothing else. Remove it ({REWRITE})"),
    ("  source:\n", "  source: none\n  old:\n", "spec:",
     f"spec.source is not a mapping; the Application renders from one source. {REWRITE}"),
])
def test_the_source_is_the_overlay_rendered_by_the_plugin(repo: Path, old: str, new: str,
                                                          at: str, message: str) -> None:
    found = [r for r in application(repo, lambda t: t.replace(old, new, 1))
             if r[0] == "app-plugin"]
    assert found == [("app-plugin", "error", "dev", APP, line_of(repo, APP, at), message)]


def test_an_application_without_the_chart_says_to_restore_it(repo: Path) -> None:
    (repo / "chart/Chart.yaml").unlink()
    assert application(repo) == [
        ("app-source", "error", "dev", APP, line_of(repo, APP, "    path: overlays/dev"),
         "chart/Chart.yaml not found; restore the chart")]


def test_the_appproject_must_be_the_applications(repo: Path) -> None:
    assert application(repo, lambda t: t.replace("  name: todo-dev\n", "  name: other\n", 1),
                       PROJECT) == [
        ("app-project", "error", "dev", PROJECT, line_of(repo, PROJECT, "  name: other"),
         "AppProject is named 'other' but the Application uses project 'todo-dev'; run "
         "'gitops-gen env add dev'")]


def test_the_appproject_must_allow_the_repository(repo: Path) -> None:
    url = repo_url(repo)
    assert application(repo, lambda t: t.replace(f"    - {url}\n",
                                                  "    - https://example.com/*\n"), PROJECT) == [
        ("app-project", "error", "dev", PROJECT, line_of(repo, PROJECT, "  sourceRepos:"),
         f"sourceRepos does not allow {url}; add it or run 'gitops-gen env add dev'")]
    assert application(repo, lambda t: t.replace("    - https://example.com/*\n",
                                                  "    - '*'\n"), PROJECT) == []


def test_a_destination_with_server_and_name(repo: Path) -> None:
    assert application(repo, lambda t: t.replace(
        "  destination:\n", "  destination:\n    name: in-cluster\n")) == [
        ("app-destination", "error", "dev", APP, line_of(repo, APP, "  destination:"),
         "destination sets both server and name; keep one")]


def test_a_destination_outside_the_project(repo: Path) -> None:
    found = application(repo, lambda t: t.replace("    namespace: todo-dev\n",
                                                  "    namespace: kube-system\n"))
    assert found == [
        ("app-destination", "error", "dev", APP, line_of(repo, APP, "  destination:"),
         "destination {'server': 'https://kubernetes.default.svc', 'namespace': 'kube-system'} "
         f"is outside AppProject {PROJECT}'s destinations; run 'gitops-gen env add dev' with "
         "the right --namespace/--cluster")]


@pytest.mark.parametrize(("dest", "allowed", "ok"), [
    ({"server": "s", "namespace": "n"}, {"server": "s", "namespace": "n"}, True),
    ({"server": "s", "namespace": "n1"}, {"server": "*", "namespace": "n*"}, True),
    ({"server": "s", "namespace": "n"}, {"server": "t", "namespace": "n"}, False),
    ({"server": "s", "namespace": "n"}, {"server": "s", "namespace": "m"}, False),
    ({"server": "s", "namespace": "N"}, {"server": "s", "namespace": "n"}, False),
    ({"name": "c", "namespace": "n"}, {"name": "c", "namespace": "n"}, True),
    ({"name": "c", "namespace": "n"}, {"name": "d", "namespace": "n"}, False),
    ({"name": "c", "namespace": "n"}, {"name": "c", "namespace": "m"}, False),
    ({"name": "c", "namespace": "n"}, {"server": "s", "namespace": "n"}, False),
    ({"server": "s", "namespace": "n"}, {"name": "c", "namespace": "n"}, False),
    ({"server": "s"}, {"server": "s"}, True),
    ({"server": "s", "namespace": "n"}, {"server": "s"}, False),
    ({"namespace": "n"}, {"namespace": "n"}, False),
])
def test_a_destination_the_project_allows(dest: dict[str, str], allowed: dict[str, str],
                                          ok: bool) -> None:
    assert filechecks._dest_allowed(dest, allowed) is ok


# ---- the root Application, .sops.yaml -------------------------------------------------------


def root_rows(root: Path, run: Callable[[RepoFiles], Iterable[Finding]]) -> list[Row]:
    return rows(run(load_repo(root)))


def test_a_missing_root_application(repo: Path) -> None:
    (repo / layout.ROOT_APP).unlink()
    assert root_rows(repo, filechecks.check_root_app) == [
        ("root-app", "error", None, layout.ROOT_APP, None,
         f"{layout.ROOT_APP} missing; restore it from a new 'gitops-gen init'")]


def test_the_root_application_names_the_repository_and_its_project(repo: Path) -> None:
    url = repo_url(repo)
    assert root_rows(repo, filechecks.check_root_app) == []
    edit(repo, layout.ROOT_APP, lambda t: t.replace(f"repoURL: {url}", "repoURL: x").replace(
        "  project: todo-root\n", "  project: default\n"))
    assert root_rows(repo, filechecks.check_root_app) == [
        ("root-app", "error", None, layout.ROOT_APP, line_of(repo, layout.ROOT_APP,
                                                              "    repoURL: x"),
         f"repoURL is 'x', expected {url!r} from {layout.SETTINGS}"),
        ("root-app", "error", None, layout.ROOT_APP, line_of(repo, layout.ROOT_APP,
                                                              "  project: default"),
         "project is 'default': the root app runs in todo-root "
         f"({layout.BOOTSTRAP_DIR}/root-project.yaml), which may create only Applications and "
         "AppProjects in the argocd namespace"),
    ]


def test_a_rule_sops_cannot_load(repo: Path) -> None:
    edit(repo, layout.SOPS_CONFIG, lambda t: t.replace(
        "creation_rules:\n", "creation_rules:\n  - path_regex: ^overlays/x/(\n    age: nobody\n"))
    found = root_rows(repo, filechecks.check_sops_config)
    assert [(r[0], r[1], r[2], r[3], r[4]) for r in found] == [
        ("sops-config", "error", None, layout.SOPS_CONFIG,
         line_of(repo, layout.SOPS_CONFIG, "  - path_regex: ^overlays/x/(")),
        ("sops-config", "error", None, layout.SOPS_CONFIG,
         line_of(repo, layout.SOPS_CONFIG, "    age: nobody"))]
    assert all(r[5].endswith(f"; sops cannot load {layout.SOPS_CONFIG}: fix that rule or "
                             "restore the file from git") for r in found)
    (repo / layout.SOPS_CONFIG).write_text("- not rules\n")
    assert [r[4] for r in root_rows(repo, filechecks.check_sops_config)] == [1]


def test_a_rule_of_a_removed_environment(repo: Path) -> None:
    edit(repo, layout.SOPS_CONFIG, lambda t: t + "  - path_regex: ^overlays/gone/secrets\\."
                                                 "sops\\.yaml$\n    age: age1x\n")
    assert root_rows(repo, filechecks.check_orphans) == [
        ("sops-recipients", "warning", "gone", layout.SOPS_CONFIG,
         line_of(repo, layout.SOPS_CONFIG, "  - path_regex: ^overlays/gone/secrets\\.sops\\.yaml$"),
         "creation rule for a removed environment gone; delete the rule")]


def test_other_yaml_files_under_overlays_are_searched_for_plaintext(repo: Path) -> None:
    for name in ("extra.yaml", "extra.yml"):
        (repo / "overlays/dev" / name).write_text("# extra\nbackend:\n  apiToken: abc\n")
    (repo / "overlays/dev/notes.txt").write_text("apiToken: abc\n")
    (repo / "overlays/dev/other.sops.yaml").write_text("apiToken: abc\n")
    found = root_rows(repo, filechecks.check_other_overlay_files)
    assert sorted(found) == [
        ("plaintext-secret", "error", "dev", f"overlays/dev/{name}", 3, f"backend.apiToken {LOOKS}")
        for name in ("extra.yaml", "extra.yml")]
    (repo / "overlays/dev/extra.yml").write_text("a: [\n")
    assert [(r[0], r[2], r[3]) for r in root_rows(repo, filechecks.check_other_overlay_files)] \
        == [("plaintext-secret", "dev", "overlays/dev/extra.yaml"),
            ("yaml-syntax", "dev", "overlays/dev/extra.yml")]


@pytest.mark.parametrize("text", ["- a list, not rules\n", "creation_rules:\n  - just text\n",
                                  "creation_rules: none\n"])
def test_rules_of_another_shape_name_no_removed_environment(repo: Path, text: str) -> None:
    (repo / layout.SOPS_CONFIG).write_text(text)
    assert root_rows(repo, filechecks.check_orphans) == []


def test_manifests_are_listed_from_projects_when_apps_is_a_link(repo: Path) -> None:
    apps = repo / layout.APPS_DIR
    apps.rename(repo / "elsewhere")
    apps.symlink_to(repo / "elsewhere")
    (repo / layout.PROJECTS_DIR / "README.md").write_text("# not a manifest\n")
    (repo / layout.PROJECTS_DIR / "dir.yaml").mkdir()
    assert list(filechecks._manifest_files(load_repo(repo))) == [layout.project_path("dev"),
                                                                layout.project_path("staging")]


def test_a_manifest_that_replaces_the_root_application(repo: Path) -> None:
    stray = f"{layout.APPS_DIR}/stray.yaml"
    (repo / stray).write_text("apiVersion: argoproj.io/v1alpha1\nkind: Application\n"
                              "metadata:\n  name: todo-chatbot-root\n  namespace: argocd\n")
    assert root_rows(repo, filechecks.check_unique_names) == [
        ("root-app", "error", None, stray, None,
         f"Application todo-chatbot-root replaces the app-of-apps in {layout.ROOT_APP}; rename "
         "that environment")]


@pytest.mark.parametrize("text", [None, "- not an Application\n"])
def test_no_root_application_to_replace(repo: Path, text: str | None) -> None:
    if text is None:
        (repo / layout.ROOT_APP).unlink()
    else:
        (repo / layout.ROOT_APP).write_text(text)
    assert root_rows(repo, filechecks.check_unique_names) == []


def test_a_file_encrypted_to_more_recipients_than_its_rule_names_them_all(repo: Path) -> None:
    have = recipient(repo)
    other = "age1" + "q" * 58
    edit(repo, DEV_SECRETS, lambda t: t.replace(
        f"        - recipient: {have}\n",
        f"        - recipient: {have}\n          enc: x\n        - recipient: {other}\n", 1))
    found = [r for r in check(repo, filechecks.check_sops_file) if r[0] == "sops-recipients"]
    both = ", ".join(sorted([have, other]))
    assert [r[5] for r in found] == [f"encrypted to {both} but {layout.SOPS_CONFIG} says {have}; "
                                     "run 'gitops-gen secrets rekey dev'"]


def test_a_file_encrypted_to_nobody(repo: Path) -> None:
    text = (repo / DEV_SECRETS).read_text()
    start = text.index("    age:\n")
    end = text.index("    lastmodified:")
    (repo / DEV_SECRETS).write_text(text[:start] + "    age: []\n" + text[end:])
    found = [r for r in check(repo, filechecks.check_sops_file) if r[0] == "sops-recipients"]
    assert [r[5] for r in found] == [
        f"encrypted to nobody but {layout.SOPS_CONFIG} says {recipient_of_rule(repo)}; run "
        "'gitops-gen secrets rekey dev'"]


def recipient_of_rule(root: Path) -> str:
    text = (root / layout.SOPS_CONFIG).read_text()
    return text.split("age: ", 1)[1].splitlines()[0]


def test_without_sops_yaml_every_file_lacks_a_creation_rule(repo: Path) -> None:
    (repo / layout.SOPS_CONFIG).unlink()
    assert [r[:5] for r in check(repo, filechecks.check_sops_file)] == [
        ("sops-recipients", "error", "dev", layout.SOPS_CONFIG, None)]


def test_a_sops_file_that_is_a_list_is_not_a_sops_file(repo: Path) -> None:
    (repo / DEV_SECRETS).write_text("- a\n- b\n")
    assert [r[:5] for r in check(repo, filechecks.check_sops_file)] == [
        ("sops-metadata", "error", "dev", DEV_SECRETS, 1)]


def test_every_missing_secret_key_is_named(repo: Path) -> None:
    def drop(text: str) -> str:
        kept = [line for line in text.splitlines(keepends=True)
                if not line.startswith(("        secretKey:", "        geminiApiKey:"))]
        return "".join(kept)

    edit(repo, DEV_SECRETS, drop)
    assert [r[5] for r in check(repo, filechecks.check_sops_file)
            if r[5].startswith("missing")] == [
        "missing secret keys backend.secrets.secretKey, backend.secrets.geminiApiKey; set them "
        "with 'gitops-gen secrets set dev KEY'"]


def test_a_manifest_that_is_not_a_mapping_hides_no_clash_after_it(repo: Path) -> None:
    (repo / layout.APPS_DIR / "0-list.yaml").write_text("- not a manifest\n")
    copy = f"{layout.APPS_DIR}/zz-copy.yaml"
    (repo / copy).write_text((repo / APP).read_text())
    found = root_rows(repo, filechecks.check_unique_names)
    assert [(r[0], r[3]) for r in found] == [("app-project", copy)]
    assert found[0][5].startswith(f"Application todo-chatbot-dev is also defined in {APP}")


def test_an_application_without_a_source_is_told_it_is_missing(repo: Path) -> None:
    app = load_repo(repo, ["dev"]).envs["dev"].app
    assert rows(filechecks.plugin_findings(app, "dev", None, "overlays/dev", DEV_SECRETS,
                                           "FIX")) == [
        ("app-plugin", "error", "dev", APP, line_of(repo, APP, "spec:"),
         "spec.source is missing; the Application renders from one source. FIX")]


def test_a_missing_appproject_is_left_to_the_presence_check(repo: Path) -> None:
    (repo / PROJECT).unlink()
    assert application(repo) == []
    assert [r[3] for r in check(repo, filechecks.check_presence)] == [PROJECT]
