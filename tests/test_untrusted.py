"""A repository under review may be hostile: nothing outside it is read, work is bounded in
time and memory, signals stop every command, and each reported weakness stays fixed."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import git
import pyrage
import pytest

from gitops_gen.checks import isolated
from gitops_gen.checks.validate import validate_repo
from gitops_gen.repo import layout
from gitops_gen.repo.limits import RunLimits
from gitops_gen.secrets import sops

from .helpers import cli, snapshot

MARKER = "MARKER-outside-the-repository-5c1e"
FORMATS = ("text", "json", "github", "junit")


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A file outside the repository holding the marker (as a key file would hold a key)."""
    path = tmp_path / "outside" / "keys.txt"
    path.parent.mkdir()
    path.write_text(f"AGE-SECRET-KEY-{MARKER}\n")
    return path


def commit_all(root: Path, message: str = "hostile change") -> None:
    repo = git.Repo(root)
    repo.git.add("--all")
    repo.git.commit("-q", "-m", message)


def gitops_gen(root: Path, *args: str, env: dict[str, str] | None = None,
               timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """The real command line in its own process."""
    return subprocess.run([sys.executable, "-m", "gitops_gen", "--repo", str(root), *args],
                          capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **(env or {})})


# ---- nothing outside the repository is read ----------------------------------------------

LEAKY_TEMPLATES = {
    "configmap": ("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: leak\ndata:\n"
                  "  k: {{ .Files.Get \"files/k\" | quote }}\n"),
    "fail": "{{ fail (.Files.Get \"files/k\") }}\n",
}


@pytest.mark.parametrize("template_name", sorted(LEAKY_TEMPLATES))
def test_a_linked_chart_file_reaches_no_output(repo: Path, outside: Path,
                                               template_name: str) -> None:
    (repo / "chart" / "files").mkdir()
    (repo / "chart" / "files" / "k").symlink_to(outside)
    (repo / "chart" / "templates" / "leak.yaml").write_text(LEAKY_TEMPLATES[template_name])
    before = snapshot(repo)
    for fmt in FORMATS:
        result = gitops_gen(repo, "validate", "--format", fmt)
        assert result.returncode == 1, result.stderr
        assert MARKER not in result.stdout + result.stderr, fmt
        assert "chart/files/k" in result.stdout
    report = json.loads(gitops_gen(repo, "validate", "--format", "json").stdout)
    assert ("file-refused", "chart/files/k") in {(f["rule"], f["file"])
                                                 for f in report["findings"]}
    rendered = gitops_gen(repo, "render", "dev")
    assert rendered.returncode == 2 and MARKER not in rendered.stdout + rendered.stderr
    assert "chart/files/k: is a symbolic link" in rendered.stderr
    assert snapshot(repo) == before


def test_the_process_environment_is_not_reachable_through_a_link(repo: Path) -> None:
    (repo / "chart" / "files").mkdir()
    (repo / "chart" / "files" / "k").symlink_to("/proc/self/environ")
    (repo / "chart" / "templates" / "leak.yaml").write_text(LEAKY_TEMPLATES["fail"])
    result = gitops_gen(repo, "validate", "--format", "github",
                        env={"CI_SECRET_VARIABLE": MARKER})
    assert result.returncode == 1 and MARKER not in result.stdout + result.stderr


@pytest.mark.parametrize("where", ["file", "directory"])
def test_linked_overlays_are_refused(repo: Path, outside: Path, where: str) -> None:
    outside.write_text(f"backend:\n  replicaCount: 1\n# {MARKER}\n")
    values = repo / layout.values_path("dev")
    if where == "file":
        values.unlink()
        values.symlink_to(outside)
        expected = layout.values_path("dev")
    else:
        (outside.parent / "values.yaml").write_text(outside.read_text())
        (outside.parent / "secrets.sops.yaml").write_text(
            (repo / layout.secrets_path("dev")).read_text())
        for name in ("values.yaml", "secrets.sops.yaml"):
            (repo / "overlays" / "dev" / name).unlink()
        (repo / "overlays" / "dev").rmdir()
        (repo / "overlays" / "dev").symlink_to(outside.parent)
        expected = "overlays/dev"
    report = validate_repo(repo)
    assert not report.ok
    refused = [f for f in report.findings if f.rule == "file-refused"]
    assert expected in {f.file for f in refused}
    assert all(MARKER not in f.message for f in report.findings)


