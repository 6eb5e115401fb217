"""Applying a decision to one record: row filter, children's rule, field treatments."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import date

from policies.age import is_child
from policies.decision import Decision, Released
from policies.errors import RowFiltered, SpecificDataDenied
from policies.generalising import generalise_value
from policies.masking import mask_value
from policies.pseudonyms import Pseudonymiser
from policies.treatment import Treatment

Step = tuple[Treatment, str, str]  # treatment, method, field kind
_MISSING = object()
_SCALARS = frozenset({str, int, float, bool})


def in_jurisdiction(code: object, prefixes: tuple[str, ...]) -> bool:
    """Whether a dotted region code lies inside one of ``prefixes`` (whole segments only)."""
    if not isinstance(code, str):
        return False
    return any(code == p or code.startswith(p + ".") for p in prefixes)


def release_record(
    decision: Decision,
    record: Mapping[str, object],
    pseudonymiser: Pseudonymiser,
    today: date,
) -> Released:
    """Release ``record`` under ``decision`` (see ``Policy.release``).

    Security: fields the decision does not name never leave, nested structures included;
    a record the filters cannot judge (no region code, no age) is treated as excluded
    or as a child's.
    """
    if decision.jurisdiction and not in_jurisdiction(
        record.get("kelurahan_code"), decision.jurisdiction
    ):
        raise RowFiltered("the record lies outside the agency's jurisdiction")
    if decision._filter is not None and not decision._filter(record):
        raise RowFiltered("the record is excluded by the row filter")
    plan = decision.plan
    child = is_child(record, today)
    if child and not plan.keys() <= decision.children_fields:
        raise SpecificDataDenied(
            "a child's record needs a grant that explicitly allows children's data"
        )
    treat = _Treater(plan, record, pseudonymiser.pseudonymise, today)
    out: dict[str, object] = {}
    clear = Treatment.CLEAR
    for name, step in plan.items():
        value = record.get(name, _MISSING)
        if value is _MISSING:
            continue
        if value is None or (step[0] is clear and type(value) in _SCALARS):
            out[name] = value  # what ``_Treater.value`` returns for these, without the calls
        else:
            out[name] = treat.value(step, value, name)
    nik = record.get("nik")
    subject: str | None = None
    if isinstance(nik, str):
        if decision.subject is Treatment.CLEAR:
            subject = nik
        elif _pseudonymised_nik(plan) and isinstance(token := out.get("nik"), str):
            subject = token  # the same token: the same key, domain and value
        else:
            subject = pseudonymiser.pseudonymise(nik)
    return Released(
        record=out,
        treatments=dict(decision.treatment_names),
        subject=subject,
        specific_data=decision.specific_data or child,
    )


def _pseudonymised_nik(plan: Mapping[str, Step]) -> bool:
    step = plan.get("nik")
    return step is not None and step[0] is Treatment.PSEUDONYMISE


class _Treater:
    def __init__(
        self,
        plan: Mapping[str, Step],
        record: Mapping[str, object],
        pseudonymise: Callable[[str, str], str],
        today: date,
    ) -> None:
        self.plan = plan
        self.record = record
        self.pseudonymise = pseudonymise
        self.today = today

    def value(self, step: Step, value: object, field: str) -> object:
        if value is None:
            return None
        if isinstance(value, (str, int, float)):  # the common case, first
            return self.scalar(step, value, field)
        if isinstance(value, Mapping):
            return self.nested(value)
        if isinstance(value, (list, tuple)):
            return [self.value(step, item, field) for item in value]
        return self.scalar(step, value, field)

    def nested(self, value: Mapping[object, object]) -> dict[str, object]:
        """A nested structure (e.g. family members) gets the same decision, key by key.

        Security: keys the decision does not release, and keys that are not fields at all,
        are dropped; identifiers inside are pseudonymised with this agency's domain
        exactly as at the top level.
        """
        out: dict[str, object] = {}
        for key, item in value.items():
            step = self.plan.get(key) if isinstance(key, str) else None
            if step is not None:
                out[str(key)] = self.value(step, item, str(key))
        return out

    def scalar(self, step: Step, value: object, field: str) -> object:
        treatment, method, kind = step
        if treatment is Treatment.CLEAR:
            return value
        if treatment is Treatment.PSEUDONYMISE:
            # Bound to its field: a family-card number never yields a NIK's token.
            return self.pseudonymise(value if isinstance(value, str) else str(value), field)
        if treatment is Treatment.MASK:
            return mask_value(value, method)
        return generalise_value(value, method, kind=kind, record=self.record, today=self.today)
