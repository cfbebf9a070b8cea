"""secrets list / set / rotate / rekey against real git repositories and the real sops binary.

Every effect is checked by decrypting with sops itself, with the keys that should open the
file and with keys that should not; the data key is read with pyrage to prove rotations.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import git
import pyrage
import pytest
import yaml

from gitops_gen.errors import ConflictError
from gitops_gen.model import envsecrets, overlays
from gitops_gen.repo import layout, proc
from gitops_gen.secrets import sops

from .conftest import AgeKey, make_age_key
from .helpers import cli, commit_files, env_add, new_repo, snapshot, write_executable

DEV_SECRETS = layout.secrets_path("dev")


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    return new_repo(tmp_path / "gitops")


@pytest.fixture
def dev(repo: Path, age_key: AgeKey) -> Path:
    """A repository with a dev environment encrypted to the local key (Gemini: placeholder)."""
    assert age_key.path.is_file()
    env_add(repo, "dev")
    return repo


def decrypt(root: Path, key: AgeKey, text: str | None = None) -> dict[str, str]:
    """The dev secrets (or text) decrypted by real sops with key; CalledProcessError if it can't."""
    out = subprocess.run(
        [proc.which("sops"), "decrypt", "--input-type", "yaml", "--output-type", "yaml",
         "/dev/stdin"],
        input=text if text is not None else (root / DEV_SECRETS).read_text(),
        env={**os.environ, "SOPS_AGE_KEY_FILE": str(key.path)},
        capture_output=True, text=True, check=True,
    )
    return sops.flatten(yaml.safe_load(out.stdout))


def data_key(text: str, key: AgeKey) -> bytes:
    """The file's SOPS data key as key's holder could extract it (pyrage, not sops)."""
    ident = pyrage.x25519.Identity.from_str(key.secret)
    for entry in yaml.safe_load(text)["sops"]["age"]:
        try:
            return bytes(pyrage.decrypt(entry["enc"].encode(), [ident]))
        except pyrage.DecryptError:
            continue
    raise AssertionError("this key cannot open the data key")


def dev_text(root: Path) -> str:
    return (root / DEV_SECRETS).read_text()


def head(root: Path) -> git.Commit:
    return git.Repo(root).head.commit


def one_line(output: str) -> str:
    lines = [line for line in output.splitlines() if line.strip()]
    assert len(lines) == 1, output
    return lines[0]


def refused(root: Path, *args: str, input: str | None = None) -> str:
    """`gitops-gen ARGS` in root, refused: exit 2, nothing written; its one line."""
    before = snapshot(root)
    result = cli(*args, input=input, repo=root)
    assert result.exit_code == 2, result.output
    assert snapshot(root) == before
    return one_line(result.output)


def fake_sops(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fail_on: str | None) -> None:
    """Put a sops first on PATH that fails (always, or only for subcommand fail_on)."""
    real = proc.which("sops")
    bin_dir = tmp_path / "fakebin"
    if fail_on is None:
        script = "#!/bin/sh\necho 'sops: simulated failure' >&2\nexit 1\n"
    else:
        script = (
            "#!/bin/sh\n"
            f'for a in "$@"; do [ "$a" = {fail_on} ] && '
            "{ echo 'sops: simulated failure' >&2; exit 1; }; done\n"
            f'exec "{real}" "$@"\n'
        )
    write_executable(bin_dir / "sops", script)
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")


# ---- list --------------------------------------------------------------------------------


