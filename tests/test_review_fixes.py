"""Robustness of the command line: signals and the repository lock, one-line errors,
promotion bases, render output, bootstrap and local keys, moving image tags, re-runs."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from gitops_gen import layout, rendering

from .conftest import AgeKey
from .helpers import cli, new_repo, snapshot


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
