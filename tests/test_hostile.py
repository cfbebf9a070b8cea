"""Hostile input: every file kind validate reads, fed a catalogue of hostile contents. Each
case must end in a finding (exit 1) or exit 2: no traceback, no internal error, within a
generous time, nothing written, nothing from outside the repository in any output.

The catalogue grows: add a content to HOSTILE (or a file kind to KINDS) and every pairing
runs. The whole table goes through the validation worker (checks/isolated.py: its own
process, under its time and memory limits), a few cases at a time; every content, and every
kind with a link out of the repository, also go through the real command line, each its own
`gitops-gen validate` process under a generous timeout.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from gitops_gen.checks import isolated
from gitops_gen.errors import InputError
from gitops_gen.repo import layout
from gitops_gen.repo.limits import RunLimits

from .helpers import copy_repo, template_repo

MARKER = "MARKER-outside-the-repository-7f3a"
CASE_TIMEOUT = 300  # seconds: generous, a hang fails the case, slowness does not
PARALLEL = 3


def alias_bomb() -> bytes:
    lines = ["a: &a [x, x, x, x, x, x, x, x, x]"]
    prev = "a"
    for name in "bcdefghi":
        lines.append(f"{name}: &{name} [" + ", ".join([f"*{prev}"] * 9) + "]")
        prev = name
    return ("\n".join(lines) + "\n").encode()


# name -> bytes to write, or a callable(root, path, outside) that makes the file itself.
Maker = Callable[[Path, str, Path], None]
HOSTILE: dict[str, bytes | Maker] = {
    "alias-bomb": alias_bomb(),
    "alias-cycle": b"a: &a [1, *a]\n",
    "deep-flow": b"[" * 200_000,
    "deep-block": ("".join("  " * n + f"k{n}:\n" for n in range(200)) + "  " * 200 + "v\n"
                   ).encode(),
    "huge-scalar": b"a: " + b"x" * (2 * 1024 * 1024) + b"\n",
    "big-mapping": "".join(f"k{n}: v{n}\n" for n in range(40_000)).encode(),
    "nul": b"a: 1\nb: \x00\n",
    "escape-sequence": b"a: \x1b[2J\x1b[31mred\x1b]8;;http://x\x07\n",
    "non-utf8": b"a: caf\xe9\n",
    "string": b"just a string\n",
    "list": b"- a\n- b\n",
    "number": b"5\n",
    "duplicate-keys": b"a: 1\na: 2\n",
    "impossible-date": b"a: !!timestamp 2020-99-99\n",
    "multi-document": b"a: 1\n---\nb: 2\n",
    "symlink-out": lambda root, path, outside: _link(root, path, outside / "secret.txt"),
    "symlink-in": lambda root, path, _outside: _link(root, path, root / layout.SETTINGS),
    "symlink-dir-out": lambda root, path, outside: _link_parent(root, path, outside),
    "fifo": lambda root, path, _outside: _fifo(root, path),
}

LIMITS = RunLimits(env_seconds=CASE_TIMEOUT / 2, total_seconds=CASE_TIMEOUT)
# Contents a file that is only data (a chart's files/) may hold: no hostile YAML in it is.
DATA_ONLY = {"huge-scalar", "symlink-out", "symlink-in", "symlink-dir-out", "fifo"}

# Pairings where exit 0 is right: a YAML file in overlays/ that no Application reads may hold
# any well-formed YAML (it is still checked for plaintext secrets).
HARMLESS = {("overlays/dev/extra.yaml", name) for name in ("string", "list", "number")}

# The files validate reads; chart templates and the schema are the chart's own kinds.
KINDS = [
    layout.values_path("dev"), layout.secrets_path("dev"), "overlays/dev/extra.yaml",
    layout.app_path("dev"), layout.project_path("dev"), layout.ROOT_APP, layout.SETTINGS,
    layout.SOPS_CONFIG, "chart/values.yaml", "chart/Chart.yaml", "chart/templates/hostile.yaml",
    "chart/values.schema.json", "chart/files/data.txt",
]


def _link(root: Path, path: str, target: Path) -> None:
    (root / path).unlink(missing_ok=True)
    (root / path).parent.mkdir(parents=True, exist_ok=True)
    (root / path).symlink_to(target)


def _link_parent(root: Path, path: str, outside: Path) -> None:
    """The file's directory replaced by a link to an outside directory holding the marker
    under the file's name."""
    parent = (root / path).parent
    if parent == root:
        return _link(root, path, outside / "secret.txt")
    (outside / "dir").mkdir(exist_ok=True)
    (outside / "dir" / Path(path).name).write_text(f"{MARKER}: 1\n")
    import shutil

    shutil.rmtree(parent)
    parent.symlink_to(outside / "dir")
    return None


def _fifo(root: Path, path: str) -> None:
    (root / path).unlink(missing_ok=True)
    (root / path).parent.mkdir(parents=True, exist_ok=True)
    os.mkfifo(root / path)


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    def leaky_template(root: Path) -> None:
        # A template that prints a chart file: what a link there could expose.
        (root / "chart" / "files").mkdir()
        (root / "chart" / "files" / "data.txt").write_text("data\n")
        (root / "chart" / "templates" / "hostile.yaml").write_text(
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: files\ndata:\n"
            "  k: {{ .Files.Get \"files/data.txt\" | quote }}\n")

    return template_repo(tmp_path_factory.mktemp("hostile"), then=leaky_template)


@dataclass
class Outcome:
    harmless: bool
    case: str
    code: int | None
    stdout: str
    stderr: str
    unchanged: bool


