"""One YAML configuration for the whole tool.

Files people edit are loaded round-trip (ruamel.yaml keeps comments, key order and line
numbers); rendered manifests, which nobody edits, go through PyYAML's C loader for speed.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import yaml as pyyaml
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.constructor import DuplicateKeyError
from ruamel.yaml.error import MarkedYAMLError
from ruamel.yaml.representer import RoundTripRepresenter

from ..errors import InputError

_DUPLICATE = re.compile(r'found duplicate key "([^"]*)"')
# Strings that YAML 1.1 parsers (Kubernetes', PyYAML) read as booleans: written quoted.
YAML11_BOOLS = frozenset(
    v for w in ("y", "yes", "n", "no", "true", "false", "on", "off")
    for v in (w, w.capitalize(), w.upper())
)


class _Representer(RoundTripRepresenter):
    def represent_str(self, data: str) -> Any:
        if data in YAML11_BOOLS:
            return self.represent_scalar("tag:yaml.org,2002:str", data, style="'")
        return super().represent_str(data)


_Representer.add_representer(str, _Representer.represent_str)

_FAST_LOADER: Any = getattr(pyyaml, "CSafeLoader", pyyaml.SafeLoader)


def _roundtrip() -> YAML:
    y = YAML(typ="rt")
    y.preserve_quotes = True
    y.width = 4096
    y.indent(mapping=2, sequence=4, offset=2)
    y.allow_duplicate_keys = False
    y.Representer = _Representer
    return y


def load(text: str, filename: str) -> Any:
    """Parse one YAML document round-trip; a syntax error or duplicate key names file:line."""
    try:
        return _roundtrip().load(text)
    except (DuplicateKeyError, MarkedYAMLError) as exc:
        raise _error(exc, filename) from exc


def load_documents(text: str, filename: str) -> list[Any]:
    """Every document of a stream, round-trip (lines count from the stream's start)."""
    try:
        return [d for d in _roundtrip().load_all(text) if d is not None]
    except (DuplicateKeyError, MarkedYAMLError) as exc:
        raise _error(exc, filename) from exc


def _error(exc: MarkedYAMLError, filename: str) -> YamlError:
    mark = exc.problem_mark or exc.context_mark
    line = mark.line + 1 if mark is not None else None
    where = f"{filename}:{line}" if line else filename
    if isinstance(exc, DuplicateKeyError):
        # ruamel's own message quotes both values: one of them may be a secret.
        key = _DUPLICATE.search(exc.problem or "")
        start = exc.context_mark.line + 1 if exc.context_mark is not None else "?"
        problem = (f"duplicate key {key.group(1)!r}" if key else "duplicate key") + (
            f" in the mapping that starts at line {start}")
    else:
        problem = (exc.problem or exc.context or "invalid YAML").strip()
    return YamlError(where, problem, line)


class YamlError(InputError):
    """A YAML file that does not parse, with its file and line."""

    def __init__(self, where: str, problem: str, line: int | None) -> None:
        self.where = where
        self.line = line
        self.problem = problem
        super().__init__(f"{where}: {problem}", "fix the YAML at that line")


def dump(data: Any) -> str:
    """Serialise plain or round-trip data the one way this tool writes YAML."""
    buf = io.StringIO()
    _roundtrip().dump(data, buf)
    return buf.getvalue()


try:
    from yaml import CSafeDumper as _CDumper
except ImportError:  # PyYAML built without libyaml
    from yaml import SafeDumper as _CDumper  # type: ignore[assignment]

# Strings that some YAML reader takes for a number (YAML 1.2: 1e3, 0o14; Go: 0X1F, 0O14).
_NUMBER_LIKE = re.compile(r"^[-+]?(?:0[bBoOxX][0-9a-fA-F_]+|"
                          r"(?:[0-9][0-9_]*(?:\.[0-9_]*)?|\.[0-9_]+)(?:[eE][-+]?[0-9]+)?)$")


class _ManifestDumper(_CDumper):
    """PyYAML's C emitter, quoting every string that a YAML 1.1 or 1.2 reader (PyYAML,
    ruamel, Kubernetes' and Argo CD's Go YAML) could read as a bool or a number."""


def _represent_str(dumper: _ManifestDumper, data: str) -> Any:
    # Multi-line strings double-quoted with \n escapes, as dump() writes them.
    style = '"' if "\n" in data else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", data, style=style)


_ManifestDumper.add_representer(str, _represent_str)
# A resolver here only makes the emitter quote the strings it matches.
_ManifestDumper.add_implicit_resolver("tag:yaml.org,2002:bool", re.compile(r"^[yYnN]$"),
                                      list("yYnN"))
_ManifestDumper.add_implicit_resolver("tag:yaml.org,2002:float", _NUMBER_LIKE,
                                      list("-+.0123456789"))


def dump_fast(data: Any) -> str:
    """Plain data (dicts, lists, scalars: nothing to keep of a file) as YAML, through PyYAML's
    C emitter: tens of times faster than dump(), which is for files people edit. Keys keep
    their order; a list is not indented under its key (dump() indents it), which YAML reads
    the same."""
    return pyyaml.dump(data, Dumper=_ManifestDumper, sort_keys=False,
                       default_flow_style=False, allow_unicode=True, width=4096)


def load_all_fast(text: str) -> Iterator[Any]:
    """Every document of a multi-document stream, via the C loader (no line numbers)."""
    return pyyaml.load_all(text, Loader=_FAST_LOADER)  # noqa: S506 - a safe loader


def lookup(node: Any, *keys: str) -> Any:
    """node[k1][k2]... in loaded data, or None when any level is missing or not a mapping."""
    for key in keys:
        if not isinstance(node, Mapping):
            return None
        node = node.get(key)
    return node


def line_of(node: Any, path: Sequence[str | int]) -> int | None:
    """1-based line of the value at path inside round-trip data, or of its nearest parent."""
    line: int | None = None
    current = node
    for key in path:
        if isinstance(current, CommentedMap) and key in current:
            pos = current.lc.key(key) if hasattr(current.lc, "key") else None
            if pos is not None:
                line = pos[0] + 1
            current = current[key]
        elif isinstance(current, CommentedSeq) and isinstance(key, int) and key < len(current):
            pos = current.lc.item(key)
            line = pos[0] + 1
            current = current[key]
        else:
            break
    return line


def to_plain(node: Any) -> Any:
    """Round-trip containers to plain dicts and lists (for JSON and schema checks)."""
    if isinstance(node, dict):
        return {str(k): to_plain(v) for k, v in node.items()}
    if isinstance(node, list):
        return [to_plain(v) for v in node]
    if type(node) in (bool, int, float, str) or node is None:
        return node
    # ruamel's scalar subclasses (quoted strings, ints with a format) become plain values.
    for plain in (bool, int, float, str):
        if isinstance(node, plain) and type(node) is not plain:
            return plain(node)
    return node


def merge_into(existing: Any, generated: Any) -> Any:
    """generated laid over existing round-trip data: generated keys win, others (and their
    comments) stay; lists are replaced whole."""
    if isinstance(existing, dict) and isinstance(generated, dict):
        for key, value in generated.items():
            existing[key] = merge_into(existing[key], value) if key in existing else value
        return existing
    return generated


def update_text(existing: str | None, generated: Any, filename: str) -> str:
    """The YAML text of generated, keeping what people added to the existing file."""
    if existing is not None:
        try:
            data = load(existing, filename)
        except YamlError:
            data = None
        if isinstance(data, dict):
            return dump(merge_into(data, generated))
    return dump(generated)
