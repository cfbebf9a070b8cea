"""Findings, the report contract, and every output format parsed back."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET

import pytest
from rich.console import Console

from gitops_gen.checks.findings import Finding, Report
from gitops_gen.checks.report import (
    as_github,
    as_json,
    as_junit,
    as_rich_table,
    escape_data,
    escape_property,
)


def _finding(**kw: object) -> Finding:
    base: dict[str, object] = {
        "rule": "k8s-schema",
        "severity": "error",
        "env": "dev",
        "file": "overlays/dev/values.yaml",
        "line": 3,
        "message": "spec.replicas: expected integer; fix the value",
    }
    base.update(kw)
    return Finding(**base)  # type: ignore[arg-type]


@pytest.fixture
def report() -> Report:
    return Report(
        findings=[
            _finding(),
            _finding(rule="k8s-schema", line=9, message="second schema error; fix it"),
            _finding(rule="policy-replicas", severity="warning", env="prod", line=None,
                     file="overlays/prod/values.yaml", message="replicas 1; set 2"),
            _finding(rule="sops-recipients", env="prod", file=".sops.yaml", line=4,
                     message="recipient missing; run gitops-gen secrets rekey prod"),
            _finding(rule="yaml-syntax", env=None, file="gitops/root.yaml", line=1,
                     message="bad, odd: 100%\nsecond line\r; fix the YAML"),
        ],
        environments=["dev", "prod", "staging"],
    )


def test_finding_rejects_bad_fields() -> None:
    with pytest.raises(ValueError):
        _finding(severity="fatal")
    with pytest.raises(ValueError):
        _finding(message="")
    with pytest.raises(ValueError):
        _finding(line=0)


def test_ok_depends_on_errors_only() -> None:
    assert Report().ok
    assert Report(findings=[_finding(severity="warning")]).ok
    assert not Report(findings=[_finding(severity="warning"), _finding()]).ok


def test_json_round_trip(report: Report) -> None:
    data = json.loads(as_json(report))
    assert data["ok"] is False
    assert set(data) >= {"ok", "findings", "summary", "environments"}
    assert data["summary"] == {"errors": 4, "warnings": 1}
    assert data["environments"] == ["dev", "prod", "staging"]
    for item in data["findings"]:
        assert list(item) == ["rule", "severity", "env", "file", "line", "message"]
    back = Report.from_dict(data)
    assert sorted(back.findings, key=Finding.sort_key) == report.sorted_findings()
    assert back.to_dict() == data


def test_environment_named_only_by_a_finding_is_listed() -> None:
    r = Report(findings=[_finding(env="qa")], environments=["dev"])
    assert r.to_dict()["environments"] == ["dev", "qa"]


def test_junit_parses_with_a_testcase_per_rule_and_environment(report: Report) -> None:
    root = ET.fromstring(as_junit(report))
    assert root.tag == "testsuites"
    cases = {
        (case.get("classname"), case.get("name")): case for case in root.iter("testcase")
    }
    assert ("gitops-gen.dev", "k8s-schema") in cases
    assert ("gitops-gen.prod", "policy-replicas") in cases
    assert ("gitops-gen.prod", "sops-recipients") in cases
    assert ("gitops-gen.repository", "yaml-syntax") in cases
    # two dev schema errors are one testcase with one failure listing both
    dev_schema = cases[("gitops-gen.dev", "k8s-schema")]
    failures = dev_schema.findall("failure")
    assert len(failures) == 1
    assert "overlays/dev/values.yaml:3" in (failures[0].text or "")
    assert "overlays/dev/values.yaml:9" in (failures[0].text or "")
    # a warning is not a failure
    warn = cases[("gitops-gen.prod", "policy-replicas")]
    assert warn.find("failure") is None
    assert "replicas 1" in (warn.findtext("system-out") or "")
    # an environment without findings still has a passing suite
    staging = [c for (cls, _), c in cases.items() if cls == "gitops-gen.staging"]
    assert staging and all(c.find("failure") is None for c in staging)
    # counts add up
    assert int(root.get("failures") or -1) == 3
    assert int(root.get("tests") or -1) == len(cases)
    for suite in root.iter("testsuite"):
        assert int(suite.get("tests") or -1) == len(suite.findall("testcase"))


def test_junit_lists_checked_rules_that_passed() -> None:
    r = Report(findings=[_finding()], environments=["dev"], checked_rules=["argocd-schema"])
    root = ET.fromstring(as_junit(r))
    names = {c.get("name"): c for c in root.iter("testcase")}
    assert set(names) == {"argocd-schema", "k8s-schema"}
    assert names["argocd-schema"].find("failure") is None
    assert names["k8s-schema"].find("failure") is not None


def test_junit_survives_control_characters() -> None:
    r = Report(findings=[_finding(message="bad \x00 byte \x1b[31m; fix it")])
    root = ET.fromstring(as_junit(r))
    assert root.find(".//failure") is not None


def _unescape(text: str) -> str:
    return re.sub(r"%([0-9A-F]{2})", lambda m: chr(int(m.group(1), 16)), text)


def test_github_lines_parse_back(report: Report) -> None:
    lines = as_github(report).splitlines()
    assert len(lines) == len(report.findings)
    pattern = re.compile(r"^::(error|warning) ([^:]*)::(.*)$")
    parsed = []
    for line in lines:
        m = pattern.match(line)
        assert m, line
        props = dict(p.split("=", 1) for p in m.group(2).split(","))
        parsed.append((m.group(1), {k: _unescape(v) for k, v in props.items()},
                       _unescape(m.group(3))))
    by_msg = {msg: (sev, props) for sev, props, msg in parsed}
    weird = "bad, odd: 100%\nsecond line\r; fix the YAML"
    assert weird in by_msg
    assert by_msg[weird][1]["file"] == "gitops/root.yaml"
    assert by_msg[weird][1]["line"] == "1"
    sev, props = by_msg["replicas 1; set 2"]
    assert sev == "warning" and "line" not in props
    assert props["title"] == "policy-replicas (prod)"


def test_github_escaping_rules() -> None:
    assert escape_data("a%b\r\nc") == "a%25b%0D%0Ac"
    assert escape_data("a,b:c") == "a,b:c"
    assert escape_property("a,b:c%\n") == "a%2Cb%3Ac%25%0A"
    line = as_github(Report(findings=[_finding(file="dir,x/a:b.yaml", message="m")]))
    assert "file=dir%2Cx/a%3Ab.yaml,line=3," in line


def test_rich_table_groups_by_environment(report: Report) -> None:
    console = Console(width=200, record=True, color_system=None)
    console.print(as_rich_table(report))
    text = console.export_text()
    assert text.index("repository:") < text.index("dev:") < text.index("prod:")
    assert "staging: no findings" in text
    assert "dev: 2 errors, 0 warnings" in text
    assert "failed: 4 errors, 1 warning" in text


def test_rich_table_ok_report() -> None:
    console = Console(width=120, record=True, color_system=None)
    console.print(as_rich_table(Report(environments=["dev"])))
    assert "ok: no findings" in console.export_text()
