"""The validation engine: the CLI, CI and the service all call validate_repo()."""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from pathlib import Path
from typing import Protocol

from ..model import chart
from ..repo import config, limits
from . import (
    argoschema,
    bootstrapchecks,
    downloadchecks,
    filechecks,
    gates,
    isolated,
    kubeschema,
    manifestchecks,
    policy,
    repofiles,
    rules,
    servicechecks,
    sidecarchecks,
    syncchecks,
)
from .filechecks import file_findings
from .findings import Finding, Report
from .repofiles import EnvFiles, RepoFiles, load_repo

# The rules a report names as checked: every check module's RULES (tests/test_rules.py holds
# each module that declares rules to this list).
RULES = rules.ids(
    repofiles.RULES, isolated.RULES, filechecks.RULES, manifestchecks.RULES, kubeschema.RULES,
    argoschema.RULES, syncchecks.RULES, policy.RULES, servicechecks.RULES,
    bootstrapchecks.RULES, sidecarchecks.RULES, downloadchecks.RULES, gates.RULES,
)

# Seconds an environment's checks may take before the others start beside it (validate_repo).
SPREAD_AFTER = 0.2


def _env_findings(repo: RepoFiles, env_files: EnvFiles, version: str) -> list[Finding]:
    out = list(manifestchecks.argo_findings(env_files))
    if env_files.values.data is None and env_files.values.exists:
        return out  # a YAML error was reported; rendering would only repeat it
    schema = manifestchecks.values_findings(repo, env_files)
    if schema:
        return out + schema  # Helm would refuse the same values with less precise messages
    rendered, errors = manifestchecks.render_env(repo, env_files)
    out += errors
    if rendered:
        out += manifestchecks.kube_findings(env_files, rendered, version)
        out += manifestchecks.plan_findings(env_files, rendered)
        out += policy.policy_findings(env_files, rendered)
    return out


class Progress(Protocol):
    """Told what validate_repo does as it does it (the worker streams it to its parent)."""

    def environments(self, names: Sequence[str]) -> None: ...

    def started(self, env: str) -> None: ...

    def finished(self, env: str | None, findings: Sequence[Finding]) -> None: ...


class _Quiet:
    def environments(self, names: Sequence[str]) -> None:
        pass

    def started(self, env: str) -> None:
        pass

    def finished(self, env: str | None, findings: Sequence[Finding]) -> None:
        pass


def validate_repo(root: Path, envs: list[str] | None = None,
                  kube_version: str | None = None, *,
                  progress: Progress | None = None) -> Report:
    """Every check over the repository (or the named environments). Never needs a private key.

    In this process and without a time or memory limit: for a repository under review, run it
    through checks/isolated.py, which bounds both.
    """
    told = progress or _Quiet()
    if kube_version is not None:
        kube_version = config.check_kube_version(kube_version)
    repo = load_repo(root, envs)
    told.environments(list(repo.envs))
    if repo.too_large:  # past the caps: nothing else was read
        told.finished(None, repo.findings)
        return Report(findings=repo.findings, environments=list(envs or []),
                      checked_rules=list(RULES))
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
    told.finished(None, report.findings)

    def one(env_files: EnvFiles) -> list[Finding]:
        told.started(env_files.env)
        found = _env_findings(repo, env_files, version)
        told.finished(env_files.env, found)
        return found

    # The gates wait mostly on git (the target revision, its merge-base, the settings there):
    # they run beside the environments' checks. Those hold the GIL (YAML, schemas), except
    # Helm's render, which runs in Go without it: environments are checked one at a time
    # until one is rendered by Helm (the render cache did not have it) or takes longer than
    # SPREAD_AFTER (a template that loops must not hold back the others), then the rest are
    # spread over threads. Measured in a fresh process at 30 environments: renders all kept,
    # 113 ms one at a time against 144 ms over four threads; renders all Helm's, 470-580 ms
    # spread against 700 ms one at a time.
    pending = list(repo.envs.values())
    checked: list[Future[list[Finding]]] = []
    with ThreadPoolExecutor(max_workers=min(4, len(pending)) + 1) as pool:
        gating = pool.submit(gates.gate_findings, repo)
        spread = False
        while pending and not spread:
            helm_before = chart.helm_renders()
            checked.append(pool.submit(one, pending.pop(0)))
            done, _ = wait(checked[-1:], timeout=SPREAD_AFTER)
            spread = not done or chart.helm_renders() > helm_before
        checked += [pool.submit(one, env_files) for env_files in pending]
        for future in checked:
            report.extend(future.result())
        gated = list(gating.result())
    told.finished(None, gated)
    report.extend(gated)
    return capped(report)


def capped(report: Report) -> Report:
    """At most MAX_FINDINGS findings (errors first); one more says how many were left out."""
    if len(report.findings) <= limits.MAX_FINDINGS:
        return report
    kept = report.sorted_findings()
    kept.sort(key=lambda f: not f.is_error)
    left = len(kept) - limits.MAX_FINDINGS
    report.findings = kept[: limits.MAX_FINDINGS] + [Finding(
        "file-refused", "error", None, None, None,
        f"{left} more findings are not shown; fix the ones above and run again")]
    return report


def env_errors(root: Path, env: str) -> list[str]:
    """Error findings of one environment as lines (what env add refuses to commit), from a
    bounded worker process (checks/isolated.py)."""
    report = isolated.validate(root, [env])
    return [f"[{f.rule}] {f.location}: {f.message}" for f in report.errors if f.env in (env, None)]
