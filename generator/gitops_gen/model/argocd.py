"""gitops/bootstrap: Argo CD's own install of the declared version, with the repo-server sidecar
that decrypts (the `sopsplugin` config management plugin), as one Kustomize overlay.

Upstream facts (argoproj/argo-cd at v3.5.1 unless named otherwise):
- a kustomized install names the install manifest as a remote resource
  (docs/operator-manual/installation.md L71-84); `kubectl apply --server-side` because some
  CRDs exceed client-side apply's annotation limit (docs/getting_started.md L16-26);
- the upstream argocd-repo-server pod has no securityContext (so no fsGroup); its containers
  run as uid 999 (Dockerfile L41-45, L161) and its copyutil init container puts
  argocd-cmp-server into the `var-files` volume;
- a plugin sidecar runs /var/run/argocd/argocd-cmp-server as uid 999 with `var-files`, `plugins`,
  plugin.yaml by subPath and a /tmp of its own (config-management-plugins.md L181-215);
- sops v3.11.0's sha256 per architecture: the release's sops-v3.11.0.checksums.txt, as recorded
  in MPBrun/dotnet-sops src/DotnetSops.CommandLine/Services/Sops/SopsDownloadService.cs
  L162-172 (commit 238681e8f1079cbbd415c0616cad10bbf9da3d53).
"""

from __future__ import annotations

import re
from typing import Any

from ruamel.yaml.comments import CommentedMap
from ruamel.yaml.scalarstring import LiteralScalarString

from ..errors import InputError
from ..repo import config, layout, yamlio
from . import apps, sopsplugin

DEFAULT_VERSION = config.DEFAULT_ARGOCD_VERSION
SUPPORTED = "3.5.x"
_SUPPORTED = re.compile(r"^3\.5\.(0|[1-9][0-9]*)$")
INSTALL_URL = "https://raw.githubusercontent.com/argoproj/argo-cd/v{version}/manifests/install.yaml"
IMAGE = "quay.io/argoproj/argocd:v{version}"

# Every object of the v3.5.1 install manifest, by kind: what a patch may target by name
# (tests compare it with the manifest itself).
_A = "argocd-"
INSTALL_OBJECTS: dict[str, tuple[str, ...]] = {
    "CustomResourceDefinition": ("applications.argoproj.io", "applicationsets.argoproj.io",
                                 "appprojects.argoproj.io"),
    "ServiceAccount": tuple(_A + n for n in (
        "application-controller", "applicationset-controller", "dex-server",
        "notifications-controller", "redis", "repo-server", "server")),
    "Role": tuple(_A + n for n in (
        "application-controller", "applicationset-controller", "dex-server",
        "notifications-controller", "redis", "server")),
    "RoleBinding": tuple(_A + n for n in (
        "application-controller", "applicationset-controller", "dex-server",
        "notifications-controller", "redis", "server")),
    "ClusterRole": tuple(_A + n for n in (
        "application-controller", "applicationset-controller", "server")),
    "ClusterRoleBinding": tuple(_A + n for n in (
        "application-controller", "applicationset-controller", "server")),
    "ConfigMap": tuple(_A + n for n in (
        "cm", "cmd-params-cm", "gpg-keys-cm", "notifications-cm", "rbac-cm",
        "ssh-known-hosts-cm", "tls-certs-cm")),
    "Secret": (_A + "notifications-secret", _A + "secret"),
    "Service": tuple(_A + n for n in (
        "applicationset-controller", "dex-server", "metrics", "notifications-controller-metrics",
        "redis", "repo-server", "server", "server-metrics")),
    "Deployment": tuple(_A + n for n in (
        "applicationset-controller", "dex-server", "notifications-controller", "redis",
        "repo-server", "server")),
    "StatefulSet": (_A + "application-controller",),
    "NetworkPolicy": tuple(_A + n + "-network-policy" for n in (
        "application-controller", "applicationset-controller", "dex-server",
        "notifications-controller", "redis", "repo-server", "server")),
}

# What the upstream install names, and what this overlay adds to argocd-repo-server.
REPO_SERVER = "argocd-repo-server"  # the Deployment and its main container
UPSTREAM_VOLUMES = ("var-files", "plugins")
CMP_SERVER = "/var/run/argocd/argocd-cmp-server"
CMP_HOME = "/home/argocd/cmp-server"
SIDECAR = sopsplugin.PLUGIN_NAME
INIT_CONTAINER = "install-sops"
INIT_IMAGE = "alpine:3.20"  # pinned by tag; pin it by digest where your registry allows
ARGOCD_UID = 999
TOOLS_VOLUME = "gitops-tools"
TMP_VOLUME = "cmp-tmp"
PLUGIN_VOLUME = sopsplugin.CONFIGMAP_NAME
KEY_SECRET = "sops-age-key"
KEY_FILE = "key.txt"
KEY_DIR = "/sops-age"
KEY_MODE = 0o440  # owner and group (fsGroup) read, nobody else

