"""What Argo CD refuses or ignores in an Application or AppProject that a schema cannot say.

Exclusive fields (server or name, source or sources, one tool per source), sync options Argo
CD does not know, $ref value files without their source, duplicate project entries and role
policies that name another subject. Each finding is a SchemaProblem, like a schema's.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from .schemamessages import Location, SchemaProblem, format_path

_BOOL = ("true", "false")
SYNC_OPTIONS: Mapping[str, tuple[str, ...]] = {
    "Validate": _BOOL, "SkipDryRunOnMissingResource": _BOOL, "PruneLast": _BOOL,
    "Replace": _BOOL, "Force": _BOOL, "ServerSideApply": _BOOL, "ApplyOutOfSyncOnly": _BOOL,
    "CreateNamespace": _BOOL, "FailOnSharedResource": _BOOL, "RespectIgnoreDifferences": _BOOL,
    "ClientSideApplyMigration": _BOOL,
    "PrunePropagationPolicy": ("foreground", "background", "orphan"),
    "Prune": ("true", "false", "confirm"), "Delete": ("true", "false", "confirm"),
}
_TOOLS = ("helm", "kustomize", "directory", "plugin")


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _problem(location: Location, message: str, keyword: str) -> SchemaProblem:
    return SchemaProblem(format_path(location), message, keyword, location)


def _one_of(node: Mapping[str, Any], keys: tuple[str, str], where: Location,
            what: str) -> list[SchemaProblem]:
    present = [k for k in keys if node.get(k) not in (None, "", [], {})]
    if len(present) == 2:
        return [_problem(where, f"sets both {keys[0]} and {keys[1]}; {what}", "exclusive")]
    if not present:
        return [_problem(where, f"sets neither {keys[0]} nor {keys[1]}; {what}", "required")]
    return []


def _source_rules(source: Any, where: Location) -> list[SchemaProblem]:
    if not isinstance(source, Mapping):
        return []
    out: list[SchemaProblem] = []
    tools = [t for t in _TOOLS if isinstance(source.get(t), Mapping)]
    if len(tools) > 1:
        out.append(_problem(where, f"combines {' and '.join(tools)}; one source uses one tool "
                            "(Argo CD refuses multiple application source types)", "exclusive"))
    if source.get("path") and source.get("chart"):
        out.append(_problem(where, "sets both path (a chart in git) and chart (a chart from a "
                            "Helm repository); keep the one that matches repoURL", "exclusive"))
    return out


def _sync_option_rules(options: Any, where: Location) -> list[SchemaProblem]:
    out: list[SchemaProblem] = []
    for i, option in enumerate(_list(options)):
        key, eq, value = str(option).partition("=")
        if not eq:
            continue  # the schema's pattern already reports it
        if key not in SYNC_OPTIONS:
            close = [k for k in SYNC_OPTIONS if k.lower() == key.lower()]
            hint = f"did you mean {close[0]}?" if close else f"known: {', '.join(SYNC_OPTIONS)}"
            out.append(_problem((*where, i), f"unknown sync option {key!r} ({hint}); Argo CD "
                                "ignores it", "sync-option"))
        elif value not in SYNC_OPTIONS[key]:
            out.append(_problem((*where, i), f"{key} takes {' or '.join(SYNC_OPTIONS[key])}, "
                                f"not {value!r}; Argo CD ignores any other value", "sync-option"))
    return out


def application_rules(spec: Mapping[str, Any], _whole: Mapping[str, Any]) -> list[SchemaProblem]:
    """An Application's spec: destination, sources, $ref value files, sync options."""
    out: list[SchemaProblem] = []
    dest = spec.get("destination")
    if isinstance(dest, Mapping):
        out += _one_of(dest, ("server", "name"), ("spec", "destination"),
                       "Argo CD needs exactly one: a server URL or a registered cluster name")
    if not spec.get("sourceHydrator"):
        out += _one_of(spec, ("source", "sources"), ("spec",),
                       "an Application takes one source, or a list in sources")
    elif spec.get("source") or spec.get("sources"):
        out.append(_problem(("spec",), "sets sourceHydrator with source/sources; the hydrator "
                            "writes its own sync source, so drop source/sources", "exclusive"))
    out += _source_rules(spec.get("source"), ("spec", "source"))
    sources = _list(spec.get("sources"))
    refs = {s.get("ref") for s in sources if isinstance(s, Mapping) and s.get("ref")}
    for i, source in enumerate(sources):
        out += _source_rules(source, ("spec", "sources", i))
        helm = source.get("helm") if isinstance(source, Mapping) else None
        files = helm.get("valueFiles") if isinstance(helm, Mapping) else None
        for j, name in enumerate(_list(files)):
            m = re.match(r"^\$([^/]+)/", str(name))
            if m and m.group(1) not in refs:
                out.append(_problem(("spec", "sources", i, "helm", "valueFiles", j),
                                    f"refers to ${m.group(1)} but no source has "
                                    f"ref: {m.group(1)}; add that ref or fix the name", "ref"))
    policy = spec.get("syncPolicy")
    if isinstance(policy, Mapping):
        out += _sync_option_rules(policy.get("syncOptions"), ("spec", "syncPolicy", "syncOptions"))
    return out


