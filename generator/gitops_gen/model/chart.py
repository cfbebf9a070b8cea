"""The todo-chatbot Helm chart: where it ships, rendering it with real Helm, linting it.

Rendering goes through the Helm SDK (no helm binary): values layers are merged the way
`helm template -f a.yaml -f b.yaml` merges them, Helm applies the chart's defaults and its
values.schema.json, and every non-empty YAML document of the output comes back as a Rendered.
Helm's failures (schema, `required`/`fail` messages, template errors) become one ChartError
whose message quotes Helm's own words without the Go noise around them.

Helm never reads the chart where it lies: its SDK follows symbolic links (a template's
`.Files.Get` would read any file of the machine through one) and its values.schema.json may
`$ref` files and URLs. The chart is read through safefs (no link, no device, within the caps),
its YAML through the bounded loader, its schemas refused if they refer outside themselves, and
Helm loads a private copy of exactly those bytes.
"""

from __future__ import annotations

import copy
import datetime as _dt
import hashlib
import json
import re
import tempfile
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

import yaml as pyyaml

from ..errors import ChartError, MissingError, PathRefused, TreeTooLarge
from ..repo import layout, limits, safefs, yamlio

if TYPE_CHECKING:
    import helm_python

    from .rendercache import RenderCache

# helm_python is imported by the functions that call Helm, not here: importing it starts a Go
# runtime (threads, about 50 MiB), which commands that only read Rendered objects never need.

WAVE_ANNOTATION = "argocd.argoproj.io/sync-wave"
HOOK_ANNOTATION = "helm.sh/hook"
TESTS_DIR = "templates/tests/"
_SEVERITIES = {0: "unknown", 1: "info", 2: "warning", 3: "error"}


@dataclass(frozen=True)
class Rendered:
    """One YAML document of the rendered chart.

    source is the template's path relative to the chart ("templates/backend/deployment.yaml"),
    index the document's position among that template's non-empty documents.
    """

    source: str
    index: int
    obj: dict[str, Any]

    @property
    def kind(self) -> str:
        return str(self.obj.get("kind", ""))

    @property
    def name(self) -> str:
        return str((self.obj.get("metadata") or {}).get("name", ""))

    @property
    def annotations(self) -> dict[str, str]:
        return dict((self.obj.get("metadata") or {}).get("annotations") or {})

    @property
    def wave(self) -> int:
        """Argo CD's sync wave: the annotation, else the hook weight, else 0."""
        ann = self.annotations
        raw = ann.get(WAVE_ANNOTATION, ann.get("helm.sh/hook-weight", "0"))
        try:
            return int(raw)
        except ValueError:
            return 0

    @property
    def is_hook(self) -> bool:
        return HOOK_ANNOTATION in self.annotations


@dataclass(frozen=True)
class LintMessage:
    severity: str  # "info" | "warning" | "error" | "unknown"
    path: str
    message: str


def packaged_chart_dir() -> Path:
    """The chart shipped with this package: the wheel's gitops_gen/_chart, else the checkout's."""
    package = Path(__file__).resolve().parents[1]  # gitops_gen/
    for candidate in (package / "_chart", package.parents[1] / layout.CHART_DIR):
        if (candidate / "Chart.yaml").is_file():
            return candidate
    raise MissingError(
        "the todo-chatbot chart is not shipped with this installation of gitops-gen",
        "reinstall gitops-gen from a wheel or a source checkout",
    )


