"""Environments: add, list, show, remove. Plan in memory, apply atomically, commit once."""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import InputError, MissingError, ValidationFailed
from ..repo import changes, config, gitrepo, layout, safefs, transaction, yamlio
from ..repo.changes import FileChange
from ..secrets import agekeys, sops, sopsconfig
from . import apps, overlays

if TYPE_CHECKING:
    pass

RESERVED_NAMESPACES = frozenset({"argocd", "default", "kube-system", "kube-public",
                                 "kube-node-lease"})
_CLUSTER_URL = re.compile(r"^https://[^\s/]+(/\S*)?$")
_CLUSTER_NAME = re.compile(r"^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$")


@dataclass(frozen=True, kw_only=True)
class AddRequest:
    """What `env add` was asked for; refused on construction when any of it is bad input."""

    name: str
    recipients: tuple[str, ...] = ()
    namespace: str | None = None
    cluster_url: str | None = None
    cluster_name: str | None = None
    host: str | None = None
    backend_tag: str | None = None
    frontend_tag: str | None = None
    from_env: str | None = None

    def __post_init__(self) -> None:
        check_request(self)


@dataclass
class AddPlan:
    env: str
    changes: list[FileChange]
    recipients: list[str]
    identity_created: Path | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def pending(self) -> list[FileChange]:
        return changes.pending(self.changes)


def check_env_name(name: str, flag: str = "NAME") -> str:
    if layout.app_name(name) == layout.ROOT_APP_NAME:
        raise InputError(
            f"environment {flag} {name!r} would name its Application {layout.ROOT_APP_NAME}, "
            "the app-of-apps",
            "choose another name",
        )
    if not layout.is_dns_label(name, layout.ENV_NAME_MAX):
        raise InputError(
            f"environment {flag} {name!r} is not a DNS-1123 label of at most "
            f"{layout.ENV_NAME_MAX} characters",
            "use lower-case letters, digits and '-', starting and ending with a letter or digit",
        )
    return name


def check_request(req: AddRequest) -> None:
    """Refuse bad input before anything is read or written."""
    check_env_name(req.name)
    for r in req.recipients:
        agekeys.check_recipient(r)
    if req.namespace is not None and not layout.is_dns_label(req.namespace):
        raise InputError(
            f"--namespace {req.namespace!r} is not a valid namespace (DNS-1123 label, max 63)",
            "use lower-case letters, digits and '-'",
        )
    if req.namespace is not None and (
        req.namespace in RESERVED_NAMESPACES or req.namespace.startswith("kube-")
    ):
        raise InputError(
            f"--namespace {req.namespace} belongs to the cluster or to Argo CD",
            "give the environment a namespace of its own (default todo-NAME)",
        )
    if req.cluster_url and req.cluster_name:
        raise InputError("--cluster and --cluster-name both given", "give one of them")
    if req.cluster_url is not None and not _CLUSTER_URL.fullmatch(req.cluster_url):
        raise InputError(
            f"--cluster {req.cluster_url!r} is not an https:// API server URL",
            "give the URL Argo CD knows the cluster by, e.g. https://kubernetes.default.svc",
        )
    if req.cluster_name is not None and not _CLUSTER_NAME.fullmatch(req.cluster_name):
        raise InputError(
            f"--cluster-name {req.cluster_name!r} is not a valid cluster name",
            "give the name the cluster is registered under in Argo CD",
        )
    if req.host is not None:
        overlays.check_host(req.host)
    if req.backend_tag is not None:
        overlays.check_tag(req.backend_tag, "--backend-tag")
    if req.frontend_tag is not None:
        overlays.check_tag(req.frontend_tag, "--frontend-tag")
    if req.from_env is not None:
        check_env_name(req.from_env, "--from")
        if req.from_env == req.name:
            raise InputError("--from names the environment being added", "name another one")


def _read(root: Path, path: str) -> str | None:
    return safefs.read_text(root, path)


def _existing_destination(root: Path, env: str) -> apps.Destination | None:
    text = _read(root, layout.app_path(env))
    return None if text is None else _destination_in(text, layout.app_path(env))


def _destination_in(app_text: str, path: str) -> apps.Destination | None:
    data = yamlio.load(app_text, path)
    dest = ((data or {}).get("spec") or {}).get("destination")
    return apps.Destination.from_dict(dict(dest)) if isinstance(dest, dict) else None


