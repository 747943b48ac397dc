"""A replaying HTTP server: the first request to each (method, path, query) goes to the
upstream server and its answer is kept; every later one is answered from memory at once.
The side-by-side bench points the mlflow client at it to measure what the client itself
costs per call (its floor), with answers of the real size and shape. Not a test.

    .venv/bin/python bench/replay.py <port> <upstream base URL>
"""

from __future__ import annotations

import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import requests


def serve(port: int, upstream: str) -> None:
    kept: dict[tuple[str, str], tuple[int, bytes]] = {}
    session = requests.Session()

    class Replay(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        wbufsize = 1 << 16  # headers and body in one send: no delayed-ACK stall

        def log_message(self, *args: object) -> None:
            pass

        def _answer(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            key = (self.command, self.path)
            if key not in kept:
                headers = {name: value for name, value in self.headers.items()
                           if name.lower() in ("authorization", "content-type")}
                answer = session.request(self.command, upstream + self.path, data=body,
                                         headers=headers, timeout=120)
                kept[key] = (answer.status_code, answer.content)
            status, content = kept[key]
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(content)))
            self.end_headers()
            self.wfile.write(content)
            self.wfile.flush()

        do_GET = do_POST = do_PATCH = do_DELETE = do_PUT = _answer

    ThreadingHTTPServer(("127.0.0.1", port), Replay).serve_forever()


if __name__ == "__main__":
    serve(int(sys.argv[1]), sys.argv[2])
