"""Checks of what the chart renders for an environment: values schema, Helm, Kubernetes schema,
Argo CD schema, the sync plan."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from functools import lru_cache
from typing import Any

import jsonschema_rs
import yaml as pyyaml

from ..errors import ChartError, MissingError, PathRefused
from ..model import chart, rendercache, syncoptions, syncplan
from ..repo import layout, limits, safefs, yamlio
from ..secrets import sops
from . import argoschema, kubeschema, syncchecks
from .filechecks import is_secret_name
from .findings import Finding
from .repofiles import EnvFiles, Loaded, RepoFiles, refused
from .rules import Rule

RULES = (
    Rule("values-schema", "every values file is valid against the chart's values.schema.json"),
    Rule("helm-render", "the chart renders with every environment's values"),
)

ARGO_KINDS = ("Application", "AppProject", "ApplicationSet")


def _no_retrieval(uri: str) -> Any:
    raise ValueError(f"{uri[:80]} is not read: a schema may only refer inside itself")


@lru_cache(maxsize=8)
def _values_validator(text: str, where: str) -> Any:
    schema = chart.load_schema(text, where)
    chart.schema_problem(schema, where)
    try:
        return jsonschema_rs.Draft7Validator(schema, retriever=_no_retrieval)
    except (ValueError, jsonschema_rs.ValidationError, jsonschema_rs.ReferencingError) as exc:
        raise ChartError(f"{where} is not a valid JSON schema: "
                               f"{str(exc).splitlines()[0][:200]}", "fix the schema",
                               where) from None


@lru_cache(maxsize=8)
def _chart_defaults(text: str, where: str) -> dict[str, Any]:
    try:
        data = next(iter(yamlio.load_all_fast(text)), None) or {}
    except pyyaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise ChartError(f"{where}: {getattr(exc, 'problem', None) or 'invalid YAML'}",
                               "fix the YAML at that line", where,
                               mark.line + 1 if mark is not None else None) from None
    if not isinstance(data, dict):
        raise ChartError(f"{where} is not a mapping", "write it as key: value pairs",
                               where, 1)
    return data


UNENCRYPTED = "<not encrypted: value withheld>"


def env_layers(env_files: EnvFiles, decrypted: bool = False) -> list[dict[str, Any]]:
    """The values layers the plugin passes to Helm (model/sopsplugin.py: `-f values.yaml -f -`,
    release todo): the overlay, then the SOPS file (ENC values, or, when decrypted, the
    plaintext render --decrypt put there).

    A SOPS file's value that is not encrypted is withheld: rendering never shows it (the
    sops-encrypted rule reports it)."""
    layers = []
    for loaded in (env_files.values, env_files.secrets):
        data = yamlio.to_plain(loaded.data) if isinstance(loaded.data, dict) else {}
        data.pop("sops", None)
        if loaded is env_files.secrets and not decrypted:
            data = _withhold_plaintext(data)
        layers.append(data)
    return layers


def _withhold_plaintext(node: Any) -> Any:
    if isinstance(node, dict):
        return {k: _withhold_plaintext(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_withhold_plaintext(v) for v in node]
    return node if node is None or sops.is_encrypted_value(node) else UNENCRYPTED


def _is_secret_path(path: Sequence[str | int]) -> bool:
    """A secret's place, below one, or above one (its value holds secrets)."""
    dotted = ".".join(str(p) for p in path)
    if any(dotted == k or dotted.startswith(k + ".") or k.startswith(dotted + ".") or not path
           for k in sops.SECRET_KEYS):
        return True
    return any(isinstance(p, str) and is_secret_name(p) for p in path)


def _holds_secret(path: Sequence[str | int], instance: Any) -> bool:
    """Whether the value at path is, or holds, a secret (its name or its place says so)."""
    if _is_secret_path(path):
        return True
    todo: list[tuple[list[str | int], Any]] = [(list(path), instance)]
    while todo:
        here, node = todo.pop()
        items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(
            node, list) else ()
        for key, value in items:
            below = [*here, key if isinstance(key, int) else str(key)]
            if _is_secret_path(below):
                return True
            todo.append((below, value))
    return False


def _chart_file(repo: RepoFiles, env_files: EnvFiles,
                name: str) -> tuple[str | None, list[Finding]]:
    rel = f"{layout.CHART_DIR}/{name}"
    try:
        return safefs.read_text(repo.root, rel), []
    except PathRefused as exc:
        return None, [refused(exc, env_files.env)]


