"""One YAML configuration for the whole tool, and the one place YAML is parsed.

Files people edit are loaded round-trip (ruamel.yaml keeps comments, key order and line
numbers) when they are to be written back; when they are only read (validation), read() builds
the same data with the same lines through PyYAML's C parser, many times faster. Rendered
manifests, which nobody edits, go through PyYAML's C loader without lines.
Every loader is bounded (repo/limits.py): nesting depth, and values and scalar characters
counted with aliases expanded, so an alias bomb is refused once it is composed (aliases not
expanded), before any code walks the data; aliases that form a cycle are refused too. Any
failure to parse, whatever exception the parser raises, is a YamlError (or, for the C loader,
a yaml.YAMLError) with a line where there is one.
"""

from __future__ import annotations

import io
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import yaml as pyyaml
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.composer import Composer, ComposerError, MaxDepthExceededError
from ruamel.yaml.constructor import DuplicateKeyError
from ruamel.yaml.error import MarkedYAMLError
from ruamel.yaml.events import AliasEvent
from ruamel.yaml.reader import ReaderError
from ruamel.yaml.representer import RoundTripRepresenter
from ruamel.yaml.resolver import implicit_resolvers as _RT_RESOLVERS

from ..errors import YamlError
from . import limits

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


class _Cost:
    """Values and scalar characters of composed nodes, aliases expanded, memoised per node."""

    def __init__(self) -> None:
        self.known: dict[int, tuple[int, int]] = {}

    def of(self, node: Any, children: Sequence[Any]) -> tuple[int, int]:
        """node's cost from its children's; a problem string when a limit is passed."""
        values, chars = 1, len(node.value) if isinstance(node.value, str) else 0
        for child in children:
            cost = self.known.get(id(child))
            if cost is None:
                raise _Problem("an alias refers to the node that holds it (a cycle)")
            values, chars = values + cost[0], chars + cost[1]
        if values > limits.MAX_NODES:
            raise _Problem(f"holds more than {limits.MAX_NODES} values once aliases are "
                           "expanded (an alias bomb?)")
        if chars > limits.MAX_SCALAR_CHARS:
            raise _Problem(f"holds more than {limits.MAX_SCALAR_CHARS} characters once aliases "
                           "are expanded")
        self.known[id(node)] = (values, chars)
        return values, chars


# Internal: caught in this module and raised again as a YamlError; never reaches the CLI.
class _Problem(Exception):
    pass


def _children(node: Any) -> list[Any]:
    value = node.value
    if not isinstance(value, list):
        return []
    if value and isinstance(value[0], tuple):
        return [n for pair in value for n in pair]
    return list(value)


class _BoundedComposer(Composer):
    """ruamel's composer (depth bounded by max_depth), counting what each node expands to."""

    def compose_document(self: Any) -> Any:
        self._cost = _Cost()
        return super().compose_document()

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.parser.check_event(AliasEvent):
            event = self.parser.peek_event()
            target = self.anchors.get(event.anchor)
            if target is not None and id(target) not in self._cost.known:
                raise ComposerError(None, None, "an alias refers to the node that holds it "
                                    "(a cycle)", event.start_mark)
        node = super().compose_node(parent, index)
        if id(node) not in self._cost.known:
            try:
                self._cost.of(node, _children(node))
            except _Problem as exc:
                raise ComposerError(None, None, str(exc), node.start_mark) from None
        return node


def _roundtrip() -> YAML:
    y = YAML(typ="rt")
    y.preserve_quotes = True
    y.width = 4096
    y.indent(mapping=2, sequence=4, offset=2)
    y.allow_duplicate_keys = False
    y.max_depth = limits.MAX_DEPTH
    y.Composer = _BoundedComposer
    y.Representer = _Representer
    return y


def load(text: str, filename: str) -> Any:
    """Parse one YAML document round-trip, within the limits; any failure is a YamlError
    naming file:line (a duplicate key's values are never quoted: one may be a secret)."""
    return _guarded(text, filename, lambda y: y.load(text))


def load_documents(text: str, filename: str) -> list[Any]:
    """Every document of a stream, round-trip (lines count from the stream's start), within
    the same limits as load()."""
    docs = _guarded(text, filename, lambda y: list(y.load_all(text)))
    return [d for d in docs if d is not None]


