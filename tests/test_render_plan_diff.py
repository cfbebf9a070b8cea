"""render, plan and diff against real git repositories, the real sops binary and real Helm."""

from __future__ import annotations

import base64
import os
import re
import subprocess
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

import git
import pytest
import yaml
from ruamel.yaml import YAML

from gitops_gen.checks import rendering
from gitops_gen.repo import layout, proc, yamlio
from gitops_gen.secrets import sops

from .conftest import AgeKey
from .helpers import cli, new_repo, snapshot

# What the chart renders for an environment made by 'env add' (NetworkPolicy on outside dev).
STAGING_OBJECTS = {
    "ConfigMap/todo-backend", "ConfigMap/todo-db", "ConfigMap/todo-frontend",
    "Deployment/todo-backend", "Deployment/todo-db", "Deployment/todo-frontend",
    "NetworkPolicy/todo-backend", "NetworkPolicy/todo-db",
    "PersistentVolumeClaim/todo-db",
    "Secret/todo-backend", "Secret/todo-db",
    "Service/todo-backend", "Service/todo-db", "Service/todo-frontend",
}
# Secret data keys that carry a value from the SOPS file (username is a plain chart value).
SECRET_DATA = {"Secret/todo-db": {"password"},
               "Secret/todo-backend": {"DATABASE_URL", "SECRET_KEY", "GEMINI_API_KEY"}}


# ---- helpers -----------------------------------------------------------------------------


@pytest.fixture
def repo(tmp_path: Path, age_key: AgeKey) -> Path:
    """A GitOps repository on main with one committed environment, staging."""
    root = new_repo(tmp_path / "gitops", ["staging"])
    assert git.Repo(root).active_branch.name == "main"
    return root


def sops_decrypt(text: str, key: AgeKey) -> dict[str, str]:
    """Plaintext of an encrypted secrets file, by the sops binary with the test's own key."""
    out = subprocess.run(
        [proc.which("sops"), "decrypt", "--input-type", "yaml", "--output-type", "yaml",
         "/dev/stdin"],
        input=text, env={**os.environ, "SOPS_AGE_KEY_FILE": str(key.path)},
        capture_output=True, text=True, check=True,
    )
    return {k: str(v) for k, v in sops.flatten(yaml.safe_load(out.stdout)).items()}


def secrets_text(root: Path, env: str, ref: str | None = None) -> str:
    path = layout.secrets_path(env)
    return git.Repo(root).git.show(f"{ref}:{path}") if ref else (root / path).read_text()


def enc_values(text: str) -> list[str]:
    values = [str(v) for v in sops.flatten(yaml.safe_load(text)).values()]
    assert values and all(sops.is_encrypted_value(v) for v in values)
    return values


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def forbidden(plain: dict[str, str], encrypted: list[str]) -> set[str]:
    """Every form of a secret value that must never be printed outside --decrypt."""
    out: set[str] = set()
    for value in plain.values():
        out |= {value, b64(value), quote(value, safe="")}
    for enc in encrypted:
        ciphertext = re.search(r"data:([^,]*)", enc)
        assert ciphertext is not None
        out |= {enc, b64(enc), quote(enc, safe=""), ciphertext.group(1)}
    return {v for v in out if v}


def objects(stream: str) -> dict[str, dict[str, Any]]:
    docs = [d for d in yaml.safe_load_all(stream) if d is not None]
    index = {f"{d['kind']}/{d['metadata']['name']}": d for d in docs}
    assert len(index) == len(docs), "two objects with the same kind and name"
    return index


def render(root: Path, env: str = "staging", *extra: str) -> str:
    result = cli("render", env, *extra, repo=root)
    assert result.exit_code == 0, result.output
    assert result.stderr == ""
    return result.stdout


def set_value(root: Path, env: str, dotted: str, value: Any) -> None:
    """Set one value in env's values.yaml, keeping its comments."""
    path = root / layout.values_path(env)
    data = yamlio.load(path.read_text(), str(path))
    node = data
    *parents, leaf = dotted.split(".")
    for part in parents:
        node = node.setdefault(part, {})
    node[leaf] = value
    path.write_text(yamlio.dump(data))


def commit(root: Path, message: str) -> str:
    repo = git.Repo(root)
    repo.git.add("-A")
    repo.git.commit("-m", message)
    return repo.head.commit.hexsha


