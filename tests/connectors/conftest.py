"""Fixtures for the connectors' tests: generated source databases."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.demo.synthetic import SyntheticSummary, generate_sources


@pytest.fixture(scope="session")
def demo_sources(tmp_path_factory: pytest.TempPathFactory) -> SyntheticSummary:
    """3,000 synthetic residents in three SQLite sources (read-only use in tests)."""
    return generate_sources(tmp_path_factory.mktemp("sources"), residents=3_000, seed=11)


@pytest.fixture
def sources_copy(tmp_path: Path, demo_sources: SyntheticSummary) -> Path:
    """A private copy of the generated sources a test may break (stop, remove)."""
    import shutil

    folder = demo_sources.sources_file.parent
    for name in ("civil.db", "welfare.db", "health.db", "sources.yaml"):
        shutil.copy(folder / name, tmp_path / name)
    return tmp_path / "sources.yaml"
