"""gitops-gen beside kubeconform: the schema stage on the same objects, and `validate` against
the render-free script a user would write instead (per environment: `sops -d` of its secrets
and `kubeconform -strict` of its manifests, rendered beforehand and not timed).

This project does not ship or build kubeconform. The benchmark runs the binary named by
$KUBECONFORM, else .bench/bin/kubeconform in this repository, else kubeconform on PATH; with
none of them it says so and skips these comparisons. kubeconform gets the schemas gitops-gen
checks against, kubernetes-validate's bundled ones made standalone (kubeschema.build_schema),
under its file naming, as its only schema location; its HTTP(S) proxy is a closed loopback
port, so it reaches no network. Both sides run as child processes, interleaved, with warm
caches (gitops-gen's schema cache filled, bytecode compiled). validate is timed as it runs
again on an unchanged repository (its renders kept by content: model/rendercache.py), which the
targets judge, and with the render cache off (GITOPS_GEN_RENDER_CACHE=0), where Helm renders
every environment: the script renders nothing, its manifests are rendered beforehand.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from gitops_gen.checks import kubeschema, rendering
from gitops_gen.model import rendercache
from gitops_gen.repo import layout, proc

from . import schema_stage
from .child import ChildRun, checked, cli, summary, verdict
from .repos import build_repo, env_names, isolated

ENV_VAR = "KUBECONFORM"
CACHED = Path(__file__).resolve().parents[1] / ".bench" / "bin" / "kubeconform"
VERSION = "1.30"
OBJECTS = 3000
ENV_COUNTS = (3, 200)
RUNS = 3
# validate's wall time over the script's, at most: 3 environments, and the largest repository.
TARGET_SMALL, TARGET_LARGE = 0.7, 0.3
TARGET_RSS_MIB = 150.0  # peak RSS of validate on the largest repository, at most
_LOCATION = "{{ .ResourceKind }}{{ .KindSuffix }}.json"
_NO_NETWORK = {"HTTPS_PROXY": "http://127.0.0.1:9", "HTTP_PROXY": "http://127.0.0.1:9",
               "https_proxy": "http://127.0.0.1:9", "http_proxy": "http://127.0.0.1:9"}

# Our side of the schema-stage comparison: what validate does with rendered manifests, alone.
_STAGE = """
import sys, yaml
from gitops_gen.checks import kubeschema
with open(sys.argv[1]) as fh:
    objs = [d for d in yaml.load_all(fh, Loader=yaml.CSafeLoader) if d]
