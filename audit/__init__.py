"""satugate's tamper-evident audit log.

An append-only event log whose leaves form an RFC 9162 Merkle tree, with C2SP signed
checkpoints (Ed25519) and witnesses' cosignatures, inclusion and consistency proofs, a
witness, auditor search, the resident access report, snooping flags, and an offline
verifier. Stands alone: it imports neither the gateway, nor the policies, nor the
connectors, so an auditor's tool can use it alone.
"""

from audit.alerts import AlertRules
from audit.checkpoint import Checkpoint, CheckpointSigner, VerifierKey, verify_checkpoint
from audit.cosignature import Cosigner, WitnessKey, verify_cosigned
from audit.errors import AuditError, AuditUnavailable, ProofError
from audit.events import ACTIONS, LOOKUP_ACTIONS
from audit.export import export_lines, log_origin
from audit.log import AuditLog
from audit.models import (
    Alert,
    ConsistencyProof,
    EventPage,
    EventQuery,
    InclusionProof,
    Receipt,
)
from audit.schema import configure_sqlite, ddl_after_create, install_schema, metadata
from audit.verify import LogVerifier, VerifyReport, locate_first_bad, verify_export

__all__ = [
    "ACTIONS",
    "LOOKUP_ACTIONS",
    "Alert",
    "AlertRules",
    "AuditError",
    "AuditLog",
    "AuditUnavailable",
    "Checkpoint",
    "CheckpointSigner",
    "ConsistencyProof",
    "Cosigner",
    "EventPage",
    "EventQuery",
    "InclusionProof",
    "LogVerifier",
    "ProofError",
    "Receipt",
    "VerifierKey",
    "VerifyReport",
    "WitnessKey",
    "configure_sqlite",
    "ddl_after_create",
    "export_lines",
    "install_schema",
    "locate_first_bad",
    "log_origin",
    "metadata",
    "verify_checkpoint",
    "verify_cosigned",
    "verify_export",
]
