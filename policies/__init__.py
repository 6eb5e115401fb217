"""satugate's policy engine: who may see what, for which purpose, and how each field is
treated. Pure: given a bundle and a request it returns a decision; given a decision and a
record it returns what may be released. The only I/O is reading bundle files on request.
"""

from policies.aggregate import AggregateDecision, AggregateRequest, AggregateRule
from policies.cases import Case, CaseResult, load_cases, run_cases
from policies.decision import (
    AccessRequest,
    Action,
    Catalog,
    CatalogPurpose,
    Decision,
    Released,
)
from policies.engine import Policy, compile_bundle
from policies.errors import (
    BundleError,
    BundleIssue,
    ForeignPseudonym,
    LegacyPseudonym,
    MalformedPseudonym,
    PolicyError,
    PseudonymError,
    RetiredKeyVersion,
    RowFiltered,
    SpecificDataDenied,
)
from policies.generalising import generalise_value
from policies.lint import lint_bundle_texts
from policies.loader import (
    check_bundle_texts,
    is_case_file,
    load_bundle,
    load_bundle_texts,
    read_bundle_files,
)
from policies.masking import mask_value
from policies.model import Agency, Bundle, Purpose, Rates, Sensitivity
from policies.pseudonyms import KEY_BYTES, Pseudonymiser
from policies.treatment import Treatment

__all__ = [
    "KEY_BYTES",
    "AccessRequest",
    "Action",
    "Agency",
    "AggregateDecision",
    "AggregateRequest",
    "AggregateRule",
    "Bundle",
    "BundleError",
    "BundleIssue",
    "Case",
    "CaseResult",
    "Catalog",
    "CatalogPurpose",
    "Decision",
    "ForeignPseudonym",
    "LegacyPseudonym",
    "MalformedPseudonym",
    "Policy",
    "PolicyError",
    "PseudonymError",
    "Pseudonymiser",
    "Purpose",
    "Rates",
    "Released",
    "RetiredKeyVersion",
    "RowFiltered",
    "Sensitivity",
    "SpecificDataDenied",
    "Treatment",
    "check_bundle_texts",
    "compile_bundle",
    "generalise_value",
    "is_case_file",
    "lint_bundle_texts",
    "load_bundle",
    "load_bundle_texts",
    "load_cases",
    "mask_value",
    "read_bundle_files",
    "run_cases",
]
