"""validate over gitops/bootstrap and the Applications' source: each rule fires on a mutation
of what `gitops-gen init` and `env add` wrote, at the file and the line that carries it, and
stays quiet on the files as written."""

from __future__ import annotations

from pathlib import Path

import pytest

from gitops_gen.checks import bootstrapchecks, downloadchecks, sidecarchecks
from gitops_gen.checks.findings import Finding
from gitops_gen.checks.validate import RULES, validate_repo
from gitops_gen.model import argocd
from gitops_gen.repo import layout, yamlio

KZ, PATCH, PLUGIN, PROJECT, DOCKER = (argocd.KUSTOMIZATION, argocd.PATCH, argocd.PLUGIN,
                                      argocd.ROOT_PROJECT, argocd.DOCKERFILE)
URL = "https://raw.githubusercontent.com/argoproj/argo-cd/v3.5.1/manifests/install.yaml"
SEC_CTX = "            seccompProfile:\n              type: RuntimeDefault\n"
CHECK = 'echo "$sum  /gitops-tools/sops.download" | sha256sum -c -\n'
AMD64 = "775f1384d55decfad228e7196a3f683791914f92a473f78fc47700531c29dfef"
FS_GROUP = "      securityContext:\n        fsGroup: 999\n"
INIT_MOUNT = ("            - name: gitops-tools\n              mountPath: /gitops-tools\n"
              "      containers:")


def replace(root: Path, path: str, old: str, new: str) -> None:
    text = (root / path).read_text()
    assert old in text, f"{old!r} not in {path}"
    (root / path).write_text(text.replace(old, new, 1))


def findings(root: Path, rule: str) -> list[Finding]:
    return [f for f in validate_repo(root, ["dev"]).findings if f.rule == rule]


def line_at(root: Path, f: Finding) -> str:
    assert f.file is not None and f.line is not None, f
    return (root / f.file).read_text().splitlines()[f.line - 1]


def test_rules_are_declared_and_quiet_on_what_init_writes(repo: Path) -> None:
    new = (*[r.id for r in (*bootstrapchecks.RULES, *sidecarchecks.RULES,
                            *downloadchecks.RULES)], "app-plugin")
    assert set(new) <= set(RULES)
    report = validate_repo(repo)
    assert [f for f in report.findings if f.rule in new or f.rule == "root-app"] == []


