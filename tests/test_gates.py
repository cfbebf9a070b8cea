"""Promotion gates: the settings section, the rule over data, and the gates as promote, image set
and validate apply them to real repositories whose commit times the tests set."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import git
import pytest

from gitops_gen.checks import gates
from gitops_gen.checks.validate import validate_repo
from gitops_gen.errors import SettingsError
from gitops_gen.model.imagehistory import History, Snapshot
from gitops_gen.model.images import ImageRef
from gitops_gen.repo import config, layout, yamlio

from .helpers import cli, set_value, snapshot, template_repo

DIGEST = "sha256:" + "0123456789abcdef" * 4
HOUR = timedelta(hours=1)


# ---- the settings section ------------------------------------------------------------------


def settings(gates_yaml: str) -> object:
    return yamlio.load("repoURL: https://git.example.com/o/r.git\n"
                       "environments: [dev, staging, prod]\n" + gates_yaml, layout.SETTINGS)


def test_gates_parse() -> None:
    parsed = config.parse_gates(settings(
        "gates:\n  staging:\n    minSoak: 1h30m\n  prod:\n    minSoak: 2d\n"
        "    requireDigest: true\n"))
    assert parsed == {"staging": config.Gate(timedelta(minutes=90), False),
                      "prod": config.Gate(timedelta(days=2), True)}
    assert config.parse_gates(settings("")) == {}


@pytest.mark.parametrize(("text", "line", "words"), [
    ("gates: [prod]\n", 3, "gates must be a mapping"),
    ("gates:\n  qa:\n    minSoak: 1h\n", 4, "no environment 'qa'"),
    ("gates:\n  prod: 24h\n", 4, "gates.prod must be a mapping"),
    ("gates:\n  prod:\n    minsoak: 1h\n", 5, "gates.prod.minsoak is not a gate"),
    ("gates:\n  prod:\n    minSoak: 1 hour\n", 5, "'1 hour' is not a duration"),
    ("gates:\n  prod:\n    minSoak: 60\n", 5, "60 is not a duration"),
    ("gates:\n  dev:\n    minSoak: 1h\n", 5, "dev is first in the promotion order"),
    ("gates:\n  prod:\n    requireDigest: yes please\n", 5, "is not true or false"),
])
def test_bad_gates_name_their_line(text: str, line: int, words: str) -> None:
    with pytest.raises(SettingsError) as caught:
        config.parse_gates(settings(text))
    assert caught.value.line == line and words in caught.value.render()
    assert "\n" not in caught.value.render()


@pytest.mark.parametrize(("text", "seconds"), [
    ("90s", 90), ("30m", 1800), ("1h", 3600), ("1h30m", 5400), ("2d", 172800),
    ("1w", 604800), ("0s", 0)])
def test_durations(text: str, seconds: int) -> None:
    span = config.parse_duration(text)
    assert span == timedelta(seconds=seconds)
    assert config.parse_duration(config.format_duration(span)) == span


@pytest.mark.parametrize("text", ["", "1", "h", "1.5h", "1H", "-1h", "1m1h"])
def test_not_durations(text: str) -> None:
    assert config.parse_duration(text) is None


# ---- the rule over data --------------------------------------------------------------------

T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


def history(*steps: tuple[datetime, dict[str, str]]) -> History:
    """Snapshots of dev and staging backend tags, one commit per step."""
    out = History("tip")
    for n, (when, tags) in enumerate(steps):
        refs = {env: {"backend": ImageRef(tag), "frontend": ImageRef("1.0")}
                for env, tag in tags.items()}
        out.snapshots.append(Snapshot(f"{n:040d}", when, f"step {n}", refs))
    return out


def refused(gate: config.Gate, ref: ImageRef, past: History, now: datetime) -> list[str]:
    return [f"{r.rule}: {r.message}" for r in gates.refusals(
        "staging", gate, {"backend": ref}, source="dev", history=past, now=now)]


def test_soak_counts_from_the_commit_that_gave_the_source_the_reference() -> None:
    past = history((T0, {"dev": "1.0", "staging": "1.0"}),
                   (T0 + 2 * HOUR, {"dev": "1.1", "staging": "1.0"}))
    gate = config.Gate(timedelta(hours=3))
    [early] = refused(gate, ImageRef("1.1"), past, now=T0 + 4 * HOUR)
    assert early.startswith("gate-min-soak: backend 1.1 has run in dev for 2h (since "
                            "2025-03-01 14:00 UTC, commit 00000000")
    assert "run again after 2025-03-01 17:00 UTC" in early
    assert "(gates.staging.minSoak)" in early
    assert refused(gate, ImageRef("1.1"), past, now=T0 + 5 * HOUR) == []


def test_only_what_the_source_runs_now() -> None:
    past = history((T0, {"dev": "1.0", "staging": "1.0"}), (T0 + HOUR, {"dev": "1.1"}),
                   (T0 + 2 * HOUR, {"dev": "1.2"}))
    gate = config.Gate(timedelta(0))
    [moved_on] = refused(gate, ImageRef("1.1"), past, now=T0 + 9 * HOUR)
    assert moved_on.startswith("gate-source: staging takes references from dev only")
    assert "dev does not run backend 1.1 (it runs 1.2)" in moved_on
    assert "gitops-gen promote dev staging" in moved_on
    assert refused(gate, ImageRef("1.2"), past, now=T0 + 9 * HOUR) == []


def test_a_reference_the_environment_ran_before_needs_no_soak() -> None:
    past = history((T0, {"dev": "1.0", "staging": "0.9"}), (T0 + HOUR, {"staging": "1.0"}),
                   (T0 + 2 * HOUR, {"dev": "1.1"}))
    assert refused(config.Gate(timedelta(days=7)), ImageRef("0.9"), past, T0 + 3 * HOUR) == []


def test_digest_required_of_what_is_received() -> None:
    gate = config.Gate(None, True)
    [tag_only] = refused(gate, ImageRef("1.1"), history(), T0)
    assert tag_only.startswith("gate-require-digest: staging takes images by digest only")
    assert "gitops-gen image set staging backend 1.1@sha256:<digest>" in tag_only
    assert refused(gate, ImageRef("1.1", DIGEST), history(), T0) == []
    assert refused(gate, ImageRef("", DIGEST), history(), T0) == []


# ---- on real repositories -----------------------------------------------------------------


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """dev, staging and prod, all on the chart's 1.0.0."""
    return template_repo(tmp_path_factory.mktemp("gates"), ["staging"],
                         ["prod", "--from", "staging"])


