"""The repo-server patch and the plugin it runs: the sidecar's layout, the age key's mount (the
sidecar reads it, nobody else), restricted security contexts (downloads: `downloadchecks`).

What Argo CD expects of a plugin sidecar: argo-cd v3.5.1
docs/operator-manual/config-management-plugins.md L181-215 (argocd-cmp-server from var-files,
uid 999, plugin.yaml by subPath, a /tmp of its own); the plugin's script: model/sopsplugin.py.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterator
from pathlib import PurePosixPath
from typing import Any

from ..errors import YamlError
from ..model import argocd, sopsplugin
from ..repo import yamlio
from ..repo.yamlio import lookup
from .bootstrapchecks import CONTAINER_PATH, RESTORE, containers, pod_spec, sidecar
from .findings import Finding, Severity
from .repofiles import BootstrapFiles, Loaded, RepoFiles
from .rules import Rule

RULES = (
    Rule("bootstrap-plugin", "the repo-server's plugin sidecar is laid out as Argo CD expects"),
    Rule("bootstrap-key-mount", "the age key is mounted into the sidecar only, readable by it "
         "alone"),
    Rule("bootstrap-security-context", "the repo-server's containers meet Pod Security "
         "'restricted' with a read-only root"),
)

DEFAULT_SECRET_MODE = 0o644  # the Kubernetes API's default for a secret volume's defaultMode


def _finding(rule: str, loaded: Loaded, line: int | None, message: str,
             severity: Severity = "error") -> Finding:
    return Finding(rule, severity, None, loaded.path, line, message)


def _volumes(bootstrap: BootstrapFiles) -> list[tuple[int, dict[str, Any]]]:
    items = pod_spec(bootstrap.patch).get("volumes")
    return [(i, v) for i, v in enumerate(items) if isinstance(v, dict)] \
        if isinstance(items, list) else []


def _mounts(container: dict[str, Any]) -> list[tuple[int, dict[str, Any]]]:
    items = container.get("volumeMounts")
    return [(i, m) for i, m in enumerate(items) if isinstance(m, dict)] \
        if isinstance(items, list) else []


# ---- the plugin ---------------------------------------------------------------------------


class _Inner:
    """plugin.yaml inside the ConfigMap: parsed on its own, its lines mapped to the file's."""

    def __init__(self, outer: Loaded, text: str) -> None:
        self.outer = outer
        self.offset = outer.line(["data", sopsplugin.CONFIG_KEY]) or 1
        try:
            self.data: Any = yamlio.read(text, outer.path)
        except YamlError:
            self.data = None

    def line(self, keys: list[str | int], extra: int = 0) -> int:
        inner = yamlio.line_of(self.data, keys) if self.data is not None else None
        return self.offset + (inner or 0) + extra


def _script_line(script: str, needle: str) -> int:
    """0-based index of the first script line holding needle (the script's end if none)."""
    lines = script.splitlines()
    return next((n for n, text in enumerate(lines) if needle in text), max(len(lines) - 1, 0))


def check_plugin_config(repo: RepoFiles, bootstrap: BootstrapFiles) -> Iterator[Finding]:
    rule, cm = "bootstrap-plugin", bootstrap.plugin
    if not cm.exists:
        yield _finding(rule, cm, None, f"{cm.path} is missing: the sidecar mounts plugin.yaml from "
                       f"it; restore it from git {RESTORE}")
        return
    if not isinstance(cm.data, dict) or repo.settings is None:
        return
    if lookup(cm.data, "metadata", "name") != sopsplugin.CONFIGMAP_NAME:
        yield _finding(rule, cm, cm.line(["metadata", "name"]) or 1,
                       f"the ConfigMap must be named {sopsplugin.CONFIGMAP_NAME}: the sidecar's "
                       "volume mounts that name")
    text = lookup(cm.data, "data", sopsplugin.CONFIG_KEY)
    inner = _Inner(cm, str(text)) if isinstance(text, str) else None
    if inner is None or not isinstance(inner.data, dict):
        yield _finding(rule, cm, cm.line(["data"]) or 1,
                       f"data.{sopsplugin.CONFIG_KEY} is missing or not YAML; restore it {RESTORE}")
        return
    plugin = inner.data
    if lookup(plugin, "metadata", "name") != sopsplugin.PLUGIN_NAME:
        yield _finding(rule, cm, inner.line(["metadata", "name"]),
                       f"the plugin must be named {sopsplugin.PLUGIN_NAME}: every Application "
                       "names it in source.plugin.name")
    for key, why in (("version", "the Applications would have to name it <name>-<version>"),
                     ("discover", "it would serve Applications that do not name it"),):
        if lookup(plugin, "spec", key):
            yield _finding(rule, cm, inner.line(["spec", key]),
                           f"spec.{key} is set: {why}; remove it")
    for key in ("provideGitCreds", "preserveFileMode"):
        if lookup(plugin, "spec", key) is True:
            yield _finding(rule, cm, inner.line(["spec", key]),
                           f"spec.{key} is true: the plugin needs neither git credentials nor the "
                           "repository's file modes; set it false")
    yield from _check_script(repo, cm, inner)


