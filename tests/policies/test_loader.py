"""Bundle loading: every problem is reported with the file and line that caused it."""

from __future__ import annotations

import pytest

import policies
from tests.policies.conftest import DATASETS, DEMO, texts


def errors_of(files: dict[str, str]) -> list[str]:
    with pytest.raises(policies.BundleError) as info:
        policies.load_bundle_texts(files)
    return [str(issue) for issue in info.value.issues]


def line_in(text: str, needle: str) -> int:
    """The 1-based line of the first occurrence of ``needle`` in ``text``."""
    return next(n for n, line in enumerate(text.splitlines(), 1) if needle in line)


GRANT = """
grants:
  - id: g1
    roles: [social]
    datasets: [people]
    purposes: [help]
    fields:
      full_name: {treatment}
"""


def test_demo_bundle_loads_with_every_dataset_field() -> None:
    bundle = policies.load_bundle(DEMO)
    assert set(bundle.datasets) == {"civil_registry", "welfare", "health"}
    assert len(bundle.fields) == 28 + 11 + 3
    assert bundle.fields["chronic_conditions"].sensitivity is policies.Sensitivity.SPECIFIC
    assert bundle.fields["religion"].sensitivity is policies.Sensitivity.SENSITIVE
    assert bundle.fields["mother_nik"].sensitivity is policies.Sensitivity.IDENTIFIER


@pytest.mark.parametrize(
    ("rules", "line", "needle"),
    [
        (GRANT.replace("{treatment}", "blur"), 8, "unknown treatment 'blur'"),
        (GRANT.replace("{treatment}", "generalise:decade"), 8, "cannot be generalised"),
        (
            GRANT.replace("{treatment}", "clear\n      shoe_size: clear"),
            9,
            "unknown field 'shoe_size'",
        ),
        (GRANT.replace("[people]", "[payroll]"), 5, "unknown dataset 'payroll'"),
        (GRANT.replace("[help]", "[marketing]"), 6, "unknown purpose 'marketing'"),
        (GRANT.replace("{treatment}", "clear") + "    valid_from: 2025-13-45\n", 9, "invalid date"),
        (GRANT.replace("{treatment}", "clear") + "    colour: red\n", 9, "unknown key 'colour'"),
        (
            GRANT.replace("{treatment}", "clear") + "    legal_basis: PKS/<x>\n",
            9,
            "placeholder <x>",
        ),
        (GRANT.replace("{treatment}", "clear") + "    where: decile >>> 3\n", 9, "row filter"),
        (
            GRANT.replace("{treatment}", "clear") + "    where: shoe == 3\n",
            9,
            "unknown field 'shoe'",
        ),
        (
            GRANT.replace("{treatment}", "clear") + "    rates: {per_client: lots}\n",
            9,
            "invalid rate",
        ),
        (GRANT.replace("{treatment}", "clear") + "    cap: 0\n", 9, "positive whole number"),
        (GRANT.replace("{treatment}", "clear") + "    actions: [resolve]\n", 9, "reidentify: true"),
        (
            GRANT.replace("{treatment}", "clear") + "    valid_from: 2026-01-01\n"
            "    valid_until: 2025-01-01\n",
            10,
            "not after valid_from",
        ),
        (
            GRANT.replace("{treatment}", "clear")
            + GRANT.replace("grants:\n", "").replace("{treatment}", "clear"),
            10,
            "duplicate rule id 'g1'",
        ),
        (
            GRANT.replace("full_name: {treatment}", "full_name: clear\n      full_name: mask"),
            9,
            "duplicate key 'full_name'",
        ),
        (GRANT.replace("{treatment}", "[clear"), 9, "invalid YAML"),
        (
            GRANT.replace("{treatment}", "clear").replace(
                "      full_name: clear\n", "      diagnosis: clear\n"
            ),
            8,
            "not in datasets people",
        ),
    ],
)
def test_errors_name_file_and_line(rules: str, line: int, needle: str) -> None:
    found = errors_of(texts(rules))
    assert any(f"rules.yaml:{line}:" in e and needle in e for e in found), found


def test_deny_errors_name_file_and_line() -> None:
    found = errors_of(texts("denies:\n  - id: d1\n    fields: [religion, tattoo]\n  - id: d2\n"))
    assert any("rules.yaml:3:" in e and "unknown field 'tattoo'" in e for e in found), found
    assert any("rules.yaml:4:" in e and "at least one" in e for e in found), found


def test_dataset_errors_name_file_and_line() -> None:
    bad = DATASETS.replace("religion: sensitive", "religion: secret").replace(
        "diagnosis: {sensitivity: specific, category: health}", "diagnosis: {sensitivity: specific}"
    )
    found = errors_of(texts("", datasets=bad))
    religion, diagnosis = line_in(bad, "religion: secret"), line_in(bad, "diagnosis:")
    assert any(f"base.yaml:{religion}:" in e and "unknown sensitivity" in e for e in found), found
    assert any(f"base.yaml:{diagnosis}:" in e and "needs a category" in e for e in found), found


def test_region_codes_must_be_quoted_text() -> None:
    bad = DATASETS.replace('jurisdiction: ["35.78"]', "jurisdiction: [35.78]")
    line = line_in(bad, "[35.78]")
    assert any(f"base.yaml:{line}:" in e for e in errors_of(texts("", datasets=bad)))


def test_a_field_name_is_unique_across_datasets() -> None:
    bad = DATASETS.replace("clinic_name: {kind: text}", "full_name: {kind: name}")
    assert any(
        "already defined in dataset 'people'" in e for e in errors_of(texts("", datasets=bad))
    )


def test_case_files_are_not_part_of_the_bundle() -> None:
    files = texts(GRANT.replace("{treatment}", "clear"))
    files["cases.yaml"] = "cases: []\n"
    assert len(policies.load_bundle_texts(files).grants) == 1


def test_version_is_a_content_hash_independent_of_file_layout_and_rule_order() -> None:
    two_grants = GRANT.replace("{treatment}", "clear") + GRANT.replace("grants:\n", "").replace(
        "g1", "g2"
    ).replace("{treatment}", "mask")
    swapped = GRANT.replace("{treatment}", "mask").replace("g1", "g2") + GRANT.replace(
        "grants:\n", ""
    ).replace("{treatment}", "clear")
    a = policies.compile_bundle(policies.load_bundle_texts(texts(two_grants)))
    b = policies.compile_bundle(policies.load_bundle_texts({"all.yaml": DATASETS + swapped}))
    c = policies.compile_bundle(
        policies.load_bundle_texts(texts(two_grants.replace("mask", "withhold")))
    )
    assert a.version == b.version
    assert a.version != c.version
    assert len(a.version) == 64 and int(a.version, 16) >= 0


def test_load_bundle_from_a_single_file(tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "bundle.yaml"
    path.write_text(DATASETS + GRANT.replace("{treatment}", "clear"), encoding="utf-8")
    assert [g.id for g in policies.load_bundle(path).grants] == ["g1"]


def test_missing_bundle_is_an_error(tmp_path) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(policies.BundleError, match="bundle not found"):
        policies.load_bundle(tmp_path / "nothing")