def _refuse_size_and_encoding(text: str, filename: str) -> None:
    """YamlError for a text past the size limit of the files gitops-gen edits, or not UTF-8."""
    if len(text) > limits.MAX_EDITED_YAML_BYTES:
        raise YamlError(filename, f"is {len(text)} characters long, over the "
                        f"{limits.MAX_EDITED_YAML_BYTES}-character limit of the files gitops-gen "
                        "edits", None)
    if (line := _not_utf8(text)) is not None:
        raise YamlError(_where(filename, line), "is not UTF-8 text", line)


def _guarded(text: str, filename: str, parse: Callable[[YAML], Any]) -> Any:
    _refuse_size_and_encoding(text, filename)
    _precheck(text, filename)
    try:
        return parse(_roundtrip())
    except (DuplicateKeyError, MarkedYAMLError) as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        if isinstance(exc, DuplicateKeyError):
            # ruamel's own message quotes both values: one of them may be a secret.
            key = _DUPLICATE.search(exc.problem or "")
            start = exc.context_mark.line + 1 if exc.context_mark is not None else "?"
            problem = (f"duplicate key {key.group(1)!r}" if key else "duplicate key") + (
                f" in the mapping that starts at line {start}")
        elif isinstance(exc, MaxDepthExceededError):
            problem = f"nested more than {limits.MAX_DEPTH} levels deep"
        else:
            problem = (exc.problem or exc.context or "invalid YAML").strip()
        raise YamlError(_where(filename, line), problem, line) from exc
    except ReaderError as exc:
        line = text[: exc.position].count("\n") + 1 if isinstance(exc.position, int) else None
        code = exc.character if isinstance(exc.character, int) else 0
        problem = f"character U+{code:04X} is not allowed in YAML (a control character)"
        raise YamlError(_where(filename, line), problem, line) from exc
    except RecursionError as exc:
        raise YamlError(filename, f"nested more than {limits.MAX_DEPTH} levels deep",
                        None) from exc
    except Exception as exc:  # noqa: BLE001 - untrusted text: any parser failure is bad input
        # Values the constructor cannot build (an impossible date, a 5000-digit integer): the
        # exception's text may quote the value, so only its type is told.
        raise YamlError(filename, f"a value cannot be read ({type(exc).__name__})",
                        None) from exc


