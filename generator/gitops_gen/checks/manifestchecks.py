"""Checks of what the chart renders for an environment: values schema, Helm, Kubernetes schema,
Argo CD schema, the sync plan."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

import jsonschema_rs

from ..model import chart, syncoptions, syncplan
from ..repo import layout, yamlio
from ..secrets import sops
from . import argoschema, kubeschema, syncchecks
from .findings import Finding
from .repofiles import EnvFiles, Loaded, RepoFiles

ARGO_KINDS = ("Application", "AppProject", "ApplicationSet")


@lru_cache(maxsize=8)
def _values_validator(schema_path: Path, mtime_ns: int) -> Any:  # noqa: ARG001 - cache key
    return jsonschema_rs.Draft7Validator(json.loads(schema_path.read_text()))


@lru_cache(maxsize=8)
def _chart_defaults(values_path: Path, mtime_ns: int) -> dict[str, Any]:  # noqa: ARG001
    return next(iter(yamlio.load_all_fast(values_path.read_text())), None) or {}


def env_layers(ef: EnvFiles) -> list[dict[str, Any]]:
    """The values layers the plugin passes to Helm (model/sopsplugin.py: `-f values.yaml -f -`,
    release todo): the overlay, then the SOPS file (ENC values unless decrypted)."""
    layers = []
    for loaded in (ef.values, ef.secrets):
        data = yamlio.to_plain(loaded.data) if isinstance(loaded.data, dict) else {}
        data.pop("sops", None)
        layers.append(data)
    return layers


def _is_secret_path(path: Sequence[str | int]) -> bool:
    dotted = ".".join(str(p) for p in path)
    return any(dotted == k or dotted.startswith(k + ".") for k in sops.SECRET_KEYS)


def values_findings(repo: RepoFiles, ef: EnvFiles) -> list[Finding]:
    chart_dir = layout.chart_dir(repo.root)
    schema_path = chart_dir / "values.schema.json"
    if not schema_path.is_file():
        return [Finding("values-schema", "error", ef.env, f"{layout.CHART_DIR}/values.schema.json",
                        None, "the chart has no values.schema.json; restore it")]
    defaults_path = chart_dir / "values.yaml"
    defaults = _chart_defaults(defaults_path, defaults_path.stat().st_mtime_ns)
    merged = chart.merge_layers([defaults, *env_layers(ef)])
    validator = _values_validator(schema_path, schema_path.stat().st_mtime_ns)
    out = []
    for err in validator.iter_errors(merged):
        path = list(err.instance_path)
        dotted = ".".join(str(p) for p in path) or "(top level)"
        # A schema message may quote the value; never quote a secret.
        detail = "has the wrong type or format (value not shown)" if _is_secret_path(path) \
            else err.message
        where: Loaded = ef.values
        line = ef.values.line(path)
        if line is None and ef.secrets.line(path) is not None:
            where, line = ef.secrets, ef.secrets.line(path)
        out.append(Finding("values-schema", "error", ef.env, where.path, line,
                           f"{dotted}: {detail}; fix the value to match chart/values.schema.json"))
    return out


def render_env(repo: RepoFiles, ef: EnvFiles) -> tuple[list[chart.Rendered], list[Finding]]:
    ns = ((ef.app.data or {}).get("spec") or {}).get("destination", {}).get("namespace") \
        if isinstance(ef.app.data, dict) else None
    try:
        rendered = chart.render(layout.chart_dir(repo.root), env_layers(ef),
                                namespace=str(ns or layout.default_namespace(ef.env)))
    except chart.ChartError as exc:
        return [], [Finding("helm-render", "error", ef.env, ef.values.path, None,
                            f"{exc.helm_message}; fix the overlay value or the chart template")]
    return rendered, []


def kube_findings(ef: EnvFiles, rendered: Sequence[chart.Rendered], version: str) -> list[Finding]:
    results = kubeschema.validate_objects([r.obj for r in rendered], version, ARGO_KINDS)
    out = []
    for item, problems in zip(rendered, results, strict=True):
        for p in problems:
            out.append(Finding("k8s-schema", "error", ef.env, f"{layout.CHART_DIR}/{item.source}",
                               None, f"{item.kind}/{item.name}: {p} (Kubernetes {version}); fix "
                               "the template or the value that feeds it"))
    return out


def argo_findings(ef: EnvFiles) -> Iterator[Finding]:
    for loaded in (ef.app, ef.project):
        if isinstance(loaded.data, dict):
            for p in argoschema.validate_argo(yamlio.to_plain(loaded.data)):
                yield Finding("argocd-schema", "error", ef.env, loaded.path,
                              loaded.line(list(p.location)) or 1,
                              f"{p}; fix it or run 'gitops-gen env add {ef.env}' to rewrite it")


def root_argo_findings(repo: RepoFiles) -> Iterator[Finding]:
    """The root Application and its AppProject against Argo CD's schemas."""
    project = repo.bootstrap.root_project if repo.bootstrap is not None else None
    for loaded in (repo.root_app, project):
        if loaded is not None and isinstance(loaded.data, dict):
            for p in argoschema.validate_argo(yamlio.to_plain(loaded.data)):
                yield Finding("argocd-schema", "error", None, loaded.path,
                              loaded.line(list(p.location)) or 1, f"{p}; fix {loaded.path}")


def sync_plan(ef: EnvFiles, rendered: Sequence[chart.Rendered]) -> syncplan.SyncPlan:
    """The sync plan of the rendered objects under the environment's Application: its
    destination namespace and the sync options that change the order or the waiting."""
    app = ef.app.data if isinstance(ef.app.data, dict) else {}
    ns = yamlio.lookup(app, "spec", "destination", "namespace")
    return syncplan.plan_sync([r.obj for r in rendered],
                              str(ns or layout.default_namespace(ef.env)),
                              syncoptions.application_options(app))


def _option_line(ef: EnvFiles, option: str) -> int | None:
    options = yamlio.lookup(ef.app.data, "spec", "syncPolicy", "syncOptions")
    if isinstance(options, list) and option in options:
        return ef.app.line(["spec", "syncPolicy", "syncOptions", options.index(option)])
    return ef.app.line(["spec", "syncPolicy"])


def plan_findings(ef: EnvFiles, rendered: Sequence[chart.Rendered]) -> list[Finding]:
    plan = sync_plan(ef, rendered)
    sources = {(r.kind, r.name): r.source for r in rendered}
    out = []
    for issue in syncchecks.check_plan(plan):
        if issue.option:  # about the Application's syncPolicy: point at the option
            out.append(Finding(issue.rule, issue.severity, ef.env, ef.app.path,
                               _option_line(ef, issue.option), issue.message))
            continue
        source = sources.get((issue.kind, issue.name)) if issue.kind and issue.name else None
        out.append(Finding(issue.rule, issue.severity, ef.env,
                           f"{layout.CHART_DIR}/{source}" if source else ef.values.path, None,
                           issue.message))
    return out
