"""A Report in the formats people and CI systems read: JSON, JUnit XML, GitHub annotations, a table.

Every function returns text or a renderable; printing is the caller's business.
"""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from collections import defaultdict
from typing import TYPE_CHECKING

from .findings import Finding, Report

if TYPE_CHECKING:
    from rich.console import RenderableType

REPOSITORY_SCOPE = "repository"  # how findings about no particular environment are grouped
_SUITE_PREFIX = "gitops-gen"
# XML 1.0 allows tab, newline and carriage return, but no other control character.
_XML_INVALID = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
# What a terminal or a CI log would act on: C0 and C1 controls (ESC starts a sequence).
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")
_BREAKS = "\r\n"


def printable(text: str, keep: str = "") -> str:
    """text with every control character but those in keep shown as \\xNN: a file name
    from the repository must not move a terminal's cursor, recolour it or hide a line."""
    return _CONTROL.sub(lambda m: m.group() if m.group() in keep else f"\\x{ord(m.group()):02x}",
                        text)


def as_json(report: Report) -> str:
    """The contract of product.md: {"ok", "findings", "summary", "environments"}."""
    return json.dumps(report.to_dict(), indent=2, ensure_ascii=False) + "\n"


# --- JUnit ------------------------------------------------------------------------------------


def _xml_text(text: str) -> str:
    return _XML_INVALID.sub("\ufffd", text)


def _finding_line(f: Finding) -> str:
    where = f"{f.location}: " if f.location else ""
    return f"[{f.severity}] {where}{f.message}"


def _scope(env: str | None) -> str:
    return env if env is not None else REPOSITORY_SCOPE


def as_junit(report: Report) -> str:
    """One testsuite per environment, one testcase per rule; error findings are failures.

    Warnings do not fail a testcase: they go to its system-out. Rules listed in
    `report.checked_rules` that found nothing appear as passing testcases.
    """
    by_scope: dict[str, dict[str, list[Finding]]] = defaultdict(lambda: defaultdict(list))
    for f in report.sorted_findings():
        by_scope[_scope(f.env)][f.rule].append(f)
    scopes = [_scope(None)] if any(f.env is None for f in report.findings) else []
    scopes += report.all_environments()
    if not scopes:
        scopes = [REPOSITORY_SCOPE]

    root = ET.Element("testsuites", name=_SUITE_PREFIX)
    total_tests = total_failures = 0
    for scope in scopes:
        rules = by_scope.get(scope, {})
        names = list(dict.fromkeys([*report.checked_rules, *sorted(rules)]))
        if not names:
            names = ["validate"]  # a suite with nothing to report still shows it ran
        suite = ET.SubElement(root, "testsuite", name=f"{_SUITE_PREFIX}.{scope}")
        failures = 0
        for rule in names:
            case = ET.SubElement(
                suite, "testcase", classname=f"{_SUITE_PREFIX}.{scope}", name=rule
            )
            found = rules.get(rule, [])
            errors = [f for f in found if f.is_error]
            warnings = [f for f in found if not f.is_error]
            if errors:
                failures += 1
                failure = ET.SubElement(
                    case,
                    "failure",
                    type=rule,
                    message=_xml_text(
                        f"{len(errors)} error(s): {errors[0].message}"
                        if len(errors) > 1
                        else errors[0].message
                    ),
                )
                failure.text = _xml_text("\n".join(_finding_line(f) for f in errors))
            if warnings:
                out = ET.SubElement(case, "system-out")
                out.text = _xml_text("\n".join(_finding_line(f) for f in warnings))
        suite.set("tests", str(len(names)))
        suite.set("failures", str(failures))
        suite.set("errors", "0")
        suite.set("skipped", "0")
        total_tests += len(names)
        total_failures += failures
    root.set("tests", str(total_tests))
    root.set("failures", str(total_failures))
    root.set("errors", "0")
    ET.indent(root)
    return ET.tostring(root, encoding="unicode", xml_declaration=True) + "\n"


# --- GitHub workflow commands -----------------------------------------------------------------


def escape_data(text: str) -> str:
    """The message part of a workflow command: %, CR and LF are percent-encoded."""
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    """A property value (file, title): like data, and also ':' and ','."""
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


def _github_line(f: Finding) -> str:
    props: list[str] = []
    if f.file is not None:
        props.append(f"file={escape_property(printable(f.file, _BREAKS))}")
        if f.line is not None:
            props.append(f"line={f.line}")
    title = f"{f.rule} ({f.env})" if f.env is not None else f.rule
    props.append(f"title={escape_property(printable(title, _BREAKS))}")
    # Line breaks stay: GitHub decodes their %0A/%0D; any other control character is escaped.
    return f"::{f.severity} {','.join(props)}::{escape_data(printable(f.message, _BREAKS))}"


def as_github(report: Report) -> str:
    """One `::error ...::message` or `::warning ...::message` line per finding."""
    lines = [_github_line(f) for f in report.sorted_findings()]
    return "".join(line + "\n" for line in lines)


# --- terminal ---------------------------------------------------------------------------------

_STYLE = {"error": "bold red", "warning": "yellow"}


def _summary(findings: list[Finding]) -> str:
    errors = sum(1 for f in findings if f.is_error)
    warnings = len(findings) - errors
    if not findings:
        return "no findings"
    return f"{errors} error{'s' * (errors != 1)}, {warnings} warning{'s' * (warnings != 1)}"


def as_rich_table(report: Report) -> RenderableType:
    """A table per environment (and one for repository-wide findings), then a verdict line."""
    # rich is imported here, for the one format that needs it (--format text).
    from rich.console import Group
    from rich.table import Table
    from rich.text import Text

    by_scope: dict[str, list[Finding]] = defaultdict(list)
    for f in report.sorted_findings():
        by_scope[_scope(f.env)].append(f)
    scopes = ([REPOSITORY_SCOPE] if REPOSITORY_SCOPE in by_scope else []) + [
        env for env in report.all_environments() if env != REPOSITORY_SCOPE
    ]
    parts: list[RenderableType] = []
    for scope in scopes:
        findings = by_scope.get(scope, [])
        if not findings:
            parts.append(Text(printable(f"{scope}: no findings"), style="green"))
            continue
        table = Table(title=Text(printable(f"{scope}: {_summary(findings)}")),
                      title_justify="left", expand=False)
        table.add_column("severity", no_wrap=True)
        table.add_column("rule", no_wrap=True)
        table.add_column("where", overflow="fold")
        table.add_column("message", overflow="fold")
        for f in findings:
            # Text, never a str: rich would read "[...]" in a file name or message as markup.
            table.add_row(Text(f.severity, style=_STYLE[f.severity]), Text(printable(f.rule)),
                          Text(printable(f.location)), Text(printable(f.message)))
        parts.append(table)
    verdict = "ok" if report.ok else "failed"
    parts.append(
        Text(
            f"{verdict}: {_summary(report.findings)}",
            style="bold green" if report.ok else "bold red",
        )
    )
    return Group(*parts)