def set_gates(root: Path, text: str) -> None:
    path = root / layout.SETTINGS
    path.write_text(path.read_text() + text)
    git.Repo(root).git.commit("-q", "-am", "gates")


@contextmanager
def committed_at(monkeypatch: pytest.MonkeyPatch, when: datetime) -> Iterator[None]:
    """Commits made inside (by the tool or by hand) carry this date."""
    stamp = when.strftime("%Y-%m-%dT%H:%M:%S+00:00")
    with monkeypatch.context() as mp:
        mp.setenv("GIT_COMMITTER_DATE", stamp)
        mp.setenv("GIT_AUTHOR_DATE", stamp)
        yield


def now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def error_lines(output: str) -> list[str]:
    return [ln for ln in output.splitlines() if ln.startswith("error:")]


def branches(root: Path) -> list[str]:
    return sorted(h.name for h in git.Repo(root).heads)


def test_promote_waits_for_the_soak(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    set_gates(repo, "gates:\n  staging:\n    minSoak: 1h\n")
    since = now() - timedelta(minutes=20)
    with committed_at(monkeypatch, since):
        assert cli("image", "set", "dev", "backend", "1.1.0", repo=repo).exit_code == 0
    before = snapshot(repo)

    result = cli("promote", "dev", "staging", repo=repo)

    assert result.exit_code == 2, result.output
    [line] = error_lines(result.output)
    assert "backend 1.1.0 has run in dev for " in line and "(gates.staging.minSoak)" in line
    assert f"run again after {since + HOUR:%Y-%m-%d %H:%M} UTC" in line
    assert snapshot(repo) == before and branches(repo) == ["main"]

    # The same change, landed two hours ago: the soak is over.
    git.Repo(repo).git.reset("-q", "--hard", "HEAD~1")
    with committed_at(monkeypatch, now() - 2 * HOUR):
        assert cli("image", "set", "dev", "backend", "1.1.0", repo=repo).exit_code == 0
    result = cli("promote", "dev", "staging", repo=repo)
    assert result.exit_code == 0, result.output
    assert branches(repo) == ["main", "promote/dev-to-staging"]


def test_promote_past_a_gated_environment_is_refused(repo: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    set_gates(repo, "gates:\n  prod:\n    minSoak: 1h\n")
    with committed_at(monkeypatch, now() - 3 * HOUR):
        assert cli("image", "set", "dev", "backend", "1.1.0", repo=repo).exit_code == 0
    result = cli("promote", "dev", "prod", repo=repo)
    assert result.exit_code == 2, result.output
    [line] = error_lines(result.output)
    assert "prod takes references from staging only" in line
    assert "staging does not run backend 1.1.0 (it runs 1.0.0)" in line
    assert branches(repo) == ["main"]


def test_prod_requires_digests(repo: Path) -> None:
    set_gates(repo, "gates:\n  prod:\n    requireDigest: true\n")
    assert cli("image", "set", "staging", "backend", "1.1.0", repo=repo).exit_code == 0
    before = snapshot(repo)
    result = cli("promote", "staging", "prod", repo=repo)
    assert result.exit_code == 2, result.output
    [line] = error_lines(result.output)
    assert "prod takes images by digest only (gates.prod.requireDigest)" in line
    assert "gitops-gen image set prod backend 1.1.0@sha256:<digest>" in line
    assert snapshot(repo) == before and branches(repo) == ["main"]

    refused = cli("image", "set", "prod", "frontend", "1.0.1", repo=repo)
    assert refused.exit_code == 2 and "digest only" in refused.output
    assert snapshot(repo) == before

    assert cli("image", "set", "staging", "backend", f"1.1.0@{DIGEST}",
               repo=repo).exit_code == 0
    result = cli("promote", "staging", "prod", repo=repo)
    assert result.exit_code == 0, result.output
    assert f"backend: 1.0.0 (chart default) -> 1.1.0@{DIGEST}" in result.output


def test_image_set_is_gated_like_a_promotion(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    set_gates(repo, "gates:\n  staging:\n    minSoak: 30m\n")
    before = snapshot(repo)
    result = cli("image", "set", "staging", "backend", "9.9.9", repo=repo)
    assert result.exit_code == 2, result.output
    assert "dev does not run backend 9.9.9 (it runs 1.0.0)" in error_lines(result.output)[0]
    assert snapshot(repo) == before
    with committed_at(monkeypatch, now() - HOUR):
        assert cli("image", "set", "dev", "backend", "9.9.9", repo=repo).exit_code == 0
    assert cli("image", "set", "staging", "backend", "9.9.9", repo=repo).exit_code == 0


def gate_findings(root: Path, env: str) -> list[tuple[str, str, str | None, int | None]]:
    report = validate_repo(root, [env])
    return [(f.rule, f.severity, f.file, f.line) for f in report.findings
            if f.rule.startswith("gate-")]


def test_validate_judges_what_a_branch_gives_staging(repo: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    set_gates(repo, "gates:\n  staging:\n    minSoak: 1h\n")
    with committed_at(monkeypatch, now() - timedelta(minutes=10)):
        assert cli("image", "set", "dev", "backend", "1.1.0", repo=repo).exit_code == 0
    git.Repo(repo).git.checkout("-q", "-b", "by-hand")
    values = layout.values_path("staging")
    backend = set_value(repo, values, ["backend", "image", "tag"], "1.1.0")
    frontend = set_value(repo, values, ["frontend", "image", "tag"], "2.0.0")
    git.Repo(repo).git.commit("-q", "-am", "staging by hand")

    found = gate_findings(repo, "staging")

    assert sorted(found) == [("gate-min-soak", "error", values, backend),
                             ("gate-source", "error", values, frontend)]
    out = cli("validate", "staging", "--format", "json", repo=repo)
    assert out.exit_code == 1 and '"rule": "gate-min-soak"' in out.output
    # On main nothing is received: the gates have nothing to say.
    git.Repo(repo).git.checkout("-q", "main")
    assert gate_findings(repo, "staging") == []


def test_a_branch_cannot_loosen_the_gates_it_is_judged_by(
        repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    set_gates(repo, "gates:\n  staging:\n    minSoak: 1h\n")
    with committed_at(monkeypatch, now() - timedelta(minutes=10)):
        assert cli("image", "set", "dev", "backend", "1.1.0", repo=repo).exit_code == 0
    git.Repo(repo).git.checkout("-q", "-b", "impatient")
    settings = repo / layout.SETTINGS
    settings.write_text(settings.read_text().replace("minSoak: 1h", "minSoak: 0s"))
    set_value(repo, layout.values_path("staging"), ["backend", "image", "tag"], "1.1.0")
    git.Repo(repo).git.commit("-q", "-am", "no waiting")
    assert [f[0] for f in gate_findings(repo, "staging")] == ["gate-min-soak"]
    # Dropping the section altogether does not help either.
    settings.write_text(settings.read_text().split("gates:")[0])
    assert [f[0] for f in gate_findings(repo, "staging")] == ["gate-min-soak"]


def test_validate_passes_a_soaked_promotion(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    set_gates(repo, "gates:\n  staging:\n    minSoak: 1h\n")
    with committed_at(monkeypatch, now() - 2 * HOUR):
        assert cli("image", "set", "dev", "backend", "1.1.0", repo=repo).exit_code == 0
    assert cli("promote", "dev", "staging", repo=repo).exit_code == 0
    git.Repo(repo).git.checkout("-q", "promote/dev-to-staging")
    assert gate_findings(repo, "staging") == []
    assert validate_repo(repo, ["staging"]).ok


def test_validate_warns_of_tag_only_references_a_change_leaves_alone(repo: Path) -> None:
    set_gates(repo, "gates:\n  prod:\n    requireDigest: true\n")
    found = gate_findings(repo, "prod")
    assert [(r, s) for r, s, _, _ in found] == [("gate-require-digest", "warning")] * 2
    assert validate_repo(repo, ["prod"]).ok
    # A change that brings a tag without a digest is an error.
    git.Repo(repo).git.checkout("-q", "-b", "by-hand")
    line = set_value(repo, layout.values_path("prod"), ["backend", "image", "tag"], "1.0.1")
    assert ("gate-require-digest", "error", layout.values_path("prod"), line) in \
        gate_findings(repo, "prod")


def test_validate_without_git_history_says_the_gates_were_not_checked(
        repo: Path, tmp_path: Path) -> None:
    set_gates(repo, "gates:\n  staging:\n    minSoak: 1h\n")
    tree = tmp_path / "tree"
    shutil.copytree(repo, tree, ignore=shutil.ignore_patterns(".git"))
    report = validate_repo(tree, ["staging"])
    [finding] = [f for f in report.findings if f.rule.startswith("gate-")]
    assert (finding.rule, finding.severity) == ("gate-unchecked", "warning")
    assert "fetch-depth: 0" in finding.message and report.ok


def test_bad_gates_are_a_settings_finding_and_refuse_promote(repo: Path) -> None:
    set_gates(repo, "gates:\n  staging:\n    minSoak: soon\n")
    settings_lines = (repo / layout.SETTINGS).read_text().splitlines()
    report = validate_repo(repo, ["staging"])
    [bad] = [f for f in report.findings if f.rule == "settings"]
    assert bad.file == layout.SETTINGS and bad.line == len(settings_lines)
    assert "gates.staging.minSoak 'soon' is not a duration" in bad.message
    before = snapshot(repo)
    for args in (["image", "set", "dev", "backend", "1.1.0"], ["promote", "dev", "staging"]):
        result = cli(*args, repo=repo)
        assert result.exit_code == 2, result.output
        [line] = error_lines(result.output)
        assert f"{layout.SETTINGS}:{len(settings_lines)}: gates.staging.minSoak" in line
        assert snapshot(repo) == before


def test_env_add_keeps_the_gates_section(repo: Path) -> None:
    set_gates(repo, "gates:\n  # reviewed by the release team\n  prod:\n    minSoak: 24h\n")
    assert cli("env", "add", "qa", repo=repo).exit_code == 0
    text = (repo / layout.SETTINGS).read_text()
    assert "# reviewed by the release team" in text
    assert config.load_gates(repo) == {"prod": config.Gate(timedelta(hours=24))}
    assert config.load(repo).environments == ("dev", "staging", "prod", "qa")
