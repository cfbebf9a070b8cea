"""Reading inside the repository only, and YAML within limits: links, FIFOs, sizes, encodings,
alias bombs, nesting, cycles."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml

from gitops_gen.errors import InputError, PathRefused, TreeTooLarge, YamlError
from gitops_gen.repo import limits, safefs, yamlio

from .helpers import without_hanging


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """A repository root beside an outside directory holding a marker file."""
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("MARKER-outside\n")
    root = tmp_path / "repo"
    (root / "chart" / "files").mkdir(parents=True)
    (root / "chart" / "values.yaml").write_text("a: 1\n")
    return root


def test_links_are_refused_wherever_they_are_on_the_way(tree: Path, tmp_path: Path) -> None:
    secret = tmp_path / "outside" / "secret.txt"
    (tree / "chart" / "files" / "k").symlink_to(secret)
    (tree / "overlays").symlink_to(tmp_path / "outside")
    (tree / "inner").symlink_to(tree / "chart" / "values.yaml")  # even one that stays inside
    for rel, where in (("chart/files/k", "chart/files/k"), ("overlays/secret.txt", "overlays"),
                       ("inner", "inner")):
        with pytest.raises(PathRefused, match="is a symbolic link") as caught:
            safefs.read_text(tree, rel)
        assert caught.value.path == where
        assert "MARKER" not in caught.value.render()
    assert safefs.kind(tree, "chart/files/k") == "link"
    assert not safefs.is_file(tree, "chart/files/k") and not safefs.is_dir(tree, "overlays")
    with pytest.raises(PathRefused, match="chart/files/k: is a symbolic link"):
        safefs.read_tree(tree, "chart")
    assert safefs.read_text(tree, "chart/values.yaml") == "a: 1\n"
    assert safefs.read_text(tree, "chart/nothing.yaml") is None
    assert safefs.read_text(tree, "chart/values.yaml/x") is None


def test_a_fifo_is_refused_without_blocking(tree: Path) -> None:
    os.mkfifo(tree / "chart" / "values.schema.json")
    with pytest.raises(PathRefused, match="not a regular file"):
        without_hanging(lambda: safefs.read_bytes(tree, "chart/values.schema.json"))


def test_size_and_encoding(tree: Path) -> None:
    (tree / "chart" / "big.yaml").write_bytes(b"x" * (limits.MAX_FILE_BYTES + 1))
    with pytest.raises(PathRefused, match="over the 1048576-byte limit"):
        safefs.read_text(tree, "chart/big.yaml")
    (tree / "chart" / "latin1.yaml").write_bytes(b"a: 1\nb: caf\xe9\n")
    with pytest.raises(PathRefused, match=r"not UTF-8 text \(byte 0xe9 on line 2\)") as bad:
        safefs.read_text(tree, "chart/latin1.yaml")
    assert bad.value.line == 2
    (tree / "chart" / "bom.yaml").write_bytes(b"\xef\xbb\xbfa: 1\n")
    assert safefs.read_text(tree, "chart/bom.yaml") == "a: 1\n"


@pytest.mark.parametrize("rel", ["", "/etc/passwd", "../x", "chart/../../x", "chart//x", "a\0b"])
def test_paths_must_stay_relative(tree: Path, rel: str) -> None:
    with pytest.raises(InputError):
        safefs.read_text(tree, rel)


@pytest.mark.parametrize(("base", "target", "expected"), [
    ("chart", "../overlays/dev/values.yaml", "overlays/dev/values.yaml"),
    ("chart", "values.yaml", "chart/values.yaml"),
    ("chart", "../../../../etc/passwd", None),
    ("chart", "../..", None),
    ("chart", "..", None),
    ("chart", "/etc/passwd", None),
    ("chart", "", None),
])
def test_inside_resolves_by_text_alone(base: str, target: str, expected: str | None) -> None:
    assert safefs.inside(base, target) == expected


def test_walk_stops_at_its_caps(tree: Path) -> None:
    deep = tree / "gitops"
    for n in range(5):
        deep = deep / f"d{n}"
    deep.mkdir(parents=True)
    with pytest.raises(TreeTooLarge, match="nested more than 3"):
        list(safefs.walk(tree, "gitops", max_depth=3))
    for n in range(12):
        (tree / "chart" / "files" / f"f{n}").write_text("x")
    with pytest.raises(TreeTooLarge, match="more than 10 files"):
        list(safefs.walk(tree, "chart", max_files=10))
    assert len(safefs.read_tree(tree, "chart")) == 13


# ---- YAML within limits --------------------------------------------------------------------


def alias_bomb(levels: int = 9) -> str:
    lines = ["a: &a [x, x, x, x, x, x, x, x, x]"]
    prev = "a"
    for name in "bcdefghijk"[: levels - 1]:
        lines.append(f"{name}: &{name} [" + ", ".join([f"*{prev}"] * 9) + "]")
        prev = name
    return "\n".join(lines) + "\n"


HOSTILE = [
    (alias_bomb(), "more than 100000 values once aliases are expanded", 6),
    ("a: &a " + "x" * 100_000 + "\nb: [" + ", ".join(["*a"] * 50) + "]\n",
     "characters once aliases are expanded", 2),
    ("a: &a [1, *a]\n", "a cycle", 1),
    ("[" * 20_000, "nested more than 64 levels deep", 1),
    ("- " * 70 + "x\n", "nested more than 64 levels deep", 1),
    ("ok: 1\nbad: \x00\n", "U+0000 is not allowed", 2),
    ("a: \x1b[31mred\n", "U+001B is not allowed", 1),
    ("a: !!timestamp 2020-99-99\n", "a value cannot be read (ValueError)", None),
    ("a: " + "1" * 5000 + "\n", "a value cannot be read", None),
]


@pytest.mark.parametrize(("text", "problem", "line"), HOSTILE)
def test_round_trip_loading_refuses_hostile_yaml(text: str, problem: str,
                                                 line: int | None) -> None:
    with pytest.raises(YamlError) as caught:
        without_hanging(lambda: yamlio.load(text, "overlays/dev/values.yaml"))
    assert problem in caught.value.problem
    assert caught.value.line == line


@pytest.mark.parametrize(("text", "problem", "line"), HOSTILE)
def test_fast_loading_refuses_with_a_yaml_error(text: str, problem: str,
                                                line: int | None) -> None:
    with pytest.raises(yaml.YAMLError):
        list(yamlio.load_all_fast(text))


def test_aliases_within_limits_still_load() -> None:
    text = "base: &base {cpu: 100m}\nbackend: {resources: *base}\nfrontend: {resources: *base}\n"
    assert yamlio.to_plain(yamlio.load(text, "f")) == {
        "base": {"cpu": "100m"}, "backend": {"resources": {"cpu": "100m"}},
        "frontend": {"resources": {"cpu": "100m"}}}
    assert list(yamlio.load_all_fast(text + "---\nb: 2\n"))[1] == {"b": 2}


def test_round_trip_files_have_a_size_cap() -> None:
    text = "a: " + "x" * limits.MAX_EDITED_YAML_BYTES + "\n"
    with pytest.raises(YamlError, match="over the 262144-character limit"):
        yamlio.load(text, "f")