def branch(root: Path, name: str) -> None:
    git.Repo(root).git.checkout("-b", name)


def switch(root: Path, name: str) -> None:
    git.Repo(root).git.checkout(name)


def one_line_error(result: Any) -> str:
    assert result.exit_code == 2, result.output
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    return str(lines[0])


def diff_blocks(text: str) -> dict[str, tuple[str, str]]:
    """{Kind/name: (status, body)} from diff's output."""
    out: dict[str, tuple[str, str]] = {}
    current: str | None = None
    for line in text.splitlines(keepends=True):
        head = re.match(r"^(added|removed|changed): (\S+/\S+)$", line.rstrip("\n"))
        if head:
            current = head.group(2)
            assert current not in out, f"{current} listed twice"
            out[current] = (head.group(1), "")
        else:
            assert current is not None, f"output before the first object: {line!r}"
            out[current] = (out[current][0], out[current][1] + line)
    return out


# ---- render ------------------------------------------------------------------------------


def test_render_streams_every_object_with_its_source_and_no_secret(
    repo: Path, age_key: AgeKey
) -> None:
    stream = render(repo)
    index = objects(stream)
    assert set(index) == STAGING_OBJECTS

    # Each document starts with '---' and the template it came from, which exists in the chart.
    chunks = stream.split("---\n")
    assert chunks[0] == ""
    for chunk in chunks[1:]:
        first, body = chunk.split("\n", 1)
        source = re.fullmatch(r"# Source: (chart/templates/(\w+)/[\w.-]+\.yaml)", first)
        assert source, first
        assert (repo / source.group(1)).is_file()
        obj = yaml.safe_load(body)
        labels = obj["metadata"]["labels"]
        assert labels["app.kubernetes.io/component"] == source.group(2)
    assert stream.count("# Source: ") == len(index)

    plain = sops_decrypt(secrets_text(repo, "staging"), age_key)
    assert sorted(plain) == sorted(sops.SECRET_KEYS)
    assert len(plain[sops.DB_PASSWORD]) >= 32
    for value in forbidden(plain, []):
        assert value not in stream

    for ref, keys in SECRET_DATA.items():
        data = index[ref]["data"]
        for key in keys:
            decoded = unquote(base64.b64decode(data[key]).decode())
            assert "ENC[AES256_GCM,data:" in decoded, (ref, key)
            for value in plain.values():
                assert value not in decoded, (ref, key)
        if ref == "Secret/todo-db":
            assert sops.is_encrypted_value(base64.b64decode(data["password"]).decode())


def test_render_output_writes_one_file_per_object_and_nothing_else(
    repo: Path, tmp_path: Path
) -> None:
    before = snapshot(repo)
    out = tmp_path / "rendered"
    result = cli("render", "staging", "--output", str(out), repo=repo)
    assert result.exit_code == 0, result.output
    assert result.stdout == f"wrote {len(STAGING_OBJECTS)} objects to {out}\n"

    files = sorted(p for p in out.rglob("*"))
    assert all(p.is_file() and p.parent == out for p in files)
    expected = sorted(f"{ref.split('/')[0].lower()}-{ref.split('/')[1]}.yaml"
                      for ref in STAGING_OBJECTS)
    assert [p.name for p in files] == expected
    stream = render(repo)
    streamed = objects(stream)
    for path in files:
        text = path.read_text()
        assert text.startswith("# Source: chart/templates/")
        docs = list(yaml.safe_load_all(text))
        assert len(docs) == 1
        ref = f"{docs[0]['kind']}/{docs[0]['metadata']['name']}"
        assert path.name == f"{docs[0]['kind'].lower()}-{docs[0]['metadata']['name']}.yaml"
        assert docs[0] == streamed[ref]
        assert f"---\n{text}" in stream
    assert snapshot(repo) == before

    # A second identical run rewrites nothing.
    mtimes = {p: p.stat().st_mtime_ns for p in files}
    again = cli("render", "staging", "--output", str(out), repo=repo)
    assert again.exit_code == 0, again.output
    assert {p: p.stat().st_mtime_ns for p in sorted(out.iterdir())} == mtimes


