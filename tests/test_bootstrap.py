"""bootstrap: the age key reaches kubectl only through its standard input.

No cluster runs here, so kubectl is the one program stood in for: a script first on PATH
that records its arguments and what it read, as the API server would receive it.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from gitops_gen.repo import proc

from .conftest import AgeKey
from .helpers import cli, new_repo, write_executable

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
