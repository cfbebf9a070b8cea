"""The dashboard, read by a real browser: headless Chromium loads it from the real service.

The repository: dev runs backend 1.3.0, staging 1.2.0 (so staging is behind dev); a branch
`broken` has a commit where staging fails validation.
"""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime
from pathlib import Path

import git
import httpx
import pytest

from gitops_gen.repo import layout
from gitops_gen.secrets import sops
from gitops_gen.service.server import create_app

from .browser import Chromium, Element, chromium  # noqa: F401 - a fixture
from .helpers import set_value, template_repo
from .servicekit import TIMEOUT, running

STAGING, DEV = layout.values_path("staging"), layout.values_path("dev")


def commits(root: Path) -> None:
    repo = git.Repo(root)
    set_value(root, DEV, ["backend", "image", "tag"], "1.3.0")
    repo.git.commit("-q", "-am", "dev: backend 1.3.0")
    repo.git.checkout("-q", "-b", "broken")
    set_value(root, STAGING, ["frontend", "replicaCount"], -1)
    repo.git.commit("-q", "-am", "staging: frontend replicas -1")
    repo.git.checkout("-q", "main")


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return template_repo(tmp_path_factory.mktemp("dashboard"),
                         ["staging", "--host", "staging.example.com", "--backend-tag", "1.2.0"],
                         then=commits)


