"""Shared fixtures: every test runs with its own HOME, git identity and age key location."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pyrage
import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED = REPO_ROOT.parent / "shared"
CRDS = SHARED / "reference" / "argocd-crds"


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
