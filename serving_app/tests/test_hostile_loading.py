"""The hostile corpus at load: every file of every builder, forced into storage behind the
registry's back (a row made through the ORM, its sha256 right), is refused by the loader in
this process, fails its warm-up in a real Celery worker, and answers a live server's predict
call with an error; no payload ever runs and no secret reaches an answer."""

from __future__ import annotations

import time

import pytest
import requests

from models_app import services as registry
from models_app.tests.hostile import pickles
from models_app.tests.hostile.fixtures import force_into_storage
from serving_app import loader
from serving_app.errors import ArtifactRefused
from serving_app.models import DeploymentEvent
from serving_app.tests import test_deployments
from serving_app.tests.conftest import EXAMPLE, SIGNATURE

SECRET = pickles.SECRET.decode()
purged_queue = test_deployments.purged_queue


def _forced_models(files, prefix="hostile"):
    from models_app.services import model_create

    for index, hostile in enumerate(files):
        # The load check gate would stop these first: take it away to prove warm-up holds.
        model = model_create(name=f"{prefix}{index}", gates={"load_check": False})
        yield hostile, force_into_storage(model, hostile, "1.0.0", signature=SIGNATURE,
                                          input_example=EXAMPLE)


@pytest.mark.django_db
def test_the_loader_refuses_every_hostile_file_forced_into_storage(hostile_corpus):
    marker, files = hostile_corpus
    loaded = []
    for hostile, version in _forced_models(files):
        try:
            loader.load(loader.VersionRecord.from_row(version))
        except ArtifactRefused as refused:
            if hostile.artifact_format in ("pickle", "joblib"):
                assert refused.code == "disallowed_pickle", (hostile.name, refused.message)
            assert SECRET not in refused.message
        else:
            loaded.append(hostile.name)
        assert not marker.exists(), hostile.name
    assert loaded == []


def _outcome(version, seconds: float = 60.0):
    """The promotion's warm-up outcome, polled while the worker writes."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        event = DeploymentEvent.objects.filter(version=version, kind="promote").exclude(
            warmup_status="pending").first()
        if event is not None:
            return event
        time.sleep(0.05)
    raise AssertionError(f"no warm-up outcome for {version}")


@pytest.mark.django_db(transaction=True)
def test_a_promoted_hostile_version_fails_its_warm_up_in_a_real_worker(
        hostile_corpus, purged_queue, celery_app, celery_worker_parameters, release_manager):
    """Every version is promoted before the worker starts (SQLite takes one writer at a
    time); the worker then warms each up, as it would after a deploy."""
    from celery.contrib.testing.worker import start_worker

    marker, files = hostile_corpus
    promoted = []
    for hostile, version in _forced_models(files, prefix="warm"):
        registry.version_transition(version=version, to="staging", actor=release_manager)
        registry.version_promote(version=version, actor=release_manager, reason="forced")
        promoted.append((hostile, version))
    with start_worker(celery_app, pool="solo", **celery_worker_parameters):
        for hostile, version in promoted:
            event = _outcome(version)
            assert event.warmup_status == "failed", hostile.name
            assert "ArtifactRefused" in event.error and SECRET not in event.error, hostile.name
            assert not marker.exists(), hostile.name


@pytest.mark.django_db(transaction=True)
def test_a_live_server_never_runs_a_hostile_production_version(
        hostile_corpus, live_server, runtime, release_manager, researcher):
    from rest_framework.authtoken.models import Token

    marker, files = hostile_corpus
    token = Token.objects.create(user=researcher)
    answers = {}
    for hostile, version in _forced_models(files, prefix="live"):
        registry.version_transition(version=version, to="staging", actor=release_manager)
        registry.version_promote(version=version, actor=release_manager, reason="forced")
        response = requests.post(
            f"{live_server.url}/api/v1/serve/{version.model.name}/predict/",
            json={"records": EXAMPLE}, headers={"Authorization": f"Token {token.key}"},
            timeout=60)
        answers[hostile.name] = (response.status_code, response.json().get("code"))
        assert SECRET not in response.text, hostile.name
        assert not marker.exists(), hostile.name
    assert {name: answer for name, answer in answers.items()
            if answer != (503, "model_unavailable")} == {}
