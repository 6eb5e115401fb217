"""``satugate audit export`` and ``satugate audit verify``, on files and on a live service."""

from __future__ import annotations

import asyncio
import base64
import json
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI, Query, Response
from fastapi.responses import PlainTextResponse
from sqlalchemy.ext.asyncio import create_async_engine
from typer.testing import CliRunner

import audit
from audit.tiles import TILE_WIDTH, encode_bundle, parse_path
from gateway.cli.audit import _verify_live, app
from tests.audit.conftest import BLIND_KEY, lookup

runner = CliRunner()


async def grow(url: str, signer: audit.CheckpointSigner, size: int) -> str:
    engine = create_async_engine(url)
    await audit.install_schema(engine)
    async with audit.AuditLog(
        engine, signer=signer, blind_key=BLIND_KEY, checkpoint_interval=3600
    ) as log:
        current = await log.size()
        await asyncio.gather(*(log.append(lookup(f"o{i}")) for i in range(current, size)))
        note = await log.checkpoint()
    await engine.dispose()
    return note


def tamper(path: Path, index: int) -> None:
    lines = path.read_text().splitlines(keepends=True)
    for n, line in enumerate(lines):
        entry = json.loads(line)
        if entry["type"] == "leaf" and entry["index"] == index:
            event = json.loads(base64.b64decode(entry["leaf"]))
            event["decision"] = "deny"
            entry["leaf"] = base64.b64encode(json.dumps(event).encode()).decode()
            lines[n] = json.dumps(entry) + "\n"
    path.write_text("".join(lines))


def test_export_then_verify_then_catch_tampering(
    tmp_path: Path, signer: audit.CheckpointSigner
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'gateway.db'}"
    asyncio.run(grow(url, signer, 25))
    key_file = tmp_path / "verifier.key"
    key_file.write_text(signer.verifier_key() + "\n")
    dump, saved = tmp_path / "audit.jsonl", tmp_path / "checkpoint.txt"

    result = runner.invoke(
        app, ["export", "--database-url", url, "--no-record", "--out", str(dump)]
    )
    assert result.exit_code == 0, result.output
    result = runner.invoke(
        app, ["verify", str(dump), "--key", f"@{key_file}", "--save-checkpoint", str(saved)]
    )
    assert result.exit_code == 0, result.output
    assert "OK" in result.output and "tree size      25" in result.output
    assert audit.verify_checkpoint(saved.read_text(), signer.verifier_key()).size == 25

    # The log grows; the new export must extend the checkpoint saved last time.
    asyncio.run(grow(url, signer, 40))
    runner.invoke(app, ["export", "--database-url", url, "--no-record", "--out", str(dump)])
    result = runner.invoke(
        app, ["verify", str(dump), "--key", signer.verifier_key(), "--since", str(saved)]
    )
    assert result.exit_code == 0, result.output
    # It says what --since checked, and the sizes.
    assert "consistency" in result.output and "(size 25 -> 40)" in result.output

    tamper(dump, 31)
    result = runner.invoke(app, ["verify", str(dump), "--key", signer.verifier_key()])
    assert result.exit_code == 1
    assert "first bad index 31" in result.output


def test_export_takes_a_plain_sqlite_url_and_fails_in_one_line(
    tmp_path: Path, signer: audit.CheckpointSigner
) -> None:
    asyncio.run(grow(f"sqlite+aiosqlite:///{tmp_path / 'gateway.db'}", signer, 3))
    dump = tmp_path / "audit.jsonl"
    plain = f"sqlite:///{tmp_path / 'gateway.db'}"
    result = runner.invoke(app, ["export", "--database-url", plain, "--no-record", "-o", str(dump)])
    assert result.exit_code == 0, result.output
    assert dump.read_text().count('"type": "leaf"') + dump.read_text().count('"type":"leaf"') == 3
    for args in (
        ["export", "--database-url", f"sqlite:///{tmp_path / 'missing.db'}", "--no-record"],
        # Recording the export needs the master key, which this folder lacks.
        ["export", "--database-url", plain],
    ):
        result = runner.invoke(app, args, env={"SATUGATE_DATA_DIR": str(tmp_path / "none")})
        assert result.exit_code == 2, result.output
        assert "Traceback" not in result.output and "error:" in result.output
        assert len(result.output.strip().splitlines()) <= 2, result.output
    assert not (tmp_path / "missing.db").exists()


