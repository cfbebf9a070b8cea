"""The validation service, deployed by Argo CD from the repository it validates.

gitops/service/ holds its Helm chart (the package's own, copied like chart/), its values (what
differs from the chart: image, the repository it clones, public URL, webhook Ingress), its
secrets (webhookSecret, githubToken: SOPS), its AppProject and its Application. The root
app-of-apps includes those two. Argo CD renders it like an environment: the Application's
source is `gitops/service` with the decrypting plugin (`sopsplugin`), which renders
`gitops/service/chart` with `values.yaml` and the decrypted `secrets.sops.yaml` of that
directory, release `gitops-gen`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ruamel.yaml.comments import CommentedMap

from ..errors import InputError
from ..repo import changes, config, layout, yamlio
from ..repo.changes import FileChange
from ..secrets import agekeys, sops, sopsconfig
from . import apps, sopsplugin

CHART = Path(__file__).parent / "service_chart"
WEBHOOK_KEY = "webhookSecret"
TOKEN_KEY = "githubToken"
SECRET_KEYS = (WEBHOOK_KEY, TOKEN_KEY)
NAMESPACED_KINDS = (("", "Secret"), ("", "Service"), ("apps", "Deployment"),
                    ("networking.k8s.io", "Ingress"), ("policy", "PodDisruptionBudget"))
PART_OF = {"app.kubernetes.io/part-of": layout.SERVICE_NAME}
ROOT_INCLUDE = "{apps/*.yaml,projects/*.yaml}"
ROOT_INCLUDE_WITH_SERVICE = (
    "{apps/*.yaml,projects/*.yaml,"
    + ",".join(p.removeprefix(layout.GITOPS_DIR + "/")
               for p in (layout.SERVICE_PROJECT, layout.SERVICE_APP)) + "}")
VALUES_HEADER = (
    "Values of the gitops-gen validation service: only what differs from\n"
    "gitops/service/chart/values.yaml. Written by 'gitops-gen service add'; edit freely.\n"
    "webhookSecret and githubToken live in secrets.sops.yaml beside this file (SOPS, age).")


@dataclass(frozen=True)
class ServiceOptions:
    image: str | None = None  # repository:tag
    host: str | None = None  # the webhook Ingress's host
    public_url: str | None = None
    recipients: tuple[str, ...] = ()
    webhook_secret: str | None = field(default=None, repr=False)  # None: generated
    github_token: str | None = field(default=None, repr=False)  # None: empty (nothing posted)


def chart_files() -> dict[str, str]:
    """The service chart's files at their repository paths."""
    return {f"{layout.SERVICE_CHART_DIR}/{p.relative_to(CHART).as_posix()}": p.read_text()
            for p in sorted(CHART.rglob("*"))
            if p.is_file() and "__pycache__" not in p.parts}


def destination() -> apps.Destination:
    return apps.Destination(layout.SERVICE_NAME)


def split_image(image: str) -> tuple[str, str]:
    """repository and tag of REPOSITORY:TAG; InputError without a tag."""
    last = image.rsplit("/", 1)[-1]
    if ":" not in last or "@" in image:
        raise InputError(f"--image {image!r} has no tag",
                         "give REPOSITORY:TAG, e.g. ghcr.io/acme/gitops-gen:0.1.0")
    repository, tag = image.rsplit(":", 1)
    from .overlays import check_tag

    return repository, check_tag(tag, "--image tag")


def build_values(settings: config.Settings, opts: ServiceOptions, existing: str | None) -> str:
    data = yamlio.load(existing, layout.service_values()) if existing else None
    if not isinstance(data, CommentedMap):
        data = CommentedMap()
        data.yaml_set_start_comment(VALUES_HEADER)

    def put(keys: list[str], value: Any) -> None:
        node = data
        for key in keys[:-1]:
            if not isinstance(node.get(key), CommentedMap):
                node[key] = CommentedMap()
            node = node[key]
        node[keys[-1]] = value

    put(["repository", "url"], settings.repo_url)
    put(["repository", "revision"], settings.target_revision)
    if opts.image:
        repository, tag = split_image(opts.image)
        put(["image", "repository"], repository)
        put(["image", "tag"], tag)
    if opts.host:
        put(["ingress", "enabled"], True)
        put(["ingress", "host"], opts.host)
    if opts.public_url:
        put(["publicUrl"], opts.public_url)
    return yamlio.dump(data)


def build_project(repo_url: str) -> dict[str, Any]:
    return {
        "apiVersion": apps.API_VERSION,
        "kind": "AppProject",
        "metadata": {"name": layout.SERVICE_NAME, "namespace": layout.ARGOCD_NAMESPACE,
                     "labels": dict(PART_OF),
                     "annotations": {"argocd.argoproj.io/sync-wave": "-1"}},
        "spec": {
            "description": "gitops-gen validation service (written by gitops-gen)",
            "sourceRepos": [repo_url],
            "destinations": [destination().as_dict()],
            "clusterResourceWhitelist": [{"group": "", "kind": "Namespace"}],
            "namespaceResourceWhitelist": [{"group": g, "kind": k} for g, k in NAMESPACED_KINDS],
            "orphanedResources": {"warn": True},
        },
    }


