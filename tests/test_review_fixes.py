"""Robustness of the command line: signals and the repository lock, one-line errors,
promotion bases, render output, bootstrap and local keys, moving image tags, re-runs."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import git
import pytest
import yaml

from gitops_gen.checks import rendering
from gitops_gen.repo import layout

from .conftest import AgeKey, make_age_key
from .helpers import cli, new_repo, set_value, snapshot, write_executable


@pytest.fixture
def repo(tmp_path: Path, age_key: AgeKey) -> Path:
    return new_repo(tmp_path / "gitops")


def python(script: str) -> subprocess.Popen[str]:
    """script in a new interpreter (this environment: HOME, the age key, PATH)."""
    return subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=dict(os.environ))


def wait_for(path: Path, proc: subprocess.Popen[str], seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while not path.exists():
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.05)


# ---- signals and the repository lock ----------------------------------------------------

# env add whose check (run after the files are written, before the commit) waits.
ENV_ADD_WAITING_IN_CHECK = """
import importlib, time
from pathlib import Path
env_command = importlib.import_module("gitops_gen.commands.env")

def waiting(root, env):
    Path({mark!r}).write_text("checking")
    time.sleep(60)
    return []

env_command.env_errors = waiting
from gitops_gen.cli import main
main(["--repo", {root!r}, "env", "add", "dev"])
"""

LOCK_HOLDER = """
import fcntl, time
with open({lock!r}, "w") as held:
    fcntl.flock(held, fcntl.LOCK_EX)
    open({mark!r}, "w").close()
    time.sleep(60)
"""


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP])
def test_signal_during_env_add_puts_the_files_back_and_frees_the_lock(
    repo: Path, tmp_path: Path, signum: signal.Signals
) -> None:
    before = snapshot(repo)
    mark = tmp_path / "checking"
    run = python(ENV_ADD_WAITING_IN_CHECK.format(mark=str(mark), root=str(repo)))
    try:
        wait_for(mark, run)
        assert (repo / layout.values_path("dev")).is_file()  # written, not yet committed
        run.send_signal(signum)
        _, stderr = run.communicate(timeout=60)
    finally:
        run.kill()
    assert run.returncode == 128 + signum, stderr
    assert f"error: stopped by {signum.name}" in stderr
    assert snapshot(repo) == before
    assert not (repo / ".git" / layout.LOCK).exists()
    result = cli("env", "add", "dev", repo=repo)
    assert result.exit_code == 0, result.output


def test_lock_file_of_a_killed_run_does_not_block(repo: Path, tmp_path: Path) -> None:
    lock = repo / ".git" / layout.LOCK
    mark = tmp_path / "held"
    holder = python(LOCK_HOLDER.format(lock=str(lock), mark=str(mark)))
    try:
        wait_for(mark, holder)
        before = snapshot(repo)
        refused = cli("env", "add", "dev", repo=repo)
        assert refused.exit_code == 2, refused.output
        assert f"another gitops-gen run holds {lock}" in refused.output
        assert len(refused.stderr.strip().splitlines()) == 1
        assert snapshot(repo) == before
    finally:
        holder.kill()  # SIGKILL: no cleanup runs, the file stays
        holder.communicate(timeout=30)
    assert lock.exists()
    result = cli("env", "add", "dev", repo=repo)
    assert result.exit_code == 0, result.output
    assert not lock.exists()


# ---- one-line errors ---------------------------------------------------------------------


def test_internal_error_is_one_line(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError("first line\nsecond line\n\n   third line")

    monkeypatch.setattr(rendering, "render_environment", broken)
    result = cli("render", "dev", repo=repo)
    assert result.exit_code == 3
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        "internal error: RuntimeError: first line second line third line; "
        "run again with --debug for the traceback, and report it"]


# ---- promote: from the target revision, and only true lines ----------------------------

ORIGIN = "https://github.com/org/todo-gitops.git"


@pytest.fixture
def envs(tmp_path: Path, age_key: AgeKey) -> Path:
    """dev runs 1.4.0, staging 1.3.2; main is checked out."""
    return new_repo(tmp_path / "envs",
                    ["dev", "--backend-tag", "1.4.0", "--frontend-tag", "1.4.0"],
                    ["staging", "--backend-tag", "1.3.2", "--frontend-tag", "1.3.2"],
                    url=ORIGIN)


def on_feature_branch(root: Path) -> git.Repo:
    """A feature branch off main with an unrelated commit and a commit moving dev's tag."""
    repo = git.Repo(root)
    repo.git.checkout("-q", "-b", "feature/notes")
    (root / "NOTES.md").write_text("unrelated work\n")
    repo.git.add("NOTES.md")
    repo.git.commit("-q", "-m", "unrelated")
    set_value(root, layout.values_path("dev"), ["backend", "image", "tag"], "9.9.9")
    repo.git.commit("-q", "-am", "dev tries 9.9.9")
    return repo


