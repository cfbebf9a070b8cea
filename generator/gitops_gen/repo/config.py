"""Repository settings in .gitops-gen.yaml: what Argo CD pulls and in which order envs promote."""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from pathlib import Path

from ruamel.yaml.comments import CommentedMap

from ..errors import InputError, MissingError
from . import layout, safefs, yamlio
from .layout import SETTINGS

DEFAULT_KUBE_VERSION = "1.30"
DEFAULT_REVISION = "main"
# fullmatch everywhere: '$' would also match before a trailing newline.
_KUBE_VERSION = re.compile(r"1\.\d{1,2}")
# user:password@ in any URL, and any user@ in an http(s) URL (a token given as the user name);
# ssh://git@host and git@host:org/repo name a user, never a secret.
_CREDENTIALS = re.compile(r"[a-z+]+://[^/@\s]*:[^/@\s]*@.*|https?://[^/@\s]+@.*", re.S)
_REPO_URL = re.compile(r"https?://[^\s/]+/\S+|ssh://\S+|git@[^\s:]+:\S+|file://[^\n\r]+")
_REVISION = re.compile(r"(?!-)[^\s\x00-\x1f\x7f~^:?*\[\\]{1,255}")

HEADER = """\
# gitops-gen settings. Written by 'gitops-gen init', 'env add' appends environments.
# repoURL: the repository Argo CD pulls; targetRevision: the branch or tag it follows;
# environments: the promotion order (promote goes from one to the next);
# kubeVersion: the Kubernetes version 'validate' checks manifests against.
"""


@dataclass(frozen=True)
class Settings:
    repo_url: str
    target_revision: str = DEFAULT_REVISION
    environments: tuple[str, ...] = field(default_factory=tuple)
    kube_version: str = DEFAULT_KUBE_VERSION

    def with_env(self, env: str) -> Settings:
        if env in self.environments:
            return self
        return replace(self, environments=(*self.environments, env))

    def without_env(self, env: str) -> Settings:
        return replace(self, environments=tuple(e for e in self.environments if e != env))


def check_repo_url(url: str, flag: str = "--repo-url") -> str:
    if not _REPO_URL.fullmatch(url):
        raise InputError(
            f"{flag} {url!r} is not a git URL",
            "give https://host/org/repo.git, ssh://..., git@host:org/repo.git or file://...",
        )
    if _CREDENTIALS.fullmatch(url):
        # The URL is not repeated: the part before '@' is a password or a token.
        raise InputError(
            f"{flag} carries credentials; they would be committed into every Application",
            "give the URL with nothing before '@' (https) or a user name only (ssh), and "
            "register the credentials with Argo CD (a repository Secret) and git (a credential "
            "helper)",
        )
    return url


def check_kube_version(version: str, flag: str = "--kube-version") -> str:
    version = version.removeprefix("v")
    if not _KUBE_VERSION.fullmatch(version):
        raise InputError(f"{flag} {version!r} is not MAJOR.MINOR", "give e.g. 1.30")
    return version


class SettingsError(InputError):
    """A value of .gitops-gen.yaml that is missing or of the wrong type, with its line."""

    def __init__(self, message: str, fix: str, line: int | None) -> None:
        self.line = line
        super().__init__(f"{SETTINGS}:{line or 1}: {message}", fix)


def kind_of(value: object) -> str:
    """How a YAML value reads to a person: 'a number', 'a list', ..."""
    if isinstance(value, bool):
        return "true or false"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return "empty" if value is None or value == "" else "a string"


def _string(data: CommentedMap, key: str, default: str | None, fix: str) -> str:
    value = data.get(key, default)
    if not isinstance(value, str) or not value:
        kind = "missing" if key not in data else f"{kind_of(value)}, not a string"
        raise SettingsError(f"{key} is {kind}", fix, yamlio.line_of(data, [key]))
    return value


def load(root: Path) -> Settings:
    """The settings; every value checked for its type and form (exit 2 with its line)."""
    text = safefs.read_text(root, SETTINGS)
    if text is None:
        raise MissingError(
            f"{SETTINGS} not found in {root}",
            "run 'gitops-gen init PATH' first, or pass --repo with a gitops-gen repository",
        )
    data = yamlio.load(text, SETTINGS) or CommentedMap()
    if not isinstance(data, CommentedMap) or "repoURL" not in data:
        raise InputError(
            f"{SETTINGS}: repoURL is missing", f"add 'repoURL: <git URL>' to {SETTINGS}"
        )
    url = _string(data, "repoURL", None, "write the git URL Argo CD pulls, e.g. "
                  "https://github.com/org/repo.git")
    try:
        check_repo_url(url, "repoURL")
    except InputError as exc:
        raise SettingsError(exc.message, exc.fix, yamlio.line_of(data, ["repoURL"])) from None
    revision = _string(data, "targetRevision", DEFAULT_REVISION,
                       "write the branch or tag Argo CD follows, e.g. main")
    if not _REVISION.fullmatch(revision) or ".." in revision:
        raise SettingsError(f"targetRevision {revision[:64]!r} is not a branch, tag or commit",
                            "write the branch or tag Argo CD follows, e.g. main",
                            yamlio.line_of(data, ["targetRevision"]))
    kube = _string(data, "kubeVersion", DEFAULT_KUBE_VERSION,
                   "write it quoted, as MAJOR.MINOR: kubeVersion: '1.30' (unquoted, YAML "
                   "reads 1.30 as the number 1.3)")
    try:
        check_kube_version(kube, "kubeVersion")
    except InputError as exc:
        raise SettingsError(exc.message, exc.fix, yamlio.line_of(data, ["kubeVersion"])) from None
    envs = data.get("environments") or []
    if not isinstance(envs, list) or not all(
        isinstance(e, str) and layout.is_dns_label(e) for e in envs
    ):
        raise SettingsError(
            "environments must be a list of environment names",
            "write it as 'environments: [dev, staging, prod]' in promotion order",
            yamlio.line_of(data, ["environments"]),
        )
    return Settings(repo_url=url, target_revision=revision,
                    environments=tuple(str(e) for e in envs), kube_version=kube)


def render(settings: Settings, existing: str | None = None) -> str:
    """The settings file; given the current text, only the four keys change in it."""
    if existing is not None:
        data = yamlio.load(existing, SETTINGS)
        if isinstance(data, CommentedMap):
            data["repoURL"] = settings.repo_url
            data["targetRevision"] = settings.target_revision
            data["environments"] = list(settings.environments)
            data["kubeVersion"] = settings.kube_version
            return yamlio.dump(data)
    data = CommentedMap()
    data["repoURL"] = settings.repo_url
    data["targetRevision"] = settings.target_revision
    data["environments"] = list(settings.environments)
    data["kubeVersion"] = settings.kube_version
    return HEADER + yamlio.dump(data)
