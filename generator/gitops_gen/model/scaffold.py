"""gitops-gen init: a new GitOps repository from the package's own chart and scaffold files."""

from __future__ import annotations

from pathlib import Path
from string import Template

from .. import __version__
from ..errors import InputError, MissingError
from ..repo import changes, config, gitrepo, layout, yamlio
from ..secrets import sopsconfig
from . import apps, argocd

SCAFFOLD = Path(__file__).parent / "scaffold"
TEMPLATE_SUFFIX = ".tmpl"
SKIP = {"__pycache__", ".DS_Store"}


def _tree(base: Path, prefix: str = "") -> dict[str, str]:
    out: dict[str, str] = {}
    for path in sorted(base.rglob("*")):
        if path.is_file() and not SKIP.intersection(path.parts):
            out[prefix + path.relative_to(base).as_posix()] = path.read_text()
    return out


def files(settings: config.Settings) -> dict[str, str]:
    """Every file of a new repository, {repo-relative path: text}."""
    from .chart import packaged_chart_dir

    out = _tree(packaged_chart_dir(), f"{layout.CHART_DIR}/")
    subst = {"repo_url": settings.repo_url, "revision": settings.target_revision,
             "version": __version__.split("+")[0]}
    for path, text in _tree(SCAFFOLD).items():
        if path.endswith(TEMPLATE_SUFFIX):
            out[path.removesuffix(TEMPLATE_SUFFIX)] = Template(text).substitute(subst)
        else:
            out[path] = text
    out.update(argocd.files(settings))
    out[layout.SETTINGS] = config.render(settings)
    out[layout.SOPS_CONFIG] = sopsconfig.render(sopsconfig.empty())
    out[layout.ROOT_APP] = (
        "# The app-of-apps, in project todo-root (gitops/bootstrap/root-project.yaml): applied\n"
        "# once by 'gitops-gen bootstrap', after gitops/bootstrap.\n"
        + yamlio.dump(apps.build_root(settings.repo_url, settings.target_revision))
    )
    return out


def default_repo_url(path: Path) -> str:
    return f"file://{path.resolve()}"


def init(path: Path, repo_url: str | None, revision: str = config.DEFAULT_REVISION,
         argocd_version: str = config.DEFAULT_ARGOCD_VERSION) -> str:
    """Create the repository at path (absent or empty); git init and one commit. Returns sha."""
    if path.exists() and (not path.is_dir() or any(path.iterdir())):
        raise InputError(
            f"{path} exists and is not an empty directory",
            "give a new or empty directory to 'gitops-gen init'",
        )
    url = config.check_repo_url(repo_url) if repo_url else default_repo_url(path)
    gitrepo.check_branch_name(revision, "--revision")
    settings = config.Settings(repo_url=url, target_revision=revision,
                               argocd_version=argocd.check_version(argocd_version))
    desired = files(settings)
    created_dir = not path.exists()
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise MissingError(f"cannot create {path}: {exc.strerror}",
                           "give a path in a writable directory") from exc
    try:
        changes.apply(path, changes.plan(path, dict(desired)))
        gitrepo.init(path, branch=revision)
        sha = gitrepo.commit_paths(path, sorted(desired), "init: gitops-gen repository")
    except BaseException:
        remove_tree(path, keep_dir=not created_dir)
        raise
    assert sha is not None
    return sha


def remove_tree(path: Path, keep_dir: bool) -> None:
    import shutil

    if keep_dir:
        for child in path.iterdir():
            if child.is_dir() and not child.is_symlink():
                shutil.rmtree(child)
            else:
                child.unlink()
    else:
        shutil.rmtree(path, ignore_errors=True)
