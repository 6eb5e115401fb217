"""Building connectors from the sources file."""

from __future__ import annotations

from pathlib import Path

from connectors.config import HttpSourceConfig, SqlSourceConfig, read_sources_file
from connectors.crosswalk import Crosswalk
from connectors.http import HttpConnector
from connectors.protocol import Connector
from connectors.sql import SqlConnector

__all__ = ["load_sources"]


def load_sources(path: Path, *, crosswalk: Crosswalk | None = None) -> list[Connector]:
    """The connectors described by a sources file (``SATUGATE_SOURCES_FILE``), in order.

    Engines and HTTP clients are created here, not at import; nothing connects until the
    first call. ``crosswalk`` (default: the demo cities' table) serves BPS-coded sources.
    """
    config = read_sources_file(path)
    needs_crosswalk = any(s.region_system == "bps" for s in config.sources)
    if needs_crosswalk and crosswalk is None:
        crosswalk = Crosswalk.demo()
    connectors: list[Connector] = []
    for source in config.sources:
        if isinstance(source, SqlSourceConfig):
            connectors.append(SqlConnector.from_config(source, crosswalk=crosswalk))
        elif isinstance(source, HttpSourceConfig):
            connectors.append(HttpConnector.from_config(source, crosswalk=crosswalk))
    return connectors