def promote_branch_of(repo: git.Repo) -> str:
    names = [h.name for h in repo.heads if h.name.startswith("promote/")]
    assert len(names) == 1, names
    return names[0]


def test_promote_from_a_feature_branch_starts_from_the_target_revision(envs: Path) -> None:
    main = git.Repo(envs).commit("main").hexsha
    repo = on_feature_branch(envs)
    before = snapshot(envs)

    result = cli("promote", "dev", "staging", repo=envs)

    assert result.exit_code == 0, result.output
    assert "backend: 1.3.2 -> 1.4.0" in result.output and "9.9.9" not in result.stdout
    assert f"promoting from main at {main[:12]}" in result.stderr
    branch = promote_branch_of(repo)
    assert branch == f"promote/dev-to-staging-{main[:7]}"
    commit = repo.commit(branch)
    assert [p.hexsha for p in commit.parents] == [main]
    assert repo.git.diff("--name-only", main, branch).split() == [
        layout.values_path("staging")]
    assert "NOTES.md" not in repo.git.ls_tree("--name-only", branch).split()
    assert repo.active_branch.name == "feature/notes" and snapshot(envs) == before


def test_promote_uses_origins_target_revision_without_a_local_branch(
    envs: Path, tmp_path: Path
) -> None:
    bare = tmp_path / "remote.git"
    git.Repo.init(bare, bare=True, initial_branch="main")
    repo = git.Repo(envs)
    repo.create_remote("origin", str(bare))
    repo.git.push("-q", "origin", "main")
    repo.git.fetch("-q", "origin")
    main = repo.commit("origin/main").hexsha
    on_feature_branch(envs)
    repo.git.branch("-D", "main")

    result = cli("promote", "dev", "staging", repo=envs)

    assert result.exit_code == 0, result.output
    assert [p.hexsha for p in repo.commit(promote_branch_of(repo)).parents] == [main]


def test_promote_without_the_target_revision_exits_3(envs: Path) -> None:
    repo = git.Repo(envs)
    repo.git.branch("-m", "main", "trunk")
    before = snapshot(envs)
    result = cli("promote", "dev", "staging", repo=envs)
    assert result.exit_code == 3, result.output
    assert "neither branch main nor origin/main exists" in result.stderr
    assert len(result.stderr.splitlines()) == 1
    assert [h.name for h in repo.heads] == ["trunk"] and snapshot(envs) == before


def test_refused_push_prints_no_branch_it_removed(envs: Path, tmp_path: Path) -> None:
    bare = tmp_path / "remote.git"
    git.Repo.init(bare, bare=True, initial_branch="main")
    repo = git.Repo(envs)
    repo.create_remote("origin", ORIGIN)
    with repo.config_writer() as cfg:
        cfg.set_value(f'url "{bare}"', "insteadOf", ORIGIN)
    repo.git.push("-q", "origin", "main")
    write_executable(bare / "hooks" / "pre-receive", "#!/bin/sh\necho 'no' >&2\nexit 1\n")

    result = cli("promote", "dev", "staging", "--push", repo=envs)

    assert result.exit_code == 3, result.output
    assert [h.name for h in repo.heads] == ["main"]
    assert "created branch" not in result.output and "promote/" not in result.stdout


# ---- render --output: files of objects that no longer render go -----------------------


