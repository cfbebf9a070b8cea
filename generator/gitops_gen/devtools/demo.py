"""make demo: a new GitOps repository with dev, staging and prod, validated, its plan shown.

Runs the installed CLI end to end in a temporary directory with a fresh age key, so it works
on a fresh machine and never touches the user's own key or repositories.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

from rich.console import Console
from rich.rule import Rule

STEPS = [
    ("init", ["init", "{repo}", "--repo-url", "https://github.com/example/todo-gitops.git"]),
    ("env add dev", ["--repo", "{repo}", "env", "add", "dev", "--backend-tag", "1.4.0",
                     "--frontend-tag", "1.4.0"]),
    ("env add staging", ["--repo", "{repo}", "env", "add", "staging", "--host",
                         "staging.todo.example.com", "--backend-tag", "1.3.2",
                         "--frontend-tag", "1.3.2"]),
    ("env add prod", ["--repo", "{repo}", "env", "add", "prod", "--from", "staging", "--host",
                      "todo.example.com"]),
    ("env list", ["--repo", "{repo}", "env", "list"]),
    ("validate", ["--repo", "{repo}", "validate"]),
    ("plan staging", ["--repo", "{repo}", "plan", "staging"]),
    ("git log", None),
]


def main() -> int:
    console = Console()
    with tempfile.TemporaryDirectory(prefix="gitops-gen-demo-") as tmp:
        repo = Path(tmp) / "todo-gitops"
        env = dict(os.environ)
        key_file = Path(tmp) / "age" / "keys.txt"
        key_file.parent.mkdir(mode=0o700)  # env add creates the key; the directory is ours
        env["SOPS_AGE_KEY_FILE"] = str(key_file)
        for var, value in (("NAME", "gitops-gen demo"), ("EMAIL", "demo@example.invalid")):
            env.setdefault(f"GIT_AUTHOR_{var}", value)
            env.setdefault(f"GIT_COMMITTER_{var}", value)
        env.pop("GEMINI_API_KEY", None)
        for title, args in STEPS:
            console.print(Rule(f"gitops-gen {title}" if args else title))
            if args is None:
                cmd = ["git", "-C", str(repo), "log", "--format=%h %s"]
            else:
                cmd = [sys.executable, "-m", "gitops_gen",
                       *(a.format(repo=repo) for a in args)]
            code = subprocess.run(cmd, env=env, check=False).returncode
            if code not in (0,) and not (title == "validate" and code == 1):
                console.print(f"[red]step '{title}' failed with exit code {code}[/red]")
                return code
        console.print(Rule("done"))
        console.print(f"The demo repository lived in {repo} and is gone; run the same "
                      "commands with your own path to keep one.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