def test_render_output_removes_files_of_objects_that_no_longer_render(
    repo: Path, tmp_path: Path
) -> None:
    root = repo
    out = tmp_path / "rendered"
    first = cli("render", "staging", "--output", str(out), repo=root)
    assert first.exit_code == 0, first.output
    assert (out / "networkpolicy-todo-db.yaml").is_file()
    (out / "my-notes.yaml").write_text("kept: the user's own file\n")
    (out / "README.txt").write_text("kept\n")

    set_value(root, "staging", "networkPolicy.enabled", False)
    again = cli("render", "staging", "--output", str(out), repo=root)

    assert again.exit_code == 0, again.output
    gone = ["networkpolicy-todo-backend.yaml", "networkpolicy-todo-db.yaml"]
    assert again.stdout.splitlines()[-1] == (
        f"removed 2 files of objects that no longer render: {', '.join(gone)}")
    names = sorted(p.name for p in out.iterdir())
    assert not set(gone) & set(names)
    assert {"my-notes.yaml", "README.txt", "deployment-todo-db.yaml"} <= set(names)
    rendered = sorted(p.name for p in out.iterdir() if p.read_text().startswith("# Source:"))
    assert len(rendered) == len(names) - 2


def test_render_output_reads_as_the_round_trip_dump_did(repo: Path, tmp_path: Path) -> None:
    """render writes with the C emitter: each file holds the same data, in YAML 1.1 and 1.2
    readers, as the round-trip dump it replaced; only the layout of lists differs."""
    out = tmp_path / "rendered"
    assert cli("render", "staging", "--output", str(out), repo=repo).exit_code == 0
    yaml12 = YAML(typ="safe", pure=True)
    rendered = {rendering.object_filename(r): r for r in
                rendering.render_environment(repo, "staging")}
    assert sorted(rendered) == sorted(p.name for p in out.iterdir())
    for name, item in rendered.items():
        text = (out / name).read_text()
        before = yamlio.dump(item.obj)
        assert yaml.safe_load(text) == yaml.safe_load(before) == item.obj
        assert yaml12.load(text) == yaml12.load(before) == item.obj
        # The same lines in the same order; only the indentation of lists differs.
        assert [ln.strip() for ln in text.splitlines()[1:]] == [
            ln.strip() for ln in before.splitlines()]


# Strings that a YAML 1.1 reader (PyYAML, Go's YAML in Kubernetes and Argo CD) or a YAML 1.2
# reader (ruamel) takes for a bool, a number, a date or null unless they are quoted.
LOOKALIKES = ["on", "y", "N", "yes", "NO", "True", "1e3", "+1E3", "0o14", "0O14", "0X1F",
              "0b101", "1_000", "12:30", "~", "", "null", "2024-01-01", ".inf", ".NaN", "007",
              "-0", "0.5e-3", ".5", "1.", "=", "<<", "- x", "a: b", "#c", " lead", "trail ",
              "multi\nline\n", "'q'", "\x85x", "\ufeffbom", "x" * 5000, "\r\n", "500m"]


@pytest.mark.parametrize("value", LOOKALIKES)
def test_fast_dump_keeps_strings_strings_for_every_reader(value: str) -> None:
    data = {"key": value, value: ["item", value], "n": 1, "f": 0.5, "b": False, "z": None}
    text = yamlio.dump_fast(data)
    assert yaml.safe_load(text) == data
    assert YAML(typ="safe", pure=True).load(text) == data


def test_render_decrypt_puts_the_real_values_on_stdout(repo: Path, age_key: AgeKey) -> None:
    before = snapshot(repo)
    index = objects(render(repo, "staging", "--decrypt"))
    assert set(index) == STAGING_OBJECTS
    plain = sops_decrypt(secrets_text(repo, "staging"), age_key)

    db = index["Secret/todo-db"]["data"]
    assert base64.b64decode(db["password"]).decode() == plain[sops.DB_PASSWORD]
    assert base64.b64decode(db["username"]).decode() == "todo"
    backend = {k: base64.b64decode(v).decode()
               for k, v in index["Secret/todo-backend"]["data"].items()}
    assert backend["SECRET_KEY"] == plain[sops.SECRET_KEY]
    assert backend["GEMINI_API_KEY"] == plain[sops.GEMINI_KEY]
    assert backend["DATABASE_URL"] == (
        f"postgresql://todo:{quote(plain[sops.DB_PASSWORD], safe='')}@todo-db:5432/todoapp")
    assert "ENC[" not in str(index)
    assert snapshot(repo) == before