def test_list_reports_keys_recipients_last_change_and_placeholder(
    dev: Path, age_key: AgeKey, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    plain = decrypt(dev, age_key)
    sha = head(dev).hexsha[:8]
    # No private key is needed to list.
    monkeypatch.setenv("SOPS_AGE_KEY_FILE", str(tmp_path / "no-such-key.txt"))
    result = cli("secrets", "list", "dev", "--format", "json", repo=dev)
    assert result.exit_code == 0, result.output
    listed = json.loads(result.output)["secrets"]
    assert [s["key"] for s in listed] == list(sops.SECRET_KEYS)
    for item in listed:
        assert item["recipients"] == [age_key.recipient]
        assert item["lastChange"]["sha"] == sha and item["lastChange"]["date"]
        assert item["placeholder"] is (item["key"] == sops.GEMINI_KEY)
    text = cli("secrets", "list", "dev", repo=dev)
    assert text.exit_code == 0
    gemini_line = next(line for line in text.output.splitlines() if sops.GEMINI_KEY in line)
    assert "placeholder" in gemini_line and sha in gemini_line
    for value in plain.values():
        assert value not in result.output and value not in text.output


def test_list_unknown_environment_exit_2(dev: Path) -> None:
    result = cli("secrets", "list", "qa", repo=dev)
    assert result.exit_code == 2
    assert "qa" in one_line(result.output)


# ---- set ---------------------------------------------------------------------------------


def test_set_gemini_from_stdin_same_recipients_clears_placeholder(
    repo: Path, age_key: AgeKey, tmp_path: Path
) -> None:
    other, stranger = make_age_key(tmp_path / "other"), make_age_key(tmp_path / "stranger")
    assert cli("env", "add", "dev", "--age-recipient", age_key.recipient,
               "--age-recipient", other.recipient, repo=repo).exit_code == 0
    before, old_text = decrypt(repo, age_key), dev_text(repo)

    result = cli("secrets", "set", "dev", sops.GEMINI_KEY, input="AIza-stdin-value\n",
                 repo=repo)
    assert result.exit_code == 0, result.output
    assert "AIza-stdin-value" not in result.output

    after = decrypt(repo, age_key)
    assert after == {**before, sops.GEMINI_KEY: "AIza-stdin-value"}
    assert decrypt(repo, other) == after
    with pytest.raises(subprocess.CalledProcessError):
        decrypt(repo, stranger)
    assert sops.file_recipients(dev_text(repo)) == sorted([age_key.recipient,
                                                               other.recipient])
    assert data_key(dev_text(repo), age_key) != data_key(old_text, age_key)
    values = (repo / layout.values_path("dev")).read_text()
    assert overlays.placeholders(values) == []
    commit = head(repo)
    assert commit.message.strip() == f"secrets: set {sops.GEMINI_KEY} in dev"
    assert commit_files(repo, commit.hexsha) == sorted([DEV_SECRETS, layout.values_path("dev")])
    assert git.Repo(repo).git.status("--porcelain") == ""
    listed = json.loads(cli("secrets", "list", "dev", "--format", "json", repo=repo).output)
    assert not any(s["placeholder"] for s in listed["secrets"])


def test_set_from_file_and_from_env(dev: Path, age_key: AgeKey, tmp_path: Path) -> None:
    value_file = tmp_path / "secret.txt"
    value_file.write_text("file-value-1\n")
    result = cli("secrets", "set", "dev", sops.SECRET_KEY, "--from-file", str(value_file),
                 repo=dev)
    assert result.exit_code == 0, result.output
    assert decrypt(dev, age_key)[sops.SECRET_KEY] == "file-value-1"
    assert commit_files(dev, head(dev).hexsha) == [DEV_SECRETS]

    result = cli("secrets", "set", "dev", sops.DB_PASSWORD, "--from-env", "NEW_DB_PW",
                 repo=dev, env={"NEW_DB_PW": "p@ss:w/rd%#"})
    assert result.exit_code == 0, result.output
    assert decrypt(dev, age_key)[sops.DB_PASSWORD] == "p@ss:w/rd%#"
    assert "ALTER ROLE" in result.output and "p@ss:w/rd%#" not in result.output
    assert head(dev).message.strip() == f"secrets: set {sops.DB_PASSWORD} in dev"


def test_set_same_value_commits_nothing(dev: Path, age_key: AgeKey) -> None:
    current = decrypt(dev, age_key)[sops.SECRET_KEY]
    before = snapshot(dev)
    result = cli("secrets", "set", "dev", sops.SECRET_KEY, input=current, repo=dev)
    assert result.exit_code == 0 and "nothing to commit" in result.output
    assert current not in result.output
    assert snapshot(dev) == before


SECRET_VALUE = "do-not-leak-7f3a"


@pytest.mark.parametrize(
    ("args", "stdin", "needle"),
    [
        (["dev", sops.SECRET_KEY, SECRET_VALUE], None, "--from-file"),
        (["dev", sops.SECRET_KEY, f"--value={SECRET_VALUE}"], None, "stdin"),
        (["dev", sops.SECRET_KEY, "--value", SECRET_VALUE], None, "--from-env"),
        (["dev", sops.SECRET_KEY], "", "empty"),
        (["dev", sops.SECRET_KEY], "\n", "empty"),
        (["dev", "backend.secrets.other"], SECRET_VALUE, "not a secret key"),
        (["dev", sops.SECRET_KEY, "--from-env", "UNSET_VAR_XYZ"], None, "not set"),
        (["dev", sops.SECRET_KEY, "--from-env", "V", "--from-file", "f"], None, "both"),
        (["dev", sops.SECRET_KEY, "--from-file", "/nonexistent/v"], None, "cannot read"),
        (["dev", sops.GEMINI_KEY], sops.GEMINI_PLACEHOLDER, "placeholder"),
        (["qa", sops.SECRET_KEY], SECRET_VALUE, "no secrets for environment 'qa'"),
        (["Bad_Env", sops.SECRET_KEY], SECRET_VALUE, "DNS-1123"),
    ],
)
def test_set_refusals_exit_2_nothing_written(dev: Path, args: list[str], stdin: str | None,
                                             needle: str) -> None:
    line = refused(dev, "secrets", "set", *args, input=stdin)
    assert needle in line and SECRET_VALUE not in line


def test_dirty_secrets_file_is_refused(dev: Path) -> None:
    path = dev / DEV_SECRETS
    path.write_text(path.read_text() + "# local edit\n")
    before = snapshot(dev)
    result = cli("secrets", "set", "dev", sops.SECRET_KEY, input="v-123", repo=dev)
    assert result.exit_code == 2 and DEV_SECRETS in one_line(result.output)
    assert snapshot(dev) == before


def test_plan_overtaken_by_another_commit_is_refused(dev: Path, age_key: AgeKey) -> None:
    plan = envsecrets.plan_set(dev, "dev", sops.SECRET_KEY, "from-the-slow-run")
    assert cli("secrets", "rotate", "dev", repo=dev).exit_code == 0
    before = snapshot(dev)
    with pytest.raises(ConflictError, match="changed by another commit"):
        envsecrets.apply(dev, plan)
    assert snapshot(dev) == before
    assert decrypt(dev, age_key)[sops.SECRET_KEY] != "from-the-slow-run"


def test_a_rekey_plan_is_not_applied_over_a_newer_commit(dev: Path, tmp_path: Path) -> None:
    bob = make_age_key(tmp_path / "bob")
    plan = envsecrets.plan_rekey(dev, ["dev"], add=[bob.recipient])
    assert cli("secrets", "rotate", "dev", repo=dev).exit_code == 0
    before = snapshot(dev)
    with pytest.raises(ConflictError, match="changed by another commit"):
        envsecrets.apply(dev, plan)
    assert snapshot(dev) == before


# ---- rotate ------------------------------------------------------------------------------


def test_rotate_all_generated_keys_and_the_data_key(dev: Path, age_key: AgeKey) -> None:
    old_text, before = dev_text(dev), decrypt(dev, age_key)
    result = cli("secrets", "rotate", "dev", repo=dev)
    assert result.exit_code == 0, result.output
    after = decrypt(dev, age_key)
    for key in sops.GENERATED_KEYS:
        assert after[key] != before[key] and len(after[key]) >= 32
        assert after[key] not in result.output
    assert after[sops.GEMINI_KEY] == before[sops.GEMINI_KEY]
    new_text = dev_text(dev)
    assert data_key(new_text, age_key) != data_key(old_text, age_key)
    assert sops.metadata(new_text)["mac"] != sops.metadata(old_text)["mac"]
    assert sops.file_recipients(new_text) == [age_key.recipient]
    message = head(dev).message
    assert message.startswith(
        "secrets: rotate postgresql.auth.password, backend.secrets.secretKey in dev")
    assert "ALTER ROLE" in message and "ALTER ROLE" in result.output
    assert commit_files(dev, head(dev).hexsha) == [DEV_SECRETS]


def test_rotate_one_key_keeps_the_others(dev: Path, age_key: AgeKey) -> None:
    old_text, before = dev_text(dev), decrypt(dev, age_key)
    result = cli("secrets", "rotate", "dev", sops.SECRET_KEY, repo=dev)
    assert result.exit_code == 0, result.output
    after = decrypt(dev, age_key)
    assert after[sops.SECRET_KEY] != before[sops.SECRET_KEY]
    assert after[sops.DB_PASSWORD] == before[sops.DB_PASSWORD]
    assert data_key(dev_text(dev), age_key) != data_key(old_text, age_key)
    assert "ALTER ROLE" not in head(dev).message


@pytest.mark.parametrize(
    ("keys", "needle"),
    [([sops.GEMINI_KEY], "only set"), (["nope.key"], "not a secret key")],
)
def test_rotate_refusals_exit_2(dev: Path, keys: list[str], needle: str) -> None:
    assert needle in refused(dev, "secrets", "rotate", "dev", *keys)


# ---- rekey -------------------------------------------------------------------------------


def rule_of(root: Path, env: str) -> list[str]:
    for rule in yaml.safe_load((root / ".sops.yaml").read_text())["creation_rules"]:
        if rule["path_regex"] == f"^overlays/{env}/secrets\\.sops\\.yaml$":
            return sorted(rule["age"].split(","))
    raise AssertionError(f"no rule for {env}")


def test_rekey_add_then_remove_locks_the_removed_key_out(
    dev: Path, age_key: AgeKey, tmp_path: Path
) -> None:
    bob = make_age_key(tmp_path / "bob")
    original = dev_text(dev)
    result = cli("secrets", "rekey", "dev", "--add-recipient", bob.recipient, repo=dev)
    assert result.exit_code == 0, result.output
    shared = dev_text(dev)
    assert sops.file_recipients(shared) == sorted([age_key.recipient, bob.recipient])
    assert rule_of(dev, "dev") == sorted([age_key.recipient, bob.recipient])
    assert decrypt(dev, bob) == decrypt(dev, age_key)
    # sops updatekeys only re-wraps the data key for the new recipient set.
    assert data_key(shared, bob) == data_key(original, age_key)
    assert commit_files(dev, head(dev).hexsha) == sorted([DEV_SECRETS, ".sops.yaml"])

    result = cli("secrets", "rekey", "dev", "--remove-recipient", bob.recipient, repo=dev)
    assert result.exit_code == 0, result.output
    current = dev_text(dev)
    assert sops.file_recipients(current) == [age_key.recipient]
    assert rule_of(dev, "dev") == [age_key.recipient]
    decrypt(dev, bob, shared)  # bob could open the previous version ...
    with pytest.raises(subprocess.CalledProcessError):
        decrypt(dev, bob)  # ... but not the current one,
    assert data_key(current, age_key) != data_key(shared, bob)  # not even with the old key
    assert decrypt(dev, age_key) == decrypt(dev, age_key, shared)
    assert head(dev).message.rstrip("\n") == (
        f"secrets: rekey dev\n\nremoved: {bob.recipient}\n"
        "new SOPS data key (a removed key cannot decrypt): dev")
    assert result.output.count("note: ") == 1
    assert (f"note: dev: data key rotated; {bob.recipient} can no longer decrypt {DEV_SECRETS}; "
            "it could read the values before, so consider 'gitops-gen secrets rotate dev' and a "
            f"new {sops.GEMINI_KEY}") in " ".join(result.output.split())



def test_handing_a_file_over_says_your_own_key_can_no_longer_decrypt_it(
    dev: Path, age_key: AgeKey, tmp_path: Path
) -> None:
    bob = make_age_key(tmp_path / "bob")
    result = cli("secrets", "rekey", "dev", "--add-recipient", bob.recipient,
                 "--remove-recipient", age_key.recipient, repo=dev)
    assert result.exit_code == 0, result.output
    assert sops.file_recipients(dev_text(dev)) == [bob.recipient]
    notes = " ".join(result.output.split())
    assert notes.count("note: ") == 2
    assert (f"note: dev: your identity {age_key.path} can no longer decrypt it") in notes
    decrypt(dev, bob)


def test_removing_two_people_at_once_names_both(dev: Path, tmp_path: Path) -> None:
    bob, carol = make_age_key(tmp_path / "bob"), make_age_key(tmp_path / "carol")
    assert cli("secrets", "rekey", "dev", "--add-recipient", bob.recipient, "--add-recipient",
               carol.recipient, repo=dev).exit_code == 0
    result = cli("secrets", "rekey", "dev", "--remove-recipient", carol.recipient,
                 "--remove-recipient", bob.recipient, repo=dev)
    assert result.exit_code == 0, result.output
    lost = ", ".join(sorted([bob.recipient, carol.recipient]))
    first, second = sorted([bob.recipient, carol.recipient])
    assert head(dev).message.rstrip("\n") == (
        f"secrets: rekey dev\n\nremoved: {first}\nremoved: {second}\n"
        "new SOPS data key (a removed key cannot decrypt): dev")
    assert f"note: dev: data key rotated; {lost} can no longer decrypt" in " ".join(
        result.output.split())


def test_rekey_of_one_environment_leaves_the_others_alone(dev: Path, tmp_path: Path) -> None:
    env_add(dev, "staging")
    staging = (dev / layout.secrets_path("staging")).read_text()
    bob = make_age_key(tmp_path / "bob")
    assert cli("secrets", "rekey", "dev", "--add-recipient", bob.recipient,
               repo=dev).exit_code == 0
    assert commit_files(dev, head(dev).hexsha) == sorted([DEV_SECRETS, ".sops.yaml"])
    assert (dev / layout.secrets_path("staging")).read_text() == staging
    assert bob.recipient not in rule_of(dev, "staging")


def test_rekey_all_without_any_environment_is_refused(repo: Path, age_key: AgeKey) -> None:
    assert refused(repo, "secrets", "rekey", "--all", "--add-recipient", age_key.recipient) == (
        "error: no environment has a secrets file; add one with 'gitops-gen env add'")


@pytest.mark.parametrize("which", ["dev", "--all"])
def test_a_recipient_the_rule_dropped_by_hand_can_still_be_removed(
        dev: Path, age_key: AgeKey, tmp_path: Path, which: str) -> None:
    bob = make_age_key(tmp_path / "bob")
    assert cli("secrets", "rekey", "dev", "--add-recipient", bob.recipient,
               repo=dev).exit_code == 0
    config = dev / ".sops.yaml"
    config.write_text(config.read_text().replace(f",{bob.recipient}", "").replace(
        f"{bob.recipient},", ""))
    git.Repo(dev).git.commit("-qam", "bob left the dev rule, not yet the file")
    assert rule_of(dev, "dev") == [age_key.recipient]
    assert bob.recipient in sops.file_recipients(dev_text(dev))
    result = cli("secrets", "rekey", which, "--remove-recipient", bob.recipient, repo=dev)
    assert result.exit_code == 0, result.output
    assert sops.file_recipients(dev_text(dev)) == [age_key.recipient]


def test_a_rekey_plan_names_its_environments_and_every_recipient_added(
        dev: Path, tmp_path: Path) -> None:
    env_add(dev, "staging")
    bob, carol = make_age_key(tmp_path / "bob"), make_age_key(tmp_path / "carol")
    plan = envsecrets.plan_rekey(dev, ["dev", "staging"], add=[carol.recipient, bob.recipient])
    first, second = sorted([bob.recipient, carol.recipient])
    assert plan.message == f"secrets: rekey dev, staging\n\nadded: {first}\nadded: {second}"

def test_rekey_follows_a_hand_edited_rule(dev: Path, age_key: AgeKey, tmp_path: Path) -> None:
    carol = make_age_key(tmp_path / "carol")
    config = dev / ".sops.yaml"
    config.write_text(config.read_text().replace(age_key.recipient,
                                                 f"{age_key.recipient},{carol.recipient}"))
    git.Repo(dev).git.commit("-qam", "add carol to the dev rule")
    assert envsecrets.plan_rekey(dev, ["dev"]).message == "secrets: rekey dev"
    result = cli("secrets", "rekey", "dev", repo=dev)
    assert result.exit_code == 0, result.output
    assert decrypt(dev, carol) == decrypt(dev, age_key)
    assert commit_files(dev, head(dev).hexsha) == [DEV_SECRETS]
    assert head(dev).message.rstrip("\n") == "secrets: rekey dev"  # nothing added or removed
    again = cli("secrets", "rekey", "dev", repo=dev)
    assert again.exit_code == 0 and "nothing to commit" in again.output


def test_rekey_all_is_one_commit(dev: Path, age_key: AgeKey, tmp_path: Path) -> None:
    assert cli("env", "add", "prod", repo=dev).exit_code == 0
    bob = make_age_key(tmp_path / "bob")
    result = cli("secrets", "rekey", "--all", "--add-recipient", bob.recipient, repo=dev)
    assert result.exit_code == 0, result.output
    assert commit_files(dev, head(dev).hexsha) == sorted(
        [DEV_SECRETS, layout.secrets_path("prod"), ".sops.yaml"])
    prod = (dev / layout.secrets_path("prod")).read_text()
    assert decrypt(dev, bob, prod) == decrypt(dev, age_key, prod)
    assert decrypt(dev, bob) == decrypt(dev, age_key)
    assert rule_of(dev, "prod") == rule_of(dev, "dev") == sorted([age_key.recipient,
                                                                  bob.recipient])


def test_rekey_all_remove_recipient_locks_the_person_out_of_every_environment(
    dev: Path, age_key: AgeKey, tmp_path: Path
) -> None:
    env_add(dev, "prod")
    bob = make_age_key(tmp_path / "bob")
    assert cli("secrets", "rekey", "--all", "--add-recipient", bob.recipient,
               repo=dev).exit_code == 0
    env_add(dev, "staging")  # bob never had staging
    envs = ("dev", "staging", "prod")
    shared = {env: (dev / layout.secrets_path(env)).read_text() for env in envs}
    assert all(decrypt(dev, bob, shared[env]) for env in ("dev", "prod"))

    result = cli("secrets", "rekey", "--all", "--remove-recipient", bob.recipient, repo=dev)

    assert result.exit_code == 0, result.output
    assert commit_files(dev, head(dev).hexsha) == sorted(
        [DEV_SECRETS, layout.secrets_path("prod"), ".sops.yaml"])
    # staging kept its recipients, so its data key is not new
    assert head(dev).message.rstrip("\n") == (
        f"secrets: rekey all environments\n\nremoved: {bob.recipient}\n"
        "new SOPS data key (a removed key cannot decrypt): dev, prod")
    said = " ".join(result.output.split())
    for env in ("dev", "prod"):  # a note per environment the person could read
        assert (f"note: {env}: data key rotated; {bob.recipient} can no longer decrypt "
                f"{layout.secrets_path(env)}") in said
    assert "note: staging:" not in said
    for env in envs:
        current = (dev / layout.secrets_path(env)).read_text()
        assert sops.file_recipients(current) == rule_of(dev, env) == [age_key.recipient], env
        with pytest.raises(subprocess.CalledProcessError):
            decrypt(dev, bob, current)
        assert decrypt(dev, age_key, current) == decrypt(dev, age_key, shared[env]), env
    for env in ("dev", "prod"):  # not even with the data key bob may have kept
        current = (dev / layout.secrets_path(env)).read_text()
        assert data_key(current, age_key) != data_key(shared[env], bob), env
    assert (dev / layout.secrets_path("staging")).read_text() == shared["staging"]

    assert refused(dev, "secrets", "rekey", "--all", "--remove-recipient", bob.recipient) == (
        "error: --remove-recipient: no environment has that recipient; see 'gitops-gen "
        "secrets list ENV'")


@pytest.mark.parametrize(
    "case",
    ["last", "bad-add", "bad-remove", "not-a-recipient", "env-and-all", "neither",
     "add-and-remove"],
)
def test_rekey_refusals_exit_2(dev: Path, age_key: AgeKey, tmp_path: Path, case: str) -> None:
    other = make_age_key(tmp_path / "other").recipient
    not_age = ("is not an age recipient (invalid Bech32 encoding); give a public key starting "
               "with 'age1', as printed by 'age-keygen -y'")
    args, error = {
        "last": (["dev", "--remove-recipient", age_key.recipient],
                 "refusing to remove the last recipient of dev; add the new recipient in the "
                 "same run (--add-recipient)"),
        "bad-add": (["dev", "--add-recipient", "age1notakey"],
                    f"--add-recipient 'age1notakey' {not_age}"),
        "bad-remove": (["dev", "--remove-recipient", "ssh-rsa AAA"],
                       f"--remove-recipient 'ssh-rsa AAA' {not_age}"),
        "not-a-recipient": (["dev", "--remove-recipient", other],
                            f"--remove-recipient {other} is not a recipient of dev; see "
                            "'gitops-gen secrets list dev'"),
        "env-and-all": (["dev", "--all"], "both ENV (dev) and --all given; give one of them"),
        "neither": (["--add-recipient", other],
                    "secrets rekey needs ENV or --all; name one environment, or pass --all for "
                    "every environment"),
        "add-and-remove": (["dev", "--add-recipient", other, "--remove-recipient", other],
                           "the same recipient is both added and removed; give it once"),
    }[case]
    assert refused(dev, "secrets", "rekey", *args) == f"error: {error}"


# ---- no key, failing sops ------------------------------------------------------------


@pytest.mark.parametrize(
    "command",
    [["set", "dev", sops.SECRET_KEY], ["rotate", "dev"], ["rekey", "dev", "--add-recipient"],
     ["rekey", "dev", "--remove-recipient"]],
)
@pytest.mark.usefixtures("age_key")
def test_no_local_key_can_decrypt_exit_3_names_recipients(
    repo: Path, tmp_path: Path, command: list[str]
) -> None:
    owner, extra = make_age_key(tmp_path / "owner"), make_age_key(tmp_path / "extra")
    assert cli("env", "add", "dev", "--age-recipient", owner.recipient,
               "--age-recipient", extra.recipient, repo=repo).exit_code == 0
    if command[-1].startswith("--"):
        command = [*command, extra.recipient]
        if command[-2] == "--add-recipient":
            command[-1] = make_age_key(tmp_path / "new").recipient
    before = snapshot(repo)
    result = cli("secrets", *command, input="v-123", repo=repo)
    assert result.exit_code == 3, result.output
    line = one_line(result.output)
    assert f"cannot decrypt {DEV_SECRETS}" in line
    assert owner.recipient in line and extra.recipient in line
    assert snapshot(repo) == before


@pytest.mark.parametrize(
    ("command", "fail_on"),
    [
        (["set", "dev", sops.SECRET_KEY], None),
        (["rotate", "dev"], None),
        (["rekey", "dev", "--add-recipient", "BOB"], None),
        (["set", "dev", sops.GEMINI_KEY], "encrypt"),  # after a successful decrypt
        (["rotate", "dev"], "encrypt"),
        (["rekey", "dev", "--add-recipient", "BOB"], "updatekeys"),
        (["rekey", "dev", "--remove-recipient", "BOB"], "updatekeys"),  # after sops rotate
        (["rekey", "dev", "--remove-recipient", "BOB"], "rotate"),
    ],
)
def test_failing_sops_leaves_everything_as_it_was(
    dev: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    command: list[str], fail_on: str | None,
) -> None:
    bob = make_age_key(tmp_path / "bob")
    if "--remove-recipient" in command:
        assert cli("secrets", "rekey", "dev", "--add-recipient", bob.recipient,
                   repo=dev).exit_code == 0
    command = [bob.recipient if part == "BOB" else part for part in command]
    fake_sops(tmp_path, monkeypatch, fail_on)
    before = snapshot(dev)
    result = cli("secrets", *command, input="v-123", repo=dev)
    assert result.exit_code == 3, result.output
    assert "simulated failure" in one_line(result.output)
    assert snapshot(dev) == before


# ---- no plaintext anywhere -------------------------------------------------------------


def test_values_never_in_history_outputs_argv_or_files_given_to_sops(
    dev: Path, age_key: AgeKey, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Every sops run is logged: its arguments and the content of every file it is given.
    real, log = proc.which("sops"), tmp_path / "sops.log"
    bin_dir = tmp_path / "logbin"
    write_executable(
        bin_dir / "sops",
        "#!/bin/sh\n"
        f'printf "%s\\n" "$*" >> "{log}"\n'
        'for a in "$@"; do case "$a" in /dev/*) ;; *) [ -f "$a" ] && '
        f'cat "$a" >> "{log}";; esac; done\n'
        f'exec "{real}" "$@"\n',
    )
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    bob = make_age_key(tmp_path / "bob")

    seen = list(decrypt(dev, age_key).values())
    outputs = [
        cli("secrets", "set", "dev", sops.GEMINI_KEY, input="AIza-history-check\n", repo=dev),
        cli("secrets", "rotate", "dev", repo=dev),
        cli("secrets", "rekey", "dev", "--add-recipient", bob.recipient, repo=dev),
        cli("secrets", "rekey", "dev", "--remove-recipient", bob.recipient, repo=dev),
        cli("secrets", "list", "dev", repo=dev),
        cli("secrets", "list", "dev", "--format", "json", repo=dev),
    ]
    assert all(r.exit_code == 0 for r in outputs), [r.output for r in outputs]
    history = git.Repo(dev).git.log("-p", "--all")
    for sha in git.Repo(dev).git.log("--all", "--format=%H", "--", DEV_SECRETS).split():
        text = git.Repo(dev).git.show(f"{sha}:{DEV_SECRETS}")
        seen += list(decrypt(dev, age_key, text + "\n").values())
    assert "AIza-history-check" in seen
    assert log.read_text().count("updatekeys") == 2
    for value in set(seen):
        assert value not in history
        assert value not in log.read_text()
        for result in outputs:
            assert value not in result.output


def test_refused_commit_restores_every_file(dev: Path, tmp_path: Path) -> None:
    assert cli("env", "add", "prod", repo=dev).exit_code == 0
    bob = make_age_key(tmp_path / "bob")
    before = snapshot(dev)
    lock = dev / ".git" / "index.lock"
    lock.write_text("")
    try:
        result = cli("secrets", "rekey", "--all", "--add-recipient", bob.recipient, repo=dev)
    finally:
        lock.unlink()
    assert result.exit_code == 3, result.output
    assert snapshot(dev) == before
    with pytest.raises(subprocess.CalledProcessError):
        decrypt(dev, bob)
