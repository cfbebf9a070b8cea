"""Secrets over their lifetime: list, set, rotate, rekey. Plan in memory, apply atomically.

Every plan decrypts into memory and re-encrypts through sops' standard input (sops.py), so
plaintext never reaches the disk or a command line; the repository files change only in
apply(), in one commit, and only if nobody committed to them since the plan was made.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import InputError, MissingError
from ..repo import changes, gitrepo, layout, safefs, transaction
from ..repo.changes import FileChange
from ..secrets import agekeys, sops, sopsconfig
from . import environments, overlays

DB_REMINDER = (
    "the database keeps its old password: PostgreSQL reads POSTGRES_PASSWORD only when it "
    "initialises an empty volume, so change it in the running database too (ALTER ROLE, e.g. "
    "psql's \\password) - see overlays/README.md, 'Rotating the database password safely'"
)


@dataclass
class SecretsPlan:
    """What one command will commit: the file changes, the message, notes for the user."""

    changes: list[FileChange]
    message: str
    notes: list[str] = field(default_factory=list)
    # Last commit touching each path when the plan was made: apply refuses if one moved.
    base: dict[str, str | None] = field(default_factory=dict)

    @property
    def pending(self) -> list[FileChange]:
        return changes.pending(self.changes)


# ---- input checks (nothing is read or written before these pass) ---------------------


def check_env(root: Path, env: str) -> str:
    environments.check_env_name(env, "ENV")
    if not safefs.is_file(root, layout.secrets_path(env)):
        raise InputError(
            f"no secrets for environment {env!r}: {layout.secrets_path(env)} does not exist",
            "see 'gitops-gen env list', or create it with 'gitops-gen env add'",
        )
    return env


def check_key(key: str) -> str:
    if key not in sops.SECRET_KEYS:
        raise InputError(
            f"{key!r} is not a secret key of the chart",
            f"use one of: {', '.join(sops.SECRET_KEYS)}",
        )
    return key


def _strip_newline(text: str) -> str:
    for end in ("\r\n", "\n"):
        if text.endswith(end):
            return text[: -len(end)]
    return text


def read_value(stdin: Callable[[], str], from_file: Path | None, from_env: str | None) -> str:
    """The value to set: from --from-file, --from-env or stdin; never from the command line."""
    if from_file is not None and from_env is not None:
        raise InputError("--from-file and --from-env both given", "give one source for the value")
    if from_file is not None:
        try:
            value = _strip_newline(from_file.read_text())
        except (OSError, UnicodeDecodeError) as exc:
            why = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
            raise InputError(f"--from-file {from_file}: cannot read it ({why})",
                             "give a readable text file holding only the value") from exc
        source = f"--from-file {from_file}"
    elif from_env is not None:
        if from_env not in os.environ:
            raise InputError(f"--from-env {from_env}: the variable is not set",
                             f"export {from_env} first, or pipe the value on stdin")
        value, source = os.environ[from_env], f"--from-env {from_env}"
    else:
        value, source = _strip_newline(stdin()), "stdin"
    if not value:
        raise InputError(f"the value from {source} is empty", "give the secret's value")
    return value


# ---- list ------------------------------------------------------------------------------


@dataclass(frozen=True)
class SecretInfo:
    key: str
    recipients: list[str]
    last_sha: str | None
    last_date: str | None
    placeholder: bool

    def to_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "recipients": self.recipients,
            "lastChange": {"sha": self.last_sha, "date": self.last_date}
            if self.last_sha else None,
            "placeholder": self.placeholder,
        }


def list_secrets(root: Path, env: str) -> list[SecretInfo]:
    """The environment's secret keys with recipients, last change and placeholder state.

    Read from the encrypted file's clear keys and the overlay's markers: no key needed.
    """
    check_env(root, env)
    text = sops.read_encrypted(root, layout.secrets_path(env))
    values = safefs.read_text(root, layout.values_path(env))
    marked = set(overlays.placeholders(values)) if values is not None else set()
    last = gitrepo.last_change(root, layout.secrets_path(env))
    recipients = sops.file_recipients(text)
    return [
        SecretInfo(
            key=key,
            recipients=recipients,
            last_sha=last.sha[:8] if last else None,
            last_date=last.date if last else None,
            placeholder=key in marked,
        )
        for key in sops.clear_keys(text)
    ]


# ---- set / rotate ----------------------------------------------------------------------


def _refuse_dirty(root: Path, paths: Sequence[str]) -> dict[str, str | None]:
    """Refuse uncommitted edits of paths; returns each path's last commit (the plan's base)."""
    transaction.refuse_dirty(root, paths)
    return transaction.last_commits(root, paths)


def _reencrypt(root: Path, env: str, text: str, values: dict[str, Any]) -> str:
    """values encrypted to the file's own recipients under a fresh data key."""
    path = layout.secrets_path(env)
    recipients = sops.file_recipients(text)
    new = sops.encrypt({k: str(v) for k, v in values.items()}, recipients, path, root)
    if sops.file_recipients(new) != recipients:
        raise MissingError(f"re-encrypting {path} changed its recipients",
                           "nothing was changed; check sops")
    sops.check_new_data_key(text, new, path)
    return new