def merge_layers(layers: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Merge values layers like `helm -f a -f b`: maps merge deeply, the later layer wins.

    A null stays in the result, so Helm then drops that key of the chart's defaults, exactly as
    it does for a null in a values file.
    """
    merged: dict[str, Any] = {}
    for layer in layers:
        merged = _merge(merged, _plain(layer))
    return merged


def _merge(base: dict[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in over.items():
        current = out.get(key)
        if isinstance(value, dict) and isinstance(current, dict):
            out[key] = _merge(current, value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def _plain(node: Any) -> Any:
    """Round-trip YAML containers to JSON-ready data (dates become strings, as in Helm)."""
    if isinstance(node, Mapping):
        return {str(k): _plain(v) for k, v in node.items()}
    if isinstance(node, list | tuple):
        return [_plain(v) for v in node]
    if isinstance(node, _dt.date | _dt.datetime):
        return node.isoformat()
    return node


_CACHE: dict[str, helm_python.Chart] = {}
_helm_renders = 0  # renders this process asked Helm for (helm_renders())
_CACHE_LOCK = threading.Lock()
_CACHE_SIZE = 8
_SCHEMA_FILE = "values.schema.json"
_KNOWN_SCHEMAS = frozenset(
    f"{scheme}://json-schema.org/{draft}"
    for scheme in ("http", "https")
    for draft in ("draft-04/schema#", "draft-04/schema", "draft-06/schema#", "draft-06/schema",
                  "draft-07/schema#", "draft-07/schema", "draft/2019-09/schema",
                  "draft/2020-12/schema")
)


def _prefix(chart_dir: Path) -> str:
    """How messages name the chart's files: chart/... in a repository, else the path."""
    return f"{layout.CHART_DIR}/" if chart_dir.name == layout.CHART_DIR else f"{chart_dir}/"


def read_chart(chart_dir: Path, *, check: bool = True) -> dict[str, bytes]:
    """The chart's files {path in the chart: bytes}, read safely and (unless told not to: the
    caller checks them before Helm loads them) checked (check_files).

    chart_dir's parent is trusted (the repository root); nothing below it is followed.
    """
    name = _prefix(chart_dir)
    if safefs.kind(chart_dir.parent, chart_dir.name) != "link" and safefs.kind(
            chart_dir.parent, f"{chart_dir.name}/Chart.yaml") is None:
        raise MissingError(f"no Helm chart at {chart_dir} (Chart.yaml missing)", "check the path")
    try:
        files = safefs.read_tree(chart_dir.parent, chart_dir.name)
    except PathRefused as exc:
        raise ChartError(f"{exc.path} {exc.problem}", exc.fix, exc.path, exc.line) from None
    except TreeTooLarge as exc:
        raise ChartError(f"{exc.path} {exc.problem}", exc.fix, exc.path) from None
    if check:
        check_files(files, name)
    return files


def check_files(files: Mapping[str, bytes], prefix: str = f"{layout.CHART_DIR}/") -> None:
    """What Helm parses itself (Chart.yaml, values.yaml, values.schema.json, in subcharts too)
    must pass the bounded loaders first; schemas must not refer outside themselves."""
    for rel, data in sorted(files.items()):
        name = PurePosixPath(rel).name
        where = prefix + rel
        if name not in ("Chart.yaml", layout.VALUES_FILE, _SCHEMA_FILE, "requirements.yaml"):
            continue
        try:
            text = safefs.decode(where, data)
        except PathRefused as exc:
            raise ChartError(f"{where} {exc.problem}", exc.fix, where, exc.line) from None
        if name == _SCHEMA_FILE:
            schema_problem(load_schema(text, where), where)
            continue
        try:
            doc = next(iter(yamlio.load_all_fast(text)), None)
        except pyyaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            line = mark.line + 1 if mark is not None else None
            raise ChartError(f"{where}: {_first_line(str(getattr(exc, 'problem', '') or exc))}",
                             "fix the YAML at that line", where, line) from None
        if doc is not None and not isinstance(doc, dict):
            raise ChartError(f"{where} is not a mapping", "write it as key: value pairs",
                             where, 1)


def load_schema(text: str, where: str) -> Any:
    """A values.schema.json as data; ChartError when it is not JSON or nests too deep."""
    try:
        schema = json.loads(text)
    except (ValueError, RecursionError) as exc:
        why = "nests too deep" if isinstance(exc, RecursionError) else "is not JSON"
        raise ChartError(f"{where} {why}", "fix the schema", where) from None
    depth_of = [(schema, 1)]
    while depth_of:
        node, depth = depth_of.pop()
        if depth > limits.MAX_DEPTH:
            raise ChartError(f"{where} is nested more than {limits.MAX_DEPTH} levels deep",
                             "fix the schema", where)
        children = node.values() if isinstance(node, dict) else node if isinstance(
            node, list) else ()
        depth_of.extend((child, depth + 1) for child in children)
    return schema


_REFS = ("$ref", "$dynamicRef", "$recursiveRef")


def schema_problem(schema: Any, where: str) -> None:
    """ChartError when a schema refers outside itself. Helm's validator (and jsonschema-rs)
    would load a `file://` or `http(s)://` reference: any file of the machine, any URL."""
    todo = [schema]
    while todo:
        node = todo.pop()
        if isinstance(node, list):
            todo.extend(node)
            continue
        if not isinstance(node, dict):
            continue
        for key, value in node.items():
            if key in _REFS and isinstance(value, str) and not value.startswith("#"):
                raise ChartError(f"{where} refers to {value[:80]!r} outside itself",
                                 "keep every $ref inside the schema (#/...)", where)
            if key in ("$id", "id") and isinstance(value, str) and (
                    key == "$id" and not value.startswith("#") or re.search(r"[:/.]", value)):
                raise ChartError(f"{where} sets {key} {value[:80]!r}, which moves its "
                                 "references outside it", f"remove {key}", where)
            if key == "$schema" and isinstance(value, str) and value not in _KNOWN_SCHEMAS:
                raise ChartError(f"{where} names an unknown $schema {value[:80]!r}",
                                 "use a json-schema.org draft URI", where)
            if isinstance(value, dict | list):
                todo.append(value)


@contextmanager
def private_copy(files: Mapping[str, bytes]) -> Iterator[Path]:
    """The files in a private temporary directory (for Helm to load), removed afterwards."""
    with tempfile.TemporaryDirectory(prefix="gitops-gen-chart-") as tmp:
        base = Path(tmp) / "chart"
        for rel, data in files.items():
            target = base / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
        yield base


@dataclass(frozen=True)
class ChartFiles:
    """A chart's files as read once (read_chart), and a digest of their content: what a
    validation renders every environment from, without reading the chart again. They are
    checked (check_files) when Helm is to load them (load): a render taken from the render
    cache needs no Helm, and the same bytes passed the check when they were rendered."""

    files: Mapping[str, bytes]
    digest: str
    prefix: str = f"{layout.CHART_DIR}/"

    @classmethod
    def read(cls, chart_dir: Path) -> ChartFiles:
        files = read_chart(chart_dir, check=False)
        digest = hashlib.sha256()
        for rel in sorted(files):
            digest.update(rel.encode() + b"\0" + hashlib.sha256(files[rel]).digest())
        return cls(files, digest.hexdigest(), _prefix(chart_dir))


def load(chart: Path | ChartFiles) -> helm_python.Chart:
    """The loaded chart (from a private copy, its files checked first), cached by content."""
    source = chart if isinstance(chart, ChartFiles) else ChartFiles.read(chart)
    import helm_python

    with _CACHE_LOCK:
        cached = _CACHE.get(source.digest)
        if cached is not None:
            return cached
        check_files(source.files, source.prefix)
        try:
            with private_copy(source.files) as copy_dir:
                handle = helm_python.Chart.load(str(copy_dir))
        except helm_python.HelmError as exc:
            raise ChartError(clean_message(str(exc)), "fix the chart") from exc
        # A replaced handle is freed when the last caller drops it (weakref finalizer).
        # Bounded: a long-running service renders many temporary checkouts.
        while len(_CACHE) >= _CACHE_SIZE:
            _CACHE.pop(next(iter(_CACHE)))
        _CACHE[source.digest] = handle
        return handle


def render(
    chart: Path | ChartFiles,
    layers: Sequence[Mapping[str, Any]],
    *,
    namespace: str,
    release: str = layout.RELEASE_NAME,
    include_tests: bool = False,
    cache: RenderCache | None = None,
) -> list[Rendered]:
    """Every non-empty YAML document the chart renders with these values layers.

    Hooks are included (callers read their annotations); templates/tests/ only on request.
    With a cache (model/rendercache.py), a render of the same chart and values is taken from
    it, and a new one kept there: never pass one for values that hold decrypted secrets.
    """
    values = merge_layers(layers)
    source = chart if isinstance(chart, ChartFiles) else ChartFiles.read(chart)
    key = None
    if cache is not None and cache.allows(source.files):
        key = cache.key(source.digest, json.dumps(values), release=release,
                        namespace=namespace, include_tests=include_tests)
        kept = cache.get(key)
        if kept is not None:
            return [Rendered(s, i, obj) for s, i, obj in kept]
    out = _render(source, values, namespace=namespace, release=release,
                  include_tests=include_tests)
    if cache is not None and key is not None:
        cache.put(key, [(r.source, r.index, r.obj) for r in out])
    return out


def helm_renders() -> int:
    """How many renders this process has asked Helm for; those a cache answered not counted."""
    return _helm_renders


def _render(source: ChartFiles, values: dict[str, Any], *, namespace: str, release: str,
            include_tests: bool) -> list[Rendered]:
    import helm_python

    global _helm_renders
    _helm_renders += 1
    try:
        manifests = load(source).render(values, name=release, namespace=namespace)
    except helm_python.HelmError as exc:
        raise ChartError(clean_message(str(exc))) from exc
    size = sum(len(text) for text in manifests.values())
    if size > limits.MAX_RENDERED_BYTES:
        raise ChartError(f"the chart renders {size} characters, over the "
                         f"{limits.MAX_RENDERED_BYTES}-character limit",
                         "render less: a template loops over too much")
    out: list[Rendered] = []
    for key in sorted(manifests):
        # Helm names a file "<chart>/templates/x.yaml": keep "templates/x.yaml"
        source_path = key.split("/", 1)[-1]
        skip = source_path.startswith(TESTS_DIR) and not include_tests
        if not skip and PurePosixPath(source_path).name != "NOTES.txt":
            out.extend(_documents(source_path, manifests[key]))
    return out


def _documents(source: str, text: str) -> list[Rendered]:
    try:
        docs = [d for d in yamlio.load_all_fast(text) if d]
    except pyyaml.YAMLError as exc:
        raise ChartError(f"{source} renders invalid YAML: {_first_line(str(exc))}") from exc
    for doc in docs:
        if not isinstance(doc, dict):
            raise ChartError(f"{source} renders a YAML document that is not a mapping")
    return [Rendered(source, i, doc) for i, doc in enumerate(docs)]


def validate_values(chart_dir: Path, layers: Sequence[Mapping[str, Any]]) -> None:
    """Check merged values against the chart's values.schema.json (defaults applied first)."""
    import helm_python

    chart = load(chart_dir)
    try:
        chart.validate_schema(chart.merge_values(merge_layers(layers)))
    except helm_python.HelmError as exc:
        raise ChartError(clean_message(str(exc))) from exc


def lint(
    chart_dir: Path,
    values: Mapping[str, Any],
    *,
    namespace: str = "default",
    strict: bool = False,
    kube_version: str | None = None,
) -> list[LintMessage]:
    """`helm lint` of the chart with these values: every message, errors included."""
    import helm_python

    try:
        with private_copy(read_chart(chart_dir)) as copy_dir:
            report = helm_python.lint(str(copy_dir), _plain(values), strict=strict,
                                      namespace=namespace, kube_version=kube_version)
    except helm_python.HelmError as exc:
        raise ChartError(clean_message(str(exc)), "fix the chart") from exc
    messages = [
        LintMessage(_SEVERITIES.get(int(m.get("severity", 0)), "unknown"), str(m.get("path", "")),
                    clean_message(str(m.get("error", ""))))
        for m in report.get("messages") or []
    ]
    known = {m.message for m in messages}
    for err in report.get("errors") or []:
        text = clean_message(str(err))
        if text not in known:
            messages.append(LintMessage("error", "", text))
    return messages


_EXECUTION = re.compile(r"execution error at \([^)]*\): ")
_SCHEMA_HEAD = "values don't meet the specifications of the schema"


def clean_message(detail: str) -> str:
    """Helm's error text reduced to the line(s) a person needs, on one line."""
    text = detail.strip()
    if _SCHEMA_HEAD in text or re.search(r"^- at '", text, re.M):
        problems = [ln[2:].strip().replace(": false schema", ": not allowed here")
                    for ln in text.splitlines() if ln.startswith("- ")]
        return "values do not match the chart's schema: " + "; ".join(problems or [text])
    found = list(_EXECUTION.finditer(text))
    if found:
        return _first_line(text[found[-1].end() :])
    return _first_line(re.sub(r"^(Error: )?(template: )?", "", text))


def _first_line(text: str) -> str:
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    return lines[0] if lines else "Helm gave no message"
