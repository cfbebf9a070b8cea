"""gitops/bootstrap as an overlay of Argo CD's install: the base is the install manifest of the
declared version, every file and patch target exists, the images match that version, no
value-file scheme is opened, and the root app's project allows only what the root app needs.

Offline: the install manifest is not fetched; model/argocd.py knows its objects by name.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import PurePosixPath
from typing import Any

import yaml as pyyaml

from ..errors import PathRefused
from ..model import apps, argocd
from ..repo import layout, safefs, yamlio
from ..repo.yamlio import lookup
from .findings import Finding, Severity
from .repofiles import BootstrapFiles, Loaded, RepoFiles, load_file
from .rules import Rule

RULES = (
    Rule("bootstrap-kustomization", "gitops/bootstrap overlays Argo CD's install manifest, and "
         "every file and patch target it names exists"),
    Rule("bootstrap-version", "the install manifest and images are of the declared Argo CD "
         "version, a supported one"),
    Rule("bootstrap-schemes", "no value-file scheme is opened to Helm"),
    Rule("bootstrap-root-project", "the root Application's project allows only what it needs"),
)

RESTORE = "or take the file from a new 'gitops-gen init'"
_INSTALL = re.compile(
    r"^https://raw\.githubusercontent\.com/argoproj/argo-cd/v(?P<version>[^/]+)"
    r"/manifests/install\.yaml$")
_ARGOCD_IMAGE = re.compile(r"^quay\.io/argoproj/argocd:v?(?P<version>\S+)$")
SCHEMES_KEY = "helm.valuesFileSchemes"


def _finding(rule: str, loaded: Loaded, line: int | None, message: str,
             severity: Severity = "error") -> Finding:
    return Finding(rule, severity, None, loaded.path, line, message)


def _missing(rule: str, loaded: Loaded, what: str) -> Finding:
    return _finding(rule, loaded, None, f"{loaded.path} is missing: {what}; restore it from "
                    f"git {RESTORE}")


def pod_spec(patch: Loaded) -> dict[str, Any]:
    spec = lookup(patch.data, "spec", "template", "spec")
    return spec if isinstance(spec, dict) else {}


def containers(patch: Loaded, field: str = "containers") -> list[tuple[int, dict[str, Any]]]:
    items = pod_spec(patch).get(field)
    return [(i, c) for i, c in enumerate(items) if isinstance(c, dict)] \
        if isinstance(items, list) else []


def sidecar(patch: Loaded) -> tuple[int, dict[str, Any]] | None:
    return next(((i, c) for i, c in containers(patch) if c.get("name") == argocd.SIDECAR), None)


CONTAINER_PATH: list[str | int] = ["spec", "template", "spec"]


# ---- the kustomization ------------------------------------------------------------------


def _local_objects(repo: RepoFiles, names: list[str]) -> set[tuple[str, str]]:
    out: set[tuple[str, str]] = set()
    for name in names:
        try:
            text = safefs.read_text(repo.root, f"{layout.BOOTSTRAP_DIR}/{name}")
            docs = list(yamlio.load_all_fast(text)) if text is not None else []
        except (pyyaml.YAMLError, PathRefused):
            continue  # its own yaml-syntax or file-refused finding says why
        for doc in docs:
            if isinstance(doc, dict):
                out.add((str(doc.get("kind")), str(lookup(doc, "metadata", "name"))))
    return out


def _local_path_problem(repo: RepoFiles, name: str) -> str | None:
    rel = PurePosixPath(name)
    if rel.is_absolute() or ".." in rel.parts:
        return f"{name} points outside {layout.BOOTSTRAP_DIR}; keep the overlay's files in it"
    where = f"{layout.BOOTSTRAP_DIR}/{rel.as_posix()}"
    if not (safefs.is_file(repo.root, where) or safefs.is_dir(repo.root, where)):
        return f"{name} does not exist in {layout.BOOTSTRAP_DIR}; kustomize would fail"
    return None


def _patch_target(repo: RepoFiles, entry: Any) -> tuple[str, str] | None:
    if isinstance(entry, dict) and isinstance(entry.get("target"), dict):
        target = entry["target"]
        return str(target.get("kind")), str(target.get("name"))
    text = None
    if isinstance(entry, dict) and isinstance(entry.get("patch"), str):
        text = entry["patch"]
    else:
        name = entry.get("path") if isinstance(entry, dict) else entry
        try:
            text = safefs.read_text(repo.root, f"{layout.BOOTSTRAP_DIR}/{name}")
        except PathRefused:
            text = None
    try:
        doc = next(iter(yamlio.load_all_fast(text)), None) if text else None
    except pyyaml.YAMLError:
        return None
    if not isinstance(doc, dict):
        return None
    return str(doc.get("kind")), str(lookup(doc, "metadata", "name"))


def check_kustomization(repo: RepoFiles, bootstrap: BootstrapFiles,
                        version: str) -> Iterator[Finding]:
    kz = bootstrap.kustomization
    if not kz.exists:
        yield _missing("bootstrap-kustomization", kz, "'kubectl apply -k gitops/bootstrap' "
                       "installs Argo CD with the decrypting sidecar from it")
        return
    if not isinstance(kz.data, dict):
        return
    rule = "bootstrap-kustomization"
    if kz.data.get("namespace") != layout.ARGOCD_NAMESPACE:
        yield _finding(rule, kz, kz.line(["namespace"]) or 1,
                       f"namespace is {kz.data.get('namespace')!r}: Argo CD's install names no "
                       f"namespace, so set 'namespace: {layout.ARGOCD_NAMESPACE}' (argo-cd "
                       "docs/operator-manual/installation.md, Kustomize)")
    raw = kz.data.get("resources")
    resources: list[Any] = raw if isinstance(raw, list) else []
    local: list[str] = []
    install_named = False
    for i, item in enumerate(resources):
        text = str(item)
        m = _INSTALL.match(text)
        if m:
            install_named = True
            if m.group("version") != version:
                yield _finding("bootstrap-version", kz, kz.line(["resources", i]),
                               f"names Argo CD v{m.group('version')}'s install manifest but "
                               f"{layout.SETTINGS} declares argocdVersion {version}; write "
                               f"{argocd.install_url(version)}")
        elif re.match(r"^[a-z]+://", text) or text.startswith("github.com/"):
            yield _finding(rule, kz, kz.line(["resources", i]),
                           f"{text} is fetched when the overlay is built; the only remote resource "
                           "this overlay needs is Argo CD's install manifest: vendor the file into "
                           f"{layout.BOOTSTRAP_DIR}", "warning")
        else:
            local.append(text)
            problem = _local_path_problem(repo, text)
            if problem:
                yield _finding(rule, kz, kz.line(["resources", i]), problem)
    if not install_named:
        yield _finding(rule, kz, kz.line(["resources"]) or 1,
                       "resources do not name Argo CD's install manifest; without it kubectl "
                       "finds no argocd-repo-server to patch ('no resource matches strategic merge "
                       f"patch'). Add {argocd.install_url(version)}")
    plugin_file = PurePosixPath(argocd.PLUGIN).name
    if plugin_file not in local:
        yield _finding(rule, kz, kz.line(["resources"]) or 1,
                       f"resources lack {plugin_file}: the sidecar mounts plugin.yaml from that "
                       "ConfigMap and would not start; add it")
    yield from _check_patches(repo, kz, _local_objects(repo, local))


def _check_patches(repo: RepoFiles, kz: Loaded,
                   local_objects: set[tuple[str, str]]) -> Iterator[Finding]:
    rule = "bootstrap-kustomization"
    known = {(kind, name) for kind, names in argocd.INSTALL_OBJECTS.items() for name in names}
    patch_file = PurePosixPath(argocd.PATCH).name
    named_patch = False
    for field in ("patches", "patchesStrategicMerge"):
        entries = kz.data.get(field) if isinstance(kz.data.get(field), list) else []
        for i, entry in enumerate(entries):
            path = entry.get("path") if isinstance(entry, dict) else entry
            where = kz.line([field, i])
            if path is not None:
                named_patch = named_patch or str(path) == patch_file
                problem = _local_path_problem(repo, str(path))
                if problem:
                    yield _finding(rule, kz, where, problem)
                    continue
            target = _patch_target(repo, entry)
            if target is not None and target not in known | local_objects:
                yield _finding(rule, kz, where,
                               f"patches {target[0]} {target[1]}, which neither Argo CD's install "
                               "manifest nor this kustomization's resources define: kustomize "
                               "fails ('no resource matches'); fix the patch's kind and name")
    if not named_patch:
        yield _finding(rule, kz, kz.line(["patches"]) or 1,
                       f"patches lack {patch_file}: argocd-repo-server would run without the "
                       "sidecar that decrypts, and every environment would fail to render; add it")


# ---- versions -----------------------------------------------------------------------------


def check_versions(repo: RepoFiles, bootstrap: BootstrapFiles, version: str) -> Iterator[Finding]:
    rule = "bootstrap-version"
    if not argocd.is_supported(version):
        settings = load_file(repo.root, layout.SETTINGS, None, [])
        yield _finding(rule, settings, settings.line(["argocdVersion"]) or 1,
                       f"argocdVersion {version} is not supported: gitops/bootstrap is written for "
                       f"Argo CD {argocd.SUPPORTED} (checked against v{argocd.DEFAULT_VERSION}'s "
                       f"install manifest); set argocdVersion: {argocd.DEFAULT_VERSION}")
    found = sidecar(bootstrap.patch)
    if found is not None:
        i, container = found
        have = str(container.get("image", ""))
        m = _ARGOCD_IMAGE.match(have)
        if m and m.group("version") != version:
            yield _finding(rule, bootstrap.patch,
                           bootstrap.patch.line([*CONTAINER_PATH, "containers", i, "image"]),
                           f"the sidecar runs {have}, but {layout.SETTINGS} declares Argo CD "
                           f"{version}; use {argocd.image(version)} (or your image built from "
                           f"{argocd.DOCKERFILE} for {version})")
    for n, line in enumerate((bootstrap.dockerfile.text or "").splitlines(), start=1):
        m = re.match(r"^\s*FROM\s+(\S+)", line, re.IGNORECASE)
        m2 = _ARGOCD_IMAGE.match(m.group(1)) if m else None
        if m2 and m2.group("version") != version:
            yield _finding(rule, bootstrap.dockerfile, n,
                           f"builds on {m.group(1) if m else ''}, but {layout.SETTINGS} declares "
                           f"Argo CD {version}; build FROM {argocd.image(version)}")


# ---- value-file schemes -------------------------------------------------------------------


def check_schemes(bootstrap: BootstrapFiles) -> Iterator[Finding]:
    """No helm.valuesFileSchemes: the Applications use the plugin and name no value file."""
    why = ("the Applications name no value file (the plugin reads the overlay), and Argo CD "
           "hands a value file with a listed scheme to Helm with no repository-root check "
           "(argo-cd v3.5.1 util/io/path/resolved.go L113-125); remove it")
    for loaded in (bootstrap.patch, bootstrap.plugin, bootstrap.root_project, *bootstrap.others):
        if isinstance(loaded.data, dict) and isinstance(loaded.data.get("data"), dict) \
                and SCHEMES_KEY in loaded.data["data"]:
            yield _finding("bootstrap-schemes", loaded, loaded.line(["data", SCHEMES_KEY]),
                           f"{SCHEMES_KEY} is set: {why}")
    kz = bootstrap.kustomization
    entries = kz.data.get("patches") if isinstance(kz.data, dict) else None
    for i, entry in enumerate(entries if isinstance(entries, list) else []):
        if isinstance(entry, dict) and SCHEMES_KEY in str(entry.get("patch", "")):
            yield _finding("bootstrap-schemes", kz, kz.line(["patches", i]),
                           f"an inline patch sets {SCHEMES_KEY}: {why}")


# ---- the root project ---------------------------------------------------------------------


def check_root_project(repo: RepoFiles, bootstrap: BootstrapFiles) -> Iterator[Finding]:
    rule = "bootstrap-root-project"
    proj = bootstrap.root_project
    if not proj.exists:
        yield _missing(rule, proj, f"gitops/root.yaml runs in project {layout.ROOT_PROJECT_NAME}")
        return
    if not isinstance(proj.data, dict) or repo.settings is None:
        return
    want = apps.build_root_project(repo.settings.repo_url)
    for keys in (("kind",), ("metadata", "name"), ("metadata", "namespace")):
        if lookup(proj.data, *keys) != lookup(want, *keys):
            yield _finding(rule, proj, proj.line(list(keys)) or 1,
                           f"{'.'.join(keys)} is {lookup(proj.data, *keys)!r}, expected "
                           f"{lookup(want, *keys)!r} (gitops/root.yaml names that project)")
    spec = lookup(proj.data, "spec") or {}
    limits = {
        "sourceRepos": ("this repository only", want["spec"]["sourceRepos"]),
        "destinations": ("the argocd namespace of this cluster only",
                         want["spec"]["destinations"]),
    }
    for key, (what, value) in limits.items():
        if yamlio.to_plain(spec.get(key)) != value:
            yield _finding(rule, proj, proj.line(["spec", key]) or proj.line(["spec"]),
                           f"spec.{key} must be {value}: the root app deploys {what}")
    if spec.get("clusterResourceWhitelist"):
        yield _finding(rule, proj, proj.line(["spec", "clusterResourceWhitelist"]),
                       "clusterResourceWhitelist allows cluster-wide kinds; the root app creates "
                       "Applications and AppProjects only: remove it")
    kinds = spec.get("namespaceResourceWhitelist")
    have = {(str(k.get("group")), str(k.get("kind"))) for k in kinds if isinstance(k, dict)} \
        if isinstance(kinds, list) else None
    if have != set(apps.ROOT_KINDS):
        yield _finding(rule, proj, proj.line(["spec", "namespaceResourceWhitelist"])
                       or proj.line(["spec"]),
                       "namespaceResourceWhitelist must list exactly argoproj.io Application and "
                       "AppProject (absent, it allows every namespaced kind)")


def bootstrap_findings(repo: RepoFiles) -> list[Finding]:
    bootstrap = repo.bootstrap
    if bootstrap is None or repo.settings is None:
        return []
    version = repo.settings.argocd_version
    out = list(check_versions(repo, bootstrap, version))
    out.extend(check_kustomization(repo, bootstrap, version))
    out.extend(check_schemes(bootstrap))
    out.extend(check_root_project(repo, bootstrap))
    return out
