"""The secrets plans (model/envsecrets.py) as data: their messages, notes and refusals in full.

test_secrets_lifecycle.py drives the same code through the CLI and proves the effects with
sops itself; here each plan is made in memory against a real repository and real sops, and
what it would commit and tell the user is compared word for word.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import git
import pytest

from gitops_gen.errors import ConflictError, InputError
from gitops_gen.model import envsecrets
from gitops_gen.model.envsecrets import DB_REMINDER, SecretInfo
from gitops_gen.repo import layout
from gitops_gen.secrets import sops, sopsconfig

from .conftest import AgeKey, make_age_key
from .helpers import env_add, new_repo

ROTATED_DB = ("\n\nBefore this reaches the cluster, change the password inside the existing "
              "PostgreSQL volume too (ALTER ROLE): the postgres image reads POSTGRES_PASSWORD "
              "only at first initialisation. See overlays/README.md.")
SESSIONS = (f"{sops.SECRET_KEY} changed: sessions and tokens signed with the old key stop "
            "working once the backend restarts")


@pytest.fixture
def dev(tmp_path: Path, age_key: AgeKey) -> Path:
    root = new_repo(tmp_path / "gitops")
    assert age_key.path.is_file()
    env_add(root, "dev")
    return root


def test_rotating_every_generated_key_says_what_to_do_next(dev: Path) -> None:
    plan = envsecrets.plan_rotate(dev, "dev")
    assert plan.message == (f"secrets: rotate {sops.DB_PASSWORD}, {sops.SECRET_KEY} in dev\n\n"
                            f"The SOPS data key was rotated too.{ROTATED_DB}")
    assert plan.notes == [DB_REMINDER, SESSIONS]
    assert [c.path for c in plan.pending] == [layout.secrets_path("dev")]


def test_rotating_the_secret_key_alone_mentions_no_database(dev: Path) -> None:
    plan = envsecrets.plan_rotate(dev, "dev", [sops.SECRET_KEY, sops.SECRET_KEY])
    assert plan.message == (f"secrets: rotate {sops.SECRET_KEY} in dev\n\n"
                            "The SOPS data key was rotated too.")
    assert plan.notes == [SESSIONS]


def test_rotating_a_key_that_is_only_set_names_the_environment_in_the_fix(dev: Path) -> None:
    with pytest.raises(InputError) as caught:
        envsecrets.plan_rotate(dev, "dev", [sops.GEMINI_KEY])
    assert caught.value.message == f"{sops.GEMINI_KEY} cannot be generated, only set"
    assert caught.value.fix == (f"set it with 'gitops-gen secrets set dev {sops.GEMINI_KEY}' "
                                "(value on stdin)")


def test_a_secret_never_committed_has_no_last_change() -> None:
    info = SecretInfo(sops.SECRET_KEY, ["age1x"], None, None, False)
    assert info.to_dict() == {"key": sops.SECRET_KEY, "recipients": ["age1x"],
                              "lastChange": None, "placeholder": False}
    info = SecretInfo(sops.GEMINI_KEY, ["age1x"], "0123abcd", "2026-01-02", True)
    assert info.to_dict()["lastChange"] == {"sha": "0123abcd", "date": "2026-01-02"}


def test_a_plan_says_when_the_file_and_its_sops_rule_disagree(
    dev: Path, age_key: AgeKey, tmp_path: Path
) -> None:
    assert envsecrets.plan_set(dev, "dev", sops.SECRET_KEY, "one").notes == []
    other = make_age_key(tmp_path / "other")
    rules = sopsconfig.with_rule(sopsconfig.load(dev), "dev", [age_key.recipient,
                                                               other.recipient])
    (dev / layout.SOPS_CONFIG).write_text(sopsconfig.render(rules))
    git.Repo(dev).git.commit("-q", "-am", "a second recipient in the rule, by hand")
    note = (f"{layout.secrets_path('dev')} is encrypted to other recipients than its "
            ".sops.yaml rule: run 'gitops-gen secrets rekey dev'")
    assert envsecrets.plan_set(dev, "dev", sops.SECRET_KEY, "two").notes == [note]
    assert envsecrets.plan_rotate(dev, "dev", [sops.SECRET_KEY]).notes == [note, SESSIONS]


def test_a_rotation_overtaken_by_another_commit_is_refused(dev: Path) -> None:
    plan = envsecrets.plan_rotate(dev, "dev")
    assert envsecrets.apply(dev, envsecrets.plan_set(dev, "dev", sops.SECRET_KEY, "meanwhile"))
    with pytest.raises(ConflictError, match="changed by another commit"):
        envsecrets.apply(dev, plan)


def refusal(call: Callable[[], object]) -> tuple[str, str]:
    with pytest.raises(InputError) as caught:
        call()
    return caught.value.message, caught.value.fix


def test_a_value_from_stdin_loses_one_line_ending_of_either_kind() -> None:
    for given, value in (("v\r\n", "v"), ("v\n", "v"), ("v", "v"), ("v\n\n", "v\n"),
                         ("v\r\n\r\n", "v\r\n"), ("a\rb\n", "a\rb")):
        assert envsecrets.read_value(lambda: given, None, None) == value  # noqa: B023


def test_each_source_of_a_value_and_its_refusals(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("THE_VALUE", "from-env")
    assert envsecrets.read_value(lambda: "", None, "THE_VALUE") == "from-env"
    path = tmp_path / "value"
    assert refusal(lambda: envsecrets.read_value(lambda: "", path, "THE_VALUE")) == (
        "--from-file and --from-env both given", "give one source for the value")
    assert refusal(lambda: envsecrets.read_value(lambda: "", path, None)) == (
        f"--from-file {path}: cannot read it (No such file or directory)",
        "give a readable text file holding only the value")
    path.write_bytes(b"\xff\xfe")
    assert refusal(lambda: envsecrets.read_value(lambda: "", path, None)) == (
        f"--from-file {path}: cannot read it (not UTF-8 text)",
        "give a readable text file holding only the value")
    monkeypatch.delenv("THE_VALUE")
    assert refusal(lambda: envsecrets.read_value(lambda: "", None, "THE_VALUE")) == (
        "--from-env THE_VALUE: the variable is not set",
        "export THE_VALUE first, or pipe the value on stdin")
    monkeypatch.setenv("THE_VALUE", "")
    assert refusal(lambda: envsecrets.read_value(lambda: "", None, "THE_VALUE")) == (
        "the value from --from-env THE_VALUE is empty", "give the secret's value")
    assert refusal(lambda: envsecrets.read_value(lambda: "\n", None, None)) == (
        "the value from stdin is empty", "give the secret's value")
    path.write_text("\n")
    assert refusal(lambda: envsecrets.read_value(lambda: "", path, None)) == (
        f"the value from --from-file {path} is empty", "give the secret's value")


def test_setting_the_gemini_placeholder_itself_is_refused(dev: Path) -> None:
    assert refusal(lambda: envsecrets.plan_set(dev, "dev", sops.GEMINI_KEY,
                                               sops.GEMINI_PLACEHOLDER)) == (
        "that value is the placeholder itself", "give the real Gemini API key")


def test_a_key_the_chart_does_not_have_is_refused_with_the_keys_it_has() -> None:
    with pytest.raises(InputError) as caught:
        envsecrets.check_key("backend.secrets.other")
    assert caught.value.message == "'backend.secrets.other' is not a secret key of the chart"
    assert caught.value.fix == ("use one of: postgresql.auth.password, "
                                "backend.secrets.secretKey, backend.secrets.geminiApiKey")
    assert envsecrets.check_key(sops.GEMINI_KEY) == sops.GEMINI_KEY


def test_an_environment_name_that_is_not_one_names_the_argument(dev: Path) -> None:
    with pytest.raises(InputError) as caught:
        envsecrets.check_env(dev, "Not_A_Name")
    assert caught.value.message.startswith("environment ENV 'Not_A_Name' is not a DNS-1123 label")


def test_an_environment_without_secrets_says_where_to_look(dev: Path) -> None:
    with pytest.raises(InputError) as caught:
        envsecrets.check_env(dev, "qa")
    assert caught.value.message == ("no secrets for environment 'qa': "
                                    "overlays/qa/secrets.sops.yaml does not exist")
    assert caught.value.fix == ("see 'gitops-gen env list', or create it with 'gitops-gen env "
                                "add'")
    assert envsecrets.check_env(dev, "dev") == "dev"
