"""The dashboard: server-rendered HTML of the target revision (GET /) or of one commit.

Environments in promotion order with destination, image tags, chart version, secrets'
recipients and placeholders and validation state; which is behind its predecessor (what a
promotion would move); each one's sync plan as waves; the commit's findings; this replica's
recent validations. No build step: one stylesheet and one small script (refreshing <main> in
place), both inline and allowed by hash in the Content-Security-Policy. Every value is
escaped; none is a secret (snapshots hold none).
"""

from __future__ import annotations

import base64
import hashlib
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from html import escape
from pathlib import Path

from .. import __version__
from ..checks.findings import Finding
from ..model import syncplan
from ..model.apps import IN_CLUSTER
from .snapshots import EnvState, Image, Snapshot
from .state import Validation

_HERE = Path(__file__).parent
STYLE = (_HERE / "dashboard.css").read_text()
SCRIPT = (_HERE / "dashboard.js").read_text()
REFRESH = 15  # seconds, once the page's state is known
REFRESH_PENDING = 2  # seconds, while a validation is running


def _hash(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"


CSP = (f"default-src 'none'; style-src {_hash(STYLE)}; script-src {_hash(SCRIPT)}; "
       "connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; "
       "frame-ancestors 'none'")
HEADERS = {"Content-Security-Policy": CSP, "X-Content-Type-Options": "nosniff",
           "Referrer-Policy": "no-referrer", "Cache-Control": "no-store"}


@dataclass(frozen=True)
class View:
    """What one page shows."""

    revision: str  # the target revision's name
    sha: str | None  # the commit shown
    snapshot: Snapshot | str | None  # str: why there is none; None: being taken
    history: Sequence[Validation]
    queue_depth: int
    commit_page: bool = False  # a commit's own page, not the target revision's
    now: float = 0.0


def e(value: object) -> str:
    return escape(str(value), quote=True)


def ago(now: float, then: float) -> str:
    seconds = max(0, int(now - then))
    if seconds < 60:
        return f"{seconds} s ago"
    if seconds < 3600:
        return f"{seconds // 60} min ago"
    if seconds < 86400:
        return f"{seconds // 3600} h ago"
    return f"{seconds // 86400} d ago"


def stamp(then: float) -> str:
    return datetime.fromtimestamp(then, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def plural(n: int, word: str) -> str:
    return f"{n} {word}{'s' * (n != 1)}"


def commit_link(sha: str, text: str | None = None) -> str:
    return f'<a class="mono" href="/commits/{e(sha)}">{e(text or sha[:12])}</a>'


def pills(findings: Sequence[Finding]) -> str:
    errors = sum(f.is_error for f in findings)
    warnings = len(findings) - errors
    out = [f'<span class="pill bad">{plural(errors, "error")}</span>' if errors else
           '<span class="pill ok">valid</span>']
    if warnings:
        out.append(f'<span class="pill warn">{plural(warnings, "warning")}</span>')
    return " ".join(out)


# ---- sections ----------------------------------------------------------------------------


def verdict(view: View) -> str:
    what = "This commit" if view.commit_page else e(view.revision)
    snap = view.snapshot
    if view.sha is None:
        return ('<section id="verdict" class="verdict unknown" data-state="unknown">'
                f'<span class="big">No commit for {e(view.revision)}</span><span class="detail">'
                "the service's clone has neither the branch nor origin's</span></section>")
    if snap is None:
        return (f'<section id="verdict" class="verdict pending" data-state="pending">'
                f'<span class="big">Validating {what}\u2026</span><span class="detail">'
                f"commit {commit_link(view.sha)}; this page refreshes itself</span></section>")
    if isinstance(snap, str):
        return (f'<section id="verdict" class="verdict failed" data-state="error">'
                f'<span class="big">Could not validate {what}</span>'
                f'<span class="detail">{e(snap)}</span></section>')
    report = snap.report
    state, big = ("ok", f"{what} is valid") if report.ok else (
        "failed", f"{what} fails validation")
    return (f'<section id="verdict" class="verdict {state}" data-state="{state}">'
            f'<span class="big">{big}</span><span class="detail">'
            f"{commit_link(snap.sha)} {e(snap.commit.subject[:90])} \u00b7 "
            f"{e(snap.commit.author)} \u00b7 validated "
            f'<span title="{e(stamp(snap.taken_at))}">{ago(view.now, snap.taken_at)}</span> in '
            f"{snap.seconds:.1f} s</span>"
            f'<span class="counts">{pills(report.findings)}</span></section>')


def image(img: Image) -> str:
    default = ' <span class="default">chart default</span>' if img.default else ""
    return f"<code>{e(img.tag or '(none)')}</code>{default}"


def short_cluster(cluster: str) -> str:
    return "in-cluster" if cluster == IN_CLUSTER else cluster or "?"


def short_key(recipient: str) -> str:
    return f"{recipient[:10]}\u2026{recipient[-6:]}" if len(recipient) > 20 else recipient


def env_card(env: EnvState, chart_version: str | None) -> str:
    errors, warnings = env.errors, env.warnings
    cls = "failed" if errors else "warned" if warnings else "ok"
    cluster = env.destination.removesuffix(f"/{env.namespace}") if env.namespace else ""
    rows = [("cluster", f'<code title="{e(cluster)}">{e(short_cluster(cluster))}</code>'),
            ("namespace", f"<code>{e(env.namespace or '?')}</code>")]
    rows += [(f"{c} image", image(img)) for c, img in env.images.items()]
    rows.append(("chart", f"<code>{e(chart_version or '?')}</code>"))
    recipients = " ".join(
        f'<code class="recipient" title="{e(r)}">{e(short_key(r))}</code>'
        for r in env.recipients) or '<span class="pill bad">none</span>'
    rows.append(("recipients", recipients))
    placeholders = " ".join(f'<span class="pill warn mono">{e(p)}</span>'
                            for p in env.placeholders)
    rows.append(("placeholders", placeholders or '<span class="pill ok">none</span>'))
    body = "".join(f"<dt>{name}</dt><dd>{value}</dd>" for name, value in rows)
    out = [f'<article class="env {cls}" data-env="{e(env.name)}" data-state="{cls}" '
           f'data-behind="{e(env.predecessor or "") if env.behind and not env.ahead else ""}">',
           f'<h3>{e(env.name)} <span class="state">{pills(env.findings)}</span></h3>'
           f"<dl>{body}</dl>"]
    moved = ", ".join(f"{e(m.component)} <code>{e(m.old.tag or '?')}</code> \u2192 "
                      f"<code>{e(m.new.tag or '?')}</code>" for m in env.behind)
    if env.ahead:
        out.append(f'<div class="ahead"><b>Ahead of {e(env.predecessor)}</b>: a promotion '
                   f"from it would take {moved} back</div>")
    elif env.behind:
        out.append(f'<div class="behind"><b>Behind {e(env.predecessor)}</b>: a promotion '
                   f"would move {moved}<br><code>gitops-gen promote {e(env.predecessor)} "
                   f"{e(env.name)}</code></div>")
    elif env.predecessor:
        out.append(f'<div class="current">Same images as {e(env.predecessor)}</div>')
    if env.problem:
        out.append(f'<div class="problem">{e(env.problem)}</div>')
    out.append("</article>")
    return "".join(out)


def environments(snap: Snapshot) -> str:
    if not snap.envs:
        return '<p class="empty">No environments yet: <code>gitops-gen env add dev</code></p>'
    cards = '<div class="arrow">\u2192</div>'.join(env_card(env, snap.chart_version)
                                                   for env in snap.envs)
    return f'<div class="pipeline" id="environments">{cards}</div>'


def wave(w: syncplan.Wave) -> str:
    phase = "" if w.phase == "Sync" else f"{w.phase} "
    gate = ("not health-gated" if w.final and not w.pruning_follows
            else "waits" if w.health_gated else "no wait")
    steps = "".join(
        f'<span class="step {e(s.component or "other")}{" gated" if s.health_gated else ""}" '
        f'title="{e(s.ref)}: {e(s.waits_for)}">{e(s.ref)}</span>' for s in w.steps)
    final = " final" if w.final else ""
    return (f'<div class="wave{final}" data-wave="{w.number}"><div class="head">'
            f"<b>{e(phase)}wave {w.number}</b><span>{gate}</span></div>{steps}</div>")


def plans(snap: Snapshot) -> str:
    out = ['<div class="legend"><span class="database">database</span>'
           '<span class="backend">backend</span><span class="frontend">frontend</span>'
           '<span class="gated-note">health-gated: the next wave waits for it</span></div>',
           '<div class="plans" id="plans">']
    for env in snap.envs:
        if env.plan is None:
            body = f'<p class="problem">{e(env.problem or "no plan")}</p>'
        else:
            body = '<div class="waves">' + "".join(wave(w) for w in env.plan.waves) + "</div>"
        out.append(f'<section class="plan" data-plan="{e(env.name)}"><h3>{e(env.name)}</h3>'
                   f"{body}</section>")
    out.append("</div>")
    return "".join(out)


def findings_table(findings: Iterable[Finding], table_id: str) -> str:
    rows = []
    for f in sorted(findings, key=lambda f: not f.is_error):  # errors first, else as given
        pill = '<span class="pill bad">error</span>' if f.is_error else \
            '<span class="pill warn">warning</span>'
        rows.append(f'<tr data-rule="{e(f.rule)}"><td>{pill}</td><td>{e(f.env or "")}</td>'
                    f"<td><code>{e(f.rule)}</code></td><td><code>{e(f.location)}</code></td>"
                    f'<td class="msg">{e(f.message)}</td></tr>')
    if not rows:
        return '<p class="empty">No findings.</p>'
    return (f'<table id="{table_id}"><tr><th>severity</th><th>env</th><th>rule</th>'
            f"<th>where</th><th>message</th></tr>{''.join(rows)}</table>")


def history(view: View) -> str:
    if not view.history:
        return '<p class="empty">None yet.</p>'
    rows = []
    for i, v in enumerate(view.history):
        result = ('<span class="pill muted">not validated</span>' if v.ok is None
                  else pills(v.findings) if v.errors + v.warnings <= len(v.findings)
                  else f'<span class="pill {"ok" if v.ok else "bad"}">'
                       f'{plural(v.errors, "error")}, {plural(v.warnings, "warning")}</span>')
        detail = (f'<details id="recent-{i}-{e(v.sha[:12])}"><summary>'
                  f"{plural(len(v.findings), 'finding')}</summary>"
                  f"{findings_table(v.findings, f'recent-findings-{i}')}</details>"
                  if v.findings else e(v.problem or ""))
        rows.append(f'<tr data-source="{e(v.source)}"><td title="{e(stamp(v.at))}">'
                    f"{ago(view.now, v.at)}</td><td>{e(v.label)}</td>"
                    f"<td>{commit_link(v.sha)}</td><td>{result}</td>"
                    f"<td>{v.seconds:.1f} s</td><td>{detail}</td></tr>")
    return ('<table id="recent"><tr><th>when</th><th>asked by</th><th>commit</th>'
            f"<th>result</th><th>took</th><th>findings</th></tr>{''.join(rows)}</table>")


# ---- pages -------------------------------------------------------------------------------


def _document(title: str, main: str, refresh: int) -> str:
    return (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">'
            f'<link rel="icon" href="data:,"><title>{e(title)}</title>'
            f"<style>{STYLE}</style></head><body>"
            '<header class="top"><h1><a href="/">gitops-gen</a></h1>'
            f'<span class="meta">validation service {e(__version__)}</span></header>'
            f'<main data-refresh="{refresh}">{main}</main>'
            f"<script>{SCRIPT}</script></body></html>")


def page(view: View) -> str:
    snap = view.snapshot
    ready = isinstance(snap, Snapshot)
    where = (f"commit {view.sha[:12]}" if view.commit_page and view.sha
             else f"{view.revision}")
    parts = [verdict(view)]
    if isinstance(snap, Snapshot):
        parts += [f"<h2>Environments <small>promotion order; chart {e(snap.chart_version)}"
                  "</small></h2>", environments(snap),
                  f"<h2>Findings <small>{plural(len(snap.report.findings), 'finding')} at "
                  f"{e(snap.sha[:12])}</small></h2>",
                  findings_table(snap.report.sorted_findings(), "findings")]
    parts += ["<h2>Recent validations <small>by this replica, newest first</small></h2>",
              history(view)]
    if isinstance(snap, Snapshot):
        parts += ["<h2>Sync plans <small>what Argo CD applies, wave by wave</small></h2>",
                  plans(snap)]
    back = '<a href="/">\u2190 target revision</a> \u00b7 ' if view.commit_page else ""
    parts += [
              f"<footer>{back}Work queue: {view.queue_depth} \u00b7 "
              f"rendered {e(stamp(view.now))} \u00b7 "
              f"refreshes every {REFRESH if ready else REFRESH_PENDING} s \u00b7 "
              f'<a href="/metrics">metrics</a></footer>']
    return _document(f"gitops-gen: {where}", "".join(parts),
                     REFRESH if ready else REFRESH_PENDING)


def message_page(title: str, message: str) -> str:
    """A page that only says something (a 404, say), in the dashboard's frame."""
    main = (f'<section id="verdict" class="verdict unknown" data-state="unknown">'
            f'<span class="big">{e(title)}</span><span class="detail">{e(message)}</span>'
            '</section><footer><a href="/">\u2190 target revision</a></footer>')
    return _document(f"gitops-gen: {title}", main, 3600)


def now() -> float:
    return time.time()
