"""Rendered manifests kept on disk by the content that made them, so that a chart and values
rendered once (by validate, render, plan, the service) are not given to Helm again.

A key is the SHA-256 of everything the render depends on: the chart's bytes (ChartFiles.digest),
the values exactly as Helm receives them (the JSON text the SDK passes), the release name and
namespace, whether templates/tests/ are kept, the Helm SDK installed (its native library and
binding, by name, size and change time) and this format. Nothing
else reaches the render: it runs offline (the `lookup` function finds nothing, no cluster is
asked), and its Kubernetes version is the SDK's default. A template that calls `now` or `rand*`
renders differently each time; the kept render is one of those renders, which is what a
validation checks anyway.

Only what is safe to keep is kept:
- renders of encrypted values (ENC[...] strings, plaintext withheld): render --decrypt's never
  reach here (the caller passes no cache), so no secret is written to disk;
- renders that succeeded, as the Rendered objects, only when they are plain JSON data (string
  keys; strings, numbers, booleans, null): a date or binary value YAML built is not kept, so
  what comes back is exactly what was rendered;
- at most max_bytes in all (oldest used first out), each entry written whole (a temporary file
  renamed) and read back within a size limit; an entry that does not read back is a miss.

$GITOPS_GEN_RENDER_CACHE sets the size in MiB (0: no cache); the entries live in
$XDG_CACHE_HOME/gitops-gen (else ~/.cache/gitops-gen), beside the Kubernetes schemas.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import tempfile
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ..errors import InputError
from ..repo import limits

SIZE_VAR = "GITOPS_GEN_RENDER_CACHE"
DEFAULT_MIB = 128
FORMAT = 1  # change when what an entry holds, or how a render becomes Rendered, changes
MAX_ENTRY_BYTES = 2 * limits.MAX_RENDERED_BYTES  # a render is at most that much text
_PRUNE_EVERY = 64  # puts between two looks at the cache's size


def cache_root() -> Path:
    """$XDG_CACHE_HOME/gitops-gen, else ~/.cache/gitops-gen."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "gitops-gen"


class RenderCache:
    """Renders by key, in a directory, bounded in bytes."""

    def __init__(self, directory: Path, max_bytes: int) -> None:
        self.directory = directory
        self.max_bytes = max_bytes
        self._lock = threading.Lock()
        self._puts = 0

    def key(self, chart_digest: str, values_json: str, *, release: str, namespace: str,
            include_tests: bool) -> str:
        what = json.dumps({
            "format": FORMAT, "helm": _helm_version(), "chart": chart_digest,
            "release": release, "namespace": namespace, "tests": include_tests,
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
        if len(text) > MAX_ENTRY_BYTES:
            return False
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
        with self._lock:
            self._puts += 1
            due = self._puts % _PRUNE_EVERY == 1
        if due:
            self.prune()
        return True

    def prune(self) -> None:
        """Remove the least recently used entries until the cache holds at most 3/4 of
        max_bytes, when it holds more than max_bytes."""
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
        if total <= self.max_bytes:
            return
        for _mtime, size, path in sorted(entries, key=lambda e: e[0]):
            if total <= self.max_bytes * 3 // 4:
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


_helm: str | None = None


def _helm_version() -> str:
    """Which Helm SDK renders: its package's native library and binding (names, sizes, change
    times), read without loading it (that starts its Go runtime) and without a scan of every
    installed package's metadata."""
    global _helm
    if _helm is None:
        import importlib.util

        spec = importlib.util.find_spec("helm_python")
        parts = []
        if spec is not None and spec.origin is not None:
            package = Path(spec.origin).parent
            for path in sorted([package / "_native.py", *(package / "lib").glob("*")]):
                try:
                    info = path.stat()
                except OSError:
                    continue
                parts.append(f"{path.name}:{info.st_size}:{info.st_mtime_ns}")
        _helm = ",".join(parts) or "unknown"
    return _helm


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
        size = int(raw) if raw.strip().isdigit() and len(raw.strip()) <= 7 else -1
        if size < 0:
            raise InputError(f"{SIZE_VAR} must be a whole number of MiB",
                             f"set it to e.g. {DEFAULT_MIB}, or 0 to keep no renders")
    cache = RenderCache(asked[1] / f"renders-f{FORMAT}", size * limits.MIB) if size else None
    _default = (asked, cache)
    return cache
