"""An environment's manifests as Argo CD would apply them, from the work tree or a git ref."""

from __future__ import annotations

import io
import tarfile
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from ..errors import InputError
from ..model import chart, syncplan
from ..repo import gitrepo, layout, yamlio
from ..secrets import sops
from . import manifestchecks, servicechecks
from .findings import Finding
from .repofiles import EnvFiles, load_repo


class RenderError(InputError):
    """The environment's files do not render; the findings say why."""

    def __init__(self, env: str, findings: Sequence[Finding]) -> None:
        self.findings = list(findings)
        first = self.findings[0]
        super().__init__(f"{env} does not render: {first.location}: {first.message}",
                         "run 'gitops-gen validate' for every finding")


def render_environment(root: Path, env: str, *, decrypt: bool = False) -> list[chart.Rendered]:
    """Render env with its overlay and SOPS values (ENC placeholders unless decrypt)."""
    return _render(root, env, decrypt)[1]


def render_service(root: Path, *, decrypt: bool = False) -> list[chart.Rendered]:
    """The validation service's manifests as the plugin renders them for source.path
    gitops/service (servicechecks.render): its SOPS values ENC placeholders unless decrypt."""
    found: list[Finding] = []
    files = servicechecks.load_files(root, found)
    if found:
        raise RenderError(layout.SERVICE_NAME, found)
    if decrypt:
        files.secrets.data = sops.nest(sops.decrypt(root / layout.service_secrets(), root))
    try:
        return servicechecks.render(root, files)
    except chart.ChartError as exc:
        raise RenderError(layout.SERVICE_NAME, [Finding(
            "helm-render", "error", None, layout.service_values(), None,
            f"{exc.helm_message}; fix the value or the service chart's template")]) from exc


def plan_environment(root: Path, env: str) -> syncplan.SyncPlan:
    """env's sync plan: its rendered objects in Argo CD's order, under its Application's sync
    options (secrets stay ENC placeholders)."""
    ef, rendered = _render(root, env, False)
    return manifestchecks.sync_plan(ef, rendered)


def _render(root: Path, env: str, decrypt: bool) -> tuple[EnvFiles, list[chart.Rendered]]:
    repo = load_repo(root, [env])
    ef = repo.envs[env]
    problems = [f for f in repo.findings if f.is_error]
    problems += manifestchecks.values_findings(repo, ef)
    if problems:
        raise RenderError(env, problems)
    if decrypt:
        plain = sops.nest(sops.decrypt(root / layout.secrets_path(env), root))
        ef.secrets.data = plain
    rendered, errors = manifestchecks.render_env(repo, ef)
    if errors:
        raise RenderError(env, errors)
    return ef, rendered


def object_filename(item: chart.Rendered) -> str:
    return f"{item.kind.lower()}-{item.name}.yaml"


def _document(item: chart.Rendered) -> str:
    return f"# Source: {layout.CHART_DIR}/{item.source}\n{yamlio.dump_fast(item.obj)}"


def to_stream(rendered: Sequence[chart.Rendered]) -> str:
    return "".join(f"---\n{_document(r)}" for r in rendered)


def to_files(rendered: Sequence[chart.Rendered]) -> dict[str, str]:
    return {object_filename(r): _document(r) for r in rendered}


@contextmanager
def checkout(root: Path, ref: str) -> Iterator[Path]:
    """The repository's files at ref, in a temporary directory (what git has, no work tree)."""
    repo = gitrepo.open_repo(root)
    try:
        commit = repo.commit(ref)
    except Exception as exc:  # noqa: BLE001 - GitPython raises several types for a bad ref
        raise InputError(f"git ref {ref!r} not found", "give a branch, tag or commit") from exc
    buf = io.BytesIO()
    repo.archive(buf, commit.hexsha)
    buf.seek(0)
    with tempfile.TemporaryDirectory(prefix="gitops-gen-ref-") as tmp:
        with tarfile.open(fileobj=buf) as tar:
            tar.extractall(tmp, filter="data")
        yield Path(tmp)
