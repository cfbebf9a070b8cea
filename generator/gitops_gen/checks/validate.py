"""The validation engine: the CLI, CI and the service all call validate_repo()."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from ..repo import config
from . import (
    bootstrapchecks,
    downloadchecks,
    gates,
    kubeschema,
    manifestchecks,
    policy,
    servicechecks,
    sidecarchecks,
)
from .filechecks import file_findings
from .findings import Finding, Report
from .repofiles import EnvFiles, RepoFiles, load_repo

RULES = (
    "yaml-syntax", "settings", "env-files", "values-schema", "plaintext-secret",
    "sops-metadata", "sops-encrypted", "sops-keys", "sops-recipients", "placeholder-secret",
    "demo-recipient", "helm-render", "k8s-schema", "k8s-schema-unknown-kind", "argocd-schema",
    "app-source", "app-plugin", "app-project", "app-destination", "app-sync", "root-app",
    "sync-wave-invalid", "sync-pvc-wave", "sync-final-wave", "sync-prune-last",
    "sync-component-order",
    "sync-reads-later-wave", "sync-hpa-replicas", "sync-wave-not-gated",
    "sync-hook-before-database", "policy-resources", "policy-probes", "policy-image-tag",
    "policy-replicas", "policy-security-context", "service-files",
    *bootstrapchecks.RULES, *sidecarchecks.RULES, *downloadchecks.RULES, *gates.RULES,
)


def _env_findings(repo: RepoFiles, ef: EnvFiles, version: str) -> list[Finding]:
    out = list(manifestchecks.argo_findings(ef))
    if ef.values.data is None and ef.values.exists:
        return out  # a YAML error was reported; rendering would only repeat it
    schema = manifestchecks.values_findings(repo, ef)
    if schema:
        return out + schema  # Helm would refuse the same values with less precise messages
    rendered, errors = manifestchecks.render_env(repo, ef)
    out += errors
    if rendered:
        out += manifestchecks.kube_findings(ef, rendered, version)
        out += manifestchecks.plan_findings(ef, rendered)
        out += policy.policy_findings(ef, rendered)
    return out


def validate_repo(root: Path, envs: list[str] | None = None,
                  kube_version: str | None = None) -> Report:
    """Every check over the repository (or the named environments). Never needs a private key."""
    if kube_version is not None:
        kube_version = config.check_kube_version(kube_version)
    repo = load_repo(root, envs)
    default = repo.settings.kube_version if repo.settings else config.DEFAULT_KUBE_VERSION
    version = kubeschema.resolve_version(kube_version or default)
    report = Report(environments=list(repo.envs), checked_rules=list(RULES))
    report.extend(repo.findings)
    report.extend(file_findings(repo))
    report.extend(manifestchecks.root_argo_findings(repo))
    report.extend(bootstrapchecks.bootstrap_findings(repo))
    report.extend(sidecarchecks.sidecar_findings(repo))
    report.extend(downloadchecks.download_findings(repo))
    if envs is None:  # the validation service's deployment, when the repository has one
        report.extend(servicechecks.service_findings(repo, version))
    workers = min(4, max(1, len(repo.envs)))
    with ThreadPoolExecutor(max_workers=workers) as pool:
        for found in pool.map(lambda ef: _env_findings(repo, ef, version), repo.envs.values()):
            report.extend(found)
    report.extend(gates.gate_findings(repo))
    return report


def env_errors(root: Path, env: str) -> list[str]:
    """Error findings of one environment as lines (what env add refuses to commit)."""
    report = validate_repo(root, [env])
    return [f"[{f.rule}] {f.location}: {f.message}" for f in report.errors if f.env in (env, None)]
