"""Resident lookups: decide, fetch, treat, audit, respond — in that order, every time.

One function per API operation, each in a module of its own (``read``, ``search``,
``batch``, ``resolve``), composed of the shared ``steps``. Each ends in exactly one audit
event, and none returns personal data unless that event committed. The routes call them
through this module.
"""

from __future__ import annotations

from gateway.residents.batch import batch_residents
from gateway.residents.read import read_resident
from gateway.residents.resolve import resolve_pseudonym
from gateway.residents.search import search_residents

__all__ = ["batch_residents", "read_resident", "resolve_pseudonym", "search_residents"]