def test_verify_needs_a_key_and_one_source(tmp_path: Path) -> None:
    dump = tmp_path / "empty.jsonl"
    dump.write_text("")
    assert (
        runner.invoke(app, ["verify", str(dump)], env={"SATUGATE_AUDIT_VERIFIER_KEY": ""}).exit_code
        == 2
    )
    assert runner.invoke(app, ["verify"]).exit_code == 2


def audit_service(log: audit.AuditLog, forged: dict[int, bytes]) -> FastAPI:
    """The public contract of the gateway's audit endpoints, served over a real log."""
    api = FastAPI()

    @api.get("/audit/checkpoint")
    async def checkpoint() -> PlainTextResponse:
        return PlainTextResponse(await log.checkpoint())

    @api.get("/audit/verifier-key")
    async def verifier_key() -> PlainTextResponse:
        return PlainTextResponse(log.signer.verifier_key())

    @api.get("/audit/leaves/{index}")
    async def leaf(index: int) -> Response:
        return Response(forged.get(index) or await log.leaf(index), media_type="application/json")

    @api.get("/audit/tile/entries/{rest:path}")
    async def entries(rest: str) -> Response:
        ref = parse_path("entries", rest)
        first = ref.index * TILE_WIDTH
        leaves = [forged.get(i) or await log.leaf(i) for i in range(first, first + ref.width)]
        return Response(encode_bundle(leaves), media_type="application/octet-stream")

    @api.get("/audit/proof/consistency")
    async def consistency(first: int = Query(), second: int = Query()) -> dict[str, object]:
        return (await log.consistency_proof(first, second)).to_dict()

    return api


@pytest.mark.parametrize("forged_index", [None, 0, 26, 56])
async def test_live_verification_names_the_altered_leaf(
    tmp_path: Path, signer: audit.CheckpointSigner, forged_index: int | None
) -> None:
    engine = create_async_engine(f"sqlite+aiosqlite:///{tmp_path / 'live.db'}")
    await audit.install_schema(engine)
    async with audit.AuditLog(engine, signer=signer, blind_key=BLIND_KEY) as log:
        await asyncio.gather(*(log.append(lookup(f"o{i}")) for i in range(57)))
        forged = {} if forged_index is None else {forged_index: b'{"forged":true}'}
        transport = httpx.ASGITransport(app=audit_service(log, forged))
        report, note = await _verify_live(
            "http://gateway.test", signer.verifier_key(), None, None, None, None, 8, transport
        )
    await engine.dispose()
    assert report.tree_size == 57 and report.leaves_checked == 57
    assert report.ok is (forged_index is None)
    assert report.first_bad_index == forged_index
    assert note is not None and audit.verify_checkpoint(note, signer.verifier_key()).size == 57


def test_export_is_itself_logged(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Run against the gateway's own embedded store: the export lands in the log first."""
    from gateway.platform import store
    from gateway.platform.keys import create_master_key_file
    from gateway.platform.services import install_schema
    from gateway.platform.settings import Settings

    monkeypatch.setenv("SATUGATE_DATA_DIR", str(tmp_path))
    create_master_key_file(tmp_path / "master.key")

    async def prepare() -> None:
        engine = store.create_engine(Settings().resolved_database_url())
        await install_schema(engine)
        await engine.dispose()

    asyncio.run(prepare())
    dump = tmp_path / "audit.jsonl"
    result = runner.invoke(app, ["export", "--out", str(dump)])
    assert result.exit_code == 0, result.output
    lines = dump.read_text().splitlines()
    assert json.loads(lines[0])["tree_size"] == 1
    event = json.loads(base64.b64decode(json.loads(lines[1])["leaf"]))
    assert event["action"] == "audit.export"

    async def published_key() -> str:
        from gateway.platform.keys import KeyRing, load_master_key
        from gateway.platform.services import audit_origin

        settings = Settings()
        engine = store.create_engine(settings.resolved_database_url())
        keyring = KeyRing(engine, load_master_key(settings.resolved_master_key_file()))
        signer = audit.CheckpointSigner(audit_origin(settings), await keyring.checkpoint_key())
        await engine.dispose()
        return signer.verifier_key()

    key = asyncio.run(published_key())
    result = runner.invoke(app, ["verify", str(dump), "--key", key])
    assert result.exit_code == 0, result.output
