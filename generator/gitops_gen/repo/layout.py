"""Every path and name of the GitOps repository, in one place.

No other module spells "overlays", "gitops" or a resource name: they ask here.
"""

from __future__ import annotations

import re
from pathlib import Path

from . import safefs

CHART_DIR = "chart"
CHART_NAME = "todo-chatbot"
OVERLAYS_DIR = "overlays"
GITOPS_DIR = "gitops"
APPS_DIR = f"{GITOPS_DIR}/apps"
PROJECTS_DIR = f"{GITOPS_DIR}/projects"
BOOTSTRAP_DIR = f"{GITOPS_DIR}/bootstrap"
ROOT_APP = f"{GITOPS_DIR}/root.yaml"
SERVICE_DIR = f"{GITOPS_DIR}/service"  # the validation service, deployed by Argo CD
SERVICE_CHART_DIR = f"{SERVICE_DIR}/chart"
SERVICE_APP = f"{SERVICE_DIR}/application.yaml"
SERVICE_PROJECT = f"{SERVICE_DIR}/project.yaml"
SOPS_CONFIG = ".sops.yaml"
SETTINGS = ".gitops-gen.yaml"
LOCK = "gitops-gen.lock"  # inside .git/

VALUES_FILE = "values.yaml"
SECRETS_FILE = "secrets.sops.yaml"

ARGOCD_NAMESPACE = "argocd"
RELEASE_NAME = "todo"
APP_PREFIX = "todo-chatbot-"
PROJECT_PREFIX = "todo-"
NAMESPACE_PREFIX = "todo-"
ROOT_APP_NAME = "todo-chatbot-root"
ROOT_PROJECT_NAME = "todo-root"
SERVICE_NAME = "gitops-gen"  # its Application, AppProject, namespace and Helm release

# Kubernetes object names are at most 63 characters as labels; "todo-chatbot-" is the longest
# prefix an environment name gets, so names stay within a DNS-1123 label with it.
ENV_NAME_MAX = 63 - len(APP_PREFIX)
_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


def is_dns_label(name: str, max_len: int = 63) -> bool:
    return len(name) <= max_len and bool(_DNS_LABEL.fullmatch(name))


def app_name(env: str) -> str:
    return f"{APP_PREFIX}{env}"


def project_name(env: str) -> str:
    return f"{PROJECT_PREFIX}{env}"


def default_namespace(env: str) -> str:
    return f"{NAMESPACE_PREFIX}{env}"


def overlay_dir(env: str) -> str:
    return f"{OVERLAYS_DIR}/{env}"


def values_path(env: str) -> str:
    return f"{OVERLAYS_DIR}/{env}/{VALUES_FILE}"


def secrets_path(env: str) -> str:
    return f"{OVERLAYS_DIR}/{env}/{SECRETS_FILE}"


def app_path(env: str) -> str:
    return f"{APPS_DIR}/{env}.yaml"


def project_path(env: str) -> str:
    return f"{PROJECTS_DIR}/{env}.yaml"


def env_files(env: str) -> list[str]:
    """Every repo-relative file that belongs to one environment."""
    return [values_path(env), secrets_path(env), project_path(env), app_path(env)]


def chart_dir(root: Path) -> Path:
    return root / CHART_DIR


def environments_on_disk(root: Path) -> list[str]:
    """Environment names that have an overlay directory holding values.yaml, sorted; links
    are not followed (safefs), so a linked directory or file makes no environment."""
    if not safefs.is_dir(root, OVERLAYS_DIR):
        return []
    return sorted(
        e.name for e in safefs.list_dir(root, OVERLAYS_DIR)
        if e.kind == "dir" and is_dns_label(e.name) and safefs.is_file(root, values_path(e.name))
    )


def service_values() -> str:
    return f"{SERVICE_DIR}/{VALUES_FILE}"


def service_secrets() -> str:
    return f"{SERVICE_DIR}/{SECRETS_FILE}"