# (file, text, replacement, rule, what the reported line holds)
MUTATIONS = {
    "kustomization-without-install": (
        KZ, f"  - {URL}\n", "", "bootstrap-kustomization", "resources:"),
    "kustomization-missing-file": (
        KZ, "- sops-plugin.yaml", "- sops-plugins.yaml", "bootstrap-kustomization",
        "- sops-plugins.yaml"),
    "kustomization-patch-target": (
        PATCH, "name: argocd-repo-server\n", "name: argocd-repo-servr\n",
        "bootstrap-kustomization", "- path: repo-server-patch.yaml"),
    "kustomization-namespace": (
        KZ, "namespace: argocd", "namespace: default", "bootstrap-kustomization",
        "namespace: default"),
    "version-of-install": (
        KZ, "/v3.5.1/manifests", "/v3.4.0/manifests", "bootstrap-version", "v3.4.0/manifests"),
    "version-of-sidecar": (
        PATCH, "argocd:v3.5.1", "argocd:v3.4.0", "bootstrap-version", "argocd:v3.4.0"),
    "version-of-image-build": (
        DOCKER, "argocd:v3.5.1", "argocd:v3.5.0", "bootstrap-version", "FROM quay.io"),
    "version-declared": (
        layout.SETTINGS, "argocdVersion: 3.5.1", "argocdVersion: 3.4.2", "bootstrap-version",
        "argocdVersion: 3.4.2"),
    "root-project-cluster-kinds": (
        PROJECT, "  namespaceResourceWhitelist:",
        "  clusterResourceWhitelist:\n    - group: '*'\n      kind: '*'\n"
        "  namespaceResourceWhitelist:", "bootstrap-root-project", "clusterResourceWhitelist"),
    "root-project-more-kinds": (
        PROJECT, "      kind: AppProject\n", "      kind: AppProject\n    - group: apps\n"
        "      kind: Deployment\n", "bootstrap-root-project", "namespaceResourceWhitelist"),
    "root-project-any-repo": (
        PROJECT, "  sourceRepos:\n    - https://git.example.com/org/todo-gitops.git",
        "  sourceRepos:\n    - '*'", "bootstrap-root-project", "sourceRepos"),
    "root-project-any-namespace": (
        PROJECT, "      namespace: argocd", "      namespace: '*'", "bootstrap-root-project",
        "destinations"),
    "plugin-without-pipefail": (
        PLUGIN, "            set -euo pipefail\n", "", "bootstrap-plugin", "# Renders chart/"),
    "plugin-other-repository": (
        PLUGIN, "repo_url=https://git.example.com/org/todo-gitops.git",
        "repo_url=https://git.example.com/org/elsewhere.git", "bootstrap-plugin", "repo_url="),
    "plugin-discovers": (
        PLUGIN, "      preserveFileMode: false",
        "      discover:\n        fileName: '*'\n      preserveFileMode: false",
        "bootstrap-plugin", "discover:"),
    "plugin-plaintext-file": (
        PLUGIN, 'secrets.sops.yaml \\\n              | helm "${args[@]}" -f values.yaml -f -',
        'secrets.sops.yaml > /tmp/plain.yaml\n'
        '            helm "${args[@]}" -f values.yaml -f /tmp/plain.yaml',
        "bootstrap-plugin", "sops --decrypt"),
    "sidecar-shares-tmp": (
        PATCH, "            - name: cmp-tmp\n", "            - name: tmp\n", "bootstrap-plugin",
        "- name: tmp"),
    "sidecar-command": (
        PATCH, "            - /var/run/argocd/argocd-cmp-server",
        "            - /usr/local/bin/argocd-repo-server", "bootstrap-plugin", "command:"),
    "key-without-fsgroup": (
        PATCH, FS_GROUP, "", "bootstrap-key-mount", "defaultMode"),
    "key-world-readable": (
        PATCH, "defaultMode: 288", "defaultMode: 292", "bootstrap-key-mount", "defaultMode"),
    "key-in-init-container": (
        PATCH, INIT_MOUNT, INIT_MOUNT.replace(
            "      containers:",
            "            - name: sops-age-key\n              mountPath: /keys\n      containers:"),
        "bootstrap-key-mount", "- name: sops-age-key"),
    "download-unchecked": (
        PATCH, CHECK, "", "bootstrap-downloads", "wget -q"),
    "download-installed-before-check": (
        PATCH, CHECK + "              chmod 0555 /gitops-tools/sops.download\n",
        "chmod 0555 /gitops-tools/sops.download\n              " + CHECK,
        "bootstrap-downloads", "chmod 0555"),
    "download-wrong-checksum": (
        PATCH, AMD64, AMD64[:-1] + "0", "bootstrap-downloads", "x86_64)"),
    "download-one-architecture": (
        PATCH, "linux.$arch", "linux.amd64", "bootstrap-downloads", "linux.amd64"),
    "download-image-unpinned": (
        PATCH, "image: alpine:3.20", "image: alpine", "bootstrap-downloads", "image: alpine"),
    "download-image-build-unchecked": (
        DOCKER, CHECK, "", "bootstrap-downloads", "wget -q"),
    "init-container-not-restricted": (
        PATCH, SEC_CTX, "", "bootstrap-security-context", "securityContext:"),
    "app-without-plugin": (
        layout.app_path("dev"), "      name: todo-chatbot-sops", "      name: helm-secrets",
        "app-plugin", "name: helm-secrets"),
    "app-other-path": (
        layout.app_path("dev"), "path: overlays/dev", "path: overlays/prod", "app-plugin",
        "path: overlays/prod"),
    "app-helm-source": (
        layout.app_path("dev"), "    plugin:\n",
        "    helm:\n      valueFiles:\n        - ../../etc/passwd\n    plugin:\n",
        "app-plugin", "helm:"),
    "root-app-default-project": (
        layout.ROOT_APP, "project: todo-root", "project: default", "root-app",
        "project: default"),
    "root-project-schema": (
        PROJECT, "  description:", "  descripton: x\n  description:", "argocd-schema",
        "descripton"),
}


