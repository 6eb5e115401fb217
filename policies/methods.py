"""The methods of masking and generalising, checked against each field's kind.

A method is written after its treatment in a bundle (``mask:initials``,
``generalise:age_band:5``); this module validates it once, at load time, so that
release never meets a method it cannot apply.
"""

from __future__ import annotations

from policies.treatment import Treatment

KINDS = (
    "identifier",  # a NIK-shaped number: nik, kk_number, mother_nik, father_nik
    "name",
    "date",  # ISO YYYY-MM-DD
    "region_code",  # dotted Kemendagri code, e.g. 35.78.08.1001
    "region_name",
    "address",  # street, RT, RW: finer than a kelurahan
    "number",
    "text",
    "bool",
)

#: Region levels, coarse to fine. ``address`` is finer than any region.
LEVELS = {"province": 1, "city": 2, "kecamatan": 3, "kelurahan": 4, "address": 5}

_DEFAULT_MASK = {
    "identifier": "keep:6:2",
    "name": "initials",
    "date": "keep:4:0",
}


def default_mask(kind: str) -> str:
    """The mask a field gets when a bundle says only ``mask``."""
    return _DEFAULT_MASK.get(kind, "redact")


def parse_mask(method: str) -> str:
    """Normalise a mask method; raise ``ValueError`` with a readable message."""
    if method in ("initials", "redact"):
        return method
    if method == "nik":
        return "keep:6:2"
    parts = method.split(":")
    if parts[0] == "keep" and len(parts) == 3 and all(p.isdigit() for p in parts[1:]):
        return f"keep:{int(parts[1])}:{int(parts[2])}"
    raise ValueError(
        f"unknown mask {method!r} (expected initials, redact, nik or keep:<left>:<right>)"
    )


def parse_generalisation(method: str, kind: str, level: str | None) -> str:
    """Normalise a generalisation method for a field of ``kind`` (and region ``level``)."""
    if kind == "date":
        if method in ("year", "month", "age_band"):
            return "age_band:10" if method == "age_band" else method
        parts = method.split(":")
        if parts[0] == "age_band" and len(parts) == 2 and parts[1].isdigit() and int(parts[1]):
            return f"age_band:{int(parts[1])}"
        raise ValueError(f"unknown date generalisation {method!r} (year, month, age_band[:N])")
    if kind in ("region_code", "region_name", "address"):
        if method not in LEVELS or method == "address":
            raise ValueError(
                f"unknown region generalisation {method!r} (kelurahan, kecamatan, city, province)"
            )
        own = LEVELS["address" if kind == "address" else (level or "address")]
        if LEVELS[method] >= own:
            raise ValueError(f"generalising to {method!r} would not be coarser than the field")
        return method
    if kind == "number":
        parts = method.split(":")
        if parts[0] == "band" and len(parts) == 2 and parts[1].isdigit() and int(parts[1]) > 0:
            return f"band:{int(parts[1])}"
        raise ValueError(f"unknown number generalisation {method!r} (band:<width>)")
    if kind == "identifier":
        if method == "region":
            return method
        raise ValueError(f"unknown identifier generalisation {method!r} (region)")
    raise ValueError(f"a field of kind {kind!r} cannot be generalised")


def coarseness(treatment: Treatment, method: str) -> int:
    """How much a method hides, within one treatment (larger hides more)."""
    if treatment is Treatment.MASK:
        if method == "redact":
            return 1_000_000
        if method == "initials":
            return 500_000
        if method.startswith("keep:"):
            _, left, right = method.split(":")
            return 100_000 - int(left) - int(right)
        return 0
    if treatment is Treatment.GENERALISE:
        if method in LEVELS:
            return 100 * (6 - LEVELS[method])
        if method == "month":
            return 10
        if method == "year":
            return 20
        if method == "region":
            return 10
        if method.startswith("age_band:"):
            return 20 + int(method.split(":")[1])
        if method.startswith("band:"):
            return int(method.split(":")[1])
    return 0
