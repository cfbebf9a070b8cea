"""Mutation testing of the rule and security code (`make mutate`), with mutmut.

mutmut names a mutant after its file's path below the folder it runs in, while the tests
import `gitops_gen...`: so it runs in a folder of its own (build/mutate) where `gitops_gen`
is a link to the package, tests/ and pyproject.toml (which holds the [tool.mutmut] settings)
are links to the checkout's, and chart/ is a copy: the package finds its chart beside the
folder it is imported from, and a copy taken before the run keeps edits made meanwhile out.

python -m gitops_gen.devtools.mutation prepare DIR   lays out that folder
python -m gitops_gen.devtools.mutation report DIR    the score per module and the survivors
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

CHECKOUT = Path(__file__).resolve().parents[3]
LINKS = {"gitops_gen": "generator/gitops_gen", "tests": "tests", "pyproject.toml": "pyproject.toml"}
COPIES = ("chart",)
# mutmut's exit codes for a mutant (mutmut/stats.py); anything else is "suspicious".
STATUS = {
    None: "not checked", 0: "survived", 1: "killed", 3: "killed", 2: "interrupted",
    5: "no tests", 33: "no tests", 34: "skipped", 35: "suspicious", 36: "timeout",
    24: "timeout", -24: "timeout", 152: "timeout", 255: "timeout", 37: "type check",
    -11: "segfault", -9: "segfault",
}
DETECTED = ("killed", "timeout", "type check")


@dataclass
class ModuleScore:
    module: str
    counts: Counter[str] = field(default_factory=Counter)
    survivors: list[str] = field(default_factory=list)

    @property
    def checked(self) -> int:
        return sum(n for status, n in self.counts.items()
                   if status not in ("not checked", "skipped", "interrupted"))

    @property
    def score(self) -> float | None:
        detected = sum(self.counts[s] for s in DETECTED)
        return 100.0 * detected / self.checked if self.checked else None


def prepare(workdir: Path, checkout: Path = CHECKOUT) -> None:
    """workdir with links to the package and the tests, and a fresh copy of the chart."""
    workdir.mkdir(parents=True, exist_ok=True)
    for name, target in LINKS.items():
        link = workdir / name
        if link.is_symlink() or link.exists():
            if link.resolve() == (checkout / target).resolve():
                continue
            link.unlink()
        link.symlink_to(checkout / target)
    for name in COPIES:
        copy = workdir / name
        if copy.is_symlink():
            copy.unlink()
        elif copy.exists():
            shutil.rmtree(copy)
        shutil.copytree(checkout / name, copy)


def scores(workdir: Path) -> list[ModuleScore]:
    """Per mutated module, from mutmut's result files (mutants/<path>.py.meta)."""
    out = []
    base = workdir / "mutants"
    for meta in sorted(base.rglob("*.py.meta")):
        codes = json.loads(meta.read_text())["exit_code_by_key"]
        if not codes:
            continue
        module = meta.relative_to(base).as_posix().removesuffix(".py.meta").replace("/", ".")
        result = ModuleScore(module)
        for name, code in codes.items():
            status = STATUS.get(code, "suspicious")
            result.counts[status] += 1
            if status in ("survived", "no tests", "suspicious"):
                result.survivors.append(f"{name} ({status})")
        out.append(result)
    return out


def report(results: list[ModuleScore]) -> str:
    lines = [f"{'module':34} {'score':>6} {'killed':>6} {'mypy':>5} {'survived':>8} "
             f"{'no-tests':>8} {'timeout':>7} {'unchecked':>9}"]
    for r in results:
        score = f"{r.score:.1f}%" if r.score is not None else "-"
        lines.append(f"{r.module:34} {score:>6} {r.counts['killed']:>6} "
                     f"{r.counts['type check']:>5} {r.counts['survived']:>8} "
                     f"{r.counts['no tests']:>8} {r.counts['timeout']:>7} "
                     f"{r.counts['not checked']:>9}")
    survivors = [s for r in results for s in r.survivors]
    if survivors:
        lines += ["", "survivors (see one with 'mutmut show NAME' in the mutation folder):",
                  *(f"  {s}" for s in survivors)]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("action", choices=["prepare", "report"])
    parser.add_argument("workdir", type=Path)
    args = parser.parse_args(argv)
    if args.action == "prepare":
        prepare(args.workdir)
        return 0
    results = scores(args.workdir)
    if not results:
        print(f"no mutation results under {args.workdir / 'mutants'}; run 'make mutate'",
              file=sys.stderr)
        return 1
    print(report(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