def values_findings(repo: RepoFiles, env_files: EnvFiles) -> list[Finding]:
    schema_rel = f"{layout.CHART_DIR}/values.schema.json"
    schema_text, problems = _chart_file(repo, env_files, "values.schema.json")
    if problems:
        return problems
    if schema_text is None:
        return [Finding("values-schema", "error", env_files.env, schema_rel,
                        None, "the chart has no values.schema.json; restore it")]
    defaults_rel = f"{layout.CHART_DIR}/{layout.VALUES_FILE}"
    defaults_text, problems = _chart_file(repo, env_files, layout.VALUES_FILE)
    if problems:
        return problems
    try:
        defaults = _chart_defaults(defaults_text or "", defaults_rel)
        validator = _values_validator(schema_text, schema_rel)
    except ChartError as exc:
        return [Finding("values-schema", "error", env_files.env, exc.file, exc.line,
                        f"{exc.helm_message}; {exc.fix}")]
    merged = chart.merge_layers([defaults, *env_layers(env_files)])
    out = []
    for err in validator.iter_errors(merged):
        path = list(err.instance_path)
        dotted = ".".join(str(p) for p in path) or "(top level)"
        # A schema message may quote the value; never quote a secret, or what holds one.
        detail = "has the wrong type or format (value not shown)" \
            if _holds_secret(path, err.instance) else err.message
        where: Loaded = env_files.values
        line = env_files.values.line(path)
        if line is None and env_files.secrets.line(path) is not None:
            where, line = env_files.secrets, env_files.secrets.line(path)
        out.append(Finding("values-schema", "error", env_files.env, where.path, line,
                           f"{dotted}: {detail}; fix the value to match chart/values.schema.json"))
        if len(out) >= limits.MAX_FINDINGS:
            break
    return out


def render_env(repo: RepoFiles, env_files: EnvFiles,
               decrypted: bool = False) -> tuple[list[chart.Rendered], list[Finding]]:
    ns = yamlio.lookup(env_files.app.data, "spec", "destination", "namespace")
    try:
        rendered = chart.render(repo.chart_files(), env_layers(env_files, decrypted),
                                namespace=ns if isinstance(ns, str) and ns
                                else layout.default_namespace(env_files.env),
                                cache=None if decrypted else rendercache.default())
    except ChartError as exc:
        fix = exc.fix if exc.file else "fix the overlay value or the chart template"
        return [], [Finding("helm-render", "error", env_files.env,
                            exc.file or env_files.values.path, exc.line,
                            f"{exc.helm_message}; {fix}")]
    except MissingError as exc:  # no chart at all: its own app-source finding says so too
        return [], [Finding("helm-render", "error", env_files.env, f"{layout.CHART_DIR}/Chart.yaml",
                            None, exc.render())]
    return rendered, []


def kube_findings(env_files: EnvFiles, rendered: Sequence[chart.Rendered],
                  version: str) -> list[Finding]:
    results = kubeschema.validate_objects([r.obj for r in rendered], version, ARGO_KINDS)
    out = []
    for item, problems in zip(rendered, results, strict=True):
        for p in problems:
            out.append(Finding(
                kubeschema.RULE_NO_SCHEMA if p.keyword == "no-schema" else kubeschema.RULE,
                "error", env_files.env, f"{layout.CHART_DIR}/{item.source}", None,
                f"{item.kind}/{item.name}: {p} (Kubernetes {version}); fix the template or the "
                "value that feeds it"))
    return out


def argo_findings(env_files: EnvFiles) -> Iterator[Finding]:
    for loaded in (env_files.app, env_files.project):
        if isinstance(loaded.data, dict):
            for p in argoschema.validate_argo(yamlio.to_plain(loaded.data)):
                yield Finding("argocd-schema", "error", env_files.env, loaded.path,
                              loaded.line(list(p.location)) or 1,
                              f"{p}; fix it or run 'gitops-gen env add {env_files.env}' to "
                              "rewrite it")


def root_argo_findings(repo: RepoFiles) -> Iterator[Finding]:
    """The root Application and its AppProject against Argo CD's schemas."""
    project = repo.bootstrap.root_project if repo.bootstrap is not None else None
    for loaded in (repo.root_app, project):
        if loaded is not None and isinstance(loaded.data, dict):
            for p in argoschema.validate_argo(yamlio.to_plain(loaded.data)):
                yield Finding("argocd-schema", "error", None, loaded.path,
                              loaded.line(list(p.location)) or 1, f"{p}; fix {loaded.path}")


def sync_plan(env_files: EnvFiles, rendered: Sequence[chart.Rendered]) -> syncplan.SyncPlan:
    """The sync plan of the rendered objects under the environment's Application: its
    destination namespace and the sync options that change the order or the waiting."""
    app = env_files.app.data if isinstance(env_files.app.data, dict) else {}
    ns = yamlio.lookup(app, "spec", "destination", "namespace")
    return syncplan.plan_sync([r.obj for r in rendered],
                              str(ns or layout.default_namespace(env_files.env)),
                              syncoptions.application_options(app))


def _option_line(env_files: EnvFiles, option: str) -> int | None:
    options = yamlio.lookup(env_files.app.data, "spec", "syncPolicy", "syncOptions")
    if isinstance(options, list) and option in options:
        return env_files.app.line(["spec", "syncPolicy", "syncOptions", options.index(option)])
    return env_files.app.line(["spec", "syncPolicy"])


def plan_findings(env_files: EnvFiles, rendered: Sequence[chart.Rendered]) -> list[Finding]:
    plan = sync_plan(env_files, rendered)
    sources = {(r.kind, r.name): r.source for r in rendered}
    out = []
    for issue in syncchecks.check_plan(plan):
        if issue.option:  # about the Application's syncPolicy: point at the option
            out.append(Finding(issue.rule, issue.severity, env_files.env, env_files.app.path,
                               _option_line(env_files, issue.option), issue.message))
            continue
        source = sources.get((issue.kind, issue.name)) if issue.kind and issue.name else None
        out.append(Finding(issue.rule, issue.severity, env_files.env,
                           f"{layout.CHART_DIR}/{source}" if source else env_files.values.path,
                           None, issue.message))
    return out
