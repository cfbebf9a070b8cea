"""`make mutate`'s folder and report (devtools/mutation.py), on mutmut's own result files."""

from __future__ import annotations

import json
from pathlib import Path

from gitops_gen.devtools import mutation

from .conftest import REPO_ROOT


def write_meta(workdir: Path, module: str, codes: dict[str, int | None]) -> None:
    meta = workdir / "mutants" / (module.replace(".", "/") + ".py.meta")
    meta.parent.mkdir(parents=True, exist_ok=True)
    meta.write_text(json.dumps({"exit_code_by_key": codes, "durations_by_key": {},
                                "estimated_durations_by_key": {}}))


def test_score_counts_what_was_checked_and_lists_what_no_test_killed(tmp_path: Path) -> None:
    name = "gitops_gen.checks.policy.x_unpinned__mutmut_"
    write_meta(tmp_path, "gitops_gen.checks.policy",
               {f"{name}1": 1, f"{name}2": 0, f"{name}3": None, f"{name}4": 33,
                f"{name}5": 36, f"{name}6": 3, f"{name}7": 35, f"{name}8": 37})
    write_meta(tmp_path, "gitops_gen.repo.transaction", {})  # not mutated: not reported
    (result,) = mutation.scores(tmp_path)
    assert result.module == "gitops_gen.checks.policy"
    assert result.checked == 7 and result.score == 400 / 7
    assert result.survivors == [f"{name}2 (survived)", f"{name}4 (no tests)",
                                f"{name}7 (suspicious)"]
    lines = mutation.report([result]).splitlines()
    assert lines[1].split() == ["gitops_gen.checks.policy", "57.1%", "2", "1", "1", "1", "1",
                                "1"]
    assert lines[-3:] == [f"  {name}2 (survived)", f"  {name}4 (no tests)",
                          f"  {name}7 (suspicious)"]


def test_nothing_checked_yet_has_no_score(tmp_path: Path) -> None:
    write_meta(tmp_path, "gitops_gen.checks.policy", {"m__mutmut_1": None})
    (result,) = mutation.scores(tmp_path)
    assert result.score is None and "survivors" not in mutation.report([result])
    assert mutation.main(["report", str(tmp_path / "elsewhere")]) == 1


def test_prepare_links_the_package_and_copies_the_chart(tmp_path: Path) -> None:
    workdir = tmp_path / "mutate"
    for _ in range(2):  # a second run keeps the links and refreshes the copy
        mutation.prepare(workdir, REPO_ROOT)
        assert (workdir / "gitops_gen").resolve() == REPO_ROOT / "generator" / "gitops_gen"
        assert (workdir / "tests").resolve() == REPO_ROOT / "tests"
        assert (workdir / "pyproject.toml").resolve() == REPO_ROOT / "pyproject.toml"
        chart = workdir / "chart"
        assert not chart.is_symlink()
        assert (chart / "Chart.yaml").read_text() == (REPO_ROOT / "chart/Chart.yaml").read_text()
        (chart / "stale.txt").write_text("from an earlier run\n")
    mutation.prepare(workdir, REPO_ROOT)
    assert not (workdir / "chart" / "stale.txt").exists()
