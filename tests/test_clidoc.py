from __future__ import annotations

from pathlib import Path

import pytest

from gitops_gen.devtools import clidoc


def test_command_reference_is_current() -> None:
    assert clidoc.main(["--check"]) == 0, "run: python -m gitops_gen.devtools.clidoc --write"


def test_reference_covers_every_command() -> None:
    text = clidoc.render()
    for command in ("init", "env add", "env list", "secrets set", "secrets rekey", "validate",
                    "render", "plan", "diff", "doctor"):
        assert f"`gitops-gen {command}`" in text


def test_stale_reference_is_reported(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    stale = tmp_path / "commands.md"
    stale.write_text(clidoc.render().replace("Rendered-manifest diff", "Old words"))
    monkeypatch.setattr(clidoc, "DOC", stale)
    assert clidoc.main(["--check"]) == 1
    assert "is stale" in capsys.readouterr().err


def test_stale_launcher_help_is_reported(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    """help.txt, which the launcher prints for --help, is checked like the reference."""
    stale = tmp_path / "help.txt"
    stale.write_text(clidoc.top_help().replace("Rendered-manifest diff", "Old words"))
    monkeypatch.setattr(clidoc, "HELP", stale)
    monkeypatch.setattr(clidoc, "DOC", tmp_path / "commands.md")
    (tmp_path / "commands.md").write_text(clidoc.render())
    assert clidoc.main(["--check"]) == 1
    assert f"{stale} is stale" in capsys.readouterr().err
    clidoc.main(["--write"])
    assert stale.read_text() == clidoc.top_help()
    assert clidoc.main(["--check"]) == 0
