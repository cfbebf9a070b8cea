"""Repository settings in .gitops-gen.yaml: what Argo CD pulls and in which order envs promote."""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import yaml as pyyaml
from ruamel.yaml.comments import CommentedMap

from ..errors import InputError, MissingError, SettingsError
from . import layout, safefs, yamlio
from .layout import SETTINGS

DEFAULT_KUBE_VERSION = "1.30"
DEFAULT_REVISION = "main"
DEFAULT_ARGOCD_VERSION = "3.5.1"
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


def _string(data: dict[str, Any], key: str, default: str | None, fix: str) -> str:
    value = data.get(key, default)
    if not isinstance(value, str) or not value:
        kind = "missing" if key not in data else f"{kind_of(value)}, not a string"
        raise SettingsError(SETTINGS, f"{key} is {kind}", fix, yamlio.line_of(data, [key]))
    return value


def load(root: Path) -> Settings:
    """The settings; every value checked for its type and form (exit 2 with its line). Only
    read, never written back: through yamlio.read."""
    text = safefs.read_text(root, SETTINGS)
    if text is None:
        raise MissingError(
            f"{SETTINGS} not found in {root}",
            "run 'gitops-gen init PATH' first, or pass --repo with a gitops-gen repository",
        )
    data = yamlio.read(text, SETTINGS) or {}
    if not isinstance(data, dict) or "repoURL" not in data:
        raise InputError(
            f"{SETTINGS}: repoURL is missing", f"add 'repoURL: <git URL>' to {SETTINGS}"
        )
    url = _string(data, "repoURL", None, "write the git URL Argo CD pulls, e.g. "
                  "https://github.com/org/repo.git")
    try:
        check_repo_url(url, "repoURL")
    except InputError as exc:
        raise SettingsError(SETTINGS, exc.message, exc.fix,
                            yamlio.line_of(data, ["repoURL"])) from None
    revision = _string(data, "targetRevision", DEFAULT_REVISION,
                       "write the branch or tag Argo CD follows, e.g. main")
    if not _REVISION.fullmatch(revision) or ".." in revision:
        raise SettingsError(SETTINGS,
                            f"targetRevision {revision[:64]!r} is not a branch, tag or commit",
                            "write the branch or tag Argo CD follows, e.g. main",
                            yamlio.line_of(data, ["targetRevision"]))
    kube = _string(data, "kubeVersion", DEFAULT_KUBE_VERSION,
                   "write it quoted, as MAJOR.MINOR: kubeVersion: '1.30' (unquoted, YAML "
                   "reads 1.30 as the number 1.3)")
    try:
        check_kube_version(kube, "kubeVersion")
    except InputError as exc:
        raise SettingsError(SETTINGS, exc.message, exc.fix,
                            yamlio.line_of(data, ["kubeVersion"])) from None
    envs = data.get("environments") or []
    if not isinstance(envs, list) or not all(
        isinstance(e, str) and layout.is_dns_label(e) for e in envs
    ):
        raise SettingsError(
            SETTINGS,
            "environments must be a list of environment names",
            "write it as 'environments: [dev, staging, prod]' in promotion order",
            yamlio.line_of(data, ["environments"]),
        )
    argocd = _string(data, "argocdVersion", DEFAULT_ARGOCD_VERSION,
                     f"write the Argo CD release gitops/bootstrap is written for, e.g. "
                     f"argocdVersion: '{DEFAULT_ARGOCD_VERSION}'")
    return Settings(repo_url=url, target_revision=revision,
                    environments=tuple(str(e) for e in envs), kube_version=kube,
                    argocd_version=argocd)


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


def render_with_env(settings: Settings, env: str, existing: str) -> str:
    """render(settings.with_env(env), existing), appending a new environment to the text as
    it stands (yamlio.insert_item) when the file already holds every other value as render()
    would write it: no round trip of a list that grows with every environment."""
    wanted = settings.with_env(env)
    if wanted != settings:
        edited = yamlio.insert_item(existing, "environments", None, env)
        if edited is not None and _as_written(edited, _keys(wanted)) == _keys(wanted):
            return edited
    return render(wanted, existing)


def _keys(settings: Settings) -> dict[str, Any]:
    data: dict[str, Any] = {}
    _set_keys(data, settings)
    return data


def _as_written(text: str, keys: dict[str, Any]) -> dict[str, Any] | None:
    """The keys render() writes, as the text holds them (None: it does not parse)."""
    try:
        data = next(iter(yamlio.load_all_fast(text)), None)
    except pyyaml.YAMLError:
        return None
    return {k: data.get(k) for k in keys} if isinstance(data, dict) else None


