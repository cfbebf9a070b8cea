"""How much work any input may cause: the caps every reader applies and the worker's limits.

`validate` runs on pull requests, so a repository may be hostile. Past each cap below the input
becomes a finding (or exit 2), never unbounded time or memory. The sizes fit the repositories
this tool writes many times over and are fixed; the three run-time limits (time per
environment, time per validation, memory of the worker process) can be changed through
GITOPS_GEN_ENV_TIMEOUT, GITOPS_GEN_VALIDATE_TIMEOUT and GITOPS_GEN_MEMORY_MB.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from ..errors import InputError

MIB = 1024 * 1024

# Files read from the repository (chart/, overlays/, gitops/, .sops.yaml, .gitops-gen.yaml).
MAX_FILE_BYTES = 1 * MIB  # one file (Helm itself stops at 5 MiB per chart file)
MAX_TREE_BYTES = 32 * MIB  # all of them together
MAX_TREE_FILES = 5000  # entries walked under chart/, overlays/ and gitops/
MAX_TREE_DEPTH = 16  # directory levels under each of them

# YAML loaded round-trip (the files people edit: overlays, SOPS files, Argo CD manifests,
# .sops.yaml, .gitops-gen.yaml). ruamel.yaml parses some 50 KB a second on a busy CI machine;
# these files are 1-3 KB.
MAX_EDITED_YAML_BYTES = 256 * 1024

# One YAML or JSON document.
MAX_DEPTH = 64  # nested mappings and sequences (Kubernetes objects need about 20)
MAX_NODES = 100_000  # values once aliases are expanded
MAX_SCALAR_CHARS = 4 * MIB  # characters of all scalars once aliases are expanded

# What one environment renders and what one validation reports.
MAX_RENDERED_BYTES = 16 * MIB
MAX_FINDINGS = 1000

ENV_TIMEOUT_VAR = "GITOPS_GEN_ENV_TIMEOUT"
VALIDATE_TIMEOUT_VAR = "GITOPS_GEN_VALIDATE_TIMEOUT"
MEMORY_VAR = "GITOPS_GEN_MEMORY_MB"


@dataclass(frozen=True)
class RunLimits:
    """Limits of one worker process (repo/proc.py starts it, checks/isolated.py watches it).

    env_seconds bounds one environment's checks (its Helm rendering included) or one render;
    total_seconds bounds a whole validation; memory_mb bounds the worker's data segment
    (RLIMIT_DATA, which counts the Go runtime's and Python's heaps alike).
    """

    env_seconds: float = 60.0
    total_seconds: float = 300.0
    memory_mb: int = 1024

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> RunLimits:
        """The defaults, changed by GITOPS_GEN_* variables; a bad value names its variable."""
        default = cls()
        return cls(
            env_seconds=_number(environ, ENV_TIMEOUT_VAR, default.env_seconds, 0.1, 3600),
            total_seconds=_number(environ, VALIDATE_TIMEOUT_VAR, default.total_seconds, 0.1,
                                  86400),
            memory_mb=int(_number(environ, MEMORY_VAR, default.memory_mb, 256, 1 << 20)),
        )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RunLimits:
        return cls(float(data["env_seconds"]), float(data["total_seconds"]),
                   int(data["memory_mb"]))


def _number(environ: Mapping[str, str], var: str, default: float, low: float,
            high: float) -> float:
    raw = environ.get(var, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        value = float("nan")
    if not low <= value <= high:  # also refuses nan
        raise InputError(f"{var} must be a number from {low:g} to {high:g}",
                         f"set it to e.g. {default:g}, or unset it for the default")
    return value
