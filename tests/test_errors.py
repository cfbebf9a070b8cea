"""The error family (errors.py): every class of it lives there, and each branch has the exit
code docs/security.md ("Exit codes") gives it.

The command line itself is held to the codes elsewhere, one test per branch at least:
exit 1 tests/test_promote.py test_promotion_that_does_not_validate_keeps_nothing, exit 2 (bad
input) tests/test_hostile.py, exit 3 tests/test_interrupted.py
test_a_read_only_file_system_is_exit_3_and_changes_nothing, 128+N tests/test_interrupted.py
test_sigterm_at_any_moment_leaves_before_or_committed.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import re
import signal
from pathlib import Path

import pytest

import gitops_gen
from gitops_gen import errors
from gitops_gen.errors import (
    GitopsGenError,
    InputError,
    MissingError,
    Stopped,
    ValidationFailed,
)

# Exceptions that never reach the CLI's exit codes, each with the one-line reason beside it.
INTERNAL = {
    "gitops_gen.repo.yamlio._Problem",
    "gitops_gen.repo.yamlio._Duplicate",
    "gitops_gen.repo.yamlio.LimitError",
    "gitops_gen.checks.isolated.WorkerFailed",
    "gitops_gen.service.admission.Refused",
    "gitops_gen.service.reportcache.Abandoned",
}
BRANCHES = {ValidationFailed: 1, InputError: 2, MissingError: 3}


def all_modules() -> list[str]:
    names = [m.name for m in pkgutil.walk_packages(gitops_gen.__path__, "gitops_gen.")
             if not m.name.endswith(".__main__")]  # that one runs the CLI
    for name in names:
        importlib.import_module(name)
    return names


def family(cls: type[BaseException]) -> list[type[BaseException]]:
    found = []
    for sub in cls.__subclasses__():
        found += [sub, *family(sub)]
    return found


def test_every_class_of_the_family_is_defined_in_errors_py() -> None:
    all_modules()
    strays = sorted(f"{c.__module__}.{c.__qualname__}" for c in family(GitopsGenError)
                    if c.__module__.startswith("gitops_gen.") and c.__module__ != errors.__name__)
    assert strays == [], "define the class in errors.py and import it from there"


def test_no_other_exception_class_is_defined_outside_errors_py() -> None:
    defined = set()
    for name in all_modules():
        for obj in vars(importlib.import_module(name)).values():
            if (inspect.isclass(obj) and issubclass(obj, BaseException)
                    and obj.__module__ == name and name != errors.__name__):
                defined.add(f"{name}.{obj.__qualname__}")
    assert defined == INTERNAL


def error_classes() -> list[type[GitopsGenError]]:
    return [c for c in vars(errors).values()
            if inspect.isclass(c) and issubclass(c, GitopsGenError) and c is not GitopsGenError]


@pytest.mark.parametrize("cls", error_classes(), ids=lambda c: c.__name__)
def test_each_class_is_in_one_branch_with_its_code(cls: type[GitopsGenError]) -> None:
    branches = [b for b in BRANCHES if issubclass(cls, b)]
    assert len(branches) == 1, f"{cls.__name__} belongs to exactly one of {list(BRANCHES)}"
    assert cls.exit_code == BRANCHES[branches[0]]


def test_the_codes_are_the_documented_ones() -> None:
    table = (Path(__file__).resolve().parents[1] / "docs" / "security.md").read_text()
    documented = dict(re.findall(r"^\| (\d) \| (\S+)", table, re.M))
    assert {str(code) for code in BRANCHES.values()} | {"0"} == set(documented)
    assert Stopped(signal.SIGTERM).code == 143
    assert Stopped(signal.SIGINT).code == 130


def test_the_module_docstring_names_every_class() -> None:
    doc = errors.__doc__ or ""
    missing = [c.__name__ for c in (*error_classes(), Stopped) if c.__name__ not in doc]
    assert missing == []


def test_a_message_ends_with_its_fix() -> None:
    error = ValidationFailed(["a", "b", "c", "d"], "the service does not validate")
    assert error.render() == ("the service does not validate: a; b; c; fix the inputs or the "
                              "chart and run again (nothing was written)")
    assert str(errors.SettingsError(".gitops-gen.yaml", "gates must be a mapping", "fix", 4)) \
        == ".gitops-gen.yaml:4: gates must be a mapping; fix"
