"""Policy over rendered workloads: resources, probes, pinned tags, replicas, security context."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from ..model import overlays
from ..model.chart import Rendered
from ..repo import layout
from .findings import Finding, Severity
from .repofiles import EnvFiles
from .rules import Rule

RULES = (
    Rule("policy-resources", "every container sets resource requests and limits"),
    Rule("policy-probes", "every long-running container has readiness and liveness probes"),
    Rule("policy-image-tag", "every image is pinned to a release tag or digest"),
    Rule("policy-replicas", "outside dev, every component runs at least 2 replicas"),
    Rule("policy-security-context", "every container is at the 'restricted' Pod Security level"),
)

WORKLOADS = {"Deployment", "StatefulSet", "DaemonSet", "Job", "ReplicaSet"}
SCALED = ("backend", "frontend")
COMPONENT = "app.kubernetes.io/component"
# Tags that name a branch or a channel, not a release: the image under them changes.
MOVING_TAGS = frozenset({"latest", "main", "master", "stable", "edge", "dev", "nightly"})


def _pod(obj: dict[str, Any]) -> dict[str, Any]:
    return ((obj.get("spec") or {}).get("template") or {}).get("spec") or {}


def _component(obj: dict[str, Any]) -> str:
    return str(((obj.get("metadata") or {}).get("labels") or {}).get(COMPONENT, ""))


def image_tag(image: str) -> str | None:
    """The tag of an image reference, "" for none, None when pinned by digest."""
    if "@" in image:
        return None
    last = image.rsplit("/", 1)[-1]
    return last.split(":", 1)[1] if ":" in last else ""


def unpinned(tag: str) -> bool:
    """No tag, or one that moves (latest, main, stable, ...; any case)."""
    return tag == "" or tag.lower() in MOVING_TAGS


class _Ctx:
    def __init__(self, env_files: EnvFiles, item: Rendered) -> None:
        self.env_files, self.item = env_files, item
        self.where = f"{item.kind}/{item.name}"

    def finding(self, rule: str, sev: Severity, message: str,
                overlay_key: Sequence[str] | None = None) -> Finding:
        line = self.env_files.values.line(list(overlay_key)) if overlay_key else None
        if line is not None:
            return Finding(rule, sev, self.env_files.env, self.env_files.values.path, line,
                           f"{self.where}: {message}")
        return Finding(rule, sev, self.env_files.env, f"{layout.CHART_DIR}/{self.item.source}",
                       None, f"{self.where}: {message}")


def _containers(pod: dict[str, Any]) -> Iterator[tuple[dict[str, Any], bool]]:
    for c in pod.get("initContainers") or []:
        yield c, True
    for c in pod.get("containers") or []:
        yield c, False


def restricted_problems(container: dict[str, Any], pod: dict[str, Any]) -> list[str]:
    """What a container lacks for the "restricted" Pod Security level, as settings to make;
    container and pod are the securityContext of each."""
    problems = []
    if container.get("allowPrivilegeEscalation") is not False:
        problems.append("allowPrivilegeEscalation: false")
    if "ALL" not in ((container.get("capabilities") or {}).get("drop") or []):
        problems.append("capabilities.drop: [ALL]")
    if container.get("privileged"):
        problems.append("privileged: false")
    non_root = container.get("runAsNonRoot", pod.get("runAsNonRoot"))
    if non_root is not True:
        problems.append("runAsNonRoot: true")
    seccomp = (container.get("seccompProfile") or pod.get("seccompProfile") or {}).get("type")
    if seccomp not in ("RuntimeDefault", "Localhost"):
        problems.append("seccompProfile.type: RuntimeDefault")
    return problems


def _check_container(ctx: _Ctx, pod: dict[str, Any], c: dict[str, Any], init: bool,
                     strict: bool) -> Iterator[Finding]:
    name = c.get("name", "?")
    res = c.get("resources") or {}
    for part in ("requests", "limits"):
        missing = [r for r in ("cpu", "memory") if r not in (res.get(part) or {})]
        if missing:
            yield ctx.finding("policy-resources", "error",
                              f"container {name} has no {part} for {', '.join(missing)}; set "
                              f"{ctx.item.obj.get('kind', '').lower()} resources in the values")
    if not init and ctx.item.kind != "Job":
        for probe in ("livenessProbe", "readinessProbe"):
            if probe not in c:
                yield ctx.finding("policy-probes", "error",
                                  f"container {name} has no {probe}; add one in the chart")
    tag = image_tag(str(c.get("image", "")))
    if strict and tag is not None and unpinned(tag):
        comp = _component(ctx.item.obj)
        # The backend's and frontend's tags are values. The database's cannot move there (the
        # values schema takes a PostgreSQL major version), so a moving one is a template's.
        key = [comp, "image", "tag"] if comp in SCALED else None
        why = f"the moving tag {tag!r}" if tag else "no tag"
        fix = (f"set {'.'.join(key)} to a release tag" if key
               else "pin the image in the chart's template")
        yield ctx.finding("policy-image-tag", "error",
                          f"container {name} runs image {c.get('image')!r} without a pinned tag "
                          f"({why}); {fix}", key)
    problems = restricted_problems(c.get("securityContext") or {},
                                   pod.get("securityContext") or {})
    if problems:
        yield ctx.finding("policy-security-context", "error",
                          f"container {name} is not at the 'restricted' Pod Security level; "
                          f"set {', '.join(problems)}")


def _check_replicas(ctx: _Ctx, hpas: dict[str, dict[str, Any]]) -> Iterator[Finding]:
    obj, comp = ctx.item.obj, _component(ctx.item.obj)
    if ctx.item.kind != "Deployment" or comp not in SCALED:
        return
    hpa = hpas.get(ctx.item.name)
    if hpa is not None:
        low = (hpa.get("spec") or {}).get("minReplicas", 1)
        if low < 2:
            yield ctx.finding("policy-replicas", "error",
                              f"autoscaling minReplicas is {low}; outside dev keep at least 2",
                              [comp, "autoscaling", "minReplicas"])
        return
    replicas = (obj.get("spec") or {}).get("replicas", 1)
    if replicas < 2:
        yield ctx.finding("policy-replicas", "error",
                          f"{replicas} replica(s); outside dev run at least 2 for availability "
                          f"(set {comp}.replicaCount)", [comp, "replicaCount"])


def policy_findings(env_files: EnvFiles, rendered: Sequence[Rendered]) -> list[Finding]:
    strict = not overlays.is_dev(env_files.env)
    hpas = {
        str(((r.obj.get("spec") or {}).get("scaleTargetRef") or {}).get("name")): r.obj
        for r in rendered if r.kind == "HorizontalPodAutoscaler"
    }
    out: list[Finding] = []
    for item in rendered:
        if item.kind not in WORKLOADS or item.is_hook:
            continue
        ctx = _Ctx(env_files, item)
        pod = _pod(item.obj)
        for c, init in _containers(pod):
            out.extend(_check_container(ctx, pod, c, init, strict))
        if strict:
            out.extend(_check_replicas(ctx, hpas))
    return out
