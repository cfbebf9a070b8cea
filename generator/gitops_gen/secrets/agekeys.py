"""Age identities and recipients (pyrage). Where sops looks for the key, this looks too.

The local identities are those of the key file (SOPS_AGE_KEY_FILE, else sops' default path);
when there is no key file, those in SOPS_AGE_KEY, else those SOPS_AGE_KEY_CMD prints. Set
either variable and no key file is ever created: the identity is the one given there.
"""

from __future__ import annotations

import os
import shlex
import sys
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pyrage

from ..errors import InputError, NoDecryptionKey
from ..repo import proc

ENV_KEY_FILE = "SOPS_AGE_KEY_FILE"
ENV_KEY = "SOPS_AGE_KEY"
ENV_KEY_CMD = "SOPS_AGE_KEY_CMD"


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
    """An age X25519 public key, or an InputError naming the flag.

    The value is never repeated in the error: given by mistake, it may be a private key.
    """
    text = text.strip()
    if "SECRET" in text.upper() or "PRIVATE" in text.upper():
        raise InputError(
            f"{flag} was given a private key (its value is not shown), not a recipient",
            "give its public key (age1..., as 'age-keygen -y KEYFILE' prints it), and treat "
            "the private key as exposed if it was typed where a shell history keeps it",
        )
    try:
        pyrage.x25519.Recipient.from_str(text)
    except pyrage.RecipientError as exc:
        shown = f"{text[:12]!r}..." if len(text) > 12 else repr(text)
        raise InputError(
            f"{flag} {shown} is not an age recipient ({exc})",
            "give a public key starting with 'age1', as printed by 'age-keygen -y'",
        ) from None
    return text


@dataclass(frozen=True)
class LocalKeys:
    """The local identities and where they come from."""

    where: str  # the key file's path, or the environment variable that holds them
    path: Path | None  # the key file, None when they come from the environment
    identities: list[pyrage.x25519.Identity] = field(repr=False)

    @property
    def recipients(self) -> list[str]:
        return [str(i.to_public()) for i in self.identities]


def _parse(text: str, where: str) -> list[pyrage.x25519.Identity]:
    """The identities of keys.txt-style text; an error names the line, never its content."""
    out = []
    for n, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        try:
            out.append(pyrage.x25519.Identity.from_str(line))
        except pyrage.IdentityError as exc:
            raise NoDecryptionKey(
                f"{where}:{n} is not an age identity",
                f"fix or remove that line of {where}",
            ) from exc
    return out


def _identities(path: Path) -> list[pyrage.x25519.Identity]:
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        why = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
        raise NoDecryptionKey(f"cannot read the age key file {path} ({why})",
                        f"point {ENV_KEY_FILE} at a readable age key file") from None
    return _parse(text, str(path))


def _check_key_file(file: Path) -> None:
    """A key file that exists must be a regular file (not a directory, not /dev/null)."""
    if file.exists() and not file.is_file():
        raise NoDecryptionKey(f"the age key file {file} is not a regular file",
                        f"point {ENV_KEY_FILE} at an age key file (or unset it for sops' "
                        "default)")
    if file.is_file() and file.stat().st_size > 1024 * 1024:
        raise NoDecryptionKey(f"the age key file {file} is larger than 1 MiB: not a key file",
                        f"point {ENV_KEY_FILE} at an age key file")


def from_environment() -> str | None:
    """SOPS_AGE_KEY or SOPS_AGE_KEY_CMD when one of them is set (the key is given there)."""
    return next((var for var in (ENV_KEY, ENV_KEY_CMD) if os.environ.get(var)), None)


def _command_output(command: str) -> str:
    args = shlex.split(command)
    if not args:
        raise NoDecryptionKey(f"{ENV_KEY_CMD} names no command", f"set {ENV_KEY_CMD} or unset it")
    return proc.run(args, timeout=60).stdout.decode()


def local_keys(path: Path | None = None) -> LocalKeys:
    """The local identities: the key file's, else SOPS_AGE_KEY's, else SOPS_AGE_KEY_CMD's.

    With path, only that file's. No identities at all: an empty list, where naming the file.
    """
    file = path or identity_path()
    _check_key_file(file)
    if file.is_file() or path is not None:
        return LocalKeys(str(file), file, _identities(file) if file.is_file() else [])
    var = from_environment()
    if var == ENV_KEY:
        return LocalKeys(ENV_KEY, None, _parse(os.environ[ENV_KEY], ENV_KEY))
    if var == ENV_KEY_CMD:
        text = _command_output(os.environ[ENV_KEY_CMD])
        return LocalKeys(f"the output of {ENV_KEY_CMD}", None,
                         _parse(text, f"the output of {ENV_KEY_CMD}"))
    return LocalKeys(str(file), file, [])


def local_recipients(path: Path | None = None) -> list[str]:
    """Public keys of the local identities (local_keys); empty when there are none."""
    return local_keys(path).recipients


def new_identity_text() -> tuple[str, str]:
    """A fresh identity as keys.txt text, and its public key."""
    ident = pyrage.x25519.Identity.generate()
    public = str(ident.to_public())
    stamp = datetime.now(UTC).replace(microsecond=0).isoformat()
    text = f"# created: {stamp}\n# public key: {public}\n{ident}\n"
    return text, public


def ensure_identity(path: Path | None = None) -> tuple[str, Path | None]:
    """The local public key; creates an identity (mode 600) first when there is none.

    Never creates one when SOPS_AGE_KEY or SOPS_AGE_KEY_CMD gives the key. Returns the
    recipient and, when one was created, where.
    """
    existing = local_recipients(path)
    if existing:
        return existing[0], None
    var = from_environment() if path is None else None
    if var is not None:
        raise NoDecryptionKey(f"{var} is set but gives no age identity",
                        f"make {var} give an age identity line (AGE-SECRET-KEY-...), or pass "
                        "--age-recipient")
    path = path or identity_path()
    _check_key_file(path)
    explicit = os.environ.get(ENV_KEY_FILE)
    if explicit and not path.parent.is_dir():
        # A mistyped SOPS_AGE_KEY_FILE must not become a new directory with a new key in it.
        raise NoDecryptionKey(f"{ENV_KEY_FILE} is {explicit}, whose directory does not exist",
                        "correct the variable, create that directory, or pass "
                        "--age-recipient")
    text, public = new_identity_text()
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
    return public, path
