"""Serving through an alias: serve/<model>@<alias>/predict/ answers with the version the
alias names, notices a moved alias in every process, and opens no path the number does not."""

from __future__ import annotations

import pytest

from models_app import services as registry
from models_app.models import ModelVersion
from serving_app.models import ModelGeneration
from serving_app.tests.mock_models import ConstantModel

pytestmark = pytest.mark.django_db

URL = "/api/v1/serve/ranking@champion/predict/"
ROWS = [{"f0": 1.0, "f1": 0.0, "f2": 0.0, "f3": 0.0}]


def checked(row: ModelVersion) -> ModelVersion:
    """The worker's verdict, recorded as the load-check task records it."""
    registry.version_load_check_record(version_id=row.pk, result={"status": "passed"})
    row.refresh_from_db()
    return row


@pytest.fixture
def point(release_manager, django_capture_on_commit_callbacks):
    """Set or move an alias as a release manager, its after-commit announcement delivered."""
    def point(alias: str, row: ModelVersion) -> None:
        with django_capture_on_commit_callbacks(execute=True):
            registry.alias_set(model=row.model, alias=alias, version=row, actor=release_manager)

    return point


@pytest.fixture
def load_check_gate(registered_model):
    """`ranking` with the default "load check passed" gate back on."""
    registry.model_update(model=registered_model, gates={"load_check": True})


def ask(client, url=URL, **body):
    return client.post(url, {"records": ROWS, **body}, format="json")


def test_the_alias_answers_with_the_version_it_names_and_says_which(runtime, deploy, api,
                                                                    point):
    deploy(ConstantModel(1.0), "1.0.0")
    staged = deploy(ConstantModel(2.0), "1.1.0", promote=False)
    registry.version_transition(version=staged, to="staging", actor=None)
    point("champion", staged)
    answer = ask(api)
    assert answer.status_code == 200, answer.json()
    assert answer.json() == {"model": "ranking", "version": "1.1.0", "predictions": [2.0],
                             "arm": None, "fallback": False, "alias": "champion"}
    # the model's own route still answers with production
    assert ask(api, "/api/v1/serve/ranking/predict/").json()["version"] == "1.0.0"
    status = api.get("/api/v1/serve/ranking/status/").json()
    assert status["this_process"]["aliases"] == {"champion": "1.1.0"}


def test_every_alias_change_bumps_the_models_generation_once(
        deploy, point, release_manager, django_capture_on_commit_callbacks):
    def generation():
        row = ModelGeneration.objects.filter(model_name="ranking").first()
        return row.generation if row else 0

    first = deploy(ConstantModel(1.0), "1.0.0", promote=False)
    second = deploy(ConstantModel(2.0), "1.1.0", promote=False)
    start = generation()
    point("champion", first)
    assert generation() == start + 1
    point("champion", second)
    assert generation() == start + 2
    point("champion", second)  # no change, no bump
    assert generation() == start + 2
    with django_capture_on_commit_callbacks(execute=True):
        registry.alias_delete(model=second.model, alias="champion", actor=release_manager)
    assert generation() == start + 3


def _redis() -> str:
    """CI's second run has a Redis broker: the generation check then reads Redis too."""
    from django.conf import settings

    url = settings.CELERY_BROKER_URL
    return url if url.startswith("redis://") else ""


@pytest.mark.parametrize("store", [
    "database",
    pytest.param("redis", marks=pytest.mark.skipif(not _redis(), reason="needs Redis: set "
                                                   "CELERY_BROKER_URL to redis://")),
])
def test_each_process_reads_a_moved_alias_from_its_own_cached_route(
        store, serving_settings, deploy, api, point):
    from serving_app.runtime import ServingRuntime, reset_runtime

    serving_settings.REDIS_URL = _redis() if store == "redis" else ""

    first = deploy(ConstantModel(1.0), "1.0.0")
    staged = deploy(ConstantModel(2.0), "1.1.0", promote=False)
    registry.version_transition(version=staged, to="staging", actor=None)
    point("champion", first)
    processes = [ServingRuntime(background=False, check_interval_ms=0) for _ in range(2)]
    try:
        for process in processes:  # both build and cache the route with champion -> 1.0.0
            reset_runtime(process)
            assert ask(api).json()["version"] == "1.0.0"
        point("champion", staged)
        for process in processes:
            reset_runtime(process)
            assert process.alias_version("ranking", "champion") == "1.1.0"
            assert ask(api).json()["predictions"] == [2.0]
    finally:
        reset_runtime(None)
        for process in processes:
            process.close()


def test_an_alias_whose_version_has_not_passed_its_load_check_answers_409_for_everyone(
        runtime, deploy, api, manager_api, point, load_check_gate):
    # With the gate on no version reaches staging unchecked, so the alias is the only way
    # an unchecked draft could meet traffic.
    draft = deploy(ConstantModel(2.0), "1.0.0", promote=False)
    point("champion", draft)
    for client in (api, manager_api):
        refused = ask(client)
        assert refused.status_code == 409
        body = refused.json()
        assert body["code"] == "alias_not_servable"
        assert "load check is pending" in body["message"] and "1.0.0" in body["message"]
    checked(draft)
    assert ask(manager_api).json()["predictions"] == [2.0]
    assert ask(api).status_code == 403  # still a draft: release managers only


def test_an_alias_on_a_draft_serves_release_managers_only_as_its_number_would(
        runtime, deploy, api, manager_api, point):
    deploy(ConstantModel(1.0), "1.0.0")
    draft = checked(deploy(ConstantModel(3.0), "1.1.0", promote=False))
    point("candidate", draft)
    url = "/api/v1/serve/ranking@candidate/predict/"
    refused = ask(api, url)
    assert (refused.status_code, refused.json()["code"]) == (403, "version_not_permitted")
    assert "draft" in refused.json()["message"]
    assert ask(manager_api, url).json()["predictions"] == [3.0]


def test_a_deleted_or_unknown_alias_is_a_404_and_bad_requests_are_400(
        runtime, deploy, api, anon_api, point, release_manager, django_capture_on_commit_callbacks):
    row = deploy(ConstantModel(1.0), "1.0.0")
    point("champion", row)
    assert ask(api).status_code == 200
    with django_capture_on_commit_callbacks(execute=True):
        registry.alias_delete(model=row.model, alias="champion", actor=release_manager)
    gone = ask(api)
    assert (gone.status_code, gone.json()["code"]) == (404, "alias_not_found")
    assert "aliases/" in gone.json()["message"]
    unknown = ask(api, "/api/v1/serve/nope@champion/predict/")
    assert (unknown.status_code, unknown.json()["code"]) == (404, "model_not_found")
    point("champion", row)
    with_version = ask(api, version="1.0.0")
    assert (with_version.status_code, with_version.json()["code"]) == (400, "invalid_input")
    assert ask(anon_api).status_code == 401
    assert api.get(URL).status_code == 405
