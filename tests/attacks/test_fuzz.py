"""Property-based fuzzing of every operation in ``/openapi.json`` of a real gateway process
(schemathesis), each with a valid token of the role the operation is for.

Promises: no answer is a 5xx; every 4xx is RFC 9457 problem+json with a ``code`` (the
token endpoint answers OAuth 2.0 errors as RFC 6749 says instead); and no answer or log
line carries a NIK of the synthetic residents verbatim where it was not asked for.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error

from tests.faults.procs import GatewayProcess, demo_gateway, fetch_token

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

MAX_EXAMPLES = 25


class Fuzzed:
    def __init__(self, gw: GatewayProcess, demo: dict[str, Any]) -> None:
        self.gw = gw
        self.demo = demo
        self.calls = 0
        self.tokens = {
            role: fetch_token(gw.base, demo, client)
            for role, client in (
                ("agency", "demo-dinsos"),
                ("auditor", "demo-auditor"),
                ("admin", "demo-admin"),
            )
        }

    def auth_for(self, path: str) -> dict[str, str]:
        role = (
            "auditor"
            if path.startswith("/audit")
            else ("admin" if path.startswith("/admin") else "agency")
        )
        return {"Authorization": f"Bearer {self.tokens[role]}"}


@pytest.fixture(scope="module")
def fuzzed(attack_sources: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fuzzed]:

    with demo_gateway(attack_sources, tmp_path_factory.mktemp("fuzz")) as (gw, demo):
        yield Fuzzed(gw, demo)


def _check(case: Any, fuzzed: Fuzzed, failures: list[str]) -> None:
    fuzzed.calls += 1
    path = case.operation.path
    headers = {"X-Purpose": "social_assistance", "X-On-Behalf-Of": "officer.fuzz"}
    headers.update(case.headers or {})
    headers.update(fuzzed.auth_for(path))
    case.headers = headers
    response = case.call(base_url=fuzzed.gw.base, timeout=30)
    label = f"{case.operation.label} -> {response.status_code}"
    if response.status_code >= 500:
        failures.append(f"{label}: {response.text[:300]}")
        return
    case.validate_response(response, checks=[not_a_server_error])
    if 400 <= response.status_code < 500:
        content_type = response.headers.get("content-type", "")
        if isinstance(content_type, list):  # schemathesis keeps every value of a header
            content_type = content_type[0] if content_type else ""
        try:
            body = json.loads(response.text)
        except ValueError:
            failures.append(f"{label}: not JSON: {response.text[:200]}")
            return
        if path == "/oauth/token" and content_type.startswith("application/json"):
            if "error" not in body:  # RFC 6749 §5.2
                failures.append(f"{label}: OAuth error without 'error'")
        elif not content_type.startswith("application/problem+json"):
            failures.append(f"{label}: {content_type}")
        elif not (
            body.get("status") == response.status_code
            and body.get("code")
            and {"type", "title", "detail"} <= set(body)
        ):
            failures.append(f"{label}: incomplete problem {body}")


def test_fuzzed_calls_never_5xx_and_refusals_are_problems(fuzzed: Fuzzed) -> None:
    """Every operation of the OpenAPI document, ``MAX_EXAMPLES`` generated calls each."""
    schema = schemathesis.openapi.from_url(fuzzed.gw.base + "/openapi.json")
    failures: list[str] = []
    operations = 0
    for result in schema.get_all_operations():
        operation = result.ok()  # type: ignore[union-attr]
        operations += 1

        @given(case=operation.as_strategy())
        @settings(
            max_examples=MAX_EXAMPLES,
            deadline=None,
            derandomize=True,
            suppress_health_check=list(HealthCheck),
            database=None,
        )
        def fuzz(case: Any) -> None:
            _check(case, fuzzed, failures)

        fuzz()
    print(f"fuzz: {operations} operations, {fuzzed.calls} calls, {len(failures)} failures")
    assert operations >= 15, "the OpenAPI document lists the API"
    assert fuzzed.calls >= operations * 5, (operations, fuzzed.calls)
    assert failures == [], "\n".join(sorted(set(failures))[:40])


def test_fuzzing_left_no_resident_data_in_the_logs(fuzzed: Fuzzed) -> None:
    """Runs after the fuzzing in this module: the server's log holds no NIK or name."""
    logs = fuzzed.gw.logs()
    assert '"route"' in logs
    assert "unhandled_error" not in logs
    for resident in fuzzed.demo["sample_residents"]:
        assert resident["nik"] not in logs
        assert resident["full_name"] not in logs
