"""A minimal upstream agency API over a synthetic SQLite table, run as its own process:

    python -m tests.faults.upstream PORT DB_FILE TABLE

It speaks the HTTP connector's contract (``GET /records?nik=..&fields=..`` and
``GET /health``) and logs nothing (query strings carry NIKs).
"""

from __future__ import annotations

import json
import sqlite3
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit


def main() -> None:
    port, db_file, table = int(sys.argv[1]), sys.argv[2], sys.argv[3]
    conn = sqlite3.connect(f"file:{db_file}?mode=ro", uri=True, check_same_thread=False)
    conn.row_factory = sqlite3.Row
    columns = {r[1] for r in conn.execute(f"PRAGMA table_info({table})")}

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            return None

        def _json(self, status: int, body: object) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            url = urlsplit(self.path)
            if url.path.endswith("/health"):
                self._json(200, {"status": "ok"})
                return
            if not url.path.endswith("/records"):
                self._json(404, {"error": "not found"})
                return
            query = parse_qs(url.query)
            niks = [n for n in query.get("nik", [""])[0].split(",") if n]
            fields = [f for f in query.get("fields", [""])[0].split(",") if f in columns]
            records: dict[str, dict[str, object]] = {}
            for nik in niks:
                row = conn.execute(f"SELECT * FROM {table} WHERE nik = ?", (nik,)).fetchone()
                if row is not None:
                    records[nik] = {f: row[f] for f in fields}
            self._json(200, {"records": records})

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    server.serve_forever()


if __name__ == "__main__":
    main()
