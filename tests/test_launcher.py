"""The console script's launcher: --version and --help answered without click, with click's
very words; everything else, and narrow terminals, handed to click."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from gitops_gen import launcher

SCRIPT = str(Path(sys.executable).with_name("gitops-gen"))

# The same command through click alone, named gitops-gen as the console script is.
THROUGH_CLICK = """
import sys
from gitops_gen.cli import main
main(sys.argv[1:], prog_name="gitops-gen")
"""

# The launcher in a fresh interpreter; reports on stderr whether click got imported.
LAUNCHER_IMPORTS = """
import atexit, json, sys
sys.argv[0] = "/usr/local/bin/gitops-gen"
atexit.register(lambda: sys.stderr.write("CLICK " + json.dumps("click" in sys.modules)))
from gitops_gen.launcher import main
main()
"""

# launcher.end in a fresh interpreter: output buffered, an exit handler, maybe a thread.
END = """
import atexit, sys, threading, time
from gitops_gen import launcher
sys.stdout.write("buffered ")
atexit.register(lambda: sys.stdout.write("handler "))
if sys.argv[1] == "thread":
    threading.Thread(target=lambda: (time.sleep(0.3), sys.stdout.write("thread "))).start()
launcher.end(int(sys.argv[2]))
sys.stdout.write("after end")
"""


def _env(columns: str | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "COLUMNS"}
    if columns is not None:
        env["COLUMNS"] = columns
    return env


def _run(argv: list[str], columns: str | None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, env=_env(columns), timeout=60)


def _click_imported(args: list[str], columns: str | None = "80") -> bool:
    out = _run([sys.executable, "-c", LAUNCHER_IMPORTS, *args], columns)
    return bool(json.loads(out.stderr.rsplit("CLICK ", 1)[1]))


@pytest.mark.parametrize("args, columns", [
    (["--version"], "80"),
    (["--version"], "40"),
    (["--help"], "80"),
    (["-h"], "80"),
    (["--help"], "200"),
    (["--help"], None),  # no COLUMNS, no terminal: click assumes 80 columns
    (["--help"], "60"),  # narrower: the launcher hands over, click wraps to 58
])
def test_the_console_script_prints_what_click_prints(args: list[str],
                                                     columns: str | None) -> None:
    fast = _run([SCRIPT, *args], columns)
    slow = _run([sys.executable, "-c", THROUGH_CLICK, *args], columns)
    assert (fast.returncode, fast.stdout, fast.stderr) == (0, slow.stdout, "")
    assert slow.returncode == 0


def test_a_narrow_terminal_gets_click_s_own_wrapping() -> None:
    """The 60-column case above is not the saved text: the hand-over is needed."""
    narrow = _run([SCRIPT, "--help"], "60").stdout
    assert narrow != Path(launcher.HELP_FILE).read_text(encoding="utf-8")
    assert max(len(line) for line in narrow.splitlines()) <= 58


@pytest.mark.parametrize("args, columns, imported", [
    (["--version"], "80", False),
    (["--help"], "80", False),
    (["-h"], "120", False),
    (["--help"], "60", True),
    (["--version", "--help"], "80", True),
    (["--versio"], "80", True),
    (["env", "--help"], "80", True),
])
def test_only_the_two_answers_skip_click(args: list[str], columns: str, imported: bool) -> None:
    assert _click_imported(args, columns) is imported


@pytest.mark.parametrize("how, code, out", [
    ("alone", 3, "buffered handler "),  # the handlers run, the output is flushed
    ("thread", 4, "buffered thread handler "),  # a thread that runs on gets the usual exit
    ("alone", 0, "buffered handler "),
])
def test_end_exits_with_the_code_after_the_handlers(how: str, code: int, out: str) -> None:
    done = subprocess.run([sys.executable, "-c", END, how, str(code)], capture_output=True,
                          text=True, timeout=60)
    assert (done.returncode, done.stdout, done.stderr) == (code, out, "")


@pytest.mark.parametrize("code, status, said", [
    (None, 0, ""), (0, 0, ""), (2, 2, ""), ("no such environment", 1, "no such environment\n"),
])
def test_status_is_the_interpreter_s(code: object, status: int, said: str,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    assert launcher.status(code) == status
    assert capsys.readouterr().err == said


@pytest.mark.parametrize("argv, prog, answered", [
    (["--version"], "gitops-gen", True),
    (["--help"], "gitops-gen", True),
    (["--version"], "gg", False),  # click's usage line names the program it was called as
    ([], "gitops-gen", False),
    (["--help", "extra"], "gitops-gen", False),
])
def test_answer(argv: list[str], prog: str, answered: bool,
                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "80")
    assert (launcher.answer(argv, prog) is not None) is answered


def test_anything_else_reaches_click_and_its_errors() -> None:
    out = _run([SCRIPT, "--versio"], "80")
    assert out.returncode == 2
    assert "Did you mean '--version'?" in out.stderr
