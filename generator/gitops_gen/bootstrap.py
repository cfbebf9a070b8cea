"""The one-time cluster step: the age key Secret that Argo CD's repo-server decrypts with.

The Secret holds the private key, so it is built in memory and handed to kubectl on its
standard input; it is never written to a file and never printed.
"""

from __future__ import annotations

import shlex
from pathlib import Path

from . import agekeys, layout, proc, yamlio
from .errors import KeyError_

SECRET_NAME = "helm-secrets-private-keys"
KEY_FILE = "key.txt"  # what gitops/bootstrap/repo-server-patch.yaml mounts and names


def _identity(path: Path | None) -> tuple[Path, str]:
    path = path or agekeys.identity_path()
    if not agekeys.local_recipients(path):
        raise KeyError_(
            f"no age identity at {path}",
            "set SOPS_AGE_KEY_FILE to the identity that can decrypt this repository's secrets",
        )
    return path, path.read_text()


def secret_manifest(identity_text: str) -> str:
    return yamlio.dump({
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {
            "name": SECRET_NAME,
            "namespace": layout.ARGOCD_NAMESPACE,
            "labels": {"app.kubernetes.io/part-of": "argocd"},
        },
        "type": "Opaque",
        "stringData": {KEY_FILE: identity_text},
    })


def command_text(path: Path | None = None, context: str | None = None) -> str:
    """The kubectl command a cluster admin can run: it names the key file, never its content."""
    key, _ = _identity(path)
    ctx = ["--context", context] if context else []
    create = ["kubectl", *ctx, "-n", layout.ARGOCD_NAMESPACE, "create", "secret", "generic",
              SECRET_NAME, f"--from-file={KEY_FILE}={key}", "--dry-run=client", "-o", "yaml"]
    apply = ["kubectl", *ctx, "apply", "-f", "-"]
    return f"{shlex.join(create)} | {shlex.join(apply)}"


def apply_secret(path: Path | None = None, context: str | None = None) -> str:
    """Pipe the Secret to 'kubectl apply'; returns kubectl's own summary line."""
    _, text = _identity(path)
    ctx = ["--context", context] if context else []
    result = proc.run(
        ["kubectl", *ctx, "apply", "-f", "-"],
        stdin=secret_manifest(text).encode(),
        secrets=[text, *text.splitlines()],
        timeout=60,
    )
    return result.stdout.decode().strip()
