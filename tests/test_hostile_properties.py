"""Generated hostile input (Hypothesis): whatever the bytes, the readers answer with data or
with their own error, never another exception, and what they return stays within the limits."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gitops_gen.checks.findings import Finding
from gitops_gen.checks.repofiles import VALUES_TOP, load_file
from gitops_gen.errors import ChartError, InputError, MissingError, PathRefused, YamlError
from gitops_gen.model import chart
from gitops_gen.repo import config, limits, safefs, yamlio
from gitops_gen.secrets import sopsconfig

SETTINGS = settings(max_examples=150, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow,
                                           HealthCheck.function_scoped_fixture])

# YAML-looking text: the tokens YAML gives meaning to, control characters, and anchors.
TOKENS = st.sampled_from(["a", "b", ":", " ", "\n", "  ", "- ", "[", "]", "{", "}", ",", "&x",
                          "*x", "&y", "*y", "<<: ", "!!str", "!!int", "!!timestamp", "!!binary",
                          "---", "...", "?", "|", ">", "'", '"', "#", "%YAML 1.2", "\t", "\x00",
                          "\x1b", "\ufeff", "\udcff", "0x", "1e999", "~", "null", "yes"])
YAMLISH = st.lists(TOKENS, max_size=60).map("".join) | st.text(max_size=300)


def size(node: Any) -> int:
    if isinstance(node, dict):
        return 1 + sum(size(k) + size(v) for k, v in node.items())
    if isinstance(node, list):
        return 1 + sum(size(v) for v in node)
    return 1


@SETTINGS
@given(YAMLISH)
def test_round_trip_loading_answers_data_or_a_yaml_error(text: str) -> None:
    try:
        data = yamlio.load(text, "f.yaml")
    except YamlError as exc:
        assert exc.problem and "\n" not in exc.render()
        return
    plain = yamlio.to_plain(data)
    assert size(plain) <= limits.MAX_NODES * 2
    json.dumps(plain, default=str)


@SETTINGS
@given(YAMLISH)
def test_fast_loading_answers_data_or_a_yaml_error(text: str) -> None:
    try:
        docs = list(yamlio.load_all_fast(text))
    except yaml.YAMLError:
        return
    assert sum(size(d) for d in docs) <= limits.MAX_NODES * 2 * max(1, len(docs))


@st.composite
def alias_trees(draw: st.DrawFn) -> str:
    """Documents whose mappings refer to earlier anchors, many times over."""
    lines = ["a0: &a0 [x, y]"]
    for n in range(1, draw(st.integers(1, 12))):
        refs = draw(st.lists(st.integers(0, n - 1), min_size=1, max_size=12))
        lines.append(f"a{n}: &a{n} [{', '.join(f'*a{r}' for r in refs)}]")
    return "\n".join(lines) + "\n"


@SETTINGS
@given(alias_trees())
def test_aliases_are_bounded_whatever_their_shape(text: str) -> None:
    for load in (lambda: yamlio.to_plain(yamlio.load(text, "f")),
                 lambda: list(yamlio.load_all_fast(text))):
        try:
            data = load()
        except (YamlError, yaml.YAMLError) as exc:
            assert "aliases are expanded" in str(exc)
            continue
        assert size(data) <= limits.MAX_NODES + 1


@SETTINGS
@given(st.binary(max_size=400))
def test_decoding_answers_text_or_refuses(data: bytes) -> None:
    try:
        text = safefs.decode("f.yaml", data)
    except PathRefused as exc:
        assert exc.line is not None and "not UTF-8" in exc.problem
        return
    assert isinstance(text, str)


@SETTINGS
@given(YAMLISH)
def test_sops_rules_are_checked_never_crash(text: str) -> None:
    try:
        data = yamlio.load(text, ".sops.yaml")
    except YamlError:
        return
    for problem in sopsconfig.problems(data):
        assert problem.message


@pytest.fixture(scope="module")
def scratch(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("properties")


@SETTINGS
@given(st.binary(max_size=400) | YAMLISH.map(lambda t: t.encode("utf-8", "surrogatepass")))
def test_settings_load_or_refuse(scratch: Path, content: bytes) -> None:
    (scratch / ".gitops-gen.yaml").write_bytes(content)
    try:
        loaded = config.load(scratch)
    except (InputError, MissingError):
        return
    assert isinstance(loaded.repo_url, str) and isinstance(loaded.kube_version, str)


@SETTINGS
@given(st.binary(max_size=400) | YAMLISH.map(lambda t: t.encode("utf-8", "surrogatepass")))
def test_an_overlay_loads_or_is_a_finding(scratch: Path, content: bytes) -> None:
    (scratch / "values.yaml").write_bytes(content)
    found: list[Finding] = []
    loaded = load_file(scratch, "values.yaml", "dev", found, VALUES_TOP)
    assert loaded.data is None or isinstance(loaded.data, dict)
    assert (loaded.data is None) or not found


@SETTINGS
@given(YAMLISH, st.sampled_from(["Chart.yaml", "values.yaml", "values.schema.json"]))
def test_chart_files_pass_or_are_a_chart_error(text: str, name: str) -> None:
    data = text.encode("utf-8", "surrogatepass")
    try:
        chart.check_files({name: data})
    except ChartError as exc:
        assert exc.file == f"chart/{name}"
