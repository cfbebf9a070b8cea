"""Tools fetched when the repo-server starts (the init container) or when its image is built
(the Dockerfile): pinned by version, a sha256 per node architecture checked before the file is
installed, images pinned."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from ..model import argocd
from .bootstrapchecks import CONTAINER_PATH, containers
from .findings import Finding
from .repofiles import BootstrapFiles, RepoFiles
from .rules import Rule

RULES = (Rule("bootstrap-downloads", "every tool the repo-server fetches is pinned by version and "
              "sha256, every image by tag"),)

_HEX64 = re.compile(r"\b[0-9a-f]{64}\b")


def _finding(loaded: Any, line: int | None, message: str) -> Finding:
    return Finding("bootstrap-downloads", "error", None, loaded.path, line, message)


def download_problems(text: str) -> list[tuple[int, str]]:
    """(0-based line, problem) of a script that downloads a tool: pinned version, a sha256
    per architecture (upstream's, for the sops version gitops-gen knows), checked before the
    file is installed, the architecture taken from the machine."""
    lines = text.splitlines()
    urls = [(n, u) for n, t in enumerate(lines) for u in re.findall(r"https?://[^\s\"']+", t)]
    if not urls:
        return []
    out: list[tuple[int, str]] = []
    for n, url in urls:
        version = re.search(r"/v?(\d+\.\d+\.\d+)/", url)
        if version is None or "latest" in url:
            out.append((n, f"{url} is not pinned to a version; name the release (v"
                           f"{argocd.SOPS_VERSION})"))
        if re.search(r"linux[.-](amd64|arm64|x86_64|aarch64)\b", url):
            out.append((n, f"{url} names one architecture; take it from uname -m "
                           "(x86_64 -> amd64, aarch64 -> arm64) so arm64 nodes get their build"))
    check = next((n for n, t in enumerate(lines) if re.search(r"sha256sum\s+(-c|--check)", t)),
                 None)
    if check is None:
        out.append((urls[0][0], "the download is not checked: compare its sha256 with "
                                "'sha256sum -c' before installing it"))
    first_download = urls[0][0]
    use = next((n for n, t in enumerate(lines) if n > first_download
                and re.search(r"\b(chmod|mv|install|cp)\b", t)), None)
    if check is not None and use is not None and use < check:
        out.append((use, "the download is installed before its sha256 is checked; check first"))
    pinned_sops = any(f"v{argocd.SOPS_VERSION}/" in u for _, u in urls)
    for arch, known in argocd.SOPS_SHA256.items():
        where = next((n for n, t in enumerate(lines) if arch in t and _HEX64.search(t)), None)
        if where is None:
            out.append((urls[0][0], f"no sha256 for {arch}: every node architecture needs its "
                                    "own checksum"))
        elif pinned_sops and known not in lines[where]:
            out.append((where, f"the sha256 for sops v{argocd.SOPS_VERSION} {arch} is not "
                               f"upstream's ({known}, sops-v{argocd.SOPS_VERSION}.checksums.txt)"))
    return out


def _image_pinned(image: str) -> bool:
    if "@sha256:" in image:
        return True
    tag = image.rsplit("/", 1)[-1].partition(":")[2]
    return bool(tag) and tag != "latest"


def check_downloads(bootstrap: BootstrapFiles) -> Iterator[Finding]:
    patch = bootstrap.patch
    for ci, box in containers(patch, "initContainers"):
        where = [*CONTAINER_PATH, "initContainers", ci]
        if not _image_pinned(str(box.get("image", ""))):
            yield _finding(patch, patch.line([*where, "image"]) or patch.line(where),
                           f"image {box.get('image')!r} is not pinned; give a tag (better: "
                           "a digest)")
        raw = box.get("args")
        args: list[Any] = raw if isinstance(raw, list) else []
        for ai, arg in enumerate(args):
            base = (patch.line([*where, "args", ai]) or 0) + (1 if "\n" in str(arg) else 0)
            for n, problem in download_problems(str(arg)):
                yield _finding(patch, base + n, f"{box.get('name')}: {problem}")
    docker = bootstrap.dockerfile
    for n, line in enumerate((docker.text or "").splitlines(), start=1):
        m = re.match(r"^\s*FROM\s+(\S+)", line, re.IGNORECASE)
        if m and not _image_pinned(m.group(1)):
            yield _finding(docker, n, f"FROM {m.group(1)} is not pinned; give a tag or digest")
    for n, problem in download_problems(docker.text or ""):
        yield _finding(docker, n + 1, problem)


def download_findings(repo: RepoFiles) -> list[Finding]:
    bootstrap = repo.bootstrap
    if bootstrap is None or repo.settings is None:
        return []
    return list(check_downloads(bootstrap))
