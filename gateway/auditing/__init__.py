"""The record and its readers: audit events of every workflow, the auditors' API,
the resident's report, proofs, tiles and witnesses."""
