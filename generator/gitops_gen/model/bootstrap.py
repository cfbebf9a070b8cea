"""The one-time cluster steps, in the order that works on a clean cluster.

1. the `argocd` namespace; 2. the age key Secret the plugin sidecar decrypts with (the
repo-server Deployment mounts it, so it comes before the Deployment); 3. gitops/bootstrap
(Argo CD itself and the sidecar), applied server-side because Argo CD's CRDs exceed
client-side apply's annotation limit (argo-cd v3.5.1 docs/getting_started.md L16-26);
4. waiting for the Application and AppProject CRDs; 5. the root project and root app. The root
project cannot be part of step 3: kubectl maps every object to its API before applying any
(kubernetes/kubectl v0.36.2 pkg/cmd/apply/apply.go L466-490, L516-535), and an AppProject
whose CRD the same apply creates fails that mapping on a clean cluster (kubernetes/cli-runtime
v0.36.2 pkg/resource/mapper.go L62-70, "ensure CRDs are installed first").

The Secret holds private keys, so it is built in memory and handed to kubectl on its
standard input; it is never written to a file and never printed. It holds only the local
identities this repository encrypts to (its .sops.yaml rules and its overlays' secrets
files), never the other keys a local key file may hold.
"""

from __future__ import annotations

import shlex
from pathlib import Path

import pyrage

from ..errors import InputError, NoDecryptionKey
from ..repo import layout, proc, yamlio
from ..secrets import agekeys, sops, sopsconfig
from . import argocd

SECRET_NAME = argocd.KEY_SECRET
KEY_FILE = argocd.KEY_FILE  # what gitops/bootstrap/repo-server-patch.yaml mounts and names
CRDS = ("crd/applications.argoproj.io", "crd/appprojects.argoproj.io")


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
        raise NoDecryptionKey(
            f"no age identity at {keys.where}",
            "set SOPS_AGE_KEY_FILE to the identity that can decrypt this repository's secrets",
        )
    expected = repository_recipients(root)
    if not expected:
        raise NoDecryptionKey(f"{root} encrypts to no age recipient yet ({layout.SOPS_CONFIG} has "
                        "no rules and no overlay has secrets)",
                        "add an environment first: gitops-gen env add NAME")
    wanted = [i for i in keys.identities if str(i.to_public()) in expected]
    if not wanted:
        raise NoDecryptionKey(
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


def _secret_command(root: Path, path: Path | None, ctx: list[str]) -> str:
    """The kubectl pipe that sends the key file: it names the file, never its content.

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
    create = ["kubectl", *ctx, "-n", layout.ARGOCD_NAMESPACE, "create", "secret", "generic",
              SECRET_NAME, f"--from-file={KEY_FILE}={keys.path}", "--dry-run=client", "-o",
              "yaml"]
    return f"{shlex.join(create)} | {shlex.join(['kubectl', *ctx, 'apply', '-f', '-'])}"


def _apply_bootstrap(ctx: list[str]) -> list[str]:
    return ["kubectl", *ctx, "apply", "--server-side", "--force-conflicts",
            "-k", layout.BOOTSTRAP_DIR]


def _wait_crds(ctx: list[str]) -> list[str]:
    return ["kubectl", *ctx, "wait", "--for=condition=Established", "--timeout=60s", *CRDS]


def _apply_root(ctx: list[str]) -> list[str]:
    return ["kubectl", *ctx, "apply", "-f", argocd.ROOT_PROJECT, "-f", layout.ROOT_APP]


def command_text(root: Path, path: Path | None = None, context: str | None = None) -> str:
    """Every step as shell commands, in order, run from the repository root; the Secret's
    step names the key file and sends it through a pipe, never the key itself."""
    ctx = ["--context", context] if context else []
    namespace = ["kubectl", *ctx, "create", "namespace", layout.ARGOCD_NAMESPACE,
                 "--dry-run=client", "-o", "yaml"]
    return "\n".join([
        f"cd {shlex.quote(str(root))}",
        f"{shlex.join(namespace)} | {shlex.join(['kubectl', *ctx, 'apply', '-f', '-'])}",
        _secret_command(root, path, ctx),
        shlex.join(_apply_bootstrap(ctx)),
        shlex.join(_wait_crds(ctx)),
        shlex.join(_apply_root(ctx)),
    ])


def namespace_manifest() -> str:
    return yamlio.dump({"apiVersion": "v1", "kind": "Namespace",
                        "metadata": {"name": layout.ARGOCD_NAMESPACE}})


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


def run(root: Path, path: Path | None = None, context: str | None = None) -> list[str]:
    """Every step with kubectl, in order; returns kubectl's summaries. Stops at the first
    failure (a ToolError naming the command)."""
    _keys(root, path)  # no identity: fail before anything reaches the cluster
    ctx = ["--context", context] if context else []
    out = [proc.run(["kubectl", *ctx, "apply", "-f", "-"], stdin=namespace_manifest().encode(),
                    timeout=60).stdout.decode().strip()]
    out.append(apply_secret(root, path, context))
    for args, timeout in ((_apply_bootstrap(ctx), 300), (_wait_crds(ctx), 90),
                          (_apply_root(ctx), 60)):
        out.append(proc.run(args, cwd=str(root), timeout=timeout).stdout.decode().strip())
    return out
