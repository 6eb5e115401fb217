"""The OpenAPI document is the API: schemathesis, with all its checks, against a real
gateway process, authenticated as a reader (``/v1``) and as an auditor (``/audit``).

Twice: through the Python API (every registered check, on hypothesis' positive and
negative cases plus the documented examples with real residents), and as the command
line runs it (``schemathesis run --checks all`` with the coverage phase's edge cases,
missing headers and undeclared methods). Bounded, with a fixed seed: a few generated
calls per operation, and the documented examples with a resident of the synthetic data
set, so that lookups, searches and batches are answered 200 and checked too.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, seed, settings
from schemathesis import GenerationMode
from schemathesis.checks import CHECKS, load_all_checks, max_response_time
from schemathesis.config import SchemathesisConfig
from schemathesis.core.failures import FailureGroup

from gateway.platform.openapi import NIK_PATTERN, nik_is_documented
from tests.faults.procs import GatewayProcess, demo_gateway, fetch_token

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

MAX_EXAMPLES = 12
SEED = 26
# Every check schemathesis registers (the CLI's ``--checks all``), and the response-time
# check with a generous bound: a lookup that takes seconds is a failure too.
load_all_checks()
ALL_CHECKS = [*CHECKS.get_all(), max_response_time]
MAX_RESPONSE_TIME = 5.0
# Valid by the document is not always allowed: a proof between sizes the log does not
# have yet is a bad request (400), a policy may deny (403), a resident may be
# unknown or outside the jurisdiction (404), a limit may be spent (429), an officer or a
# purpose may not be registered (422). Each of those is a documented problem.
EXPECTED = ["2XX", "400", "401", "403", "404", "409", "410", "422", "429"]


class Gateway:
    def __init__(self, gw: GatewayProcess, demo: dict[str, Any]) -> None:
        self.gw = gw
        self.demo = demo
        self.reader = fetch_token(gw.base, demo, "demo-dinsos")
        self.auditor = fetch_token(gw.base, demo, "demo-auditor")

    def headers_for(self, path: str) -> dict[str, str]:
        token = self.auditor if path.startswith("/audit") else self.reader
        return {
            "Authorization": f"Bearer {token}",
            "X-Purpose": "social_assistance",
            "X-On-Behalf-Of": "officer.01",
        }


@pytest.fixture(scope="module")
def gateway(attack_sources: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    with demo_gateway(attack_sources, tmp_path_factory.mktemp("conformance")) as (gw, demo):
        yield Gateway(gw, demo)


def _schema(gateway: Gateway) -> Any:
    config = SchemathesisConfig.from_dict(
        {
            "seed": SEED,
            "checks": {
                "positive_data_acceptance": {"expected-statuses": EXPECTED},
                "max_response_time": MAX_RESPONSE_TIME,
            },
        }
    )
    return schemathesis.openapi.from_url(gateway.gw.base + "/openapi.json", config=config)


def _fuzzed(path: str) -> bool:
    # The reader's and the auditor's operations; the admin API changes state through
    # proposals and is covered by its own tests.
    return path.startswith(("/v1/residents", "/v1/catalog", "/v1/pseudonyms", "/audit"))


def _call(gateway: Gateway, case: Any, failures: list[str], statuses: dict[str, set[int]]) -> None:
    headers = gateway.headers_for(case.operation.path)
    merged = {**headers, **(case.headers or {})}
    merged["Authorization"] = headers["Authorization"]
    case.headers = merged
    response = case.call(base_url=gateway.gw.base, timeout=30)
    statuses.setdefault(case.operation.label, set()).add(response.status_code)
    try:
        case.validate_response(response, checks=ALL_CHECKS, headers=merged)
    except FailureGroup as group:
        for exc in group.exceptions:
            failures.append(f"{case.operation.label} -> {response.status_code}: {str(exc)[:500]}")


def test_the_document_describes_the_api(gateway: Gateway) -> None:
    schema = _schema(gateway)
    failures: list[str] = []
    statuses: dict[str, set[int]] = {}
    operations = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        if operation is None or not _fuzzed(operation.path):
            continue
        operations += 1
        strategy = operation.as_strategy(GenerationMode.POSITIVE) | operation.as_strategy(
            GenerationMode.NEGATIVE
        )

        @given(case=strategy)
        @seed(SEED)
        @settings(
            max_examples=MAX_EXAMPLES,
            deadline=None,
            derandomize=True,
            database=None,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        def fuzz(case: Any) -> None:
            _call(gateway, case, failures, statuses)

        fuzz()
    # The documented examples, with residents of the synthetic data set.
    residents = gateway.demo["sample_residents"]
    nik = residents[0]["nik"]
    assert nik_is_documented(nik), NIK_PATTERN
    read = schema["/v1/residents/{nik}"]["GET"]
    _call(gateway, read.Case(path_parameters={"nik": nik}), failures, statuses)
    batch = schema["/v1/residents/batch"]["POST"]
    niks = [r["nik"] for r in residents[:3]]
    _call(
        gateway, batch.Case(body={"niks": niks}, media_type="application/json"), failures, statuses
    )
    search = schema["/v1/residents/search"]["POST"]
    person = residents[0]
    body = {
        "name": person["full_name"],
        "address": {
            "kelurahan_code": person["kelurahan_code"],
            "rt": person["rt"],
            "rw": person["rw"],
        },
        "limit": 5,
    }
    _call(gateway, search.Case(body=body, media_type="application/json"), failures, statuses)
    print(f"conformance: {operations} operations, {len(failures)} failures, {statuses}")
    assert operations >= 15
    assert failures == [], "\n\n".join(sorted(set(failures))[:20])
    for label in (
        "GET /v1/residents/{nik}",
        "POST /v1/residents/search",
        "POST /v1/residents/batch",
    ):
        assert 200 in statuses[label], (label, statuses[label])


CLI_CONFIG = f"""
[checks.positive_data_acceptance]
expected-statuses = {json.dumps(EXPECTED)}
"""


@pytest.mark.parametrize(
    ("role", "paths"),
    [("reader", r"^/v1/(residents|catalog|pseudonyms)"), ("auditor", r"^/audit/")],
)
def test_schemathesis_run_with_all_checks(
    gateway: Gateway, role: str, paths: str, tmp_path: Path
) -> None:
    """``schemathesis run --checks all`` as a third party runs it: the examples, coverage
    (every documented constraint's edges, missing headers, OPTIONS and unsupported
    methods) and fuzzing phases, bounded and seeded."""
    config = tmp_path / "schemathesis.toml"
    config.write_text(CLI_CONFIG)
    headers = gateway.headers_for("/audit" if role == "auditor" else "/v1")
    done = subprocess.run(
        [
            str(Path(sys.executable).parent / "schemathesis"),
            "--config-file",
            str(config),
            "run",
            gateway.gw.base + "/openapi.json",
            "--checks",
            "all",
            "--max-response-time",
            str(MAX_RESPONSE_TIME),
            "--seed",
            str(SEED),
            "--max-examples",
            "5",
            "--phases",
            "examples,coverage,fuzzing",
            "--include-path-regex",
            paths,
            "--no-color",
            *(arg for name, value in headers.items() for arg in ("-H", f"{name}: {value}")),
        ],
        capture_output=True,
        text=True,
        timeout=500,
    )
    report = done.stdout + done.stderr
    print(report[-3000:])
    assert done.returncode == 0, report[-12000:]
    assert " 0 failures" in report or "failures" not in report.split("SUMMARY")[-1]
