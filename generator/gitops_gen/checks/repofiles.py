"""What validation reads of a repository, loaded once: settings, rules, each environment's files.

Loading never raises for bad content: a file that does not parse becomes a finding and its
data None, so one broken file does not hide the other findings. Everything is read through
safefs (no link followed, no file past its cap, UTF-8 only) and yamlio's bounded read-only
loader (yamlio.read: the round-trip loader's data and lines, many times faster; nothing here is
written back); the trees validation reads are walked first, and a repository past the caps is
not read at all.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import (
    ChartError,
    InputError,
    MissingError,
    PathRefused,
    SettingsError,
    TreeTooLarge,
    YamlError,
)
from ..model import argocd, chart
from ..repo import config, layout, limits, safefs, yamlio
from .findings import Finding
from .rules import Rule

# What validation reads, and so what must hold no link, no device and nothing too large.
READ_DIRS = (layout.CHART_DIR, layout.OVERLAYS_DIR, layout.GITOPS_DIR)
READ_FILES = (layout.SETTINGS, layout.SOPS_CONFIG)


@dataclass
class Loaded:
    """A repo-relative file: its text (None if absent) and data with lines (yamlio.read; None
    if broken)."""

    path: str
    text: str | None
    data: Any = None
    broken: bool = False

    @property
    def exists(self) -> bool:
        return self.text is not None

    def line(self, keys: Sequence[str | int]) -> int | None:
        return yamlio.line_of(self.data, keys) if self.data is not None else None


@dataclass
class EnvFiles:
    env: str
    values: Loaded
    secrets: Loaded
    app: Loaded
    project: Loaded


@dataclass
class BootstrapFiles:
    """gitops/bootstrap: the files gitops-gen writes there, and any other YAML file in it."""

    kustomization: Loaded
    patch: Loaded
    plugin: Loaded
    root_project: Loaded
    dockerfile: Loaded  # text only
    others: list[Loaded] = field(default_factory=list)  # one per document


@dataclass
class RepoFiles:
    root: Path
    settings: config.Settings | None
    sops_config: Loaded
    envs: dict[str, EnvFiles] = field(default_factory=dict)
    root_app: Loaded | None = None
    bootstrap: BootstrapFiles | None = None
    findings: list[Finding] = field(default_factory=list)
    too_large: bool = False  # past the caps: nothing but the findings was read
    # Only the environments the caller named were loaded: checks across the repository look
    # only at what concerns those (a clash with another environment's names, say).
    selected: bool = False
    _chart: chart.ChartFiles | ChartError | MissingError | None = field(
        default=None, init=False, repr=False, compare=False)
    _chart_lock: threading.Lock = field(default_factory=threading.Lock, init=False,
                                        repr=False, compare=False)

    def chart_files(self) -> chart.ChartFiles:
        """The chart's files, read and checked once for every environment (the ChartError or
        MissingError of model/chart.read_chart, every time it is asked for)."""
        with self._chart_lock:
            if self._chart is None:
                try:
                    self._chart = chart.ChartFiles.read(layout.chart_dir(self.root))
                except (ChartError, MissingError) as exc:
                    self._chart = exc
            if isinstance(self._chart, ChartError | MissingError):
                raise self._chart
            return self._chart


@dataclass(frozen=True)
class Top:
    """What a file's top level must be (a mapping), and the finding when it is not."""

    rule: str
    what: str
    fix: str


# Helm's -f reads each file into a map and fails otherwise (pkg/cli/values/options.go:54 at
# v4.2.3, loader.LoadValues); Argo CD passes value files as --values (util/helm/cmd.go:454 at
# v3.5.1).
VALUES_TOP = Top("values-schema", "a Helm values file",
                 "Helm's -f (which Argo CD uses) refuses one that is not a mapping, so the "
                 "sync would fail; write it as key: value pairs")
ARGO_TOP = Top("argocd-schema", "an Argo CD manifest",
               "write it as a mapping (apiVersion, kind, metadata, spec)")


def env_of(path: str) -> str | None:
    """The environment a repo-relative path belongs to, by its place in the layout."""
    parts = path.split("/")
    if len(parts) > 2 and parts[0] == layout.OVERLAYS_DIR and layout.is_dns_label(parts[1]):
        return parts[1]
    if len(parts) == 3 and f"{parts[0]}/{parts[1]}" in (layout.APPS_DIR, layout.PROJECTS_DIR):
        stem = parts[2].removesuffix(".yaml")
        return stem if layout.is_dns_label(stem) else None
    return None


