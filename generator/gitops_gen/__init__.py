"""gitops-gen: writes and checks the Todo Chatbot's GitOps repository."""

from __future__ import annotations

# The release, equal to [project] version in pyproject.toml (tests/test_cli.py compares them).
# A constant rather than importlib.metadata: reading the installed metadata costs every start
# of the command, --version included, an import and a scan of the site-packages.
__version__ = "0.1.0"
