"""`make demo`, the README's first command: the whole demonstration, as a user runs it."""

from __future__ import annotations

import os
import subprocess
import sys


def test_the_demo_runs_from_start_to_end() -> None:
    """A fresh repository, three environments added with a key the demo creates, validated,
    staging's sync plan shown, and the commits listed."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("SOPS_AGE_", "GIT_AUTHOR_", "GIT_COMMITTER_"))}
    out = subprocess.run([sys.executable, "-m", "gitops_gen.devtools.demo"], env=env,
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    assert "ok: 0 errors" in out.stdout
    assert "Sync wave 0" in out.stdout and "[database]" in out.stdout
    for env_name in ("dev", "staging", "prod"):
        assert f"env: add {env_name}" in out.stdout