def _check_script(repo: RepoFiles, cm: Loaded, inner: _Inner) -> Iterator[Finding]:
    rule = "bootstrap-plugin"
    assert repo.settings is not None
    args = lookup(inner.data, "spec", "generate", "args")
    command = lookup(inner.data, "spec", "generate", "command")
    if not isinstance(args, list) or not args or command != ["bash", "-c"]:
        yield _finding(rule, cm, inner.line(["spec", "generate"]),
                       "spec.generate must run the script as [bash, -c] with the script as its one "
                       f"argument; restore it {RESTORE}")
        return
    script = str(args[-1])
    base = inner.line(["spec", "generate", "args", len(args) - 1], extra=1)

    def at(needle: str) -> int:
        return base + _script_line(script, needle)

    if not re.search(r"^\s*set -[a-z]*o pipefail\b|^\s*set -o pipefail\b", script, re.M):
        yield _finding(rule, cm, base,
                       "the generate script does not set -o pipefail: when sops fails, helm still "
                       "prints the chart without secrets and Argo CD applies it (config management "
                       "plugins doc, 'set -o pipefail'); start it with set -euo pipefail")
    bound = re.search(r"^repo_url=(.*)$", script, re.M)
    if bound is None or sopsplugin.REPO_URL_VAR not in script:
        yield _finding(rule, cm, base,
                       f"the generate script does not compare ${sopsplugin.REPO_URL_VAR} with this "
                       "repository's URL: an Application of any repository could make the sidecar "
                       "decrypt a copied SOPS file; restore the script " + RESTORE)
    else:
        try:
            have = shlex.split(bound.group(1))
        except ValueError:
            have = []
        if have != [repo.settings.repo_url]:
            yield _finding(rule, cm, at("repo_url="),
                           f"the plugin renders only {bound.group(1)}, but the repository is "
                           f"{repo.settings.repo_url} ({'.gitops-gen.yaml'}); set repo_url to "
                           f"{shlex.quote(repo.settings.repo_url)}")
    yield from _check_pipe(cm, script, at)


def _check_pipe(cm: Loaded, script: str, at: Any) -> Iterator[Finding]:
    lines = script.splitlines()
    start = next((n for n, t in enumerate(lines) if re.search(r"\bsops\b.*(--decrypt|-d\b)", t)),
                 None)
    if start is None:
        yield _finding("bootstrap-plugin", cm, at("helm"),
                       "the generate script does not decrypt overlays/<env>/secrets.sops.yaml with "
                       f"sops; restore it {RESTORE}")
        return
    end = start
    while end + 1 < len(lines) and lines[end].rstrip().endswith("\\"):
        end += 1
    pipeline = " ".join(lines[start:end + 1])
    to_file = re.search(r"(^|[^0-9&])>|--output(?:[\s=]|$)|\btee\b", pipeline)
    if to_file or "| helm" not in pipeline or not re.search(r"(-f|--values) -(\s|$)", pipeline):
        yield _finding("bootstrap-plugin", cm, at(lines[start].strip()),
                       "the decrypted values must go from sops to 'helm template ... -f -' through "
                       "a pipe: anything else writes the plaintext to disk or drops it")


