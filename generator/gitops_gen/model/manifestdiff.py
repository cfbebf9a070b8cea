"""Rendered-manifest diff between two trees, object by object, with secrets masked.

Secret data never appears: a Secret's keys show as added, removed, changed or unchanged.
"""

from __future__ import annotations

import difflib
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ..repo import yamlio
from .chart import Rendered

MASKED = "(masked)"


@dataclass(frozen=True)
class ObjectDiff:
    key: str  # Kind/name
    status: str  # added | removed | changed
    text: str  # unified diff, secrets masked


def _digest(value: Any) -> str:
    return hashlib.sha256(repr(value).encode()).hexdigest()


def _mask(obj: dict[str, Any]) -> dict[str, Any]:
    """A copy of obj whose Secret values are replaced by a marker."""
    if obj.get("kind") != "Secret":
        return obj
    out = dict(obj)
    for field in ("data", "stringData"):
        if isinstance(obj.get(field), dict):
            out[field] = {k: MASKED for k in obj[field]}
    return out


def _secret_changes(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    lines = []
    for field in ("data", "stringData"):
        a, b = old.get(field) or {}, new.get(field) or {}
        for key in sorted(set(a) | set(b)):
            if key not in a:
                lines.append(f"{field}.{key}: added")
            elif key not in b:
                lines.append(f"{field}.{key}: removed")
            elif _digest(a[key]) != _digest(b[key]):
                lines.append(f"{field}.{key}: changed")
    return lines


def _index(rendered: Sequence[Rendered]) -> dict[str, dict[str, Any]]:
    return {f"{r.kind}/{r.name}": r.obj for r in rendered}


def diff_objects(base: Sequence[Rendered], head: Sequence[Rendered]) -> list[ObjectDiff]:
    a, b = _index(base), _index(head)
    out = []
    for key in sorted(set(a) | set(b)):
        old, new = a.get(key), b.get(key)
        if old == new:
            continue
        old_text = yamlio.dump(_mask(old)) if old is not None else ""
        new_text = yamlio.dump(_mask(new)) if new is not None else ""
        body = "".join(difflib.unified_diff(
            old_text.splitlines(keepends=True), new_text.splitlines(keepends=True),
            f"base/{key}", f"head/{key}"))
        if old is not None and new is not None and old.get("kind") == "Secret":
            body += "".join(f"  {line}\n" for line in _secret_changes(old, new))
        status = "added" if old is None else "removed" if new is None else "changed"
        out.append(ObjectDiff(key, status, body))
    return out