def test_render_decrypt_with_output_is_refused_and_writes_nothing(
    repo: Path, tmp_path: Path
) -> None:
    before = snapshot(repo)
    out = tmp_path / "plain"
    result = cli("render", "staging", "--decrypt", "--output", str(out), repo=repo)
    assert result.exit_code == 2, result.output
    assert "--decrypt writes to stdout only" in result.stderr
    assert result.stdout == ""
    assert not out.exists()
    assert snapshot(repo) == before


@pytest.mark.parametrize("args", [("render", "prod"), ("render", "prod", "--decrypt"),
                                  ("plan", "prod"), ("diff", "prod"),
                                  ("diff", "prod", "--base", "main", "--head", "main")])
def test_unknown_environment_exits_2_with_one_line(repo: Path, args: tuple[str, ...]) -> None:
    before = snapshot(repo)
    line = one_line_error(cli(*args, repo=repo))
    assert "no environment 'prod'" in line
    assert "env list" in line
    assert snapshot(repo) == before


# ---- plan --------------------------------------------------------------------------------


# The kind order inside a wave, written out from Argo CD v3.5.1's source:
# argoproj/argo-cd, tag v3.5.1, gitops-engine/pkg/sync/sync_tasks.go lines 22-67 (`kindOrder`,
# itself taken from Helm's kind_sorter.go); kinds not listed sort after these.
ARGOCD_KIND_ORDER = [
    "Namespace", "NetworkPolicy", "ResourceQuota", "LimitRange", "PodSecurityPolicy",
    "PodDisruptionBudget", "ServiceAccount", "Secret", "SecretList", "ConfigMap",
    "StorageClass", "PersistentVolume", "PersistentVolumeClaim", "CustomResourceDefinition",
    "ClusterRole", "ClusterRoleList", "ClusterRoleBinding", "ClusterRoleBindingList", "Role",
    "RoleList", "RoleBinding", "RoleBindingList", "Service", "DaemonSet", "Pod",
    "ReplicationController", "ReplicaSet", "Deployment", "HorizontalPodAutoscaler",
    "StatefulSet", "Job", "CronJob", "IngressClass", "Ingress", "APIService",
]


def parse_plan(text: str) -> list[tuple[int, str, list[tuple[str, str]]]]:
    """[(wave, header remark, [(Kind/name, rest of line)])] from plan's output."""
    waves: list[tuple[int, str, list[tuple[str, str]]]] = []
    for line in text.splitlines():
        head = re.fullmatch(r"Sync wave (-?\d+)  \((.*)\)", line)
        step = re.fullmatch(r"  (\S+/\S+)\s+(.*)", line)
        if head:
            waves.append((int(head.group(1)), head.group(2), []))
        elif step:
            waves[-1][2].append((step.group(1), step.group(2)))
        else:
            assert line.startswith(("note: ", "warning: ")), line
    return waves


def test_plan_lists_waves_database_backend_frontend_in_argocd_order(repo: Path) -> None:
    result = cli("plan", "staging", repo=repo)
    assert result.exit_code == 0, result.output
    assert "error" not in result.output
    waves = parse_plan(result.stdout)
    assert [w for w, _, _ in waves] == [0, 1, 2, 3]
    listed = [ref for _, _, steps in waves for ref, _ in steps]
    assert sorted(listed) == sorted(STAGING_OBJECTS)

    wave_of = {ref: w for w, _, steps in waves for ref, _ in steps}
    component = {ref: re.search(r"\[(\w+)\]$", rest).group(1)  # type: ignore[union-attr]
                 for _, _, steps in waves for ref, rest in steps}
    by = {c: [wave_of[r] for r in wave_of if component[r] == c]
          for c in ("database", "backend", "frontend")}
    assert max(by["database"]) < min(by["backend"])
    assert max(by["backend"]) < min(by["frontend"])
    assert wave_of["Deployment/todo-db"] < wave_of["Deployment/todo-backend"] \
        < wave_of["Deployment/todo-frontend"]
    assert wave_of["PersistentVolumeClaim/todo-db"] == wave_of["Deployment/todo-db"]
    # The frontend's LoadBalancer waits for an external address: final wave, not waited for.
    assert wave_of["Service/todo-frontend"] == 3
    steps3 = dict(waves[-1][2])
    assert steps3["Service/todo-frontend"].startswith("not waited for")

    *gated, (_, final_remark, _) = waves
    assert "final wave" in final_remark and "not health-gated" in final_remark
    for _, remark, _ in gated:
        assert remark == "waits until all Healthy"

    order = ARGOCD_KIND_ORDER
    for number, _, steps in waves:
        keys = [(order.index(ref.split("/")[0]), ref.split("/")[1]) for ref, _ in steps]
        assert keys == sorted(keys), f"wave {number} not in Argo CD's kind order: {steps}"
    kinds0 = [ref.split("/")[0] for ref, _ in waves[0][2]]
    assert kinds0 == ["NetworkPolicy", "Secret", "ConfigMap", "PersistentVolumeClaim",
                      "Service", "Deployment"]


