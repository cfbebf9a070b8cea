"""The config management plugin that renders an environment, or the validation service, in Argo
CD's repo-server.

A sidecar of argocd-repo-server (see `argocd`) runs Argo CD's cmp-server with this plugin: for
an Application that names it, it decrypts the SOPS file of its source directory with sops and
pipes the plaintext into `helm template` as its last values file, so the plaintext never
touches a disk. It serves exactly two kinds of source path of its own checkout, and only for
this repository's URL:
- `overlays/<env>`: `chart/` with `overlays/<env>/values.yaml` and that overlay's SOPS file,
  release `todo`;
- `gitops/service`: `gitops/service/chart/` with `gitops/service/values.yaml` and its SOPS
  file, release `gitops-gen` (`servicedeploy`).

Upstream facts (argoproj/argo-cd at v3.5.1 unless named otherwise):
- the sidecar receives the whole repository (`reposerver/repository/repository.go` L2328-2333:
  rootPath is the repository unless manifest-generate-paths is on; `util/cmp/stream.go`
  L114-137 tars rootPath and sends the app's path relative to it) and runs generate in the
  Application's source directory (`cmpserver/plugin/plugin.go` L224-228, L75-82 `cmd.Dir`);
- a plugin without `discover` serves only Applications that name it
  (`util/app/discovery/discovery.go` L103-105, L189-193);
- the command's environment is the sidecar's own plus ARGOCD_APP_* and KUBE_* build variables;
  an Application can add only ARGOCD_ENV_* and PARAM_* names (`repository.go` L1827-1841,
  L2273-2312), so it cannot replace PATH or SOPS_AGE_KEY_FILE;
- ARGOCD_APP_NAMESPACE is the Application's destination namespace (`controller/state.go`
  L330, L358);
- Argo CD's own Helm source passes --namespace, --kube-version, --api-versions and --skip-tests
  the same way (`util/helm/cmd.go` L436-469); Helm reads `-f -` from standard input (helm/helm
  v4.2.1 `pkg/cli/values/options.go` L119-122);
- a generate command that prints nothing and exits 0 makes an automated sync with prune delete
  everything, hence `set -o pipefail` (docs/operator-manual/config-management-plugins.md L333-334).
"""

from __future__ import annotations

import shlex
from typing import Any

from ruamel.yaml.scalarstring import LiteralScalarString

from ..repo import layout, yamlio

PLUGIN_NAME = "todo-chatbot-sops"
CONFIGMAP_NAME = f"{PLUGIN_NAME}-plugin"
CONFIG_KEY = "plugin.yaml"
# Where the sidecar finds sops: the init container's volume, else the image's own PATH.
TOOLS_DIR = "/gitops-tools"

# The lines of the generate command that validate looks for (checks/bootstrapchecks.py).
PIPEFAIL = "set -euo pipefail"
REPO_URL_VAR = "ARGOCD_APP_SOURCE_REPO_URL"
DECRYPT = "sops --decrypt --input-type yaml --output-type yaml secrets.sops.yaml"

_GENERATE = """\
{pipefail}
# Renders {chart}/ of this repository with overlays/<env>/values.yaml and the decrypted
# overlays/<env>/secrets.sops.yaml, release {release}; or {service_chart}/ with
# {service}/values.yaml and the decrypted {service}/secrets.sops.yaml, release
# {service_release}. Refuses anything else.
PATH="{tools}:$PATH"
repo_url={repo_url}
fail() {{ echo "{name}: $*" >&2; exit 1; }}
[[ "${{{repo_var}:-}}" == "$repo_url" ]] \\
  || fail "renders only $repo_url, not '${{{repo_var}:-}}'"
src="${{ARGOCD_APP_SOURCE_PATH:-}}"
if [[ "$src" == "{service}" ]]; then
  dirs=({service_dirs}) chart={service_chart} release={service_release}
else
  env="${{src#{overlays}/}}"
  [[ "$src" == "{overlays}/$env" && "$env" =~ ^[a-z0-9]([-a-z0-9]{{0,61}}[a-z0-9])?$ ]] \\
    || fail "source.path must be {overlays}/<environment> or {service}, not '$src'"
  dirs=({overlays} "{overlays}/$env") chart={chart} release={release}
fi
here="$(pwd -P)"
root="${{here%/"$src"}}"
[[ "$root/$src" == "$here" ]] || fail "runs in <checkout>/$src, not $here"
for part in "${{dirs[@]}}" "$src/{values}" "$src/{secrets}" "$chart"; do
  [[ ! -L "$root/$part" ]] || fail "$part is a symbolic link; this plugin follows none"
done
[[ -f {values} && -f {secrets} && -f "$root/$chart/Chart.yaml" ]] \\
  || fail "$src/{values}, $src/{secrets} or $chart/Chart.yaml missing"
[[ -z "$(find "$root/$chart" -type l -print -quit)" ]] \\
  || fail "$chart/ holds a symbolic link; this plugin follows none"
args=(template "$release" "$root/$chart" --skip-tests
      --namespace "${{ARGOCD_APP_NAMESPACE:-default}}")
[[ -z "${{KUBE_VERSION:-}}" ]] || args+=(--kube-version "$KUBE_VERSION")
[[ -z "${{KUBE_API_VERSIONS:-}}" ]] || args+=(--api-versions "$KUBE_API_VERSIONS")
# The plaintext goes from sops to helm through a pipe, never to a file.
{decrypt} \\
  | helm "${{args[@]}}" -f {values} -f -
"""


def _parents(path: str) -> str:
    """path and each directory above it, outermost first: "a a/b" for a/b."""
    parts = path.split("/")
    return " ".join("/".join(parts[:i]) for i in range(1, len(parts) + 1))


def generate_script(repo_url: str) -> str:
    """The bash script the plugin's generate command runs, bound to this repository's URL."""
    return _GENERATE.format(
        pipefail=PIPEFAIL, chart=layout.CHART_DIR, release=layout.RELEASE_NAME,
        service=layout.SERVICE_DIR, service_dirs=_parents(layout.SERVICE_DIR),
        service_chart=layout.SERVICE_CHART_DIR, service_release=layout.SERVICE_NAME,
        tools=TOOLS_DIR, repo_url=shlex.quote(repo_url), name=PLUGIN_NAME,
        repo_var=REPO_URL_VAR, overlays=layout.OVERLAYS_DIR, values=layout.VALUES_FILE,
        secrets=layout.SECRETS_FILE, decrypt=DECRYPT,
    )


def plugin_config(repo_url: str) -> dict[str, Any]:
    """plugin.yaml: no discover (only Applications naming the plugin get it), no git creds."""
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "ConfigManagementPlugin",
        "metadata": {"name": PLUGIN_NAME},
        "spec": {
            "generate": {
                "command": ["bash", "-c"],
                "args": [LiteralScalarString(generate_script(repo_url))],
            },
            "preserveFileMode": False,
            "provideGitCreds": False,
        },
    }


def configmap(repo_url: str) -> dict[str, Any]:
    """The ConfigMap the sidecar mounts plugin.yaml from (subPath)."""
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": CONFIGMAP_NAME,
            "namespace": layout.ARGOCD_NAMESPACE,
            "labels": {"app.kubernetes.io/part-of": "argocd"},
        },
        "data": {CONFIG_KEY: LiteralScalarString(yamlio.dump(plugin_config(repo_url)))},
    }