def _rule_note(root: Path, env: str, text: str) -> list[str]:
    rule = sopsconfig.rule_recipients(sopsconfig.read(root), env)
    if rule is not None and rule != sops.file_recipients(text):
        return [f"{layout.secrets_path(env)} is encrypted to other recipients than its "
                f".sops.yaml rule: run 'gitops-gen secrets rekey {env}'"]
    return []


def plan_set(root: Path, env: str, key: str, value: str) -> SecretsPlan:
    """Set one secret; the Gemini key also loses its placeholder mark, in the same commit."""
    check_env(root, env)
    check_key(key)
    if key == sops.GEMINI_KEY and value == sops.GEMINI_PLACEHOLDER:
        raise InputError("that value is the placeholder itself", "give the real Gemini API key")
    spath, vpath = layout.secrets_path(env), layout.values_path(env)
    base = _refuse_dirty(root, [spath, vpath])
    text = sops.read_encrypted(root, spath)
    current = sops.decrypt_text(text, spath, root)
    desired: dict[str, str | None] = {}
    if current.get(key) != value:
        current[key] = value
        desired[spath] = _reencrypt(root, env, text, current)
    values = safefs.read_text(root, vpath)
    if key == sops.GEMINI_KEY and values is not None:
        desired[vpath] = overlays.with_placeholder(values, key, env, False)
    notes = _rule_note(root, env, text)
    if key == sops.DB_PASSWORD:
        notes.append(DB_REMINDER)
    return SecretsPlan(changes.plan(root, desired), f"secrets: set {key} in {env}", notes, base)


def check_rotate_keys(keys: Sequence[str], env: str) -> list[str]:
    chosen = list(dict.fromkeys(keys)) or list(sops.GENERATED_KEYS)
    for key in chosen:
        check_key(key)
        if key not in sops.GENERATED_KEYS:
            raise InputError(
                f"{key} cannot be generated, only set",
                f"set it with 'gitops-gen secrets set {env} {key}' (value on stdin)",
            )
    return chosen


def plan_rotate(root: Path, env: str, keys: Sequence[str] = ()) -> SecretsPlan:
    """Fresh generated values for keys (default: all generated ones) and a fresh data key."""
    check_env(root, env)
    chosen = check_rotate_keys(keys, env)
    spath = layout.secrets_path(env)
    base = _refuse_dirty(root, [spath])
    text = sops.read_encrypted(root, spath)
    current = sops.decrypt_text(text, spath, root)
    for key in chosen:
        current[key] = sops.generate_value()
    new = _reencrypt(root, env, text, current)
    message = f"secrets: rotate {', '.join(chosen)} in {env}\n\nThe SOPS data key was rotated too."
    notes = _rule_note(root, env, text)
    if sops.DB_PASSWORD in chosen:
        message += (
            "\n\nBefore this reaches the cluster, change the password inside the existing "
            "PostgreSQL volume too (ALTER ROLE): the postgres image reads POSTGRES_PASSWORD "
            "only at first initialisation. See overlays/README.md."
        )
        notes.append(DB_REMINDER)
    if sops.SECRET_KEY in chosen:
        notes.append(f"{sops.SECRET_KEY} changed: sessions and tokens signed with the old "
                     "key stop working once the backend restarts")
    return SecretsPlan(changes.plan(root, {spath: new}), message, notes, base)


# ---- rekey -----------------------------------------------------------------------------


def _environments(root: Path) -> list[str]:
    """Environments with a secrets file, in promotion order, then any others on disk."""
    return [e for e in environments.known_names(root)
            if safefs.is_file(root, layout.secrets_path(e))]


def _set_rule(rules: Any, env: str, recipients: list[str]) -> Any:
    """Change only the age recipients of env's rule, keeping its other settings and comments."""
    return sopsconfig.with_rule(rules, env, recipients)


