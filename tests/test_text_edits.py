"""Edits of the files that grow with every environment (.sops.yaml: a rule each;
.gitops-gen.yaml: the promotion order) made in their text, so that env add costs the same in a
repository of hundreds of environments: the same bytes as the round trip, and the round trip
whenever a file is laid out in a way the text edit does not know."""

from __future__ import annotations

from pathlib import Path

import pytest

from gitops_gen.repo import config, layout, yamlio
from gitops_gen.secrets import sopsconfig

from .helpers import new_repo

KEY = "age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p"
RULE = {"path_regex": r"^overlays/qa/secrets\.sops\.yaml$", "age": KEY}


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return new_repo(tmp_path_factory.mktemp("edits") / "gitops", ["dev"], ["staging"], ["prod"])


def _round_trip_rule(root: Path, env: str) -> str:
    return sopsconfig.render(sopsconfig.with_rule(sopsconfig.load(root), env, [KEY]))


def test_a_new_rule_is_what_the_round_trip_writes(repo: Path) -> None:
    text = (repo / layout.SOPS_CONFIG).read_text()
    edited = sopsconfig.text_with_rule(repo, sopsconfig.read(repo), "qa", [KEY])
    assert edited == _round_trip_rule(repo, "qa")
    assert edited.startswith(text)  # appended: every byte before it kept


def test_a_new_rule_goes_before_a_catch_all_rule(repo: Path, tmp_path: Path) -> None:
    text = (repo / layout.SOPS_CONFIG).read_text() + \
        "  # anything else: the team key\n  - age: " + KEY + "\n"
    (tmp_path / layout.SOPS_CONFIG).write_text(text)
    edited = sopsconfig.text_with_rule(tmp_path, sopsconfig.read(tmp_path), "qa", [KEY])
    assert list(yamlio.load_all_fast(edited)) == list(
        yamlio.load_all_fast(_round_trip_rule(tmp_path, "qa")))
    # and the comment stays with the rule it is about (the round trip moves it up one rule)
    assert edited.endswith(f"  - path_regex: ^overlays/qa/secrets\\.sops\\.yaml$\n"
                           f"    age: {KEY}\n  # anything else: the team key\n  - age: {KEY}\n")


def test_a_new_environment_is_what_the_round_trip_writes(repo: Path) -> None:
    text = (repo / layout.SETTINGS).read_text()
    settings = config.load(repo)
    edited = config.render_with_env(settings, "qa", text)
    assert edited == config.render(settings.with_env("qa"), text)
    assert edited != text and "  - qa\n" in edited


def test_settings_that_render_would_change_go_the_round_trip(repo: Path) -> None:
    """kubeVersion written unquoted (1.30 reads as 1.3): render() writes it back as '1.30',
    which a text edit of the list alone would not."""
    text = (repo / layout.SETTINGS).read_text().replace("kubeVersion: '1.30'", "kubeVersion: 1.3")
    settings = config.load(repo)
    assert config.render_with_env(settings, "qa", text) == config.render(settings.with_env("qa"),
                                                                         text)
    assert "kubeVersion: '1.30'" in config.render_with_env(settings, "qa", text)


@pytest.mark.parametrize("text, index, item, expected", [
    # the end of a list, before what follows it; blank lines and comments after it stay there
    ("a:\n  - x\n# about b\n\nb: 1\n", None, "w", "a:\n  - x\n  - w\n# about b\n\nb: 1\n"),
    # a list whose dashes sit at the key's column keeps that layout
    ("a:\n- x\n- z\n", 1, "w", "a:\n- x\n- w\n- z\n"),
    # a comment above an item stays above that item
    ("a:\n  - x\n  # z is last\n  - z\n", 1, "w", "a:\n  - x\n  - w\n  # z is last\n  - z\n"),
    # a mapping item, written as dump() writes one
    ("r:\n  - p: 1\n    q: 2\n", None, {"p": 3, "q": 4},
     "r:\n  - p: 1\n    q: 2\n  - p: 3\n    q: 4\n"),
    # a string YAML would read as something else is quoted
    ("a:\n  - x\n", None, "on", "a:\n  - x\n  - 'on'\n"),
])
def test_insert_item(text: str, index: int | None, item: object, expected: str) -> None:
    assert yamlio.insert_item(text, next(iter(text.split(":"))), index, item) == expected


@pytest.mark.parametrize("text", [
    "a: [x, z]\n",  # a flow list
    "a: []\n",  # empty: written flow
    "b:\n  - x\n",  # no such key
    "a:\n  - x\n  - z",  # no final line break
    "a:\n  -   x\n",  # an indentation dump() would not write
    "- a\n",  # no mapping at the top
    "a:\n  - x\nb: [unclosed\n",  # does not parse
])
def test_insert_item_leaves_unknown_layouts_to_the_round_trip(text: str) -> None:
    assert yamlio.insert_item(text, "a", None, "w") is None
