"""The .sops.yaml creation rules: one rule per environment's secrets file.

Edited round-trip, so comments and rules people add by hand survive. problems() says what sops
itself would refuse to load (validate reports it; load() refuses it, so no command commits it).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyrage
from ruamel.yaml.comments import CommentedMap, CommentedSeq

from ..errors import InputError
from ..repo import layout, safefs, yamlio

HEADER = """\
# sops creation rules, one per environment: which age recipients each secrets file is
# encrypted to. 'gitops-gen env add' and 'gitops-gen secrets rekey' keep this file in step
# with the files; 'gitops-gen validate' checks every file's recipients against its rule.
"""


def path_regex(env: str) -> str:
    return file_regex(layout.secrets_path(env))


def file_regex(repo_path: str) -> str:
    # Paths here are DNS labels and fixed names, so the dots are the only characters to escape.
    return "^" + repo_path.replace(".", r"\.") + "$"


@dataclass(frozen=True)
class Problem:
    """Something sops refuses in .sops.yaml: where (keys into the file) and what."""

    where: tuple[str | int, ...]
    message: str


# Go's regexp (RE2), which sops compiles path_regex with, has no lookaround, backreference or
# atomic group; Python's re has them, so they are refused here by name.
_NOT_RE2 = re.compile(r"\(\?(?:=|!|<=|<!|>|P=)|\\[1-9]")


def _regex_problem(regex: Any) -> str | None:
    if isinstance(regex, bool) or not isinstance(regex, str | int | float):
        return f"path_regex must be a string, not a {type(regex).__name__}"
    text = str(regex)
    if _NOT_RE2.search(text):
        return "path_regex uses lookaround or a backreference, which sops (Go's RE2) refuses"
    try:
        re.compile(text)
    except re.error as exc:
        return f"path_regex does not compile: {exc.msg}"
    return None


def _recipient_problem(entry: Any) -> str | None:
    if not isinstance(entry, str):
        return f"age must be a string or a list of strings, not a {type(entry).__name__}"
    for key in (k.strip() for k in entry.split(",")):
        if key.startswith("age1") and len(key) == 62:
            try:
                pyrage.x25519.Recipient.from_str(key)
            except pyrage.RecipientError:
                return "age names a recipient that is not a valid age public key"
        elif not key.startswith(("age1", "ssh-")):
            return "age names something that is not an age recipient (age1...)"
    return None


def problems(data: Any) -> list[Problem]:
    """What keeps sops from loading this .sops.yaml (empty: it loads)."""
    if data is None:
        return []
    if not isinstance(data, dict):
        return [Problem((), "the top level must be a mapping holding creation_rules")]
    rules = data.get("creation_rules")
    if rules is None:
        return []
    if not isinstance(rules, list):
        return [Problem(("creation_rules",), "creation_rules must be a list of rules")]
    out = []
    for n, rule in enumerate(rules):
        where: tuple[str | int, ...] = ("creation_rules", n)
        if not isinstance(rule, dict):
            out.append(Problem(where, f"rule {n + 1} is not a mapping (path_regex, age)"))
            continue
        if "path_regex" in rule and (why := _regex_problem(rule["path_regex"])):
            out.append(Problem((*where, "path_regex"), why))
        age = rule.get("age")
        entries: Sequence[Any] = age if isinstance(age, list) else [] if age is None else [age]
        for entry in entries:
            if why := _recipient_problem(entry):
                out.append(Problem((*where, "age"), why))
                break
    return out


def load(root: Path) -> CommentedMap:
    """The rules, round-trip, to be changed and written back; InputError (nothing written)
    for a file sops itself could not load."""
    text = safefs.read_text(root, layout.SOPS_CONFIG)
    data = _checked(yamlio.load(text, layout.SOPS_CONFIG) if text is not None else None)
    if data is None:
        return empty()
    assert isinstance(data, CommentedMap)  # problems() refuses any other top level
    data.setdefault("creation_rules", CommentedSeq())
    return data


def read(root: Path) -> dict[str, Any]:
    """The rules as load() gives them, for reading only (yamlio.read: a file of a rule per
    environment costs a fraction of a round trip); the same refusals."""
    text = safefs.read_text(root, layout.SOPS_CONFIG)
    data = _checked(yamlio.read(text, layout.SOPS_CONFIG) if text is not None else None)
    if data is None:
        return {"creation_rules": []}
    assert isinstance(data, dict)  # problems() refuses any other top level
    data.setdefault("creation_rules", [])
    return data


def _checked(data: Any) -> Any:
    found = problems(data)
    if found:
        line = yamlio.line_of(data, list(found[0].where)) or 1
        raise InputError(
            f"{layout.SOPS_CONFIG}:{line}: {found[0].message}; sops cannot load it",
            "fix that rule, or restore the file from git",
        )
    return data


def empty() -> CommentedMap:
    data = CommentedMap()
    data["creation_rules"] = CommentedSeq()
    return data


def _index(config: dict[str, Any], env: str, regex: str | None = None) -> int | None:
    regex = regex or path_regex(env)
    rules = config.get("creation_rules") if isinstance(config, dict) else None
    for n, rule in enumerate(rules if isinstance(rules, list) else []):
        if isinstance(rule, dict) and rule.get("path_regex") == regex:
            return n
    return None


def rule_recipients(config: dict[str, Any], env: str, *,
                    repo_path: str | None = None) -> list[str] | None:
    """The recipients of env's rule (or repo_path's), or None when it has no rule."""
    n = _index(config, env, file_regex(repo_path) if repo_path else None)
    if n is None:
        return None
    age = config["creation_rules"][n].get("age", "")
    if isinstance(age, list):
        return sorted(str(a).strip() for a in age)
    return sorted(a.strip() for a in str(age).split(",") if a.strip())


def with_rule(config: CommentedMap, env: str, recipients: list[str], *,
              repo_path: str | None = None) -> CommentedMap:
    """config with env's rule (or the rule of the file repo_path) carrying recipients.

    An existing rule keeps its other settings and comments (only age changes, and only when
    the set differs); a new rule goes before any catch-all rule, which sops would match first.
    """
    regex = file_regex(repo_path) if repo_path else path_regex(env)
    n = _index(config, env, regex)
    rules = config["creation_rules"]
    if n is not None:
        if rule_recipients(config, env, repo_path=repo_path) != sorted(recipients):
            rules[n]["age"] = ",".join(sorted(recipients))
        return config
    rule = CommentedMap()
    rule["path_regex"] = regex
    rule["age"] = ",".join(sorted(recipients))
    catch_all = next((i for i, r in enumerate(rules)
                      if isinstance(r, dict) and not r.get("path_regex")), len(rules))
    rules.insert(catch_all, rule)
    return config


def text_with_rule(root: Path, rules: dict[str, Any], env: str, recipients: list[str]) -> str:
    """The .sops.yaml text with env's rule carrying recipients: what
    render(with_rule(load(root), ...)) gives, but a new rule is written into the text as it
    stands (yamlio.insert_item) rather than by a round trip of a file that holds a rule per
    environment. rules: the file as read() or load() gives it."""
    text = safefs.read_text(root, layout.SOPS_CONFIG)
    if text is not None and _index(rules, env) is None:
        listed = rules["creation_rules"]
        catch_all = next((i for i, r in enumerate(listed)
                          if isinstance(r, dict) and not r.get("path_regex")), len(listed))
        rule = {"path_regex": path_regex(env), "age": ",".join(sorted(recipients))}
        edited = yamlio.insert_item(text, "creation_rules", catch_all, rule)
        if edited is not None:
            return edited
    return render(with_rule(load(root), env, recipients))


def without_rule(config: CommentedMap, env: str) -> CommentedMap:
    n = _index(config, env)
    if n is not None:
        del config["creation_rules"][n]
    return config


def render(config: CommentedMap) -> str:
    text = yamlio.dump(config)
    return text if text.startswith("#") else HEADER + text
