"""A client that knows only ``/openapi.json``, as a generated one would, against a real
gateway process: it finds the token URL and the scopes in the security schemes, takes a
token, reads the catalog, looks a resident up, searches, and handles a problem+json
refusal, and every answer matches the schema the document gives for its status and
media type."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from tests.faults.procs import GatewayProcess, client_creds, demo_gateway

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]


class DocumentClient:
    """Everything it does comes from the document: URLs, scopes, media types, schemas."""

    def __init__(self, base: str, client_id: str, secret: str) -> None:
        self.http = httpx.Client(base_url=base, timeout=30)
        self.doc: dict[str, Any] = self.http.get("/openapi.json").json()
        self.registry: Registry[Any] = Registry().with_resource(
            "urn:doc", Resource.from_contents(self.doc, default_specification=_SPEC)
        )
        self.creds = (client_id, secret)
        self.token: str | None = None
        self.scopes: set[str] = set()

    def operation(self, method: str, path: str) -> dict[str, Any]:
        op: dict[str, Any] = self.doc["paths"][path][method.lower()]
        return op

    def authenticate(self, scopes: list[str]) -> None:
        flow = self.doc["components"]["securitySchemes"]["oauth2"]["flows"]["clientCredentials"]
        assert set(scopes) <= set(flow["scopes"])
        r = self.http.post(
            flow["tokenUrl"],
            data={"grant_type": "client_credentials", "scope": " ".join(scopes)},
            auth=self.creds,
        )
        self.check(r, "POST", flow["tokenUrl"])
        self.token = r.json()["access_token"]
        self.scopes = set(scopes)

    def call(self, method: str, path: str, **values: Any) -> httpx.Response:
        op = self.operation(method, path)
        required = [s for req in op["security"] for name, s in req.items() if name == "oauth2"]
        if required and (self.token is None or not set(required[0]) <= self.scopes):
            self.authenticate(sorted(self.scopes | set(required[0])))
        headers: dict[str, str] = {}
        params: dict[str, str] = {}
        url = path
        for p in op.get("parameters", []):
            value = values.get(p["name"], p.get("example"))
            if value is None:
                continue
            if p["in"] == "path":
                url = url.replace("{" + p["name"] + "}", str(value))
            elif p["in"] == "header":
                headers[p["name"]] = str(value)
            elif p["in"] == "query":
                params[p["name"]] = str(value)
        if self.token is not None and required:
            headers["Authorization"] = f"Bearer {self.token}"
        body = None
        if "requestBody" in op:
            media = op["requestBody"]["content"]["application/json"]
            body = values.get("body", media.get("example"))
        r = self.http.request(method, url, headers=headers, params=params, json=body)
        self.check(r, method, path)
        return r

    def check(self, r: httpx.Response, method: str, path: str) -> None:
        """The answer's status and media type are documented, and its body fits."""
        responses = self.operation(method, path)["responses"]
        assert str(r.status_code) in responses, (method, path, r.status_code, r.text[:300])
        content = responses[str(r.status_code)].get("content", {})
        media = r.headers["content-type"].split(";")[0]
        assert media in content, (method, path, media, list(content))
        if media.endswith("json"):
            schema = content[media]["schema"]
            validator = Draft202012Validator(
                _rebased(schema), registry=self.registry, format_checker=None
            )
            validator.validate(r.json())


_SPEC = DRAFT202012


def _rebased(schema: Any) -> Any:
    """Local ``#/components/...`` references, pointed at the document resource."""
    if isinstance(schema, dict):
        return {
            k: ("urn:doc" + v if k == "$ref" and isinstance(v, str) and v.startswith("#") else
                _rebased(v))
            for k, v in schema.items()
        }  # fmt: skip
    if isinstance(schema, list):
        return [_rebased(v) for v in schema]
    return schema


@pytest.fixture(scope="module")
def live(
    attack_sources: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[GatewayProcess, dict[str, Any]]]:
    with demo_gateway(attack_sources, tmp_path_factory.mktemp("document-client")) as (gw, demo):
        yield gw, demo


def test_a_client_from_the_document_alone(live: tuple[GatewayProcess, dict[str, Any]]) -> None:
    gw, demo = live
    client = DocumentClient(gw.base, *client_creds(demo, "demo-dinsos"))
    catalog = client.call("GET", "/v1/catalog")
    assert catalog.status_code == 200
    person = demo["sample_residents"][0]
    read = client.call("GET", "/v1/residents/{nik}", nik=person["nik"])
    assert read.status_code == 200 and read.json()["audit"]["leaf_index"] >= 0
    found = client.call(
        "POST",
        "/v1/residents/search",
        body={
            "name": person["full_name"],
            "address": {"kelurahan_code": person["kelurahan_code"]},
            "limit": 5,
        },
    )
    assert found.status_code == 200
    # Refusals, handled as the document says: problem+json with a stable code.
    refused = client.call("GET", "/v1/residents/{nik}", nik=person["nik"], **{"X-Purpose": "x"})
    assert refused.status_code == 422 and refused.json()["code"] == "invalid_purpose"
    malformed = client.call("GET", "/v1/residents/{nik}", nik="1234")
    assert malformed.status_code == 422
    client.token = "not-a-token"
    expired = client.call("GET", "/v1/catalog")
    assert expired.status_code == 401 and expired.json()["code"] == "invalid_token"
    assert 'error="invalid_token"' in expired.headers["www-authenticate"]
    # The audit checkpoint is text, as documented.
    text = client.call("GET", "/audit/checkpoint")
    assert text.headers["content-type"].startswith("text/plain")