def _not_utf8(text: str) -> int | None:
    """The line of the first lone surrogate (bytes a lenient decoder let through), or None."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        return text[: exc.start].count("\n") + 1
    return None


def _where(filename: str, line: int | None) -> str:
    return f"{filename}:{line}" if line else filename


_OPEN = (pyyaml.MappingStartEvent, pyyaml.SequenceStartEvent)
_CLOSE = (pyyaml.MappingEndEvent, pyyaml.SequenceEndEvent)


def _precheck(text: str, filename: str) -> None:
    """Syntax, depth and alias cycles through libyaml's parser first: ruamel's pure-Python
    scanner takes time quadratic in the nesting of flow collections ('[[[[...'), libyaml does
    not. An alias to a collection still open is a cycle, told at the alias."""
    open_nodes: list[object | None] = []  # one per open collection: its anchor's token
    latest: dict[str, object] = {}  # an anchor's token: the node an alias to it means now
    try:
        for event in pyyaml.parse(text, Loader=_FAST_LOADER):
            if isinstance(event, _OPEN):
                token = object() if event.anchor is not None else None
                if event.anchor is not None:
                    latest[event.anchor] = token
                open_nodes.append(token)
                if len(open_nodes) > limits.MAX_DEPTH:
                    _refuse(filename, event, f"nested more than {limits.MAX_DEPTH} levels deep")
            elif isinstance(event, _CLOSE):
                open_nodes.pop()
            elif isinstance(event, pyyaml.ScalarEvent) and event.anchor is not None:
                latest[event.anchor] = object()
            elif isinstance(event, pyyaml.AliasEvent) and event.anchor in latest and \
                    latest[event.anchor] in open_nodes:
                _refuse(filename, event, "an alias refers to the node that holds it (a cycle)")
    except pyyaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        problem = " ".join(str(exc.problem or exc.context or "invalid YAML").split())
        if "nesting depth" in problem:
            problem = f"nested more than {limits.MAX_DEPTH} levels deep"
        raise YamlError(_where(filename, line), problem, line) from None
    except pyyaml.YAMLError as exc:  # the reader: a character YAML does not allow
        position = getattr(exc, "position", None)
        line = text[:position].count("\n") + 1 if isinstance(position, int) else None
        code = getattr(exc, "character", 0)
        code = code if isinstance(code, int) else 0
        raise YamlError(_where(filename, line), f"character U+{code:04X} is not allowed in "
                        "YAML (a control character)", line) from None


def _refuse(filename: str, event: Any, problem: str) -> None:
    line = event.start_mark.line + 1 if event.start_mark else None
    raise YamlError(_where(filename, line), problem, line)


# ---- reading without writing back ------------------------------------------------------------


class LineMap(dict[Any, Any]):
    """A mapping as read() builds it: a dict that also knows the 1-based line of each key
    written in it (a key a merge key `<<` brought in has none, as round-trip)."""

    __slots__ = ("lines",)

    def __init__(self) -> None:
        super().__init__()
        self.lines: dict[Any, int] = {}


class LineSeq(list[Any]):
    """A sequence as read() builds it: a list that also knows the 1-based line of each item."""

    __slots__ = ("lines",)

    def __init__(self) -> None:
        super().__init__()
        self.lines: list[int] = []


_MERGE = "tag:yaml.org,2002:merge"
# Tags the round-trip loader keeps as opaque tagged scalars ('=' and '!'): read as strings.
_RT_ONLY = ("tag:yaml.org,2002:value", "tag:yaml.org,2002:yaml")


# Raised and caught inside read(), which turns it into a YamlError: not of the error family.
class _Duplicate(Exception):
    def __init__(self, key: Any, key_node: Any, node: Any) -> None:
        super().__init__("duplicate key")
        # The key, never its values (one may be a secret); a second merge key `<<` is named
        # by neither loader.
        named = f"duplicate key {str(key)!r}" if key_node.tag != _MERGE else "duplicate key"
        self.problem = f"{named} in the mapping that starts at line {node.start_mark.line + 1}"
        self.line = key_node.start_mark.line + 1


class _Reader(_FAST_LOADER):  # type: ignore[misc]
    """PyYAML's C parser and composer (marks kept on nodes), resolving plain scalars by the
    round-trip loader's own YAML 1.2 table (`yes`, `on` are strings, `017` is 17, no 1:30
    sexagesimals) and building LineMap and LineSeq."""

    yaml_implicit_resolvers: dict[Any, Any] = {}


for _versions, _tag, _regexp, _first in _RT_RESOLVERS:
    if (1, 2) in _versions and _tag not in _RT_ONLY:
        _Reader.add_implicit_resolver(_tag, _regexp, _first)


def _read_int(loader: Any, node: Any) -> int:
    """As the round-trip loader reads a YAML 1.2 int: 0b, 0o, 0x prefixes, '_' ignored,
    a leading zero decimal (017 is 17)."""
    text = loader.construct_scalar(node).replace("_", "")
    sign = -1 if text[:1] == "-" else 1
    text = text[1:] if text[:1] in "+-" else text
    base = {"0b": 2, "0o": 8, "0x": 16}.get(text[:2])
    return sign * (int(text[2:], base) if base else int(text, 10))


def _read_float(loader: Any, node: Any) -> float:
    text = loader.construct_scalar(node).replace("_", "").lower()
    sign = -1.0 if text[:1] == "-" else 1.0
    text = text[1:] if text[:1] in "+-" else text
    if text == ".inf":
        return sign * float("inf")
    if text == ".nan":
        return float("nan")
    return sign * float(text)


def _read_seq(loader: Any, node: Any) -> Iterator[LineSeq]:
    data = LineSeq()
    yield data
    data.extend(loader.construct_object(child) for child in node.value)
    data.lines.extend(child.start_mark.line + 1 for child in node.value)


def _merged_pairs(node: Any, value: Any) -> list[tuple[Any, Any]]:
    """The (key, value) nodes a merge key's value brings in, earlier sources first."""
    if isinstance(value, pyyaml.MappingNode):
        sources = [value]
    elif isinstance(value, pyyaml.SequenceNode):
        sources = value.value
        for source in sources:
            if not isinstance(source, pyyaml.MappingNode):
                raise pyyaml.constructor.ConstructorError(
                    "while constructing a mapping", node.start_mark,
                    f"expected a mapping for merging, but found {source.id}", source.start_mark)
    else:
        raise pyyaml.constructor.ConstructorError(
            "while constructing a mapping", node.start_mark,
            f"expected a mapping or list of mappings for merging, but found {value.id}",
            value.start_mark)
    pairs: list[tuple[Any, Any]] = []
    for source in sources:
        own = [(k, v) for k, v in source.value if k.tag != _MERGE]
        pairs += own + [p for k, v in source.value if k.tag == _MERGE
                        for p in _merged_pairs(source, v)]
    return pairs