def test_plan_models_prune_last_of_the_application(repo: Path) -> None:
    app = repo / layout.app_path("staging")
    text = app.read_text()
    assert "PruneLast" not in text
    app.write_text(text.replace("      - CreateNamespace=true\n",
                                "      - CreateNamespace=true\n      - PruneLast=true\n"))
    result = cli("plan", "staging", repo=repo)
    assert result.exit_code == 1, result.output
    body, _, errors = result.stdout.partition("\nerror: ")
    waves = parse_plan(body)
    assert [w for w, _, _ in waves] == [0, 1, 2, 3, 4]
    (_, remark3, steps3), (_, remark4, steps4) = waves[3], waves[4]
    assert "not health-gated" not in remark3
    assert remark3.startswith("waits until all Healthy on a sync that prunes")
    assert dict(steps3)["Service/todo-frontend"].startswith("waits for: external address")
    assert remark4.startswith("prune wave, PruneLast=true") and steps4 == []
    assert "note: PruneLast=true (the Application's syncOptions)" in body
    assert "note: CreateNamespace=true: Argo CD creates namespace todo-staging" in body
    assert errors.startswith("syncOptions PruneLast=true: on every sync that prunes")


def test_plan_notes_the_applications_other_sync_options(repo: Path) -> None:
    app = repo / layout.app_path("staging")
    app.write_text(app.read_text().replace(
        "      - CreateNamespace=true\n",
        "      - CreateNamespace=true\n      - ApplyOutOfSyncOnly=true\n"
        "      - ServerSideApply=true\n"))
    result = cli("plan", "staging", repo=repo)
    assert result.exit_code == 0, result.output
    waves = parse_plan(result.stdout)
    assert "final wave" in waves[-1][1] and "not health-gated" in waves[-1][1]
    assert "note: ApplyOutOfSyncOnly=true: only objects that differ" in result.stdout
    assert "note: ServerSideApply=true: objects are applied server-side" in result.stdout


def test_plan_reports_misordered_waves_the_chart_refuses(repo: Path) -> None:
    set_value(repo, "staging", "syncWaves.backend", 5)  # backend after frontend (2)
    before = snapshot(repo)
    line = one_line_error(cli("plan", "staging", repo=repo))
    assert "staging does not render" in line
    assert layout.values_path("staging") in line
    assert "syncWaves must increase" in line and "backend (5)" in line
    assert snapshot(repo) == before


def test_plan_fails_on_misordered_waves_of_a_chart_without_the_guard(repo: Path) -> None:
    helpers = repo / layout.CHART_DIR / "templates" / "_helpers.tpl"
    text = helpers.read_text()
    guard = re.compile(r'^\{\{- fail \(printf "syncWaves must increase.*\n', re.M)
    assert len(guard.findall(text)) == 1
    helpers.write_text(guard.sub("", text))
    set_value(repo, "staging", "syncWaves.backend", 5)

    result = cli("plan", "staging", repo=repo)
    assert result.exit_code == 1, result.output
    waves = parse_plan(result.stdout.split("\nerror: ")[0])
    wave_of = {ref: w for w, _, steps in waves for ref, _ in steps}
    assert wave_of["Deployment/todo-backend"] == 5 > wave_of["Deployment/todo-frontend"]
    assert ("error: frontend starts before backend is ready: Deployment/todo-frontend is in "
            "wave 2") in result.stdout


# ---- diff --------------------------------------------------------------------------------


