"""Test helpers: run the CLI in-process, build and snapshot repositories, CRD validators."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from functools import cache
from pathlib import Path
from typing import Any, TypeVar

import git
import jsonschema_rs
import pytest
import yaml
from click.testing import CliRunner, Result
from ruamel.yaml.comments import CommentedMap

from gitops_gen.cli import main
from gitops_gen.model import scaffold
from gitops_gen.repo import yamlio

from .conftest import CRD_FILES, make_age_key

REPO_URL = "https://git.example.com/org/todo-gitops.git"
GEMINI = "AIzaTestOnly-not-a-real-key-000000000000"
T = TypeVar("T")


def cli(*args: str, repo: Path | None = None, input: str | None = None,
        env: dict[str, str] | None = None) -> Result:
    argv = (["--repo", str(repo)] if repo else []) + list(args)
    return CliRunner().invoke(main, argv, input=input, env=env, catch_exceptions=False)


def env_add(root: Path, *args: str, env: dict[str, str] | None = None) -> None:
    """`gitops-gen env add ARGS` in root; it must succeed."""
    result = cli("env", "add", *args, repo=root, env=env)
    assert result.exit_code == 0, result.output


def new_repo(root: Path, *envs: Sequence[str], url: str = REPO_URL) -> Path:
    """A GitOps repository made by the tool at root: init, then `env add` with each of envs."""
    scaffold.init(root, url)
    for args in envs:
        env_add(root, *args)
    return root


def template_repo(base: Path, *envs: Sequence[str],
                  then: Callable[[Path], None] | None = None) -> Path:
    """A repository at base/repo for a module's tests to copy (copy_repo): dev, whose Gemini
    key stays a placeholder, then `env add` with each of envs and GEMINI as the Gemini key;
    then(root) last, to commit further changes.

    Module fixtures run before the per-test isolation, so HOME (with a git identity) and the
    age key are under base while it is built.
    """
    key = make_age_key(base / "age")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HOME", str(base))
        (base / ".gitconfig").write_text("[user]\n\tname = T\n\temail = t@example.invalid\n")
        mp.setenv("SOPS_AGE_KEY_FILE", str(key.path))
        mp.delenv("GEMINI_API_KEY", raising=False)
        root = new_repo(base / "repo", ["dev"])
        for args in envs:
            env_add(root, *args, env={"GEMINI_API_KEY": GEMINI})
        if then is not None:
            then(root)
    return root


def copy_repo(template: Path, tmp_path: Path) -> Path:
    """A test's own copy of a template repository (work tree and .git) at tmp_path/repo."""
    root = tmp_path / "repo"
    shutil.copytree(template, root, symlinks=True)
    return root


def set_value(root: Path, path: str, keys: list[str], value: object) -> int:
    """Set a value in a YAML file round-trip (comments kept); returns its 1-based line."""
    data = yamlio.load((root / path).read_text(), path)
    node = data
    for key in keys[:-1]:
        node = node.setdefault(key, CommentedMap())
    node[keys[-1]] = value
    text = yamlio.dump(data)
    (root / path).write_text(text)
    line = yamlio.line_of(yamlio.load(text, path), keys)
    assert line is not None
    return line


def edit(root: Path, path: str, change: Callable[[str], str]) -> None:
    """Rewrite root/path through change(text); an edit that changes nothing fails the test."""
    target = root / path
    text = target.read_text()
    changed = change(text)
    assert changed != text, f"{path}: the edit changed nothing"
    target.write_text(changed)


def write_executable(path: Path, text: str) -> Path:
    """A script at path (its folder created), executable: a stand-in program or a git hook."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(0o755)
    return path


def python(script: str) -> subprocess.Popen[str]:
    """script in a new interpreter (this environment: HOME, the age key, PATH)."""
    return subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=dict(os.environ))


def without_hanging(call: Callable[[], T], seconds: float = 60) -> T:
    """call() in a thread: what it returns or raises. A call that blocks (a FIFO opened for
    reading, a loop on hostile input) fails the test instead of hanging the suite; seconds is
    a bound on a hang, never a claim about speed (benchmarks/ measures that). A daemon thread,
    not concurrent.futures: its threads are joined at exit, so a blocked one would hang the
    test process there instead."""
    returned: list[T] = []
    raised: list[BaseException] = []

    def run() -> None:
        try:
            returned.append(call())
        except BaseException as exc:  # re-raised in the test's thread below
            raised.append(exc)

    thread = threading.Thread(target=run, daemon=True, name="without-hanging")
    thread.start()
    thread.join(seconds)
    if raised:
        raise raised[0]
    if not returned:
        pytest.fail(f"the call blocked: it had not returned after {seconds:g} s")
    return returned[0]

def wait_for(path: Path, proc: subprocess.Popen[str], seconds: float = 60) -> None:
    """Until path exists (a running script's mark); fails if proc ends or time runs out."""
    deadline = time.monotonic() + seconds
    while not path.exists():
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.05)


def snapshot(root: Path) -> dict[str, Any]:
    """Everything that must stay put when a command fails: HEAD, index, work tree bytes."""
    repo = git.Repo(root)
    files = {}
    for path in sorted(root.rglob("*")):
        if ".git" in path.relative_to(root).parts or not path.is_file():
            continue
        files[path.relative_to(root).as_posix()] = hashlib.sha256(path.read_bytes()).hexdigest()
    return {
        "head": repo.head.commit.hexsha if repo.head.is_valid() else None,
        "status": repo.git.status("--porcelain", "--untracked-files=all"),
        "files": files,
    }


def load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


def _strip_k8s(schema: Any) -> Any:
    if isinstance(schema, dict):
        return {k: _strip_k8s(v) for k, v in schema.items() if not k.startswith("x-kubernetes")}
    if isinstance(schema, list):
        return [_strip_k8s(v) for v in schema]
    return schema


@cache
def crd_validator(reference: Path, kind: str) -> Any:
    """A validator for the CRD's openAPIV3Schema (kind: application | appproject), from the
    reference directory (the `reference` fixture)."""
    name = {"application": "Application", "appproject": "AppProject"}[kind]
    crd = yaml.safe_load((reference / CRD_FILES[name]).read_text())
    schema = _strip_k8s(crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"])
    return jsonschema_rs.validator_for(schema)


def commit_files(root: Path, sha: str) -> list[str]:
    return sorted(git.Repo(root).git.show("--name-only", "--format=", sha).split())
