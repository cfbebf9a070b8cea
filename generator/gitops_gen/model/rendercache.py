"""Rendered manifests kept on disk by the content that made them, so that a chart and values
rendered once (by validate, render, plan, the service) are not given to Helm again.

A key is the SHA-256 of everything the render depends on: the chart's bytes (ChartFiles.digest),
the values exactly as Helm receives them (the JSON text the SDK passes), the release name and
namespace, whether templates/tests/ are kept, the Helm SDK installed (its distribution, modules
and native library by name, size and change time), this package's version and the code that
turns Helm's output into what is kept (_OWN_CODE, by content), and this format. Nothing else
reaches an offline render in Helm v4.2.3 (the SDK's): the Kubernetes version is the default
Capabilities, fixed when Helm is built (pkg/chart/common/capabilities.go:44,145); templates
cannot read the environment (`env` and `expandenv` are removed, pkg/engine/funcs.go:47-48) nor
resolve names (`getHostByName` answers nothing without EnableDNS, pkg/engine/engine.go:246);
`lookup` finds nothing without a cluster.

Only what is safe to keep is kept:
- renders of encrypted values (ENC[...] strings, plaintext withheld): render --decrypt's never
  reach here (the caller passes no cache), so no secret value from the repository is written;
- renders of charts whose templates call no function that makes a new value each time (rand*,
  uuidv4, gen* keys and certificates, derivePassword, htpasswd: RenderCache.allows): such a
  value may be a secret the chart generates, and each render differs anyway;
- renders that succeeded, as the Rendered objects, only when they are plain JSON data (string
  keys; strings, numbers, booleans, null): a date or binary value YAML built is not kept, so
  what comes back is exactly what was rendered;
- at most max_bytes in all: a process looks at the cache's size before its first entry and
  whenever it has written a quarter of max_bytes since, and removes the least recently used
  entries down to three quarters; an entry larger than a quarter is not kept. Each entry is
  written whole (a temporary file renamed) and read back within a size limit; one that does
  not read back is a miss.

$GITOPS_GEN_RENDER_CACHE sets the size in MiB (0: no cache); the entries live in
$XDG_CACHE_HOME/gitops-gen (else ~/.cache/gitops-gen), beside the Kubernetes schemas.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import re
import tempfile
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ..errors import InputError
from ..repo import limits

SIZE_VAR = "GITOPS_GEN_RENDER_CACHE"
DEFAULT_MIB = 128
FORMAT = 1  # change when what an entry holds changes
MAX_ENTRY_BYTES = 2 * limits.MAX_RENDERED_BYTES  # a render is at most that much text
# Template functions whose output is new each time, secrets among it (a password, a key, a
# certificate: sprig's rand*, uuidv4, gen*, derivePassword; htpasswd salts): a chart that calls
# one is rendered afresh, never kept. https://masterminds.github.io/sprig/ (crypto, strings)
_GENERATES = re.compile(rb"\b(?:rand[A-Za-z]*|uuidv4|gen(?:PrivateKey|CA|CAWithKey|"
                        rb"SelfSignedCert|SelfSignedCertWithKey|SignedCert|SignedCertWithKey)|"
                        rb"derivePassword|htpasswd|bcrypt)\b")
# The modules whose code turns Helm's output into what is kept (and checks the chart before
# Helm loads it): their bytes are part of the key, so another version never reads an entry.
_OWN_CODE = ("model/rendercache.py", "model/chart.py", "repo/yamlio.py", "repo/limits.py")


def cache_root() -> Path:
    """$XDG_CACHE_HOME/gitops-gen, else ~/.cache/gitops-gen."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "gitops-gen"


