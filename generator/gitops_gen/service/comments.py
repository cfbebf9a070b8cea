"""The one pull-request comment: composed from a review, posted once, then edited in place.

compose() writes Markdown: the verdict, what a promotion moves, then per affected environment
(changed, or with errors) its findings, the sync plan of what changes and the rendered-manifest
diff (secret values masked), each in a <details> block; unchanged environments share one line.
GitHub refuses a comment over 65,536 characters: long diffs are cut (each to a fair share of
what is left) with the command that shows all of it; if findings alone are too many, the
lists are cut too. publish() finds the comment by its hidden marker and edits it, or posts it.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass

from .. import __version__
from ..checks.findings import Finding
from ..repo import forge
from ..repo.forge import ForgeSettings
from .review import EnvChange, Review

MARKER = "<!-- gitops-gen:pull-request-review -->"
LIMIT = 65_536  # GitHub's maximum comment body, in characters
_SLACK = 512  # room kept for the notes a cut adds
_FINDINGS_CAPS = (None, 50, 20, 5, 0)
_SUBJECT_MAX = 80


@dataclass(frozen=True)
class Context:
    """What the comment says besides the review: where to look further."""

    target_revision: str
    commit_url: str | None = None  # the dashboard's page of the head commit


def md(text: str) -> str:
    """Text safe in Markdown outside code: no HTML, no line breaks."""
    return html.escape(" ".join(text.split()), quote=False)


def code(text: str) -> str:
    """Inline code that survives backticks in text."""
    text = " ".join(text.split())
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def fenced(text: str, lang: str = "") -> str:
    longest = max((len(run) for run in re.findall(r"`{3,}", text)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}{lang}\n{text.rstrip(chr(10))}\n{fence}\n"


def plural(n: int, word: str) -> str:
    return f"{n} {word}{'s' * (n != 1)}"


def counts(findings: list[Finding]) -> str:
    errors = sum(f.is_error for f in findings)
    return f"{plural(errors, 'error')}, {plural(len(findings) - errors, 'warning')}"


def finding_line(f: Finding) -> str:
    icon = ":x:" if f.is_error else ":warning:"
    where = f" at {code(f.location)}" if f.location else ""
    return f"- {icon} {code(f.rule)}{where}: {md(f.message)}\n"


def findings_block(findings: list[Finding], cap: int | None, more: str) -> str:
    shown = findings if cap is None else findings[:cap]
    out = "".join(finding_line(f) for f in shown)
    if len(shown) < len(findings):
        out += f"- ... and {len(findings) - len(shown)} more: {more}\n"
    return out


def images_line(change: EnvChange) -> str:
    moved = "; ".join(f"{m.component} {code(m.old.describe())} → {code(m.new.describe())}"
                      for m in change.moves)
    if change.source:
        return f"**Promotion {md(change.source)} → {md(change.env)}**: {moved}\n"
    return f"**Images of {md(change.env)}**: {moved}\n"


def plan_lines(change: EnvChange) -> str:
    """The head's sync plan, only the waves and objects that change; pruned objects last."""
    state, refs = change.state, change.changed_refs
    if state is None or state.plan is None or not refs:
        return ""
    out = []
    for wave in state.plan.waves:
        steps = [s for s in wave.steps if s.ref in refs]
        if not steps:
            continue
        phase = "" if wave.phase == "Sync" else f"{wave.phase} "
        gate = ("not health-gated (final wave)" if wave.final and not wave.pruning_follows
                else "waits for " + ", ".join(f"{s.ref}: {s.waits_for}"
                                              for s in steps if s.health_gated)
                if any(s.health_gated for s in steps) else "nothing to wait for")
        objects = ", ".join(code(s.ref) for s in steps)
        out.append(f"- {phase}wave {wave.number}: {objects}; {md(gate)}\n")
    pruned = [d.key for d in change.diffs if d.status == "removed"]
    if pruned:
        out.append(f"- pruned: {', '.join(code(k) for k in pruned)}\n")
    return "".join(out)


def diff_text(change: EnvChange) -> str:
    """Each object's diff after a line naming it, as `gitops-gen diff` prints them."""
    return "".join(f"{d.status}: {d.key}\n" + d.text + ("" if d.text.endswith("\n") else "\n")
                   for d in change.diffs)


def cut(text: str, allowance: int) -> tuple[str, int]:
    """text cut at a line boundary to at most allowance characters; the lines dropped."""
    if len(text) <= allowance:
        return text, 0
    lines = text.splitlines(keepends=True)
    kept, size = [], 0
    for line in lines:
        if size + len(line) > allowance:
            break
        kept.append(line)
        size += len(line)
    return "".join(kept), len(lines) - len(kept)


def shares(sizes: dict[str, int], budget: int) -> dict[str, int]:
    """Each part's allowance: the smallest parts whole, the rest an equal share of what is left."""
    out: dict[str, int] = {}
    left, parts = max(0, budget), sorted(sizes.items(), key=lambda kv: kv[1])
    for i, (name, size) in enumerate(parts):
        share = left // (len(parts) - i)
        out[name] = min(size, share)
        left -= out[name]
    return out