def _may_name(app_text: str, namespace: str) -> bool:
    """False only when the Application cannot deploy to namespace (a DNS label): the label is
    nowhere in its text, in any case (YAML reads .NaN as 'nan'), and no escape in a quoted
    string nor a number in another base (0x1A is '26') could spell it. Reading a file is
    cheap; parsing it round-trip is what made env add slow in a repository of many
    environments."""
    return namespace in app_text.lower() or "\\" in app_text or namespace.isdigit()


def _destination(root: Path, req: AddRequest) -> apps.Destination:
    old = _existing_destination(root, req.name)
    namespace = req.namespace or (old.namespace if old else layout.default_namespace(req.name))
    if req.cluster_name:
        return apps.Destination(namespace=namespace, server=None, name=req.cluster_name)
    if req.cluster_url:
        return apps.Destination(namespace=namespace, server=req.cluster_url)
    if old:
        return apps.Destination(namespace=namespace, server=old.server, name=old.name)
    return apps.Destination(namespace=namespace)


def _secrets_text(
    root: Path, env: str, recipients: list[str], dry_run: bool
) -> tuple[str, bool]:
    """The encrypted secrets file (kept when it exists), and whether Gemini is a placeholder."""
    path = layout.secrets_path(env)
    existing = sops.read_encrypted(root, path) if safefs.is_file(root, path) else None
    if existing is not None:
        have = sops.file_recipients(existing)
        if sorted(have) != sorted(recipients):
            raise InputError(
                f"{path} is encrypted to other recipients than requested",
                f"change recipients with 'gitops-gen secrets rekey {env}'",
            )
        return existing, False
    gemini = os.environ.get(sops.GEMINI_ENV, "")
    placeholder = not gemini
    if dry_run:
        return f"# (sops-encrypted on apply to {', '.join(recipients)})\n", placeholder
    values = {
        sops.DB_PASSWORD: sops.generate_value(),
        sops.SECRET_KEY: sops.generate_value(),
        sops.GEMINI_KEY: gemini or sops.GEMINI_PLACEHOLDER,
    }
    return sops.encrypt(values, recipients, path, root), placeholder


def _recipients(req: AddRequest, rules: dict[str, Any],
                dry_run: bool) -> tuple[list[str], Path | None]:
    if req.recipients:
        return sorted({agekeys.check_recipient(r) for r in req.recipients}), None
    rule = sopsconfig.rule_recipients(rules, req.name)
    if rule:
        return rule, None
    local = agekeys.local_recipients()
    if local:
        return local[:1], None
    if dry_run:
        return [f"<new identity at {agekeys.identity_path()}>"], None
    public, created = agekeys.ensure_identity()
    return [public], created


def _refuse_shared_destination(root: Path, env: str, dest: apps.Destination) -> None:
    """Two environments in one namespace of one cluster would own each other's objects.

    Only the Applications that can name dest's namespace are parsed."""
    for other in layout.environments_on_disk(root):
        path = layout.app_path(other)
        text = _read(root, path) if other != env else None
        if text is None or not _may_name(text, dest.namespace):
            continue
        theirs = _destination_in(text, path)
        if theirs is not None and theirs.as_dict() == dest.as_dict():
            raise InputError(
                f"environment {other} already deploys to {dest.describe()}",
                "give --namespace (or --cluster) a destination of its own",
            )


def _settings_text(root: Path, settings: config.Settings, env: str) -> str:
    existing = _read(root, layout.SETTINGS)
    if existing is None:
        return config.render(settings.with_env(env))
    return config.render_with_env(settings, env, existing)


def plan_add(root: Path, req: AddRequest, *, dry_run: bool = False) -> AddPlan:
    settings = config.load(root)
    template = None
    if req.from_env:
        template = _read(root, layout.values_path(req.from_env))
        if template is None:
            raise InputError(
                f"--from {req.from_env}: {layout.values_path(req.from_env)} does not exist",
                "name an existing environment (gitops-gen env list)",
            )
    dest = _destination(root, req)
    _refuse_shared_destination(root, req.name, dest)
    rules = sopsconfig.read(root)  # once: it holds a rule per environment
    recipients, created = _recipients(req, rules, dry_run)
    existing_values = _read(root, layout.values_path(req.name))
    opts = overlays.OverlayOptions(req.host, req.backend_tag, req.frontend_tag)
    values_text = overlays.build(req.name, opts, existing_values, template)
    secrets_text, placeholder = _secrets_text(root, req.name, recipients, dry_run)
    if placeholder:
        values_text = overlays.with_placeholder(values_text, sops.GEMINI_KEY, req.name, True)
    desired: dict[str, str | None] = {
        layout.values_path(req.name): values_text,
        layout.secrets_path(req.name): secrets_text,
        layout.SOPS_CONFIG: sopsconfig.text_with_rule(root, rules, req.name, recipients),
        layout.project_path(req.name): yamlio.update_text(
            _read(root, layout.project_path(req.name)),
            apps.build_project(req.name, settings.repo_url, dest),
            layout.project_path(req.name),
        ),
        layout.app_path(req.name): apps.application_text(
            _read(root, layout.app_path(req.name)),
            apps.build_application(req.name, settings.repo_url, settings.target_revision, dest),
            layout.app_path(req.name),
        ),
        layout.SETTINGS: _settings_text(root, settings, req.name),
    }
    plan = AddPlan(req.name, changes.plan(root, desired), recipients, created)
    if placeholder:
        plan.notes.append(
            f"{sops.GEMINI_KEY} is a placeholder: set it with "
            f"'gitops-gen secrets set {req.name} {sops.GEMINI_KEY}' (or export "
            f"{sops.GEMINI_ENV} before env add)"
        )
    return plan