def _read_map(loader: Any, node: Any) -> Iterator[LineMap]:
    """Keys written in the mapping first, in order, then those its merge keys bring in that it
    does not have (the first source wins), as round-trip; a key written twice is an error."""
    data = LineMap()
    yield data
    merged: list[tuple[Any, Any]] | None = None
    for key_node, value_node in node.value:
        if key_node.tag == _MERGE:
            if merged is not None:
                raise _Duplicate("<<", key_node, node)
            merged = _merged_pairs(node, value_node)
            continue
        key = _key(loader, node, key_node)
        if key in data:
            raise _Duplicate(key, key_node, node)
        data[key] = loader.construct_object(value_node)
        data.lines[key] = key_node.start_mark.line + 1
    for key_node, value_node in merged or []:
        key = _key(loader, node, key_node)
        if key not in data:
            data[key] = loader.construct_object(value_node)


def _key(loader: Any, node: Any, key_node: Any) -> Any:
    key = loader.construct_object(key_node, deep=True)
    if isinstance(key, list):  # `? [a, b]`: round-trip makes it a tuple too
        key = tuple(key)
    try:
        hash(key)
    except TypeError:
        raise pyyaml.constructor.ConstructorError(
            "while constructing a mapping", node.start_mark, "found unhashable key",
            key_node.start_mark) from None
    return key


def _read_unknown(loader: Any, node: Any) -> Any:
    """A tag neither loader knows (`!thing`): its value as if untagged (round-trip keeps a
    tagged mapping or sequence as one, and a scalar as an opaque object: here a string)."""
    if isinstance(node, pyyaml.MappingNode):
        return _without_lines(_read_map(loader, node))
    if isinstance(node, pyyaml.SequenceNode):
        return _without_lines(_read_seq(loader, node))
    return loader.construct_scalar(node)


def _without_lines(built: Iterator[Any]) -> Iterator[Any]:
    """A tagged collection keeps no lines, as round-trip (line_of() tells its parent's)."""
    data = next(built)
    yield data
    for _ in built:
        pass
    data.lines.clear()


_Reader.add_constructor("tag:yaml.org,2002:int", _read_int)
_Reader.add_constructor("tag:yaml.org,2002:float", _read_float)
_Reader.add_constructor("tag:yaml.org,2002:map", _read_map)
_Reader.add_constructor("tag:yaml.org,2002:seq", _read_seq)
_Reader.add_constructor(None, _read_unknown)


def _nodes(loader: Any) -> Iterator[Any]:
    while loader.check_node():
        yield loader.get_node()


def read(text: str, filename: str) -> Any:
    """One YAML document of a file that is only read (not written back): the data load()
    gives (plain dicts, lists and scalars, YAML 1.2), each mapping a LineMap and each
    sequence a LineSeq so that line_of() works alike; within the same limits, and any
    failure the same YamlError naming file:line."""
    docs = _read(text, filename, single=True)
    return docs[0] if docs else None


def read_documents(text: str, filename: str) -> list[Any]:
    """Every document of a stream as read() builds it (lines count from the stream's start);
    empty documents left out, as load_documents()."""
    return [d for d in _read(text, filename, single=False) if d is not None]


