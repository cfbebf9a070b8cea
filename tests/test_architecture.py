"""The package's map: subsystems import one way, and only the CLI layer touches click."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "generator" / "gitops_gen"

# Lowest first: a subsystem may import those below it (and `errors`, the package root), never
# those above. `cli` and `commands` are the thin top; `devtools` stands apart and may use any.
LAYERS = ("repo", "secrets", "model", "checks", "promotion", "service", "commands")
BASE = {"errors", "__init__"}  # the error family and the version: imported from anywhere
CLICK_ALLOWED = {"cli", "commands", "devtools", "__main__"}


def subsystem(module: str) -> str:
    """'gitops_gen.checks.policy' -> 'checks'; 'gitops_gen.cli' -> 'cli'."""
    parts = module.split(".")
    if len(parts) == 1 or parts[1] == "__version__":  # the package root (its version string)
        return "__init__"
    return parts[1]


def module_name(path: Path) -> str:
    rel = path.relative_to(PACKAGE.parent).with_suffix("")
    parts = list(rel.parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path) -> list[tuple[str, int]]:
    """Absolute names of the gitops_gen modules (or packages) path imports, with line numbers.

    `from .. import x` counts as importing package.x (x may be a module)."""
    tree = ast.parse(path.read_text())
    own = module_name(path)
    package = own if path.name == "__init__.py" else own.rsplit(".", 1)[0]
    found: list[tuple[str, int]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join([*base, *([node.module] if node.module else [])])
            else:
                target = node.module or ""
            if target.split(".")[0] != "gitops_gen":
                continue
            if target == "gitops_gen" or target.count(".") == 1 and not node.module:
                found += [(f"{target}.{a.name}", node.lineno) for a in node.names]
            else:
                found.append((target, node.lineno))
        elif isinstance(node, ast.Import):
            found += [(a.name, node.lineno) for a in node.names
                      if a.name.split(".")[0] == "gitops_gen"]
    return found


def third_party(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and not node.level and node.module:
            names.add(node.module.split(".")[0])
        elif isinstance(node, ast.Import):
            names.update(a.name.split(".")[0] for a in node.names)
    return names


def layer_violations(edges: list[tuple[str, str, str]]) -> list[str]:
    """Each edge (file:line, from subsystem, to subsystem) that points up or sideways."""
    bad = []
    for where, src, dst in edges:
        if dst in BASE or src == dst or src == "devtools":
            continue
        if src in ("cli", "__main__", "launcher"):
            if dst == "devtools":
                bad.append(f"{where}: {src} -> {dst}")
            continue
        if src in BASE:
            bad.append(f"{where}: {src} -> {dst} (the package root imports nothing)")
            continue
        if dst not in LAYERS or src not in LAYERS or LAYERS.index(dst) > LAYERS.index(src):
            bad.append(f"{where}: {src} -> {dst}")
    return bad


def all_edges() -> list[tuple[str, str, str]]:
    edges = []
    for path in sorted(PACKAGE.rglob("*.py")):
        src = subsystem(module_name(path))
        for target, line in imports(path):
            edges.append((f"{path.relative_to(PACKAGE)}:{line}", src, subsystem(target)))
    return edges


def test_every_module_belongs_to_a_known_subsystem() -> None:
    known = {*LAYERS, *BASE, "cli", "__main__", "launcher", "devtools"}
    strays = sorted({str(p.relative_to(PACKAGE)) for p in PACKAGE.rglob("*.py")
                     if subsystem(module_name(p)) not in known})
    assert strays == [], "a new module goes into the subsystem it belongs to"


def test_subsystems_import_one_way() -> None:
    assert layer_violations(all_edges()) == []


@pytest.mark.parametrize("edge, expected", [
    (("model/x.py:3", "model", "checks"), ["model/x.py:3: model -> checks"]),
    (("repo/x.py:1", "repo", "secrets"), ["repo/x.py:1: repo -> secrets"]),
    (("checks/x.py:9", "checks", "service"), ["checks/x.py:9: checks -> service"]),
    (("errors.py:2", "errors", "repo"),
     ["errors.py:2: errors -> repo (the package root imports nothing)"]),
    (("checks/x.py:9", "checks", "model"), []),
    (("commands/x.py:1", "commands", "service"), []),
    (("cli.py:1", "cli", "commands"), []),
])
def test_a_back_edge_is_reported(edge: tuple[str, str, str], expected: list[str]) -> None:
    """The checker itself: edges that point up are reported, downward ones are not."""
    assert layer_violations([edge]) == expected


def test_subsystems_have_no_cycles_even_through_devtools() -> None:
    graph: dict[str, set[str]] = {}
    for _, src, dst in all_edges():
        if src != dst and dst not in BASE and src != "devtools":
            graph.setdefault(src, set()).add(dst)

    def reaches(start: str, goal: str, seen: set[str]) -> bool:
        return any(n == goal or (n not in seen and reaches(n, goal, seen | {n}))
                   for n in graph.get(start, ()))

    assert [s for s in graph if reaches(s, s, set())] == []


def test_only_the_cli_layer_imports_click() -> None:
    users = sorted(str(p.relative_to(PACKAGE)) for p in PACKAGE.rglob("*.py")
                   if "click" in third_party(p)
                   and subsystem(module_name(p)) not in CLICK_ALLOWED)
    assert users == []


def test_the_launcher_starts_without_click() -> None:
    """launcher.py answers --version and --help before anything heavy loads: it imports
    nothing but the standard library's os and sys, the package root, and (for every other
    call, inside a function) the CLI."""
    tree = ast.parse((PACKAGE / "launcher.py").read_text())
    top = [node for node in tree.body if isinstance(node, (ast.Import, ast.ImportFrom))]
    names = sorted({a.name for node in top for a in node.names})
    assert names == ["__version__", "annotations", "os", "sys"]


def test_every_subsystem_says_what_it_owns() -> None:
    for name in (*LAYERS, "devtools"):
        doc = ast.get_docstring(ast.parse((PACKAGE / name / "__init__.py").read_text()))
        assert doc and len(doc) > 80, f"{name}/__init__.py needs a docstring: owns, may import"