def _duplicates(items: Any, key: Any, where: Location, what: str) -> list[SchemaProblem]:
    seen: set[Any] = set()
    out: list[SchemaProblem] = []
    for i, item in enumerate(_list(items)):
        k = key(item)
        try:
            hash(k)
        except TypeError:  # a list or a mapping where a name belongs: the schema says so
            continue
        if k in seen:
            out.append(_problem((*where, i), f"{what} {k!r} is listed twice; remove one "
                                "(Argo CD refuses duplicates)", "duplicate"))
        seen.add(k)
    return out


def _policy_problem(policy: str, project: str, role: str) -> str | None:
    parts = [p.strip() for p in policy.split(",")]
    if len(parts) != 6 or parts[0] != "p":
        return "must read 'p, proj:<project>:<role>, <resource>, <action>, <object>, allow|deny'"
    if parts[1] != f"proj:{project}:{role}":
        return f"names subject {parts[1]!r}; a role's policies must use proj:{project}:{role}"
    if parts[5] not in ("allow", "deny"):
        return f"ends with {parts[5]!r}; the effect is allow or deny"
    return None


def project_rules(spec: Mapping[str, Any], obj: Mapping[str, Any]) -> list[SchemaProblem]:
    """An AppProject's spec (obj is the whole object): destinations, duplicates, role policies."""
    out: list[SchemaProblem] = []
    dests = spec.get("destinations")
    for i, dest in enumerate(_list(dests)):
        if isinstance(dest, Mapping) and not (dest.get("server") or dest.get("name")):
            out.append(_problem(("spec", "destinations", i), "names neither server nor name; "
                                "such a destination allows nothing", "required"))
    out += _duplicates(dests, lambda d: (d.get("server"), d.get("name"), d.get("namespace"))
                       if isinstance(d, Mapping) else repr(d),
                       ("spec", "destinations"), "destination")
    out += _duplicates(spec.get("sourceRepos"), str, ("spec", "sourceRepos"), "source repository")
    roles = _list(spec.get("roles"))
    out += _duplicates(roles, lambda r: r.get("name") if isinstance(r, Mapping) else repr(r),
                       ("spec", "roles"), "role")
    metadata = obj.get("metadata")
    project = str(metadata.get("name", "")) if isinstance(metadata, Mapping) else ""
    for i, role in enumerate(roles):
        policies = role.get("policies") if isinstance(role, Mapping) else None
        for j, policy in enumerate(_list(policies)):
            problem = _policy_problem(str(policy), project, str(role.get("name", "")))
            if problem:
                out.append(_problem(("spec", "roles", i, "policies", j),
                                    f"policy {policy!r} {problem}", "policy"))
    return out
