"""The only caller of sops. Plaintext secret values live in memory and in pipes, nowhere else.

Encrypted files keep their keys in clear and values as ENC[...], so their structure and
recipients can be read here without any private key.
"""

from __future__ import annotations

import os
import re
import secrets as _random
import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import pyrage
import yaml as pyyaml

from ..errors import InputError, NoDecryptionKey, ToolError
from ..repo import proc, safefs, yamlio
from . import agekeys

# The chart's secret values: exactly these live in an overlay's secrets.sops.yaml.
DB_PASSWORD = "postgresql.auth.password"
SECRET_KEY = "backend.secrets.secretKey"
GEMINI_KEY = "backend.secrets.geminiApiKey"
SECRET_KEYS: tuple[str, ...] = (DB_PASSWORD, SECRET_KEY, GEMINI_KEY)
GENERATED_KEYS: tuple[str, ...] = (DB_PASSWORD, SECRET_KEY)
GEMINI_ENV = "GEMINI_API_KEY"
GEMINI_PLACEHOLDER = "PLACEHOLDER-set-me-with-gitops-gen-secrets-set"

_SOPS_NO_KEY = 128  # sops: no master key could open the data key
# sops' exit codes for a file whose content does not decrypt (cmd/sops/codes/codes.go):
# ErrorDecryptingMac 24, ErrorDecryptingTree 25, MacMismatch 51, MacNotFound 52.
_SOPS_BAD_CONTENT = frozenset({24, 25, 51, 52})
_ENC = re.compile(r"^ENC\[AES256_GCM,data:[^,]*,iv:[^,]+,tag:[^,]+,type:\w+\]$")


def generate_value() -> str:
    """A fresh URL-safe secret: 32 random bytes, 43 characters."""
    return _random.token_urlsafe(32)


def is_encrypted_value(value: object) -> bool:
    return isinstance(value, str) and bool(_ENC.fullmatch(value))


def nest(flat: Mapping[str, Any]) -> dict[str, Any]:
    """{"a.b": v} -> {"a": {"b": v}}."""
    out: dict[str, Any] = {}
    for dotted, value in flat.items():
        node = out
        *parents, leaf = dotted.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    return out


def flatten(tree: Any, prefix: str = "") -> dict[str, Any]:
    """{"a": {"b": v}} -> {"a.b": v}; the sops metadata block is left out."""
    out: dict[str, Any] = {}
    if isinstance(tree, Mapping):
        for key, value in tree.items():
            if not prefix and key == "sops":
                continue
            path = f"{prefix}.{key}" if prefix else str(key)
            if isinstance(value, Mapping) and value:
                out.update(flatten(value, path))
            else:
                out[path] = value
    return out


def _sops_env() -> dict[str, str]:
    env = dict(os.environ)
    env.pop("SOPS_AGE_RECIPIENTS", None)
    env["SOPS_AGE_KEY_FILE"] = str(agekeys.identity_path())
    return env


def encrypt(
    flat_values: Mapping[str, str], recipients: Iterable[str], repo_path: str, root: Path
) -> str:
    """Encrypt {dotted key: value} to recipients with sops; returns the encrypted YAML text.

    The plaintext goes to sops on its standard input; repo_path names the file for sops.
    """
    recipients = list(recipients)
    if not recipients:
        raise InputError("no age recipient to encrypt to", "pass --age-recipient age1...")
    plaintext = yamlio.dump(nest(flat_values)).encode()
    # sops insists on a creation rule matching the file even when recipients are given, and
    # the repository's rule may not be written yet: hand it a config holding just this rule.
    with tempfile.TemporaryDirectory(prefix="gitops-gen-sops-") as tmp:
        rule = Path(tmp) / "sops.yaml"
        rule.write_text(yamlio.dump({"creation_rules": [{"age": ",".join(recipients)}]}))
        result = proc.run(
            [
                "sops", "--config", str(rule), "encrypt",
                "--input-type", "yaml", "--output-type", "yaml",
                "--filename-override", repo_path,
                "/dev/stdin",
            ],
            stdin=plaintext,
            env=_sops_env(),
            cwd=str(root),
            secrets=flat_values.values(),
        )
    return result.stdout.decode()


