"""Resident records: read, search, batch and resolve, from the request to the
released record."""
