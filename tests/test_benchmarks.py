"""The benchmarks keep working: repositories build, the CLI is timed, the tables print.

Only the shape of the figures is checked, never how fast anything is.
"""

from __future__ import annotations

import math
import os
import sys
from pathlib import Path

import git
import pytest
from benchmarks import run, schema_stage, validate_repo

from gitops_gen.repo import layout

pytestmark = pytest.mark.slow


def test_builder_makes_committed_environments_and_restores_the_environment(
    tmp_path: Path,
) -> None:
    before = dict(os.environ)
    with validate_repo.isolated(tmp_path) as child_env:
        assert os.environ["HOME"].startswith(str(tmp_path))
        assert child_env["PYTHONPYCACHEPREFIX"].startswith(str(tmp_path))
        repos = validate_repo.build_repos(tmp_path, (1, 2))
    assert dict(os.environ) == before
    assert sorted(repos) == [1, 2]
    for count, root in repos.items():
        assert root.is_relative_to(tmp_path)
        names = validate_repo.env_names(count)
        assert layout.environments_on_disk(root) == sorted(names)
        for name in names:
            assert (root / layout.secrets_path(name)).read_text().count("ENC[AES256_GCM") >= 3
        assert git.Repo(root).git.status("--porcelain") == ""


def test_env_names_start_with_the_usual_three() -> None:
    assert validate_repo.env_names(2) == ["dev", "staging"]
    names = validate_repo.env_names(50)
    assert names[:3] == ["dev", "staging", "prod"] and len(set(names)) == 50


def test_run_child_reports_the_child_alone() -> None:
    child = validate_repo.run_child([sys.executable, "-c", "print('hi')"], dict(os.environ))
    assert (child.exit_code, child.stdout) == (0, "hi\n")
    assert 0 < child.seconds and 0 < child.max_rss_mb


def test_validate_benchmark_gives_every_figure() -> None:
    figures = validate_repo.run(env_counts=(1, 2), runs=1)
    assert set(figures) >= {"environments", "runs", "build_seconds", "baseline", "validate",
                            "first_run", "no_bytecode", "per_env_ratio", "peak_rss_mb",
                            "server_modules_imported", "targets", "targets_met"}
    assert figures["environments"] == [1, 2]
    for timing in (figures["baseline"], figures["no_bytecode"], *figures["validate"].values()):
        assert timing["best"] > 0 and timing["median"] >= timing["best"]
        assert timing["max_rss_mb"] > 0
    base = figures["baseline"]["best"]
    for count in (1, 2):
        fig = figures["validate"][count]
        assert fig["per_env_seconds"] == max(fig["best"] - base, 0.0) / count
        assert fig["over_baseline"] == fig["median"] / figures["baseline"]["median"]
        assert fig["exit_code"] == 0  # the builder's repositories validate clean
    assert figures["first_run"]["seconds"] > 0 and figures["peak_rss_mb"] > 0
    small, large = (figures["validate"][n]["per_env_seconds"] for n in (1, 2))
    assert figures["per_env_ratio"] == (large / small if small else math.inf)
    assert figures["server_modules_imported"] == []
    assert figures["targets_met"] == {
        "seconds": figures["validate"][1]["median"] < validate_repo.TARGET_SECONDS,
        "linear": figures["per_env_ratio"] <= validate_repo.TARGET_LINEARITY,
        "rss": figures["peak_rss_mb"] < validate_repo.TARGET_RSS_MB,
    }
    text = validate_repo.format_figures(figures)
    assert "validate, 2 envs" in text and "--version (baseline)" in text

    schema = schema_stage.run(count=60, sample=5)
    table = run.summary(schema, figures).splitlines()
    assert table[:2] == ["summary", table[1]] and table[1].split() == ["target", "measured",
                                                                       "verdict"]
    warm = schema["kubeschema_objects_per_second"]["warm"]
    expected = [schema["ratio"]["warm"] >= schema_stage.TARGET_RATIO,
                warm >= schema_stage.TARGET_RATE, *figures["targets_met"].values()]
    assert [row.endswith(" NOT met") for row in table[2:]] == [not ok for ok in expected]
    assert [row.endswith(" met") for row in table[2:]] == [True] * len(expected)