def check_sidecar(bootstrap: BootstrapFiles) -> Iterator[Finding]:
    rule, patch = "bootstrap-plugin", bootstrap.patch
    if not patch.exists:
        yield _finding(rule, patch, None, f"{patch.path} is missing: argocd-repo-server gets no "
                       f"decrypting sidecar; restore it from git {RESTORE}")
        return
    found = sidecar(patch)
    if found is None:
        yield _finding(rule, patch, patch.line([*CONTAINER_PATH, "containers"]) or 1,
                       f"no container {argocd.SIDECAR}: nothing runs the plugin, and every "
                       f"environment fails to render; restore it {RESTORE}")
        return
    i, box = found
    where = [*CONTAINER_PATH, "containers", i]
    if box.get("command") != [argocd.CMP_SERVER]:
        yield _finding(rule, patch, patch.line([*where, "command"]) or patch.line(where),
                       f"the sidecar's command must be [{argocd.CMP_SERVER}] (Argo CD's "
                       "cmp-server, copied there by the upstream copyutil init container)")
    if lookup(box, "securityContext", "runAsUser") != argocd.ARGOCD_UID:
        yield _finding(rule, patch, patch.line([*where, "securityContext"]) or patch.line(where),
                       f"the sidecar must run as uid {argocd.ARGOCD_UID}, as Argo CD's cmp-server "
                       "expects; set securityContext.runAsUser: 999")
    volumes = dict((v.get("name"), v) for _, v in _volumes(bootstrap))
    needed = {
        "/var/run/argocd": ("var-files", "the cmp-server binary"),
        f"{argocd.CMP_HOME}/plugins": ("plugins", "the socket the repo-server connects to"),
    }
    mounts = {m.get("mountPath"): (n, m) for n, m in _mounts(box)}
    for path, (volume, what) in needed.items():
        if lookup(mounts.get(path, (0, {}))[1], "name") != volume:
            yield _finding(rule, patch, patch.line([*where, "volumeMounts"]) or patch.line(where),
                           f"the sidecar must mount the upstream volume {volume} at "
                           f"{path} ({what})")
    config = mounts.get(f"{argocd.CMP_HOME}/config/{sopsplugin.CONFIG_KEY}")
    cm_name = lookup(volumes.get(config[1].get("name")) if config else None, "configMap", "name")
    if config is None or config[1].get("subPath") != sopsplugin.CONFIG_KEY \
            or cm_name != sopsplugin.CONFIGMAP_NAME:
        yield _finding(rule, patch, patch.line([*where, "volumeMounts"]) or patch.line(where),
                       f"the sidecar must mount {sopsplugin.CONFIG_KEY} of ConfigMap "
                       f"{sopsplugin.CONFIGMAP_NAME} at {argocd.CMP_HOME}/config/"
                       f"{sopsplugin.CONFIG_KEY} (subPath)")
    tmp = mounts.get("/tmp")
    tmp_volume = volumes.get(tmp[1].get("name")) if tmp else None
    if tmp is None or tmp[1].get("name") == "tmp" or not isinstance(tmp_volume, dict) \
            or "emptyDir" not in tmp_volume:
        yield _finding(rule, patch, patch.line([*where, "volumeMounts", tmp[0]]) if tmp
                       else patch.line([*where, "volumeMounts"]) or patch.line(where),
                       "the sidecar needs a /tmp of its own (an emptyDir other than the "
                       "repo-server's 'tmp'): Argo CD's doc asks for it against path traversal "
                       "between the two")


# ---- the age key's mount ------------------------------------------------------------------


def key_readable(uid: int, gid: int, fs_group: int | None, mode: int) -> bool:
    """Can a process of uid/gid read a secret volume's file of this mode? The file is owned
    by root, its group is the pod's fsGroup (root without one); fsGroup is among the process'
    supplementary groups."""
    if uid == 0:
        return True
    groups = {gid} | ({fs_group} if fs_group is not None else set())
    file_group = fs_group if fs_group is not None else 0
    return bool(mode & 0o004) or (bool(mode & 0o040) and file_group in groups)


