"""Rule ids are declared once (checks/rules.py), and the declarations match what the checks emit.

Read statically: every call that builds a finding or a rule-carrying record (a function or a
record whose first parameter or field is `rule`: Finding, _finding, PlanIssue, Refusal, ...),
and every `rule = "..."` a check names, gives the ids that can reach a report. Each must be
declared; each declared id must be one of them.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Iterator
from pathlib import Path

import pytest

from gitops_gen.checks import rules
from gitops_gen.checks.rules import Rule
from gitops_gen.checks.validate import RULES

PACKAGE = Path(__file__).resolve().parents[1] / "generator" / "gitops_gen"
Sources = dict[str, ast.Module]


def sources() -> Sources:
    return {str(p.relative_to(PACKAGE)): ast.parse(p.read_text())
            for p in sorted(PACKAGE.rglob("*.py"))}


def emitters(trees: Sources) -> dict[str, int]:
    """The functions, methods and records with a parameter or field `rule` -> its position."""
    found = {}
    for tree in trees.values():
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                params = [a.arg for a in node.args.args if a.arg not in ("self", "cls")]
            elif isinstance(node, ast.ClassDef):
                params = [s.target.id for s in node.body
                          if isinstance(s, ast.AnnAssign) and isinstance(s.target, ast.Name)]
            else:
                continue
            if "rule" in params:
                found[node.name] = params.index("rule")
    return found


def constants(trees: Sources) -> dict[tuple[str, str], str]:
    """(module stem, NAME) -> value of each module-level NAME = "text"."""
    found = {}
    for path, tree in trees.items():
        for node in tree.body:
            if (isinstance(node, ast.Assign) and len(node.targets) == 1
                    and isinstance(node.targets[0], ast.Name)
                    and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str)):
                found[(Path(path).stem, node.targets[0].id)] = node.value.value
    return found


def values(node: ast.expr, module: str, known: dict[tuple[str, str], str]) -> Iterator[str]:
    """The ids an expression can stand for: a literal, a module constant, either branch of
    `a if c else b`; nothing for what is only known at run time (a parameter, an attribute)."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        yield node.value
    elif isinstance(node, ast.Name) and (module, node.id) in known:
        yield known[(module, node.id)]
    elif (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
          and (node.value.id, node.attr) in known):
        yield known[(node.value.id, node.attr)]
    elif isinstance(node, ast.IfExp):
        yield from values(node.body, module, known)
        yield from values(node.orelse, module, known)


def called(node: ast.Call) -> str:
    func = node.func
    return func.id if isinstance(func, ast.Name) else func.attr if isinstance(
        func, ast.Attribute) else ""


def emitted(trees: Sources) -> dict[str, list[str]]:
    """Every id a finding can be built with -> where (file:line)."""
    names, known = emitters(trees), constants(trees)
    found: dict[str, list[str]] = {}

    def add(ids: Iterable[str], where: str) -> None:
        for rule_id in ids:
            found.setdefault(rule_id, []).append(where)

    for path, tree in trees.items():
        module = Path(path).stem
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and called(node) in names:
                at = names[called(node)]
                args = [*node.args[at:at + 1], *(k.value for k in node.keywords if k.arg == "rule")]
                for arg in args:
                    add(values(arg, module, known), f"{path}:{node.lineno}")
            elif isinstance(node, ast.Assign):  # rule = "..." (or rule, x = "...", x)
                for target in node.targets:
                    pairs = (zip(target.elts, node.value.elts, strict=False)
                             if isinstance(target, ast.Tuple) and isinstance(node.value, ast.Tuple)
                             else [(target, node.value)])
                    for name, value in pairs:
                        if isinstance(name, ast.Name) and name.id == "rule":
                            add(values(value, module, known), f"{path}:{node.lineno}")
    return found


def declared(trees: Sources) -> dict[str, list[str]]:
    """Every Rule(id, ...) of the checks package -> where."""
    known = constants(trees)
    found: dict[str, list[str]] = {}
    for path, tree in trees.items():
        if not path.startswith("checks/"):
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and called(node) == "Rule" and node.args:
                for rule_id in values(node.args[0], Path(path).stem, known):
                    found.setdefault(rule_id, []).append(f"{path}:{node.lineno}")
    return found


def test_every_emitted_id_is_declared() -> None:
    trees = sources()
    unknown = {i: w for i, w in emitted(trees).items() if i not in RULES}
    assert unknown == {}, "declare the rule in the RULES of the module that owns its check"


def test_every_declared_id_has_a_check_that_emits_it() -> None:
    found = emitted(sources())
    assert [i for i in RULES if i not in found] == []


def test_every_declaration_is_in_the_checked_list_once() -> None:
    found = declared(sources())
    assert sorted(found) == sorted(RULES)
    assert {i: w for i, w in found.items() if len(w) > 1} == {}


def test_the_scan_sees_the_ways_checks_build_findings() -> None:
    """Not hollow: the scan knows the builders and sees ids passed every way the checks do."""
    trees = sources()
    assert {"Finding", "_finding", "finding", "PlanIssue", "Refusal", "Top"} <= set(emitters(trees))
    found = emitted(trees)
    assert "checks/isolated.py" in found["resource-limit"][0]  # Finding(RULE, ...)
    assert any("model/syncplan.py" in w for w in found["sync-wave-invalid"])  # PlanIssue("...")
    assert "k8s-schema-unknown-kind" in found  # kubeschema.RULE_NO_SCHEMA if ... else ...
    assert "bootstrap-key-mount" in found  # rule, patch = "...", ...
    assert len(found) == len(RULES)


def test_an_unregistered_id_is_caught() -> None:
    trees = sources()
    trees["checks/new.py"] = ast.parse(
        'def check(x):\n    yield _finding("no-such-rule", "error", None, x, None, "m")\n')
    assert emitted(trees)["no-such-rule"] == ["checks/new.py:2"]


def test_an_id_declared_twice_is_refused() -> None:
    with pytest.raises(ValueError, match="declared more than once: a"):
        rules.ids([Rule("a", "x")], [Rule("a", "y")])
