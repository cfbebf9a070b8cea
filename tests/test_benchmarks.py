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
from benchmarks import (
    env_add,
    kubeconform,
    render_output,
    repos,
    run,
    schema_stage,
    serve,
    startup,
    validate_repo,
)

from gitops_gen.repo import layout
from gitops_gen.secrets import sops

pytestmark = pytest.mark.slow


def test_builder_makes_committed_environments_and_restores_the_environment(
    tmp_path: Path,
) -> None:
    before = dict(os.environ)
    with validate_repo.isolated(tmp_path) as child_env:
        assert os.environ["HOME"].startswith(str(tmp_path))
        assert child_env["PYTHONPYCACHEPREFIX"].startswith(str(tmp_path))
        built = validate_repo.build_repos(tmp_path, (1, 2))
    assert dict(os.environ) == before
    assert sorted(built) == [1, 2]
    for count, root in built.items():
        assert root.is_relative_to(tmp_path)
        names = repos.env_names(count)
        assert layout.environments_on_disk(root) == sorted(names)
        for name in names:
            assert (root / layout.secrets_path(name)).read_text().count("ENC[AES256_GCM") >= 3
        assert git.Repo(root).git.status("--porcelain") == ""


def test_env_names_start_with_the_usual_three() -> None:
    assert repos.env_names(2) == ["dev", "staging"]
    names = repos.env_names(200)
    assert names[:3] == ["dev", "staging", "prod"] and len(set(names)) == 200


def test_a_copied_environment_is_what_env_add_writes(tmp_path: Path) -> None:
    """The builder's copies (every environment after the fourth) hold what env add writes."""
    with repos.isolated(tmp_path):
        copied = repos.build_repo(tmp_path / "copied", 5)
        added = repos.build_repo(tmp_path / "added", 4)
        repos.add_envs(added, ["team-002"])
    assert repos.env_names(5)[-2:] == ["team-001", "team-002"]
    for path in [*layout.env_files("team-002"), layout.SOPS_CONFIG, layout.SETTINGS]:
        mine, theirs = ((root / path).read_text() for root in (copied, added))
        if path == layout.secrets_path("team-002"):  # encrypted anew: compare the recipients
            assert sops.file_recipients(mine) == sops.file_recipients(theirs)
        else:
            assert mine == theirs, path
    assert git.Repo(copied).git.status("--porcelain") == ""


def test_run_child_reports_the_child_alone() -> None:
    child = validate_repo.run_child([sys.executable, "-c", "print('hi')"], dict(os.environ))
    assert (child.exit_code, child.stdout) == (0, "hi\n")
    assert 0 < child.seconds and 0 < child.max_rss_mb