def _set_keys(data: dict[str, Any], settings: Settings) -> None:
    data["repoURL"] = settings.repo_url
    data["targetRevision"] = settings.target_revision
    data["environments"] = list(settings.environments)
    data["kubeVersion"] = settings.kube_version
    data["argocdVersion"] = settings.argocd_version


# ---- promotion gates (the `gates:` section) ----------------------------------------------

GATE_KEYS = ("minSoak", "requireDigest")
_DURATION = re.compile(r"^(?:(\d+)w)?(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$")
_UNITS = (("w", 604800), ("d", 86400), ("h", 3600), ("m", 60), ("s", 1))


@dataclass(frozen=True)
class Gate:
    """What an environment accepts. min_soak: references come from the environment before it
    in the promotion order, which has run them that long (None: no such gate)."""

    min_soak: timedelta | None = None
    require_digest: bool = False


def parse_duration(text: str) -> timedelta | None:
    """1h, 30m, 1h30m, 2d, 1w, 90s, 0s; None when text is not such a duration."""
    match = _DURATION.match(text.strip())
    if not text.strip() or match is None:
        return None
    seconds = sum(int(n) * unit for n, (_, unit) in zip(match.groups(), _UNITS, strict=True) if n)
    return timedelta(seconds=seconds)


def format_duration(span: timedelta) -> str:
    """A duration the way the settings write it: 1h30m, 2d, 45s (rounded down to seconds)."""
    left = max(0, int(span.total_seconds()))
    parts = []
    for name, unit in _UNITS:
        if left >= unit:
            parts.append(f"{left // unit}{name}")
            left %= unit
    return "".join(parts) or "0s"


def parse_gates(data: Any) -> dict[str, Gate]:
    """The `gates:` section of loaded settings, e.g. {staging: {minSoak: 1h}, prod: {minSoak:
    24h, requireDigest: true}}. SettingsError for a wrong key, type or environment."""
    if not isinstance(data, dict) or data.get("gates") is None:
        return {}
    section = data["gates"]
    envs = data.get("environments")
    order = [e for e in envs if isinstance(e, str)] if isinstance(envs, list) else []
    if not isinstance(section, dict):
        raise SettingsError(SETTINGS, "gates must be a mapping",
                            "write it as 'gates: {prod: {minSoak: 24h, requireDigest: true}}'",
                            yamlio.line_of(data, ["gates"]))
    gates = {}
    for env, spec in section.items():
        line = yamlio.line_of(data, ["gates", env])
        if env not in order:
            raise SettingsError(SETTINGS, f"gates.{env}: no environment {env!r} in environments",
                                f"name one of {', '.join(order) or 'none'}, or remove it",
                                line)
        if not isinstance(spec, dict):
            raise SettingsError(SETTINGS, f"gates.{env} must be a mapping",
                                "give minSoak (e.g. 1h) and/or requireDigest (true or false)",
                                line)
        unknown = [k for k in spec if k not in GATE_KEYS]
        if unknown:
            raise SettingsError(SETTINGS, f"gates.{env}.{unknown[0]} is not a gate",
                                f"gates take {' and '.join(GATE_KEYS)}",
                                yamlio.line_of(data, ["gates", env, unknown[0]]))
        gates[str(env)] = Gate(_min_soak(data, str(env), spec, order),
                               _require_digest(data, str(env), spec))
    return gates


def _min_soak(data: Any, env: str, spec: dict[str, Any], order: list[str]) -> timedelta | None:
    if spec.get("minSoak") is None:
        return None
    line = yamlio.line_of(data, ["gates", env, "minSoak"])
    raw = spec["minSoak"]
    soak = parse_duration(raw) if isinstance(raw, str) else None
    if soak is None:
        raise SettingsError(SETTINGS, f"gates.{env}.minSoak {raw!r} is not a duration",
                            "write it with units, e.g. 30m, 1h, 1h30m or 2d",
                            line)
    if order.index(env) == 0:
        raise SettingsError(SETTINGS, f"gates.{env}.minSoak: {env} is first in the promotion "
                            "order, so nothing is promoted into it",
                            "remove minSoak there, or put it on a later environment",
                            line)
    return soak


def _require_digest(data: Any, env: str, spec: dict[str, Any]) -> bool:
    raw = spec.get("requireDigest", False)
    if not isinstance(raw, bool):
        raise SettingsError(SETTINGS, f"gates.{env}.requireDigest {raw!r} is not true or false",
                            "write requireDigest: true (or false)",
                            yamlio.line_of(data, ["gates", env, "requireDigest"]))
    return raw


def load_gates(root: Path) -> dict[str, Gate]:
    """The gates of root's settings; {} when the file or the section is absent."""
    text = safefs.read_text(root, SETTINGS)
    if text is None:
        return {}
    return parse_gates(yamlio.read(text, SETTINGS))
