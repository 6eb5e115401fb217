"""``satugate policy lint|test|explain`` through typer's test runner."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from gateway.cli.policy import app
from tests.policies.conftest import DEMO

runner = CliRunner()


def test_lint_the_demo_bundle() -> None:
    result = runner.invoke(app, ["lint", str(DEMO)])
    assert result.exit_code == 0, result.output
    assert "0 error(s), 0 warning(s)" in result.output
    assert "policy version" in result.output


def test_lint_fails_on_errors_and_names_the_line(tmp_path: Path) -> None:
    for source in DEMO.glob("*.yaml"):
        (tmp_path / source.name).write_text(source.read_text(encoding="utf-8"), encoding="utf-8")
    grants = tmp_path / "grants.yaml"
    lines = grants.read_text(encoding="utf-8").splitlines()
    index = next(i for i, line in enumerate(lines) if "religion: withhold" in line)
    lines[index] = lines[index].replace("withhold", "hide")
    grants.write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = runner.invoke(app, ["lint", str(tmp_path)])
    assert result.exit_code == 1
    assert f"grants.yaml:{index + 1}: error: unknown treatment 'hide'" in result.output


def test_the_demo_cases_pass() -> None:
    result = runner.invoke(app, ["test", str(DEMO), str(DEMO / "cases.yaml")])
    assert result.exit_code == 0, result.output
    assert " 0 failed" in result.output


def test_a_failed_case_exits_non_zero(tmp_path: Path) -> None:
    cases = tmp_path / "cases.yaml"
    cases.write_text(
        "cases:\n  - name: wrong\n    request: {agency: diskominfo, purpose: statistics}\n"
        "    expect: {allowed: true}\n",
        encoding="utf-8",
    )
    result = runner.invoke(app, ["test", str(DEMO), str(cases)])
    assert result.exit_code == 1
    assert "FAIL  wrong" in result.output and "cases.yaml:2: allowed" in result.output


def test_explain_allowed_and_denied() -> None:
    allowed = runner.invoke(
        app,
        [
            "explain",
            str(DEMO),
            "--agency",
            "dinkes",
            "--purpose",
            "immunisation",
            "--fields",
            "full_name,chronic_conditions",
        ],
    )
    assert allowed.exit_code == 0, allowed.output
    assert "full_name" in allowed.output and "mask (initials)" in allowed.output
    denied = runner.invoke(
        app,
        [
            "explain",
            str(DEMO),
            "--agency",
            "dinsos",
            "--purpose",
            "case_management",
            "--legal-basis",
            "PKS-X/1/2025",
            "--json",
        ],
    )
    assert denied.exit_code == 1
    data = json.loads(denied.output)
    assert data["code"] == "legal_basis_required" and data["allowed"] is False


def test_explain_an_unknown_bundle_fails(tmp_path: Path) -> None:
    result = runner.invoke(
        app, ["explain", str(tmp_path / "none"), "--agency", "a", "--purpose", "b"]
    )
    assert result.exit_code == 2
