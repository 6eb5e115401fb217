"""``satugate policy``: policy bundles as code (lint, test, explain).

Thin: every command calls one function of ``policies`` and prints its result.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

import policies

app = typer.Typer(help="Policy bundles as code: lint, test, explain.", no_args_is_help=True)

BundleArg = Annotated[Path, typer.Argument(help="A bundle directory or a single YAML file.")]


def _files(bundle: Path) -> dict[str, str]:
    try:
        files = policies.read_bundle_files(bundle)
    except policies.BundleError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(2) from None
    return {name: text for name, text in files.items() if not policies.is_case_file(text)}


def _policy(bundle: Path) -> policies.Policy:
    try:
        return policies.compile_bundle(policies.load_bundle_texts(_files(bundle)))
    except policies.BundleError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(1) from None


@app.command()
def lint(bundle: BundleArg) -> None:
    """Validate a bundle; print errors and warnings as file:line. Exit 1 on errors."""
    issues = policies.lint_bundle_texts(_files(bundle))
    for issue in issues:
        typer.echo(str(issue))
    errors = sum(1 for i in issues if i.severity == "error")
    warnings = len(issues) - errors
    typer.echo(f"{errors} error(s), {warnings} warning(s)")
    if errors:
        raise typer.Exit(1)
    typer.echo(f"policy version {_policy(bundle).version}")


@app.command()
def test(
    bundle: BundleArg,
    cases: Annotated[Path, typer.Argument(help="A YAML case file.")],
) -> None:
    """Run the expected decisions in CASES against BUNDLE. Exit 1 if any case fails."""
    policy = _policy(bundle)
    try:
        loaded = policies.load_cases(cases.read_text(encoding="utf-8"), cases.name)
    except policies.BundleError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(1) from None
    results = policies.run_cases(policy, loaded)
    for result in results:
        typer.echo(f"{'PASS' if result.passed else 'FAIL'}  {result.name}")
        for problem in result.problems:
            typer.echo(f"      {result.file}:{result.line}: {problem}")
    failed = sum(1 for r in results if not r.passed)
    typer.echo(f"{len(results) - failed} passed, {failed} failed")
    if failed:
        raise typer.Exit(1)


def _explain_aggregate(
    policy: policies.Policy,
    agency: str,
    purpose: str,
    dataset: str,
    group_by: str | None,
    filters: str | None,
    when: datetime,
    as_json: bool,
) -> None:
    dims = tuple(d.strip() for d in (group_by or "").split(",") if d.strip())
    wanted: dict[str, tuple[str, ...]] = {}
    for part in (filters or "").split(";"):
        if "=" in part:
            name, values = part.split("=", 1)
            wanted[name.strip()] = tuple(v.strip() for v in values.split("|") if v.strip())
    decision = policy.decide_aggregate(
        policies.AggregateRequest(agency, purpose, dataset, "residents", dims, wanted, when)
    )
    if as_json:
        typer.echo(json.dumps(decision.to_dict(), indent=2, sort_keys=True))
    else:
        typer.echo(decision.explanation)
        rules = ", ".join(decision.rule_ids) or "-"
        typer.echo(f"rules: {rules}   version: {decision.policy_version[:12]}")
        if decision.allowed:
            typer.echo(
                f"  min_cell {decision.min_cell}, epsilon {decision.epsilon} a query,"
                f" budget {decision.budget} a month"
            )
    if not decision.allowed:
        raise typer.Exit(1)


@app.command()
def explain(
    bundle: BundleArg,
    agency: Annotated[str, typer.Option(help="Agency id.")],
    purpose: Annotated[str, typer.Option(help="Purpose code.")],
    fields: Annotated[
        str | None, typer.Option(help="Comma-separated fields (default: all).")
    ] = None,
    legal_basis: Annotated[str | None, typer.Option(help="Legal basis cited.")] = None,
    action: Annotated[
        str, typer.Option(help="read, search, batch, resolve or aggregate.")
    ] = "read",
    at: Annotated[str | None, typer.Option(help="ISO time of the request (default: now).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the decision as JSON.")] = False,
    group_by: Annotated[
        str | None, typer.Option(help="aggregate: comma-separated dimensions.")
    ] = None,
    filters: Annotated[
        str | None, typer.Option(help="aggregate: dim=v1|v2;dim=v (e.g. kecamatan_code=35.78.08).")
    ] = None,
    dataset: Annotated[str, typer.Option(help="aggregate: the dataset.")] = "civil_registry",
) -> None:
    """Decide a hypothetical request and explain the decision. Exit 1 if denied."""
    policy = _policy(bundle)
    when = datetime.fromisoformat(at) if at else datetime.now(UTC)
    if action == "aggregate":
        _explain_aggregate(policy, agency, purpose, dataset, group_by, filters, when, as_json)
        return
    wanted = tuple(f.strip() for f in fields.split(",") if f.strip()) if fields else None
    request = policies.AccessRequest(agency, purpose, action, wanted, legal_basis, when)  # type: ignore[arg-type]
    decision = policy.decide(request)
    if as_json:
        typer.echo(json.dumps(decision.to_dict(), indent=2, sort_keys=True))
    else:
        typer.echo(decision.explanation)
        rules = ", ".join(decision.rule_ids) or "-"
        typer.echo(f"rules: {rules}   version: {decision.policy_version[:12]}")
        for name, treatment in sorted(decision.treatments.items()):
            method = decision.methods.get(name)
            typer.echo(f"  {name:<26} {treatment.value}{f' ({method})' if method else ''}")
    if not decision.allowed:
        raise typer.Exit(1)
