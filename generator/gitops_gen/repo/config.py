"""Repository settings in .gitops-gen.yaml: what Argo CD pulls and in which order envs promote."""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from pathlib import Path

from ruamel.yaml.comments import CommentedMap

from ..errors import InputError, MissingError
from . import layout, yamlio
from .layout import SETTINGS

DEFAULT_KUBE_VERSION = "1.30"
DEFAULT_REVISION = "main"
DEFAULT_ARGOCD_VERSION = "3.5.1"
_KUBE_VERSION = re.compile(r"^1\.\d{1,2}$")
_CREDENTIALS = re.compile(r"^[a-z+]+://[^/@\s]*:[^/@\s]*@")
_REPO_URL = re.compile(r"^(https?://[^\s/]+/\S+|ssh://\S+|git@[^\s:]+:\S+|file://\S+)$")

HEADER = """\
# gitops-gen settings. Written by 'gitops-gen init', 'env add' appends environments.
# repoURL: the repository Argo CD pulls; targetRevision: the branch or tag it follows;
# environments: the promotion order (promote goes from one to the next);
# kubeVersion: the Kubernetes version 'validate' checks manifests against;
# argocdVersion: the Argo CD release gitops/bootstrap is written for.
"""


@dataclass(frozen=True)
class Settings:
    repo_url: str
    target_revision: str = DEFAULT_REVISION
    environments: tuple[str, ...] = field(default_factory=tuple)
    kube_version: str = DEFAULT_KUBE_VERSION
    argocd_version: str = DEFAULT_ARGOCD_VERSION

    def with_env(self, env: str) -> Settings:
        if env in self.environments:
            return self
        return replace(self, environments=(*self.environments, env))

    def without_env(self, env: str) -> Settings:
        return replace(self, environments=tuple(e for e in self.environments if e != env))


def check_repo_url(url: str, flag: str = "--repo-url") -> str:
    if not _REPO_URL.match(url):
        raise InputError(
            f"{flag} {url!r} is not a git URL",
            "give https://host/org/repo.git, ssh://..., git@host:org/repo.git or file://...",
        )
    if _CREDENTIALS.match(url):
        raise InputError(
            f"{flag} carries credentials; they would be committed into every Application",
            "give the URL without user:password@ and register the credentials with Argo CD "
            "(a repository Secret) and git (a credential helper)",
        )
    return url


def check_kube_version(version: str, flag: str = "--kube-version") -> str:
    version = version.removeprefix("v")
    if not _KUBE_VERSION.match(version):
        raise InputError(f"{flag} {version!r} is not MAJOR.MINOR", "give e.g. 1.30")
    return version


def load(root: Path) -> Settings:
    path = root / SETTINGS
    if not path.is_file():
        raise MissingError(
            f"{SETTINGS} not found in {root}",
            "run 'gitops-gen init PATH' first, or pass --repo with a gitops-gen repository",
        )
    data = yamlio.load(path.read_text(), SETTINGS) or {}
    if not isinstance(data, dict) or "repoURL" not in data:
        raise InputError(
            f"{SETTINGS}: repoURL is missing", f"add 'repoURL: <git URL>' to {SETTINGS}"
        )
    envs = data.get("environments") or []
    if not isinstance(envs, list) or not all(
        isinstance(e, str) and layout.is_dns_label(e) for e in envs
    ):
        line = yamlio.line_of(data, ["environments"])
        raise InputError(
            f"{SETTINGS}:{line or 1}: environments must be a list of environment names",
            "write it as 'environments: [dev, staging, prod]' in promotion order",
        )
    return Settings(
        repo_url=str(data["repoURL"]),
        target_revision=str(data.get("targetRevision", DEFAULT_REVISION)),
        environments=tuple(str(e) for e in envs),
        kube_version=str(data.get("kubeVersion", DEFAULT_KUBE_VERSION)),
        argocd_version=str(data.get("argocdVersion", DEFAULT_ARGOCD_VERSION)),
    )


def render(settings: Settings, existing: str | None = None) -> str:
    """The settings file; given the current text, only the five keys change in it."""
    if existing is not None:
        data = yamlio.load(existing, SETTINGS)
        if isinstance(data, CommentedMap):
            _set_keys(data, settings)
            return yamlio.dump(data)
    data = CommentedMap()
    _set_keys(data, settings)
    return HEADER + yamlio.dump(data)


def _set_keys(data: CommentedMap, settings: Settings) -> None:
    data["repoURL"] = settings.repo_url
    data["targetRevision"] = settings.target_revision
    data["environments"] = list(settings.environments)
    data["kubeVersion"] = settings.kube_version
    data["argocdVersion"] = settings.argocd_version
