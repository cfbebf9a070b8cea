"""The pull-request comment's Markdown: under GitHub's limit whatever the review holds, cut with
the command that shows everything, and nothing in it read as HTML.

Reviews here are built as data (compose() is a function of one); the end-to-end path through
the service and GitHub's API is in test_pull_requests.py.
"""

from __future__ import annotations

import re

from gitops_gen.checks.findings import Finding, Report
from gitops_gen.model.manifestdiff import ObjectDiff
from gitops_gen.repo.gitrepo import CommitInfo
from gitops_gen.service import comments
from gitops_gen.service.comments import LIMIT, MARKER, Context, compose
from gitops_gen.service.review import EnvChange, Review
from gitops_gen.service.snapshots import EnvState, Image, Move, Snapshot

HEAD, BASE = "a" * 40, "b" * 40


def finding(env: str, n: int, severity: str = "error", message: str = "") -> Finding:
    return Finding("values-schema", severity, env, f"overlays/{env}/values.yaml",  # type: ignore[arg-type]
                   n + 1, message or f"problem {n}; fix the value at that line")


def diff(key: str, lines: int) -> ObjectDiff:
    body = "".join(f"-  line {i}: old value\n+  line {i}: new value\n" for i in range(lines))
    return ObjectDiff(key, "changed", f"--- base/{key}\n+++ head/{key}\n@@ -1 +1 @@\n{body}")


def review(envs: dict[str, tuple[list[Finding], list[ObjectDiff]]],
           unchanged: tuple[str, ...] = ()) -> Review:
    findings = [f for fs, _ in envs.values() for f in fs]
    states = {name: EnvState(name, findings=fs) for name, (fs, _) in envs.items()}
    states |= {name: EnvState(name) for name in unchanged}
    snapshot = Snapshot(CommitInfo(HEAD, "promote: dev -> staging", "T", 0),
                        Report(findings, list(states)), list(states.values()), "0.3.0", 1.0, 0)
    changes = [EnvChange(name, "changed", diffs, states[name]) for name, (_, diffs)
               in envs.items()] + [EnvChange(name, "unchanged", [], states[name])
                                   for name in unchanged]
    return Review(snapshot, BASE, changes)


CONTEXT = Context("main", "https://gitops.example.com/commits/" + HEAD)


def test_a_small_review_is_whole() -> None:
    body = compose(review({"staging": ([finding("staging", 1)], [diff("Deployment/x", 3)])},
                          unchanged=("dev", "prod")), CONTEXT)
    assert body.startswith(MARKER + "\n### gitops-gen: :x: failed (1 error, 0 warnings)")
    assert "<details open><summary><b>staging</b>: 1 error, 0 warnings, 1 object changes" \
        in body
    assert "+  line 2: new value\n```\n" in body and ":scissors:" not in body
    assert "**No changes**: dev, prod\n" in body


def test_long_diffs_are_cut_to_fit_with_the_command_that_shows_them() -> None:
    big = review({"staging": ([], [diff("Deployment/a", 4000)]),  # ~150,000 characters
                  "prod": ([], [diff("Deployment/b", 20)]),
                  "qa": ([], [diff("Deployment/c", 3000)])})
    body = compose(big, CONTEXT)
    assert 60_000 < len(body) <= LIMIT
    # the small diff whole; the two large ones share what is left, each with its note
    assert "+  line 19: new value\n```" in body
    for env in ("staging", "qa"):
        assert (f"more lines cut to keep this comment under GitHub's limit; all of it: "
                f"`gitops-gen diff {env} --base {BASE[:12]} --head {HEAD[:12]}`") in body
    assert body.count("```diff\n") == 3 and body.count("\n```\n") == 3  # fences closed
    assert body.count("<details") == body.count("</details>") == 3
    small = compose(big, CONTEXT, limit=8_000)
    assert len(small) <= 8_000 and small.count(":scissors:") == 2


def test_too_many_findings_are_cut_too() -> None:
    many = [finding("staging", n, message="x" * 200) for n in range(2000)]  # ~500,000 chars
    body = compose(review({"staging": (many, [diff("Deployment/a", 100)])}), CONTEXT)
    assert len(body) <= LIMIT
    assert "- ... and 1950 more: the [dashboard](https://gitops.example.com/commits/" in body
    assert body.count("- :x: `values-schema`") == 50


def test_nothing_in_the_comment_is_read_as_html_or_breaks_its_code() -> None:
    hostile = ("</details><script>alert(1)</script> <img src=x onerror=alert(1)> "
               "``` `still code`")
    body = compose(review({"st<b>": ([finding("st<b>", 1, message=hostile)],
                                     [diff("ConfigMap/x", 1)])}), CONTEXT)
    prose = re.sub(r"(`+)(?:(?!\1).)+?\1", "", re.sub(r"(?ms)^(`{3,})diff$.*?^\1$", "", body))
    assert "<script>" not in prose and "<img" not in prose and "st<b>" not in prose
    assert "st<b>" in body  # in code, where GitHub shows it as text
    assert "&lt;/details&gt;&lt;script&gt;" in body
    assert body.count("<details") == body.count("</details>") == 1
    code = comments.code("a ``` b")
    assert code == "````a ``` b````"
    text = "x\n```\ny\n"
    assert comments.fenced(text, "diff") == "````diff\nx\n```\ny\n````\n"


def test_a_promotion_says_what_moves_from_where() -> None:
    r = review({"staging": ([], [diff("Deployment/todo-backend", 1)])}, unchanged=("dev",))
    r.changes[0].moves = [Move("backend", Image("1.2.0"), Image("1.3.0")),
                          Move("frontend", Image("1.0.0", True), Image("1.1.0"))]
    r.changes[0].source = "dev"
    body = compose(r, Context("main"))
    assert ("**Promotion dev → staging**: backend `1.2.0` → `1.3.0`; frontend "
            "`1.0.0 (chart default)` → `1.1.0`\n") in body
    assert "dashboard" not in body  # no public URL, no link
    r.changes[0].source = None
    assert "**Images of staging**: backend `1.2.0` → `1.3.0`" in compose(r, Context("main"))


def test_shares_give_small_parts_all_and_split_the_rest() -> None:
    assert comments.shares({"a": 10, "b": 1000, "c": 1000}, 610) == {"a": 10, "b": 300,
                                                                     "c": 300}
    assert comments.shares({"a": 10}, 0) == {"a": 0}
    assert comments.cut("one\ntwo\nthree\n", 9) == ("one\ntwo\n", 1)