RULES = (
    Rule("file-refused", "every file read is a regular file within the caps: no link, device, "
         "oversized or non-UTF-8 file"),
    Rule("yaml-syntax", "every YAML file parses, without duplicate keys"),
    Rule("settings", ".gitops-gen.yaml holds every value, of the right type"),
)


def refused(exc: PathRefused, env: str | None = None) -> Finding:
    return Finding("file-refused", "error", env if env is not None else env_of(exc.path),
                   exc.path, exc.line, f"{exc.problem}; {exc.fix}")


def load_file(root: Path, path: str, env: str | None, findings: list[Finding],
              top: Top | None = None) -> Loaded:
    """path read with lines (yamlio.read); a problem (refused, not YAML, top level not a
    mapping when top says it must be one) is a finding, and the data None."""
    try:
        text = safefs.read_text(root, path)
    except PathRefused as exc:
        findings.append(refused(exc, env))
        return Loaded(path, "", None, broken=True)
    if text is None:
        return Loaded(path, None)
    try:
        data = yamlio.read(text, path)
    except YamlError as exc:
        findings.append(
            Finding("yaml-syntax", "error", env, path, exc.line,
                    f"{exc.problem}; fix the YAML at that line")
        )
        return Loaded(path, text, None, broken=True)
    if top is not None and data is not None and not isinstance(data, dict):
        findings.append(Finding(top.rule, "error", env, path, 1,
                                f"{top.what} must be a mapping at the top level, not "
                                f"{config.kind_of(data)}; {top.fix}"))
        return Loaded(path, text, None, broken=True)
    return Loaded(path, text, data)


def tree_findings(root: Path) -> tuple[list[Finding], bool]:
    """Links, devices and oversized files where validation reads; True when the repository
    is past the caps (too many files, too deep or too many bytes) and must not be read."""
    out: list[Finding] = []
    total = 0
    entries: list[safefs.Entry] = []
    try:
        for name in READ_FILES:
            found = safefs.entry(root, name)
            entries += [found] if found is not None else []
        for top in READ_DIRS:
            found = safefs.entry(root, top)
            if found is not None and found.kind == "dir":
                entries.extend(safefs.walk(root, top))
            elif found is not None:
                entries.append(found)
    except TreeTooLarge as exc:
        return [Finding("file-refused", "error", None, exc.path, None, exc.render())], True
    for entry in entries:
        problem: PathRefused | None = None
        if entry.kind == "link":
            problem = PathRefused(entry.path, "is a symbolic link", safefs.LINK_FIX)
        elif entry.kind == "other":
            problem = PathRefused(entry.path, "is not a regular file or directory",
                                     "remove it from the repository")
        elif entry.kind == "file" and entry.size > limits.MAX_FILE_BYTES:
            problem = safefs.too_large(entry.path, entry.size, limits.MAX_FILE_BYTES)
        if problem is not None:
            out.append(refused(problem))
        total += entry.size if entry.kind == "file" else 0
    if total > limits.MAX_TREE_BYTES:
        where = ", ".join(f"{d}/" for d in READ_DIRS)
        out.append(Finding("file-refused", "error", None, None, None,
                           f"{where} and the settings hold {total} bytes, over the "
                           f"{limits.MAX_TREE_BYTES}-byte limit; gitops-gen reads no larger "
                           "repository"))
        return out, True
    return out, False


def load_bootstrap(root: Path, findings: list[Finding]) -> BootstrapFiles:
    named = (argocd.KUSTOMIZATION, argocd.PATCH, argocd.PLUGIN, argocd.ROOT_PROJECT)
    others: list[str] = []
    try:
        if safefs.is_dir(root, layout.BOOTSTRAP_DIR):
            others = sorted(entry.path for entry in safefs.list_dir(root, layout.BOOTSTRAP_DIR)
                            if entry.kind == "file" and entry.name.endswith((".yaml", ".yml")))
    except PathRefused as exc:  # a link where a directory should be
        findings.append(refused(exc))
    kustomization, patch, plugin, project = (load_file(root, path, None, findings)
                                             for path in named)
    try:
        docker = safefs.read_text(root, argocd.DOCKERFILE)
    except PathRefused as exc:
        findings.append(refused(exc))
        docker = None
    return BootstrapFiles(
        kustomization, patch, plugin, project,
        dockerfile=Loaded(argocd.DOCKERFILE, docker),
        others=[doc for path in others if path not in named
                for doc in _load_documents(root, path, findings)],
    )


