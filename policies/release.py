"""Applying a decision to one record: row filter, children's rule, field treatments."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date

from policies.age import is_child
from policies.decision import Decision, Released
from policies.errors import RowFiltered, SpecificDataDenied
from policies.generalising import generalise_value
from policies.masking import mask_value
from policies.model import FieldDef
from policies.pseudonyms import Pseudonymiser
from policies.treatment import Treatment


def in_jurisdiction(code: object, prefixes: tuple[str, ...]) -> bool:
    """Whether a dotted region code lies inside one of ``prefixes`` (whole segments only)."""
    if not isinstance(code, str):
        return False
    return any(code == p or code.startswith(p + ".") for p in prefixes)


def release_record(
    decision: Decision,
    record: Mapping[str, object],
    fields: Mapping[str, FieldDef],
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
    released = [f for f, t in decision.treatments.items() if t is not Treatment.WITHHOLD]
    child = is_child(record, today)
    if child and any(f not in decision.children_fields for f in released):
        raise SpecificDataDenied(
            "a child's record needs a grant that explicitly allows children's data"
        )
    treat = _Treater(decision, fields, record, pseudonymiser, today)
    out: dict[str, object] = {}
    for name in released:
        if name in record:
            out[name] = treat.value(name, record[name])
    nik = record.get("nik")
    subject: str | None = None
    if isinstance(nik, str):
        subject = nik if decision.subject is Treatment.CLEAR else pseudonymiser.pseudonymise(nik)
    return Released(
        record=out,
        treatments={f: t.value for f, t in decision.treatments.items()},
        subject=subject,
        specific_data=decision.specific_data or child,
    )


class _Treater:
    def __init__(
        self,
        decision: Decision,
        fields: Mapping[str, FieldDef],
        record: Mapping[str, object],
        pseudonymiser: Pseudonymiser,
        today: date,
    ) -> None:
        self.decision = decision
        self.fields = fields
        self.record = record
        self.pseudonymiser = pseudonymiser
        self.today = today

    def value(self, name: str, value: object) -> object:
        if value is None or isinstance(value, (str, int, float)):  # the common case, first
            return self.scalar(name, value)
        if isinstance(value, Mapping):
            return self.nested(value)
        if isinstance(value, (list, tuple)):
            return [self.value(name, item) for item in value]
        return self.scalar(name, value)

    def nested(self, value: Mapping[object, object]) -> dict[str, object]:
        """A nested structure (e.g. family members) gets the same decision, key by key.

        Security: keys the decision does not release, and keys that are not fields at all,
        are dropped; identifiers inside are pseudonymised with this agency's domain
        exactly as at the top level.
        """
        out: dict[str, object] = {}
        for key, item in value.items():
            if not isinstance(key, str):
                continue
            treatment = self.decision.treatments.get(key)
            if treatment is None or treatment is Treatment.WITHHOLD:
                continue
            out[key] = self.value(key, item)
        return out

    def scalar(self, name: str, value: object) -> object:
        if value is None:
            return None
        treatment = self.decision.treatments[name]
        if treatment is Treatment.CLEAR:
            return value
        if treatment is Treatment.PSEUDONYMISE:
            return self.pseudonymiser.pseudonymise(value if isinstance(value, str) else str(value))
        method = self.decision.methods[name]
        if treatment is Treatment.MASK:
            return mask_value(value, method)
        field = self.fields[name]
        return generalise_value(
            value, method, kind=field.kind, record=self.record, today=self.today
        )