def build_application(repo_url: str, revision: str) -> dict[str, Any]:
    return {
        "apiVersion": apps.API_VERSION,
        "kind": "Application",
        "metadata": {"name": layout.SERVICE_NAME, "namespace": layout.ARGOCD_NAMESPACE,
                     "labels": dict(PART_OF),
                     "annotations": {"argocd.argoproj.io/sync-wave": "0"},
                     "finalizers": [apps.FINALIZER]},
        "spec": {
            "project": layout.SERVICE_NAME,
            "source": {
                "repoURL": repo_url,
                "targetRevision": revision,
                # The plugin renders gitops/service/chart with this directory's two files,
                # release gitops-gen (sopsplugin); no helm: one source, one tool.
                "path": layout.SERVICE_DIR,
                "plugin": {"name": sopsplugin.PLUGIN_NAME},
            },
            "destination": destination().as_dict(),
            "syncPolicy": {
                "automated": {"prune": True, "selfHeal": True},
                "syncOptions": ["CreateNamespace=true"],
                "retry": {"limit": 5,
                          "backoff": {"duration": "5s", "factor": 2, "maxDuration": "3m"}},
            },
            "revisionHistoryLimit": 10,
        },
    }


def root_with_service(text: str) -> str:
    """gitops/root.yaml whose app-of-apps also picks up the service's AppProject and
    Application (comments kept)."""
    data = yamlio.load(text, layout.ROOT_APP)
    directory = yamlio.lookup(data, "spec", "source", "directory")
    if not isinstance(directory, dict):
        raise InputError(f"{layout.ROOT_APP} has no spec.source.directory",
                         "restore it from a new 'gitops-gen init'")
    directory["include"] = ROOT_INCLUDE_WITH_SERVICE
    return yamlio.dump(data)


def secrets_text(root: Path, opts: ServiceOptions, recipients: list[str]) -> str:
    path = layout.service_secrets()
    if (root / path).is_file():
        existing = sops.read_encrypted(root, path)
        if sorted(sops.file_recipients(existing)) != sorted(recipients):
            raise InputError(f"{path} is encrypted to other recipients than requested",
                             f"re-key it with 'sops updatekeys {path}' first")
        return existing
    values = {WEBHOOK_KEY: opts.webhook_secret or sops.generate_value(),
              TOKEN_KEY: opts.github_token or ""}
    return sops.encrypt(values, recipients, path, root)


def _read(root: Path, path: str) -> str | None:
    target = root / path
    return target.read_text() if target.is_file() else None


def desired_files(root: Path, settings: config.Settings, opts: ServiceOptions,
                  recipients: list[str]) -> dict[str, str | None]:
    """Every file `service add` writes, {path: text}."""
    root_text = _read(root, layout.ROOT_APP)
    if root_text is None:
        raise InputError(f"{layout.ROOT_APP} not found", "restore it from a new 'gitops-gen init'")
    rules = sopsconfig.with_rule(sopsconfig.load(root), "", recipients,
                                 repo_path=layout.service_secrets())
    out: dict[str, str | None] = dict(chart_files())
    out |= {
        layout.service_values(): build_values(settings, opts, _read(root, layout.service_values())),
        layout.service_secrets(): secrets_text(root, opts, recipients),
        layout.SERVICE_PROJECT: yamlio.update_text(
            _read(root, layout.SERVICE_PROJECT), build_project(settings.repo_url),
            layout.SERVICE_PROJECT),
        layout.SERVICE_APP: apps.application_text(
            _read(root, layout.SERVICE_APP),
            build_application(settings.repo_url, settings.target_revision), layout.SERVICE_APP),
        layout.ROOT_APP: root_with_service(root_text),
        layout.SOPS_CONFIG: sopsconfig.render(rules),
    }
    return out


def recipients(root: Path, given: tuple[str, ...]) -> tuple[list[str], Path | None]:
    """Who the secrets are encrypted to: the given keys, else the rule the service's secrets
    file already has, else the local identity (created when there is none)."""
    if given:
        return sorted({agekeys.check_recipient(r) for r in given}), None
    rule = sopsconfig.rule_recipients(sopsconfig.load(root), "",
                                      repo_path=layout.service_secrets())
    if rule:
        return rule, None
    local = agekeys.local_recipients()
    if local:
        return local[:1], None
    public, created = agekeys.ensure_identity()
    return [public], created


def plan_add(root: Path, opts: ServiceOptions, keys: list[str]) -> list[FileChange]:
    return changes.plan(root, desired_files(root, config.load(root), opts, keys))