# Where a finding is reported in another file than the one changed.
REPORTED_IN = {"kustomization-patch-target": KZ}


@pytest.mark.parametrize("name", list(MUTATIONS))
def test_each_rule_fires_at_its_line(repo: Path, name: str) -> None:
    path, old, new, rule, held = MUTATIONS[name]
    assert not findings(repo, rule)
    replace(repo, path, old, new)
    found = findings(repo, rule)
    assert found, f"{rule} did not fire"
    reported = REPORTED_IN.get(name, path)
    assert any(f.file == reported and held in line_at(repo, f) for f in found), \
        [(f.file, f.line, f.message) for f in found]
    assert all(f.severity == "error" for f in found if f.file == reported)


def test_a_value_file_scheme_anywhere_in_the_bootstrap(repo: Path) -> None:
    cm = f"{layout.BOOTSTRAP_DIR}/argocd-cm.yaml"
    (repo / cm).write_text("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: argocd-cm\n"
                           "data:\n  helm.valuesFileSchemes: secrets, https\n---\n"
                           "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: other\n")
    replace(repo, KZ, "  - path: repo-server-patch.yaml\n",
            "  - path: repo-server-patch.yaml\n  - path: argocd-cm.yaml\n")
    found = findings(repo, "bootstrap-schemes")
    assert [(f.file, line_at(repo, f).strip()) for f in found] == [
        (cm, "helm.valuesFileSchemes: secrets, https")]
    assert not findings(repo, "bootstrap-kustomization")  # argocd-cm is an upstream object


def test_key_readable_models_owner_group_and_mode() -> None:
    readable = sidecarchecks.key_readable
    assert readable(999, 999, 999, 0o440)
    assert not readable(999, 999, None, 0o440)  # root:root, the sidecar is no member
    assert not readable(999, 999, None, 0o400)  # the layout before
    assert not readable(1000, 1000, None, 0o640)  # group root: only root's group reads
    assert readable(999, 999, None, 0o444)  # anyone: what the rule calls too open


def test_download_problems_on_a_good_and_a_bad_script() -> None:
    good = argocd.sops_install_script("/t")
    assert downloadchecks.download_problems(good) == []
    bad = ("wget -O /t/sops https://github.com/getsops/sops/releases/latest/download/"
           "sops.linux.amd64\nchmod +x /t/sops\n")
    messages = " ".join(m for _, m in downloadchecks.download_problems(bad))
    for part in ("not pinned", "names one architecture", "not checked", "no sha256 for amd64",
                 "no sha256 for arm64"):
        assert part in messages


def test_the_production_route_validates(repo: Path) -> None:
    """The README's production route: the sidecar from the image built with the Dockerfile,
    no init container and no tools volume."""
    data = yamlio.load((repo / PATCH).read_text(), PATCH)
    pod = data["spec"]["template"]["spec"]
    del pod["initContainers"]
    pod["volumes"] = [v for v in pod["volumes"] if v["name"] != "gitops-tools"]
    side = pod["containers"][0]
    side["image"] = "registry.example.com/argocd-sops:v3.5.1"
    side["volumeMounts"] = [m for m in side["volumeMounts"] if m["name"] != "gitops-tools"]
    (repo / PATCH).write_text(yamlio.dump(data))
    found = [f for f in validate_repo(repo, ["dev"]).findings if f.rule.startswith("bootstrap-")]
    assert found == []