def test_diff_shows_a_committed_value_change_against_main(repo: Path) -> None:
    branch(repo, "scale-backend")
    set_value(repo, "staging", "backend.replicaCount", 3)
    commit(repo, "staging: 3 backend replicas")
    before = snapshot(repo)

    result = cli("diff", "staging", "--base", "main", repo=repo)
    assert result.exit_code == 0, result.output
    blocks = diff_blocks(result.stdout)
    assert list(blocks) == ["Deployment/todo-backend"]
    status, body = blocks["Deployment/todo-backend"]
    assert status == "changed"
    assert "-  replicas: 2\n" in body and "+  replicas: 3\n" in body
    assert [ln for ln in body.splitlines() if ln.startswith(("+ ", "- ", "+  ", "-  "))] == [
        "-  replicas: 2", "+  replicas: 3"]
    assert snapshot(repo) == before


def test_diff_without_a_rendered_change_says_so(repo: Path) -> None:
    result = cli("diff", "staging", repo=repo)
    assert result.exit_code == 0, result.output
    assert result.stdout == "staging: no changes to rendered manifests\n"

    # A comment-only edit changes the file but not what Argo CD applies.
    branch(repo, "comment")
    path = repo / layout.values_path("staging")
    path.write_text(path.read_text() + "# reviewed\n")
    commit(repo, "comment")
    result = cli("diff", "staging", "--base", "main", repo=repo)
    assert result.exit_code == 0, result.output
    assert result.stdout == "staging: no changes to rendered manifests\n"


def test_diff_defaults_to_the_merge_base_with_the_target_revision(repo: Path) -> None:
    branch(repo, "scale-backend")
    set_value(repo, "staging", "backend.replicaCount", 3)
    commit(repo, "staging: 3 backend replicas")
    switch(repo, "main")
    set_value(repo, "staging", "frontend.replicaCount", 4)
    commit(repo, "staging: 4 frontend replicas")  # main moves on after the branch point
    switch(repo, "scale-backend")

    default = cli("diff", "staging", repo=repo)
    assert default.exit_code == 0, default.output
    assert list(diff_blocks(default.stdout)) == ["Deployment/todo-backend"]

    against_main = cli("diff", "staging", "--base", "main", repo=repo)
    blocks = diff_blocks(against_main.stdout)
    assert sorted(blocks) == ["Deployment/todo-backend", "Deployment/todo-frontend"]
    assert "-  replicas: 4\n+  replicas: 2\n" in blocks["Deployment/todo-frontend"][1]


def test_diff_on_main_compares_the_work_tree_with_head(repo: Path) -> None:
    set_value(repo, "staging", "frontend.replicaCount", 5)  # not committed
    result = cli("diff", "staging", repo=repo)
    assert result.exit_code == 0, result.output
    blocks = diff_blocks(result.stdout)
    assert list(blocks) == ["Deployment/todo-frontend"]
    assert "+  replicas: 5\n" in blocks["Deployment/todo-frontend"][1]


def test_diff_head_renders_a_ref_instead_of_the_work_tree(repo: Path) -> None:
    branch(repo, "scale-backend")
    set_value(repo, "staging", "backend.replicaCount", 3)
    commit(repo, "staging: 3 backend replicas")
    set_value(repo, "staging", "backend.replicaCount", 5)  # work tree only

    work_tree = diff_blocks(cli("diff", "staging", "--base", "main", repo=repo).stdout)
    assert "+  replicas: 5\n" in work_tree["Deployment/todo-backend"][1]

    result = cli("diff", "staging", "--base", "main", "--head", "HEAD", repo=repo)
    assert result.exit_code == 0, result.output
    at_head = diff_blocks(result.stdout)
    assert list(at_head) == ["Deployment/todo-backend"]
    assert "+  replicas: 3\n" in at_head["Deployment/todo-backend"][1]
    assert "replicas: 5" not in result.stdout

    same = cli("diff", "staging", "--base", "main", "--head", "main", repo=repo)
    assert same.stdout == "staging: no changes to rendered manifests\n"
    backwards = diff_blocks(cli("diff", "staging", "--base", "HEAD", "--head", "main",
                                repo=repo).stdout)
    assert "-  replicas: 3\n+  replicas: 2\n" in backwards["Deployment/todo-backend"][1]


