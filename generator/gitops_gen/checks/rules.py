"""The rules a finding names: each declared once, beside the checks that emit it.

A check module declares its rules as `RULES = (Rule("sops-config", "..."), ...)`; validate.py
gathers every module's RULES with ids() into the list a report names as checked (JUnit lists
each as a testcase). tests/test_rules.py fails when a finding is built with an id that no
module declares, and when a declared id has no check that can emit it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple


class Rule(NamedTuple):
    """One rule: the id findings carry (`Finding.rule`) and what it holds the repository to."""

    id: str
    summary: str


def ids(*families: Sequence[Rule]) -> tuple[str, ...]:
    """The ids of the families of rules, in order; an id declared twice is a bug."""
    found = [rule.id for family in families for rule in family]
    twice = sorted({i for i in found if found.count(i) > 1})
    if twice:
        raise ValueError(f"rule ids declared more than once: {', '.join(twice)}")
    return tuple(found)
