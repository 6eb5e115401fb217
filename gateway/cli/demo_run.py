"""Safe reruns of ``satugate demo``: the port is checked before anything is written, a
reset is explicit, and "serving" is said only once the gateway listens."""

from __future__ import annotations

import shutil
import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path

# What marks a folder as a demo's own, so that ``--reset`` may empty it.
DEMO_MARKERS = ("demo-clients.json", "sources", "master.key")


def port_problem(host: str, port: int) -> str | None:
    """Why the demo cannot listen on ``host:port`` (something answers there), or None."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.settimeout(0.5)
        if probe.connect_ex((host, port)) == 0:
            return f"{host}:{port} is in use (is a demo already running there?)"
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as trial:
        try:
            trial.bind((host, port))
        except OSError as exc:
            return f"cannot listen on {host}:{port} ({exc.strerror or exc})"
    return None


def reset(data_dir: Path) -> str | None:
    """Empty a demo's folder for a fresh start; refuses a folder that is not a demo's.
    Returns the problem, or None when done."""
    if not data_dir.exists():
        return None
    entries = list(data_dir.iterdir())
    if entries and not any((data_dir / m).exists() for m in DEMO_MARKERS):
        return f"{data_dir} does not look like a demo's folder; not removing it"
    shutil.rmtree(data_dir)
    return None


def announce_when_listening(
    host: str, port: int, say: Callable[[str], None], message: str, *, timeout: float = 300.0
) -> threading.Thread:
    """Say ``message`` once ``host:port`` accepts connections (from a daemon thread)."""

    def wait() -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
                probe.settimeout(0.5)
                if probe.connect_ex((host, port)) == 0:
                    say(message)
                    return
            time.sleep(0.1)

    thread = threading.Thread(target=wait, name="demo-announce", daemon=True)
    thread.start()
    return thread
