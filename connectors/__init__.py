"""Sources of truth behind one small protocol, their federation, and search by name.

The public face of the package: :class:`Connector` (the protocol), :func:`load_sources`
(connectors from ``SATUGATE_SOURCES_FILE``), :class:`Federation` (one record from several
sources, with provenance), the search values, name normalisation, and region tables.
This package never imports ``gateway``, ``policies`` or ``audit``.
"""

from connectors.aggregate import CountQuery, CountRow
from connectors.crosswalk import Crosswalk
from connectors.datasets import DATASET_FIELDS
from connectors.errors import (
    ConnectorError,
    QueryNotSpecific,
    SearchNotSupported,
    SourceConfigError,
    SourceUnavailable,
    UnknownFields,
)
from connectors.federation import Federation
from connectors.http import HttpConnector
from connectors.loader import load_sources
from connectors.models import Candidate, FederatedResult, Match, Record, SearchQuery, SearchResult
from connectors.names import NormalisedName, normalise_name, spelling_variants
from connectors.protocol import Connector
from connectors.regions import Region, RegionTable, iter_region_csv
from connectors.sql import SqlConnector

__all__ = [
    "DATASET_FIELDS",
    "Candidate",
    "Connector",
    "ConnectorError",
    "CountQuery",
    "CountRow",
    "Crosswalk",
    "FederatedResult",
    "Federation",
    "HttpConnector",
    "Match",
    "NormalisedName",
    "QueryNotSpecific",
    "Record",
    "Region",
    "RegionTable",
    "SearchNotSupported",
    "SearchQuery",
    "SearchResult",
    "SourceConfigError",
    "SourceUnavailable",
    "SqlConnector",
    "UnknownFields",
    "iter_region_csv",
    "load_sources",
    "normalise_name",
    "spelling_variants",
]
