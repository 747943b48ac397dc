from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

# The real mlflow client pointed at live_server (`client` is MlflowClient here, not Django's).
from mlflow_app.tests.conftest import (  # noqa: F401
    _forget_basic_credentials,
    as_user,
    client,
    token_for,
    tracking,
)
from webhooks_app.signing import (
    DELIVERY_ID_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    signature_valid,
)

SECRET = "s3cr3t-shared-with-the-receiver"


@dataclass
class Received:
    delivery_id: str
    timestamp: str
    signature: str
    body: dict[str, Any]
    signed: bool  # the receiver recomputed the signature with SECRET and it matched


@dataclass
class Receiver:
    """An HTTP server on 127.0.0.1 that checks each request's signature as a real receiver
    would, and answers the statuses in `plan` in turn (then 200)."""

    url: str = ""
    plan: list[int] = field(default_factory=list)
    headers: dict[int, dict[str, str]] = field(default_factory=dict)
    received: list[Received] = field(default_factory=list)

    def wait(self, count: int, seconds: float = 20.0) -> list[Received]:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if len(self.received) >= count:
                return self.received
            time.sleep(0.05)
        raise AssertionError(f"the receiver got {len(self.received)} requests, not {count}")


@pytest.fixture
def receiver():
    state = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            raw = self.rfile.read(int(self.headers["Content-Length"])).decode()
            delivery_id = self.headers.get(DELIVERY_ID_HEADER, "")
            timestamp = self.headers.get(TIMESTAMP_HEADER, "")
            sent = self.headers.get(SIGNATURE_HEADER, "")
            state.received.append(Received(
                delivery_id, timestamp, sent, json.loads(raw),
                bool(sent) and signature_valid(SECRET, delivery_id, timestamp, raw, sent)))
            status = state.plan.pop(0) if state.plan else 200
            self.send_response(status)
            for name, value in state.headers.get(status, {}).items():
                self.send_header(name, value)
            answer = b'{"ok": true}' if status < 300 else b"receiver says no"
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}/hooks/axion"
    yield state
    server.shutdown()
    server.server_close()


@pytest.fixture(autouse=True)
def webhook_settings(settings):
    """The test receiver listens on loopback; retries come fast."""
    settings.WEBHOOK_ALLOWED_NETWORKS = ["127.0.0.1/32"]
    settings.WEBHOOK_BACKOFF_SECONDS = 0.05
    settings.WEBHOOK_BACKOFF_MAX_SECONDS = 0.2
    settings.WEBHOOK_TIMEOUT_SECONDS = 5
    settings.WEBHOOK_MAX_ATTEMPTS = 4
    return settings


@pytest.fixture
def make_webhook(release_manager):
    from webhooks_app import services
    from webhooks_app.events import Event

    def make(url: str, *events: Event, secret: str = SECRET, **fields: Any):
        return services.webhook_create(actor=release_manager, name=fields.pop("name", "ops"),
                                       url=url, events=list(events or Event), secret=secret,
                                       **fields)

    return make


@pytest.fixture
def purged_queue(celery_app):
    """Drop messages earlier tests left (their rows are gone) before a worker starts."""
    with celery_app.connection_for_write() as connection:
        connection.default_channel.queue_purge("celery")


