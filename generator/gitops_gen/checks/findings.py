"""What validation finds: one Finding per problem, gathered in a Report.

The JSON shape of a report is a contract (product.md): the CLI, CI and the HTTP service all
emit `Report.to_dict()`. Formatting for humans and CI systems lives in `report.py`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, cast

Severity = Literal["error", "warning"]
SEVERITIES: tuple[Severity, ...] = ("error", "warning")


@dataclass(frozen=True)
class Finding:
    """One problem: which rule, how bad, where, and a message that ends with how to fix it."""

    rule: str
    severity: Severity
    env: str | None
    file: str | None  # repo-relative, POSIX
    line: int | None  # 1-based
    message: str

    def __post_init__(self) -> None:
        if self.severity not in SEVERITIES:
            raise ValueError(f"severity must be one of {SEVERITIES}, not {self.severity!r}")
        if not self.rule:
            raise ValueError("a finding needs a rule id")
        if not self.message:
            raise ValueError("a finding needs a message")
        if self.line is not None and self.line < 1:
            raise ValueError(f"line numbers are 1-based, not {self.line}")

    @property
    def is_error(self) -> bool:
        return self.severity == "error"

    @property
    def location(self) -> str:
        """`file:line`, `file`, or "" when the finding is about no particular file."""
        if self.file is None:
            return ""
        return f"{self.file}:{self.line}" if self.line is not None else self.file

    def sort_key(self) -> tuple[str, int, str, int, str, str]:
        return (
            self.env or "",
            0 if self.is_error else 1,
            self.file or "",
            self.line or 0,
            self.rule,
            self.message,
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "rule": self.rule,
            "severity": self.severity,
            "env": self.env,
            "file": self.file,
            "line": self.line,
            "message": self.message,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Finding:
        line = data.get("line")
        return cls(
            rule=str(data["rule"]),
            severity=cast(Severity, data["severity"]),
            env=None if data.get("env") is None else str(data["env"]),
            file=None if data.get("file") is None else str(data["file"]),
            line=None if line is None else int(line),
            message=str(data["message"]),
        )


@dataclass
class Report:
    """Every finding of one validation run, and the environments it covered.

    `checked_rules` names the rules that ran, so formats that list passing checks (JUnit)
    can show a rule that found nothing; it is optional.
    """

    findings: list[Finding] = field(default_factory=list)
    environments: list[str] = field(default_factory=list)
    checked_rules: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when no finding is an error (warnings do not fail a run)."""
        return not any(f.is_error for f in self.findings)

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.is_error]

    @property
    def warnings(self) -> list[Finding]:
        return [f for f in self.findings if not f.is_error]

    def add(self, finding: Finding) -> None:
        self.findings.append(finding)

    def extend(self, findings: Iterable[Finding]) -> None:
        self.findings.extend(findings)

    def all_environments(self) -> list[str]:
        """The environments asked for, then any other one a finding names, without repeats."""
        seen = list(dict.fromkeys(self.environments))
        for f in self.findings:
            if f.env is not None and f.env not in seen:
                seen.append(f.env)
        return seen

    def sorted_findings(self) -> list[Finding]:
        return sorted(self.findings, key=Finding.sort_key)

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "findings": [f.to_dict() for f in self.sorted_findings()],
            "summary": {"errors": len(self.errors), "warnings": len(self.warnings)},
            "environments": self.all_environments(),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Report:
        return cls(
            findings=[Finding.from_dict(f) for f in data.get("findings", [])],
            environments=[str(e) for e in data.get("environments", [])],
        )
