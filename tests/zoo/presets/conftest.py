"""A static web server on 127.0.0.1 for preset downloads: Range requests, a request log, dropped connections."""

from __future__ import annotations

import dataclasses
import http.server
import threading
from pathlib import Path

import pytest


@dataclasses.dataclass
class MirrorServer:
    """Serves ``root``; ``requests`` logs (path, Range header); ``drop_after[path] = n`` cuts that path's next reply at n bytes."""

    root: Path
    url: str
    requests: list[tuple[str, str | None]]
    drop_after: dict[str, int]


@pytest.fixture
def mirror_server(tmp_path):
    root = tmp_path / "mirror"
    root.mkdir()
    requests: list[tuple[str, str | None]] = []
    drop_after: dict[str, int] = {}

    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_GET(self):
            requests.append((self.path, self.headers.get("Range")))
            path = root / self.path.lstrip("/")
            if not path.is_file():
                self.send_error(404)
                return
            body = path.read_bytes()
            start, status = 0, 200
            if self.headers.get("Range"):
                start = int(self.headers["Range"].removeprefix("bytes=").split("-")[0])
                if start >= len(body):
                    self.send_error(416)
                    return
                status = 206
            self.send_response(status)
            self.send_header("Content-Length", str(len(body) - start))
            if status == 206:
                self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
            self.end_headers()
            cut = drop_after.pop(self.path, None)
            self.wfile.write(body[start:cut] if cut is not None else body[start:])
            if cut is not None:
                self.close_connection = True

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield MirrorServer(root, f"http://127.0.0.1:{server.server_address[1]}", requests, drop_after)
    server.shutdown()
    server.server_close()
