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

from . import agekeys, proc, yamlio
from .errors import InputError, KeyError_, ToolError

# The chart's secret values: exactly these live in an overlay's secrets.sops.yaml.
DB_PASSWORD = "postgresql.auth.password"
SECRET_KEY = "backend.secrets.secretKey"
GEMINI_KEY = "backend.secrets.geminiApiKey"
SECRET_KEYS: tuple[str, ...] = (DB_PASSWORD, SECRET_KEY, GEMINI_KEY)
GENERATED_KEYS: tuple[str, ...] = (DB_PASSWORD, SECRET_KEY)
GEMINI_ENV = "GEMINI_API_KEY"
GEMINI_PLACEHOLDER = "PLACEHOLDER-set-me-with-gitops-gen-secrets-set"

_ENC = re.compile(r"^ENC\[AES256_GCM,data:[^,]*,iv:[^,]+,tag:[^,]+,type:\w+\]$")


def generate_value() -> str:
    """A fresh URL-safe secret: 32 random bytes, 43 characters."""
    return _random.token_urlsafe(32)


def is_encrypted_value(value: object) -> bool:
    return isinstance(value, str) and bool(_ENC.match(value))


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


def encrypt(flat_values: Mapping[str, str], recipients: Iterable[str], repo_path: str, root: Path) -> str:
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
    text = path.read_text()
    try:
        result = proc.run(
            ["sops", "decrypt", "--input-type", "yaml", "--output-type", "yaml", "/dev/stdin"],
            stdin=text.encode(),
            env=_sops_env(),
            cwd=str(root),
        )
    except ToolError as exc:
        can = ", ".join(file_recipients(text)) or "nobody listed"
        raise KeyError_(
            f"cannot decrypt {path.relative_to(root)} with {agekeys.identity_path()}",
            f"it is encrypted to: {can}; set SOPS_AGE_KEY_FILE to one of their identities",
        ) from exc
    data = yamlio.load_all_fast(result.stdout.decode())
    return flatten(next(iter(data), None) or {})


def metadata(text: str) -> dict[str, Any]:
    """The sops block of an encrypted file (no key needed); {} when there is none."""
    docs = list(yamlio.load_all_fast(text))
    if not docs or not isinstance(docs[0], dict):
        return {}
    meta = docs[0].get("sops")
    return meta if isinstance(meta, dict) else {}


def file_recipients(text: str) -> list[str]:
    """The age recipients a sops file is encrypted to, read from its metadata."""
    age = metadata(text).get("age") or []
    return sorted(str(entry["recipient"]) for entry in age if isinstance(entry, dict) and "recipient" in entry)
