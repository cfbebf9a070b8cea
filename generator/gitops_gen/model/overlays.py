"""An environment's overlay values: only what differs from the chart's defaults, commented.

A new overlay is built from the environment's profile; an existing one is loaded round-trip
and only the values given on the command line are changed, so people's edits survive.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ruamel.yaml.comments import CommentedMap

from ..errors import InputError
from ..repo import layout, yamlio

INGRESS_CLASS = "nginx"
DEV_ENVS = frozenset({"dev", "development", "local"})
PLACEHOLDER_MARK = "gitops-gen:placeholder"
_OCI_TAG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
_HOST_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


def is_dev(env: str) -> bool:
    return env in DEV_ENVS or env.startswith("dev-")


def check_tag(tag: str, flag: str) -> str:
    if not _OCI_TAG.fullmatch(tag):
        raise InputError(
            f"{flag} {tag!r} is not a valid image tag",
            "a tag is 1-128 letters, digits, '_', '.' or '-', not starting with '.' or '-'",
        )
    return tag


def check_host(host: str, flag: str = "--host") -> str:
    labels = host.split(".")
    if len(host) > 253 or not all(_HOST_LABEL.fullmatch(lb) and len(lb) <= 63 for lb in labels):
        raise InputError(
            f"{flag} {host!r} is not a valid DNS host name",
            "give lower-case labels of letters, digits and '-' joined by dots: todo.example.com",
        )
    return host


@dataclass(frozen=True)
class OverlayOptions:
    host: str | None = None
    backend_tag: str | None = None
    frontend_tag: str | None = None


def header(env: str) -> str:
    return (
        f"Helm values of the {env} environment: only what differs from chart/values.yaml.\n"
        f"Written by 'gitops-gen env add {env}'; edit freely, re-runs keep your edits.\n"
        f"Secret values live in {layout.SECRETS_FILE} beside this file (SOPS, age)."
    )


def _set(tree: CommentedMap, path: Sequence[str], value: Any, comment: str | None = None) -> None:
    node = tree
    for key in path[:-1]:
        if not isinstance(node.get(key), CommentedMap):
            node[key] = CommentedMap()
        node = node[key]
    node[path[-1]] = value
    if comment:
        node.yaml_add_eol_comment(comment, path[-1])


def _profile(env: str) -> CommentedMap:
    tree = CommentedMap()
    if is_dev(env):
        _set(tree, ["backend", "replicaCount"], 1, "dev: one replica is enough")
        _set(tree, ["frontend", "replicaCount"], 1, "dev: one replica is enough")
        _set(
            tree,
            ["frontend", "service", "type"],
            "NodePort",
            "Minikube: a LoadBalancer waits for 'minikube tunnel'",
        )
    else:
        _set(tree, ["networkPolicy", "enabled"], True, "only the paths the app needs")
    return tree


def build(env: str, opts: OverlayOptions, existing: str | None, template: str | None = None) -> str:
    """The overlay's values.yaml text.

    existing: the current file (kept, with only opts applied); template: another environment's
    overlay to start from (--from); else the environment's profile.
    """
    if existing is not None:
        tree = yamlio.load(existing, layout.values_path(env)) or CommentedMap()
    elif template is not None:
        tree = yamlio.load(_without_header(template), "--from overlay") or CommentedMap()
    else:
        tree = _profile(env)
    if not isinstance(tree, CommentedMap):
        raise InputError(f"{layout.values_path(env)}: not a mapping", "fix the file's structure")
    if opts.backend_tag:
        _set(tree, ["backend", "image", "tag"], opts.backend_tag)
    if opts.frontend_tag:
        _set(tree, ["frontend", "image", "tag"], opts.frontend_tag)
    if opts.host:
        _set(tree, ["ingress", "enabled"], True)
        _set(tree, ["ingress", "host"], opts.host)
        if "className" not in tree["ingress"]:
            _set(tree, ["ingress", "className"], INGRESS_CLASS,
                 "must match networkPolicy.ingressController")
        # The Ingress is the public address (and routes the API path to the backend): no
        # second one through a LoadBalancer or NodePort frontend Service.
        _set(tree, ["frontend", "service", "type"], "ClusterIP", "behind the Ingress")
    text = yamlio.dump(tree) if len(tree) else "{}\n"
    if existing is None:
        text = "".join(f"# {line}\n" for line in header(env).splitlines()) + text
    return text


def _without_header(text: str) -> str:
    """Drop the leading comment block (another environment's header and markers)."""
    lines = text.splitlines(keepends=True)
    while lines and lines[0].lstrip().startswith("#"):
        lines.pop(0)
    return "".join(lines)


def placeholder_comment(key: str, env: str) -> str:
    return (
        f"# {PLACEHOLDER_MARK} {key} (set it: gitops-gen secrets set {env} {key} < file)\n"
    )


def placeholders(values_text: str) -> list[str]:
    """Secret keys the overlay marks as still holding a placeholder."""
    out = []
    for line in values_text.splitlines():
        line = line.strip()
        if line.startswith(f"# {PLACEHOLDER_MARK} "):
            out.append(line.split()[2])
    return out


def with_placeholder(values_text: str, key: str, env: str, on: bool) -> str:
    """Add or remove the placeholder mark for key at the top of the overlay."""
    lines = [
        line
        for line in values_text.splitlines(keepends=True)
        if not line.strip().startswith(f"# {PLACEHOLDER_MARK} {key} ")
    ]
    if on:
        lines.insert(0, placeholder_comment(key, env))
    return "".join(lines)
