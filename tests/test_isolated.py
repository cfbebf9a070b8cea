"""Workers started ahead of their requests (checks/isolated.py, checks/prestart.py): one is
taken by the next validation or render, one started under another environment is not, none
outlives the process that started it, the console script's is forked where that is safe, and
the service's spare is replaced once its request has ended."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from gitops_gen import launcher
from gitops_gen.checks import isolated
from gitops_gen.errors import InputError
from gitops_gen.model import rendercache
from gitops_gen.repo import proc

SCRIPT = str(Path(sys.executable).with_name("gitops-gen"))


@pytest.fixture
def spares() -> Iterator[isolated._Spares]:
    """This process's spares, emptied before and after the test."""
    isolated._spares.close()
    isolated._spares = isolated._Spares()
    yield isolated._spares
    isolated._spares.close()
    isolated._spares = isolated._Spares()


def ready(spares: isolated._Spares) -> list[isolated._Early]:
    return list(spares._ready)


def test_a_validation_takes_the_worker_started_early(repo: Path,
                                                     spares: isolated._Spares) -> None:
    isolated.start_early()
    [early] = ready(spares)
    report = isolated.validate(repo)
    assert report.ok and report.environments == ["dev"]
    assert ready(spares) == []
    assert early.worker.process.poll() is not None  # it took the request and ended
    assert not Path(early.scratch.name).exists()


def test_a_render_takes_it_too(repo: Path, spares: isolated._Spares) -> None:
    isolated.start_early()
    [early] = ready(spares)
    rendered = isolated.render(repo, "dev")
    assert "Deployment" in {r.kind for r in rendered}
    assert ready(spares) == [] and early.worker.process.poll() is not None


def test_a_worker_started_under_another_environment_is_not_used(
        repo: Path, spares: isolated._Spares, monkeypatch: pytest.MonkeyPatch) -> None:
    isolated.start_early()
    [early] = ready(spares)
    # A worker started now sees this (and refuses it); the early one would not.
    monkeypatch.setenv(rendercache.SIZE_VAR, "lots")
    with pytest.raises(InputError, match=rendercache.SIZE_VAR):
        isolated.validate(repo)
    assert early.worker.process.poll() is not None  # stopped, not used
    assert not Path(early.scratch.name).exists()


def test_a_dead_early_worker_is_passed_over(repo: Path, spares: isolated._Spares) -> None:
    isolated.start_early()
    [early] = ready(spares)
    early.worker.process.kill()
    early.worker.process.wait(10)
    assert isolated.validate(repo).ok


def test_the_service_spare_is_replaced_once_taken(repo: Path,
                                                  spares: isolated._Spares) -> None:
    isolated.keep_spares(1)
    [first] = ready(spares)
    assert isolated.validate(repo).ok
    deadline = time.monotonic() + 60
    while not ready(spares) and time.monotonic() < deadline:
        time.sleep(0.05)
    [second] = ready(spares)
    assert second is not first and second.worker.process.poll() is None


def test_a_spare_is_replaced_after_its_request_not_beside_it(spares: isolated._Spares) -> None:
    isolated.keep_spares(1)
    [first] = ready(spares)
    taken = spares.take()
    assert taken is first
    assert spares._ready == [] and spares._starting == 0  # nothing starts beside the request
    taken.close()
    spares.refill()
    deadline = time.monotonic() + 60
    while not ready(spares) and time.monotonic() < deadline:
        time.sleep(0.05)
    [second] = ready(spares)
    assert second is not first and second.worker.process.poll() is None


def test_a_spare_that_answered_is_ended_beside_the_next_work(
        repo: Path, spares: isolated._Spares, monkeypatch: pytest.MonkeyPatch) -> None:
    isolated.keep_spares(1)
    [first] = ready(spares)
    release, ended = threading.Event(), []
    close = isolated._Early.close

    def slow_close(early: isolated._Early) -> None:  # this one's end takes a while
        if early is first:
            release.wait(30)
        close(early)
        ended.append(early)

    monkeypatch.setattr(isolated._Early, "close", slow_close)
    assert isolated.validate(repo).ok
    assert first not in ended  # the answer did not wait for the worker's end
    threading.Timer(0.3, release.set).start()
    spares.close()  # waits for the threads that end the workers that answered
    assert first in ended and first.worker.process.poll() is not None
    assert not Path(first.scratch.name).exists()