SOPS_VERSION = "3.11.0"
SOPS_SHA256 = {
    "amd64": "775f1384d55decfad228e7196a3f683791914f92a473f78fc47700531c29dfef",
    "arm64": "c71d32f74b3a73ce283affe6ed36e221a8f1476c3d37963f60bd962fb1676681",
}
UNAME_ARCH = {"x86_64": "amd64", "aarch64": "arm64"}
SOPS_URL = ("https://github.com/getsops/sops/releases/download/v{version}/"
            "sops-v{version}.linux.$arch")

KUSTOMIZATION = f"{layout.BOOTSTRAP_DIR}/kustomization.yaml"
PATCH = f"{layout.BOOTSTRAP_DIR}/repo-server-patch.yaml"
PLUGIN = f"{layout.BOOTSTRAP_DIR}/sops-plugin.yaml"
ROOT_PROJECT = f"{layout.BOOTSTRAP_DIR}/root-project.yaml"
DOCKERFILE = f"{layout.BOOTSTRAP_DIR}/Dockerfile"


def is_supported(version: str) -> bool:
    return bool(_SUPPORTED.match(version))


def check_version(version: str, flag: str = "--argocd-version") -> str:
    version = version.removeprefix("v")
    if not is_supported(version):
        raise InputError(
            f"{flag} {version} is not supported: gitops/bootstrap is written for Argo CD "
            f"{SUPPORTED} (checked against v{DEFAULT_VERSION}'s install manifest)",
            f"give a {SUPPORTED} version, e.g. {flag} {DEFAULT_VERSION}",
        )
    return version


def install_url(version: str) -> str:
    return INSTALL_URL.format(version=version)


def image(version: str) -> str:
    return IMAGE.format(version=version)


def sops_install_script(target_dir: str) -> str:
    """sh: download sops for this machine's architecture, check its sha256, then install it."""
    cases = "".join(
        f"  {uname}) arch={arch} sum={SOPS_SHA256[arch]} ;;\n" for uname, arch in UNAME_ARCH.items()
    )
    part = f"{target_dir}/sops.download"
    return (
        "set -eu\n"
        f"# sops v{SOPS_VERSION} for this node's architecture. The sha256 of each build is\n"
        f"# upstream's (sops-v{SOPS_VERSION}.checksums.txt), checked before it is installed.\n"
        'case "$(uname -m)" in\n'
        f"{cases}"
        f'  *) echo "{INIT_CONTAINER}: no pinned sops build for $(uname -m)" >&2; exit 1 ;;\n'
        "esac\n"
        f'wget -q -T 60 -O {part} "{SOPS_URL.format(version=SOPS_VERSION)}"\n'
        f'echo "$sum  {part}" | sha256sum -c -\n'
        f"chmod 0555 {part}\n"
        f"mv {part} {target_dir}/sops\n"
    )