def decrypt(path: Path, root: Path) -> dict[str, Any]:
    """Decrypt a sops file into memory: {dotted key: value}. Needs a local identity."""
    rel = path.relative_to(root).as_posix()
    return decrypt_text(read_encrypted(root, rel), rel, root)


def decrypt_text(text: str, name: str, root: Path) -> dict[str, Any]:
    """Decrypt encrypted text (named name in errors) into memory: {dotted key: value}."""
    out = _sops(
        ["decrypt", "--input-type", "yaml", "--output-type", "yaml", "/dev/stdin"],
        stdin=text, name=name, root=root,
    )
    data = yamlio.load_all_fast(out)
    return flatten(next(iter(data), None) or {})


def verify(text: str, name: str, root: Path) -> None:
    """Refuse a file whose values are not all encrypted or that does not decrypt (its MAC is
    checked): a planted or tampered file is never re-keyed or re-encrypted as if it were
    sound. Needs a local identity; the plaintext is dropped at once."""
    planted = unencrypted_keys(text)
    if planted:
        raise InputError(f"{name}: {planted[0]} is not encrypted (value not shown)",
                         f"restore the file with 'git checkout -- {name}'; nothing was changed")
    decrypt_text(text, name, root)


def rotate_data_key(text: str, name: str, root: Path) -> str:
    """The same file under a fresh data key (sops rotate), same recipients; text in, text out."""
    return _sops(
        ["rotate", "--input-type", "yaml", "--output-type", "yaml", "/dev/stdin"],
        stdin=text, name=name, root=root,
    )


def update_keys(text: str, recipients: Iterable[str], name: str, root: Path) -> str:
    """The file re-keyed to exactly recipients by 'sops updatekeys' (same data key).

    updatekeys rewrites its file in place and follows a config's creation rule, so it runs on
    a copy in a private temp dir with a config whose single rule names the recipients; the
    repository's file is only replaced later, atomically, by the caller.
    """
    wanted = sorted(set(recipients))
    if not wanted:
        raise InputError("no age recipient to encrypt to", "keep at least one recipient")
    with tempfile.TemporaryDirectory(prefix="gitops-gen-sops-") as tmp:
        config = Path(tmp) / "sops.yaml"
        config.write_text(yamlio.dump({"creation_rules": [{"age": ",".join(wanted)}]}))
        copy = Path(tmp) / Path(name).name
        copy.write_text(text)
        _sops(["--config", str(config), "updatekeys", "--yes", str(copy)],
              stdin=None, name=name, root=root, encrypted=text)
        out = copy.read_text()
    if file_recipients(out) != wanted:
        raise ToolError(
            f"sops updatekeys left {name} encrypted to {', '.join(file_recipients(out))}",
            f"expected {', '.join(wanted)}; nothing was changed",
        )
    return out


def _sops(args: list[str], *, stdin: str | None, name: str, root: Path,
          encrypted: str | None = None) -> str:
    """Run sops on encrypted input; a data key no local identity opens is a NoDecryptionKey."""
    proc.which("sops")  # a missing binary is a ToolError of its own, not a key problem
    result = proc.run(
        ["sops", *args],
        stdin=stdin.encode() if stdin is not None else None,
        env=_sops_env(),
        cwd=str(root),
        check=False,
    )
    if result.returncode == _SOPS_NO_KEY:
        raise _key_error(encrypted if encrypted is not None else stdin or "", name)
    if result.returncode in _SOPS_BAD_CONTENT and args[0] in ("decrypt", "rotate"):
        # sops' own words may quote a value it could not decrypt: they are not repeated.
        raise InputError(
            f"{name} does not decrypt (sops exit code {result.returncode}): a value, a key or "
            "its MAC changed since it was encrypted",
            f"restore it with 'git checkout -- {name}' or set its values again; nothing was "
            "changed",
        )
    if result.returncode != 0:
        stderr = result.stderr.decode(errors="replace").strip()
        last = stderr.splitlines()[-1] if stderr else "no error output"
        raise ToolError(
            f"'sops {' '.join(args)}' failed with exit code {result.returncode}: {last}",
            f"check sops and {name}; nothing was changed",
        )
    return result.stdout.decode()


