"""``policy lint``: the loader's errors plus warnings about rules that are likely mistakes."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime

from policies.errors import BundleIssue
from policies.loader import check_bundle_texts
from policies.model import Bundle, Grant


def lint_bundle_texts(files: Mapping[str, str], at: datetime | None = None) -> list[BundleIssue]:
    """All errors and warnings of a bundle, sorted by file and line.

    Warnings: a grant entirely overridden by denies, a field a grant names but a deny
    removes, a grant no agency receives, a grant already expired or not yet valid at
    ``at``, re-identification without a required legal basis, agencies sharing one
    pseudonym domain (their tokens would be linkable), and purposes no grant uses.
    """
    bundle, issues = check_bundle_texts(files)
    if bundle is not None:
        issues = issues + _warnings(bundle, at or datetime.now(UTC))
    return sorted(issues, key=lambda i: (i.file, i.line, i.message))


def _warn(where: object, message: str) -> BundleIssue:
    file, line = getattr(where, "file", "<bundle>"), getattr(where, "line", 0)
    return BundleIssue(file, line, message, severity="warning")


def _warnings(bundle: Bundle, at: datetime) -> list[BundleIssue]:
    out: list[BundleIssue] = []
    for grant in bundle.grants:
        out.extend(_grant_warnings(bundle, grant, at))
    used = {p for g in bundle.grants for p in g.purposes}
    for code in bundle.purposes:
        if code not in used:
            out.append(
                _warn(bundle.locations[f"purpose:{code}"], f"no grant uses purpose {code!r}")
            )
    return out


def _grant_warnings(bundle: Bundle, grant: Grant, at: datetime) -> list[BundleIssue]:
    out: list[BundleIssue] = []
    where = grant.location
    agencies = [a for a in bundle.agencies.values() if grant.applies_to(a)]
    if not agencies:
        out.append(_warn(where, f"grant {grant.id!r} applies to no agency"))
    if grant.valid_until is not None and grant.valid_until <= at:
        out.append(_warn(where, f"grant {grant.id!r} has expired"))
    if grant.valid_from is not None and grant.valid_from > at:
        out.append(_warn(where, f"grant {grant.id!r} is not valid yet"))
    if grant.reidentify and grant.legal_basis is None:
        out.append(
            _warn(
                where,
                f"grant {grant.id!r} allows re-identification without requiring a legal basis",
            )
        )
    shadowing: set[str] = set()
    fully_shadowed = bool(agencies) and bool(grant.fields)  # a statistics-only grant has none
    named_removed: dict[str, set[str]] = {}
    for agency in agencies:
        for purpose in grant.purposes:
            for action in grant.actions:
                denies = [d for d in bundle.denies if d.applies_to(agency, purpose, action)]
                removed: dict[str, str] = {}
                for deny in denies:
                    scope = deny.fields | {
                        f.name for ds in deny.datasets for f in bundle.datasets[ds].fields
                    }
                    for name in grant.fields if deny.whole_request else scope & set(grant.fields):
                        removed.setdefault(name, deny.id)
                if len(removed) < len(grant.fields):
                    fully_shadowed = False
                for name in grant.named & set(removed):
                    named_removed.setdefault(name, set()).add(removed[name])
                shadowing.update(removed.values())
    if fully_shadowed:
        out.append(
            _warn(
                where,
                f"grant {grant.id!r} is entirely overridden by deny {', '.join(sorted(shadowing))}",
            )
        )
    else:
        for name, ids in sorted(named_removed.items()):
            out.append(
                _warn(
                    where,
                    f"grant {grant.id!r} names {name!r}, which deny "
                    f"{', '.join(sorted(ids))} removes",
                )
            )
    return out
