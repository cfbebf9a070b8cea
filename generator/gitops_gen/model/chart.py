"""The todo-chatbot Helm chart: where it ships, rendering it with real Helm, linting it.

Rendering goes through the Helm SDK (no helm binary): values layers are merged the way
`helm template -f a.yaml -f b.yaml` merges them, Helm applies the chart's defaults and its
values.schema.json, and every non-empty YAML document of the output comes back as a Rendered.
Helm's failures (schema, `required`/`fail` messages, template errors) become one ChartError
whose message quotes Helm's own words without the Go noise around them.
"""

from __future__ import annotations

import copy
import datetime as _dt
import re
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

import yaml as pyyaml

from ..errors import InputError, MissingError
from ..repo import layout, yamlio

if TYPE_CHECKING:
    import helm_python

# helm_python is imported by the functions that call Helm, not here: importing it starts a Go
# runtime (threads, about 50 MiB), which commands that only read Rendered objects never need.

WAVE_ANNOTATION = "argocd.argoproj.io/sync-wave"
HOOK_ANNOTATION = "helm.sh/hook"
TESTS_DIR = "templates/tests/"
_SEVERITIES = {0: "unknown", 1: "info", 2: "warning", 3: "error"}


class ChartError(InputError):
    """Helm refused the chart or the values; helm_message is Helm's own (cleaned) message."""

    def __init__(self, helm_message: str, fix: str = "fix the value or template it names") -> None:
        self.helm_message = helm_message
        super().__init__(f"the chart does not render: {helm_message}", fix)


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


_CACHE: dict[Path, tuple[tuple[int, int], helm_python.Chart]] = {}
_CACHE_LOCK = threading.Lock()
_CACHE_SIZE = 8


def _stamp(chart_dir: Path) -> tuple[int, int]:
    """Newest mtime and file count under the chart: changes whenever a file does."""
    files = [p.stat().st_mtime_ns for p in chart_dir.rglob("*") if p.is_file()]
    return (max(files, default=0), len(files))


def load(chart_dir: Path) -> helm_python.Chart:
    """The loaded chart, cached per directory until a file in it changes."""
    key = chart_dir.resolve()
    if not (key / "Chart.yaml").is_file():
        raise MissingError(f"no Helm chart at {chart_dir} (Chart.yaml missing)", "check the path")
    stamp = _stamp(key)
    import helm_python

    with _CACHE_LOCK:
        cached = _CACHE.get(key)
        if cached is not None and cached[0] == stamp:
            return cached[1]
        try:
            handle = helm_python.Chart.load(str(key))
        except helm_python.HelmError as exc:
            raise ChartError(clean_message(str(exc)), "fix the chart") from exc
        # A replaced handle is freed when the last caller drops it (weakref finalizer).
        # Bounded: a long-running service renders many temporary checkouts.
        _CACHE.pop(key, None)
        while len(_CACHE) >= _CACHE_SIZE:
            _CACHE.pop(next(iter(_CACHE)))
        _CACHE[key] = (stamp, handle)
        return handle


def render(
    chart_dir: Path,
    layers: Sequence[Mapping[str, Any]],
    *,
    namespace: str,
    release: str = layout.RELEASE_NAME,
    include_tests: bool = False,
) -> list[Rendered]:
    """Every non-empty YAML document the chart renders with these values layers.

    Hooks are included (callers read their annotations); templates/tests/ only on request.
    """
    import helm_python

    values = merge_layers(layers)
    try:
        manifests = load(chart_dir).render(values, name=release, namespace=namespace)
    except helm_python.HelmError as exc:
        raise ChartError(clean_message(str(exc))) from exc
    out: list[Rendered] = []
    for key in sorted(manifests):
        source = key.split("/", 1)[-1]  # Helm's "<chart>/templates/x.yaml" -> "templates/x.yaml"
        skip = source.startswith(TESTS_DIR) and not include_tests
        if not skip and PurePosixPath(source).name != "NOTES.txt":
            out.extend(_documents(source, manifests[key]))
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
        report = helm_python.lint(str(chart_dir), _plain(values), strict=strict,
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
