from __future__ import annotations

import subprocess
import sys

from click.testing import CliRunner

from gitops_gen import __version__
from gitops_gen.cli import main


def test_version_matches_package() -> None:
    result = CliRunner().invoke(main, ["--version"])
    assert result.exit_code == 0
    assert __version__ in result.output


def test_doctor_reports_missing_age_key_with_exit_3() -> None:
    result = CliRunner().invoke(main, ["doctor"])
    assert result.exit_code == 3, result.output
    assert "no identity at" in result.output
    assert "sops 3." in result.output


def test_doctor_passes_with_key(age_key) -> None:  # type: ignore[no-untyped-def]
    result = CliRunner().invoke(main, ["doctor"])
    assert result.exit_code == 0, result.output
    assert age_key.recipient in result.output
    assert "Helm v4" in result.output


def test_installed_console_script_runs() -> None:
    exe = sys.executable.replace("python", "gitops-gen")
    out = subprocess.run([exe, "--version"], capture_output=True, text=True, check=True)
    assert out.stdout.startswith("gitops-gen, version")
