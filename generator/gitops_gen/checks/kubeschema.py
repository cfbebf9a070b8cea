"""Strict, fast validation of Kubernetes objects against kubernetes-validate's bundled schemas.

kubernetes-validate re-reads and re-resolves a schema for every object. Here each
(Kubernetes version, kind, apiVersion) gets one self-contained schema: the type's own file
with only the definitions it reaches inlined under "$defs". That schema is cached on disk
(keyed by kubernetes-validate's version and the Kubernetes version), compiled with
jsonschema-rs once per process, and reused. The verdict is the same as
`kubernetes_validate.validate(obj, version, strict=True)`; the messages are written for
people by schemamessages ("spec.template.spec.containers[0]: unknown field 'foo'").
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import tempfile
import threading
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema_rs

from ..errors import InputError, MissingError
from ..model import rendercache
from .rules import Rule
from .schemamessages import SchemaProblem, describe

RULE = "k8s-schema"
RULE_NO_SCHEMA = "k8s-schema-unknown-kind"
RULES = (
    Rule(RULE, "every rendered object is valid against the Kubernetes schema of its version"),
    Rule(RULE_NO_SCHEMA, "every rendered kind and apiVersion exists in that Kubernetes version"),
)
_FORMAT = 1  # bump when the layout of the built schemas changes
_MARKER = "x-gitops-gen"
_VERSION = re.compile(r"^v?(\d+)\.(\d+)(?:\.\d+)?(?:[-+].*)?$")
_BUNDLE_DIR = re.compile(r"^v(\d+)\.(\d+)\.\d+-local-strict$")
_SAFE_FILE = re.compile(r"^[a-z0-9]+-[a-z0-9]+(?:-[a-z0-9]+)?\.json$")  # no path tricks

# --- versions ---------------------------------------------------------------------------------


@cache
def _package_dir() -> Path:
    """kubernetes-validate's folder, found without importing it (it pulls in jsonschema)."""
    spec = importlib.util.find_spec("kubernetes_validate")
    if spec is None or spec.origin is None:
        raise MissingError("kubernetes-validate is not installed",
                           "pip install kubernetes-validate")
    return Path(spec.origin).resolve().parent


@cache
def _kv_version() -> str:
    """kubernetes-validate's version, from the name of its dist-info folder beside it: what
    importlib.metadata reads too, without importing it (and the email package) at start-up."""
    found = list(_package_dir().parent.glob("kubernetes_validate-*.dist-info"))
    if len(found) == 1:
        return found[0].name.removeprefix("kubernetes_validate-").removesuffix(".dist-info")
    import importlib.metadata  # any other kind of install

    return importlib.metadata.version("kubernetes-validate")


@cache
def _bundles() -> dict[tuple[int, int], Path]:
    root = _package_dir() / "kubernetes-json-schema"
    out: dict[tuple[int, int], Path] = {}
    for entry in root.iterdir():
        m = _BUNDLE_DIR.match(entry.name)
        if m and entry.is_dir():
            out[(int(m.group(1)), int(m.group(2)))] = entry
    return dict(sorted(out.items()))


def supported_versions() -> list[str]:
    """Kubernetes versions with bundled schemas, oldest first ("1.25" ... "1.37")."""
    return [f"{major}.{minor}" for major, minor in _bundles()]


def resolve_version(version: str) -> str:
    """The bundled version used for `version`: the newest one not newer than it."""
    supported = supported_versions()
    span = f"{supported[0]} to {supported[-1]}" if supported else "none"
    m = _VERSION.match(version.strip())
    if not m:
        raise InputError(
            f"{version!r} is not a Kubernetes version",
            f"pass --kube-version as MAJOR.MINOR, from {span}",
        )
    asked = (int(m.group(1)), int(m.group(2)))
    candidates = [v for v in _bundles() if v <= asked]
    if not candidates or asked > max(_bundles()):
        raise InputError(
            f"Kubernetes {asked[0]}.{asked[1]} is not supported (schemas exist for {span})",
            f"pass --kube-version with a version from {span}",
        )
    major, minor = candidates[-1]
    return f"{major}.{minor}"


# --- building self-contained schemas ----------------------------------------------------------


