"""The object every command receives: the --repo option, resolved on demand."""

from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    from pathlib import Path


class AppContext(NamedTuple):
    repo_option: str | None
    debug: bool

    def root(self) -> Path:
        """The GitOps repository: --repo, else the git work tree around the cwd."""
        # Imported here, not at start-up: GitPython runs `git version` when it is imported.
        from pathlib import Path

        from ..repo.gitrepo import find_root

        return find_root(Path(self.repo_option) if self.repo_option else Path.cwd())