def prepare(template: Path, base: Path, kind: str, name: str) -> Path:
    """A copy of the template with the hostile content in kind, an outside marker beside it."""
    work = base / f"{name}--{kind.replace('/', '_')}"
    outside = work / "outside"
    outside.mkdir(parents=True)
    (outside / "secret.txt").write_text(f"{MARKER}\n")
    root = copy_repo(template, work)
    hostile = HOSTILE[name]
    if callable(hostile):
        hostile(root, kind, outside)
    else:
        (root / kind).parent.mkdir(parents=True, exist_ok=True)
        (root / kind).write_bytes(hostile)
    return root


def run_cli(template: Path, base: Path, kind: str, name: str) -> Outcome:
    """The case through `gitops-gen validate --format json`, a process of its own."""
    case = f"{name} in {kind} (command line)"
    harmless = (kind, name) in HARMLESS
    root = prepare(template, base / "cli", kind, name)
    before = snapshot_safely(root)
    try:
        done = subprocess.run(
            [sys.executable, "-m", "gitops_gen", "--repo", str(root), "validate", "--format",
             "json"], capture_output=True, timeout=CASE_TIMEOUT, env=dict(os.environ))
    except subprocess.TimeoutExpired:
        return Outcome(harmless, case, None, "", "timed out", True)
    return Outcome(harmless, case, done.returncode, done.stdout.decode(errors="replace"),
                   done.stderr.decode(errors="replace"), snapshot_safely(root) == before)


def run_worker(template: Path, base: Path, kind: str, name: str) -> Outcome:
    """The case through the validation worker; InputError stands for exit 2."""
    case = f"{name} in {kind}"
    harmless = (kind, name) in HARMLESS
    root = prepare(template, base / "worker", kind, name)
    before = snapshot_safely(root)
    try:
        report = isolated.validate(root, run_limits=LIMITS)
    except InputError as exc:
        return Outcome(harmless, case, 2, "", f"error: {exc.render()}\n",
                       snapshot_safely(root) == before)
    except Exception as exc:  # noqa: BLE001 - any other end is what this test looks for
        return Outcome(harmless, case, 3, "", f"internal error: {type(exc).__name__}: {exc}",
                       snapshot_safely(root) == before)
    return Outcome(harmless, case, 1 if not report.ok else 0, json.dumps(report.to_dict()), "",
                   snapshot_safely(root) == before)


def snapshot_safely(root: Path) -> object:
    """helpers.snapshot, with links and FIFOs recorded as such, never opened."""
    entries = {}
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root).as_posix()
        if rel.startswith(".git/") or rel == ".git":
            continue
        if path.is_symlink():
            entries[rel] = f"-> {path.readlink()}"
        elif path.is_fifo():
            entries[rel] = "fifo"
        elif path.is_file():
            entries[rel] = path.read_bytes()
    status = subprocess.run(["git", "-C", str(root), "status", "--porcelain"],
                            capture_output=True, check=True).stdout
    return entries, status


def problems_of(outcome: Outcome) -> list[str]:
    found = []
    if outcome.code is None:
        return [f"{outcome.case}: no answer within {CASE_TIMEOUT} s"]
    if outcome.code not in ((0, 1, 2) if outcome.harmless else (1, 2)):
        found.append(f"{outcome.case}: exit {outcome.code}: {outcome.stderr[-300:]}")
    text = outcome.stdout + outcome.stderr
    for bad in ("Traceback", "internal error", MARKER):
        if bad in text:
            found.append(f"{outcome.case}: {bad!r} in the output: {text[-300:]}")
    if outcome.code == 1:
        report = json.loads(outcome.stdout)
        if report["ok"] or not report["findings"]:
            found.append(f"{outcome.case}: exit 1 without an error finding")
    if outcome.code == 2 and not outcome.stderr.startswith("error: "):
        found.append(f"{outcome.case}: exit 2 without a one-line error")
    if not outcome.unchanged:
        found.append(f"{outcome.case}: the repository changed")
    return found


def contents_for(kind: str) -> list[str]:
    return [n for n in HOSTILE if n in DATA_ONLY] if kind.startswith("chart/files/") else list(
        HOSTILE)


def run_all(cases: list[tuple[Callable[..., Outcome], str, str]], template: Path,
            base: Path) -> list[str]:
    with ThreadPoolExecutor(max_workers=PARALLEL) as pool:
        outcomes = list(pool.map(lambda c: c[0](template, base, c[1], c[2]), cases))
    return [p for outcome in outcomes for p in problems_of(outcome)]


def test_the_template_itself_is_clean(template: Path) -> None:
    report = isolated.validate(template, run_limits=LIMITS)
    assert report.ok, [f.to_dict() for f in report.errors]


@pytest.mark.slow
@pytest.mark.parametrize("kind", KINDS)
def test_every_hostile_content_is_a_finding_or_exit_2(template: Path, tmp_path: Path,
                                                     kind: str) -> None:
    cases = [(run_worker, kind, name) for name in contents_for(kind)]
    problems = run_all(cases, template, tmp_path)
    assert not problems, "\n".join(problems)


@pytest.mark.slow
def test_the_command_line_holds_too(template: Path, tmp_path: Path) -> None:
    cases = [(run_cli, layout.values_path("dev"), name) for name in HOSTILE]
    cases += [(run_cli, kind, "symlink-out") for kind in KINDS if kind != layout.values_path(
        "dev")]
    problems = run_all(cases, template, tmp_path)
    assert not problems, "\n".join(problems)
