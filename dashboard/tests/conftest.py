"""AppTest over dashboard/app.py with the HTTP layer faked (dashboard/tests/fake_api.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
import responses

from dashboard.tests.fake_api import BASE, TOKEN, FakeAPI

APP = str(Path(__file__).resolve().parent.parent / "app.py")
TABS = ["Model Registry", "Experiments", "A/B Tests", "Deployment"]


@pytest.fixture(autouse=True)
def fresh_cache():
    """st.cache_data is process-wide: every test starts from an empty cache."""
    import streamlit as st

    st.cache_data.clear()
    yield
    st.cache_data.clear()


@pytest.fixture
def fake_api(monkeypatch):
    monkeypatch.setenv("AXION_API_URL", BASE)
    monkeypatch.setenv("AXION_API_TOKEN", TOKEN)
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield FakeAPI(mock)


@pytest.fixture
def app():
    """A function that runs the dashboard once and returns the AppTest."""
    from streamlit.testing.v1 import AppTest

    def run(at: AppTest | None = None) -> AppTest:
        at = at or AppTest.from_file(APP, default_timeout=30)
        at.run()
        assert not at.exception, [e.value for e in at.exception]
        return at

    return run


def tab(at, label: str):
    return next(t for t in at.tabs if t.label == label)


def texts(node) -> str:
    """Every markdown, caption, alert and metric text under a node, joined."""
    parts = []
    for kind in ("markdown", "caption", "info", "success", "warning", "error", "subheader"):
        parts += [str(e.value) for e in node.get(kind)]
    parts += [f"{m.label}={m.value}" for m in node.get("metric")]
    return "\n".join(parts)
