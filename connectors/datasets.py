"""The shared data contract: datasets, their fields, and the fields' value types.

Field names are unique across datasets. A source declares the datasets it holds; unless
its configuration lists fields explicitly, it holds all fields of those datasets.
"""

from __future__ import annotations

from types import MappingProxyType

__all__ = ["BOOL_FIELDS", "DATASET_FIELDS", "INT_FIELDS", "REGION_CODE_FIELDS", "dataset_of"]

DATASET_FIELDS = MappingProxyType(
    {
        "civil_registry": (
            "nik",
            "kk_number",
            "full_name",
            "sex",
            "birth_place",
            "birth_date",
            "blood_type",
            "religion",
            "marital_status",
            "family_relation",
            "disability",
            "education",
            "occupation",
            "mother_nik",
            "mother_name",
            "father_nik",
            "father_name",
            "street",
            "rt",
            "rw",
            "kelurahan_code",
            "kelurahan_name",
            "kecamatan_code",
            "kecamatan_name",
            "city_code",
            "city_name",
            "province_code",
            "province_name",
        ),
        "welfare": (
            "welfare_decile",
            "housing_ownership",
            "floor_type",
            "wall_type",
            "roof_type",
            "water_source",
            "sanitation",
            "pkh_member",
            "bpnt_member",
            "pbi_member",
            "monthly_income",
        ),
        "health": ("bpjs_class", "chronic_conditions", "disability_support_needs"),
    }
)
BOOL_FIELDS = frozenset({"pkh_member", "bpnt_member", "pbi_member"})
INT_FIELDS = frozenset({"welfare_decile", "monthly_income"})
#: Fields holding region codes: translated when a BPS-coded source meets Kemendagri codes.
REGION_CODE_FIELDS = frozenset({"province_code", "city_code", "kecamatan_code", "kelurahan_code"})

_FIELD_DATASET = {f: d for d, fields in DATASET_FIELDS.items() for f in fields}


def dataset_of(field: str) -> str | None:
    """The dataset a contract field belongs to, or ``None`` for an unknown field."""
    return _FIELD_DATASET.get(field)