def test_source_paths_are_judged_without_looking_outside(repo: Path) -> None:
    """Applications name no value file any more; their source.path is judged by its text."""
    app = repo / layout.app_path("dev")
    text = app.read_text().replace("path: overlays/dev", "path: ../../../../etc/hostname")
    app.write_text(text)
    found = [f for f in validate_repo(repo).findings if f.rule == "app-plugin"]
    assert any("../../../../etc/hostname" in f.message for f in found)
    # The same answer whether or not the path exists on this machine.
    app.write_text(text.replace("etc/hostname", "etc/no-such-file-anywhere"))
    again = [f for f in validate_repo(repo).findings if f.rule == "app-plugin"]
    assert [f.message.replace("no-such-file-anywhere", "hostname") for f in again] == [
        f.message for f in found]


def test_a_schema_may_not_refer_outside_itself(repo: Path, outside: Path) -> None:
    schema = repo / "chart" / "values.schema.json"
    data = json.loads(schema.read_text())
    data["properties"]["leak"] = {"$ref": f"file://{outside}"}
    schema.write_text(json.dumps(data))
    report = validate_repo(repo)
    found = [f for f in report.findings if f.rule == "values-schema"]
    assert found and "outside itself" in found[0].message
    assert all(MARKER not in f.message for f in report.findings)


@pytest.mark.parametrize("name", ["Ev il", "..", "UPPER"])
def test_a_file_in_gitops_apps_not_named_for_an_environment(repo: Path, name: str) -> None:
    (repo / layout.APPS_DIR / f"{name}.yaml").write_text(
        "apiVersion: argoproj.io/v1alpha1\nkind: Application\nmetadata:\n  name: other\n")
    report = validate_repo(repo)
    assert report.environments == ["dev"]
    assert [(f.rule, f.file) for f in report.errors] == [
        ("env-files", f"{layout.APPS_DIR}/{name}.yaml")]
    result = cli("render", "..", repo=repo)
    assert result.exit_code == 2 and "'..' is not an environment name" in result.output


# ---- bounded work ----------------------------------------------------------------------


ALIAS_BOMB = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{n}: &{n} [{', '.join([f'*{p}'] * 9)}]\n"
    for p, n in zip("abcdefgh", "bcdefghi", strict=True))


@pytest.mark.parametrize("path", [layout.app_path("dev"), layout.values_path("dev"),
                                  "chart/values.yaml", layout.SOPS_CONFIG])
def test_an_alias_bomb_is_a_finding(repo: Path, path: str) -> None:
    (repo / path).write_text(ALIAS_BOMB)
    result = gitops_gen(repo, "validate", "--format", "json", timeout=120)
    assert result.returncode == 1, result.stderr
    messages = [f["message"] for f in json.loads(result.stdout)["findings"]
                if f["file"] == path]
    assert any("once aliases are expanded" in m for m in messages), messages


LOOP = "{{- range until 100000 }}{{- range until 100000 }}{{- end }}{{- end }}\n"


def test_a_looping_template_is_stopped_at_the_time_limit(repo: Path) -> None:
    (repo / "chart" / "templates" / "loop.yaml").write_text(LOOP)
    limits = {"GITOPS_GEN_ENV_TIMEOUT": "3"}
    result = gitops_gen(repo, "validate", "--format", "json", env=limits)
    assert result.returncode == 1, result.stderr
    found = [f for f in json.loads(result.stdout)["findings"] if f["rule"] == "resource-limit"]
    assert [(f["env"], "did not finish within 3 s" in f["message"]) for f in found] == [
        ("dev", True)]
    rendered = gitops_gen(repo, "render", "dev", env=limits)
    assert rendered.returncode == 2 and "did not finish within 3 s" in rendered.stderr


def test_a_template_that_allocates_too_much_is_stopped_at_the_memory_limit(repo: Path) -> None:
    (repo / "chart" / "templates" / "big.yaml").write_text(
        "{{- $x := until 200000000 }}{{ len $x }}\n")
    report = isolated.validate(repo, run_limits=RunLimits(memory_mb=400))
    found = [f for f in report.findings if f.rule == "resource-limit"]
    assert [(f.env, "more than 400 MiB" in f.message) for f in found] == [("dev", True)]


