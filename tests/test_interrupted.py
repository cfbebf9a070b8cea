"""Interrupted commits tell the truth: after SIGTERM at any point, or a full or read-only file
system, the repository is exactly as before or exactly as committed, the index clean, and the
message says which. Real signals, real git hooks, real tmpfs mounts (in a user namespace)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import git
import pytest

from .helpers import snapshot, write_executable

SUBJECT = "env: add qa"


def key_env(template: Path) -> dict[str, str]:
    return {**os.environ, "SOPS_AGE_KEY_FILE": str(template.parent / "age" / "keys.txt")}


def start_env_add(root: Path, template: Path) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "gitops_gen", "--repo", str(root), "env",
                             "add", "qa"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=key_env(template))


def hook(root: Path, name: str, mark: Path) -> None:
    write_executable(root / ".git" / "hooks" / name,
                     f"#!/bin/sh\ntouch '{mark}'\nexec sleep 60 </dev/null >/dev/null 2>&1\n")


def wait_for(path: Path, run: subprocess.Popen[str], seconds: float = 180) -> None:
    deadline = time.monotonic() + seconds
    while not path.exists():
        assert run.poll() is None, run.communicate()
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.05)


def assert_truthful(root: Path, before: dict[str, object], head: str, stderr: str) -> str:
    """The repository is as before or as committed, and stderr says which; returns which."""
    now = git.Repo(root)
    assert not (root / ".git" / "index.lock").exists()
    assert now.git.status("--porcelain", "--untracked-files=all") == ""
    if now.head.commit.hexsha == head:
        assert snapshot(root) == before
        assert "nothing was changed" in stderr, stderr
        return "before"
    commit = now.head.commit
    assert commit.summary == SUBJECT and [p.hexsha for p in commit.parents] == [head]
    assert f"the commit {commit.hexsha[:8]} ({SUBJECT}) landed" in stderr, stderr
    return "committed"


@pytest.mark.parametrize(("hook_name", "expected"), [("pre-commit", "before"),
                                                     ("post-commit", "committed")])
def test_sigterm_in_a_commit_hook(repo: Path, template: Path, tmp_path: Path,
                                  hook_name: str, expected: str) -> None:
    before, head = snapshot(repo), git.Repo(repo).head.commit.hexsha
    mark = tmp_path / "in-hook"
    hook(repo, hook_name, mark)
    run = start_env_add(repo, template)
    try:
        wait_for(mark, run)
        run.send_signal(signal.SIGTERM)
        _, stderr = run.communicate(timeout=30)
    finally:
        run.kill()
    assert run.returncode == 128 + signal.SIGTERM, stderr
    assert "error: stopped by SIGTERM" in stderr
    assert assert_truthful(repo, before, head, stderr) == expected
    (repo / ".git" / "hooks" / hook_name).unlink()
    if expected == "before":  # nothing is in the way of running it again
        again = subprocess.run([sys.executable, "-m", "gitops_gen", "--repo", str(repo), "env",
                                "add", "qa"], capture_output=True, text=True,
                               env=key_env(template), timeout=300)
        assert again.returncode == 0, again.stderr


@pytest.mark.parametrize("delay", [0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0])
def test_sigterm_at_any_moment_leaves_before_or_committed(
        repo: Path, template: Path, delay: float) -> None:
    before, head = snapshot(repo), git.Repo(repo).head.commit.hexsha
    run = start_env_add(repo, template)
    try:
        time.sleep(delay)
        run.send_signal(signal.SIGTERM)
        _, stderr = run.communicate(timeout=60)
    finally:
        run.kill()
    if run.returncode == 0:  # it finished before the signal came
        assert git.Repo(repo).head.commit.summary == SUBJECT
        return
    if run.returncode == -signal.SIGTERM:
        # The default action ended it: still starting (before its handlers), or already done
        # (after the command put the default back, on its way out). Before, or committed whole.
        done = git.Repo(repo).head.commit.hexsha != head
        if done:
            assert git.Repo(repo).head.commit.summary == SUBJECT
            assert not git.Repo(repo).is_dirty(untracked_files=True)
        else:
            assert snapshot(repo) == before
        return
    assert run.returncode == 128 + signal.SIGTERM, stderr
    assert "Traceback" not in stderr and "internal error" not in stderr
    stopped_lines = [ln for ln in stderr.splitlines() if "stopped by SIGTERM" in ln]
    assert len(stopped_lines) == 1
    if "nothing was changed" not in stderr and "landed" not in stderr:
        # stopped before the transaction began: nothing written at all
        assert snapshot(repo) == before and git.Repo(repo).head.commit.hexsha == head
        return
    assert_truthful(repo, before, head, stderr)


# ---- a full or read-only file system ------------------------------------------------------

NAMESPACE_SCRIPT = r"""
import json, os, subprocess, sys
mnt, source, leave, readonly = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4] == "ro"
subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", mnt], check=True)
root = os.path.join(mnt, "repo")
subprocess.run(["cp", "-a", source, root], check=True)
def tree():
    out = {}
    for base, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if d != ".git"]
        for name in files:
            path = os.path.join(base, name)
            out[os.path.relpath(path, root)] = open(path, "rb").read().hex()
    return out