class RenderCache:
    """Renders by key, in a directory, bounded in bytes."""

    def __init__(self, directory: Path, max_bytes: int) -> None:
        self.directory = directory
        self.max_bytes = max_bytes
        # Written by this process since it last looked at the cache's size: at most a quarter
        # of max_bytes, after a prune down to three quarters, so this process keeps the
        # cache within max_bytes (processes writing at once may each add their quarter).
        self.budget = max_bytes // 4
        self._lock = threading.Lock()
        self._written: int | None = None  # None: not looked at yet

    @staticmethod
    def allows(chart_files: Mapping[str, bytes]) -> bool:
        """Whether renders of this chart may be kept: none of its templates calls a function
        whose output is new each time (_GENERATES)."""
        return not any(_GENERATES.search(data) for rel, data in chart_files.items()
                       if rel.startswith("templates/") or rel.endswith(".tpl"))

    def key(self, chart_digest: str, values_json: str, *, release: str, namespace: str,
            include_tests: bool) -> str:
        what = json.dumps({
            "format": FORMAT, "code": _code_identity(), "helm": _helm_version(),
            "chart": chart_digest, "release": release, "namespace": namespace,
            "tests": include_tests,
        }, sort_keys=True)
        digest = hashlib.sha256(what.encode())
        digest.update(b"\0")
        digest.update(values_json.encode())
        return digest.hexdigest()

    def _path(self, key: str) -> Path:
        return self.directory / key[:2] / f"{key}.json"

    def get(self, key: str) -> list[tuple[str, int, dict[str, Any]]] | None:
        """The documents (source, index, object) kept under key, or None."""
        path = self._path(key)
        try:
            with path.open("rb") as handle:
                data = handle.read(MAX_ENTRY_BYTES + 1)
            if len(data) > MAX_ENTRY_BYTES:
                return None
            entry = json.loads(data)
            if not isinstance(entry, dict) or entry.get("key") != key:
                return None
            docs = [(str(s), int(i), o) for s, i, o in entry["documents"]
                    if isinstance(o, dict)]
        except (OSError, ValueError, TypeError, KeyError, RecursionError):
            return None  # missing, cut short, or not ours: render again
        with contextlib.suppress(OSError):  # a read-only cache still answers
            os.utime(path)  # used now: the last to go
        return docs

    def put(self, key: str, documents: Sequence[tuple[str, int, Mapping[str, Any]]]) -> bool:
        """Keep the documents under key when they are plain JSON data; whether they were."""
        if not all(_is_plain(obj) for _source, _index, obj in documents):
            return False
        text = json.dumps({"key": key, "documents": [list(d) for d in documents]},
                          separators=(",", ":"), allow_nan=False)
        if len(text) > min(MAX_ENTRY_BYTES, self.budget):
            return False
        with self._lock:
            due = self._written is None or self._written + len(text) > self.budget
            self._written = len(text) if due else (self._written or 0) + len(text)
        if due:
            self.prune()
        path = self._path(key)
        try:
            path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".entry-", suffix=".tmp")
            try:
                with os.fdopen(fd, "w") as handle:
                    handle.write(text)
                Path(tmp).replace(path)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise
        except OSError:
            return False  # a read-only or full disk only costs speed
        return True

    def prune(self) -> None:
        """Remove the least recently used entries until the cache holds at most three
        quarters of max_bytes."""
        entries: list[tuple[float, int, Path]] = []
        try:
            for shard in os.scandir(self.directory):
                if not shard.is_dir(follow_symlinks=False):
                    continue
                for entry in os.scandir(shard.path):
                    if entry.is_file(follow_symlinks=False):
                        info = entry.stat(follow_symlinks=False)
                        entries.append((info.st_mtime, info.st_size, Path(entry.path)))
        except OSError:
            return
        total = sum(size for _mtime, size, _path in entries)
        for _mtime, size, path in sorted(entries, key=lambda e: e[0]):
            if total <= self.max_bytes - self.budget:
                break
            path.unlink(missing_ok=True)
            total -= size


def _is_plain(node: Any) -> bool:
    """Whether node is JSON data that reads back as the same Python values."""
    todo = [node]
    while todo:
        item = todo.pop()
        if isinstance(item, dict):
            if not all(isinstance(k, str) for k in item):
                return False
            todo.extend(item.values())
        elif isinstance(item, list):
            todo.extend(item)
        elif isinstance(item, float):
            if not math.isfinite(item):
                return False
        elif not (item is None or isinstance(item, str | int)):
            return False  # bool is an int
    return True


_identity: dict[str, str] = {}


def _code_identity() -> str:
    """This package's version, PyYAML's, and a digest of the modules in _OWN_CODE."""
    if "code" not in _identity:
        import yaml

        from .. import __version__

        package = Path(__file__).resolve().parents[1]
        digest = hashlib.sha256(f"{__version__}\0{yaml.__version__}".encode())
        for rel in _OWN_CODE:
            try:
                digest.update(rel.encode() + b"\0" + (package / rel).read_bytes())
            except OSError:
                digest.update(rel.encode() + b"\0missing")
        _identity["code"] = digest.hexdigest()
    return _identity["code"]


def _helm_version() -> str:
    """Which Helm SDK renders: its distribution's name and version, and its modules and native
    library by name, size and change time; read without loading it (that starts its Go
    runtime) and without a scan of every installed package's metadata."""
    if "helm" not in _identity:
        import importlib.util

        spec = importlib.util.find_spec("helm_python")
        parts = []
        if spec is not None and spec.origin is not None:
            package = Path(spec.origin).parent
            found = [*package.parent.glob("helm_python*.dist-info"), *package.glob("*.py"),
                     *(package / "lib").glob("*")]
            for path in sorted(found):
                try:
                    info = path.stat()
                except OSError:
                    continue
                parts.append(f"{path.name}:{info.st_size}:{info.st_mtime_ns}")
        _identity["helm"] = ",".join(parts) or "unknown"
    return _identity["helm"]


_default: tuple[tuple[str | None, Path], RenderCache | None] | None = None


def default() -> RenderCache | None:
    """The cache $GITOPS_GEN_RENDER_CACHE asks for (None when it is 0); InputError when it is
    not a whole number of MiB."""
    global _default
    raw = os.environ.get(SIZE_VAR)
    asked = (raw, cache_root())
    if _default is not None and _default[0] == asked:
        return _default[1]
    size = DEFAULT_MIB
    if raw is not None and raw.strip():
        if not re.fullmatch(r"[0-9]{1,7}", raw.strip()):
            raise InputError(f"{SIZE_VAR} must be a whole number of MiB",
                             f"set it to e.g. {DEFAULT_MIB}, or 0 to keep no renders")
        size = int(raw.strip())
    cache = RenderCache(asked[1] / f"renders-f{FORMAT}", size * limits.MIB) if size else None
    _default = (asked, cache)
    return cache
