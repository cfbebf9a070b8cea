"""The one-time cluster step: the age key Secret that Argo CD's repo-server decrypts with.

The Secret holds private keys, so it is built in memory and handed to kubectl on its
standard input; it is never written to a file and never printed. It holds only the local
identities this repository encrypts to (its .sops.yaml rules and its overlays' secrets
files), never the other keys a local key file may hold.
"""

from __future__ import annotations

import shlex
from pathlib import Path

import pyrage

from ..errors import InputError, KeyError_
from ..repo import layout, proc, yamlio
from ..secrets import agekeys, sops, sopsconfig

SECRET_NAME = "helm-secrets-private-keys"
KEY_FILE = "key.txt"  # what gitops/bootstrap/repo-server-patch.yaml mounts and names


def repository_recipients(root: Path) -> list[str]:
    """The age recipients this repository encrypts to: its .sops.yaml rules' and those its
    overlays' secrets files are encrypted to."""
    found: set[str] = set()
    for rule in sopsconfig.load(root)["creation_rules"]:
        age = rule.get("age", "") if isinstance(rule, dict) else ""
        parts = age if isinstance(age, list) else str(age).split(",")
        found.update(str(a).strip() for a in parts if str(a).strip())
    for env in layout.environments_on_disk(root):
        path = layout.secrets_path(env)
        if (root / path).is_file():
            found.update(sops.file_recipients(sops.read_encrypted(root, path)))
    return sorted(found)


def _keys(root: Path, path: Path | None) -> tuple[agekeys.LocalKeys,
                                                   list[pyrage.x25519.Identity]]:
    """The local keys, and those of their identities that are recipients of the repository."""
    keys = agekeys.local_keys(path)
    if not keys.identities:
        raise KeyError_(
            f"no age identity at {keys.where}",
            "set SOPS_AGE_KEY_FILE to the identity that can decrypt this repository's secrets",
        )
    expected = repository_recipients(root)
    if not expected:
        raise KeyError_(f"{root} encrypts to no age recipient yet ({layout.SOPS_CONFIG} has "
                        "no rules and no overlay has secrets)",
                        "add an environment first: gitops-gen env add NAME")
    wanted = [i for i in keys.identities if str(i.to_public()) in expected]
    if not wanted:
        raise KeyError_(
            f"no identity in {keys.where} is a recipient of this repository",
            f"it expects one of: {', '.join(expected)}; set SOPS_AGE_KEY_FILE to the "
            "identity of one of them",
        )
    return keys, wanted


def identity_text(identities: list[pyrage.x25519.Identity]) -> str:
    """keys.txt text of these identities (what the repo-server reads)."""
    return "".join(f"# public key: {i.to_public()}\n{i}\n" for i in identities)


def secret_manifest(keys_text: str) -> str:
    return yamlio.dump({
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {
            "name": SECRET_NAME,
            "namespace": layout.ARGOCD_NAMESPACE,
            "labels": {"app.kubernetes.io/part-of": "argocd"},
        },
        "type": "Opaque",
        "stringData": {KEY_FILE: keys_text},
    })


def command_text(root: Path, path: Path | None = None, context: str | None = None) -> str:
    """The kubectl command a cluster admin can run: it names the key file, never its content.

    Only possible when that file holds nothing but identities of this repository.
    """
    keys, wanted = _keys(root, path)
    if keys.path is None or len(wanted) != len(keys.identities):
        others = len(keys.identities) - len(wanted)
        holds = (f"{keys.where} holds {others} identities this repository does not use"
                 if keys.path is not None else f"the key comes from {keys.where}, not a file")
        raise InputError(
            f"--print cannot name a key file to send: {holds}",
            "run 'gitops-gen bootstrap' without --print (it sends only this repository's "
            "identities), or point SOPS_AGE_KEY_FILE at a file holding just those",
        )
    ctx = ["--context", context] if context else []
    create = ["kubectl", *ctx, "-n", layout.ARGOCD_NAMESPACE, "create", "secret", "generic",
              SECRET_NAME, f"--from-file={KEY_FILE}={keys.path}", "--dry-run=client", "-o",
              "yaml"]
    apply = ["kubectl", *ctx, "apply", "-f", "-"]
    return f"{shlex.join(create)} | {shlex.join(apply)}"


def apply_secret(root: Path, path: Path | None = None, context: str | None = None) -> str:
    """Pipe the Secret to 'kubectl apply'; returns kubectl's own summary line."""
    keys, wanted = _keys(root, path)
    text = identity_text(wanted)
    ctx = ["--context", context] if context else []
    result = proc.run(
        ["kubectl", *ctx, "apply", "-f", "-"],
        stdin=secret_manifest(text).encode(),
        secrets=[text, *text.splitlines(), *(str(i) for i in keys.identities)],
        timeout=60,
    )
    return result.stdout.decode().strip()
