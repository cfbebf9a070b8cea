"""Checks of the validation service's deployment (gitops/service/), like an environment's:
files present, values against the service chart's schema, no plaintext secret, the SOPS file
encrypted with exactly its keys and its rule's recipients, the Application and AppProject
against Argo CD's schema and this repository, real Helm rendering, every object strictly
against the Kubernetes schema, and policy (resources, probes, pinned tag, the restricted Pod
Security level). Findings name no environment. Nothing here needs a private key.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import jsonschema_rs

from ..errors import ChartError, PathRefused, YamlError
from ..model import chart, rendercache, servicedeploy
from ..repo import layout, safefs, yamlio
from ..repo.yamlio import lookup
from ..secrets import sops, sopsconfig
from . import argoschema, filechecks, manifestchecks, policy
from .findings import Finding
from .repofiles import EnvFiles, Loaded, RepoFiles, load_file
from .rules import Rule

RULES = (Rule("service-files", "the validation service's files are all there and consistent"),)

FIX = "run 'gitops-gen service add' to write it again"
COMPONENT = "validation-service"  # the chart's app.kubernetes.io/component


def present(repo: RepoFiles) -> bool:
    return safefs.is_dir(repo.root, layout.SERVICE_DIR)


def _finding(rule: str, loaded: Loaded, line: int | None, message: str,
             severity: str = "error") -> Finding:
    return Finding(rule, severity, None, loaded.path, line, message)  # type: ignore[arg-type]


def service_findings(repo: RepoFiles, version: str) -> list[Finding]:
    """Every finding about gitops/service/; none when the repository has no service."""
    if not present(repo):
        return []
    found: list[Finding] = []
    files = load_files(repo.root, found)
    if not safefs.is_file(repo.root, f"{layout.SERVICE_CHART_DIR}/Chart.yaml"):
        return found
    found += filechecks.plaintext_in(files.values, None)
    found += _sops_findings(repo, files.secrets)
    found += _argo_findings(repo, files)
    schema = _values_findings(repo, files)
    if schema or files.values.broken or files.secrets.broken:
        return found + schema
    found += _rendered_findings(repo, files, version)
    return found


def load_files(root: Path, found: list[Finding]) -> EnvFiles:
    """gitops/service/'s values, SOPS file, Application and AppProject; a service-files
    finding in found for each of them, or the chart, that is missing."""
    files = EnvFiles(layout.SERVICE_NAME,
                     load_file(root, layout.service_values(), None, found),
                     load_file(root, layout.service_secrets(), None, found),
                     load_file(root, layout.SERVICE_APP, None, found),
                     load_file(root, layout.SERVICE_PROJECT, None, found))
    for loaded in (files.values, files.secrets, files.app, files.project):
        if not loaded.exists:
            found.append(_finding("service-files", loaded, None, f"{loaded.path} missing; {FIX}"))
    if not safefs.is_file(root, f"{layout.SERVICE_CHART_DIR}/Chart.yaml"):
        found.append(Finding("service-files", "error", None, f"{layout.SERVICE_CHART_DIR}/"
                             "Chart.yaml", None, f"the service chart is missing; {FIX}"))
    return files


def _layers(files: EnvFiles, decrypted: bool) -> list[dict[str, Any]]:
    return manifestchecks.env_layers(files, decrypted)


def render(root: Path, files: EnvFiles, *, decrypted: bool = False) -> list[chart.Rendered]:
    """The service chart as the plugin renders it for source.path gitops/service
    (model/sopsplugin.py): gitops/service/chart, `-f values.yaml -f -` (the SOPS file: ENC
    values unless decrypted), release gitops-gen, the Application's destination namespace.
    ChartError when Helm fails."""
    app = files.app.data if isinstance(files.app.data, dict) else {}
    ns = lookup(app, "spec", "destination", "namespace")
    return chart.render(root / layout.SERVICE_CHART_DIR, _layers(files, decrypted),
                        namespace=str(ns or servicedeploy.destination().namespace),
                        release=layout.SERVICE_NAME,
                        cache=None if decrypted else rendercache.default())


def _values_findings(repo: RepoFiles, files: EnvFiles) -> list[Finding]:
    chart_dir = layout.SERVICE_CHART_DIR
    try:
        schema = json.loads(safefs.read_text(repo.root, f"{chart_dir}/values.schema.json") or "")
        defaults = yamlio.read(safefs.read_text(repo.root, f"{chart_dir}/values.yaml") or "",
                               "values.yaml") or {}
    except (OSError, ValueError, YamlError, PathRefused) as exc:
        return [Finding("values-schema", "error", None, f"{layout.SERVICE_CHART_DIR}/"
                        "values.schema.json", None, f"the service chart's schema or defaults "
                        f"do not load ({type(exc).__name__}); {FIX}")]
    merged = chart.merge_layers([yamlio.to_plain(defaults), *_layers(files, False)])
    out = []
    for err in jsonschema_rs.Draft7Validator(schema).iter_errors(merged):
        path = list(err.instance_path)
        dotted = ".".join(str(p) for p in path) or "(top level)"
        secret = bool(path) and str(path[0]) in servicedeploy.SECRET_KEYS
        detail = "has the wrong type or format (value not shown)" if secret else err.message
        out.append(_finding("values-schema", files.values, files.values.line(path),
                            f"{dotted}: {detail}; fix the value to match "
                            f"{layout.SERVICE_CHART_DIR}/values.schema.json"))
    return out


def _sops_findings(repo: RepoFiles, loaded: Loaded) -> Iterator[Finding]:
    if loaded.data is None:
        return
    meta = lookup(loaded.data, "sops")
    if not isinstance(meta, dict) or any(k not in meta for k in filechecks.SOPS_META):
        yield _finding("sops-metadata", loaded, loaded.line(["sops"]) or 1,
                       f"not a SOPS-encrypted file (no sops metadata with age, mac, lastmodified); "
                       f"restore it from git or remove it and {FIX}")
        return
    leaves = sops.flatten(loaded.data)
    for key, value in leaves.items():
        if value != "" and not sops.is_encrypted_value(value):  # sops leaves "" as it is
            yield _finding("sops-encrypted", loaded, loaded.line(key.split(".")),
                           f"{key} is not encrypted (value not shown); re-encrypt the file "
                           "with sops")
    for key in servicedeploy.SECRET_KEYS:
        if key not in leaves:
            yield _finding("sops-keys", loaded, None, f"missing secret key {key}; add it with "
                           f"'sops set {loaded.path} \\'[\"{key}\"]\\' ...' (value from stdin)")
    for key in leaves:
        if key not in servicedeploy.SECRET_KEYS:
            yield _finding("sops-keys", loaded, loaded.line(key.split(".")),
                           f"{key} is not one of the service's secret keys "
                           f"({', '.join(servicedeploy.SECRET_KEYS)}); remove it")
    have = sops.file_recipients(loaded.text or "")
    rules = repo.sops_config.data
    want = sopsconfig.rule_recipients(rules, "", repo_path=loaded.path) if rules is not None \
        else None
    if want is None:
        yield Finding("sops-recipients", "error", None, layout.SOPS_CONFIG, None,
                      f"no creation rule for {loaded.path}; {FIX}")
    elif sorted(have) != sorted(want):
        yield _finding("sops-recipients", loaded, loaded.line(["sops", "age"]),
                       f"encrypted to {', '.join(have) or 'nobody'} but {layout.SOPS_CONFIG} says "
                       f"{', '.join(want)}; run 'sops updatekeys {loaded.path}'")


def _argo_findings(repo: RepoFiles, files: EnvFiles) -> Iterator[Finding]:
    for loaded in (files.app, files.project):
        if isinstance(loaded.data, dict):
            for p in argoschema.validate_argo(yamlio.to_plain(loaded.data)):
                yield _finding("argocd-schema", loaded, loaded.line(list(p.location)) or 1,
                               f"{p}; fix it or {FIX}")
    app, proj = files.app, files.project
    if app.data is None or proj.data is None or repo.settings is None:
        return
    expect = {("metadata", "name"): layout.SERVICE_NAME,
              ("metadata", "namespace"): layout.ARGOCD_NAMESPACE,
              ("spec", "project"): lookup(proj.data, "metadata", "name"),
              ("spec", "source", "repoURL"): repo.settings.repo_url}
    for keys, want in expect.items():
        have = yamlio.to_plain(lookup(app.data, *keys))
        if have != want:
            yield _finding("app-source", app, app.line(list(keys)),
                           f"{'.'.join(keys)} is {have!r}, expected {want!r}; {FIX}")
    # Rendered by the decrypting plugin from gitops/service, like an environment's overlay.
    yield from filechecks.plugin_findings(app, None, lookup(app.data, "spec", "source"),
                                          layout.SERVICE_DIR, layout.service_secrets(), FIX)
    repos = lookup(proj.data, "spec", "sourceRepos") or []
    if repo.settings.repo_url not in repos and "*" not in repos:
        yield _finding("app-project", proj, proj.line(["spec", "sourceRepos"]),
                       f"sourceRepos does not allow {repo.settings.repo_url}; {FIX}")
    dest = yamlio.to_plain(lookup(app.data, "spec", "destination"))
    if dest not in yamlio.to_plain(lookup(proj.data, "spec", "destinations") or []):
        yield _finding("app-destination", app, app.line(["spec", "destination"]),
                       f"destination {dest} is not one of AppProject {proj.path}'s "
                       f"destinations; {FIX}")


def _rendered_findings(repo: RepoFiles, files: EnvFiles, version: str) -> list[Finding]:
    try:
        rendered = render(repo.root, files)
    except ChartError as exc:
        return [_finding("helm-render", files.values, None,
                         f"{exc.helm_message}; fix the value or the service chart's template")]
    found = manifestchecks.kube_findings(files, rendered, version)
    # The rules of the todo-chatbot's policy that fit any workload; replicas are the
    # service's own choice.
    found += [f for f in policy.policy_findings(files, rendered) if f.rule != "policy-replicas"]
    found += _read_only_root(rendered)
    chart_prefix = f"{layout.CHART_DIR}/"
    tag_fix = f"set {COMPONENT}.image.tag to a release tag"
    return [replace(
        f, env=None,
        file=layout.SERVICE_CHART_DIR + "/" + f.file.removeprefix(chart_prefix)
        if f.file and f.file.startswith(chart_prefix) else f.file,
        message=f.message.replace(tag_fix, f"set image.tag in {layout.service_values()} to a "
                                           "release tag"))
        for f in found]


def _read_only_root(rendered: list[chart.Rendered]) -> Iterator[Finding]:
    """The service writes only to its volumes (the clone, /tmp): its root filesystem is
    read-only."""
    for item in rendered:
        if item.kind != "Deployment":
            continue
        pod = lookup(item.obj, "spec", "template", "spec") or {}
        for c in [*(pod.get("initContainers") or []), *(pod.get("containers") or [])]:
            if lookup(c, "securityContext", "readOnlyRootFilesystem") is not True:
                yield Finding("policy-security-context", "error", None,
                              f"{layout.CHART_DIR}/{item.source}", None,
                              f"Deployment/{item.name}: container {c.get('name')} has a "
                              "writable root filesystem; set securityContext."
                              "readOnlyRootFilesystem: true (it writes only to its volumes)")
