"""Unreachable API, wrong token, a failing endpoint: a message, never a traceback."""

from __future__ import annotations

import socket

from dashboard.tests.conftest import TABS, tab, texts
from dashboard.tests.fake_api import Reply


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_an_unreachable_api_is_a_clear_message(monkeypatch, app):
    url = f"http://127.0.0.1:{_closed_port()}/api/v1"
    monkeypatch.setenv("AXION_API_URL", url)
    monkeypatch.setenv("AXION_API_TOKEN", "whatever")
    at = app()
    assert [e.value for e in at.error] == [
        f"Cannot reach the Axion API at {url}. Is the server running (`make run`)? "
        "Check AXION_API_URL."]
    assert len(at.tabs) == 0


def test_a_wrong_token_is_a_clear_message(fake_api, monkeypatch, app):
    monkeypatch.setenv("AXION_API_TOKEN", "not-the-token")
    at = app()
    assert len(at.error) == 1
    assert at.error[0].value.startswith("The API refused the token (401 Unauthorized)")
    assert len(at.tabs) == 0


def test_one_failing_endpoint_leaves_the_other_tabs_working(fake_api, app):
    fake_api.routes["abtests/"] = Reply(500, {"code": "server_error",
                                              "message": "Internal error; it has been logged."})
    at = app()
    assert [t.label for t in at.tabs] == TABS
    assert "The API answered 500 (server_error)" in texts(tab(at, "A/B Tests"))
    for label in ("Model Registry", "Experiments", "Deployment"):
        assert not tab(at, label).error, label