def _key_error(text: str, name: str) -> NoDecryptionKey:
    can = ", ".join(file_recipients(text)) or "nobody listed"
    ident = agekeys.identity_path()
    why = f"with {ident}" if ident.is_file() else f"(no age identity at {ident})"
    return NoDecryptionKey(
        f"cannot decrypt {name} {why}",
        f"it is encrypted to: {can}; set SOPS_AGE_KEY_FILE to one of their identities",
    )


def data_key(text: str) -> bytes | None:
    """The file's data key, opened with the local identities; None when none of them can.

    Only used to check that a rotation really changed the key; it never leaves memory.
    """
    path = agekeys.identity_path()
    if not path.is_file():
        return None
    identities = []
    for line in path.read_text().splitlines():
        if line.strip().startswith("AGE-SECRET-KEY-"):
            try:
                identities.append(pyrage.x25519.Identity.from_str(line.strip()))
            except pyrage.IdentityError:
                continue
    for entry in metadata(text).get("age") or []:
        enc = entry.get("enc") if isinstance(entry, dict) else None
        if not identities or not isinstance(enc, str):
            continue
        try:
            return bytes(pyrage.decrypt(enc.encode(), identities))
        except pyrage.DecryptError:
            continue
    return None


def check_new_data_key(old: str, new: str, name: str) -> None:
    """Refuse a re-encryption that kept the old data key (a removed key could still read it)."""
    before = data_key(old)
    if before is not None and before == data_key(new):
        raise ToolError(f"sops kept the data key of {name}", "nothing was changed; report this")


def read_encrypted(root: Path, repo_path: str) -> str:
    """An encrypted file's text (read inside the repository only), refused with its file and
    line when it is not YAML."""
    text = safefs.read_text(root, repo_path)
    if text is None:
        raise InputError(f"{repo_path} does not exist", "see 'gitops-gen env list'")
    try:
        list(yamlio.load_all_fast(text))
    except pyyaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else 1
        raise InputError(f"{repo_path}:{line}: not valid YAML",
                         f"restore it with 'git checkout -- {repo_path}'") from exc
    return text


def _first_document(text: str) -> Any:
    try:
        return next(iter(yamlio.load_all_fast(text)), None)
    except pyyaml.YAMLError:
        return None  # read_encrypted and validation report it


def clear_keys(text: str) -> list[str]:
    """The dotted keys of an encrypted file, read without any key (sops keeps keys clear)."""
    doc = _first_document(text)
    return list(flatten(doc)) if isinstance(doc, dict) else []


def unencrypted_keys(text: str) -> list[str]:
    """Dotted keys whose value is not an ENC[...] string: planted or tampered with."""
    doc = _first_document(text)
    values = flatten(doc) if isinstance(doc, dict) else {}
    return [key for key, value in values.items() if not is_encrypted_value(value)]


def metadata(text: str) -> dict[str, Any]:
    """The sops block of an encrypted file (no key needed); {} when there is none."""
    docs = [_first_document(text)]
    if not isinstance(docs[0], dict):
        return {}
    meta = docs[0].get("sops")
    return meta if isinstance(meta, dict) else {}


def file_recipients(text: str) -> list[str]:
    """The age recipients a sops file is encrypted to, read from its metadata."""
    age = metadata(text).get("age") or []
    return sorted(
        str(entry["recipient"]) for entry in age if isinstance(entry, dict) and "recipient" in entry
    )