class Composer:
    def __init__(self, review: Review, context: Context) -> None:
        self.review = review
        self.context = context
        self.head = review.head.sha
        self.diffs = {c.env: diff_text(c) for c in review.affected}

    def diff_command(self, env: str) -> str:
        return f"gitops-gen diff {env} --base {self.review.base[:12]} --head {self.head[:12]}"

    def more(self) -> str:
        where = f"the [dashboard]({self.context.commit_url})" if self.context.commit_url else ""
        return (f"{where} or " if where else "") + code(
            f"gitops-gen validate  # at {self.head[:12]}")

    def header(self, cap: int | None) -> str:
        report = self.review.head.report
        verdict = (":white_check_mark: passed" if report.ok else ":x: failed") + \
            f" ({counts(report.findings)})"
        commit = self.review.head.commit
        subject = commit.subject if len(commit.subject) <= _SUBJECT_MAX else \
            commit.subject[:_SUBJECT_MAX - 3] + "..."
        out = [MARKER, "\n", f"### gitops-gen: {verdict}\n\n",
               f"Head {code(self.head[:12])} ({md(subject)}) against "
               f"{code(self.review.base[:12])}, its merge-base with "
               f"{code(self.context.target_revision)}."]
        if self.context.commit_url:
            out.append(f" [This commit on the dashboard]({self.context.commit_url}).")
        out.append("\n\n")
        out += [images_line(c) for c in self.review.promotions]
        if self.review.promotions:
            out.append("\n")
        general = self.review.head.general_findings
        if general:
            out.append(findings_block(general, cap, self.more()) + "\n")
        return "".join(out)

    def section(self, change: EnvChange, cap: int | None, diff_allowance: int | None) -> str:
        findings = change.state.findings if change.state else []
        facts = [counts(findings)] if change.state else []
        if change.status == "added":
            facts.append("new environment")
        elif change.status == "removed":
            facts.append("removed: Argo CD deletes its Application's objects")
        if change.diffs:
            facts.append(plural(len(change.diffs), "object") + " change"
                         + "s" * (len(change.diffs) == 1))
        elif change.status == "unchanged":
            facts.append("no rendered change")
        opened = " open" if change.state and change.state.errors else ""
        out = [f"<details{opened}><summary><b>{md(change.env)}</b>: {md(', '.join(facts))}"
               "</summary>\n\n"]
        if change.problem:
            out.append(f":x: {md(change.problem)}\n\n")
        if findings:
            out.append("**Findings**\n\n" + findings_block(findings, cap, self.more()) + "\n")
        plan = plan_lines(change)
        if plan:
            out.append("**Sync plan of what changes**\n\n" + plan + "\n")
        text = self.diffs.get(change.env, "")
        if text:
            allowance = len(text) if diff_allowance is None else diff_allowance
            shown, dropped = cut(text, allowance)
            out.append("**Rendered manifests** (secret values masked)\n\n")
            if shown:
                out.append(fenced(shown, "diff"))
            if dropped:
                out.append(f"\n:scissors: {plural(dropped, 'more line')} cut to keep this "
                           f"comment under GitHub's limit; all of it: "
                           f"{code(self.diff_command(change.env))}\n")
            out.append("\n")
        out.append("</details>\n\n")
        return "".join(out)

    def unchanged_line(self) -> str:
        quiet = self.review.unaffected
        if not quiet:
            return ""
        names = ", ".join(
            md(c.env) + (f" ({plural(len(c.state.warnings), 'warning')})"
                         if c.state and c.state.warnings else "") for c in quiet)
        return f"**No changes**: {names}\n\n"

    def footer(self) -> str:
        return (f"<sub>gitops-gen {md(__version__)} for {code(self.head[:12])}: this comment "
                "is edited in place on every push.</sub>\n")

    def compose(self, cap: int | None, allowances: dict[str, int] | None) -> str:
        sections = "".join(
            self.section(c, cap, None if allowances is None else allowances.get(c.env, 0))
            for c in self.review.affected)
        return self.header(cap) + sections + self.unchanged_line() + self.footer()


def compose(review: Review, context: Context, limit: int = LIMIT) -> str:
    """The comment's Markdown, at most limit characters."""
    composer = Composer(review, context)
    whole = composer.compose(None, None)
    if len(whole) <= limit:
        return whole
    for cap in _FINDINGS_CAPS:
        bare = composer.compose(cap, dict.fromkeys(composer.diffs, 0))
        budget = limit - len(bare) - _SLACK
        if budget >= 0:
            sizes = {env: len(text) for env, text in composer.diffs.items() if text}
            # every fence costs ~20 characters more than its text
            body = composer.compose(cap, shares(sizes, budget - 20 * len(sizes)))
            if len(body) <= limit:
                return body
    note = "\n\n</details>\n\n:scissors: cut to GitHub's limit; see " + composer.more() + "\n"
    return composer.compose(0, {})[: limit - len(note)] + note


# ---- GitHub ---------------------------------------------------------------------------------


def publish(settings: ForgeSettings, full_name: str, number: int, body: str) -> str:
    """Edit the pull request's comment that carries MARKER, or post it.

    "created", "updated" or "unchanged"; ForgeError when GitHub refuses or is unreachable."""
    existing = forge.find_issue_comment(settings, full_name, number, MARKER)
    if existing is None:
        forge.create_issue_comment(settings, full_name, number, body)
        return "created"
    if existing.body == body:
        return "unchanged"
    forge.update_issue_comment(settings, full_name, existing.id, body)
    return "updated"
