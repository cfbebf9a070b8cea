"""Shared fixtures: every test runs with its own HOME, git identity and age key location."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pyrage
import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]

REFERENCE_VAR = "GITOPS_GEN_REFERENCE"
REQUIRE_REFERENCE_VAR = "GITOPS_GEN_REQUIRE_REFERENCE"
# What the reference directory holds: Argo CD v3.5.1's CRDs and its install manifest.
CRD_FILES = {"Application": "argocd-crds/application-crd.yaml",
             "AppProject": "argocd-crds/appproject-crd.yaml"}
INSTALL_FILE = "argocd-install/install-v3.5.1.yaml"


def reference_dir() -> Path:
    """Upstream reference data (Argo CD's CRDs and install manifest): $GITOPS_GEN_REFERENCE,
    else ../shared/reference beside this repository."""
    given = os.environ.get(REFERENCE_VAR)
    return Path(given) if given else REPO_ROOT.parent / "shared" / "reference"


@pytest.fixture(scope="session")
def reference() -> Path:
    """The reference directory; tests that cross-check against upstream data take it.

    Absent, they are skipped with the reason (GITOPS_GEN_REQUIRE_REFERENCE=1 turns that into a
    failure, as CI sets it)."""
    path = reference_dir()
    wanted = (*CRD_FILES.values(), INSTALL_FILE)
    missing = [name for name in wanted if not (path / name).is_file()]
    if missing:
        reason = (f"upstream reference data missing: {', '.join(str(path / m) for m in missing)};"
                  f" set {REFERENCE_VAR} to a directory holding argocd-crds/ (Argo CD v3.5.1's"
                  f" CRDs) and argocd-install/install-v3.5.1.yaml")
        if os.environ.get(REQUIRE_REFERENCE_VAR) == "1":
            pytest.fail(f"{REQUIRE_REFERENCE_VAR}=1: {reason}")
        pytest.skip(reason)
    return path


@pytest.fixture(autouse=True)
def isolated_home(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Path:
    """No test reads or writes the real home directory, git config or age key."""
    home = tmp_path_factory.mktemp("home")
    (home / ".gitconfig").write_text(
        "[user]\n\tname = Test Engineer\n\temail = test@example.invalid\n"
        "[init]\n\tdefaultBranch = main\n[commit]\n\tgpgsign = false\n"
    )
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(home / ".cache"))  # schemas and renders kept
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    for var in (
        "GIT_CONFIG_GLOBAL",
        "GIT_AUTHOR_NAME",
        "GIT_AUTHOR_EMAIL",
        "GIT_COMMITTER_NAME",
        "GIT_COMMITTER_EMAIL",
        "SOPS_AGE_KEY",
        "SOPS_AGE_RECIPIENTS",
        "GEMINI_API_KEY",
        "GITHUB_TOKEN",
        "GIT_DIR",
        "GIT_WORK_TREE",
    ):
        monkeypatch.delenv(var, raising=False)
    (home / "age").mkdir()  # a key is created where SOPS_AGE_KEY_FILE points: in a directory
    monkeypatch.setenv("SOPS_AGE_KEY_FILE", str(home / "age" / "keys.txt"))
    return home


@dataclass(frozen=True)
class AgeKey:
    path: Path
    recipient: str
    secret: str


def make_age_key(directory: Path, name: str = "keys.txt") -> AgeKey:
    """A throw-away age identity written to directory/name (mode 600)."""
    ident = pyrage.x25519.Identity.generate()
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    path.write_text(f"# throw-away test key\n{ident}\n")
    path.chmod(0o600)
    return AgeKey(path, str(ident.to_public()), str(ident))


@pytest.fixture
def age_key(isolated_home: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[AgeKey]:
    """A fresh local age identity, where SOPS_AGE_KEY_FILE points."""
    key = make_age_key(isolated_home / "age")
    monkeypatch.setenv("SOPS_AGE_KEY_FILE", str(key.path))
    yield key


# The repository most tests start from: dev, staging and prod, written once per test module by
# the tool itself (tests/helpers.template_repo) and copied for each test. A module that needs
# another starting point defines its own `template`; `repo` copies that one.
@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from .helpers import template_repo  # helpers imports this module

    return template_repo(tmp_path_factory.mktemp("template"))


@pytest.fixture
def repo(template: Path, tmp_path: Path) -> Path:
    from .helpers import copy_repo

    return copy_repo(template, tmp_path)
