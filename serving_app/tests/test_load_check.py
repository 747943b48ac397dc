"""Every registered version is loaded and exercised by a worker in a fresh process before it
may leave draft; verified metrics come from the model's evaluation datasets."""

from __future__ import annotations

import io
import json
import pickle
import time

import lightgbm as lgb
import numpy as np
import pandas as pd
import pytest
from django.conf import settings as django_settings
from django.core.management import call_command
from sklearn.linear_model import LogisticRegression

from demo import training
from models_app import services as registry
from models_app.errors import GateRefused
from models_app.models import ModelVersion
from serving_app.tasks import warmup_queue
from serving_app.tests.mock_models import RaisingModel

pytestmark = pytest.mark.django_db(transaction=True)
COLUMNS = ["momentum", "value", "quality", "size"]


@pytest.fixture
def celery_worker_parameters():
    # The selection stays on the app for later workers of this process: keep the host's
    # warm-up queue in it.
    return {"perform_ping_check": False, "shutdown_timeout": 30.0,
            "queues": ("celery", "loadcheck", warmup_queue(django_settings.AXION_HOST_NAME).name)}


@pytest.fixture
def purged_queues(celery_app):
    """Drop tasks queued by earlier tests (their rows are gone) before the worker starts."""
    with celery_app.connection_for_write() as connection:
        for queue in ("celery", "loadcheck"):
            try:
                connection.default_channel.queue_purge(queue)
            except Exception:  # noqa: BLE001 - a queue never declared has nothing to purge
                pass


@pytest.fixture
def worker(purged_queues, celery_worker):
    return celery_worker


@pytest.fixture
def frame():
    rng = np.random.default_rng(11)
    x = pd.DataFrame(rng.normal(size=(400, 4)), columns=COLUMNS)
    y = (x["momentum"] + 0.5 * x["value"] + rng.normal(scale=0.3, size=400) > 0).astype(int)
    return x, y


def checked(version: ModelVersion, seconds: float = 120.0) -> ModelVersion:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        version.refresh_from_db()
        if version.load_check_status != "pending":
            return version
        time.sleep(0.1)
    raise AssertionError(f"{version} was not load-checked within {seconds} s")


def test_an_imported_lightgbm_model_passes_its_load_check_and_may_then_be_promoted(
        worker, tmp_path, frame, release_manager):
    x, y = frame
    model = lgb.LGBMClassifier(n_estimators=20, n_jobs=1, verbose=-1).fit(x, y)
    (tmp_path / "model.pkl").write_bytes(pickle.dumps(model))
    x.head(5).to_csv(tmp_path / "example.csv", index=False)
    call_command("import_model", str(tmp_path / "model.pkl"), "--name", "ranking",
                 "--input-example", str(tmp_path / "example.csv"), stdout=io.StringIO())
    version = checked(ModelVersion.objects.get(model__name="ranking"))
    result = version.load_check
    assert version.load_check_status == "passed", result
    assert version.framework == "lightgbm" and version.serving_input == "dataframe"
    assert result["rows"] == 5 and result["output_shape"] == [5]
    assert result["load_ms"] > 0 and result["predict_ms"] > 0 and result["rss_mb"] > 50
    assert any(p.startswith("lightgbm==") for p in result["packages"])
    assert result["input"] == "dataframe"
    registry.version_transition(version=version, to="staging", actor=release_manager)
    registry.version_promote(version=version, actor=release_manager)
    assert ModelVersion.objects.get(pk=version.pk).stage == "production"


def test_a_legacy_folder_whose_pickle_holds_none_fails_and_never_reaches_staging(
        worker, tmp_path, release_manager):
    folder = tmp_path / "legacy_ranker"
    folder.mkdir()
    (folder / "model.pkl").write_bytes(pickle.dumps(None))
    (folder / "metadata.json").write_text(json.dumps({
        "model_name": "ranker", "model_version": "v3", "feature_names": COLUMNS,
        "metrics": {"auc": 0.81}, "hyperparameters": {"num_leaves": 31}, "status": "active",
    }))
    call_command("import_model", str(folder), "--name", "ranking", stdout=io.StringIO())
    version = checked(ModelVersion.objects.get(model__name="ranking"))
    assert version.load_check_status == "failed"
    assert "has no predict()" in version.load_check["error"]
    assert version.metrics == {"auc": 0.81}  # the old save's claim is kept as reported
    with pytest.raises(GateRefused) as refused:
        registry.version_transition(version=version, to="staging", actor=release_manager)
    assert refused.value.details["gate_report"][0]["gate"] == "load_check"
    with pytest.raises(GateRefused):
        registry.version_promote(version=version, actor=release_manager)


def test_a_platform_model_whose_package_cannot_be_imported_fails_naming_the_setting(
        worker, settings, release_manager, demo_platform):
    candidate = training.train("earnings-surprise", training.SPECS["earnings-surprise"].baseline)
    settings.PLATFORM_MODEL_PATHS = []  # the worker's serving settings miss the package
    registry.model_create(name="earnings", gates={"require_staging": False})
    version = registry.version_register(
        model_name="earnings", artifact=io.BytesIO(pickle.dumps(candidate.estimator)),
        framework="xgboost", artifact_format="pickle",
        signature={"inputs": [{"name": n, "type": "double"} for n in
                              candidate.estimator.feature_names]},
        input_example=candidate.input_example,
    )
    version = checked(version)
    assert version.load_check_status == "failed"
    # The restricted unpickler imports a platform class to check it is one: that is where
    # the missing package shows, and the refusal names the setting.
    assert "No module named 'src'" in version.load_check["error"]
    assert "PLATFORM_MODEL_PATHS" in version.load_check["hint"]
    with pytest.raises(GateRefused) as refused:
        registry.version_promote(version=version, actor=release_manager)
    assert "PLATFORM_MODEL_PATHS" in refused.value.message


