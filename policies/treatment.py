"""Treatments: how one field leaves the gateway, ordered by how much they protect."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from functools import total_ordering


@total_ordering
class Treatment(Enum):
    """How a field is released. Compares by protection: ``CLEAR < MASK < ... < WITHHOLD``.

    Security: where two grants treat one field differently the engine keeps the *most
    protective* one (``max``), so a broad grant can never loosen a narrow one.
    """

    CLEAR = "clear"
    MASK = "mask"
    GENERALISE = "generalise"
    PSEUDONYMISE = "pseudonymise"
    WITHHOLD = "withhold"

    @property
    def protection(self) -> int:
        return _PROTECTION[self]

    def __lt__(self, other: object) -> bool:
        if not isinstance(other, Treatment):
            return NotImplemented
        return _PROTECTION[self] < _PROTECTION[other]


_PROTECTION = {
    Treatment.CLEAR: 0,
    Treatment.MASK: 1,
    Treatment.GENERALISE: 2,
    Treatment.PSEUDONYMISE: 3,
    Treatment.WITHHOLD: 4,
}


@dataclass(frozen=True, order=False)
class TreatmentSpec:
    """A treatment with its method, e.g. ``generalise:age_band:10`` or ``mask:initials``.

    ``method`` is empty for treatments that take none (clear, pseudonymise, withhold);
    for mask and generalise it is always resolved to a concrete method at load time.
    """

    treatment: Treatment
    method: str = ""

    def __str__(self) -> str:
        return f"{self.treatment.value}:{self.method}" if self.method else self.treatment.value

    def sort_key(self) -> tuple[int, int, str]:
        """Protection first, then coarseness of the method, then its text (a total order)."""
        from policies.methods import coarseness

        return (self.treatment.protection, coarseness(self.treatment, self.method), self.method)


def strictest(a: TreatmentSpec, b: TreatmentSpec) -> TreatmentSpec:
    """The more protective of two treatments; a total order, so the result is order-free."""
    if a.treatment is not b.treatment:
        return a if a.treatment.protection > b.treatment.protection else b
    if a.method == b.method:
        return a
    return a if a.sort_key() >= b.sort_key() else b
