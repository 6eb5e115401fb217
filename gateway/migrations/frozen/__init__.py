"""The SQL each revision ran, frozen as it was when the revision was written.

A revision never calls today's DDL helpers: a database upgraded through the revisions
ends with exactly what the last one installs, whatever the code says later.
"""
