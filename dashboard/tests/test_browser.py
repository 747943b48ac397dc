"""A real browser (Playwright driving Debian's chromium) over the real dashboard server and
a live API: every tab opens and shows a value known from the data. Screenshots go to
var/screenshots/."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

CHROMIUM = "/usr/bin/chromium"
ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "var" / "screenshots"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(not os.path.exists(CHROMIUM), reason=f"{CHROMIUM} is not installed"),
]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as answer:
            return answer.status == 200
    except OSError:
        return False


@pytest.fixture
def dashboard_url(live_dashboard, tmp_path):
    """`streamlit run dashboard/app.py` against the live server, as `make run` starts it."""
    port = _free_port()
    env = dict(os.environ, AXION_DASHBOARD_TTL="1")
    log = open(tmp_path / "streamlit.log", "wb")
    process = subprocess.Popen(
        [str(Path(sys.executable).parent / "streamlit"), "run", str(ROOT / "dashboard" / "app.py"),
         "--server.address", "127.0.0.1", "--server.port", str(port), "--server.headless",
         "true", "--browser.gatherUsageStats", "false"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 60
        while not _healthy(f"http://127.0.0.1:{port}/_stcore/health"):
            assert process.poll() is None, (tmp_path / "streamlit.log").read_text()
            assert time.monotonic() < deadline, "streamlit did not come up in 60 s"
            time.sleep(0.2)
        yield f"http://127.0.0.1:{port}/"
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()


def test_each_tab_shows_known_values_in_a_real_browser(dashboard_url):
    from playwright.sync_api import expect, sync_playwright

    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    checks = {
        "Model Registry": ["1.0.0 · production", "1.1.0 · staging", "Transition history"],
        "Experiments": ["Best run by auc (max)", "lr=0.1", "val_loss by step"],
        "A/B Tests": ["ranking 1.1.0 vs 1.0.0", "Sample ratio OK", "Champion 1.0.0: n"],
        "Deployment": ["In production", "Recent fallbacks and rollbacks"],
    }
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 2400})
            page.goto(dashboard_url)
            for number, (label, expected) in enumerate(checks.items()):
                page.get_by_role("tab", name=label).click()
                panel = page.get_by_role("tabpanel", name=label)
                for text in expected:
                    expect(panel.get_by_text(text).first).to_be_visible(timeout=30_000)
                if label == "Deployment":  # the model that served the test's predictions
                    panel.get_by_label("Model").click()
                    page.get_by_role("option", name="regime").click()
                    requests = panel.get_by_test_id("stMetric").filter(has_text="Requests")
                    expect(requests.get_by_test_id("stMetricValue")).to_have_text(
                        "5", timeout=30_000)
                    expect(panel.get_by_text("Latency per minute (ms)")).to_be_visible()
                page.wait_for_timeout(1000)  # let charts finish drawing for the screenshot
                name = label.lower().replace(" ", "-").replace("/", "")
                page.screenshot(path=str(SCREENSHOTS / f"{number + 1}-{name}.png"))
            assert not page.get_by_test_id("stException").count()
        finally:
            browser.close()
