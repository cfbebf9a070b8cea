"""Where the service's temporary files go (repo/scratch.py): memory when it has room and no
temporary directory was chosen, else where they were."""

from __future__ import annotations

import logging
import os
import tempfile
from pathlib import Path

import pytest

from gitops_gen.repo import scratch
from gitops_gen.service import server


@pytest.fixture
def unset(monkeypatch: pytest.MonkeyPatch) -> None:
    """No temporary directory chosen; whatever prefer_memory sets is undone after the test."""
    for name in scratch.TEMP_VARS:
        monkeypatch.setenv(name, "")  # recorded, so that teardown restores it ...
        monkeypatch.delenv(name)  # ... whatever the test sets meanwhile
    monkeypatch.setattr(tempfile, "tempdir", None)


def test_memory_is_chosen_when_it_has_room(tmp_path: Path, unset: None) -> None:
    chosen = scratch.prefer_memory(1, candidates=[str(tmp_path / "absent"), str(tmp_path)])
    assert chosen == tmp_path
    assert os.environ["TMPDIR"] == str(tmp_path)
    assert Path(tempfile.mkdtemp()).parent == tmp_path


def test_memory_without_room_is_passed_over(tmp_path: Path, unset: None) -> None:
    free = os.statvfs(tmp_path).f_bavail * os.statvfs(tmp_path).f_frsize
    assert scratch.memory_dir(free, [str(tmp_path)]) is not None
    assert scratch.prefer_memory(free * 2, candidates=[str(tmp_path)]) is None
    assert "TMPDIR" not in os.environ
    assert tempfile.tempdir is None


def test_a_file_is_not_a_directory(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    assert scratch.memory_dir(1, [str(tmp_path / "file")]) is None
    assert scratch.memory_dir(1, [str(tmp_path / "file"), str(tmp_path)]) == tmp_path


@pytest.mark.parametrize("name", scratch.TEMP_VARS)
def test_a_chosen_temporary_directory_is_kept(tmp_path: Path, unset: None,
                                              monkeypatch: pytest.MonkeyPatch,
                                              name: str) -> None:
    monkeypatch.setenv(name, str(tmp_path / "chosen"))
    assert scratch.prefer_memory(1, candidates=[str(tmp_path)]) is None
    assert os.environ.get("TMPDIR") == (str(tmp_path / "chosen") if name == "TMPDIR" else None)
    assert tempfile.tempdir is None


def test_the_service_says_where_its_checkouts_go(tmp_path: Path, unset: None,
                                                 monkeypatch: pytest.MonkeyPatch,
                                                 caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setattr(scratch, "MEMORY_DIRS", (str(tmp_path),))
    monkeypatch.setattr(server, "SCRATCH_BYTES", 1)
    with caplog.at_level(logging.INFO, logger=server.__name__):
        server.use_scratch()
    assert os.environ["TMPDIR"] == str(tmp_path)
    assert f"temporary checkouts in {tmp_path} (memory)" in caplog.messages


def test_the_service_says_when_its_checkouts_stay_on_disk(tmp_path: Path, unset: None,
                                                          monkeypatch: pytest.MonkeyPatch,
                                                          caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setattr(scratch, "MEMORY_DIRS", (str(tmp_path / "absent"),))
    with caplog.at_level(logging.INFO, logger=server.__name__):
        server.use_scratch()
    assert "TMPDIR" not in os.environ
    assert caplog.messages == [f"temporary checkouts in {tempfile.gettempdir()}"]
