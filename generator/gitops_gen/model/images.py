"""Image references: the tag, digest or both that an environment runs for a component.

A reference is what `gitops-gen image set` takes and what a promotion moves: `1.4.0`,
`sha256:<64 hex>` or `1.4.0@sha256:<64 hex>`. In values it is `<component>.image.tag` plus
`<component>.image.digest`; the chart renders repository:tag, repository@digest (tag "") or
repository:tag@digest. What an environment runs is its overlay's keys laid over the chart's
defaults, key by key, as Helm merges them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ruamel.yaml.comments import CommentedMap

from ..errors import InputError
from ..repo import layout, yamlio
from . import overlays

COMPONENTS = ("backend", "frontend")
CHART_VALUES = f"{layout.CHART_DIR}/{layout.VALUES_FILE}"
DIGEST_PREFIX = "sha256:"
_DIGEST = re.compile(r"^sha256:[a-f0-9]{64}$")
_SHORT_HEX = 12


@dataclass(frozen=True)
class ImageRef:
    """tag "" when the digest alone names the image; digest "" when there is none."""

    tag: str = ""
    digest: str = ""

    def __str__(self) -> str:
        if self.tag and self.digest:
            return f"{self.tag}@{self.digest}"
        return self.tag or self.digest

    @property
    def short(self) -> str:
        """For tables: the digest cut to 12 hex digits."""
        digest = self.digest[: len(DIGEST_PREFIX) + _SHORT_HEX]
        if self.tag and digest:
            return f"{self.tag}@{digest}"
        return self.tag or digest

    def to_dict(self) -> dict[str, str | None]:
        return {"ref": str(self), "tag": self.tag or None, "digest": self.digest or None}


def check_digest(digest: str, where: str) -> str:
    if not _DIGEST.match(digest):
        raise InputError(
            f"{where} {digest!r} is not an image digest",
            "give sha256: and 64 lower-case hex digits (docker buildx imagetools inspect "
            "IMAGE shows it)",
        )
    return digest


def parse(text: str, where: str = "REF") -> ImageRef:
    """A reference as given on the command line: TAG, sha256:HEX or TAG@sha256:HEX."""
    tag, at, digest = text.partition("@")
    if not at and text.startswith(DIGEST_PREFIX):
        tag, digest = "", text
    if "/" in tag or (":" in tag and at):
        raise InputError(
            f"{where} {text!r} names a repository",
            "give only the tag and/or digest (1.4.0, sha256:..., 1.4.0@sha256:...); the "
            "repository is <component>.image.repository in the chart's values",
        )
    if not text:
        raise InputError(f"{where} is empty", "give a tag, sha256:... or TAG@sha256:...")
    if at and not tag:
        raise InputError(f"{where} {text!r} has no tag before '@'",
                         "give TAG@sha256:..., or the digest alone")
    if at and not digest:
        raise InputError(f"{where} {text!r} has no digest after '@'",
                         "give TAG@sha256:<64 hex digits>, or the tag alone")
    if tag:
        overlays.check_tag(tag, where)
    if digest:
        check_digest(digest, where)
    return ImageRef(tag, digest)


def _image(values: Any, component: str) -> Mapping[str, Any]:
    node = yamlio.lookup(values, component, "image")
    return node if isinstance(node, Mapping) else {}


def _field(image: Mapping[str, Any], key: str, component: str, where: str,
           strict: bool) -> str | None:
    """image[key] as a string; None when absent. strict: check its type and form."""
    if key not in image:
        return None
    value = image[key]
    if value is None:
        return ""  # Helm drops a null key: nothing of that kind
    if not isinstance(value, str):
        if strict:
            raise InputError(f"{where}: {component}.image.{key} {value!r} is not a string",
                             f"quote it in that file, e.g. {key}: \"1.4\"")
        return str(value)
    if strict and value:
        name = f"{where}: {component}.image.{key}"
        (overlays.check_tag if key == "tag" else check_digest)(value, name)
    return value


def ref_of(chart_values: Any, overlay: Any, component: str, *, where: str = "",
           strict: bool = True) -> ImageRef | None:
    """What the environment runs: the overlay's tag and digest over the chart's, key by key.

    None when neither names a tag or a digest. strict (the current files): a value of the
    wrong type or form is an InputError naming where; lenient (old commits): taken as it is.
    """
    ours, chart = _image(overlay, component), _image(chart_values, component)
    parts = []
    for key in ("tag", "digest"):
        own = _field(ours, key, component, where, strict)
        parts.append(own if own is not None else
                     _field(chart, key, component, CHART_VALUES, strict) or "")
    ref = ImageRef(parts[0], parts[1])
    return ref if (ref.tag or ref.digest) else None


def refs_of(chart_values: Any, overlay: Any, *, where: str = "",
            strict: bool = True) -> dict[str, ImageRef | None]:
    return {c: ref_of(chart_values, overlay, c, where=where, strict=strict) for c in COMPONENTS}


def _same_style(old: Any, new: str) -> Any:
    """new in old's quoting style (ruamel keeps "1.4" as a quoted scalar type)."""
    if isinstance(old, str) and type(old) is not str:
        return type(old)(new)
    return new


def with_refs(text: str, path: str, refs: Mapping[str, ImageRef],
              chart_values: Any) -> str:
    """The overlay's text with these components' references; comments and order are kept.

    The tag is always written (the environment pins it, even when the chart says the same);
    the digest is written when there is one, and otherwise removed, or set to "" when the
    chart names a digest of its own.
    """
    tree = yamlio.load(text, path) if text.strip() else CommentedMap()
    if tree is None:
        tree = CommentedMap()
    if not isinstance(tree, CommentedMap):
        raise InputError(f"{path}: not a mapping", "fix the file's structure")
    if not tree:
        tree.fa.set_block_style()
    for component, ref in refs.items():
        node = tree
        for key in (component, "image"):
            if not isinstance(node.get(key), CommentedMap):
                node[key] = CommentedMap()
            node = node[key]
        node["tag"] = _same_style(node.get("tag"), ref.tag)
        chart_digest = str(_image(chart_values, component).get("digest") or "")
        if ref.digest:
            node["digest"] = _same_style(node.get("digest"), ref.digest)
        elif chart_digest:
            node["digest"] = ""
        elif "digest" in node:
            del node["digest"]
    return yamlio.dump(tree)

