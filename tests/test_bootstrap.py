"""bootstrap: the age key reaches kubectl only through its standard input.

No cluster runs here, so kubectl is the one program stood in for: a script first on PATH
that records its arguments and what it read, as the API server would receive it.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import yaml

from gitops_gen.repo import layout, proc

from .conftest import AgeKey, make_age_key
from .helpers import cli, new_repo, snapshot, write_executable

RECORDER = """#!/usr/bin/env python3
import json, sys
data = sys.stdin.read()
with open({log!r}, "w") as fh:
    json.dump({{"argv": sys.argv[1:], "stdin": data}}, fh)
print("secret/helm-secrets-private-keys configured")
"""


@pytest.fixture
def repo(tmp_path: Path, age_key: AgeKey) -> Path:
    """A repository whose dev secrets are encrypted to the local identity."""
    return new_repo(tmp_path / "gitops", ["dev"])


@pytest.fixture
def kubectl(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    bin_dir = tmp_path / "bin"
    log = tmp_path / "kubectl.json"
    write_executable(bin_dir / "kubectl", RECORDER.format(log=str(log)))
    monkeypatch.setenv("PATH", f"{bin_dir}:/usr/bin:/bin")
    return log


def test_secret_is_piped_to_kubectl_apply(age_key: AgeKey, repo: Path, kubectl: Path) -> None:
    result = cli("bootstrap", "--context", "argocd-prod", repo=repo)
    assert result.exit_code == 0, result.output
    assert "configured" in result.output
    record = json.loads(kubectl.read_text())
    assert record["argv"] == ["--context", "argocd-prod", "apply", "-f", "-"]
    secret = yaml.safe_load(record["stdin"])
    assert secret["metadata"] == {"name": "helm-secrets-private-keys", "namespace": "argocd",
                                  "labels": {"app.kubernetes.io/part-of": "argocd"}}
    assert age_key.secret in secret["stringData"]["key.txt"]
    assert age_key.secret not in " ".join(record["argv"])
    assert age_key.secret not in result.output


def test_print_names_the_file_not_the_key(age_key: AgeKey, repo: Path) -> None:
    result = cli("bootstrap", "--print", repo=repo)
    assert result.exit_code == 0
    assert f"--from-file=key.txt={age_key.path}" in result.output
    assert "kubectl apply -f -" in result.output
    assert age_key.secret not in result.output


def test_without_identity_exit_3(isolated_home: Path, tmp_path: Path) -> None:
    result = cli("bootstrap", "--print", repo=new_repo(tmp_path / "gitops"))
    assert result.exit_code == 3 and "no age identity" in result.output


def test_without_kubectl_exit_3(age_key: AgeKey, repo: Path, tmp_path: Path,
                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setattr(proc, "SCRIPTS_DIR", str(tmp_path))
    result = cli("bootstrap", repo=repo)
    assert result.exit_code == 3
    assert "kubectl not found" in result.output and age_key.secret not in result.output


def test_kubectl_failure_is_redacted(age_key: AgeKey, repo: Path, tmp_path: Path,
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    bin_dir = tmp_path / "failing"
    # A kubectl that echoes its input in the error, as a confused server might.
    write_executable(bin_dir / "kubectl", "#!/bin/sh\ncat >&2\nexit 1\n")
    monkeypatch.setenv("PATH", f"{bin_dir}:/usr/bin:/bin")
    result = cli("bootstrap", repo=repo)
    assert result.exit_code == 3
    assert age_key.secret not in result.output


# ---- which identities are sent; keys from the environment ---------------------------------


def sent_keys(log: Path) -> str:
    """The age keys the recorded kubectl was given on its standard input."""
    return str(yaml.safe_load(json.loads(log.read_text())["stdin"])["stringData"]["key.txt"])


def test_bootstrap_sends_only_the_repositorys_identities(
    tmp_path: Path, age_key: AgeKey, kubectl: Path
) -> None:
    root = new_repo(tmp_path / "gitops", ["dev"])
    other = make_age_key(tmp_path / "other")
    age_key.path.write_text(age_key.path.read_text() + f"# another project\n{other.secret}\n")

    result = cli("bootstrap", repo=root)

    assert result.exit_code == 0, result.output
    sent = sent_keys(kubectl)
    assert age_key.secret in sent and other.secret not in sent
    assert other.secret not in result.output and age_key.secret not in result.output
    printed = cli("bootstrap", "--print", repo=root)
    assert printed.exit_code == 2
    assert printed.stderr.splitlines() == [printed.stderr.strip()]
    assert "--print" in printed.stderr and "1 identities this repository does not use" in (
        printed.stderr)
    assert other.secret not in printed.output


def test_bootstrap_without_a_matching_identity_names_the_expected_recipients(
    tmp_path: Path, age_key: AgeKey, kubectl: Path
) -> None:
    team = make_age_key(tmp_path / "team")
    root = new_repo(tmp_path / "gitops", ["dev", "--age-recipient", team.recipient])
    result = cli("bootstrap", repo=root)
    assert result.exit_code == 3, result.output
    assert f"is a recipient of this repository; it expects one of: {team.recipient}" in (
        result.stderr)
    assert not kubectl.exists()


@pytest.mark.parametrize("how", ["SOPS_AGE_KEY", "SOPS_AGE_KEY_CMD"])
def test_key_from_the_environment_is_the_local_identity_and_no_file_is_made(
    tmp_path: Path, isolated_home: Path, monkeypatch: pytest.MonkeyPatch,
    kubectl: Path, how: str
) -> None:
    key = make_age_key(tmp_path / "vault")
    key_file = Path(os.environ["SOPS_AGE_KEY_FILE"])
    assert not key_file.exists()
    if how == "SOPS_AGE_KEY":
        monkeypatch.setenv("SOPS_AGE_KEY", f"# from a vault\n{key.secret}\n")
    else:
        show = write_executable(tmp_path / "show key", f"#!/bin/sh\ncat '{key.path}'\n")
        monkeypatch.setenv("SOPS_AGE_KEY_CMD", f"'{show}'")

    root = new_repo(tmp_path / "gitops")
    added = cli("env", "add", "dev", repo=root)

    assert added.exit_code == 0, added.output
    assert "created an age identity" not in added.output
    assert not key_file.exists()
    assert key.recipient in (root / layout.SOPS_CONFIG).read_text()
    assert cli("secrets", "list", "dev", repo=root).exit_code == 0
    booted = cli("bootstrap", repo=root)
    assert booted.exit_code == 0, booted.output
    assert key.secret in sent_keys(kubectl) and key.secret not in booted.output


def test_empty_key_from_the_environment_creates_no_file(
    tmp_path: Path, age_key: AgeKey, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = new_repo(tmp_path / "gitops")
    monkeypatch.delenv("SOPS_AGE_KEY_FILE")
    monkeypatch.setenv("SOPS_AGE_KEY", "# nothing here yet\n")
    before = snapshot(repo)
    result = cli("env", "add", "dev", repo=repo)
    assert result.exit_code == 3, result.output
    assert "SOPS_AGE_KEY is set but gives no age identity" in result.stderr
    assert snapshot(repo) == before
    assert not list(Path(os.environ["XDG_CONFIG_HOME"]).rglob("keys.txt"))
