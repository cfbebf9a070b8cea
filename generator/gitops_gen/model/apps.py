"""Argo CD manifests as data: the AppProject and Application of an environment, the root app."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..repo import layout

IN_CLUSTER = "https://kubernetes.default.svc"
FINALIZER = "resources-finalizer.argocd.argoproj.io"
API_VERSION = "argoproj.io/v1alpha1"
SECRETS_SCHEME = "secrets://"
ENV_LABEL = "gitops-gen.io/environment"
PART_OF = {"app.kubernetes.io/part-of": layout.CHART_NAME}

# The kinds the chart renders; an environment's AppProject allows exactly these.
NAMESPACED_KINDS: tuple[tuple[str, str], ...] = (
    ("", "ConfigMap"),
    ("", "Secret"),
    ("", "Service"),
    ("", "ServiceAccount"),
    ("", "PersistentVolumeClaim"),
    ("", "Pod"),
    ("apps", "Deployment"),
    ("autoscaling", "HorizontalPodAutoscaler"),
    ("networking.k8s.io", "Ingress"),
    ("networking.k8s.io", "NetworkPolicy"),
    ("policy", "PodDisruptionBudget"),
    ("rbac.authorization.k8s.io", "Role"),
    ("rbac.authorization.k8s.io", "RoleBinding"),
)


@dataclass(frozen=True)
class Destination:
    """Where an environment deploys: a cluster (server URL or registered name) and namespace."""

    namespace: str
    server: str | None = IN_CLUSTER
    name: str | None = None

    def as_dict(self) -> dict[str, str]:
        out = {"name": self.name} if self.name else {"server": self.server or IN_CLUSTER}
        out["namespace"] = self.namespace
        return out

    def describe(self) -> str:
        return f"{self.name or self.server}/{self.namespace}"

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Destination:
        name = data.get("name")
        return cls(
            namespace=str(data.get("namespace", "")),
            server=None if name else str(data.get("server") or IN_CLUSTER),
            name=str(name) if name else None,
        )


def value_files(env: str) -> list[str]:
    """helm.valueFiles relative to the chart: the overlay, then its SOPS file via helm-secrets."""
    return [
        layout.relative_to_chart(layout.values_path(env)),
        SECRETS_SCHEME + layout.relative_to_chart(layout.secrets_path(env)),
    ]


def build_project(env: str, repo_url: str, dest: Destination) -> dict[str, Any]:
    return {
        "apiVersion": API_VERSION,
        "kind": "AppProject",
        "metadata": {
            "name": layout.project_name(env),
            "namespace": layout.ARGOCD_NAMESPACE,
            "labels": {**PART_OF, ENV_LABEL: env},
            # Projects before Applications when the root app syncs them.
            "annotations": {"argocd.argoproj.io/sync-wave": "-1"},
        },
        "spec": {
            "description": f"Todo Chatbot, {env} environment (written by gitops-gen)",
            "sourceRepos": [repo_url],
            "destinations": [dest.as_dict()],
            # CreateNamespace=true needs the Namespace; nothing else cluster-wide.
            "clusterResourceWhitelist": [{"group": "", "kind": "Namespace"}],
            "namespaceResourceWhitelist": [{"group": g, "kind": k} for g, k in NAMESPACED_KINDS],
            "orphanedResources": {"warn": True},
        },
    }


def build_application(env: str, repo_url: str, revision: str, dest: Destination) -> dict[str, Any]:
    return {
        "apiVersion": API_VERSION,
        "kind": "Application",
        "metadata": {
            "name": layout.app_name(env),
            "namespace": layout.ARGOCD_NAMESPACE,
            "labels": {**PART_OF, ENV_LABEL: env},
            "annotations": {"argocd.argoproj.io/sync-wave": "0"},
            # Deleting the Application deletes its resources (the PVC's sync options keep data).
            "finalizers": [FINALIZER],
        },
        "spec": {
            "project": layout.project_name(env),
            "source": {
                "repoURL": repo_url,
                "targetRevision": revision,
                "path": layout.CHART_DIR,
                "helm": {
                    "releaseName": layout.RELEASE_NAME,
                    "valueFiles": value_files(env),
                },
            },
            "destination": dest.as_dict(),
            "syncPolicy": {
                "automated": {"prune": True, "selfHeal": True},
                # No PruneLast=true: pruning in a wave after the last one would health-gate the
                # final wave (LoadBalancer, Ingress, HPAs) on every sync that prunes; the PVC is
                # kept by its own Prune=false,Delete=false.
                "syncOptions": ["CreateNamespace=true"],
                "retry": {
                    "limit": 5,
                    "backoff": {"duration": "5s", "factor": 2, "maxDuration": "3m"},
                },
            },
            "revisionHistoryLimit": 10,
        },
    }


def build_root(repo_url: str, revision: str) -> dict[str, Any]:
    """The app-of-apps a cluster admin applies once: every project and app under gitops/."""
    return {
        "apiVersion": API_VERSION,
        "kind": "Application",
        "metadata": {
            "name": layout.ROOT_APP_NAME,
            "namespace": layout.ARGOCD_NAMESPACE,
            "labels": dict(PART_OF),
        },
        "spec": {
            "project": "default",
            "source": {
                "repoURL": repo_url,
                "targetRevision": revision,
                "path": layout.GITOPS_DIR,
                "directory": {
                    "recurse": True,
                    "include": "{apps/*.yaml,projects/*.yaml}",
                },
            },
            "destination": {"server": IN_CLUSTER, "namespace": layout.ARGOCD_NAMESPACE},
            "syncPolicy": {
                "automated": {"prune": True, "selfHeal": True},
                "retry": {
                    "limit": 5,
                    "backoff": {"duration": "5s", "factor": 2, "maxDuration": "3m"},
                },
            },
        },
    }
