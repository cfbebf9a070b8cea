"""The object every command receives: the --repo option, resolved on demand."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..repo.gitrepo import find_root


@dataclass
class AppContext:
    repo_option: Path | None
    debug: bool

    def root(self) -> Path:
        """The GitOps repository: --repo, else the git work tree around the cwd."""
        return find_root(self.repo_option or Path.cwd())
