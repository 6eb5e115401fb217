"""The ``aggregate`` action: counts by region and category, never records.

A grant carries an ``aggregate:`` block naming the dimensions an agency may group by,
the filters it may use, the smallest cell it may see (``min_cell``, default 10), the
privacy loss of one query (``epsilon``, default 1/2) and its budget per calendar month
(``budget``, default 10). Dimensions of specific data (UU PDP Pasal 4, e.g. health,
disability) are granted only when named: a wildcard never reaches them. Region filters
stay inside the agency's jurisdiction, as for records.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from fractions import Fraction
from typing import Any

__all__ = [
    "AGE_BANDS",
    "DIMENSIONS",
    "SPECIFIC_DIMENSIONS",
    "AggregateDecision",
    "AggregateRequest",
    "AggregateRule",
    "decide_aggregate",
    "parse_aggregate",
]

AGE_BANDS = (*tuple(f"{a}-{a + 4}" for a in range(0, 85, 5)), "85+")
#: The dimensions a statistics query may use, and the source field each is read from.
DIMENSIONS: Mapping[str, str] = {
    "kecamatan_code": "kecamatan_code",
    "kelurahan_code": "kelurahan_code",
    "sex": "sex",
    "age_band": "birth_date",
    "religion": "religion",
    "welfare_decile": "welfare_decile",
    "disability": "disability",
}
REGION_DIMENSIONS = ("kecamatan_code", "kelurahan_code")
#: Dimensions of specific or sensitive data: granted only by name, never by ``*``.
SPECIFIC_DIMENSIONS = frozenset({"disability", "religion", "welfare_decile"})
UNITS = ("residents", "households")
AGGREGATE_KEYS = ("dimensions", "filters", "min_cell", "epsilon", "budget")


@dataclass(frozen=True)
class AggregateRule:
    dimensions: frozenset[str]
    filters: frozenset[str]
    min_cell: int = 10
    epsilon: Fraction = Fraction(1, 2)
    budget: Fraction = Fraction(10)

    def canonical(self) -> dict[str, Any]:
        return {
            "dimensions": sorted(self.dimensions),
            "filters": sorted(self.filters),
            "min_cell": self.min_cell,
            "epsilon": str(self.epsilon),
            "budget": str(self.budget),
        }


def parse_aggregate(raw: Any) -> tuple[AggregateRule | None, list[str]]:
    """An ``aggregate:`` block, or the problems with it."""
    if not isinstance(raw, Mapping):
        return None, ["'aggregate' must be a mapping"]
    problems = [f"unknown key {k!r} in 'aggregate'" for k in raw if k not in AGGREGATE_KEYS]
    dims = _names(raw.get("dimensions"), "dimensions", problems)
    filters = _names(raw.get("filters", []), "filters", problems)
    if "*" in dims:
        dims = (dims - {"*"}) | (set(DIMENSIONS) - SPECIFIC_DIMENSIONS)
    if "*" in filters:
        filters = (filters - {"*"}) | (set(DIMENSIONS) - SPECIFIC_DIMENSIONS)
    min_cell = raw.get("min_cell", 10)
    if not isinstance(min_cell, int) or isinstance(min_cell, bool) or min_cell < 3:
        problems.append("'min_cell' must be a whole number of at least 3")
        min_cell = 10
    epsilon = _fraction(raw.get("epsilon", "1/2"), "epsilon", problems)
    budget = _fraction(raw.get("budget", 10), "budget", problems)
    if epsilon > budget:
        problems.append("'epsilon' (one query) is more than 'budget' (a month)")
    if problems:
        return None, problems
    return AggregateRule(frozenset(dims), frozenset(filters), min_cell, epsilon, budget), []


def _names(raw: Any, key: str, problems: list[str]) -> set[str]:
    if not isinstance(raw, list) or not all(isinstance(x, str) for x in raw):
        problems.append(f"'aggregate.{key}' must be a list of dimension names")
        return set()
    unknown = [x for x in raw if x != "*" and x not in DIMENSIONS]
    if unknown:
        problems.append(f"unknown dimension(s) in 'aggregate.{key}': {', '.join(unknown)}")
    return {x for x in raw if x == "*" or x in DIMENSIONS}


def _fraction(raw: Any, key: str, problems: list[str]) -> Fraction:
    try:
        value = Fraction(str(raw))
    except (ValueError, ZeroDivisionError):
        value = Fraction(0)
    if value <= 0 or value > 100:
        problems.append(f"'aggregate.{key}' must be a positive number (e.g. 0.5 or 1/2)")
        return Fraction(1)
    return value


@dataclass(frozen=True)
class AggregateRequest:
    agency: str
    purpose: str
    dataset: str
    unit: str
    group_by: tuple[str, ...]
    filters: Mapping[str, tuple[str, ...]]
    at: datetime


@dataclass(frozen=True)
class AggregateDecision:
    allowed: bool
    code: str | None
    explanation: str
    rule_ids: tuple[str, ...]
    policy_version: str
    min_cell: int = 10
    epsilon: Fraction = Fraction(1, 2)
    budget: Fraction = Fraction(10)
    jurisdiction: tuple[str, ...] = field(default=())

    def to_dict(self) -> dict[str, Any]:
        return {
            "allowed": self.allowed,
            "code": self.code,
            "explanation": self.explanation,
            "rule_ids": list(self.rule_ids),
            "policy_version": self.policy_version,
            "min_cell": self.min_cell,
            "epsilon": str(self.epsilon),
            "budget": str(self.budget),
            "jurisdiction": list(self.jurisdiction),
        }


def decide_aggregate(
    req: AggregateRequest,
    *,
    grants: Sequence[Any],
    jurisdiction: tuple[str, ...] | None,
    version: str,
) -> AggregateDecision:
    """Decide a statistics query. ``grants`` are the grants that apply to the agency;
    ``jurisdiction`` its region prefixes (``None``: unknown agency)."""

    def deny(code: str, why: str, rules: tuple[str, ...] = ()) -> AggregateDecision:
        return AggregateDecision(False, code, why, rules, version)

    if jurisdiction is None:
        return deny("unknown_agency", "the agency is not in the policy")
    if req.unit not in UNITS:
        return deny("invalid_request", "unit must be residents or households")
    candidates = [
        g
        for g in grants
        if getattr(g, "aggregate", None) is not None
        and req.purpose in g.purposes
        and req.dataset in g.datasets
        and g.active(req.at)
    ]
    if not candidates:
        return deny(
            "purpose_not_permitted",
            f"no aggregate grant for purpose {req.purpose!r} on dataset {req.dataset!r}",
        )
    asked_dims = set(req.group_by)
    asked_filters = set(req.filters)
    for grant in candidates:
        rule: AggregateRule = grant.aggregate
        ids = (grant.id,)
        missing = sorted(asked_dims - rule.dimensions)
        if missing:
            continue
        if sorted(asked_filters - rule.filters):
            continue
        region = jurisdiction if grant.jurisdiction else ()
        for dim in REGION_DIMENSIONS:
            for code in req.filters.get(dim, ()):
                if region and not any(code == p or code.startswith(p + ".") for p in region):
                    return deny(
                        "filter_outside_jurisdiction",
                        f"the {dim} filter reaches outside the agency's jurisdiction",
                        ids,
                    )
        return AggregateDecision(
            True,
            None,
            f"granted by {grant.id}",
            ids,
            version,
            rule.min_cell,
            rule.epsilon,
            rule.budget,
            region,
        )
    specific = sorted((asked_dims | asked_filters) & SPECIFIC_DIMENSIONS)
    return deny(
        "dimension_not_permitted",
        "a dimension or filter is not granted for this purpose"
        + (f" (specific data is granted only by name: {', '.join(specific)})" if specific else ""),
        tuple(g.id for g in candidates),
    )