def cache_dir() -> Path:
    """Where built schemas are kept: $XDG_CACHE_HOME/gitops-gen, else ~/.cache/gitops-gen."""
    return rendercache.cache_root() / f"kubeschema-kv{_kv_version()}-f{_FORMAT}"


def schema_filename(kind: str, api_version: str) -> str:
    """kubernetes-validate's file name for a type: apps/v1 Deployment -> deployment-apps-v1.json."""
    group_version = re.sub(r"^([^./]*)(?:\.[^/]*)?/", r"\1-", api_version)
    return f"{kind.lower()}-{group_version}.json"


@cache
def _definitions(version: str) -> Mapping[str, Any]:
    path = _bundles()[_key(version)] / "_definitions.json"
    defs: Mapping[str, Any] = json.loads(path.read_text())["$defs"]
    return defs


def _key(version: str) -> tuple[int, int]:
    major, minor = version.split(".")
    return int(major), int(minor)


def _refs(node: Any, found: set[str], todo: list[str]) -> None:
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and "/$defs/" in ref:
            name = ref.split("/$defs/", 1)[1]
            if name not in found:
                found.add(name)
                todo.append(name)
        for value in node.values():
            _refs(value, found, todo)
    elif isinstance(node, list):
        for value in node:
            _refs(value, found, todo)


def _slim(node: Any) -> Any:
    """Drop what validation ignores (descriptions, x-kubernetes-*) and localise $refs."""
    if isinstance(node, dict):
        out: dict[str, Any] = {}
        for key, value in node.items():
            if key == "description" and isinstance(value, str):
                continue
            if key.startswith("x-kubernetes-"):
                continue
            if key == "$ref" and isinstance(value, str):
                out[key] = "#/$defs/" + value.split("/$defs/", 1)[1]
            elif key in ("properties", "$defs", "patternProperties") and isinstance(value, dict):
                out[key] = {name: _slim(sub) for name, sub in value.items()}
            else:
                out[key] = _slim(value)
        return out
    if isinstance(node, list):
        return [_slim(value) for value in node]
    return node


def build_schema(version: str, filename: str) -> dict[str, Any] | None:
    """The self-contained schema of one type, or None when the bundle has no such file."""
    source = _bundles()[_key(version)] / filename
    if not source.is_file():
        return None
    top = json.loads(source.read_text())
    defs = _definitions(version)
    found: set[str] = set()
    todo: list[str] = []
    _refs(top, found, todo)
    while todo:
        _refs(defs[todo.pop()], found, todo)
    schema: dict[str, Any] = _slim({k: v for k, v in top.items() if k != "$id"})
    schema["$defs"] = {name: _slim(defs[name]) for name in sorted(found)}
    schema[_MARKER] = _marker(version, filename)
    return schema


def _marker(version: str, filename: str) -> dict[str, Any]:
    return {
        "kubernetes-validate": _kv_version(),
        "kubernetes": version,
        "source": filename,
        "format": _FORMAT,
    }


