"""gitops-gen: writes and checks the Todo Chatbot's GitOps repository."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("gitops-gen")
except PackageNotFoundError:  # running from a source tree without an install
    __version__ = "0.0.0+source"
