"""Fixtures for the policy engine tests: the demo bundle and small hand-written bundles."""

from __future__ import annotations

import textwrap
from datetime import UTC, datetime
from pathlib import Path

import pytest

import policies

DEMO = Path(__file__).resolve().parents[2] / "policies" / "bundles" / "demo"
AT = datetime(2026, 6, 1, 1, 0, tzinfo=UTC)

DATASETS = """
datasets:
  people:
    source: registry
    key: nik
    fields:
      nik: {sensitivity: identifier}
      full_name: {kind: name}
      birth_date: {kind: date}
      religion: sensitive
      kelurahan_code: {kind: region_code, level: kelurahan, generalise: kecamatan}
      kecamatan_name: {kind: region_name, level: kecamatan}
      street: {kind: address, generalise: kelurahan}
      income: {sensitivity: specific, category: finance, kind: number, generalise: "band:1000"}
      decile: {kind: number, generalise: "band:3"}
  clinic:
    source: clinic
    fields:
      diagnosis: {sensitivity: specific, category: health}
      clinic_name: {kind: text}
purposes:
  help: Helping
  count: Counting
agencies:
  alpha: {name: Alpha, roles: [social], jurisdiction: ["35.78"]}
  beta: {name: Beta, roles: [social, health], jurisdiction: ["51.71"]}
  gamma: {name: Gamma, roles: [planning], jurisdiction: ["35.78.08"]}
"""


def texts(rules: str, datasets: str = DATASETS) -> dict[str, str]:
    """A bundle of two files: the fixed datasets/agencies and the given rules."""
    return {"base.yaml": textwrap.dedent(datasets), "rules.yaml": textwrap.dedent(rules)}


def compile_texts(rules: str) -> policies.Policy:
    return policies.compile_bundle(policies.load_bundle_texts(texts(rules)))


def request(
    agency: str = "alpha",
    purpose: str = "help",
    fields: tuple[str, ...] | None = None,
    *,
    action: str = "read",
    legal_basis: str | None = None,
    at: datetime = AT,
) -> policies.AccessRequest:
    return policies.AccessRequest(agency, purpose, action, fields, legal_basis, at)  # type: ignore[arg-type]


def keys(seed: int, versions: tuple[int, ...] = (1,)) -> dict[int, bytes]:
    """Distinct, reproducible 64-byte test keys."""
    import hashlib

    return {v: hashlib.shake_256(f"test-key/{seed}/{v}".encode()).digest(64) for v in versions}


@pytest.fixture(scope="session")
def demo_policy() -> policies.Policy:
    return policies.compile_bundle(policies.load_bundle(DEMO))