def test_a_model_that_raises_on_its_own_example_or_needs_a_missing_package_fails(
        worker, settings, release_manager):
    settings.PICKLE_EXTRA_GLOBALS = [
        *settings.PICKLE_EXTRA_GLOBALS, "axion_missing_dep.models:Model"]
    registry.model_create(name="ranking")
    signature = {"inputs": [{"name": n, "type": "double"} for n in COLUMNS]}
    raising = registry.version_register(
        model_name="ranking", artifact=io.BytesIO(pickle.dumps(RaisingModel())),
        framework="custom", artifact_format="pickle", signature=signature)
    # A pickle of axion_missing_dep.models.Model: a package this environment lacks.
    missing = registry.version_register(
        model_name="ranking", artifact=io.BytesIO(b"caxion_missing_dep.models\nModel\n)\x81."),
        framework="custom", artifact_format="pickle", signature=signature)
    raising, missing = checked(raising), checked(missing)
    assert raising.load_check_status == "failed"
    assert "this model always fails" in raising.load_check["error"]
    assert missing.load_check_status == "failed"
    assert "pip install axion_missing_dep" in missing.load_check["hint"]
    for version in (raising, missing):
        with pytest.raises(GateRefused):
            registry.version_transition(version=version, to="staging", actor=release_manager)


@pytest.mark.artifacts
def test_verified_metrics_gate_a_promotion_whatever_the_upload_claims(
        worker, frame, release_manager):
    x, y = frame
    model = registry.model_create(name="ranking", gates={
        "require_staging": False,
        "thresholds": [{"metric": "auc", "op": ">=", "value": 0.7, "source": "verified"}],
    })
    holdout = x.iloc[300:].assign(label=y.iloc[300:].to_numpy())
    registry.evaluation_dataset_register(
        model=model, name="holdout", file=io.BytesIO(holdout.to_csv(index=False).encode()),
        filename="holdout.csv", label_column="label")
    signature = {"inputs": [{"name": n, "type": "double"} for n in COLUMNS]}
    good = LogisticRegression().fit(x.iloc[:300], y.iloc[:300])
    backwards = LogisticRegression().fit(x.iloc[:300], 1 - y.iloc[:300])
    honest, boastful = (
        checked(registry.version_register(
            model_name="ranking", artifact=io.BytesIO(pickle.dumps(estimator)),
            framework="sklearn", artifact_format="pickle", signature=signature,
            metrics={"auc": 0.99}))
        for estimator in (good, backwards)
    )
    assert honest.load_check_status == boastful.load_check_status == "passed"
    assert honest.verified_metrics["auc"] > 0.85 and boastful.verified_metrics["auc"] < 0.2
    assert honest.metrics == boastful.metrics == {"auc": 0.99}
    evaluation = honest.load_check["evaluation"]["datasets"]["holdout"]
    assert evaluation["rows"] == 100 and "accuracy" in evaluation["metrics"]
    with pytest.raises(GateRefused) as refused:
        registry.version_promote(version=boastful, actor=release_manager)
    (gate,) = [g for g in refused.value.details["gate_report"] if not g["passed"]]
    assert gate["gate"] == "threshold:auc:verified"
    assert gate["got"] == f"verified auc = {boastful.verified_metrics['auc']}"
    registry.version_promote(version=honest, actor=release_manager)
    assert ModelVersion.objects.get(pk=honest.pk).stage == "production"


class TestLostLoadChecks:
    """A load check the broker never got (it was down at registration) is enqueued again by
    the reconciler; one handed to it recently is left alone."""

    def _register(self, frame) -> ModelVersion:
        x, y = frame
        registry.model_create(name="lost", gates={"require_staging": False})
        return registry.version_register(
            model_name="lost", artifact=io.BytesIO(pickle.dumps(LogisticRegression().fit(
                x.to_numpy(), y))), framework="sklearn", artifact_format="pickle",
            signature={"inputs": [{"name": n, "type": "double"} for n in COLUMNS]},
            input_example=x.head(2).to_dict("records"))

    def test_the_reconciler_enqueues_a_lost_check_and_a_worker_then_runs_it(
            self, purged_queues, celery_app, frame):
        from datetime import timedelta

        from celery.contrib.testing.worker import start_worker
        from django.utils import timezone

        from serving_app.tasks import deployment_reconcile

        version = self._register(frame)
        assert ModelVersion.objects.get(pk=version.pk).load_check_enqueued_at is not None
        with celery_app.connection_for_write() as connection:  # the message is lost
            connection.default_channel.queue_purge("loadcheck")
        ModelVersion.objects.filter(pk=version.pk).update(
            load_check_enqueued_at=None, created_at=timezone.now() - timedelta(minutes=1))
        deployment_reconcile()
        assert ModelVersion.objects.get(pk=version.pk).load_check_enqueued_at is not None
        with start_worker(celery_app, perform_ping_check=False, shutdown_timeout=30.0,
                          queues=("celery", "loadcheck",
                                  warmup_queue(django_settings.AXION_HOST_NAME).name)):
            assert checked(version).load_check_status == "passed"

    def test_a_check_enqueued_recently_is_not_enqueued_again(self, purged_queues, frame):
        from django.utils import timezone

        from models_app.selectors import load_checks_unfinished

        version = self._register(frame)
        from datetime import timedelta

        pending = load_checks_unfinished(now=timezone.now(), deadline=timedelta(minutes=6))
        assert version.pk not in set(pending.values_list("pk", flat=True))
