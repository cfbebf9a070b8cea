"""This repository is itself a gitops-gen repository: its own overlays and gitops/ are the
tool's output, they validate, and the demo recipient's fixture key opens them."""

from __future__ import annotations

import os
import subprocess

import yaml

from gitops_gen.checks.validate import validate_repo
from gitops_gen.model import scaffold
from gitops_gen.repo import config, layout, proc
from gitops_gen.secrets import sops
from gitops_gen.secrets.demo_key import DEMO_RECIPIENT

from .conftest import REPO_ROOT

FIXTURE_KEY = REPO_ROOT / "tests" / "fixtures" / "demo-age-key.TEST-FIXTURE-ONLY.txt"
ENVS = ["dev", "staging", "prod"]


def test_own_environments_validate() -> None:
    report = validate_repo(REPO_ROOT)
    assert report.ok, [f.to_dict() for f in report.errors]
    assert report.environments == ENVS
    demo = sorted(f.env or "" for f in report.warnings if f.rule == "demo-recipient")
    assert demo == ["prod", "staging"]


def test_scaffold_files_match_what_init_writes() -> None:
    settings = config.load(REPO_ROOT)
    expected = scaffold.files(config.Settings(repo_url=settings.repo_url))
    for path in ("gitops/README.md", "overlays/README.md", layout.ROOT_APP,
                 *(p for p in expected if p.startswith(layout.BOOTSTRAP_DIR))):
        assert (REPO_ROOT / path).read_text() == expected[path], f"{path} is stale"


def test_demo_fixture_key_opens_own_secrets() -> None:
    public = FIXTURE_KEY.read_text().splitlines()[1].split()[-1]
    assert public == DEMO_RECIPIENT
    for env in ENVS:
        path = REPO_ROOT / layout.secrets_path(env)
        assert sops.file_recipients(path.read_text()) == [DEMO_RECIPIENT]
        out = subprocess.run(
            [proc.which("sops"), "decrypt", str(path)],
            env={**os.environ, "SOPS_AGE_KEY_FILE": str(FIXTURE_KEY)},
            capture_output=True, text=True, check=True,
        )
        assert sorted(sops.flatten(yaml.safe_load(out.stdout))) == sorted(sops.SECRET_KEYS)