def test_spares_say_when_their_checks_are_loaded(spares: isolated._Spares) -> None:
    isolated.keep_spares(2)
    deadline = time.monotonic() + 60
    while isolated.spares_loaded() < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert isolated.spares_loaded() == 2
    for early in ready(spares):
        early.worker.process.kill()
        early.worker.process.wait(10)
    assert isolated.spares_loaded() == 0
    assert spares.take() is None  # a dead one is passed over


def _maps_helm(pid: int) -> bool:
    return "libhelm_c" in Path(f"/proc/{pid}/maps").read_text()


def test_service_spares_start_helm_while_idle_and_cli_ones_do_not(
        repo: Path, spares: isolated._Spares) -> None:
    isolated.start_early()  # the CLI's: a validation whose renders are kept needs no Helm
    isolated.keep_spares(2, load_helm=True)  # the service's: the Go runtime starts while idle
    deadline = time.monotonic() + 60
    while isolated.spares_loaded() < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    [cli, *service] = ready(spares)
    assert isolated.spares_loaded() == 2 and len(service) == 1
    assert not _maps_helm(cli.worker.process.pid)
    assert _maps_helm(service[0].worker.process.pid)
    assert isolated.validate(repo).ok and isolated.validate(repo).ok  # each takes one


# Whether a process (by pid) still runs, and the scratch directories left under a TMPDIR.
def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except OSError:
        return False


def _workers_under(tmp: Path) -> list[int]:
    """Processes whose environment names tmp as TMPDIR's parent: this test's workers."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            environ = (entry / "environ").read_bytes().split(b"\0")
        except OSError:
            continue
        if any(v.startswith(f"TMPDIR={tmp}/".encode()) for v in environ):
            found.append(int(entry.name))
    return [pid for pid in found if _alive(pid)]


@pytest.mark.parametrize("args, code", [
    (["validate", "--format", "json"], 0),
    (["validate", "--format", "nope"], 2),  # refused by click: the early worker goes unused
    (["--repo", "{repo}", "render", "no-such-env"], 2),
])
def test_the_console_script_leaves_no_worker_and_no_directory(
        repo: Path, tmp_path: Path, args: list[str], code: int) -> None:
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    argv = [SCRIPT, *(a.replace("{repo}", str(repo)) for a in args)]
    done = subprocess.run(argv, cwd=repo, capture_output=True, text=True, timeout=120,
                          env={**os.environ, "TMPDIR": str(tmp)})
    assert done.returncode == code, done.stderr
    assert list(tmp.iterdir()) == []
    assert _workers_under(tmp) == []


# The console script's entry point in a fresh interpreter: says whether the validation's
# request went to a worker started before it (Worker.send) or to one started with it.
_EARLY_USED = """
import sys
from gitops_gen.repo import proc
sent = []
original = proc.Worker.send
def send(self, request):
    sent.append(request)
    original(self, request)