def _read(text: str, filename: str, single: bool) -> list[Any]:
    if "%YAML" in text:  # a version directive (%YAML 1.1 reads yes as true): as round-trip
        return [load(text, filename)] if single else load_documents(text, filename)
    _refuse_size_and_encoding(text, filename)
    anchors = "&" in text  # without one, no alias: each document is a tree
    loader = _Reader(text)
    docs: list[Any] = []
    try:
        nodes = iter([loader.get_single_node()]) if single else _nodes(loader)
        for node in nodes:
            if node is None:  # an empty stream
                break
            if anchors or not _tree_within_limits(node):
                _check_graph(node)  # depth (scalars count, as round-trip), size with aliases
            docs.append(loader.construct_document(node))
    except Exception as exc:  # noqa: BLE001 - untrusted text: any failure is bad input
        # load()'s precheck first, so that a problem it finds is told as load() tells it.
        _precheck(text, filename)
        raise _read_error(exc, filename) from None
    finally:
        loader.dispose()
    return docs


def _tree_within_limits(root: Any) -> bool:
    """Depth and size of a document without aliases, in a quick walk (its characters are the
    text's, within the file size cap); False sends it to _check_graph to say what is past."""
    count = 0
    todo = [(root, 1)]
    while todo:
        node, depth = todo.pop()
        count += 1
        if depth > limits.MAX_DEPTH or count > limits.MAX_NODES:
            return False
        value = node.value
        if isinstance(value, list):
            todo += ((child, depth + 1) for child in _children(node))
    return True


def _read_error(exc: Exception, filename: str) -> YamlError:
    if isinstance(exc, _Duplicate):
        return YamlError(_where(filename, exc.line), exc.problem, exc.line)
    if isinstance(exc, pyyaml.MarkedYAMLError):
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        problem = " ".join(str(exc.problem or exc.context or "invalid YAML").split())
        return YamlError(_where(filename, line), problem, line)
    if isinstance(exc, RecursionError):
        return YamlError(filename, f"nested more than {limits.MAX_DEPTH} levels deep", None)
    # As load(): the exception's text may quote the value, so only its type is told.
    return YamlError(filename, f"a value cannot be read ({type(exc).__name__})", None)


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


# A PyYAML error on purpose, so callers of load_all_fast catch one yaml.YAMLError; it
# becomes a finding or a YamlError there and never reaches the CLI itself.
class LimitError(pyyaml.MarkedYAMLError):
    """A document past the limits of repo/limits.py (load_all_fast)."""


def load_all_fast(text: str) -> Iterator[Any]:
    """Every document of a multi-document stream, via the C loader (no line numbers), each
    checked against the limits before it is built; failures are yaml.YAMLError."""
    if (line := _not_utf8(text)) is not None:
        raise LimitError(None, None, f"line {line} is not UTF-8 text", None)
    loader = _FAST_LOADER(text)
    try:
        while True:
            node = None
            try:
                if not loader.check_node():
                    return
                node = loader.get_node()
                _check_graph(node)
                data = loader.construct_document(node)
            except pyyaml.YAMLError:
                raise
            except Exception as exc:  # noqa: BLE001 - untrusted text: any failure is bad input
                mark = node.start_mark if node is not None else None
                raise LimitError(None, None, f"a value cannot be read ({type(exc).__name__})",
                                 mark) from None
            yield data
    finally:
        loader.dispose()


def _check_graph(root: Any) -> None:
    """Depth, expanded size and cycles of one composed document, without recursion."""
    cost = _Cost()
    active: set[int] = set()
    todo: list[tuple[Any, int, bool]] = [(root, 1, False)]
    while todo:
        node, depth, done = todo.pop()
        key = id(node)
        try:
            if done:
                active.discard(key)
                cost.of(node, _children(node))
                continue
            if key in cost.known:
                continue
            if key in active:
                raise _Problem("an alias refers to the node that holds it (a cycle)")
            if depth > limits.MAX_DEPTH:
                raise _Problem(f"nested more than {limits.MAX_DEPTH} levels deep")
            children = _children(node)
            if not children:
                cost.of(node, [])
                continue
        except _Problem as exc:
            raise LimitError(None, None, str(exc), node.start_mark) from None
        active.add(key)
        todo.append((node, depth, True))
        todo.extend((child, depth + 1, False) for child in reversed(children))


def lookup(node: Any, *keys: str) -> Any:
    """node[k1][k2]... in loaded data, or None when any level is missing or not a mapping."""
    for key in keys:
        if not isinstance(node, Mapping):
            return None
        node = node.get(key)
    return node


