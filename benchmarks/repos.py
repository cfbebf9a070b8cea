"""GitOps repositories of any size for the benchmarks, built in time linear in their size.

The first environments (dev, staging, prod and one team environment, the template) are added
by the tool itself, in-process (`env add`'s plan and apply: real sops encryption to the
benchmark's throw-away age key). Every further environment is the template's files with the
template's name replaced by its own (values, AppProject, Application; the encrypted secrets
file, which names no environment, is copied as it is), its rule added to .sops.yaml and its
name to the promotion order in .gitops-gen.yaml, and all of them are committed at once.
tests/test_benchmarks.py checks that such an environment is what `env add` writes.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import git
import pyrage

from gitops_gen.model import environments, scaffold
from gitops_gen.repo import config, layout
from gitops_gen.secrets import sopsconfig

NAMED_ENVS = ("dev", "staging", "prod")
REPO_URL = "https://github.com/acme/todo-gitops.git"


def env_names(count: int) -> list[str]:
    """dev, staging, prod, then team-001, team-002, ...: count names."""
    extra = [f"team-{n:03d}" for n in range(1, count - len(NAMED_ENVS) + 1)]
    return [*NAMED_ENVS, *extra][:count]


@contextmanager
def isolated(tmp: Path) -> Iterator[dict[str, str]]:
    """HOME, git identity, age key and caches under tmp for this process; yields the
    environment for the children (bytecode cached under tmp too). Restores os.environ."""
    home = tmp / "home"
    home.mkdir()
    gitconfig = home / ".gitconfig"
    gitconfig.write_text("[user]\n\tname = Bench\n\temail = bench@example.invalid\n"
                         "[init]\n\tdefaultBranch = main\n[commit]\n\tgpgsign = false\n")
    key = home / "age" / "keys.txt"
    key.parent.mkdir()
    key.write_text(f"# throw-away benchmark key\n{pyrage.x25519.Identity.generate()}\n")
    key.chmod(0o600)
    updates = {
        "HOME": str(home), "XDG_CONFIG_HOME": str(home / ".config"),
        "XDG_CACHE_HOME": str(home / ".cache"), "GIT_CONFIG_GLOBAL": str(gitconfig),
        "GIT_CONFIG_NOSYSTEM": "1", "GIT_AUTHOR_NAME": "Bench", "GIT_COMMITTER_NAME": "Bench",
        "GIT_AUTHOR_EMAIL": "bench@example.invalid",
        "GIT_COMMITTER_EMAIL": "bench@example.invalid",
        "SOPS_AGE_KEY_FILE": str(key), "GEMINI_API_KEY": "bench-not-a-real-key",
    }
    removed = ("SOPS_AGE_KEY", "SOPS_AGE_RECIPIENTS", "GIT_DIR", "GIT_WORK_TREE")
    saved = {k: os.environ.get(k) for k in (*updates, *removed)}
    os.environ.update(updates)
    for k in removed:
        os.environ.pop(k, None)
    try:
        child = dict(os.environ, PYTHONPYCACHEPREFIX=str(tmp / "pycache"))
        child.pop("PYTHONDONTWRITEBYTECODE", None)
        yield child
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def add_envs(root: Path, names: Sequence[str]) -> None:
    """env add for each name, in-process, committed (the next add refuses uncommitted files)."""
    for name in names:
        plan = environments.plan_add(root, environments.AddRequest(name=name))
        environments.apply(root, name, plan.changes, f"env add {name}", check=None)


def _env_texts(root: Path, env: str) -> dict[str, str]:
    return {path: (root / path).read_text() for path in layout.env_files(env)}


def write_copies(root: Path, template: str, names: Sequence[str]) -> None:
    """Environments names, each the template's files under its own name; one commit."""
    texts = _env_texts(root, template)
    recipients = sopsconfig.rule_recipients(sopsconfig.load(root), template) or []
    rules = sopsconfig.load(root)
    settings = config.load(root)
    written: list[str] = []
    for name in names:
        for path, text in texts.items():
            own = path.replace(template, name)
            target = root / own
            target.parent.mkdir(parents=True, exist_ok=True)
            is_secrets = own == layout.secrets_path(name)
            target.write_text(text if is_secrets else text.replace(template, name))
            written.append(own)
        rules = sopsconfig.with_rule(rules, name, recipients)
        settings = settings.with_env(name)
    (root / layout.SOPS_CONFIG).write_text(sopsconfig.render(rules))
    settings_path = root / layout.SETTINGS
    settings_path.write_text(config.render(settings, settings_path.read_text()))
    repo = git.Repo(root)
    with tempfile.NamedTemporaryFile("w", suffix=".paths") as listing:
        listing.write("\0".join([*written, layout.SOPS_CONFIG, layout.SETTINGS]))
        listing.flush()
        repo.git.add("--pathspec-from-file", listing.name, "--pathspec-file-nul")
    repo.git.commit("--quiet", "-m", f"{len(names)} environments copied from {template}")


def build_repo(root: Path, count: int) -> Path:
    """A repository with env_names(count): the first few by env add, the rest copies."""
    names = env_names(count)
    real = names[: len(NAMED_ENVS) + 1]
    scaffold.init(root, REPO_URL)
    add_envs(root, real)
    if len(names) > len(real):
        write_copies(root, real[-1], names[len(real):])
    return root