def test_render_output_removes_files_of_objects_that_no_longer_render(
    tmp_path: Path, age_key: AgeKey
) -> None:
    root = new_repo(tmp_path / "gitops", ["staging"])
    out = tmp_path / "rendered"
    first = cli("render", "staging", "--output", str(out), repo=root)
    assert first.exit_code == 0, first.output
    assert (out / "networkpolicy-todo-db.yaml").is_file()
    (out / "my-notes.yaml").write_text("kept: the user's own file\n")
    (out / "README.txt").write_text("kept\n")

    set_value(root, layout.values_path("staging"), ["networkPolicy", "enabled"], False)
    again = cli("render", "staging", "--output", str(out), repo=root)

    assert again.exit_code == 0, again.output
    gone = ["networkpolicy-todo-backend.yaml", "networkpolicy-todo-db.yaml"]
    assert again.stdout.splitlines()[-1] == (
        f"removed 2 files of objects that no longer render: {', '.join(gone)}")
    names = sorted(p.name for p in out.iterdir())
    assert not set(gone) & set(names)
    assert {"my-notes.yaml", "README.txt", "deployment-todo-db.yaml"} <= set(names)
    rendered = sorted(p.name for p in out.iterdir() if p.read_text().startswith("# Source:"))
    assert len(rendered) == len(names) - 2


# ---- bootstrap sends only this repository's identities; SOPS_AGE_KEY(_CMD) -----------

KUBECTL = """#!/usr/bin/env python3
import sys
with open({log!r}, "w") as fh:
    fh.write(sys.stdin.read())
print("secret/helm-secrets-private-keys configured")
"""


@pytest.fixture
def kubectl_log(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    log = tmp_path / "kubectl-stdin.yaml"
    write_executable(tmp_path / "bin" / "kubectl", KUBECTL.format(log=str(log)))
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}:{os.environ['PATH']}")
    return log


def sent_keys(log: Path) -> str:
    return str(yaml.safe_load(log.read_text())["stringData"]["key.txt"])


def test_bootstrap_sends_only_the_repositorys_identities(
    tmp_path: Path, age_key: AgeKey, kubectl_log: Path
) -> None:
    root = new_repo(tmp_path / "gitops", ["dev"])
    other = make_age_key(tmp_path / "other")
    age_key.path.write_text(age_key.path.read_text() + f"# another project\n{other.secret}\n")

    result = cli("bootstrap", repo=root)

    assert result.exit_code == 0, result.output
    sent = sent_keys(kubectl_log)
    assert age_key.secret in sent and other.secret not in sent
    assert other.secret not in result.output and age_key.secret not in result.output
    printed = cli("bootstrap", "--print", repo=root)
    assert printed.exit_code == 2
    assert printed.stderr.splitlines() == [printed.stderr.strip()]
    assert "--print" in printed.stderr and "1 identities this repository does not use" in (
        printed.stderr)
    assert other.secret not in printed.output


def test_bootstrap_without_a_matching_identity_names_the_expected_recipients(
    tmp_path: Path, age_key: AgeKey, kubectl_log: Path
) -> None:
    team = make_age_key(tmp_path / "team")
    root = new_repo(tmp_path / "gitops", ["dev", "--age-recipient", team.recipient])
    result = cli("bootstrap", repo=root)
    assert result.exit_code == 3, result.output
    assert f"is a recipient of this repository; it expects one of: {team.recipient}" in (
        result.stderr)
    assert not kubectl_log.exists()


@pytest.mark.parametrize("how", ["SOPS_AGE_KEY", "SOPS_AGE_KEY_CMD"])
def test_key_from_the_environment_is_the_local_identity_and_no_file_is_made(
    tmp_path: Path, isolated_home: Path, monkeypatch: pytest.MonkeyPatch,
    kubectl_log: Path, how: str
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
    assert key.secret in sent_keys(kubectl_log) and key.secret not in booted.output


def test_empty_key_from_the_environment_creates_no_file(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SOPS_AGE_KEY_FILE")
    monkeypatch.setenv("SOPS_AGE_KEY", "# nothing here yet\n")
    before = snapshot(repo)
    result = cli("env", "add", "dev", repo=repo)
    assert result.exit_code == 3, result.output
    assert "SOPS_AGE_KEY is set but gives no age identity" in result.stderr
    assert snapshot(repo) == before
    assert not list(Path(os.environ["XDG_CONFIG_HOME"]).rglob("keys.txt"))


# ---- env add re-runs: uncommitted files, and --dry-run refusing as the real run does ------


def test_rerun_after_no_commit_says_the_files_are_written_not_committed(repo: Path) -> None:
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


def test_dry_run_refuses_a_dirty_target_as_the_real_run_does(repo: Path) -> None:
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