def line_of(node: Any, path: Sequence[str | int]) -> int | None:
    """1-based line of the value at path inside round-trip data or data read(), or of its
    nearest parent (a key a merge key brought in has no line of its own)."""
    line: int | None = None
    current = node
    for key in path:
        found: int | None = None
        if isinstance(current, LineMap) and key in current:
            found = current.lines.get(key)
        elif isinstance(current, CommentedMap) and key in current:
            pos = (current.lc.data or {}).get(key)  # a tagged mapping has no lines
            found = pos[0] + 1 if pos is not None else None
        elif isinstance(current, LineSeq) and isinstance(key, int) and 0 <= key < len(current):
            found = current.lines[key] if key < len(current.lines) else None
        elif isinstance(current, CommentedSeq) and isinstance(key, int) and \
                0 <= key < len(current):
            pos = (current.lc.data or {}).get(key)
            found = pos[0] + 1 if pos is not None else None
        else:
            break
        line = found if found is not None else line
        current = current[key]
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


_DASH = re.compile(r"( *)- ")
_SKIPPED = re.compile(r"\s*(?:#.*)?\n?")  # a blank or comment-only line


def insert_item(text: str, key: str, index: int | None, item: Any) -> str | None:
    """text with item inserted into the block sequence under the top-level key, at index
    (None: at its end), written as dump() writes an item, by editing the text: the rest of the
    file stays byte for byte and no round trip of the whole file is needed, which in a file of
    a line per environment costs more than everything else a command does.

    None when the file is not laid out for it (no such block sequence, a flow list, an item
    that does not start its own line, an odd indentation, past the limits) or when the result,
    parsed again, is not exactly the old data with item in place: the caller then edits the
    file round-trip, as before."""
    seq = _block_sequence(text, key)
    if seq is None:
        return None
    lines = text.splitlines(keepends=True)
    items = seq.value
    dash = _DASH.fullmatch(lines[items[0].start_mark.line][: items[0].start_mark.column])
    if dash is None:
        return None
    if index is None or index >= len(items):
        index, at = len(items), min(seq.end_mark.line, len(lines))
        while at - 1 > items[-1].start_mark.line and _SKIPPED.fullmatch(lines[at - 1]):
            at -= 1  # blank lines and comments after the list stay with what follows it
    else:
        nth = items[index].start_mark
        if lines[nth.line][: nth.column] != dash.group():
            return None
        at = nth.line
        while at > 0 and lines[at - 1].strip().startswith("#"):
            at -= 1  # a comment above an item belongs to that item
    block = dump([item]).splitlines(keepends=True)
    own = _DASH.match(block[0])
    if own is None or any(not line.startswith(own.group(1)) for line in block):
        return None
    new = [dash.group(1) + line[len(own.group(1)):] for line in block]
    result = "".join([*lines[:at], *new, *lines[at:]])
    return result if _inserted(text, result, key, index, item) else None


def _block_sequence(text: str, key: str) -> Any:
    """The composed block sequence under the top-level key of text, or None."""
    if len(text) > limits.MAX_EDITED_YAML_BYTES or not text.endswith("\n"):
        return None
    loader = _FAST_LOADER(text)
    try:
        root = loader.get_single_node()
        if root is not None:
            _check_graph(root)
    except (pyyaml.YAMLError, _Problem):
        return None
    finally:
        loader.dispose()
    if not isinstance(root, pyyaml.MappingNode):
        return None
    seq = next((value for name, value in root.value
                if isinstance(name, pyyaml.ScalarNode) and name.value == key), None)
    if not isinstance(seq, pyyaml.SequenceNode) or seq.flow_style or not seq.value:
        return None
    return seq


def _inserted(text: str, result: str, key: str, index: int, item: Any) -> bool:
    """Whether result reads as text's data with item at index of the list under key."""
    try:
        before, after = list(load_all_fast(text)), list(load_all_fast(result))
    except pyyaml.YAMLError:
        return False
    if len(before) != 1 or not isinstance(before[0], dict) or \
            not isinstance(before[0].get(key), list):
        return False
    before[0][key].insert(index, to_plain(item))
    return bool(after == before)