def test_validate_benchmark_gives_every_figure() -> None:
    figures = validate_repo.run(env_counts=(1, 2), runs=1)
    assert set(figures) >= {"environments", "runs", "build_seconds", "baseline", "validate",
                            "first_run", "no_bytecode", "per_env_ratio", "peak_rss_mb",
                            "in_process",
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
    assert list(figures["in_process"]) == [1, 2]
    for fig in figures["in_process"].values():
        assert min(fig.values()) > 0
    assert figures["first_run"]["seconds"] > 0 and figures["peak_rss_mb"] > 0
    small, large = (figures["validate"][n]["per_env_seconds"] for n in (1, 2))
    assert figures["per_env_ratio"] == (large / small if small else math.inf)
    assert figures["server_modules_imported"] == []
    assert list(figures["in_process_no_render_cache"]) == [1, 2]
    in_process = {name: figures[key][2]["validate_ms_per_env"]
                  < validate_repo.TARGET_IN_PROCESS_MS
                  for name, key in (("in_process", "in_process"),
                                    ("in_process_no_render_cache",
                                     "in_process_no_render_cache"))}
    assert figures["targets_met"] == {
        "seconds": figures["validate"][1]["median"] < validate_repo.TARGET_SECONDS,
        "linear": figures["per_env_ratio"] <= validate_repo.TARGET_LINEARITY,
        "rss": figures["peak_rss_mb"] < validate_repo.TARGET_RSS_MB,
        **in_process,
    }
    text = validate_repo.format_figures(figures)
    assert "validate, 2 envs" in text and "--version (baseline)" in text
    assert "in-process, 2 envs" in text

    schema = schema_stage.run(count=60, sample=5)
    table = run.summary({"schema": schema, "validate": figures}).splitlines()
    assert table[:2] == ["summary", table[1]] and table[1].split() == ["target", "measured",
                                                                       "verdict"]
    warm = schema["kubeschema_objects_per_second"]["warm"]
    expected = [schema["ratio"]["warm"] >= schema_stage.TARGET_RATIO,
                warm >= schema_stage.TARGET_RATE, *figures["targets_met"].values()]
    assert [row.endswith(" NOT met") for row in table[2:]] == [not ok for ok in expected]
    assert [row.endswith(" met") for row in table[2:]] == [True] * len(expected)


def test_startup_benchmark_gives_a_ratio_per_command() -> None:
    figures = startup.run(runs=1)
    commands = figures["commands"]
    assert list(commands)[0] == "python -c pass" and commands["python -c pass"]["ratio"] == 1
    assert all(fig["ratio"] > 0 for fig in commands.values())
    assert set(figures["targets_met"]) == {"gitops-gen --version", "gitops-gen --help"}
    assert "gitops-gen --help" in startup.format_figures(figures)


def test_writing_benchmark_undoes_every_run() -> None:
    figures = env_add.run(env_counts=(1, 5), runs=1)
    assert figures["environments"] == [1, 5]
    for fig in figures["commands"].values():
        assert fig[1]["median"] > 0 and fig[5]["median"] > 0 and fig["ratio"] > 0
    assert set(figures["targets_met"]) == {"env add", "secrets set"}
    text = env_add.format_figures(figures)
    assert "env add" in text and "5 envs" in text


def test_render_benchmark_writes_every_object() -> None:
    figures = render_output.run(runs=1)
    assert figures["files"] == figures["emitter"]["objects"] > 0
    assert 0 < figures["emitter"]["fast_seconds"] and figures["ratio"] > 0
    assert "render staging --output" in render_output.format_figures(figures)


def test_kubeconform_comparison_says_why_it_is_skipped(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv(kubeconform.ENV_VAR, str(tmp_path / "no-such-binary"))
    figures = kubeconform.run()
    assert set(figures) == {"skipped"}
    assert f"${kubeconform.ENV_VAR}={tmp_path / 'no-such-binary'} is not a file" in (
        kubeconform.format_figures(figures))
    assert run.summary({"kubeconform": figures}).splitlines()[-1].split()[-2:] == [
        "skipped", "-"]


def test_kubeconform_gets_standalone_schemas_under_its_names(tmp_path: Path) -> None:
    objs = schema_stage.distinct_objects()
    kubeconform.write_schemas(tmp_path, kubeconform.VERSION, objs)
    names = sorted(p.name for p in tmp_path.iterdir())
    # kubeconform's {{ .ResourceKind }}{{ .KindSuffix }}.json for these kinds
    assert names == ["configmap-v1.json", "deployment-apps-v1.json",
                     "horizontalpodautoscaler-autoscaling-v2.json",
                     "ingress-networking-v1.json", "persistentvolumeclaim-v1.json",
                     "secret-v1.json", "service-v1.json"]
    for path in tmp_path.iterdir():
        text = path.read_text()
        refs = [part.split('"', 1)[0] for part in text.split('"$ref":"')[1:]]
        refs += [part.split('"', 1)[0] for part in text.split('"$ref": "')[1:]]
        assert refs and all(ref.startswith("#/$defs/") for ref in refs), path.name


def test_serve_benchmark_times_kept_and_new_commits() -> None:
    figures = serve.run(runs=1, repeats=2)
    for name in ("healthz", "baseline", "repeated", "new", "checkout", "validation"):
        assert figures[name]["p50_ms"] > 0 and figures[name]["n"] >= 1
    assert figures["repeated"]["n"] == 2 and figures["repeated"]["ratio"] > 0
    assert set(figures["targets_met"]) == {"repeated", "new", "beyond"}
    assert "commit validated before" in serve.format_figures(figures)
    assert len(run.summary({"serve": figures}).splitlines()) == 2 + 5