problems = kubeschema.validate_objects(objs, sys.argv[2])
print(len(objs), sum(map(len, problems)))
"""


def find() -> Path | None:
    """The kubeconform binary to compare with, or None."""
    given = os.environ.get(ENV_VAR)
    if given:
        return Path(given) if Path(given).is_file() else None
    if CACHED.is_file():
        return CACHED
    found = shutil.which("kubeconform")
    return Path(found) if found else None


def skip_reason() -> str:
    given = os.environ.get(ENV_VAR)
    where = f"${ENV_VAR}={given} is not a file" if given else (
        f"no ${ENV_VAR}, no {CACHED}, no kubeconform on PATH")
    return (f"kubeconform comparison skipped: {where}. Build kubeconform from its source "
            f"(Go, https://github.com/yannh/kubeconform) and set ${ENV_VAR} to the binary.")


def write_schemas(directory: Path, version: str, objs: Sequence[dict[str, Any]]) -> None:
    """The standalone schema of each type in objs, named as kubeconform looks them up."""
    directory.mkdir(parents=True, exist_ok=True)
    for name in sorted({kubeschema.schema_filename(o["kind"], o["apiVersion"]) for o in objs}):
        schema = kubeschema.build_schema(version, name)
        if schema is None:
            raise RuntimeError(f"kubernetes-validate has no schema {name} for {version}")
        (directory / name).write_text(json.dumps(schema))


def _kubeconform(binary: Path, schemas: Path, *paths: Path) -> list[str]:
    return [str(binary), "-strict", "-summary", "-schema-location", str(schemas / _LOCATION),
            *map(str, paths)]


def _ratio(ours: list[ChildRun], theirs: list[ChildRun]) -> dict[str, Any]:
    mine, other = summary(ours), summary(theirs)
    return {"gitops_gen": mine, "kubeconform": other, "ratio": mine["median"] / other["median"]}


def stage(binary: Path, tmp: Path, env: dict[str, str], runs: int) -> dict[str, Any]:
    """The schema stage alone (a process that loads and checks the objects) vs kubeconform."""
    objs = schema_stage.objects(OBJECTS)
    stream = tmp / "objects.yaml"
    stream.write_text(yaml.dump_all(objs, Dumper=yaml.CSafeDumper, sort_keys=False))
    schemas = tmp / "schemas"
    write_schemas(schemas, VERSION, objs)
    ours = [sys.executable, "-c", _STAGE, str(stream), VERSION]
    theirs = _kubeconform(binary, schemas, stream)
    for args in (ours, theirs):
        checked(args, env)  # warm: schema cache, bytecode, page cache
    timed: tuple[list[ChildRun], list[ChildRun]] = ([], [])
    for _ in range(runs):
        timed[0].append(checked(ours, env))
        timed[1].append(checked(theirs, env))
    return {"objects": len(objs), **_ratio(*timed)}


def _script(binary: Path, schemas: Path, root: Path, rendered: Path, envs: Sequence[str]) -> str:
    sops = shlex.quote(proc.which("sops"))
    secrets = shlex.quote(f"{root}/") + f'"{layout.secrets_path("$env")}"'
    check = shlex.join(_kubeconform(binary, schemas))
    lines = ["set -eu", f"for env in {' '.join(envs)}; do",
             f"  {sops} -d {secrets} > /dev/null",
             f'  {check} {shlex.quote(f"{rendered}/")}"$env" > /dev/null', "done"]
    return "\n".join(lines) + "\n"


def versus_script(binary: Path, tmp: Path, env: dict[str, str], counts: Sequence[int],
                  runs: int) -> dict[int, dict[str, Any]]:
    """validate of each repository vs the script over the same environments."""
    bash = shutil.which("bash")
    if bash is None:
        raise RuntimeError("bash not found")
    repos = {n: build_repo(tmp / f"repo-{n}-envs", n) for n in sorted(counts)}
    jobs: dict[int, tuple[list[str], list[str]]] = {}
    for n, root in repos.items():
        rendered = tmp / f"rendered-{n}"
        objs = []
        for name in env_names(n):
            items = rendering.render_environment(root, name)
            objs += [r.obj for r in items]
            (rendered / name).mkdir(parents=True)
            for file, text in rendering.to_files(items).items():
                (rendered / name / file).write_text(text)
        schemas = tmp / f"schemas-{n}"
        write_schemas(schemas, VERSION, objs)
        script = tmp / f"script-{n}.sh"
        script.write_text(_script(binary, schemas, root, rendered, env_names(n)))
        jobs[n] = (cli("--repo", str(root), "validate", "--format", "json"), [bash, str(script)])
    for ours, theirs in jobs.values():  # warm (and the renders kept)
        checked(ours, env, ok=(0, 1))
        checked(theirs, env)
    uncached = {**env, rendercache.SIZE_VAR: "0"}
    timed: dict[int, tuple[list[ChildRun], list[ChildRun], list[ChildRun]]] = {
        n: ([], [], []) for n in jobs}
    for _ in range(runs):
        for n, (ours, theirs) in jobs.items():
            timed[n][0].append(checked(ours, env, ok=(0, 1)))
            timed[n][1].append(checked(theirs, env))
            timed[n][2].append(checked(ours, uncached, ok=(0, 1)))
    return {n: {**_ratio(kept, script), "no_render_cache": _ratio(cold, script)}
            for n, (kept, script, cold) in timed.items()}


def run(env_counts: Sequence[int] = ENV_COUNTS, runs: int = RUNS) -> dict[str, Any]:
    binary = find()
    if binary is None:
        return {"skipped": skip_reason()}
    with tempfile.TemporaryDirectory(prefix="gitops-gen-bench-") as tmp_name:
        tmp = Path(tmp_name)
        with isolated(tmp) as env:
            env = {**env, **_NO_NETWORK}
            figures: dict[str, Any] = {"kubeconform": str(binary), "runs": runs,
                                       "kubernetes_version": VERSION}
            figures["schema_stage"] = stage(binary, tmp, env, runs)
            figures["validate"] = versus_script(binary, tmp, env, env_counts, runs)
    small, large = min(env_counts), max(env_counts)
    figures["targets"] = {"small": TARGET_SMALL, "large": TARGET_LARGE, "rss": TARGET_RSS_MIB}
    figures["targets_met"] = {
        "small": figures["validate"][small]["ratio"] <= TARGET_SMALL,
        "large": figures["validate"][large]["ratio"] <= TARGET_LARGE,
        "rss": peak_rss(figures["validate"][large]) <= TARGET_RSS_MIB,
    }
    return figures


def peak_rss(fig: dict[str, Any]) -> float:
    """validate's peak RSS in MiB, with and without the render cache: the larger."""
    return max(float(fig["gitops_gen"]["max_rss_mb"]),
               float(fig["no_render_cache"]["gitops_gen"]["max_rss_mb"]))


def format_figures(figures: dict[str, Any]) -> str:
    if "skipped" in figures:
        return str(figures["skipped"])
    st = figures["schema_stage"]
    lines = [
        f"kubeconform ({figures['kubeconform']}), Kubernetes {figures['kubernetes_version']}, "
        f"strict; child processes, median of {figures['runs']} interleaved rounds",
        f"  schema stage, {st['objects']} objects: gitops-gen {st['gitops_gen']['median']:.2f} s"
        f", kubeconform {st['kubeconform']['median']:.2f} s ({st['ratio']:.2f}x kubeconform)",
    ]
    for n, fig in figures["validate"].items():
        cold = fig["no_render_cache"]
        lines.append(
            f"  validate, {n} envs: {fig['gitops_gen']['median']:.2f} s; script (sops -d + "
            f"kubeconform per env): {fig['kubeconform']['median']:.2f} s "
            f"({fig['ratio']:.2f}x the script); validate's peak RSS "
            f"{fig['gitops_gen']['max_rss_mb']:.0f} MiB")
        lines.append(
            f"    without the render cache (every environment rendered by Helm): "
            f"{cold['gitops_gen']['median']:.2f} s ({cold['ratio']:.2f}x the script); peak "
            f"RSS {cold['gitops_gen']['max_rss_mb']:.0f} MiB")
    small, large = list(figures["validate"])[0], list(figures["validate"])[-1]
    met = figures["targets_met"]
    lines.append(f"  targets: {small} envs <= {TARGET_SMALL}x the script {verdict(met['small'])};"
                 f" {large} envs <= {TARGET_LARGE}x {verdict(met['large'])}; peak RSS at "
                 f"{large} envs <= {TARGET_RSS_MIB:.0f} MiB {verdict(met['rss'])}")
    return "\n".join(lines)


if __name__ == "__main__":
    print(format_figures(run()))
