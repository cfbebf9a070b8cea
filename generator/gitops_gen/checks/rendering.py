"""An environment's manifests as Argo CD would apply them, from the work tree or a git ref."""

from __future__ import annotations

import io
import tarfile
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from ..errors import ChartError, InputError, RenderError
from ..model import chart, syncplan
from ..repo import layout, limits, yamlio
from ..secrets import sops
from . import manifestchecks, servicechecks
from .findings import Finding
from .repofiles import READ_DIRS, READ_FILES, EnvFiles, load_repo


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
        return servicechecks.render(root, files, decrypted=decrypt)
    except ChartError as exc:
        raise RenderError(layout.SERVICE_NAME, [Finding(
            "helm-render", "error", None, layout.service_values(), None,
            f"{exc.helm_message}; fix the value or the service chart's template")]) from exc


def plan_environment(root: Path, env: str,
                     rendered: Sequence[chart.Rendered] | None = None) -> syncplan.SyncPlan:
    """env's sync plan: its rendered objects in Argo CD's order, under its Application's sync
    options (secrets stay ENC placeholders). rendered: env's objects rendered already (by the
    worker of checks/isolated.py), so only the Application is read here."""
    if rendered is None:
        env_files, rendered = _render(root, env, False)
    else:
        env_files = load_repo(root, [env]).envs[env]
    return manifestchecks.sync_plan(env_files, rendered)


def _render(root: Path, env: str, decrypt: bool) -> tuple[EnvFiles, list[chart.Rendered]]:
    repo = load_repo(root, [env])
    env_files = repo.envs[env]
    problems = [f for f in repo.findings if f.is_error]
    if env_files.secrets.text:
        problems += [Finding(
            "sops-encrypted", "error", env, env_files.secrets.path,
            env_files.secrets.line(key.split(".")), f"{key} is not encrypted (value not shown); "
            f"re-encrypt it with 'gitops-gen secrets set {env} {key}'")
            for key in sops.unencrypted_keys(env_files.secrets.text)]
    problems += manifestchecks.values_findings(repo, env_files)
    if problems:
        raise RenderError(env, problems)
    if decrypt:
        plain = sops.nest(sops.decrypt(root / layout.secrets_path(env), root))
        env_files.secrets.data = plain
    rendered, errors = manifestchecks.render_env(repo, env_files, decrypted=decrypt)
    if errors:
        raise RenderError(env, errors)
    return env_files, rendered


def object_filename(item: chart.Rendered) -> str:
    return f"{item.kind.lower()}-{item.name}.yaml"


def _document(item: chart.Rendered) -> str:
    return f"# Source: {layout.CHART_DIR}/{item.source}\n{yamlio.dump_fast(item.obj)}"


def to_stream(rendered: Sequence[chart.Rendered]) -> str:
    return "".join(f"---\n{_document(r)}" for r in rendered)


def to_files(rendered: Sequence[chart.Rendered]) -> dict[str, str]:
    return {object_filename(r): _document(r) for r in rendered}


CHECKOUT_PATHS = (*READ_DIRS, *READ_FILES)


@contextmanager
def checkout(root: Path, ref: str) -> Iterator[Path]:
    """What validation reads of the repository at ref (chart/, overlays/, gitops/ and the
    settings), in a temporary directory: what git has, no work tree. A commit holding more
    than the caps allow is refused before anything is extracted."""
    from ..repo import gitrepo  # GitPython: only here, not in every worker process

    repo = gitrepo.open_repo(root)
    try:
        commit = repo.commit(ref)
    except Exception as exc:  # noqa: BLE001 - GitPython raises several types for a bad ref
        raise InputError(f"git ref {ref!r} not found", "give a branch, tag or commit") from exc
    sizes = gitrepo.tree_sizes(root, commit.hexsha, CHECKOUT_PATHS)
    total = sum(size for _, size in sizes)
    if total > limits.MAX_TREE_BYTES or len(sizes) > limits.MAX_TREE_FILES:
        raise InputError(f"{ref!r} holds {len(sizes)} files of {total} bytes in "
                         f"{', '.join(CHECKOUT_PATHS)}, over the limits ("
                         f"{limits.MAX_TREE_FILES} files, {limits.MAX_TREE_BYTES} bytes)",
                         "gitops-gen validates no larger repository")
    present = sorted({path.split("/", 1)[0] for path, _ in sizes})
    buf = io.BytesIO()
    if present:
        repo.archive(buf, commit.hexsha, path=present)
    buf.seek(0)
    with tempfile.TemporaryDirectory(prefix="gitops-gen-ref-") as tmp:
        try:
            if present:
                with tarfile.open(fileobj=buf) as tar:
                    tar.extractall(tmp, filter=_keep_links)
        except tarfile.FilterError as exc:
            raise InputError(f"{ref!r} holds a path that leaves its own tree ({exc})",
                             "fix the commit") from None
        yield Path(tmp)


def _keep_links(member: tarfile.TarInfo, dest: str) -> tarfile.TarInfo | None:
    """tarfile's 'data' filter, but a symbolic link is extracted as the link it is, wherever it
    points: nothing ever follows it (safefs refuses it, as a finding), and refusing the whole
    checkout would hide every other finding."""
    if member.issym():
        return member.replace(uname="", gname="", deep=False)
    return tarfile.data_filter(member, dest)