def git(*args):
    return subprocess.run(["git", "-C", root, *args], capture_output=True, text=True).stdout
before, head = tree(), git("rev-parse", "HEAD").strip()
if readonly:
    subprocess.run(["mount", "-o", "remount,ro", mnt], check=True)
else:
    stat = os.statvfs(mnt)
    free = stat.f_bavail * stat.f_frsize
    with open(os.path.join(mnt, "filler"), "wb") as fh:
        fh.write(b"\0" * max(0, free - leave))
run = subprocess.run([sys.executable, "-m", "gitops_gen", "--repo", root, "env", "add", "qa"],
                     capture_output=True, text=True, timeout=600)
print(json.dumps({
    "code": run.returncode, "stderr": run.stderr, "head_before": head,
    "head": git("rev-parse", "HEAD").strip(), "subject": git("log", "-1", "--format=%s"),
    "status": git("status", "--porcelain", "--untracked-files=all"),
    "unchanged": tree() == before,
    "lock": os.path.exists(os.path.join(root, ".git", "index.lock")),
}))
"""


def in_namespace(repo: Path, template: Path, tmp_path: Path, leave: int,
                 mode: str = "rw") -> dict[str, object]:
    if shutil.which("unshare") is None:
        pytest.skip("unshare (util-linux) is not installed: no tmpfs to fill")
    mnt = tmp_path / f"mnt-{leave}-{mode}"
    mnt.mkdir()
    done = subprocess.run(
        ["unshare", "--user", "--map-root-user", "--mount", sys.executable, "-c",
         NAMESPACE_SCRIPT, str(mnt), str(repo), str(leave), mode],
        capture_output=True, text=True, env=key_env(template), timeout=900)
    if done.returncode != 0 and "unshare" in done.stderr:
        pytest.skip(f"no user namespaces here: {done.stderr.strip()}")
    assert done.returncode == 0, done.stderr
    return dict(json.loads(done.stdout.splitlines()[-1]))


@pytest.mark.slow
@pytest.mark.parametrize("leave", [0, 4096, 12288, 24576, 49152, 98304])
def test_a_full_disk_leaves_before_or_committed_and_says_which(
        repo: Path, template: Path, tmp_path: Path, leave: int) -> None:
    result = in_namespace(repo, template, tmp_path, leave)
    stderr = str(result["stderr"])
    assert "internal error" not in stderr and "Traceback" not in stderr, stderr
    assert result["lock"] is False
    if result["code"] == 0:
        assert result["subject"] == f"{SUBJECT}\n" and result["status"] == ""
        return
    assert result["code"] in (1, 2, 3), stderr
    if result["head"] != result["head_before"]:
        assert f"({SUBJECT}) landed" in stderr and result["status"] == "", stderr
    elif "nothing was changed" in stderr or result["code"] == 2:
        assert result["unchanged"] and result["status"] == "", stderr
    else:  # what could not be put back is named, with the command that does it
        assert "git checkout --" in stderr or "git reset -q --" in stderr, stderr


def test_a_read_only_file_system_is_exit_3_and_changes_nothing(
        repo: Path, template: Path, tmp_path: Path) -> None:
    result = in_namespace(repo, template, tmp_path, 0, "ro")
    stderr = str(result["stderr"])
    assert result["code"] == 3, stderr
    assert "internal error" not in stderr and "nothing was changed" in stderr, stderr
    assert result["unchanged"] and result["status"] == "" and result["head"] == result[
        "head_before"]
