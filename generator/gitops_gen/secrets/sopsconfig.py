"""The .sops.yaml creation rules: one rule per environment's secrets file.

Edited round-trip, so comments and rules people add by hand survive.
"""

from __future__ import annotations

from pathlib import Path

from ruamel.yaml.comments import CommentedMap, CommentedSeq

from ..errors import InputError
from ..repo import layout, yamlio

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


def _index(config: CommentedMap, env: str, regex: str | None = None) -> int | None:
    regex = regex or path_regex(env)
    for n, rule in enumerate(config["creation_rules"]):
        if isinstance(rule, dict) and rule.get("path_regex") == regex:
            return n
    return None


def rule_recipients(config: CommentedMap, env: str, *,
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


def without_rule(config: CommentedMap, env: str) -> CommentedMap:
    n = _index(config, env)
    if n is not None:
        del config["creation_rules"][n]
    return config


def render(config: CommentedMap) -> str:
    text = yamlio.dump(config)
    return text if text.startswith("#") else HEADER + text
