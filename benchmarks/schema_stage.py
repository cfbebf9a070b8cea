"""The Kubernetes schema stage: gitops_gen.checks.kubeschema against kubernetes-validate itself.

About 3,000 realistic objects (30 distinct manifests of the kinds the chart renders, repeated
under new names) are validated three ways by kubeschema: cold (empty disk cache: build, write
and compile every schema), cold with the disk cache filled (compile only) and warm. A sample
of 200 goes through kubernetes_validate.validate(strict=True), which re-reads and re-resolves
its schema for every object; its time per object is extrapolated to the whole set.
"""

from __future__ import annotations

import copy
import os
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import kubernetes_validate

from gitops_gen.checks import kubeschema

Obj = dict[str, Any]
VERSION = "1.30"
TARGET_RATIO = 100.0
TARGET_RATE = 3000.0


def _labels(component: str) -> Obj:
    return {"app.kubernetes.io/name": "todo-chatbot", "app.kubernetes.io/instance": "todo",
            "app.kubernetes.io/component": component, "app.kubernetes.io/part-of": "todo-chatbot",
            "app.kubernetes.io/managed-by": "Helm"}


def _meta(name: str, component: str, wave: int) -> Obj:
    return {"name": name, "namespace": "todo-dev", "labels": _labels(component),
            "annotations": {"argocd.argoproj.io/sync-wave": str(wave)}}


def _deployment(name: str, component: str, wave: int, port: int) -> Obj:
    probe = {"httpGet": {"path": "/health", "port": "http"}, "periodSeconds": 10}
    return {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": _meta(name, component, wave),
        "spec": {
            "replicas": 2, "revisionHistoryLimit": 5,
            "selector": {"matchLabels": _labels(component)},
            "strategy": {"type": "RollingUpdate",
                         "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": 0}},
            "template": {
                "metadata": {"labels": _labels(component),
                             "annotations": {"checksum/config": "0" * 64}},
                "spec": {
                    "automountServiceAccountToken": False,
                    "securityContext": {"runAsNonRoot": True, "runAsUser": 1000,
                                        "fsGroup": 1000,
                                        "seccompProfile": {"type": "RuntimeDefault"}},
                    "containers": [{
                        "name": component, "image": f"ghcr.io/acme/todo-{component}:1.4.2",
                        "ports": [{"name": "http", "containerPort": port, "protocol": "TCP"}],
                        "envFrom": [{"configMapRef": {"name": name}}],
                        "env": [{"name": "DATABASE_PASSWORD", "valueFrom": {
                            "secretKeyRef": {"name": "todo-db", "key": "password"}}}],
                        "resources": {"requests": {"cpu": "100m", "memory": "128Mi"},
                                      "limits": {"cpu": 1, "memory": "512Mi"}},
                        "livenessProbe": probe, "readinessProbe": probe,
                        "securityContext": {"allowPrivilegeEscalation": False,
                                            "readOnlyRootFilesystem": True,
                                            "capabilities": {"drop": ["ALL"]}},
                        "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],
                    }],
                    "volumes": [{"name": "tmp", "emptyDir": {"sizeLimit": "64Mi"}}],
                },
            },
        },
    }


def _service(name: str, component: str, wave: int, port: int, kind: str) -> Obj:
    return {"apiVersion": "v1", "kind": "Service", "metadata": _meta(name, component, wave),
            "spec": {"type": kind, "selector": _labels(component),
                     "ports": [{"name": "http", "port": 80, "targetPort": port}]}}


def _small(kind: str, name: str, component: str, wave: int) -> Obj:
    obj: Obj = {"apiVersion": "v1", "kind": kind, "metadata": _meta(name, component, wave)}
    if kind == "ConfigMap":
        obj["data"] = {"LOG_LEVEL": "info", "API_BASE_URL": "/api", "PORT": "8000"}
    else:
        obj["type"] = "Opaque"
        obj["data"] = {"password": "c2VjcmV0"}
    return obj


def _pvc(name: str, size: str) -> Obj:
    return {"apiVersion": "v1", "kind": "PersistentVolumeClaim",
            "metadata": _meta(name, "database", 0),
            "spec": {"accessModes": ["ReadWriteOnce"],
                     "resources": {"requests": {"storage": size}}}}


def _ingress(name: str) -> Obj:
    paths = [{"path": p, "pathType": "Prefix", "backend": {"service": {
        "name": svc, "port": {"number": 80}}}} for p, svc in (("/api", "todo-backend"),
                                                               ("/", "todo-frontend"))]
    return {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
            "metadata": _meta(name, "frontend", 3),
            "spec": {"ingressClassName": "nginx",
                     "rules": [{"host": f"{name}.example.com", "http": {"paths": paths}}]}}


def _hpa(name: str, component: str) -> Obj:
    return {"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
            "metadata": _meta(name, component, 3),
            "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment",
                                        "name": name},
                     "minReplicas": 2, "maxReplicas": 6,
                     "metrics": [{"type": "Resource", "resource": {"name": "cpu", "target": {
                         "type": "Utilization", "averageUtilization": 75}}}]}}


