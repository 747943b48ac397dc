"""GET models/{name}/versions/latest/: the highest version by semver (in a stage, when
asked), in the list's shape, from SQL compiled once."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from models_app import selectors
from models_app.models import ModelVersion

URL = "/api/v1/models/ranking/versions/latest/"


@pytest.fixture
def versions(register_version):
    # Registered out of semver order: the latest is the highest version, not the newest row.
    return {v: register_version(v, metrics={"auc": 0.7}, tags={"team": "risk"})
            for v in ("1.0.0", "2.0.0", "1.10.0", "1.9.3")}


def test_the_latest_is_the_highest_semver_and_the_lists_first_row(api, versions):
    body = api.get(URL).json()
    assert body["version"] == "2.0.0"
    assert body == api.get("/api/v1/models/ranking/versions/?page_size=1").json()["results"][0]
    assert body["metrics"] == {"auc": 0.7} and body["tags"] == {"team": "risk"}
    assert selectors._LATEST._compiled[connection.alias] is not None  # the compiled path


def test_a_stage_narrows_it_and_an_empty_stage_is_a_404(api, versions, release_manager):
    from models_app.services import version_transition

    for version in ("1.0.0", "1.9.3"):
        version_transition(version=ModelVersion.objects.get(pk=versions[version].pk),
                           to="staging", actor=release_manager)
    body = api.get(f"{URL}?stage=staging").json()
    assert body["version"] == "1.9.3" and body["stage"] == "staging"
    listed = api.get("/api/v1/models/ranking/versions/?stage=staging&page_size=1").json()
    assert body == listed["results"][0]
    response = api.get(f"{URL}?stage=production")
    assert response.status_code == 404
    assert response.json()["code"] == "version_not_found"
    assert "production" in response.json()["message"]


def test_the_answer_changes_with_a_new_registration(api, versions, register_version):
    assert api.get(URL).json()["version"] == "2.0.0"
    register_version("2.0.1")
    assert api.get(URL).json()["version"] == "2.0.1"


def test_unknown_model_bad_stage_and_no_versions_answer_in_words(api, registered_model,
                                                                  anon_api):
    response = api.get("/api/v1/models/nope/versions/latest/")
    assert response.status_code == 404 and response.json()["code"] == "model_not_found"
    response = api.get(f"{URL}?stage=live")
    assert response.status_code == 400 and response.json()["code"] == "invalid_search"
    assert "draft" in response.json()["message"]
    response = api.get(URL)  # the model exists and has no version yet
    assert response.status_code == 404 and response.json()["code"] == "version_not_found"
    assert anon_api.get(URL).status_code == 401


def test_it_reads_one_query(api, versions):
    api.get(URL)
    with CaptureQueriesContext(connection) as queries:
        assert api.get(URL).status_code == 200
    assert len([q for q in queries.captured_queries if "model_versions" in q["sql"]]) == 1


@pytest.mark.django_db(transaction=True)
def test_the_client_reads_the_latest_version_from_a_live_server(live_server, versions,
                                                                researcher):
    from rest_framework.authtoken.models import Token

    from axion_client import AxionAPIError, AxionClient

    client = AxionClient(live_server.url, Token.objects.create(user=researcher).key)
    assert client.get_latest_version("ranking")["version"] == "2.0.0"
    with pytest.raises(AxionAPIError) as refused:
        client.get_latest_version("ranking", stage="production")
    assert refused.value.code == "version_not_found"