proc.Worker.send = send
sys.argv = ["gitops-gen", *sys.argv[1:]]
from gitops_gen.launcher import run
code = run(sys.argv[1:])
sys.stderr.write(f"EXIT {code} SENT {len(sent)}")
"""


@pytest.mark.parametrize("args, sent", [
    (["validate", "--format", "json"], 1),  # the early worker took the request
    (["--repo", ".", "validate", "--format", "json"], 1),
    (["env", "add", "qa", "--host", "qa.example.com"], 1),  # its check, after the writes
    (["env", "list"], 0),  # no worker started early
])
def test_the_console_script_validates_in_the_worker_it_started_early(
        repo: Path, template: Path, args: list[str], sent: int) -> None:
    key = template.parent / "age" / "keys.txt"
    done = subprocess.run([sys.executable, "-c", _EARLY_USED, *args], cwd=repo,
                          capture_output=True, text=True, timeout=300,
                          env={**os.environ, "SOPS_AGE_KEY_FILE": str(key)})
    assert done.stderr.rsplit("EXIT ", 1)[-1] == f"0 SENT {sent}", done.stderr


@pytest.mark.parametrize("argv, starts", [
    (["validate"], True),
    (["validate", "staging", "--format", "json"], True),
    (["--repo", "x", "validate"], True),
    (["--repo=x", "--debug", "render", "dev"], True),
    (["plan", "dev"], True),
    (["--repo", "validate", "env", "list"], False),  # validate is --repo's value here
    (["validate", "--help"], False),
    (["-h", "validate"], False),
    (["env", "add", "qa"], True),  # it validates once it has written the files
    (["--repo", "r", "env", "add", "qa", "--host", "qa.example.com"], True),
    (["env", "add", "qa", "--dry-run"], False),
    (["env", "list"], False),
    (["env"], False),
    (["secrets", "list", "dev"], False),
    (["--debug"], False),
    ([], False),
])
def test_which_commands_start_a_worker_early(argv: list[str], starts: bool) -> None:
    assert launcher.starts_worker(argv) is starts


# The console script's fork (checks/prestart.py), in a fresh interpreter.
_FORK = """
import json, os, sys, threading
from gitops_gen.checks import prestart
if sys.argv[1] == "thread":
    threading.Thread(target=threading.Event().wait, args=(5,), daemon=True).start()
forked = prestart.fork_worker()
state = prestart._forked
print(json.dumps({"forked": forked, "pid": state.pid if state else None,
                  "scratch": state.scratch if state else None}))
if sys.argv[1] == "adopt":
    from gitops_gen.checks import isolated
    from pathlib import Path
    report = isolated.validate(Path(sys.argv[2]))
    print(json.dumps({"ok": report.ok, "envs": report.environments}))
"""


def _fork(tmp: Path, *args: str) -> list[dict[str, object]]:
    done = subprocess.run([sys.executable, "-c", _FORK, *args], capture_output=True, text=True,
                          timeout=120, env={**os.environ, "TMPDIR": str(tmp)})
    assert done.returncode == 0, done.stderr
    return [json.loads(line) for line in done.stdout.splitlines()]


def test_a_forked_worker_is_adopted_and_takes_the_validation(repo: Path, tmp_path: Path) -> None:
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    forked, report = _fork(tmp, "adopt", str(repo))
    assert forked["forked"] is True and str(forked["scratch"]).startswith(f"{tmp}/gitops-gen-work-")
    assert report == {"ok": True, "envs": ["dev"]}
    assert not _alive(int(str(forked["pid"]))) and list(tmp.iterdir()) == []


def test_a_forked_worker_nobody_takes_is_stopped_at_exit(tmp_path: Path) -> None:
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    [forked] = _fork(tmp, "leave")
    assert forked["forked"] is True
    assert not _alive(int(str(forked["pid"]))) and list(tmp.iterdir()) == []


def test_a_process_with_threads_does_not_fork(tmp_path: Path) -> None:
    [forked] = _fork(tmp_path, "thread")
    assert forked == {"forked": False, "pid": None, "scratch": None}
    assert list(tmp_path.iterdir()) == []


def _spawned(script: str) -> proc.Forked:
    """A child of this process (posix_spawn: no fork of the test process) as proc.Forked."""
    (in_read, in_write), (out_read, out_write), (err_read, err_write) = (os.pipe()
                                                                          for _ in range(3))
    pid = os.posix_spawn("/bin/sh", ["sh", "-c", script], dict(os.environ))
    for end in (in_read, out_write, err_write):  # the child's ends: it uses none of them
        os.close(end)
    return proc.Forked(pid, in_write, out_read, err_read)


def test_a_forked_child_s_end_is_waited_for_and_a_timeout_said() -> None:
    ends = _spawned("sleep 0.2; exit 3")
    assert ends.poll() is None and ends.wait(30) == 3 and ends.poll() == 3
    stays = _spawned("sleep 30")
    with pytest.raises(subprocess.TimeoutExpired):
        stays.wait(0.1)
    proc.stop(stays, grace=5)  # SIGTERM ends it; stop waits for that
    assert stays.returncode == -signal.SIGTERM