def _write_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
        Path(tmp).chmod(0o644)
        Path(tmp).replace(path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def cached_schema(version: str, filename: str) -> dict[str, Any] | None:
    """The schema from the disk cache; built (and cached) when missing or unreadable."""
    path = cache_dir() / f"v{version}" / filename
    try:
        data = json.loads(path.read_text())
        if isinstance(data, dict) and data.get(_MARKER) == _marker(version, filename):
            return data
    except (OSError, ValueError):
        pass  # missing or corrupt: rebuild below
    schema = build_schema(version, filename)
    if schema is not None:
        try:
            _write_atomic(path, json.dumps(schema, separators=(",", ":")))
        except OSError:
            pass  # a read-only cache only costs speed
    return schema


@dataclass(frozen=True)
class _Compiled:
    validator: jsonschema_rs.Validator
    schema: dict[str, Any]


_compiled: dict[tuple[str, str], _Compiled | None] = {}
_lock = threading.Lock()


def _validator(version: str, filename: str) -> _Compiled | None:
    key = (version, filename)
    try:
        return _compiled[key]
    except KeyError:
        pass
    with _lock:
        if key not in _compiled:
            schema = cached_schema(version, filename)
            _compiled[key] = (
                None
                if schema is None
                else _Compiled(
                    jsonschema_rs.Draft202012Validator(schema, validate_formats=False), schema
                )
            )
        return _compiled[key]


WARM_MAX = 64  # schemas warm() compiles at most


def warm(version: str) -> int:
    """Compile now the schemas this machine has built before for `version` (the kinds it has
    validated): for a worker that waits for its request (a spare of the service), so that its
    validation finds them compiled. How many; nothing built before is nothing to do."""
    version = resolve_version(version)
    try:
        names = sorted(entry.name for entry in os.scandir(cache_dir() / f"v{version}")
                       if _SAFE_FILE.fullmatch(entry.name))[:WARM_MAX]
    except OSError:
        return 0
    return sum(1 for name in names if _validator(version, name) is not None)


def forget_compiled() -> None:
    """Drop this process's compiled schemas (the disk cache stays)."""
    with _lock:
        _compiled.clear()


# --- validating -------------------------------------------------------------------------------


def validate_object(
    obj: Mapping[str, Any], version: str, skip_kinds: Collection[str] = ()
) -> list[SchemaProblem]:
    """Every problem of one object for Kubernetes `version` (unknown fields are problems).

    A kind in `skip_kinds` (custom resources checked elsewhere) yields no problems; any other
    kind/apiVersion without a schema yields one no-schema problem.
    """
    return _validate(obj, resolve_version(version), frozenset(skip_kinds))


def validate_objects(
    objs: Iterable[Mapping[str, Any]], version: str, skip_kinds: Collection[str] = ()
) -> list[list[SchemaProblem]]:
    """validate_object for many objects; the result lines up with the input."""
    resolved = resolve_version(version)
    skip = frozenset(skip_kinds)
    return [_validate(obj, resolved, skip) for obj in objs]


def _validate(obj: Any, version: str, skip: frozenset[str]) -> list[SchemaProblem]:
    if not isinstance(obj, Mapping):
        return [SchemaProblem("", "a Kubernetes object must be a mapping", "type")]
    kind, api_version = obj.get("kind"), obj.get("apiVersion")
    if not (isinstance(kind, str) and kind and isinstance(api_version, str) and api_version):
        return [SchemaProblem("", "every object needs a string apiVersion and kind", "required")]
    if kind in skip:
        return []
    filename = schema_filename(kind, api_version)
    compiled = _validator(version, filename) if _SAFE_FILE.fullmatch(filename) else None
    if compiled is None:
        return [_no_schema(kind, api_version, version)]
    try:
        if compiled.validator.is_valid(obj):
            return []
        errors = list(compiled.validator.iter_errors(obj))
    except ValueError:  # YAML dates or non-string keys: compare what the API server would see
        plain = _jsonable(obj)
        if compiled.validator.is_valid(plain):
            return []
        errors = list(compiled.validator.iter_errors(plain))
    problems: list[SchemaProblem] = []
    for error in errors:
        problems.extend(describe(error, compiled.schema, obj))
    return problems


def _jsonable(node: Any) -> Any:
    if isinstance(node, Mapping):
        return {str(k): _jsonable(v) for k, v in node.items()}
    if isinstance(node, (list, tuple)):
        return [_jsonable(v) for v in node]
    if node is None or isinstance(node, (str, int, float, bool)):
        return node
    return node.isoformat() if hasattr(node, "isoformat") else str(node)


def _no_schema(kind: str, api_version: str, version: str) -> SchemaProblem:
    others: list[str] = []
    pattern = f"{kind.lower()}-*.json" if kind.isalnum() else "-"
    for path in sorted(_bundles()[_key(version)].glob(pattern)):
        schema = json.loads(path.read_text())
        enum = schema.get("properties", {}).get("apiVersion", {}).get("enum") or []
        if enum and schema.get("properties", {}).get("kind", {}).get("enum") == [kind]:
            others.extend(str(v) for v in enum)
    hint = (
        f"Kubernetes {version} serves {kind} as {', '.join(others)}: change apiVersion"
        if others
        else "check the kind and apiVersion, or render for a Kubernetes version that has it"
    )
    return SchemaProblem(
        "", f"no schema for {kind} {api_version} in Kubernetes {version}; {hint}", "no-schema"
    )
