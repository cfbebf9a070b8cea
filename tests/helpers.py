"""Test helpers: run the CLI in-process, snapshot a repository, Argo CD CRD validators."""

from __future__ import annotations

import hashlib
from functools import cache
from pathlib import Path
from typing import Any

import git
import jsonschema_rs
import yaml
from click.testing import CliRunner, Result

from gitops_gen.cli import main

from .conftest import CRDS


def cli(*args: str, repo: Path | None = None, input: str | None = None,
        env: dict[str, str] | None = None) -> Result:
    argv = (["--repo", str(repo)] if repo else []) + list(args)
    return CliRunner().invoke(main, argv, input=input, env=env, catch_exceptions=False)


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
def crd_validator(kind: str) -> Any:
    """A validator for the CRD's openAPIV3Schema (kind: application | appproject)."""
    crd = yaml.safe_load((CRDS / f"{kind}-crd.yaml").read_text())
    schema = _strip_k8s(crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"])
    return jsonschema_rs.validator_for(schema)


def commit_files(root: Path, sha: str) -> list[str]:
    return sorted(git.Repo(root).git.show("--name-only", "--format=", sha).split())