def plan_rekey(root: Path, envs: Sequence[str] | None, add: Sequence[str] = (),
               remove: Sequence[str] = ()) -> SecretsPlan:
    """Re-key envs (None: every environment) with 'sops updatekeys'; one commit for all.

    Each file ends up encrypted to its rule's recipients plus add minus remove. When a
    recipient loses access, the data key is rotated first, so that key cannot open the file
    even with a data key it remembers.
    """
    adding = sorted({agekeys.check_recipient(r, "--add-recipient") for r in add})
    removing = sorted({agekeys.check_recipient(r, "--remove-recipient") for r in remove})
    if set(adding) & set(removing):
        raise InputError("the same recipient is both added and removed", "give it once")
    names = _environments(root) if envs is None else [check_env(root, e) for e in envs]
    if not names:
        raise InputError("no environment has a secrets file", "add one with 'gitops-gen env add'")
    rules = sopsconfig.load(root)
    targets: dict[str, tuple[str, list[str]]] = {}
    for env in names:
        text = sops.read_encrypted(root, layout.secrets_path(env))
        sops.verify(text, layout.secrets_path(env), root)
        have = sopsconfig.rule_recipients(rules, env) or sops.file_recipients(text)
        known = set(have) | set(sops.file_recipients(text))
        if envs is not None and (stray := [r for r in removing if r not in known]):
            raise InputError(f"--remove-recipient {stray[0]} is not a recipient of {env}",
                             f"see 'gitops-gen secrets list {env}'")
        wanted = sorted((set(have) | set(adding)) - set(removing))
        if not wanted:
            raise InputError(f"refusing to remove the last recipient of {env}",
                             "add the new recipient in the same run (--add-recipient)")
        targets[env] = (text, wanted)
    if envs is None and removing and not any(
        r in set(sops.file_recipients(t)) | set(sopsconfig.rule_recipients(rules, e) or [])
        for e, (t, _) in targets.items() for r in removing
    ):
        raise InputError("--remove-recipient: no environment has that recipient",
                         "see 'gitops-gen secrets list ENV'")
    paths = [layout.secrets_path(e) for e in targets] + [layout.SOPS_CONFIG]
    base = _refuse_dirty(root, paths)
    desired: dict[str, str | None] = {}
    notes: list[str] = []
    rotated: list[str] = []
    for env, (text, wanted) in targets.items():
        new, env_notes, new_data_key = _rekey_file(root, env, text, wanted)
        desired[layout.secrets_path(env)] = new
        notes += env_notes
        rotated += [env] if new_data_key else []
        rules = _set_rule(rules, env, wanted)
    desired[layout.SOPS_CONFIG] = sopsconfig.render(rules)
    label = "all environments" if envs is None else ", ".join(names)
    body = "".join(f"\nadded: {r}" for r in adding) + "".join(f"\nremoved: {r}" for r in removing)
    if rotated:
        body += f"\nnew SOPS data key (a removed key cannot decrypt): {', '.join(rotated)}"
    message = f"secrets: rekey {label}" + (f"\n{body}" if body else "")
    return SecretsPlan(changes.plan(root, desired), message, notes, base)


def _rekey_file(root: Path, env: str, text: str,
                wanted: list[str]) -> tuple[str, list[str], bool]:
    """The file encrypted to wanted, notes, and whether its data key was rotated."""
    path = layout.secrets_path(env)
    have = sops.file_recipients(text)
    if have == wanted:
        return text, [], False
    notes = []
    lost = sorted(set(have) - set(wanted))
    if lost:
        rotated = sops.rotate_data_key(text, path, root)
        sops.check_new_data_key(text, rotated, path)
        text = rotated
        notes.append(
            f"{env}: data key rotated; {', '.join(lost)} can no longer decrypt {path}; it could "
            f"read the values before, so consider 'gitops-gen secrets rotate {env}' and a new "
            f"{sops.GEMINI_KEY}"
        )
    new = sops.update_keys(text, wanted, path, root)
    if not set(agekeys.local_recipients()) & set(wanted):
        notes.append(f"{env}: your identity {agekeys.identity_path()} can no longer decrypt it")
    return new, notes, bool(lost)


# ---- apply -----------------------------------------------------------------------------


def apply(root: Path, plan: SecretsPlan) -> str | None:
    """Write the plan's files and commit exactly them, under the repository lock.

    Refused before anything is written if a file has uncommitted edits or was committed to
    since the plan was made (its re-encrypted text would undo that commit); on any failure
    the files are put back as they were.
    """
    return transaction.apply(root, plan.changes, plan.message, base=plan.base)