def test_diff_of_rotated_secrets_names_keys_and_never_values(
    repo: Path, age_key: AgeKey
) -> None:
    branch(repo, "rotate")
    old_stream = render(repo)
    old_text = secrets_text(repo, "staging")
    result = cli("secrets", "rotate", "staging", repo=repo)
    assert result.exit_code == 0, result.output
    assert git.Repo(repo).is_dirty(untracked_files=True) is False
    new_stream = render(repo)
    new_text = secrets_text(repo, "staging")
    assert new_text.strip() == secrets_text(repo, "staging", "HEAD").strip()
    assert new_text.strip() != secrets_text(repo, "staging", "main").strip()

    old_plain, new_plain = sops_decrypt(old_text, age_key), sops_decrypt(new_text, age_key)
    assert old_plain[sops.DB_PASSWORD] != new_plain[sops.DB_PASSWORD]
    assert old_plain[sops.SECRET_KEY] != new_plain[sops.SECRET_KEY]
    never = forbidden(old_plain, enc_values(old_text)) | forbidden(new_plain, enc_values(new_text))
    for stream in (old_stream, new_stream):
        for ref in SECRET_DATA:
            never |= set(objects(stream)[ref]["data"].values()) - {b64("todo")}

    for args in (("--base", "main"), (), ("--base", "main", "--head", "HEAD")):
        diff = cli("diff", "staging", *args, repo=repo)
        assert diff.exit_code == 0, diff.output
        output = diff.output
        for value in never:
            assert value not in output
        assert "ENC[" not in output
        blocks = diff_blocks(diff.stdout)
        assert blocks["Secret/todo-db"] == ("changed", "  data.password: changed\n")
        status, body = blocks["Secret/todo-backend"]
        assert status == "changed"
        for key in ("DATABASE_URL", "SECRET_KEY"):
            assert f"  data.{key}: changed\n" in body
        assert "data.username" not in output
        for line in body.splitlines():
            assert re.fullmatch(r"  data\.\w+: changed", line), line
        # The backend's pods roll (checksum annotations); the database's do not: postgres
        # reads its password only at initdb, so a restart would be an outage for nothing.
        assert blocks["Deployment/todo-backend"][0] == "changed"
        assert "Deployment/todo-db" not in blocks


def test_diff_of_a_new_environment_shows_every_object_added(
    repo: Path, age_key: AgeKey
) -> None:
    branch(repo, "add-prod")
    result = cli("env", "add", "prod", repo=repo)
    assert result.exit_code == 0, result.output
    plain = sops_decrypt(secrets_text(repo, "prod"), age_key)
    never = forbidden(plain, enc_values(secrets_text(repo, "prod")))
    rendered = objects(render(repo, "prod"))

    for args in (("--base", "main"), ()):
        diff = cli("diff", "prod", *args, repo=repo)
        assert diff.exit_code == 0, diff.output
        blocks = diff_blocks(diff.stdout)
        assert set(blocks) == set(rendered)
        assert {status for status, _ in blocks.values()} == {"added"}
        for value in never:
            assert value not in diff.output
        assert "ENC[" not in diff.output
        secret_body = blocks["Secret/todo-db"][1]
        assert "+  password: (masked)\n" in secret_body
        assert "+  replicas: 1\n" in blocks["Deployment/todo-db"][1]


def test_diff_of_a_removed_environment_in_the_work_tree_shows_every_object_removed(
    repo: Path,
) -> None:
    rendered = objects(render(repo))
    branch(repo, "remove-staging")
    result = cli("env", "remove", "staging", "--yes", repo=repo)
    assert result.exit_code == 0, result.output
    assert not (repo / layout.values_path("staging")).exists()

    for args in (("--base", "main"), (), ("--base", "main", "--head", "HEAD")):
        diff = cli("diff", "staging", *args, repo=repo)
        assert diff.exit_code == 0, diff.output
        blocks = diff_blocks(diff.stdout)
        assert set(blocks) == set(rendered)
        assert {status for status, _ in blocks.values()} == {"removed"}
        assert "ENC[" not in diff.output


@pytest.mark.parametrize("args", [("--base", "no-such-branch"), ("--head", "no-such-branch"),
                                  ("--base", ""), ("--base", "main~5"),
                                  ("--base", "main:chart")])
def test_diff_with_a_bad_ref_exits_2_with_one_line(repo: Path, args: tuple[str, ...]) -> None:
    before = snapshot(repo)
    line = one_line_error(cli("diff", "staging", *args, repo=repo))
    assert f"git ref {args[1]!r} not found" in line
    assert snapshot(repo) == before
