"""The worker process: one validation or one render, under a memory limit, reporting as it goes.

Run as `python -m gitops_gen.checks.worker` by checks/isolated.py, never by hand. It reads one
JSON request line on stdin, limits its own data segment (RLIMIT_DATA, which the Go runtime
inside the Helm SDK honours too) and CPU time, then writes JSON lines on stdout:

    {"loaded": true}                   the checks are loaded: it reads its request now
    {"environments": [...]}            the environments a validation covers
    {"start": env}                     an environment's checks (its rendering) begin
    {"done": env|null, "findings": []} findings of an environment, or of the repository
    {"report": {...}}                  the whole report: the validation ended
    {"rendered": [...]}                the objects of a render
    {"error": {...}}                   a GitopsGenError (class, exit code, message, fix)
    {"internal": "Type: message"}      anything else (a bug: the parent reports it as one)

When its stdin closes (the parent ended, however), it exits at once. It loads the checks
before it reads its request, so that a worker started early (isolated.start_early) is ready
when the request comes.
"""

from __future__ import annotations

import json
import os
import resource
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

from ..errors import GitopsGenError
from ..repo.limits import MIB, RunLimits
from .findings import Finding
from .isolated import HELM_FIRST

_write_lock = threading.Lock()


def send(out: TextIO, message: dict[str, Any]) -> None:
    line = json.dumps(message, ensure_ascii=True, separators=(",", ":"), default=str)
    with _write_lock:
        out.write(line + "\n")
        out.flush()


class Stream:
    """validate_repo's progress, written as it happens."""

    def __init__(self, out: TextIO) -> None:
        self.out = out

    def environments(self, names: Sequence[str]) -> None:
        send(self.out, {"environments": list(names)})

    def started(self, env: str) -> None:
        send(self.out, {"start": env})

    def finished(self, env: str | None, findings: Sequence[Finding]) -> None:
        send(self.out, {"done": env, "findings": [f.to_dict() for f in findings]})


def limit_self(limits: RunLimits) -> None:
    """Bound this process: data segment (heaps, Go's included) and CPU time (in case the
    parent is gone and nobody stops it)."""
    data = limits.memory_mb * MIB
    resource.setrlimit(resource.RLIMIT_DATA, (data, data))
    cpu = int(limits.total_seconds) + 30
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 5))


def _watch_parent(stdin: Any) -> None:
    """Exit as soon as the parent's end of stdin closes."""
    def wait() -> None:
        try:
            while stdin.read(65536):
                pass
        finally:
            os._exit(70)

    threading.Thread(target=wait, daemon=True, name="parent-watch").start()


def error_message(exc: GitopsGenError) -> dict[str, Any]:
    findings = getattr(exc, "findings", None)
    return {"error": {
        "class": type(exc).__name__, "exit_code": exc.exit_code, "message": exc.message,
        "fix": exc.fix, "env": getattr(exc, "env", None),
        "findings": [f.to_dict() for f in findings] if findings is not None else None,
    }}


def handle(request: dict[str, Any], out: TextIO) -> None:
    root = Path(request["root"])
    if request["op"] == "validate":
        from .validate import RULES, validate_repo

        report = validate_repo(root, request.get("envs"), request.get("kube_version"),
                               progress=Stream(out))
        send(out, {"report": {**report.to_dict(), "checked_rules": list(RULES)}})
    elif request["op"] == "render":
        from .rendering import render_environment

        rendered = render_environment(root, request["env"], decrypt=bool(request["decrypt"]))
        send(out, {"rendered": [{"source": r.source, "index": r.index, "obj": r.obj}
                                for r in rendered]})
    else:
        raise ValueError(f"unknown request {request['op']!r}")


def main(argv: Sequence[str] | None = None) -> int:
    """The worker's life: load, say so, take one request, answer it. argv: its flags
    (sys.argv's by default)."""
    # What every request needs, loaded before the request is read: a worker started ahead of
    # its request (isolated.start_early) does this while its parent is still starting.
    from . import rendering, validate  # noqa: F401 - loaded for the requests below

    flags = sys.argv[1:] if argv is None else argv
    if HELM_FIRST in flags:  # a spare of the service (isolated.keep_spares)
        import helm_python  # noqa: F401 - its Go runtime starts now, not at the first render

        from ..repo.config import DEFAULT_KUBE_VERSION
        from . import kubeschema

        kubeschema.warm(DEFAULT_KUBE_VERSION)  # the kinds validated before, compiled now
    send(sys.stdout, {"loaded": True})
    stdin = sys.stdin.buffer
    line = stdin.readline()
    if not line:
        return 0  # an early worker that no request came to
    request = json.loads(line)
    limit_self(RunLimits.from_dict(request["limits"]))
    _watch_parent(stdin)
    out = sys.stdout
    try:
        handle(request, out)
    except GitopsGenError as exc:
        send(out, error_message(exc))
    except MemoryError:
        send(out, {"limit": "memory"})
        return 3
    except Exception as exc:  # noqa: BLE001 - reported to the parent, which shows it as a bug
        text = " ".join(str(exc).split())[:500]
        send(out, {"internal": f"{type(exc).__name__}: {text}"})
    return 0


if __name__ == "__main__":
    code = main()
    sys.stdout.flush()
    # Its answer is out (send flushes): end now, without the interpreter's teardown (every
    # module's objects, the Go runtime's) that the parent would otherwise wait for.
    os._exit(code)
