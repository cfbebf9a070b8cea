"""The command line's frame (cli.py): version, the console script, signals that unwind a
command, internal errors in one line unless --debug."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from gitops_gen import __version__
from gitops_gen.checks import rendering
from gitops_gen.cli import main
from gitops_gen.repo import layout

from .conftest import AgeKey
from .helpers import cli, new_repo, python, snapshot, wait_for


@pytest.fixture
def repo(tmp_path: Path, age_key: AgeKey) -> Path:
    return new_repo(tmp_path / "gitops")


def test_version_matches_package() -> None:
    result = CliRunner().invoke(main, ["--version"])
    assert result.exit_code == 0
    assert __version__ in result.output


def test_installed_console_script_runs() -> None:
    exe = sys.executable.replace("python", "gitops-gen")
    out = subprocess.run([exe, "--version"], capture_output=True, text=True, check=True)
    assert out.stdout.startswith("gitops-gen, version")


# ---- signals ------------------------------------------------------------------------------

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


# ---- internal errors ------------------------------------------------------------------------


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


def test_debug_shows_the_traceback_of_an_internal_error(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError("first line\nsecond line")

    monkeypatch.setattr(rendering, "render_environment", broken)
    result = cli("--debug", "render", "dev", repo=repo)
    assert result.exit_code == 3
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert lines[0] == "Traceback (most recent call last):"
    assert lines[-2:] == ["RuntimeError: first line", "second line"]
    assert "in broken" in result.stderr
    assert "run again with --debug" not in result.stderr
