"""One YAML configuration for the whole tool, and the one place YAML is parsed.

Files people edit are loaded round-trip (ruamel.yaml keeps comments, key order and line
numbers); rendered manifests, which nobody edits, go through PyYAML's C loader for speed.
Both loaders are bounded (repo/limits.py): nesting depth, and values and scalar characters
counted with aliases expanded, so an alias bomb is refused while it is composed, before any
code walks the data; aliases that form a cycle are refused too. Any failure to parse, whatever
exception the parser raises, is a YamlError (or, for the C loader, a yaml.YAMLError) with a
line where there is one.
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


def _guarded(text: str, filename: str, parse: Callable[[YAML], Any]) -> Any:
    if len(text) > limits.MAX_EDITED_YAML_BYTES:
        raise YamlError(filename, f"is {len(text)} characters long, over the "
                        f"{limits.MAX_EDITED_YAML_BYTES}-character limit of the files gitops-gen "
                        "edits", None)
    if (line := _not_utf8(text)) is not None:
        raise YamlError(_where(filename, line), "is not UTF-8 text", line)
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
    """Syntax and depth through libyaml's parser first: ruamel's pure-Python scanner takes time
    quadratic in the nesting of flow collections ('[[[[...'), libyaml does not."""
    depth = 0
    try:
        for event in pyyaml.parse(text, Loader=_FAST_LOADER):
            if isinstance(event, _OPEN):
                depth += 1
                if depth > limits.MAX_DEPTH:
                    line = event.start_mark.line + 1 if event.start_mark else None
                    raise YamlError(_where(filename, line),
                                    f"nested more than {limits.MAX_DEPTH} levels deep", line)
            elif isinstance(event, _CLOSE):
                depth -= 1
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
