"""yamlio.read (PyYAML's C parser, for files only read) against yamlio.load (ruamel round-trip,
for files written back): the same data, the same line for every key and item, or the same
YamlError at the same line, over every YAML file a repository holds and the corners of YAML."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from ruamel.yaml.comments import TaggedScalar

from gitops_gen.checks.findings import Finding
from gitops_gen.checks.repofiles import load_file
from gitops_gen.errors import YamlError
from gitops_gen.repo import yamlio

from .helpers import template_repo
from .test_safefs import HOSTILE


def _plain(data: Any) -> str:
    """data as JSON text (key order, and bool/int/float, kept; dates as ISO text). A scalar
    round-trip keeps as an opaque tagged object (`!!str 12`, `!thing x`, `=`) compares as its
    text, which read() gives: the one deliberate difference."""
    def other(value: Any) -> str:
        if isinstance(value, TaggedScalar):
            return str(value.value)
        return value.isoformat() if hasattr(value, "isoformat") else repr(value)
    return json.dumps(yamlio.to_plain(data), default=other, ensure_ascii=False)


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    if isinstance(node, dict):
        for key, value in node.items():
            yield (*prefix, key)
            yield from _paths(value, (*prefix, key))
    elif isinstance(node, list):
        for n, value in enumerate(node):
            yield (*prefix, n)
            yield from _paths(value, (*prefix, n))


def outcome(load: Any, text: str) -> tuple[str, Any]:
    try:
        docs = load(text, "f.yaml")
    except YamlError as exc:
        return "error", (exc.line, exc.problem)
    return "data", docs


def assert_same(text: str, strict: bool = True) -> None:
    """Both loaders, one document and every document of text: the same data and lines, or
    both a YamlError at the same line. Not strict: text only one of the two scanners (libyaml,
    ruamel's) refuses passes too."""
    for round_trip, fast in ((yamlio.load, yamlio.read),
                             (yamlio.load_documents, yamlio.read_documents)):
        want, got = outcome(round_trip, text), outcome(fast, text)
        if not strict and want[0] != got[0]:
            continue
        assert want[0] == got[0], (text, want, got)
        if want[0] == "error":
            # An empty value of a merge key: ruamel marks it at the next token, libyaml at
            # the key's line; both refuse it.
            if not strict and "for merging" in want[1][1]:
                continue
            # A block scalar's indicator touching a comment (`!!int |#`): ruamel refuses it at
            # that line, libyaml reads an empty scalar that the tag then cannot build.
            if not strict and "chomping or indentation indicators" in want[1][1]:
                continue
            assert want[1][0] == got[1][0], (text, want, got)
            continue
        assert _plain(got[1]) == _plain(want[1]), text
        docs = zip(want[1], got[1], strict=True) if round_trip is yamlio.load_documents \
            else [(want[1], got[1])]
        for old, new in docs:
            for path in _paths(old):
                # A key round-trip keeps as a tagged scalar is its text in read()'s data.
                same = [k.value if isinstance(k, TaggedScalar) else k for k in path]
                assert yamlio.line_of(new, same) == yamlio.line_of(old, path), (text, path)


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return template_repo(tmp_path_factory.mktemp("yaml-read"),
                         ["staging", "--host", "staging.example.com"])


def test_every_yaml_file_of_a_repository_reads_as_round_trip(repo: Path) -> None:
    files = [p for p in sorted(repo.rglob("*.y*ml")) if ".git" not in p.parts
             and "templates" not in p.parts]
    names = {p.relative_to(repo).as_posix() for p in files}
    # Overlays, SOPS files, Applications, AppProjects, the rules and the settings among them.
    assert {"overlays/dev/values.yaml", "overlays/staging/secrets.sops.yaml",
            "gitops/apps/staging.yaml", ".sops.yaml", ".gitops-gen.yaml"} <= names
    assert any(n.startswith("gitops/projects/") for n in names)
    for path in files:
        text = path.read_text()
        assert yamlio.read(text, path.name) is not None
        assert_same(text)


EDGE_CASES = [
    "a: &base {cpu: 100m, mem: 1Gi}\nb: *base\nc: [*base, *base]\n",
    "base: &b {x: 1, y: 2}\nm:\n  <<: *b\n  y: 3\n",
    "a: &a {x: 1, y: 1}\nb: &b {x: 2, z: 2}\nc:\n  <<: [*a, *b]\n  w: 3\n",
    "a: &a {x: 1}\nc:\n  x: 2\n  <<: *a\n",
    "a: &a {x: 1}\nb: &b {<<: *a, y: 2}\nc: {<<: *b, z: 3}\n",
    "a: &a {x: 1}\nb:\n  <<: *a\n  <<: *a\n",  # two merge keys
    "a: &a [1]\nc:\n  <<: *a\n",  # merging a list of scalars
    "c:\n  <<: 1\n",
    "a: 1\nb: 2\na: 3\n",  # duplicate keys
    "x:\n  a: 1\n\n  a: 3\n",
    "1: a\n1.0: b\n",
    "'a': 1\na: 2\n",
    "list:\n  - name: a\n  - {name: b, name: c}\n",
    "a: yes\nb: no\nc: on\nd: off\ne: y\nf: n\ng: Yes\nh: ON\ni: true\nj: False\nk: TRUE\n",
    "a: 0o17\nb: 017\nc: 09\nd: 0b101\ne: -0x1F\nf: 0x1f\ng: 1_000\nh: +12\ni: 0o\nj: 1__0\n",
    "a: 1:30\nb: 190:20:30\nc: 1e3\nd: 1.\ne: .5\nf: 12e03\ng: 1.0e+3\nh: 1_0.5_0\ni: 0.\n",
    "a: .inf\nb: -.INF\nc: .NaN\nd: +.inf\ne: 1E3\n",
    "a: 2024-01-01\nb: 2024-01-01T10:00:00Z\nc: 2001-12-14 21:59:43.10 -5\n"
    "d: 2001-12-14t21:59:43.10-05:00\ne: 2001-12-14 21:59:43\nf: 2024-1-1\n",
    "a: ~\nb: null\nc: Null\nd: NULL\ne:\nf: ''\ng: 'null'\n",
    "a: !!str 12\nb: !!int '12'\nc: !!float 1\nd: !!bool yes\ne: !!null ''\nf: !!binary aGk=\n",
    "a: !!timestamp 2020-99-99\n",
    "a: !!int 1.5\n",
    "a: !custom {x: 1}\nb: !c [1, 2]\nc: !c s\n",
    "a: 1\n---\nb: 2\n",
    "---\na: 1\n...\n---\n# nothing\n---\nb: [x]\n",
    "",
    "# only a comment\n",
    "---\n...\n",
    "a: 1 # trailing\n# between\nb:\n  # inside\n  - x # item\n  - y\n",
    "ünï: cödé ✓\nemoji: \"\\U0001F600\"\n'quoted key': \"a\\tb\"\n",
    "a:\n\tb: 1\n",  # a tab for indentation
    "a: b: c\n",
    "a: [1, 2\n",
    "a: 'unterminated\n",
    "a: *undefined\n",
    "- a\n- b: 1\n  c: [x, {y: z}]\n-\n  - nested\n",
    "? [1, 2]\n: pair\n",
    "? complex\n: value\n",
    "long: |\n  line one\n  line two\nfolded: >-\n  folded\n  text\n",
    "a: &a [1, *a]\n",
    "a: &a\n  - 1\n  - b:\n      c: *a\n",  # a cycle over several lines: told at the alias
    "a: &a 1\nb: &a [x, *a]\n",  # an anchor defined again: the alias means the latest
    "- " * 64 + "x\n",
    "- " * 65 + "x\n",
    "a: \x1b[31mred\n",
    "%YAML 1.1\n---\na: yes\n",
    "a: =\n",
]


@pytest.mark.parametrize("text", EDGE_CASES)
def test_corners_of_yaml_read_as_round_trip(text: str) -> None:
    assert_same(text)


def test_yes_is_a_string_in_both() -> None:
    for load in (yamlio.load, yamlio.read):
        data = load("enabled: yes\nmode: on\ntls: true\nport: 017\n", "f")
        assert yamlio.to_plain(data) == {"enabled": "yes", "mode": "on", "tls": True,
                                         "port": 17}


def test_duplicate_keys_are_an_error_with_the_line() -> None:
    with pytest.raises(YamlError) as caught:
        yamlio.read("a:\n  password: one\n  password: two\n", "overlays/dev/values.yaml")
    assert caught.value.line == 3
    assert caught.value.problem == \
        "duplicate key 'password' in the mapping that starts at line 2"
    assert "one" not in caught.value.render() and "two" not in caught.value.render()


def test_lines_of_keys_and_items_and_their_nearest_parent() -> None:
    text = "a:\n  b:\n    - x\n    - c: 1\n      d: [2, 3]\n  base: &m {k: 1}\ne:\n  <<: *m\n"
    data = yamlio.read(text, "f")
    assert isinstance(data, yamlio.LineMap) and isinstance(data["a"]["b"], yamlio.LineSeq)
    assert yamlio.line_of(data, ["a", "b", 1, "d"]) == 5
    assert yamlio.line_of(data, ["a", "b", 0]) == 3
    assert yamlio.line_of(data, ["a", "missing", "deeper"]) == 1
    # A key a merge key brought in has no line of its own: its mapping's.
    assert yamlio.line_of(data, ["e", "k"]) == yamlio.line_of(yamlio.load(text, "f"),
                                                              ["e", "k"]) == 7


def test_validation_reads_files_with_lines(tmp_path: Path) -> None:
    (tmp_path / "values.yaml").write_text("a:\n  b: 1\n")
    loaded = load_file(tmp_path, "values.yaml", None, found := list[Finding]())
    assert not found and isinstance(loaded.data, yamlio.LineMap)
    assert loaded.line(["a", "b"]) == 2


# YAML-looking text: the tokens YAML gives meaning to.
TOKENS = st.sampled_from(["a", "b", "1", "0o1", "yes", ":", " ", "\n", "  ", "- ", "[", "]",
                          "{", "}", ",", "&x ", "*x", "&y ", "*y", "<<: ", "!!str ", "!!int ",
                          "---", "...", "?", "|", ">", "'", '"', "#", "~", "null"])


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(TOKENS, max_size=40).map("".join))
def test_generated_yaml_reads_as_round_trip(text: str) -> None:
    """Where both parse, or both refuse: equal. The scanners differ on some corners (ruamel
    refuses a trailing tab, `!!str!!str` and `&x:` as an anchor without a value, libyaml reads
    them), so that is all it asks, and tabs are left to the cases above."""
    assert_same(text, strict=False)


@pytest.mark.parametrize(("text", "problem", "line"), HOSTILE)
def test_read_refuses_what_load_refuses(text: str, problem: str, line: int | None) -> None:
    for read in (yamlio.read, yamlio.read_documents):
        with pytest.raises(YamlError) as caught:
            read(text, "overlays/dev/values.yaml")
        assert problem in caught.value.problem
        assert caught.value.line == line


def test_nesting_up_to_the_limit_reads_and_past_it_is_refused_alike() -> None:
    allowed = "[" * 63 + "x" + "]" * 63 + "\n"  # 63 sequences and a scalar: 64 levels
    assert_same(allowed)
    data = yamlio.read(allowed, "f")
    for _ in range(63):
        data = data[0]
    assert data == "x"
    assert_same("[" * 64 + "x" + "]" * 64 + "\n")  # 65 levels: both refuse it at line 1
    with pytest.raises(YamlError, match="nested more than 64 levels deep"):
        yamlio.read("[" * 64 + "x" + "]" * 64 + "\n", "f")
    deep = "[" * 1200 + "]" * 1200 + "\n"  # past libyaml's own nesting limit too
    assert_same(deep)
    with pytest.raises(YamlError, match="nested more than 64 levels deep"):
        yamlio.read(deep, "f")
