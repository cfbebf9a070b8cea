"""gitops-gen doctor (model/doctor.py): each check of the machine, and exit 3 when one fails."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from gitops_gen.cli import main

from .conftest import AgeKey

IDENTITY_FIX = "(git config --global user.name/user.email)"


def doctor() -> tuple[int, list[str]]:
    result = CliRunner().invoke(main, ["doctor"])
    return result.exit_code, [" ".join(line.split()) for line in result.output.splitlines()]


def test_doctor_reports_missing_age_key_with_exit_3() -> None:
    result = CliRunner().invoke(main, ["doctor"])
    assert result.exit_code == 3, result.output
    assert "no identity at" in result.output
    assert "sops 3." in result.output


def test_doctor_passes_with_key(age_key: AgeKey) -> None:
    code, lines = doctor()
    assert code == 0, lines
    assert any(age_key.recipient in line for line in lines)
    assert "ok git identity: user.name and user.email set" in lines
    assert any(line.startswith("ok helm SDK: Helm v4") for line in lines)


@pytest.mark.parametrize(("config", "missing"), [
    ("", "user.name and user.email"),
    ("[user]\n\tname = Test Engineer\n", "user.email"),
    ("[user]\n\temail = test@example.invalid\n", "user.name"),
])
def test_doctor_names_the_missing_git_identity(
    age_key: AgeKey, isolated_home: Path, config: str, missing: str
) -> None:
    (isolated_home / ".gitconfig").write_text(config)
    code, lines = doctor()
    assert code == 3, lines
    assert f"missing git identity: git {missing} not set {IDENTITY_FIX}" in lines
    assert [line for line in lines if line.startswith("missing")] == [
        f"missing git identity: git {missing} not set {IDENTITY_FIX}"]


def test_git_identity_from_the_environment_is_enough(
    age_key: AgeKey, isolated_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (isolated_home / ".gitconfig").write_text("")
    for who in ("AUTHOR", "COMMITTER"):
        monkeypatch.setenv(f"GIT_{who}_NAME", "CI")
        monkeypatch.setenv(f"GIT_{who}_EMAIL", "ci@example.invalid")
    code, lines = doctor()
    assert code == 0, lines
    assert "ok git identity: user.name and user.email set" in lines
    monkeypatch.delenv("GIT_COMMITTER_EMAIL")  # git needs both the author and the committer
    code, lines = doctor()
    assert code == 3 and f"missing git identity: git user.email not set {IDENTITY_FIX}" in lines
