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


def _seed_charts(live_dashboard, release_manager):
    """Minutes of two versions with a gap, errors in one minute, four A/B looks, a gate
    that refuses regime 1.1.0 and a rollback target for ranking: what the charts must show."""
    import datetime as dt

    import numpy as np
    from django.utils import timezone

    from abtest_app import assignment
    from abtest_app import services as abtests
    from abtest_app.vocabulary import TestState
    from models_app import services as registry
    from serving_app.models import LatencyMinute

    versions = live_dashboard["versions"]
    registry.version_promote(version=versions["ranking", "1.1.0"], actor=release_manager,
                             reason="won the A/B test")
    registry.model_update(model=versions["regime", "1.1.0"].model, actor=release_manager,
                          gates={"thresholds": [{"metric": "auc", "op": ">=", "value": 0.8}],
                                 "load_check": False})
    now = timezone.now().replace(second=0, microsecond=0)
    rng = np.random.default_rng(5)
    for minutes_ago in range(40, 0, -1):
        if 22 <= minutes_ago <= 26:
            continue  # five minutes without a request: a gap
        for number, scale in (("1.0.0", 1.0), ("1.1.0", 2.5)):
            if number == "1.0.0" and minutes_ago < 12:
                continue  # taken out of production
            p50 = float(rng.uniform(1.5, 2.5)) * scale
            LatencyMinute.objects.create(
                model=versions["ranking", number].model, version=versions["ranking", number],
                minute=now - dt.timedelta(minutes=minutes_ago), count=120,
                errors=3 if minutes_ago == 15 else 0, fallbacks=0, p50_ms=p50,
                p95_ms=p50 * 4, p99_ms=p50 * 9,
                last_error="ValueError: boom" if minutes_ago == 15 else "")
    test = live_dashboard["test"]
    for look in range(3):
        outcomes = []
        for i in range(200):
            unit = f"l{look}-{i}"
            arm = assignment.assign_arm(test.seed, unit, test.challenger_share)
            outcomes.append({"unit_id": unit, "value": float(rng.normal(
                10.0 if arm == "champion" else 10.5, 3.0))})
        abtests.abtest_record_outcomes(test=test, outcomes=outcomes)
        abtests.abtest_evaluate(test_id=test.pk)
        test.refresh_from_db()
        if test.state != TestState.RUNNING:
            break  # a decision was reached: a concluded test takes no more outcomes


def test_the_charts_read_well_in_a_real_browser(dashboard_url, live_dashboard,
                                                 release_manager):
    """Full-page screenshots of the Deployment, A/B Tests and Model Registry tabs with data
    that exercises the charts (var/screenshots/charts-*.png, looked at by a person)."""
    from playwright.sync_api import expect, sync_playwright

    _seed_charts(live_dashboard, release_manager)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 3200})
            page.goto(dashboard_url)
            page.get_by_role("tab", name="Deployment").click()
            panel = page.get_by_role("tabpanel", name="Deployment")
            requests = panel.get_by_test_id("stMetric").filter(has_text="Requests")
            expect(requests.get_by_test_id("stMetricValue")).to_have_text("7,080",
                                                                          timeout=30_000)
            _shoot(page, panel, "charts-deployment")

            page.get_by_role("tab", name="A/B Tests").click()
            panel = page.get_by_role("tabpanel", name="A/B Tests")
            expect(panel.get_by_text("evaluations so far").first).to_be_visible(timeout=30_000)
            _shoot(page, panel, "charts-abtests")

            page.get_by_role("tab", name="Model Registry").click()
            panel = page.get_by_role("tabpanel", name="Model Registry")
            expect(panel.get_by_role("button", name="Roll back to 1.0.0")).to_be_visible(
                timeout=30_000)
            _shoot(page, panel, "charts-registry-ranking")
            panel.get_by_label("Model").first.click()
            page.get_by_role("option", name="regime").click()
            expect(panel.get_by_text("The gates refuse production for 1.1.0").first
                   ).to_be_visible(timeout=30_000)
            _shoot(page, panel, "charts-registry-regime")
            assert not page.get_by_test_id("stException").count()
        finally:
            browser.close()


def _shoot(page, panel, name: str) -> None:
    from playwright.sync_api import expect

    expect(panel.locator(".vega-embed").first).to_be_visible(timeout=30_000)
    page.wait_for_timeout(1500)  # let every chart finish drawing
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)
