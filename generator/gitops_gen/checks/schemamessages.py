"""Schema problems in words for people: jsonschema-rs errors as SchemaProblems.

Shared by the Kubernetes (kubeschema) and Argo CD (argoschema) checks: a path written as
"spec.template.spec.containers[0]", the value shown as JSON, and a sentence per kind of
problem ("unknown field 'foo' (did you mean 'bar'?)", "expected integer, got string "3"").
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import jsonschema_rs

_IDENT = re.compile(r"^[A-Za-z_$][A-Za-z0-9_$-]*$")

Location = tuple[str | int, ...]


@dataclass(frozen=True)
class SchemaProblem:
    """One way an object breaks its schema.

    `path` names where the problem sits ("spec.template.spec.containers[0]", "" for the
    object itself); `location` is the same place as keys and indexes, and for an unknown
    field it ends with that field, so a caller can find its line. `keyword` says what kind
    of problem it is: unknown-field, type, required, enum, no-schema, ...
    """

    path: str
    message: str
    keyword: str = "schema"
    location: Location = ()

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message


def format_path(parts: Sequence[str | int]) -> str:
    """["spec", "containers", 0, "app.kubernetes.io/name"] -> spec.containers[0]["app..."]."""
    out = ""
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        elif _IDENT.fullmatch(part):
            out += f".{part}" if out else part
        else:
            out += f"[{json.dumps(part)}]"
    return out


def show(value: Any, limit: int = 40) -> str:
    """A value as it would look in JSON, shortened."""
    text = json.dumps(value, default=str, ensure_ascii=False)
    return text if len(text) <= limit else text[: limit - 3] + "..."


_JSON_TYPES = ((bool, "boolean"), (int, "integer"), (float, "number"), (str, "string"),
               (Mapping, "object"), (list, "array"), (type(None), "null"))


def json_type(value: Any) -> str:
    return next((name for t, name in _JSON_TYPES if isinstance(value, t)), type(value).__name__)


def _subschema(schema: Mapping[str, Any], path: Sequence[str | int]) -> Any:
    node: Any = schema
    for part in path:
        if part == "$ref" and isinstance(node, Mapping):
            node = schema.get("$defs", {}).get(str(node["$ref"]).rsplit("/", 1)[-1], {})
        elif isinstance(node, Mapping):
            node = node.get(part, {})
        elif isinstance(node, list) and isinstance(part, int) and part < len(node):
            node = node[part]
        else:
            return {}
    return node


def _one_of_message(error: Any) -> str:
    value = error.instance
    if isinstance(error.kind, jsonschema_rs.ValidationErrorKind.OneOfMultipleValid):
        if value is None:
            return "null is not allowed here; give a value or remove the field"
        return f"{show(value)} matches more than one allowed form"
    where = "/".join(str(p) for p in error.schema_path)
    got = f"got {json_type(value)} {show(value)}"
    if "intstr.IntOrString" in where:
        return f"expected an integer or a string (a port number or name), {got}"
    if "resource.Quantity" in where:
        return f"expected a quantity (a string such as \"250m\" or \"1Gi\", or a number), {got}"
    types: list[str] = []
    for branch in error.kind.context:
        for sub in branch:
            if sub.kind.name == "type":
                types.extend(t for t in sub.kind.types if t != "null" and t not in types)
    if types:
        return f"expected {' or '.join(types)}, {got}"
    return f"{show(value)} does not match any allowed form"


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'s' * (n != 1)}"


_MESSAGES: dict[str, Callable[[Any, Any], str]] = {
    "type": lambda v, k: "expected "
    + " or ".join([t for t in k.types if t != "null"] or list(k.types))
    + f", got {json_type(v)} {show(v)}",
    "required": lambda _v, k: f"missing required field '{k.property}'",
    "enum": lambda v, k: f"{show(v)} is not one of: "
    + ", ".join(show(o) for o in k.options if o is not None),
    "const": lambda v, k: f"must be {show(k.expected_value)}, not {show(v)}",
    "minimum": lambda v, k: f"{show(v)} is less than the minimum of {k.limit}",
    "maximum": lambda v, k: f"{show(v)} is greater than the maximum of {k.limit}",
    "exclusiveMinimum": lambda v, k: f"{show(v)} must be greater than {k.limit}",
    "exclusiveMaximum": lambda v, k: f"{show(v)} must be less than {k.limit}",
    "pattern": lambda v, k: f"{show(v)} does not match the pattern {k.pattern}",
    "minLength": lambda v, k: f"{show(v)} is shorter than {_plural(k.limit, 'character')}",
    "maxLength": lambda v, k: f"{show(v)} is longer than {_plural(k.limit, 'character')}",
    "minItems": lambda _v, k: f"needs at least {_plural(k.limit, 'item')}",
    "maxItems": lambda _v, k: f"allows at most {_plural(k.limit, 'item')}",
    "uniqueItems": lambda _v, _k: "items must be unique",
}


def _location(instance: Any, path: Sequence[str | int]) -> Location:
    """The error's path with keys as strings and indexes as ints (a key "1" stays a key)."""
    out: list[str | int] = []
    node = instance
    for part in path:
        if isinstance(node, Mapping):
            key: str | int = str(part)
            node = node.get(key, node.get(part))
        else:
            key = int(part)
            node = node[key] if isinstance(node, Sequence) and key < len(node) else None
        out.append(key)
    return tuple(out)


def describe(error: Any, schema: Mapping[str, Any], instance: Any) -> list[SchemaProblem]:
    """One jsonschema-rs error as readable problems (an unknown-field error may be several)."""
    where = _location(instance, error.instance_path)
    path = format_path(where)
    kind = error.kind
    name = kind.name
    value = error.instance
    if name == "additionalProperties":
        known = list(_subschema(schema, error.schema_path[:-1]).get("properties", {}))
        out = []
        for field in kind.unexpected:
            close = difflib.get_close_matches(field, known, n=1, cutoff=0.75)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            message = f"unknown field '{field}'{hint}"
            out.append(SchemaProblem(path, message, "unknown-field", (*where, field)))
        return out
    if name == "oneOf":
        message = _one_of_message(error)
    elif name in _MESSAGES:
        message = _MESSAGES[name](value, kind)
    else:
        message = str(error.message)
    return [SchemaProblem(path, message, name, where)]