def go_thread_abort(reason: str) -> tuple[str, ...]:
    """A stand-in worker that ends as the Helm SDK's Go runtime does when it cannot start a
    thread: one line on stderr, then abort()."""
    script = ("import os, resource, sys\n"
              "resource.setrlimit(resource.RLIMIT_CORE, (0, 0))\n"
              f"sys.stderr.write('runtime/cgo: pthread_create failed: {reason}\\n')\n"
              "sys.stderr.flush()\n"
              "os.abort()\n")
    return (sys.executable, "-c", script)


def test_a_worker_that_cannot_start_a_thread_at_the_memory_limit_is_stopped_at_it(
        repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Which of Go's threads and allocations meets the limit first varies from machine to
    machine; a thread that cannot start is the memory limit as much as a failed allocation."""
    monkeypatch.setattr(isolated, "_spares", isolated._Spares())  # no worker started earlier
    monkeypatch.setattr(isolated, "WORKER", go_thread_abort("Resource temporarily unavailable"))
    report = isolated.validate(repo, ["dev"], run_limits=RunLimits(memory_mb=400))
    found = [f for f in report.findings if f.rule == "resource-limit"]
    assert [(f.env, "more than 400 MiB" in f.message) for f in found] == [(None, True)]
    monkeypatch.setattr(isolated, "WORKER", go_thread_abort("Invalid argument"))
    with pytest.raises(isolated.WorkerFailed, match="exit code -6: .*Invalid argument"):
        isolated.validate(repo, ["dev"], run_limits=RunLimits(memory_mb=400))

def test_a_whole_validation_has_a_time_limit_and_names_what_it_did_not_check(
        repo: Path) -> None:
    (repo / "chart" / "templates" / "loop.yaml").write_text(LOOP)
    report = isolated.validate(repo, run_limits=RunLimits(env_seconds=600, total_seconds=6))
    found = {f.env: f.message for f in report.findings if f.rule == "resource-limit"}
    assert set(found) == {"dev", None}
    assert found[None].startswith("the validation did not finish within 6 s")
    assert "dev" in found["dev"] and "stopped" in found["dev"]


def _children_of(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                found.append(int(entry.name))
    return found


def _alive(pid: int) -> bool:
    try:
        state = (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_stops_validate_and_its_worker(repo: Path, signum: signal.Signals) -> None:
    (repo / "chart" / "templates" / "loop.yaml").write_text(LOOP)
    run = subprocess.Popen([sys.executable, "-m", "gitops_gen", "--repo", str(repo),
                            "validate"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           text=True)
    try:
        deadline = time.monotonic() + 120
        while not (workers := _children_of(run.pid)):
            assert run.poll() is None and time.monotonic() < deadline, run.communicate()
            time.sleep(0.1)
        time.sleep(1)  # the worker is inside Helm now
        run.send_signal(signum)
        _, stderr = run.communicate(timeout=30)
    finally:
        run.kill()
    assert run.returncode == 128 + signum, stderr
    assert f"stopped by {signum.name}" in stderr
    for pid in workers:
        for _ in range(50):
            if not _alive(pid):
                break
            time.sleep(0.1)
        assert not _alive(pid), f"worker {pid} still runs"


# ---- each reported weakness ---------------------------------------------------------------


@pytest.mark.parametrize("flag", ["--age-recipient", "--add-recipient", "--remove-recipient"])
def test_a_private_key_given_as_a_recipient_is_not_echoed(repo: Path, flag: str) -> None:
    secret = str(pyrage.x25519.Identity.generate())  # a real key, made for this test
    args = ["env", "add", "qa", flag, secret] if flag == "--age-recipient" else [
        "secrets", "rekey", "dev", flag, secret]
    result = cli(*args, repo=repo)
    assert result.exit_code == 2
    assert "private key" in result.output and secret[15:] not in result.output


def test_schema_messages_never_quote_a_secret_named_value(repo: Path) -> None:
    (repo / layout.values_path("dev")).write_text(
        "backend:\n  replicaCount: {apiToken: SECRET-VALUE-1}\n"
        "frontend:\n  apiToken: SECRET-VALUE-2\n")
    found = [f for f in validate_repo(repo).findings if f.rule == "values-schema"]
    assert len(found) == 2
    assert all("SECRET-VALUE" not in f.message and "value not shown" in f.message
               for f in found)


@pytest.mark.parametrize("overlay", [
    "extra:\n  apiKeys: [plain-value-1, plain-value-2]\n",
    "extra:\n  env:\n    - name: SERVICE_TOKEN\n      value: plain-value-1\n",
])
def test_plaintext_secrets_inside_lists_are_found(repo: Path, overlay: str) -> None:
    (repo / "overlays" / "dev" / "extra.yaml").write_text(overlay)
    found = [f for f in validate_repo(repo).findings if f.rule == "plaintext-secret"]
    assert found and all("plain-value" not in f.message for f in found)


@pytest.mark.parametrize("args", [
    ["env", "add", "dev\n"], ["env", "add", "qa", "--namespace", "todo-qa\n"],
    ["env", "add", "qa", "--backend-tag", "1.0\n"], ["env", "add", "qa", "--host", "a.b\n"],
    ["validate", "--kube-version", "1.30\n"], ["render", "dev\n"],
])
def test_a_trailing_newline_is_refused_at_once(repo: Path, args: list[str]) -> None:
    before = snapshot(repo)
    result = cli(*args, repo=repo)
    assert result.exit_code == 2, result.output
    assert snapshot(repo) == before


@pytest.mark.parametrize(("config", "words"), [
    ("creation_rules:\n  - 1\n", "rule 1 is not a mapping"),
    ("creation_rules:\n  - path_regex: '('\n    age: {r}\n", "does not compile"),
    ("creation_rules:\n  - path_regex: '(?=x)'\n    age: {r}\n", "lookaround"),
    ("creation_rules:\n  - age: 5\n", "age must be a string"),
    ("creation_rules: {{}}\n", "creation_rules must be a list"),
    ("- just a list\n", "top level must be a mapping"),
])
def test_a_sops_config_that_sops_cannot_load(repo: Path, config: str, words: str) -> None:
    recipient = sops.file_recipients((repo / layout.secrets_path("dev")).read_text())[0]
    (repo / layout.SOPS_CONFIG).write_text(config.format(r=recipient))
    commit_all(repo)
    found = [f for f in validate_repo(repo).findings if f.rule == "sops-config"]
    assert found and words in found[0].message
    before = snapshot(repo)
    result = cli("secrets", "rekey", "dev", repo=repo)
    assert result.exit_code == 2 and "sops cannot load it" in result.output
    assert snapshot(repo) == before


def _tamper(root: Path, how: str) -> None:
    path = root / layout.secrets_path("dev")
    text = path.read_text()
    if how == "value":
        start = text.index("ENC[AES256_GCM,data:") + len("ENC[AES256_GCM,data:")
        text = text[:start] + text[start + 4:start + 8] + text[start:start + 4] + text[
            start + 8:]
    elif how == "mac":
        start = text.index("mac: ENC[AES256_GCM,data:") + len("mac: ENC[AES256_GCM,data:")
        text = text[:start] + ("A" if text[start] != "A" else "B") + text[start + 1:]
    else:
        lines = text.splitlines(keepends=True)
        n = next(i for i, ln in enumerate(lines) if ln.strip().startswith("password: ENC["))
        lines[n] = lines[n].split("password:")[0] + "password: PLANTED-PLAINTEXT\n"
        text = "".join(lines)
    path.write_text(text)
    commit_all(root, f"tamper {how}")


@pytest.mark.parametrize("how", ["value", "mac", "plaintext"])
def test_rekey_refuses_a_tampered_sops_file(repo: Path, template: Path, how: str) -> None:
    _tamper(repo, how)
    before = snapshot(repo)
    result = cli("secrets", "rekey", "dev", "--add-recipient",
                 "age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p",
                 repo=repo, env={"SOPS_AGE_KEY_FILE": str(template.parent / "age" / "keys.txt")})
    assert result.exit_code == 2, result.output
    assert "PLANTED" not in result.output
    assert snapshot(repo) == before


def test_render_never_prints_a_plaintext_value_planted_in_a_sops_file(repo: Path) -> None:
    _tamper(repo, "plaintext")
    result = cli("render", "dev", repo=repo)
    assert result.exit_code == 2 and "PLANTED" not in result.output
    assert "postgresql.auth.password is not encrypted" in result.output
    report = validate_repo(repo)
    assert all("PLANTED" not in f.message for f in report.findings)
    assert "sops-encrypted" in {f.rule for f in report.errors}


@pytest.mark.parametrize("url", ["https://ghp_TOKEN0123456789@github.com/acme/repo.git",
                                 "https://user:pass@github.com/acme/repo.git"])
def test_credentials_in_a_repository_url_are_refused(tmp_path: Path, repo: Path,
                                                     url: str) -> None:
    result = cli("init", str(tmp_path / "new"), "--repo-url", url)
    assert result.exit_code == 2 and "carries credentials" in result.output
    assert "TOKEN0123" not in result.output and "pass" not in result.output.split("credentials")[0]
    settings = repo / layout.SETTINGS
    settings.write_text(settings.read_text().replace(
        "https://git.example.com/org/todo-gitops.git", url))
    found = [f for f in validate_repo(repo).findings if f.rule == "settings"]
    assert found and "carries credentials" in found[0].message
    assert all("TOKEN0123" not in f.message for f in found)


@pytest.mark.parametrize(("line", "words"), [
    ("repoURL: 123", "repoURL is a number, not a string"),
    ("targetRevision: [a]", "targetRevision is a list, not a string"),
    ("kubeVersion: 1.30", "kubeVersion is a number, not a string"),
    ("targetRevision: '-x'", "is not a branch, tag or commit"),
])
def test_settings_of_the_wrong_type_are_findings(repo: Path, line: str, words: str) -> None:
    settings = repo / layout.SETTINGS
    key = line.split(":")[0]
    lines = [ln for ln in settings.read_text().splitlines() if not ln.startswith(f"{key}:")]
    settings.write_text("\n".join([*lines, line]) + "\n")
    found = [f for f in validate_repo(repo).findings if f.rule == "settings"]
    assert found and words in found[0].message, found
    assert found[0].line is not None and found[0].line > 1


@pytest.mark.parametrize("kind", ["directory", "devnull", "missing-dir"])
def test_a_bad_age_key_file_is_refused(repo: Path, tmp_path: Path, kind: str) -> None:
    path = {"directory": tmp_path, "devnull": Path("/dev/null"),
            "missing-dir": tmp_path / "typo" / "keys.txt"}[kind]
    result = cli("env", "add", "qa", repo=repo, env={"SOPS_AGE_KEY_FILE": str(path)})
    assert result.exit_code == 3, result.output
    assert "internal error" not in result.output
    assert not (tmp_path / "typo").exists()


def test_text_output_escapes_control_characters_and_markup(repo: Path) -> None:
    name = "x\x1b[2J[bold red]y.yaml"
    (repo / "overlays" / "dev" / name).write_text("apiToken: plain\n")
    result = cli("validate", repo=repo)
    assert result.exit_code == 1
    assert "\x1b[2J" not in result.output and "\\x1b[2J[bold red]y.yaml" in result.output
    github = cli("validate", "--format", "github", repo=repo)
    assert "\x1b" not in github.output and "\\x1b" in github.output


def test_secrets_set_refuses_a_value_that_is_not_utf8(repo: Path, template: Path) -> None:
    before = snapshot(repo)
    result = cli("secrets", "set", "dev", sops.GEMINI_KEY, repo=repo,
                 input=b"caf\xe9\n",  # type: ignore[arg-type]
                 env={"SOPS_AGE_KEY_FILE": str(template.parent / "age" / "keys.txt")})
    assert result.exit_code == 2 and "not UTF-8" in result.output
    assert snapshot(repo) == before


@pytest.mark.parametrize("content", ["just a string\n", "- a\n- b\n"])
def test_an_overlay_that_is_not_a_mapping_is_a_finding(repo: Path, content: str) -> None:
    (repo / layout.values_path("dev")).write_text(content)
    report = validate_repo(repo)
    assert not report.ok
    assert [(f.rule, f.file) for f in report.errors] == [
        ("values-schema", layout.values_path("dev"))]
    assert "Helm's -f" in report.errors[0].message


@pytest.mark.parametrize("content", [b"a: \x00\n", b"a: caf\xe9\n", b"a: \x1b[31m\n"])
def test_control_characters_and_bytes_are_findings_with_a_line(repo: Path,
                                                               content: bytes) -> None:
    (repo / layout.app_path("dev")).write_bytes(b"# first line\n" + content)
    result = cli("validate", "--format", "json", repo=repo)
    assert result.exit_code == 1, result.output
    found = [f for f in json.loads(result.output)["findings"] if f["file"] == layout.app_path(
        "dev")]
    assert found and found[0]["line"] == 2
