"""The .sops.yaml creation rules: one rule per environment's secrets file.

Edited round-trip, so comments and rules people add by hand survive.
"""

from __future__ import annotations

from pathlib import Path

from ruamel.yaml.comments import CommentedMap, CommentedSeq

from . import layout, yamlio
from .errors import InputError

HEADER = """\
# sops creation rules, one per environment: which age recipients each secrets file is
# encrypted to. 'gitops-gen env add' and 'gitops-gen secrets rekey' keep this file in step
# with the files; 'gitops-gen validate' checks every file's recipients against its rule.
"""


def path_regex(env: str) -> str:
    # Environment names are DNS labels, so the dots are the only characters to escape.
    return "^" + layout.secrets_path(env).replace(".", r"\.") + "$"


def load(root: Path) -> CommentedMap:
    path = root / layout.SOPS_CONFIG
    if not path.is_file():
        return empty()
    data = yamlio.load(path.read_text(), layout.SOPS_CONFIG)
    if data is None:
        return empty()
    if not isinstance(data, CommentedMap) or not isinstance(
        data.get("creation_rules", []), list
    ):
        raise InputError(
            f"{layout.SOPS_CONFIG}: creation_rules must be a list",
            "restore the file from git or fix its structure",
        )
    data.setdefault("creation_rules", CommentedSeq())
    return data


def empty() -> CommentedMap:
    data = CommentedMap()
    data["creation_rules"] = CommentedSeq()
    return data


def _index(config: CommentedMap, env: str) -> int | None:
    regex = path_regex(env)
    for n, rule in enumerate(config["creation_rules"]):
        if isinstance(rule, dict) and rule.get("path_regex") == regex:
            return n
    return None


def rule_recipients(config: CommentedMap, env: str) -> list[str] | None:
    """The recipients of env's rule, or None when it has no rule."""
    n = _index(config, env)
    if n is None:
        return None
    age = config["creation_rules"][n].get("age", "")
    if isinstance(age, list):
        return sorted(str(a).strip() for a in age)
    return sorted(a.strip() for a in str(age).split(",") if a.strip())


def with_rule(config: CommentedMap, env: str, recipients: list[str]) -> CommentedMap:
    """config with env's rule set to recipients (added, or replaced in place)."""
    rule = CommentedMap()
    rule["path_regex"] = path_regex(env)
    rule["age"] = ",".join(sorted(recipients))
    n = _index(config, env)
    if n is None:
        config["creation_rules"].append(rule)
    else:
        config["creation_rules"][n] = rule
    return config


def without_rule(config: CommentedMap, env: str) -> CommentedMap:
    n = _index(config, env)
    if n is not None:
        del config["creation_rules"][n]
    return config


def render(config: CommentedMap) -> str:
    text = yamlio.dump(config)
    return text if text.startswith("#") else HEADER + text
