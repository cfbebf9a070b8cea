"""Age identities and recipients (pyrage). Where sops looks for the key, this looks too."""

from __future__ import annotations

import os
import sys
from datetime import UTC, datetime
from pathlib import Path

import pyrage

from .errors import InputError, KeyError_

ENV_KEY_FILE = "SOPS_AGE_KEY_FILE"


def identity_path() -> Path:
    """SOPS_AGE_KEY_FILE, else sops' default: $XDG_CONFIG_HOME/sops/age/keys.txt."""
    explicit = os.environ.get(ENV_KEY_FILE)
    if explicit:
        return Path(explicit).expanduser()
    if sys.platform == "darwin" and not os.environ.get("XDG_CONFIG_HOME"):
        return Path.home() / "Library" / "Application Support" / "sops" / "age" / "keys.txt"
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "sops" / "age" / "keys.txt"


def check_recipient(text: str, flag: str = "--age-recipient") -> str:
    """An age X25519 public key, or an InputError naming the flag."""
    text = text.strip()
    try:
        pyrage.x25519.Recipient.from_str(text)
    except pyrage.RecipientError as exc:
        raise InputError(
            f"{flag} {text!r} is not an age recipient ({exc})",
            "give a public key starting with 'age1', as printed by 'age-keygen -y'",
        ) from exc
    return text


def _identities(path: Path) -> list[pyrage.x25519.Identity]:
    out = []
    for n, line in enumerate(path.read_text().splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        try:
            out.append(pyrage.x25519.Identity.from_str(line))
        except pyrage.IdentityError as exc:
            raise KeyError_(
                f"{path}:{n} is not an age identity",
                f"fix or remove that line of {path}",
            ) from exc
    return out


def local_recipients(path: Path | None = None) -> list[str]:
    """Public keys of the local identities; empty when there is no key file."""
    path = path or identity_path()
    if not path.is_file():
        return []
    return [str(i.to_public()) for i in _identities(path)]


def new_identity_text() -> tuple[str, str]:
    """A fresh identity as keys.txt text, and its public key."""
    ident = pyrage.x25519.Identity.generate()
    public = str(ident.to_public())
    stamp = datetime.now(UTC).replace(microsecond=0).isoformat()
    text = f"# created: {stamp}\n# public key: {public}\n{ident}\n"
    return text, public


def ensure_identity(path: Path | None = None) -> tuple[str, Path | None]:
    """The local public key; creates an identity (mode 600) first when there is none.

    Returns the recipient and, when one was created, where.
    """
    path = path or identity_path()
    existing = local_recipients(path)
    if existing:
        return existing[0], None
    text, public = new_identity_text()
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
    return public, path