def _load_documents(root: Path, path: str, findings: list[Finding]) -> list[Loaded]:
    """One Loaded per document of a multi-document file (a kustomization resource may be)."""
    try:
        text = safefs.read_text(root, path) or ""
    except PathRefused as exc:
        findings.append(refused(exc))
        return [Loaded(path, "", None, broken=True)]
    try:
        return [Loaded(path, text, doc) for doc in yamlio.read_documents(text, path)]
    except YamlError as exc:
        findings.append(Finding("yaml-syntax", "error", None, path, exc.line,
                                f"{exc.problem}; fix the YAML at that line"))
        return [Loaded(path, text, None, broken=True)]


def discover_envs(root: Path, settings: config.Settings | None,
                  findings: list[Finding] | None = None) -> list[str]:
    """Environments named in the settings, then any with an overlay or an Application.

    A file in gitops/apps/ whose name is no environment name (a DNS label) makes none, and is
    a finding when findings is given: Argo CD's root application would still apply it.
    """
    names = list(settings.environments) if settings else []
    stems = []
    for entry in safefs.list_dir(root, layout.APPS_DIR) if safefs.is_dir(
            root, layout.APPS_DIR) else []:
        if not entry.name.endswith(".yaml") or entry.kind != "file":
            continue
        stem = entry.name.removesuffix(".yaml")
        if layout.is_dns_label(stem, layout.ENV_NAME_MAX):
            stems.append(stem)
        elif findings is not None:
            findings.append(Finding(
                "env-files", "error", None, entry.path, None,
                f"{stem!r} is not an environment name (a DNS-1123 label of at most "
                f"{layout.ENV_NAME_MAX} characters), so nothing checks it, yet the root "
                "application applies it; rename it after its environment or remove it"))
    on_disk = layout.environments_on_disk(root) + sorted(stems)
    return names + sorted({e for e in on_disk if e not in names})


def load_settings(root: Path, findings: list[Finding]) -> config.Settings | None:
    try:
        return config.load(root)
    except PathRefused as exc:
        findings.append(refused(exc))
    except MissingError as exc:
        findings.append(Finding("settings", "error", None, layout.SETTINGS, None, exc.render()))
    except YamlError as exc:
        findings.append(Finding("yaml-syntax", "error", None, layout.SETTINGS, exc.line,
                                f"{exc.problem}; fix the YAML at that line"))
    except SettingsError as exc:
        findings.append(Finding("settings", "error", None, layout.SETTINGS, exc.line,
                                exc.render()))
    except InputError as exc:
        findings.append(Finding("settings", "error", None, layout.SETTINGS, None, exc.render()))
    return None


def check_env_names(envs: list[str]) -> None:
    bad = [e for e in envs if not layout.is_dns_label(e, layout.ENV_NAME_MAX)]
    if bad:
        raise InputError(f"{bad[0]!r} is not an environment name",
                         "environment names are DNS-1123 labels: lower-case letters, digits "
                         "and '-' (gitops-gen env list)")


def load_repo(root: Path, envs: list[str] | None = None) -> RepoFiles:
    if envs:
        check_env_names(envs)
    findings, too_large = tree_findings(root)
    if too_large:
        return RepoFiles(root, None, Loaded(layout.SOPS_CONFIG, None), findings=findings,
                         too_large=True)
    settings = load_settings(root, findings)
    repo = RepoFiles(root, settings, load_file(root, layout.SOPS_CONFIG, None, findings),
                     selected=bool(envs))
    repo.root_app = load_file(root, layout.ROOT_APP, None, findings, ARGO_TOP)
    repo.bootstrap = load_bootstrap(root, findings)
    try:
        known = discover_envs(root, settings, findings)
    except PathRefused as exc:  # gitops/ or gitops/apps is a link: reported above
        findings.append(refused(exc))
        known = list(settings.environments) if settings else []
    if envs:
        unknown = [e for e in envs if e not in known]
        if unknown:
            raise InputError(
                f"no environment {', '.join(map(repr, unknown))} in {root}",
                f"known environments: {', '.join(known) or 'none'} (gitops-gen env list)",
            )
    for env in envs or known:
        repo.envs[env] = EnvFiles(
            env,
            load_file(root, layout.values_path(env), env, findings, VALUES_TOP),
            load_file(root, layout.secrets_path(env), env, findings),
            load_file(root, layout.app_path(env), env, findings, ARGO_TOP),
            load_file(root, layout.project_path(env), env, findings, ARGO_TOP),
        )
    repo.findings = list(dict.fromkeys(findings))  # a link is found by the walk and the read
    return repo
