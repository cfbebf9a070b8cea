"""chart/README.md's parameter table, generated from the "# --" comments of values.yaml."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from gitops_gen.devtools import chartdoc
from gitops_gen.errors import InputError
from gitops_gen.model.chart import packaged_chart_dir

CHART = packaged_chart_dir()


@pytest.fixture
def chart_copy(tmp_path: Path) -> Path:
    target = tmp_path / "chart"
    shutil.copytree(CHART, target)
    return target


def test_readme_table_is_up_to_date() -> None:
    assert not chartdoc.is_stale(CHART), "run: python -m gitops_gen.devtools.chartdoc --write"
    readme = (CHART / "README.md").read_text()
    assert "| `postgresql.auth.password` | string | `\"\"` |" in readme
    assert "| `frontend.service.nodePort` | integer or null | `null` |" in readme


def test_module_check_exits_zero_on_the_shipped_chart() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "gitops_gen.devtools.chartdoc", "--check"],
        capture_output=True, text=True, timeout=60, check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "up to date" in result.stdout


def test_changed_comment_makes_it_stale_then_write_fixes_it(
    chart_copy: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    values = chart_copy / "values.yaml"
    old = "# -- Number of backend pods (ignored when backend.autoscaling.enabled)."
    text = values.read_text()
    assert old in text
    values.write_text(text.replace(old, "# -- How many FastAPI pods run."))
    assert chartdoc.is_stale(chart_copy)
    assert chartdoc.main(["--check", "--chart", str(chart_copy)]) == 1
    err = capsys.readouterr().err
    assert "out of date" in err and "--write" in err

    assert chartdoc.main(["--write", "--chart", str(chart_copy)]) == 0
    assert "How many FastAPI pods run." in (chart_copy / "README.md").read_text()
    assert chartdoc.main(["--check", "--chart", str(chart_copy)]) == 0
    assert chartdoc.write(chart_copy) is False  # a second run changes nothing


def test_changed_default_makes_it_stale(chart_copy: Path) -> None:
    values = chart_copy / "values.yaml"
    values.write_text(values.read_text().replace("size: 8Gi", "size: 10Gi"))
    assert chartdoc.is_stale(chart_copy)


def test_text_outside_the_markers_is_kept(chart_copy: Path) -> None:
    readme = chart_copy / "README.md"
    readme.write_text(readme.read_text().replace("# todo-chatbot", "# todo-chatbot (edited)"))
    values = chart_copy / "values.yaml"
    values.write_text(values.read_text().replace("size: 8Gi", "size: 9Gi"))
    assert chartdoc.write(chart_copy)
    text = readme.read_text()
    assert text.startswith("# todo-chatbot (edited)")
    assert "`\"9Gi\"`" in text and text.count(chartdoc.START) == 1


def test_undocumented_value_is_an_error(
    chart_copy: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    values = chart_copy / "values.yaml"
    values.write_text(values.read_text() + "undocumented: 1\n")
    with pytest.raises(InputError, match=r"undocumented \(line \d+\)"):
        chartdoc.is_stale(chart_copy)
    assert chartdoc.main(["--check", "--chart", str(chart_copy)]) == 2
    assert "undocumented" in capsys.readouterr().err


def test_missing_markers(chart_copy: Path) -> None:
    (chart_copy / "README.md").write_text("# no table here\n")
    with pytest.raises(InputError, match="parameters:start"):
        chartdoc.write(chart_copy)


VALUES = """\
# Heading, not part of any description.
# -- Replica count.
replicas: 2

group:
  # A plain comment does not document.
  # -- First line
  # continues here.
  leaf: "a|b"
  # -- A documented map is one row.
  selector:
    matchLabels:
      app: x
# -- Empty lists are leaves.
items: []
"""


def test_parameters_convention() -> None:
    params = chartdoc.parameters(VALUES)
    assert [(p.key, p.type, p.default, p.description) for p in params] == [
        ("replicas", "integer", "2", "Replica count."),
        ("group.leaf", "string", '"a|b"', "First line continues here."),
        ("group.selector", "object", '{"matchLabels": {"app": "x"}}',
         "A documented map is one row."),
        ("items", "array", "[]", "Empty lists are leaves."),
    ]
    table = chartdoc.table(params)
    assert '| `group.leaf` | string | `"a\\|b"` | First line continues here. |' in table


def test_blank_line_breaks_a_description() -> None:
    text = "# -- Detached.\n\nkey: 1\n"
    with pytest.raises(InputError, match="key"):
        chartdoc.parameters(text)


def test_types_come_from_the_schema() -> None:
    schema = {"type": "object", "properties": {"port": {"$ref": "#/definitions/p"}},
              "definitions": {"p": {"type": ["integer", "null"]}}}
    (param,) = chartdoc.parameters("# -- A port.\nport: null\n", schema)
    assert param.type == "integer or null"