def check_key_mount(bootstrap: BootstrapFiles) -> Iterator[Finding]:
    rule, patch = "bootstrap-key-mount", bootstrap.patch
    if not isinstance(patch.data, dict):
        return
    found = [(i, v) for i, v in _volumes(bootstrap)
             if lookup(v, "secret", "secretName") == argocd.KEY_SECRET]
    if not found:
        yield _finding(rule, patch, patch.line([*CONTAINER_PATH, "volumes"]) or 1,
                       f"no volume of Secret {argocd.KEY_SECRET}: the sidecar has no age key and "
                       "sops cannot decrypt; restore it " + RESTORE)
        return
    vi, volume = found[0]
    vpath = [*CONTAINER_PATH, "volumes", vi, "secret"]
    name = volume.get("name")
    for field in ("initContainers", "containers"):
        for ci, box in containers(patch, field):
            for mi, mount in _mounts(box):
                if mount.get("name") == name and box.get("name") != argocd.SIDECAR:
                    yield _finding(rule, patch,
                                   patch.line([*CONTAINER_PATH, field, ci, "volumeMounts", mi]),
                                   f"{box.get('name')} mounts the age key; only the "
                                   f"{argocd.SIDECAR} sidecar decrypts: remove this mount")
    side = sidecar(patch)
    if side is None:
        return
    si, box = side
    key_mount: dict[str, Any] | None = next(
        (m for _, m in _mounts(box) if m.get("name") == name), None)
    key_file = next((str(e.get("value")) for e in box.get("env") or []
                     if isinstance(e, dict) and e.get("name") == "SOPS_AGE_KEY_FILE"), None)
    if key_mount is None or key_file is None or PurePosixPath(key_file) != PurePosixPath(
            str(key_mount.get("mountPath"))) / argocd.KEY_FILE:
        yield _finding(rule, patch, patch.line([*CONTAINER_PATH, "containers", si, "env"])
                       or patch.line([*CONTAINER_PATH, "containers", si]),
                       f"the sidecar must mount {name} and point SOPS_AGE_KEY_FILE at its "
                       f"{argocd.KEY_FILE} (e.g. {argocd.KEY_DIR}/{argocd.KEY_FILE})")
    mode = lookup(volume, "secret", "defaultMode")
    mode = mode if isinstance(mode, int) else DEFAULT_SECRET_MODE
    uid = lookup(box, "securityContext", "runAsUser")
    gid = lookup(box, "securityContext", "runAsGroup")
    fs_group = lookup(pod_spec(patch), "securityContext", "fsGroup")
    uid = uid if isinstance(uid, int) else argocd.ARGOCD_UID
    gid = gid if isinstance(gid, int) else argocd.ARGOCD_UID
    fs_group = fs_group if isinstance(fs_group, int) else None
    line = patch.line([*vpath, "defaultMode"]) or patch.line(vpath)
    if not key_readable(uid, gid, fs_group, mode):
        yield _finding(rule, patch, line,
                       f"{argocd.KEY_FILE} is root:{fs_group or 0} mode {mode:04o} in the pod; the "
                       f"sidecar (uid {uid}, gid {gid}) cannot read it and sops fails with "
                       "'permission denied': set the pod's securityContext.fsGroup: "
                       f"{argocd.ARGOCD_UID} and defaultMode: {argocd.KEY_MODE:#o}")
    if mode & 0o007:
        yield _finding(rule, patch, line,
                       f"defaultMode {mode:04o} lets every user in the pod read the age key; use "
                       f"{argocd.KEY_MODE:04o} (owner and fsGroup only)")


# ---- security contexts --------------------------------------------------------------------


def restricted_gaps(context: Any, pod: Any) -> list[str]:
    """What a container's securityContext lacks for Pod Security "restricted" with a
    read-only root filesystem (the pod's seccompProfile counts)."""
    ctx = context if isinstance(context, dict) else {}
    gaps = []
    if ctx.get("runAsNonRoot") is not True and lookup(pod, "securityContext",
                                                      "runAsNonRoot") is not True:
        gaps.append("runAsNonRoot: true")
    if ctx.get("runAsUser") == 0:
        gaps.append("runAsUser other than 0")
    if ctx.get("allowPrivilegeEscalation") is not False:
        gaps.append("allowPrivilegeEscalation: false")
    if "ALL" not in (lookup(ctx, "capabilities", "drop") or []):
        gaps.append("capabilities.drop: [ALL]")
    seccomp = lookup(ctx, "seccompProfile", "type") or lookup(pod, "securityContext",
                                                              "seccompProfile", "type")
    if seccomp not in ("RuntimeDefault", "Localhost"):
        gaps.append("seccompProfile.type: RuntimeDefault")
    if ctx.get("readOnlyRootFilesystem") is not True:
        gaps.append("readOnlyRootFilesystem: true")
    return gaps


def check_security_contexts(bootstrap: BootstrapFiles) -> Iterator[Finding]:
    patch = bootstrap.patch
    pod = pod_spec(patch)
    added = [("initContainers", ci, box) for ci, box in containers(patch, "initContainers")]
    side = sidecar(patch)
    if side is not None:
        added.append(("containers", side[0], side[1]))
    for field, ci, box in added:
        gaps = restricted_gaps(box.get("securityContext"), pod)
        if gaps:
            where = [*CONTAINER_PATH, field, ci]
            yield _finding("bootstrap-security-context", patch,
                           patch.line([*where, "securityContext"]) or patch.line(where),
                           f"{box.get('name')} does not meet Pod Security 'restricted' with a "
                           f"read-only root: set {', '.join(gaps)}")


def sidecar_findings(repo: RepoFiles) -> list[Finding]:
    bootstrap = repo.bootstrap
    if bootstrap is None or repo.settings is None:
        return []
    out = list(check_plugin_config(repo, bootstrap))
    out.extend(check_sidecar(bootstrap))
    out.extend(check_key_mount(bootstrap))
    out.extend(check_security_contexts(bootstrap))
    return out
