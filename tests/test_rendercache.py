"""The render cache: a chart and values rendered once are taken from disk, exactly as rendered;
what may not be kept (decrypted secrets, failures, values that are not plain JSON) is not; the
cache stays within its size; a validation that finds every render there never starts Helm."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest

from gitops_gen.checks import manifestchecks
from gitops_gen.checks.repofiles import load_repo
from gitops_gen.checks.validate import validate_repo
from gitops_gen.errors import ChartError, InputError
from gitops_gen.model import chart, rendercache
from gitops_gen.model.rendercache import RenderCache
from gitops_gen.repo import layout
from gitops_gen.secrets import sops

from .helpers import set_value, template_repo


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return template_repo(tmp_path_factory.mktemp("template"),
                         ["staging", "--host", "staging.example.com"])


def entries(cache: RenderCache) -> list[Path]:
    return sorted(cache.directory.glob("*/*.json")) if cache.directory.is_dir() else []


def render(root: Path, env: str, cache: RenderCache | None,
           decrypted: bool = False) -> list[chart.Rendered]:
    repo = load_repo(root, [env])
    layers = manifestchecks.env_layers(repo.envs[env], decrypted)
    return chart.render(repo.chart_files(), layers, namespace=f"todo-{env}", cache=cache)


def as_data(rendered: list[chart.Rendered]) -> list[tuple[str, int, dict[str, object]]]:
    return [(r.source, r.index, r.obj) for r in rendered]


def test_a_render_is_kept_and_what_is_kept_comes_back(repo: Path, tmp_path: Path) -> None:
    cache = RenderCache(tmp_path / "cache", 16 * 1024 * 1024)
    first = render(repo, "dev", cache)
    assert len(entries(cache)) == 1
    assert as_data(render(repo, "dev", cache)) == as_data(first)
    assert as_data(first) == as_data(render(repo, "dev", None))  # the same as no cache

    # What comes back is the entry itself (no Helm run): change it, and the render changes.
    [path] = entries(cache)
    entry = json.loads(path.read_text())
    entry["documents"][0][2]["metadata"]["name"] = "from-the-cache"
    path.write_text(json.dumps(entry))
    assert render(repo, "dev", cache)[0].name == "from-the-cache"


def test_anything_the_render_depends_on_is_in_the_key(repo: Path, tmp_path: Path) -> None:
    cache = RenderCache(tmp_path / "cache", 16 * 1024 * 1024)
    render(repo, "dev", cache)
    render(repo, "staging", cache)  # other values, other namespace
    assert len(entries(cache)) == 2
    set_value(repo, layout.values_path("dev"), ["backend", "replicaCount"], 3)
    changed = render(repo, "dev", cache)
    assert len(entries(cache)) == 3
    backend = [r for r in changed if r.kind == "Deployment" and "backend" in r.name]
    assert [d.obj["spec"]["replicas"] for d in backend] == [3]
    helpers = repo / layout.CHART_DIR / "templates" / "_helpers.tpl"
    helpers.write_text(helpers.read_text() + "\n{{/* a comment changes the chart */}}\n")
    render(repo, "dev", cache)
    assert len(entries(cache)) == 4
    files = chart.ChartFiles.read(repo / layout.CHART_DIR)
    keys = {cache.key(files.digest, "{}", release=r, namespace=n, include_tests=t)
            for r, n, t in [("todo", "a", False), ("other", "a", False), ("todo", "b", False),
                            ("todo", "a", True)]}
    assert len(keys) == 4


def test_an_entry_that_does_not_read_back_is_rendered_again(repo: Path, tmp_path: Path) -> None:
    cache = RenderCache(tmp_path / "cache", 16 * 1024 * 1024)
    good = as_data(render(repo, "dev", cache))
    [path] = entries(cache)
    text = path.read_text()
    for broken in (text[: len(text) // 2], json.dumps({"key": "another", "documents": []}),
                   "[]", "x" * (rendercache.MAX_ENTRY_BYTES + 1)):
        path.write_text(broken)
        assert as_data(render(repo, "dev", cache)) == good
        assert json.loads(path.read_text())["key"] == path.stem  # written again, whole


def test_decrypted_renders_are_never_kept(repo: Path, template: Path, tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOPS_AGE_KEY_FILE", str(template.parent / "age" / "keys.txt"))
    password = sops.decrypt(repo / layout.secrets_path("dev"), repo)[sops.DB_PASSWORD]
    from gitops_gen.checks.rendering import render_environment

    encoded = base64.b64encode(password.encode()).decode()
    rendered = render_environment(repo, "dev", decrypt=True)
    assert encoded in json.dumps(as_data(rendered))  # the render did decrypt
    root = rendercache.cache_root()
    kept = [p for p in root.rglob("*") if p.is_file()] if root.is_dir() else []
    assert not [p for p in kept if "renders" in str(p)]
    render_environment(repo, "dev")  # the encrypted render is kept, and holds no password
    kept = [p for p in root.rglob("*.json") if "renders" in str(p)]
    assert len(kept) == 1
    assert password not in kept[0].read_text()
    assert encoded not in kept[0].read_text()


def test_a_failed_render_is_not_kept(repo: Path, tmp_path: Path) -> None:
    cache = RenderCache(tmp_path / "cache", 16 * 1024 * 1024)
    set_value(repo, layout.values_path("dev"), ["syncWaves", "backend"], -100)
    with pytest.raises(ChartError, match="syncWaves must increase"):
        render(repo, "dev", cache)
    assert entries(cache) == []


def test_values_that_are_not_plain_json_are_not_kept(repo: Path, tmp_path: Path) -> None:
    cache = RenderCache(tmp_path / "cache", 16 * 1024 * 1024)
    assert not cache.put("k" * 64, [("templates/x.yaml", 0, {"when": date(2026, 1, 2)})])
    assert not cache.put("k" * 64, [("templates/x.yaml", 0, {1: "an int key"})])
    assert not cache.put("k" * 64, [("templates/x.yaml", 0, {"x": float("inf")})])
    assert entries(cache) == []
    assert cache.put("k" * 64, [("templates/x.yaml", 0, {"x": [1, 2.5, True, None, "s"]})])
    assert cache.get("k" * 64) == [("templates/x.yaml", 0, {"x": [1, 2.5, True, None, "s"]})]


def test_the_cache_stays_within_its_size(tmp_path: Path) -> None:
    size = 64 * 1024
    doc = {"data": "x" * 4000}
    keys = [f"{n:064x}" for n in range(60)]
    writers = [RenderCache(tmp_path / "cache", size) for _ in range(3)]  # three processes
    for n, key in enumerate(keys):
        assert writers[n % 3].put(key, [("templates/x.yaml", 0, doc)])
        os.utime(writers[0]._path(key), (n, n))  # written in this order
        total = sum(p.stat().st_size for p in entries(writers[0]))
        # each writer keeps it within size; writers at once may each add their quarter
        assert total <= size + 2 * writers[0].budget
    assert sum(p.stat().st_size for p in entries(writers[0])) <= size + 2 * writers[0].budget
    assert writers[0].get(keys[-1]) is not None  # the newest stay
    assert writers[0].get(keys[0]) is None  # the oldest went
    alone = RenderCache(tmp_path / "alone", size)
    for n, key in enumerate(keys):
        assert alone.put(key, [("templates/x.yaml", 0, doc)])
        os.utime(alone._path(key), (n, n))
        assert sum(p.stat().st_size for p in entries(alone)) <= size
    assert not alone.put("f" * 64, [("templates/x.yaml", 0, {"data": "x" * size})])


def test_a_chart_that_generates_values_is_never_kept(repo: Path, tmp_path: Path) -> None:
    cache = RenderCache(tmp_path / "cache", 16 * 1024 * 1024)
    template = repo / layout.CHART_DIR / "templates" / "token.yaml"
    template.write_text("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: token\n"
                        "data:\n  token: {{ randAlphaNum 32 | quote }}\n")
    first = {r.name: r.obj for r in render(repo, "dev", cache)}["token"]["data"]["token"]
    second = {r.name: r.obj for r in render(repo, "dev", cache)}["token"]["data"]["token"]
    assert first != second and entries(cache) == []
    assert not RenderCache.allows({"templates/_x.tpl": b'{{ genPrivateKey "rsa" }}'})
    assert RenderCache.allows({"templates/x.yaml": b"{{ range .Values.items }}{{ end }}",
                               "README.md": b"randAlphaNum"})


def test_the_size_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(rendercache.SIZE_VAR, "0")
    assert rendercache.default() is None
    monkeypatch.setenv(rendercache.SIZE_VAR, "8")
    cache = rendercache.default()
    assert cache is not None and cache.max_bytes == 8 * 1024 * 1024
    assert cache.directory.parent == rendercache.cache_root()
    for bad in ("lots", "-1", "1.5", "\u00b2", "12345678"):
        monkeypatch.setenv(rendercache.SIZE_VAR, bad)
        with pytest.raises(InputError, match=rendercache.SIZE_VAR):
            rendercache.default()


# A validation in a fresh interpreter: whether it loaded the Helm SDK (and so its Go runtime).
_LOADS_HELM = """
import sys
from pathlib import Path
from gitops_gen.checks.validate import validate_repo
report = validate_repo(Path(sys.argv[1]))
print(report.ok, "helm_python" in sys.modules)
"""


def test_a_validation_whose_renders_are_kept_never_starts_helm(repo: Path) -> None:
    def run(**env: str) -> str:
        done = subprocess.run([sys.executable, "-c", _LOADS_HELM, str(repo)], check=True,
                              capture_output=True, text=True, timeout=300,
                              env={**os.environ, **env})
        return done.stdout.split()

    assert run() == ["True", "True"]  # a cold cache: Helm renders, and fills it
    assert run() == ["True", "False"]  # every render kept: no Go runtime at all
    assert run(**{rendercache.SIZE_VAR: "0"}) == ["True", "True"]  # no cache: Helm again
    set_value(repo, layout.values_path("staging"), ["backend", "replicaCount"], 2)
    assert run() == ["True", "True"]  # one environment changed: rendered again
    assert validate_repo(repo).ok
