"""The checks of an environment's own files (checks/filechecks.py), one at a time and in-process
on a real repository (dev and staging written by `env add`, real sops): each finding in full,
rule, severity, file, line and the message that says how to fix it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path

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
    for path in (layout.values_path("dev"), DEV_SECRETS, layout.app_path("dev")):
        (repo / path).unlink()
    fix = "missing; run 'gitops-gen env add dev' to write it again"
    assert check(repo, filechecks.check_presence) == [
        ("env-files", "error", "dev", layout.values_path("dev"), None,
         f"overlay values of environment dev {fix}"),
        ("env-files", "error", "dev", DEV_SECRETS, None, f"SOPS secrets of environment dev {fix}"),
        ("env-files", "error", "dev", layout.app_path("dev"), None,
         f"Application of environment dev {fix}"),
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
    ("backend:\n  tokens:\n    - abc\n", "backend.tokens.0", 3),  # its list's name
    ("backend:\n  env:\n    - name: DB_PASSWORD\n      value: abc\n", "backend.env.0.value", 4),
    ("backend:\n  note: AGE-SECRET-KEY-1QQQ\n", "backend.note", 2),  # its value
    ("backend:\n  note: '-----BEGIN RSA PRIVATE KEY-----'\n", "backend.note", 2),
    ("backend:\n  note: AIza" + "x" * 35 + "\n", "backend.note", 2),
    ("backend:\n  password: 12345\n", "backend.password", 2),  # not only strings
])
def test_a_value_that_looks_like_a_secret_is_named_never_shown(repo: Path, overlay: str,
                                                                dotted: str, line: int) -> None:
    found = plaintext(repo, overlay)
    assert found == [("plaintext-secret", "error", "dev", layout.values_path("dev"), line,
                      f"{dotted} {LOOKS}")]


@pytest.mark.parametrize("overlay", [
    "backend:\n  existingSecret: todo-backend\n",  # names a Secret, holds none
    "backend:\n  secretName: todo\n",
    "backend:\n  password: ''\n",  # nothing there
    "backend:\n  password: null\n",
    "backend:\n  password: ENC[AES256_GCM,data:eA==,iv:eA==,tag:eA==,type:str]\n",
    "backend:\n  env:\n    - name: LOG_LEVEL\n      value: debug\n",
    "backend:\n  env:\n    - name: DB_PASSWORD\n      valueFrom: {secretKeyRef: {name: x}}\n",
    "backend:\n  note: AGE-SECRET-KEY-\n",  # the prefix alone, not a key
    "backend:\n  note: AIzaShort\n",
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
