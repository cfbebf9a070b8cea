"""The command line's frame (cli.py): version, the console script, signals that unwind a
command, internal errors in one line unless --debug."""

from __future__ import annotations

import ast
import json
import os
import signal
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from click.testing import CliRunner

from gitops_gen import __version__
from gitops_gen.checks import isolated
from gitops_gen.cli import main
from gitops_gen.commands import COMMANDS, load
from gitops_gen.model import scaffold
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

    monkeypatch.setattr(isolated, "render", broken)
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

    monkeypatch.setattr(isolated, "render", broken)
    result = cli("--debug", "render", "dev", repo=repo)
    assert result.exit_code == 3
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert lines[0] == "Traceback (most recent call last):"
    assert lines[-2:] == ["RuntimeError: first line", "second line"]
    assert "in broken" in result.stderr
    assert "run again with --debug" not in result.stderr
# ---- start-up: a command's modules load only when it runs ----------------------------------

ROOT = Path(__file__).resolve().parents[1]
COMMANDS_DIR = ROOT / "generator" / "gitops_gen" / "commands"

# What `gitops-gen --version` and `--help` must not import: GitPython runs `git version` when
# imported, helm_python starts a Go runtime, the rest is the HTTP service, the HTTP/TLS client,
# YAML, the terminal tables of validate, the schema engine and installed-package metadata.
HEAVY = ("git", "gitdb", "helm_python", "fastapi", "starlette", "uvicorn", "pydantic", "anyio",
         "httpx", "httpcore", "urllib3", "ssl", "_ssl", "http", "urllib.request", "email",
         "rich", "ruamel", "yaml", "jsonschema_rs", "kubernetes_validate", "pyrage",
         "importlib.metadata", "subprocess", "concurrent", "asyncio")

_MODULES_AFTER = """
import json, sys
from gitops_gen.cli import main
if sys.argv[1:] != ["(import only)"]:
    try:
        main(sys.argv[1:], prog_name="gitops-gen")
    except SystemExit:
        pass
sys.stderr.write("MODULES " + json.dumps(sorted(sys.modules)))
"""


def _run_after(*argv: str) -> tuple[set[str], str]:
    """The modules a fresh interpreter holds after importing gitops_gen.cli and running
    `gitops-gen ARGV` in it (same virtualenv), and what the command wrote on stdout."""
    out = subprocess.run([sys.executable, "-c", _MODULES_AFTER, *argv], capture_output=True,
                         text=True, check=True, env={**os.environ, "COLUMNS": "80"})
    return set(json.loads(out.stderr.rsplit("MODULES ", 1)[1])), out.stdout


def _modules_after(*argv: str) -> set[str]:
    return _run_after(*argv)[0]


def _heavy(modules: set[str]) -> list[str]:
    return sorted(m for m in modules if any(m == h or m.startswith(f"{h}.") for h in HEAVY))


@pytest.mark.parametrize("argv", [("(import only)",), ("--version",), ("--help",), ()])
def test_start_up_imports_no_command_and_nothing_heavy(argv: tuple[str, ...]) -> None:
    modules = _modules_after(*argv)
    assert "gitops_gen.cli" in modules
    assert _heavy(modules) == []
    assert sorted(m for m in modules if m.startswith("gitops_gen.commands.")) == [
        "gitops_gen.commands.context"]


def test_a_command_imports_what_it_uses_when_it_runs() -> None:
    """The check above is not hollow: running a command does import its modules."""
    modules = _modules_after("env", "--help")
    assert "gitops_gen.commands.env" in modules
    assert "gitops_gen.commands.checks" not in modules
    assert _heavy(modules) != []
    assert "helm_python" not in modules  # env's help renders nothing


_VALIDATE_IN_PROCESS = """
import json, sys
from pathlib import Path
from gitops_gen.checks.validate import validate_repo
report = validate_repo(Path(sys.argv[1]))
print(json.dumps({"envs": report.environments, "gitpython": "git" in sys.modules}))
"""


def test_validation_without_gates_runs_git_without_gitpython(tmp_path: Path) -> None:
    """The gates' reads on every validation (target revision, merge-base, the settings
    there) run git itself: importing GitPython costs more than they do."""
    root = tmp_path / "repo"
    scaffold.init(root, "https://git.example.com/org/todo-gitops.git")
    out = subprocess.run([sys.executable, "-c", _VALIDATE_IN_PROCESS, str(root / "gitops")],
                         capture_output=True, text=True, check=True, timeout=300)
    assert json.loads(out.stdout.splitlines()[-1]) == {"envs": [], "gitpython": False}


def test_validate_of_a_work_tree_needs_no_http_stack(tmp_path: Path) -> None:
    """validate runs its checks in a worker process (checks/isolated.py), which reads git
    history (the promotion gates of the merge-base, checks/gates.py); the command's own
    process loads neither Helm, nor the checks, nor the HTTP stack, nor rich's terminal code."""
    root = tmp_path / "repo"
    scaffold.init(root, "https://git.example.com/org/todo-gitops.git")
    modules, stdout = _run_after("--repo", str(root / "gitops"), "validate", "--format", "json")
    assert "gitops_gen.checks.isolated" in modules
    assert "environments" in json.loads(stdout)  # it did validate, in the worker
    assert not {"fastapi", "uvicorn", "starlette", "httpx", "ssl", "http.client",
                "urllib.request", "rich", "importlib.metadata", "helm_python",
                "gitops_gen.checks.validate"} & modules


def test_listing_is_the_same_before_and_after_every_command_is_imported() -> None:
    script = """
import click
from gitops_gen import commands
from gitops_gen.cli import main
def help_text():
    with click.Context(main, info_name="gitops-gen", terminal_width=100) as ctx:
        return main.get_help(ctx)
lazy = help_text()
for name in commands.COMMANDS:
    commands.load(name)
    main.get_command(click.Context(main), name)
print(lazy == help_text(), len(main.commands))
"""
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         check=True)
    assert out.stdout.split() == ["True", str(len(COMMANDS))]


def test_each_summary_is_the_first_paragraph_of_its_command_help() -> None:
    for name, ref in COMMANDS.items():
        command = load(name)
        assert command.name == name
        assert command.help is not None
        first = " ".join(command.help.split("\n\n")[0].split())
        assert ref.summary == first, f"update the summary of {name} in commands/__init__.py"


def _defined_commands() -> set[tuple[str, str]]:
    """(module, function) of every top-level @click.command/@click.group in commands/."""
    found = set()
    for path in COMMANDS_DIR.glob("*.py"):
        for node in ast.parse(path.read_text()).body:
            if isinstance(node, ast.FunctionDef) and any(
                ast.unparse(d).startswith(("click.command", "click.group"))
                for d in node.decorator_list
            ):
                found.add((path.stem, node.name))
    return found


def test_every_command_module_command_is_registered() -> None:
    assert _defined_commands() == {(ref.module, ref.function) for ref in COMMANDS.values()}
    assert ("env", "env") in _defined_commands()  # the scan finds decorated commands


def test_an_unknown_command_is_a_usage_error() -> None:
    result = CliRunner().invoke(main, ["valdate"])
    assert result.exit_code == 2
    assert "No such command 'valdate'" in result.output


def test_version_is_the_one_in_pyproject() -> None:
    with (ROOT / "pyproject.toml").open("rb") as fh:
        project = tomllib.load(fh)["project"]
    assert __version__ == project["version"], "set gitops_gen.__version__ to pyproject's version"
