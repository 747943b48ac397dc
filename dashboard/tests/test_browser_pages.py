"""A real browser over the real dashboard and a live API: the run, version, A/B test and
experiment pages open by URL, link to each other, and the Experiments tab draws its new
charts. Screenshots go to var/screenshots/pages-*.png."""

from __future__ import annotations

import io

import pytest

from dashboard import links
from dashboard.tests.test_browser import ARGS, CHROMIUM, SCREENSHOTS, dashboard_url  # noqa: F401

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(not __import__("os").path.exists(CHROMIUM),
                       reason=f"{CHROMIUM} is not installed"),
]


@pytest.fixture
def lineage(live_dashboard, release_manager, sklearn_pickle):
    """A run with train and validation loss, artifacts, and a version registered from it."""
    from experiments_app import services as tracking
    from experiments_app.models import Run

    experiment = live_dashboard["experiment"]
    run = tracking.run_create(experiment=experiment, name="lr=0.2 with artifacts",
                              user=release_manager, params={"lr": "0.2", "depth": "4"},
                              tags={"team": "quant"})
    tracking.batch_log(run_id=run.run_id, body={"metrics": [
        {"key": key, "value": value, "step": step, "timestamp": 1000 + step}
        for step in range(20)
        for key, value in (("train_loss", 1 / (step + 1)), ("val_loss", 1.2 / (step + 1) + .1))
    ] + [{"key": "auc", "value": 0.77, "step": 20, "timestamp": 3000},
         {"key": "sharpe", "value": "NaN", "step": 20, "timestamp": 3000}]})
    tracking.run_artifact_save(run=run, path="model/model.pkl",
                               stream=io.BytesIO(sklearn_pickle), size=len(sklearn_pickle))
    tracking.run_artifact_save(run=run, path="notes.txt", stream=io.BytesIO(b"hello"), size=5)
    features = ["f0", "f1", "f2", "f3"]
    version = tracking.run_register_version(
        run=Run.objects.get(pk=run.pk), model="ranking", artifact_path="model/model.pkl",
        framework="sklearn", artifact_format="pickle", version="2.0.0",
        created_by=release_manager,
        signature={"inputs": [{"name": f, "type": "double"} for f in features]},
        input_example=[dict.fromkeys(features, 0.5)],
    )
    tracking.run_end(run=run)
    return {"run": run, "version": version, **live_dashboard}


def test_each_page_opens_by_url_and_links_to_the_others(dashboard_url, lineage):  # noqa: F811
    from playwright.sync_api import expect, sync_playwright

    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    run_id = lineage["run"].run_id
    pages = {
        "run": (links.run_url(run_id),
                ["Run lr=0.2 with artifacts", "ranking 2.0.0", "model/model.pkl",
                 "Register this run's model", "train_loss and val_loss by step"]),
        "version": (links.version_url("ranking", "2.0.0"),
                    ["ranking 2.0.0", "source run", "Signature", "Input example"]),
        "abtest": (links.abtest_url(lineage["test"].pk),
                   ["ranking 1.1.0 vs 1.0.0", "champion ranking 1.0.0"]),
        "experiment": (links.experiment_url(lineage["experiment"].pk),
                       ["Experiment ranking-sweep", "Params against auc"]),
    }
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 3000})
            for name, (url, expected) in pages.items():
                page.goto(dashboard_url + url)
                for text in expected:
                    expect(page.get_by_text(text).first).to_be_visible(timeout=90_000)
                page.wait_for_timeout(1500)
                page.screenshot(path=str(SCREENSHOTS / f"pages-{name}.png"), full_page=True)
                assert not page.get_by_test_id("stException").count()
            # lineage both ways: run -> version -> run, by clicking the links
            page.goto(dashboard_url + links.run_url(run_id))
            page.get_by_role("link", name="ranking 2.0.0 (draft)").click()
            expect(page.get_by_text("Registered from the").first).to_be_visible(timeout=30_000)
            page.get_by_role("link", name="source run").click()
            expect(page.get_by_text("Run lr=0.2 with artifacts")).to_be_visible(timeout=30_000)
            # the Experiments tab, in a fresh page (no navigation of the links pending)
            page = browser.new_page(viewport={"width": 1400, "height": 3000})
            page.goto(dashboard_url)
            page.get_by_role("tab", name="Experiments").click()
            panel = page.get_by_role("tabpanel", name="Experiments")
            for text in ("Runs across experiments", "train_loss and val_loss by step",
                         "Params against auc", "auc of each run, by experiment"):
                expect(panel.get_by_text(text).first).to_be_visible(timeout=30_000)
            page.wait_for_timeout(1500)
            page.screenshot(path=str(SCREENSHOTS / "pages-experiments-tab.png"), full_page=True)
        finally:
            browser.close()