def restricted(uid: int = ARGOCD_UID) -> dict[str, Any]:
    """A container securityContext of the Pod Security "restricted" level, read-only root."""
    return {
        "runAsNonRoot": True,
        "runAsUser": uid,
        "runAsGroup": uid,
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def _key_volume() -> CommentedMap:
    secret = CommentedMap([("secretName", KEY_SECRET), ("defaultMode", KEY_MODE)])
    secret.yaml_add_eol_comment(f"{KEY_MODE:04o}: owner and group (fsGroup {ARGOCD_UID}) read",
                                "defaultMode")
    return CommentedMap([("name", KEY_SECRET), ("secret", secret)])


def repo_server_patch(version: str) -> dict[str, Any]:
    """Strategic merge patch of argocd-repo-server: fsGroup, the sops init container, the
    plugin sidecar and their volumes. The main container is left as upstream ships it."""
    init = {
        "name": INIT_CONTAINER,
        "image": INIT_IMAGE,
        "command": ["sh", "-c"],
        "args": [LiteralScalarString(sops_install_script(sopsplugin.TOOLS_DIR))],
        "securityContext": restricted(),
        "volumeMounts": [{"name": TOOLS_VOLUME, "mountPath": sopsplugin.TOOLS_DIR}],
    }
    sidecar = {
        "name": SIDECAR,
        "image": image(version),
        "command": [CMP_SERVER],
        "env": [
            {"name": "SOPS_AGE_KEY_FILE", "value": f"{KEY_DIR}/{KEY_FILE}"},
            *({"name": f"HELM_{kind}_HOME", "value": f"/tmp/helm/{kind.lower()}"}
              for kind in ("CACHE", "CONFIG", "DATA")),
        ],
        "securityContext": restricted(),
        "volumeMounts": [
            {"name": "var-files", "mountPath": "/var/run/argocd"},
            {"name": "plugins", "mountPath": f"{CMP_HOME}/plugins"},
            {"name": PLUGIN_VOLUME, "mountPath": f"{CMP_HOME}/config/{sopsplugin.CONFIG_KEY}",
             "subPath": sopsplugin.CONFIG_KEY},
            {"name": TMP_VOLUME, "mountPath": "/tmp"},
            {"name": TOOLS_VOLUME, "mountPath": sopsplugin.TOOLS_DIR, "readOnly": True},
            {"name": KEY_SECRET, "mountPath": KEY_DIR, "readOnly": True},
        ],
    }
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        # No namespace: kustomize matches patches before it sets the namespace, and the
        # install manifest names none.
        "metadata": {"name": REPO_SERVER},
        "spec": {"template": {"spec": {
            # The key file's group is the fsGroup: the sidecar (uid and gid 999) reads it.
            "securityContext": {"fsGroup": ARGOCD_UID},
            "initContainers": [init],
            "containers": [sidecar],
            "volumes": [
                {"name": TOOLS_VOLUME, "emptyDir": {}},
                {"name": TMP_VOLUME, "emptyDir": {}},
                {"name": PLUGIN_VOLUME, "configMap": {"name": sopsplugin.CONFIGMAP_NAME}},
                _key_volume(),
            ],
        }}},
    }


def kustomization(version: str) -> dict[str, Any]:
    return {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "namespace": layout.ARGOCD_NAMESPACE,
        "resources": [install_url(version), PLUGIN.rsplit("/", 1)[1]],
        "patches": [{"path": PATCH.rsplit("/", 1)[1]}],
    }


def dockerfile(version: str) -> str:
    script = sops_install_script(sopsplugin.TOOLS_DIR)
    return (
        "# syntax=docker/dockerfile:1\n"
        "# The plugin sidecar's image with sops built in: the production route, nothing is\n"
        "# downloaded when the repo-server starts. Build it for every node architecture:\n"
        "#   docker buildx build --platform linux/amd64,linux/arm64 \\\n"
        f"#     -t REGISTRY/argocd-sops:v{version} gitops/bootstrap\n"
        f"# then set the {SIDECAR} container's image to it in repo-server-patch.yaml and\n"
        f"# drop the {INIT_CONTAINER} init container and the {TOOLS_VOLUME} volume (README.md).\n"
        f"FROM {INIT_IMAGE} AS sops\n"
        f"RUN mkdir {sopsplugin.TOOLS_DIR}\n"
        "RUN <<'SCRIPT'\n"
        f"{script}"
        "SCRIPT\n"
        "\n"
        f"FROM {image(version)}\n"
        f"COPY --from=sops {sopsplugin.TOOLS_DIR}/sops /usr/local/bin/sops\n"
        f"USER {ARGOCD_UID}\n"
    )


def _yaml(header: str, data: Any) -> str:
    return "".join(f"# {line}\n" if line else "#\n" for line in header.splitlines()) + \
        yamlio.dump(data)


def files(settings: config.Settings) -> dict[str, str]:
    """Every generated file of gitops/bootstrap (its README.md ships with the scaffold)."""
    version = settings.argocd_version
    return {
        KUSTOMIZATION: _yaml(
            f"Argo CD v{version} as upstream ships it, plus the plugin sidecar that decrypts.\n"
            "Apply after the key Secret: gitops-gen bootstrap --print (README.md).",
            kustomization(version)),
        PATCH: _yaml(
            "argocd-repo-server: the sops init container and the plugin sidecar (README.md).",
            repo_server_patch(version)),
        PLUGIN: _yaml(
            "The config management plugin the sidecar runs for this repository's Applications.",
            sopsplugin.configmap(settings.repo_url)),
        ROOT_PROJECT: _yaml(
            "The project of gitops/root.yaml: this repository's Applications and AppProjects\n"
            "in the argocd namespace, nothing else. Applied with gitops/root.yaml.",
            apps.build_root_project(settings.repo_url)),
        DOCKERFILE: dockerfile(version),
    }