def distinct_objects() -> list[Obj]:
    """30 different manifests: what a few releases of the chart render."""
    out: list[Obj] = []
    for i, (component, port, wave) in enumerate(
        [("database", 5432, 0), ("backend", 8000, 1), ("frontend", 3000, 2),
         ("worker", 8080, 1), ("scheduler", 8081, 1)]
    ):
        name = f"todo-{component}"
        out += [
            _deployment(name, component, wave, port),
            _service(name, component, wave, port, "LoadBalancer" if i == 2 else "ClusterIP"),
            _small("ConfigMap", name, component, wave),
            _small("Secret", name, component, wave),
        ]
    out += [_pvc(f"todo-data-{i}", size) for i, size in enumerate(["1Gi", "5Gi", "500Mi"])]
    out += [_ingress(f"todo-{n}") for n in ("web", "api", "admin")]
    out += [_hpa(f"todo-{c}", c) for c in ("backend", "frontend", "worker", "scheduler")]
    return out


def objects(count: int = 3000) -> list[Obj]:
    """`count` objects: the distinct ones repeated, each copy renamed."""
    base = distinct_objects()
    out = []
    for i in range(count):
        obj = copy.deepcopy(base[i % len(base)])
        obj["metadata"]["name"] += f"-{i // len(base)}"
        out.append(obj)
    return out


@contextmanager
def _fresh_cache() -> Iterator[None]:
    old = os.environ.get("XDG_CACHE_HOME")
    with tempfile.TemporaryDirectory(prefix="gitops-gen-bench-") as tmp:
        os.environ["XDG_CACHE_HOME"] = tmp
        kubeschema.forget_compiled()
        try:
            yield
        finally:
            if old is None:
                os.environ.pop("XDG_CACHE_HOME", None)
            else:
                os.environ["XDG_CACHE_HOME"] = old
            kubeschema.forget_compiled()


def _timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def run(count: int = 3000, sample: int = 200, version: str = VERSION) -> dict[str, Any]:
    """Time both validators; return the figures (objects per second, ratios, targets met)."""
    objs = objects(count)
    with _fresh_cache():
        cold, results = _timed(lambda: kubeschema.validate_objects(objs, version))
        kubeschema.forget_compiled()
        cold_disk, _ = _timed(lambda: kubeschema.validate_objects(objs, version))
        warm = min(_timed(lambda: kubeschema.validate_objects(objs, version))[0]
                   for _ in range(3))
    problems = sum(len(r) for r in results)
    picked = objs[:sample]  # every distinct manifest, several times over
    ref, _ = _timed(lambda: [kubernetes_validate.validate(o, version, strict=True)
                             for o in picked])
    ref_rate = len(picked) / ref
    rates = {"cold": count / cold, "cold_disk_cache": count / cold_disk, "warm": count / warm}
    return {
        "objects": count,
        "distinct": len(distinct_objects()),
        "kubernetes_version": version,
        "problems_found": problems,
        "kubeschema_seconds": {"cold": cold, "cold_disk_cache": cold_disk, "warm": warm},
        "kubeschema_objects_per_second": rates,
        "kubernetes_validate_sample": len(picked),
        "kubernetes_validate_objects_per_second": ref_rate,
        "kubernetes_validate_seconds_extrapolated": count / ref_rate,
        "ratio": {k: v / ref_rate for k, v in rates.items()},
        "targets": {"ratio": TARGET_RATIO, "objects_per_second": TARGET_RATE},
        "targets_met": rates["warm"] / ref_rate >= TARGET_RATIO and rates["warm"] >= TARGET_RATE,
    }


def format_figures(figures: dict[str, Any]) -> str:
    rates = figures["kubeschema_objects_per_second"]
    ratio = figures["ratio"]
    ref = figures["kubernetes_validate_objects_per_second"]
    lines = [
        f"schema stage: {figures['objects']} objects ({figures['distinct']} distinct), "
        f"Kubernetes {figures['kubernetes_version']}, strict",
        f"  kubeschema cold (build + compile): {rates['cold']:>10,.0f} objects/s  "
        f"({ratio['cold']:,.0f}x)",
        f"  kubeschema cold (disk cache):      {rates['cold_disk_cache']:>10,.0f} objects/s  "
        f"({ratio['cold_disk_cache']:,.0f}x)",
        f"  kubeschema warm:                   {rates['warm']:>10,.0f} objects/s  "
        f"({ratio['warm']:,.0f}x)",
        f"  kubernetes-validate (sample of {figures['kubernetes_validate_sample']}): "
        f"{ref:>6,.0f} objects/s",
        f"  targets (>= {TARGET_RATIO:.0f}x and >= {TARGET_RATE:,.0f} objects/s warm): "
        f"{'met' if figures['targets_met'] else 'NOT met'}",
    ]
    if figures["problems_found"]:
        lines.append(f"  warning: {figures['problems_found']} schema problems in the bench set")
    return "\n".join(lines)
