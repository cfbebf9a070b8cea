"""bootstrap: the steps in the order that works on a clean cluster; the age key reaches kubectl
only through its standard input.

No cluster runs here, so kubectl is the one program stood in for: a script first on PATH
that records each call's arguments, working directory and what it read, as the API server
would receive them.
"""

from __future__ import annotations

import json
import os
import shlex
from pathlib import Path

import pytest
import yaml

from gitops_gen.repo import layout, proc

from .conftest import AgeKey, make_age_key
from .helpers import cli, new_repo, snapshot, write_executable

RECORDER = """#!/usr/bin/env python3
import json, os, sys
data = sys.stdin.read() if "-" in sys.argv else ""
with open({log!r}, "a") as fh:
    fh.write(json.dumps({{"argv": sys.argv[1:], "stdin": data, "cwd": os.getcwd()}}) + "\\n")
fail = os.environ.get("KUBECTL_FAIL_ON")
if fail and fail in data + " ".join(sys.argv):
    print("error: the server refused it", file=sys.stderr)
    sys.exit(1)
print("applied:", " ".join(sys.argv[1:]))
"""

CTX = ["--context", "argocd-prod"]


@pytest.fixture
def repo(tmp_path: Path, age_key: AgeKey) -> Path:
    """A repository whose dev secrets are encrypted to the local identity."""
    return new_repo(tmp_path / "gitops", ["dev"])


@pytest.fixture
def kubectl(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    bin_dir = tmp_path / "bin"
    log = tmp_path / "kubectl.jsonl"
    write_executable(bin_dir / "kubectl", RECORDER.format(log=str(log)))
    monkeypatch.setenv("PATH", f"{bin_dir}:/usr/bin:/bin")
    return log


def calls(log: Path) -> list[dict[str, object]]:
    if not log.exists():
        return []
    return [json.loads(line) for line in log.read_text().splitlines()]


def test_steps_run_in_order_and_the_key_only_on_stdin(age_key: AgeKey, repo: Path,
                                                      kubectl: Path) -> None:
    result = cli("bootstrap", "--context", "argocd-prod", repo=repo)

    assert result.exit_code == 0, result.output
    made = calls(kubectl)
    assert [c["argv"] for c in made] == [
        [*CTX, "apply", "-f", "-"],
        [*CTX, "apply", "-f", "-"],
        [*CTX, "apply", "--server-side", "--force-conflicts", "-k", "gitops/bootstrap"],
        [*CTX, "wait", "--for=condition=Established", "--timeout=60s",
         "crd/applications.argoproj.io", "crd/appprojects.argoproj.io"],
        [*CTX, "apply", "-f", "gitops/bootstrap/root-project.yaml", "-f", "gitops/root.yaml"],
    ]
    assert yaml.safe_load(str(made[0]["stdin"])) == {
        "apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "argocd"}}
    secret = yaml.safe_load(str(made[1]["stdin"]))
    assert secret["metadata"] == {"name": "sops-age-key", "namespace": "argocd",
                                  "labels": {"app.kubernetes.io/part-of": "argocd"}}
    assert age_key.secret in secret["stringData"]["key.txt"]
    # The relative paths of the last steps are the repository's.
    assert {c["cwd"] for c in made[2:]} == {str(repo)}
    for c in made:
        assert age_key.secret not in " ".join(map(str, c["argv"]))
    assert age_key.secret not in result.output
    assert result.output.count("applied:") == 5


def test_the_patch_mounts_the_secret_that_bootstrap_sends(repo: Path) -> None:
    """Step 2 creates exactly the Secret and key file the repo-server patch mounts."""
    patch = yaml.safe_load((repo / "gitops/bootstrap/repo-server-patch.yaml").read_text())
    pod = patch["spec"]["template"]["spec"]
    volume = next(v for v in pod["volumes"] if "secret" in v)
    sidecar = next(c for c in pod["containers"] if c["name"] == "todo-chatbot-sops")
    mount = next(m for m in sidecar["volumeMounts"] if m["name"] == volume["name"])
    env = {e["name"]: e["value"] for e in sidecar["env"]}
    assert volume["secret"]["secretName"] == "sops-age-key"
    assert env["SOPS_AGE_KEY_FILE"] == f"{mount['mountPath']}/key.txt"


def test_a_failing_step_stops_the_rest(age_key: AgeKey, repo: Path, kubectl: Path,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KUBECTL_FAIL_ON", "--server-side")
    result = cli("bootstrap", repo=repo)
    assert result.exit_code == 3
    assert "--server-side" in result.output and "refused" in result.output
    assert len(calls(kubectl)) == 3  # namespace, Secret, the failing apply; no root app


def test_print_gives_the_whole_sequence_in_order(age_key: AgeKey, repo: Path) -> None:
    result = cli("bootstrap", "--print", "--context", "argocd-prod", repo=repo)
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0] == f"cd {shlex.quote(str(repo))}"
    assert lines[1] == ("kubectl --context argocd-prod create namespace argocd --dry-run=client "
                        "-o yaml | kubectl --context argocd-prod apply -f -")
    assert lines[2] == (
        f"kubectl --context argocd-prod -n argocd create secret generic sops-age-key "
        f"--from-file=key.txt={age_key.path} --dry-run=client -o yaml "
        "| kubectl --context argocd-prod apply -f -")
    assert lines[3:] == [
        "kubectl --context argocd-prod apply --server-side --force-conflicts "
        "-k gitops/bootstrap",
        "kubectl --context argocd-prod wait --for=condition=Established --timeout=60s "
        "crd/applications.argoproj.io crd/appprojects.argoproj.io",
        "kubectl --context argocd-prod apply -f gitops/bootstrap/root-project.yaml "
        "-f gitops/root.yaml",
    ]
    assert age_key.secret not in result.output


def test_without_identity_exit_3_and_nothing_sent(isolated_home: Path, tmp_path: Path,
                                                  kubectl: Path) -> None:
    root = new_repo(tmp_path / "gitops")
    assert cli("bootstrap", "--print", repo=root).exit_code == 3
    result = cli("bootstrap", repo=root)
    assert result.exit_code == 3 and "no age identity" in result.output
    assert calls(kubectl) == []


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
    # A kubectl that echoes the Secret in its error, as a confused server might.
    write_executable(bin_dir / "kubectl", "#!/bin/sh\ndata=$(cat)\ncase \"$data\" in\n"
                     "  *'kind: Secret'*) printf '%s\\n' \"$data\" >&2; exit 1 ;;\nesac\n")
    monkeypatch.setenv("PATH", f"{bin_dir}:/usr/bin:/bin")
    result = cli("bootstrap", repo=repo)
    assert result.exit_code == 3
    assert "apply -f -" in result.output  # the Secret's step, the one that failed
    assert age_key.secret not in result.output


# ---- which identities are sent; keys from the environment ---------------------------------


def sent_keys(log: Path) -> str:
    """The age keys the recorded kubectl was given on its standard input (the Secret's step)."""
    (secret,) = [yaml.safe_load(str(c["stdin"])) for c in calls(log)
                 if "kind: Secret" in str(c["stdin"])]
    return str(secret["stringData"]["key.txt"])


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