def plaintext_secrets(template: Path, root: Path, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every secret value of the repository, decrypted with the template's age key."""
    monkeypatch.setenv("SOPS_AGE_KEY_FILE", str(template.parent / "age" / "keys.txt"))
    values = []
    for env in ("dev", "staging"):
        plain = sops.decrypt(root / layout.secrets_path(env), root)
        values += [str(v) for v in plain.values() if len(str(v)) >= 8]
    assert len(values) >= 4
    return values


def wait_ready(url: str, path: str = "/") -> str:
    """The page once its snapshot is taken (it says 'pending' until then)."""
    deadline = time.monotonic() + 180
    while True:
        page = httpx.get(url + path, timeout=TIMEOUT)
        assert page.status_code == 200, page.text
        if 'data-state="pending"' not in page.text:
            return page.text
        assert time.monotonic() < deadline, "the snapshot was not taken in time"
        time.sleep(0.2)


def cards(dom: Element) -> dict[str, Element]:
    return {card.attrs["data-env"]: card for card in dom.all("article.env")}


def field_of(card: Element, name: str) -> str:
    items = [c for c in card.one("dl").children if isinstance(c, Element)]
    for dt, dd in zip(items[::2], items[1::2], strict=True):
        if dt.text == name:
            return dd.text
    raise AssertionError(f"no {name} in {card.attrs['data-env']}")


def test_the_dashboard_in_chromium(repo: Path, template: Path, tmp_path: Path,
                                   chromium: Chromium,  # noqa: F811 - the fixture
                                   monkeypatch: pytest.MonkeyPatch) -> None:
    app = create_app(repo, webhook_secret=None, github=None)
    head = git.Repo(repo).commit("main").hexsha
    with running(app) as url:
        assert 'data-state="pending"' in httpx.get(url, timeout=TIMEOUT).text
        validated = httpx.post(f"{url}/validate", json={"ref": "broken"}, timeout=TIMEOUT)
        assert validated.status_code == 200 and validated.json()["ok"] is False
        wait_ready(url)
        dom = chromium.dom(f"{url}/")
        shot = chromium.screenshot(f"{url}/", tmp_path / "dashboard.png")

    verdict = dom.one("section#verdict")
    assert verdict.attrs["data-state"] == "ok"
    assert verdict.text.startswith("main is valid") and head[:12] in verdict.text
    envs = cards(dom)
    assert list(envs) == ["dev", "staging"]  # promotion order
    dev, staging = envs["dev"], envs["staging"]
    assert field_of(dev, "backend image") == "1.3.0"
    assert field_of(staging, "backend image") == "1.2.0"
    assert field_of(staging, "frontend image") == "1.0.0 chart default"
    assert field_of(staging, "namespace") == "todo-staging"
    assert field_of(staging, "cluster") == "in-cluster"
    assert field_of(dev, "chart") == "0.3.0"
    assert field_of(dev, "placeholders") == "backend.secrets.geminiApiKey"  # Gemini key unset
    assert field_of(staging, "placeholders") == "none"
    recipient = staging.one("code.recipient").attrs["title"]
    assert recipient.startswith("age1") and recipient[:10] in field_of(staging, "recipients")
    # staging is behind dev: what a promotion would move, and the command that does it
    assert staging.attrs["data-behind"] == "dev" and dev.attrs["data-behind"] == ""
    behind = staging.one("div.behind").text
    assert "backend 1.2.0 → 1.3.0" in behind and "frontend" not in behind
    assert "gitops-gen promote dev staging" in behind
    # each environment's sync plan, as waves: database, then backend, then frontend
    for env in ("dev", "staging"):
        waves = dom.one(f"section.plan[data-plan={env}]").all("div.wave")
        numbers = [int(w.attrs["data-wave"]) for w in waves]
        assert numbers == sorted(numbers) and len(numbers) >= 3
        components = [next(iter(s.classes - {"step", "gated"})) for w in waves
                      for s in w.all("span.step")]
        order = [c for i, c in enumerate(components) if c not in components[:i]]
        assert order == ["database", "backend", "frontend"]
        assert "final" in waves[-1].classes
        assert any("gated" in s.classes and s.text == "Deployment/todo-db"
                   for s in waves[0].all("span.step"))
    # the findings at the target revision, and the recent validations with theirs
    rules = {row.attrs["data-rule"] for row in dom.one("table#findings").all("tr[data-rule]")}
    assert "placeholder-secret" in rules
    recent = dom.one("table#recent").all("tr[data-source]")
    by_source = {row.attrs["data-source"]: row for row in recent}
    assert set(by_source) == {"api", "dashboard"}
    assert "POST /validate broken" in by_source["api"].text
    assert "1 error" in by_source["api"].text
    assert "values-schema" in {r.attrs["data-rule"] for r in by_source["api"].all("tr[data-rule]")}
    # the page refreshes itself, and never shows a secret value
    assert dom.one("main").attrs["data-refresh"] == "15"
    text = dom.text
    for value in plaintext_secrets(template, repo, monkeypatch):
        assert value not in text
    assert shot.stat().st_size > 20_000  # a page, not a blank


def test_a_commit_page_refreshes_itself_until_validated(
        repo: Path, tmp_path: Path, chromium: Chromium) -> None:  # noqa: F811 - the fixture
    """Loaded while the commit is being validated, the page replaces its <main> once done."""
    app = create_app(repo, webhook_secret=None, github=None)
    broken = git.Repo(repo).commit("broken").hexsha
    with running(app) as url:
        first = httpx.get(f"{url}/commits/{broken}", timeout=TIMEOUT).text
        assert 'data-state="pending"' in first and 'data-refresh="2"' in first
        # the page stays open in Chromium, whose copy of it changes by its own script
        dom = chromium.watch(f"{url}/commits/{broken}", lambda d: any(
            v.attrs["data-state"] != "pending" for v in d.all("section#verdict")))
        chromium.screenshot(f"{url}/commits/{broken}", tmp_path / "dashboard-failing.png")
    verdict = dom.one("section#verdict")
    assert verdict.attrs["data-state"] == "failed", verdict.text
    assert verdict.text.startswith("This commit fails validation")
    assert cards(dom)["staging"].attrs["data-state"] == "failed"
    rows = dom.one("table#findings").all("tr[data-rule=values-schema]")
    assert len(rows) == 1 and "staging" in rows[0].text and STAGING in rows[0].text


def test_commit_pages_and_headers(repo: Path) -> None:
    app = create_app(repo, webhook_secret=None, github=None)
    older = git.Repo(repo).commit("main~1").hexsha
    with running(app) as url:
        for name in ("f" * 40, "main", "%3Cscript%3Ealert(1)%3C", older[:12]):
            missing = httpx.get(f"{url}/commits/{name}", timeout=TIMEOUT)
            assert missing.status_code == 404
            assert ('<span class="big">No such commit</span><span class="detail">the '
                    "service&#x27;s clone has no commit by that name (a full 40-character "
                    "sha); it fetches origin every minute</span>") in missing.text
            assert "<script>alert" not in missing.text
            assert "default-src 'none'" in missing.headers["content-security-policy"]
        before = time.time()
        page = wait_ready(url, f"/commits/{older}")
        response = httpx.get(f"{url}/commits/{older}", timeout=TIMEOUT)
        home = wait_ready(url)
        after = time.time()
    # each page says when it was rendered: now, not some other time
    for text in (page, home):
        rendered = re.search(r"rendered (\d{4}-\d\d-\d\d \d\d:\d\d:\d\d) UTC", text)
        assert rendered, text[-400:]
        at = datetime.strptime(rendered[1], "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC)
        assert int(before) <= at.timestamp() <= after
    assert 'data-state="ok"' in page and "This commit is valid" in page
    # a commit's page links back to the target revision's, which speaks of that revision
    assert '<a href="/">\u2190 target revision</a>' in page
    assert '<a href="/">\u2190 target revision</a>' not in home and "This commit" not in home
    # before dev moved on, staging ran a newer backend than dev: ahead, not behind
    assert 'class="behind"' not in page and 'data-behind="dev"' not in page
    assert "Ahead of dev" in page and "backend <code>1.2.0</code> → <code>1.0.0</code>" in page
    csp = response.headers["content-security-policy"]
    assert "default-src 'none'" in csp and "script-src 'sha256-" in csp
    assert "'unsafe-inline'" not in csp
    assert response.headers["content-type"].startswith("text/html")
