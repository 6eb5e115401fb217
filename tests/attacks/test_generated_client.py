"""A client generated from the live ``/openapi.json`` by ``openapi-python-client``, as an
agency's Python team would make it, against a real gateway process.

The generator runs from its own pinned environment (``make`` builds ``.venv-tools/``):
it needs an older typer than the project's lock. The generated package is imported from
a temporary directory and used only through its own functions and models: it takes a
token (the token endpoint's form), reads the catalog, looks a resident up, searches, and
reads refusals (404, 422, 401) as the document's ``Problem`` model.
"""

from __future__ import annotations

import importlib
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from tests import servers
from tests.faults.procs import (
    ROOT,
    GatewayProcess,
    client_creds,
    demo_gateway,
)

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

GENERATOR = ROOT / ".venv-tools" / "bin" / "openapi-python-client"
PACKAGE = "satugate_client"
HEADERS = {"x_purpose": "social_assistance", "x_on_behalf_of": "officer.01"}
# Valid by the NIK pattern (province, regency, district, birth date, serial), in no data set.
UNKNOWN_NIK = "3578011501909999"


@pytest.fixture(scope="module")
def live(
    attack_sources: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[GatewayProcess, dict[str, Any]]]:
    with demo_gateway(attack_sources, tmp_path_factory.mktemp("generated-client")) as (gw, demo):
        yield gw, demo


@pytest.fixture(scope="module")
def generated(
    live: tuple[GatewayProcess, dict[str, Any]], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ModuleType]:
    if not GENERATOR.exists():
        message = "openapi-python-client is not installed (make .venv-tools/.installed)"
        if servers.under_ci():
            pytest.fail(f"{message}; CI requires it", pytrace=False)
        pytest.skip(message)
    gw, _ = live
    out = tmp_path_factory.mktemp("generated") / "src"
    out.mkdir()
    config = out.parent / "config.yaml"
    config.write_text(f"package_name_override: {PACKAGE}\npost_hooks: []\n")
    done = subprocess.run(
        [
            str(GENERATOR),
            "generate",
            "--url",
            gw.base + "/openapi.json",
            "--meta",
            "none",
            "--config",
            str(config),
            "--output-path",
            str(out / PACKAGE),
        ],
        capture_output=True,
        text=True,
        timeout=180,
    )
    report = done.stdout + done.stderr
    assert done.returncode == 0, report
    # A warning means the generator skipped an operation or a schema it did not understand.
    assert "Warning" not in report, report
    sys.path.insert(0, str(out))
    try:
        yield importlib.import_module(PACKAGE)
    finally:
        sys.path.remove(str(out))
        for name in [m for m in sys.modules if m == PACKAGE or m.startswith(PACKAGE + ".")]:
            del sys.modules[name]


def _module(name: str) -> Any:
    return importlib.import_module(f"{PACKAGE}.{name}")


def _token(base: str, demo: dict[str, Any], client_id: str, scope: str) -> str:
    client = _module("client").Client(base_url=base, raise_on_unexpected_status=True)
    body_model = _module("models").TokenRequest
    grant = _module("models").TokenRequestGrantType("client_credentials")
    cid, secret = client_creds(demo, client_id)
    body = body_model(grant_type=grant, scope=scope, client_id=cid, client_secret=secret)
    with client as c:
        answer = _module("api.identity.token").sync(client=c, body=body)
    assert isinstance(answer, _module("models").TokenResponse), answer
    assert answer.token_type == "Bearer" and answer.expires_in > 0
    return str(answer.access_token)


def test_a_generated_client_reads_searches_and_handles_refusals(
    live: tuple[GatewayProcess, dict[str, Any]], generated: ModuleType
) -> None:
    gw, demo = live
    models = _module("models")
    token = _token(gw.base, demo, "demo-dinsos", "residents:read residents:search")
    authed = _module("client").AuthenticatedClient(
        base_url=gw.base, token=token, raise_on_unexpected_status=True
    )
    person = demo["sample_residents"][0]
    with authed as client:
        catalog = _module("api.residents.catalog").sync(client=client)
        assert isinstance(catalog, models.Catalog), catalog
        assert catalog.datasets and catalog.purposes

        read = _module("api.residents.read_resident").sync(person["nik"], client=client, **HEADERS)
        assert isinstance(read, models.ResidentResponse), read
        assert read.audit.leaf_index >= 0 and read.record.additional_properties

        body = models.SearchRequest(
            name=person["full_name"],
            address=models.Address(kelurahan_code=person["kelurahan_code"]),
            limit=5,
        )
        found = _module("api.residents.search").sync(client=client, body=body, **HEADERS)
        assert isinstance(found, models.SearchResponse), found
        assert found.matches and found.audit.leaf_index >= 0
        assert all(0 <= m.score <= 1 for m in found.matches)

        # Refusals are the document's Problem, with a stable code and, when audited, a receipt.
        unknown = _module("api.residents.read_resident").sync_detailed(
            UNKNOWN_NIK, client=client, **HEADERS
        )
        assert unknown.status_code == 404
        assert isinstance(unknown.parsed, models.Problem), unknown.content
        assert unknown.parsed.code == "resident_not_found" and unknown.parsed.status == 404
        assert unknown.headers["content-type"].startswith("application/problem+json")

        bad_purpose = _module("api.residents.read_resident").sync_detailed(
            person["nik"], client=client, x_purpose="x", x_on_behalf_of="officer.01"
        )
        assert bad_purpose.status_code == 422
        assert isinstance(bad_purpose.parsed, models.Problem)
        assert bad_purpose.parsed.code == "invalid_purpose"

    # The wrong role: this token has no audit scope.
    with _module("client").AuthenticatedClient(base_url=gw.base, token=token) as client:
        events = _module("api.audit.events").sync_detailed(client=client)
        assert events.status_code == 403
        assert isinstance(events.parsed, models.Problem)
        assert events.parsed.code == "insufficient_scope"

    # A forged token is refused with a problem and an RFC 6750 challenge.
    with _module("client").AuthenticatedClient(base_url=gw.base, token="forged") as client:
        refused = _module("api.residents.catalog").sync_detailed(client=client)
        assert refused.status_code == 401
        assert isinstance(refused.parsed, models.Problem)
        assert refused.parsed.code == "invalid_token"
        assert 'error="invalid_token"' in refused.headers["www-authenticate"]
