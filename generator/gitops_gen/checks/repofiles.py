"""What validation reads of a repository, loaded once: settings, rules, each environment's files.

Loading never raises for bad content: a file that does not parse becomes a finding and its
data None, so one broken file does not hide the other findings.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import InputError, MissingError
from ..model import argocd
from ..repo import config, layout, yamlio
from .findings import Finding


@dataclass
class Loaded:
    """A repo-relative file: its text (None if absent) and round-trip data (None if broken)."""

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


def load_file(root: Path, path: str, env: str | None, findings: list[Finding]) -> Loaded:
    target = root / path
    if not target.is_file():
        return Loaded(path, None)
    text = target.read_text()
    try:
        return Loaded(path, text, yamlio.load(text, path))
    except yamlio.YamlError as exc:
        findings.append(
            Finding("yaml-syntax", "error", env, path, exc.line,
                    f"{exc.problem}; fix the YAML at that line")
        )
        return Loaded(path, text, None, broken=True)


def load_bootstrap(root: Path, findings: list[Finding]) -> BootstrapFiles:
    named = (argocd.KUSTOMIZATION, argocd.PATCH, argocd.PLUGIN, argocd.ROOT_PROJECT)
    docker = root / argocd.DOCKERFILE
    base = root / layout.BOOTSTRAP_DIR
    others = sorted(p.relative_to(root).as_posix() for p in base.glob("*.y*ml")) \
        if base.is_dir() else []
    kustomization, patch, plugin, project = (load_file(root, path, None, findings)
                                             for path in named)
    return BootstrapFiles(
        kustomization, patch, plugin, project,
        dockerfile=Loaded(argocd.DOCKERFILE, docker.read_text() if docker.is_file() else None),
        others=[doc for path in others if path not in named
                for doc in _load_documents(root, path, findings)],
    )


def _load_documents(root: Path, path: str, findings: list[Finding]) -> list[Loaded]:
    """One Loaded per document of a multi-document file (a kustomization resource may be)."""
    text = (root / path).read_text()
    try:
        return [Loaded(path, text, doc) for doc in yamlio.load_documents(text, path)]
    except yamlio.YamlError as exc:
        findings.append(Finding("yaml-syntax", "error", None, path, exc.line,
                                f"{exc.problem}; fix the YAML at that line"))
        return [Loaded(path, text, None, broken=True)]


def discover_envs(root: Path, settings: config.Settings | None) -> list[str]:
    """Environments named in the settings, then any with an overlay or an Application."""
    names = list(settings.environments) if settings else []
    apps_dir = root / layout.APPS_DIR
    on_disk = layout.environments_on_disk(root) + (
        sorted(p.stem for p in apps_dir.glob("*.yaml")) if apps_dir.is_dir() else []
    )
    return names + sorted({e for e in on_disk if e not in names})


def load_repo(root: Path, envs: list[str] | None = None) -> RepoFiles:
    findings: list[Finding] = []
    settings: config.Settings | None = None
    try:
        settings = config.load(root)
    except MissingError as exc:
        findings.append(Finding("settings", "error", None, layout.SETTINGS, None, exc.render()))
    except yamlio.YamlError as exc:
        findings.append(Finding("yaml-syntax", "error", None, layout.SETTINGS, exc.line,
                                f"{exc.problem}; fix the YAML at that line"))
    except InputError as exc:
        findings.append(Finding("settings", "error", None, layout.SETTINGS, None, exc.render()))
    repo = RepoFiles(root, settings, load_file(root, layout.SOPS_CONFIG, None, findings))
    repo.root_app = load_file(root, layout.ROOT_APP, None, findings)
    repo.bootstrap = load_bootstrap(root, findings)
    known = discover_envs(root, settings)
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
            load_file(root, layout.values_path(env), env, findings),
            load_file(root, layout.secrets_path(env), env, findings),
            load_file(root, layout.app_path(env), env, findings),
            load_file(root, layout.project_path(env), env, findings),
        )
    repo.findings = findings
    return repo
