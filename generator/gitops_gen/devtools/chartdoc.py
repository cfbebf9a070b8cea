"""The parameter table of chart/README.md, generated from the comments of chart/values.yaml.

Convention (as in helm-docs): a comment line starting with "# --" directly above a key (no blank
line between) describes that key; the "#" lines after it, up to the key, continue the text.
Other comment lines above it (section headings) are not part of the description.

- A key with such a description is one row of the table; when its value is a map, the row shows
  the whole map as its default and its children are not listed (free-form maps, `resources`).
- A map without a description is a grouping: its children are listed instead.
- Every other value (scalars, lists, empty maps) must have a description, or generation fails.

The table sits between `<!-- parameters:start -->` and `<!-- parameters:end -->`; the types come
from values.schema.json when it names one. `python -m gitops_gen.devtools.chartdoc --write`
rewrites the README, `--check` exits 1 when it is stale.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ruamel.yaml.comments import CommentedMap

from ..errors import GitopsGenError, InputError
from ..repo import yamlio

START = "<!-- parameters:start -->"
END = "<!-- parameters:end -->"
DOC_PREFIX = "# --"
README = "README.md"
VALUES = "values.yaml"
SCHEMA = "values.schema.json"


@dataclass(frozen=True)
class Parameter:
    key: str
    type: str
    default: str
    description: str


def description_above(lines: Sequence[str], line: int) -> str | None:
    """The "# --" description of the key on 0-based line `line`, or None."""
    block: list[str] = []
    i = line - 1
    while i >= 0 and lines[i].lstrip().startswith("#"):
        block.insert(0, lines[i].strip())
        i -= 1
    starts = [n for n, text in enumerate(block) if text.startswith(DOC_PREFIX)]
    if not starts:
        return None
    first, *rest = block[starts[-1] :]
    words = [first[len(DOC_PREFIX) :].strip(), *(t.lstrip("#").strip() for t in rest)]
    return " ".join(w for w in words if w)


def parameters(values_text: str, schema: dict[str, Any] | None = None) -> list[Parameter]:
    """Every documented value, in file order; InputError listing the undocumented ones."""
    data = yamlio.load(values_text, VALUES)
    if not isinstance(data, CommentedMap):
        raise InputError(f"{VALUES} is not a mapping", "fix the chart's values.yaml")
    found: list[Parameter] = []
    missing: list[str] = []
    for path, value, text, line in _walk(data, (), values_text.splitlines()):
        if text is None:
            missing.append(f"{'.'.join(path)} (line {line + 1})")
        else:
            found.append(Parameter(".".join(path), _type_of(schema, path, value), _default(value),
                                   text))
    if missing:
        raise InputError(
            f"{VALUES}: no '{DOC_PREFIX}' description for " + ", ".join(missing),
            f"add a '{DOC_PREFIX} ...' comment line right above each of these keys",
        )
    return found


def _walk(
    node: CommentedMap, prefix: tuple[str, ...], lines: Sequence[str]
) -> Iterator[tuple[tuple[str, ...], Any, str | None, int]]:
    """(path, value, description, 0-based line) of every row, in file order.

    An undocumented non-empty map is a grouping: its children are walked instead.
    """
    for key, value in node.items():
        path = (*prefix, str(key))
        line = node.lc.key(key)[0]
        text = description_above(lines, line)
        if text is None and isinstance(value, CommentedMap) and len(value) > 0:
            yield from _walk(value, path, lines)
        else:
            yield path, value, text, line


def _default(value: Any) -> str:
    return json.dumps(yamlio.to_plain(value), separators=(", ", ": "), ensure_ascii=False)


def _type_of(schema: dict[str, Any] | None, path: tuple[str, ...], value: Any) -> str:
    node = _schema_node(schema, path) if schema else None
    declared = (node or {}).get("type")
    alternatives = (node or {}).get("oneOf") or (node or {}).get("anyOf")
    if declared is None and isinstance(alternatives, list):
        declared = [a.get("type") for a in alternatives if isinstance(a, dict) and a.get("type")]
    if isinstance(declared, list) and declared:
        return " or ".join(str(t) for t in declared)
    if isinstance(declared, str):
        return declared
    for kind, name in ((bool, "boolean"), (int, "integer"), (float, "number"), (str, "string"),
                       (dict, "object"), (list, "array")):
        if isinstance(value, kind):
            return name
    return "null"


def _schema_node(schema: dict[str, Any], path: tuple[str, ...]) -> dict[str, Any] | None:
    node: dict[str, Any] | None = _resolve(schema, schema)
    for part in path:
        if node is None:
            return None
        node = _resolve(schema, (node.get("properties") or {}).get(part))
    return node


def _resolve(root: dict[str, Any], node: Any) -> dict[str, Any] | None:
    """Follow local $refs (and a single allOf) to the node that carries the type."""
    for _ in range(10):
        if not isinstance(node, dict):
            return None
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/"):
            target: Any = root
            for part in ref[2:].split("/"):
                target = target.get(part, {}) if isinstance(target, dict) else {}
            node = target
        elif "type" not in node and len(node.get("allOf") or []) == 1:
            node = node["allOf"][0]
        else:
            return node
    return None


def table(params: Sequence[Parameter]) -> str:
    rows = ["| Key | Type | Default | Description |", "|-----|------|---------|-------------|"]
    for p in params:
        text = p.description.replace("<", "&lt;").replace(">", "&gt;")
        cells = (f"`{p.key}`", p.type, f"`{p.default}`", text)
        rows.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    return "\n".join(rows)


def with_table(readme: str, table_text: str) -> str:
    """The README with the text between the markers replaced by the table."""
    start, end = readme.find(START), readme.find(END)
    if start < 0 or end < start:
        raise InputError(f"{README} has no '{START}' ... '{END}' section",
                         "add both markers where the parameter table belongs")
    return f"{readme[: start + len(START)]}\n\n{table_text}\n\n{readme[end:]}"


def expected_readme(chart_dir: Path) -> tuple[str, str]:
    """(current README text, README text with a fresh table)."""
    readme = (chart_dir / README).read_text(encoding="utf-8")
    schema_path = chart_dir / SCHEMA
    schema = json.loads(schema_path.read_text(encoding="utf-8")) if schema_path.is_file() else None
    values_text = (chart_dir / VALUES).read_text(encoding="utf-8")
    return readme, with_table(readme, table(parameters(values_text, schema)))


def is_stale(chart_dir: Path) -> bool:
    current, expected = expected_readme(chart_dir)
    return current != expected


def write(chart_dir: Path) -> bool:
    """Rewrite the README's table; True when the file changed."""
    current, expected = expected_readme(chart_dir)
    if current == expected:
        return False
    (chart_dir / README).write_text(expected, encoding="utf-8")
    return True


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m gitops_gen.devtools.chartdoc",
                                     description=__doc__ and __doc__.splitlines()[0])
    parser.add_argument("--chart", type=Path, default=None, help="chart directory (default: ours)")
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--write", action="store_true", help="rewrite the README's table")
    mode.add_argument("--check", action="store_true", help="exit 1 when the table is stale")
    args = parser.parse_args(argv)
    try:
        if args.chart is None:
            from ..model.chart import packaged_chart_dir

            args.chart = packaged_chart_dir()
        readme = args.chart / README
        if args.check:
            if is_stale(args.chart):
                print(f"{readme}: the parameter table is out of date with {VALUES}; "
                      "run 'python -m gitops_gen.devtools.chartdoc --write' (or 'make docs')"
                      " and commit it",
                      file=sys.stderr)
                return 1
            print(f"{readme}: the parameter table is up to date")
            return 0
        changed = write(args.chart)
        print(f"{readme}: {'updated' if changed else 'already up to date'}")
        return 0
    except (GitopsGenError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