Check = Callable[[Path, str], Sequence[str]]


def apply(
    root: Path,
    env: str,
    planned: Sequence[FileChange],
    message: str,
    *,
    commit: bool = True,
    check: Check | None = None,
) -> str | None:
    """Write the planned files and commit exactly them; on any failure restore the tree.

    check(root, env) runs after the files are written and before the commit; it returns
    error lines, and any line undoes the change.
    """

    def validate() -> None:
        problems = list(check(root, env)) if check else []
        if problems:
            raise ValidationFailed(problems)

    return transaction.apply(root, planned, message, commit=commit,
                             check=validate if check else None)


# ---- list / show / remove ------------------------------------------------------------


@dataclass(frozen=True)
class EnvInfo:
    name: str
    namespace: str
    destination: str
    backend_tag: str | None
    frontend_tag: str | None
    recipients: list[str]
    placeholders: list[str]

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "namespace": self.namespace,
            "destination": self.destination,
            "backendTag": self.backend_tag,
            "frontendTag": self.frontend_tag,
            "recipients": self.recipients,
            "placeholders": self.placeholders,
        }


def _tag(values: Any, component: str) -> str | None:
    tag = ((values.get(component) or {}).get("image") or {}).get("tag") if values else None
    return str(tag) if tag is not None else None


def describe(root: Path, env: str) -> EnvInfo:
    check_env_name(env)
    values_text = _read(root, layout.values_path(env))
    if values_text is None:
        raise InputError(
            f"no environment {env!r}: {layout.values_path(env)} does not exist",
            "see 'gitops-gen env list'",
        )
    values = yamlio.load(values_text, layout.values_path(env)) or {}
    dest = _existing_destination(root, env) or apps.Destination(layout.default_namespace(env))
    spath = layout.secrets_path(env)
    secrets_text = sops.read_encrypted(root, spath) if safefs.is_file(root, spath) else ""
    return EnvInfo(
        name=env,
        namespace=dest.namespace,
        destination=dest.describe(),
        backend_tag=_tag(values, "backend"),
        frontend_tag=_tag(values, "frontend"),
        recipients=sops.file_recipients(secrets_text),
        placeholders=overlays.placeholders(values_text),
    )


def known_names(root: Path) -> list[str]:
    """Environment names in promotion order, then any others found on disk."""
    try:
        order = list(config.load(root).environments)
    except MissingError:
        order = []
    return order + [e for e in layout.environments_on_disk(root) if e not in order]


def list_envs(root: Path) -> list[EnvInfo]:
    """Environments in promotion order, then any others found on disk."""
    return [describe(root, e) for e in known_names(root)
            if safefs.is_file(root, layout.values_path(e))]


def plan_remove(root: Path, env: str) -> list[FileChange]:
    check_env_name(env)
    if not (root / layout.overlay_dir(env)).is_dir() and not (root / layout.app_path(env)).exists():
        raise InputError(f"no environment {env!r}", "see 'gitops-gen env list'")
    settings = config.load(root)
    files = set(layout.env_files(env)) | set(gitrepo.tracked_files(root, layout.overlay_dir(env)))
    desired: dict[str, str | None] = {path: None for path in sorted(files)}
    desired[layout.SOPS_CONFIG] = sopsconfig.render(
        sopsconfig.without_rule(sopsconfig.load(root), env)
    )
    desired[layout.SETTINGS] = config.render(settings.without_env(env),
                                             _read(root, layout.SETTINGS))
    return changes.plan(root, desired)
