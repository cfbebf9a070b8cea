"""Checks that read files only: overlays, SOPS files, .sops.yaml, Applications, AppProjects.

None of them needs a private key: SOPS files keep keys and recipients in clear.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

from ..errors import PathRefused, TreeTooLarge, YamlError
from ..model import apps, overlays, sopsplugin
from ..repo import layout, safefs, yamlio
from ..repo.yamlio import lookup
from ..secrets import sops, sopsconfig
from ..secrets.demo_key import DEMO_RECIPIENT
from .findings import Finding, Severity
from .repofiles import EnvFiles, Loaded, RepoFiles, env_of, load_file
from .rules import Rule

RULES = (
    Rule("env-files", "every environment has its overlay and Application, and is in the "
         "promotion order"),
    Rule("sops-config", ".sops.yaml has a creation rule for every environment's secrets"),
    Rule("plaintext-secret", "no overlay holds a literal secret value"),
    Rule("sops-metadata", "every secrets file is a SOPS file (age, mac, lastmodified)"),
    Rule("sops-encrypted", "every value of a secrets file is encrypted"),
    Rule("sops-keys", "a secrets file holds the chart's secret keys, and only those"),
    Rule("sops-recipients", "a secrets file is encrypted to the recipients .sops.yaml names"),
    Rule("placeholder-secret", "no secret still holds the placeholder env add wrote"),
    Rule("demo-recipient", "no secrets file is encrypted only to the public demo recipient"),
    Rule("app-source", "an Application renders this repository's chart at its revision"),
    Rule("app-plugin", "an Application renders through the SOPS plugin, from its overlay only"),
    Rule("app-project", "an Application's AppProject exists and allows its source"),
    Rule("app-destination", "an Application's destination is one its AppProject allows"),
    Rule("app-sync", "an Application syncs by itself and cleans up when deleted"),
    Rule("root-app", "the root Application applies every environment's Application once"),
)

SECRET_NAME = re.compile(
    r"(?i)(password|passwd|secret|token|api[-_]?key|private[-_]?key|credential|dsn|connection[-_]?string)"
)
NOT_SECRET_NAME = re.compile(r"(?i)(existingsecret|secretname|secretref|keyref|secrets$)")
# Values that are secrets whatever their key is called: an age private key, a PEM private key,
# a Google API key. "[1]" matches just "1", Bech32's separator, which follows the prefix
# AGE-SECRET-KEY- in every age private key; the class keeps the whole prefix from appearing
# literally here, so key scanners do not flag this file as a leaked key.
SECRET_VALUE = re.compile(
    r"AGE-SECRET-KEY-[1]|-----BEGIN [A-Z ]*PRIVATE KEY-----|AIza[0-9A-Za-z_-]{35}"
)
SOPS_META = ("age", "lastmodified", "mac")


def _finding(rule: str, sev: Severity, env: str | None, loaded: Loaded | None, line: int | None,
             message: str) -> Finding:
    return Finding(rule, sev, env, loaded.path if loaded else None, line, message)


def _walk(node: Any, path: list[str | int],
          parent: Any = None) -> Iterator[tuple[list[str | int], Any, Any]]:
    """Every leaf: its path, its value and the container holding it."""
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _walk(value, [*path, str(key)], node)
    elif isinstance(node, list):
        for n, value in enumerate(node):
            yield from _walk(value, [*path, n], node)
    else:
        yield path, node, parent


def is_secret_name(name: str) -> bool:
    return bool(SECRET_NAME.search(name)) and not NOT_SECRET_NAME.search(name)


def _secret_named(path: list[str | int], parent: Any) -> bool:
    """The leaf's name (for an item of a list, the list's), or, for the value of a
    {name: X, value: Y} entry (a container's env), X, looks like a secret's."""
    names = [p for p in path if isinstance(p, str)]
    if names and is_secret_name(names[-1]):
        return True
    entry_name = parent.get("name") if isinstance(parent, dict) else None
    return path[-1:] == ["value"] and isinstance(entry_name, str) and is_secret_name(entry_name)


def check_presence(repo: RepoFiles, env_files: EnvFiles) -> Iterator[Finding]:
    for loaded, what in ((env_files.values, "overlay values"), (env_files.secrets, "SOPS secrets"),
                         (env_files.app, "Application"), (env_files.project, "AppProject")):
        if not loaded.exists:
            yield _finding("env-files", "error", env_files.env, loaded, None,
                           f"{what} of environment {env_files.env} missing; run 'gitops-gen env "
                           f"add {env_files.env}' to write it again")
    if repo.settings and env_files.env not in repo.settings.environments:
        yield Finding("env-files", "warning", env_files.env, layout.SETTINGS, None,
                      f"environment {env_files.env} is not in the promotion order; add it to "
                      f"'environments' in {layout.SETTINGS}")


def check_plaintext(env_files: EnvFiles) -> Iterator[Finding]:
    """Secret-looking keys with literal values in the overlay. The value is never shown."""
    return plaintext_in(env_files.values, env_files.env)


def plaintext_in(loaded: Loaded, env: str | None) -> Iterator[Finding]:
    """Secret-looking keys with literal values in a plain YAML file; values never shown."""
    if loaded.data is None:
        return
    dotted_secret = set(sops.SECRET_KEYS)
    for path, value, parent in _walk(loaded.data, []):
        dotted = ".".join(str(p) for p in path)
        named = _secret_named(path, parent)
        looks = isinstance(value, str) and bool(SECRET_VALUE.search(value))
        literal = value not in (None, "") and not sops.is_encrypted_value(value)
        if literal and (dotted in dotted_secret or named or looks):
            yield _finding("plaintext-secret", "error", env, loaded, loaded.line(path),
                           f"{dotted} holds a literal secret value (not shown); remove it here and "
                           f"set it with 'gitops-gen secrets set {env or 'ENV'} {dotted}'"
                           if dotted in dotted_secret else
                           f"{dotted} looks like a secret in plaintext (value not shown); move it "
                           "to a Secret the chart references (existingSecret) or the SOPS file")


def check_sops_file(repo: RepoFiles, env_files: EnvFiles) -> Iterator[Finding]:
    loaded = env_files.secrets
    if loaded.data is None:
        return
    meta = loaded.data.get("sops") if isinstance(loaded.data, dict) else None
    if not isinstance(meta, dict) or any(k not in meta for k in SOPS_META):
        yield _finding("sops-metadata", "error", env_files.env, loaded, loaded.line(["sops"]) or 1,
                       "not a SOPS-encrypted file (no sops metadata with age, mac, lastmodified); "
                       f"recreate it with 'gitops-gen secrets rotate {env_files.env}' or "
                       "restore it from git")
        return
    leaves = sops.flatten(loaded.data)
    for key, value in leaves.items():
        if not sops.is_encrypted_value(value):
            yield _finding("sops-encrypted", "error", env_files.env, loaded,
                           loaded.line(key.split(".")),
                           f"{key} is not encrypted (value not shown); re-encrypt with "
                           f"'gitops-gen secrets set {env_files.env} {key}'")
    missing = [k for k in sops.SECRET_KEYS if k not in leaves]
    extra = [k for k in leaves if k not in sops.SECRET_KEYS]
    if missing:
        yield _finding("sops-keys", "error", env_files.env, loaded, None,
                       f"missing secret keys {', '.join(missing)}; set them with "
                       f"'gitops-gen secrets set {env_files.env} KEY'")
    for key in extra:
        yield _finding("sops-keys", "error", env_files.env, loaded, loaded.line(key.split(".")),
                       f"{key} is not one of the chart's secret keys "
                       f"({', '.join(sops.SECRET_KEYS)}); remove it")
    yield from _check_recipients(repo, env_files, loaded)


def _check_recipients(repo: RepoFiles, env_files: EnvFiles, loaded: Loaded) -> Iterator[Finding]:
    have = sops.file_recipients(loaded.text or "")
    rules = repo.sops_config.data
    want = sopsconfig.rule_recipients(rules, env_files.env) if rules is not None else None
    if want is None:
        yield Finding("sops-recipients", "error", env_files.env, layout.SOPS_CONFIG, None,
                      f"no creation rule for {loaded.path}; run 'gitops-gen secrets rekey "
                      f"{env_files.env}' to write it")
    elif sorted(have) != sorted(want):
        yield _finding("sops-recipients", "error", env_files.env, loaded,
                       loaded.line(["sops", "age"]),
                       f"encrypted to {', '.join(have) or 'nobody'} but {layout.SOPS_CONFIG} says "
                       f"{', '.join(want)}; run 'gitops-gen secrets rekey {env_files.env}'")
    if have == [DEMO_RECIPIENT] and not overlays.is_dev(env_files.env):
        yield _finding("demo-recipient", "warning", env_files.env, loaded,
                       loaded.line(["sops", "age"]),
                       "encrypted only to the public demo recipient, whose private key anyone can "
                       f"read; add a real recipient: 'gitops-gen secrets rekey {env_files.env} "
                       f"--add-recipient age1... --remove-recipient {DEMO_RECIPIENT}'")


def check_placeholders(env_files: EnvFiles) -> Iterator[Finding]:
    for key in overlays.placeholders(env_files.values.text or ""):
        yield _finding("placeholder-secret", "warning", env_files.env, env_files.values, 1,
                       f"{key} still holds a placeholder; set it with 'gitops-gen secrets set "
                       f"{env_files.env} {key}' (value from stdin)")


def _mapping(value: Any) -> dict[str, Any]:
    """value when it is a mapping, else an empty one: a field of another type is the schema
    check's finding (argoschema), and reads here as absent."""
    return value if isinstance(value, dict) else {}


def _items(value: Any) -> list[Any]:
    """value when it is a list, else an empty one (as _mapping)."""
    return value if isinstance(value, list) else []


def check_application(repo: RepoFiles, env_files: EnvFiles) -> Iterator[Finding]:
    app, env = env_files.app, env_files.env
    if app.data is None or repo.settings is None:
        return
    spec = _mapping(lookup(app.data, "spec"))
    src = _mapping(spec.get("source"))
    expect = {
        ("metadata", "name"): layout.app_name(env),
        ("metadata", "namespace"): layout.ARGOCD_NAMESPACE,
        ("spec", "project"): layout.project_name(env),
        ("spec", "source", "repoURL"): repo.settings.repo_url,
    }
    for keys, want in expect.items():
        have = lookup(app.data, *keys)
        if have != want:
            yield _finding("app-source", "error", env, app, app.line(list(keys)),
                           f"{'.'.join(keys)} is {have!r}, expected {want!r}; run 'gitops-gen env "
                           f"add {env}' to rewrite the Application")
    revision = src.get("targetRevision")
    if revision != repo.settings.target_revision:
        yield _finding("app-source", "warning", env, app,
                       app.line(["spec", "source", "targetRevision"]),
                       f"targetRevision {revision!r} differs from "
                       f"{repo.settings.target_revision!r} in {layout.SETTINGS}; align them unless "
                       "this environment pins a release")
    yield from _check_plugin(repo, env_files, spec.get("source") or {})
    if "automated" not in _mapping(spec.get("syncPolicy")):
        yield _finding("app-sync", "warning", env, app, app.line(["spec", "syncPolicy"]),
                       "no syncPolicy.automated: Argo CD will not sync merges by itself; add it")
    if apps.FINALIZER not in _items(lookup(app.data, "metadata", "finalizers")):
        yield _finding("app-sync", "warning", env, app, app.line(["metadata"]),
                       f"no {apps.FINALIZER}: deleting the Application leaves its "
                       "resources running")
    yield from _check_project(repo, env_files, spec)


def _check_plugin(repo: RepoFiles, env_files: EnvFiles, src: Any) -> Iterator[Finding]:
    """The source is the environment's overlay, rendered by the plugin: it reads that
    overlay's two files and chart/ (model/sopsplugin.py), nothing an Application names."""
    app, env = env_files.app, env_files.env
    yield from plugin_findings(app, env, src, layout.overlay_dir(env), layout.secrets_path(env),
                               f"run 'gitops-gen env add {env}' to rewrite the Application")
    if isinstance(src, dict) and not safefs.is_file(
            repo.root, f"{layout.CHART_DIR}/Chart.yaml"):
        yield _finding("app-source", "error", env, app, app.line(["spec", "source", "path"]),
                       f"{layout.CHART_DIR}/Chart.yaml not found; restore the chart")


def plugin_findings(app: Loaded, env: str | None, src: Any, path: str, secrets: str,
                    fix: str) -> Iterator[Finding]:
    """app-plugin: an Application's one source is path, rendered by the decrypting plugin
    and no other tool (the plugin reads path's two files and its chart, nothing the
    Application names). secrets is the SOPS file it decrypts there; fix says how to rewrite."""
    if not isinstance(src, dict):
        yield _finding("app-plugin", "error", env, app, app.line(["spec"]),
                       f"spec.source is {'missing' if src is None else 'not a mapping'}; the "
                       f"Application renders from one source. {fix}")
        return
    name = lookup(src, "plugin", "name")
    if name != sopsplugin.PLUGIN_NAME:
        yield _finding("app-plugin", "error", env, app,
                       app.line(["spec", "source", "plugin", "name"] if name else ["spec",
                                                                                   "source"]),
                       f"source.plugin.name is {name!r}: only the {sopsplugin.PLUGIN_NAME} plugin "
                       f"decrypts {secrets} (gitops/bootstrap); {fix}")
    for tool in apps.SOURCE_TOOLS:
        if tool in src:
            yield _finding("app-plugin", "error", env, app, app.line(["spec", "source", tool]),
                           f"source.{tool} is set; the {sopsplugin.PLUGIN_NAME} plugin renders the "
                           f"chart with {path}'s files and nothing else. Remove it ({fix})")
    if src.get("path") != path:
        yield _finding("app-plugin", "error", env, app, app.line(["spec", "source", "path"]),
                       f"source.path is {src.get('path')!r}, expected {path!r}: the plugin "
                       f"renders the directory it runs in, and only that; {fix}")


def _check_project(repo: RepoFiles, env_files: EnvFiles, spec: dict[str, Any]) -> Iterator[Finding]:
    proj, app, env = env_files.project, env_files.app, env_files.env
    if proj.data is None or repo.settings is None:
        return
    project = lookup(proj.data, "metadata", "name")
    if project != spec.get("project"):
        yield _finding("app-project", "error", env, proj, proj.line(["metadata", "name"]),
                       f"AppProject is named {project!r} but the Application "
                       f"uses project {spec.get('project')!r}; run 'gitops-gen env add {env}'")
    pspec = _mapping(lookup(proj.data, "spec"))
    repo_url = lookup(spec, "source", "repoURL")
    if not any(fnmatchcase(str(repo_url), str(p)) for p in _items(pspec.get("sourceRepos"))):
        yield _finding("app-project", "error", env, proj, proj.line(["spec", "sourceRepos"]),
                       f"sourceRepos does not allow {repo_url}; add it or run 'gitops-gen "
                       f"env add {env}'")
    dest = _mapping(spec.get("destination"))
    if "server" in dest and "name" in dest:
        yield _finding("app-destination", "error", env, app, app.line(["spec", "destination"]),
                       "destination sets both server and name; keep one")
    if not any(_dest_allowed(dest, _mapping(allowed))
               for allowed in _items(pspec.get("destinations"))):
        yield _finding("app-destination", "error", env, app, app.line(["spec", "destination"]),
                       f"destination {dict(dest)} is outside AppProject {proj.path}'s "
                       f"destinations; run 'gitops-gen env add {env}' with the right "
                       "--namespace/--cluster")


def _dest_allowed(dest: dict[str, Any], allowed: dict[str, Any]) -> bool:
    ns_ok = fnmatchcase(str(dest.get("namespace", "")), str(allowed.get("namespace", "")))
    if "name" in dest and "name" in allowed:
        return ns_ok and fnmatchcase(str(dest["name"]), str(allowed["name"]))
    if "server" in dest and "server" in allowed:
        return ns_ok and fnmatchcase(str(dest["server"]), str(allowed["server"]))
    return False


def check_root_app(repo: RepoFiles) -> Iterator[Finding]:
    root = repo.root_app
    if root is None or not root.exists:
        yield Finding("root-app", "error", None, layout.ROOT_APP, None,
                      f"{layout.ROOT_APP} missing; restore it from a new 'gitops-gen init'")
        return
    if root.data is None or repo.settings is None:
        return
    url = lookup(root.data, "spec", "source", "repoURL")
    if url != repo.settings.repo_url:
        yield _finding("root-app", "error", None, root, root.line(["spec", "source", "repoURL"]),
                       f"repoURL is {url!r}, expected {repo.settings.repo_url!r} from "
                       f"{layout.SETTINGS}")
    project = lookup(root.data, "spec", "project")
    if project != layout.ROOT_PROJECT_NAME:
        yield _finding("root-app", "error", None, root, root.line(["spec", "project"]),
                       f"project is {project!r}: the root app runs in {layout.ROOT_PROJECT_NAME} "
                       f"({layout.BOOTSTRAP_DIR}/root-project.yaml), which may create only "
                       "Applications and AppProjects in the argocd namespace")


def check_sops_config(repo: RepoFiles) -> Iterator[Finding]:
    """What keeps sops from loading .sops.yaml (then no secrets command can work either)."""
    config = repo.sops_config
    for problem in sopsconfig.problems(config.data):
        yield _finding("sops-config", "error", None, config, config.line(list(problem.where)) or 1,
                       f"{problem.message}; sops cannot load {layout.SOPS_CONFIG}: fix that rule "
                       "or restore the file from git")


def check_orphans(repo: RepoFiles) -> Iterator[Finding]:
    data = repo.sops_config.data
    rules = data.get("creation_rules") if isinstance(data, dict) else None
    for n, rule in enumerate(rules if isinstance(rules, list) else []):
        regex = str(rule.get("path_regex", "")) if isinstance(rule, dict) else ""
        m = re.fullmatch(r"\^overlays/([a-z0-9-]+)/secrets\\\.sops\\\.yaml\$", regex)
        if m and not safefs.is_dir(repo.root, layout.overlay_dir(m.group(1))):
            yield _finding("sops-recipients", "warning", m.group(1), repo.sops_config,
                           repo.sops_config.line(["creation_rules", n]),
                           f"creation rule for a removed environment {m.group(1)}; delete the rule")


def check_other_overlay_files(repo: RepoFiles) -> Iterator[Finding]:
    """No plaintext secrets anywhere in overlays/, not only in the files env add writes."""
    known = {layout.VALUES_FILE, layout.SECRETS_FILE}
    try:
        entries = list(safefs.walk(repo.root, layout.OVERLAYS_DIR))
    except (PathRefused, TreeTooLarge):
        return  # reported when the repository was loaded
    for entry in entries:
        if entry.kind != "file" or not entry.name.endswith((".yaml", ".yml")) or \
                entry.name in known or entry.name.endswith(".sops.yaml"):
            continue
        env = env_of(entry.path)
        found: list[Finding] = []
        loaded = load_file(repo.root, entry.path, env, found)
        yield from found  # not YAML, or refused (not UTF-8, too large)
        yield from plaintext_in(loaded, env)


def _first_document(root: Path, rel: str) -> Any:
    """The first document of a manifest under gitops/, read as every other file is
    (yamlio.read's YAML 1.2), for its kind and name; None when it does not read."""
    try:
        docs = yamlio.read_documents(safefs.read_text(root, rel) or "", rel)
    except (YamlError, PathRefused):
        return None  # its own finding says why
    return docs[0] if docs else None


def _key(data: Any) -> tuple[str, str]:
    return str(data.get("kind")), str(lookup(data, "metadata", "name"))


def _may_hold(text: str, name: str) -> bool:
    """False only when no manifest in text can be named name: a name of letters, digits, dots
    and dashes (what a Kubernetes name is) appears literally in any YAML that spells it,
    unless an escape (a backslash in a double-quoted string) spells it, or it is a number
    another notation could write (0x1A is 26)."""
    plain = re.fullmatch(r"[a-z0-9.-]*[a-z][a-z0-9.-]*", name.lower()) is not None
    return not plain or "\\" in text or name.lower() in text.lower()


def _manifest_files(repo: RepoFiles) -> Iterator[str]:
    """The YAML files directly in gitops/apps and gitops/projects, in that order."""
    for sub_dir in (layout.APPS_DIR, layout.PROJECTS_DIR):
        try:
            entries = safefs.list_dir(repo.root, sub_dir)
        except PathRefused:
            continue  # a link: reported when the repository was loaded
        yield from (entry.path for entry in entries
                    if entry.kind == "file" and entry.name.endswith(".yaml"))


def _unique_names_of_selected(repo: RepoFiles) -> Iterator[Finding]:
    """check_unique_names for the named environments only: their Application and AppProject
    against every other manifest under gitops/, reading in full only the files whose text can
    name one of them (env add in a repository of hundreds of environments)."""
    mine: dict[tuple[str, str], str] = {}
    for env_files in repo.envs.values():
        for loaded in (env_files.app, env_files.project):
            if isinstance(loaded.data, dict):
                other = mine.setdefault(_key(loaded.data), loaded.path)
                if other != loaded.path:
                    yield _clash(_key(loaded.data), loaded.path, other)
    names = {name for _kind, name in mine}
    own = set(mine.values())
    for rel in _manifest_files(repo):
        if rel in own:
            continue
        try:
            text = safefs.read_text(repo.root, rel) or ""
        except PathRefused:
            continue  # its own finding says why
        if not any(_may_hold(text, name) for name in names):
            continue
        data = _first_document(repo.root, rel)
        if isinstance(data, dict) and _key(data) in mine:
            yield _clash(_key(data), mine[_key(data)], rel)
    yield from _root_clash(repo, mine)


def _clash(key: tuple[str, str], rel: str, other: str) -> Finding:
    return Finding("app-project", "error", env_of(rel), rel, None,
                   f"{key[0]} {key[1]} is also defined in {other}; Argo CD keeps "
                   "only one of them. Rename or remove one")


def _root_clash(repo: RepoFiles, seen: dict[tuple[str, str], str]) -> Iterator[Finding]:
    root = repo.root_app.data if repo.root_app is not None else None
    if isinstance(root, dict) and safefs.is_dir(repo.root, layout.GITOPS_DIR):
        key = _key(root)
        if key in seen:
            yield Finding("root-app", "error", None, seen[key], None,
                          f"{key[0]} {key[1]} replaces the app-of-apps in {layout.ROOT_APP}; "
                          "rename that environment")


def check_unique_names(repo: RepoFiles) -> Iterator[Finding]:
    """Two manifests under gitops/ with one kind and name: one silently replaces the other."""
    if repo.selected:
        yield from _unique_names_of_selected(repo)
        return
    seen: dict[tuple[str, str], str] = {}
    # The environments' Applications and AppProjects are loaded already: only strays are read.
    loaded = {f.path: f.data for env_files in repo.envs.values()
              for f in (env_files.app, env_files.project) if f.data is not None}
    for rel in _manifest_files(repo):
        data = loaded[rel] if rel in loaded else _first_document(repo.root, rel)
        if not isinstance(data, dict):
            continue
        key = _key(data)
        other = seen.setdefault(key, rel)
        if other != rel:
            yield _clash(key, rel, other)
    yield from _root_clash(repo, seen)


def file_findings(repo: RepoFiles) -> list[Finding]:
    out: list[Finding] = list(check_root_app(repo))
    out.extend(check_sops_config(repo))
    out.extend(check_orphans(repo))
    out.extend(check_other_overlay_files(repo))
    out.extend(check_unique_names(repo))
    for env_files in repo.envs.values():
        for check in (check_presence(repo, env_files), check_plaintext(env_files),
                      check_sops_file(repo, env_files),
                      check_placeholders(env_files), check_application(repo, env_files)):
            out.extend(check)
    return out
