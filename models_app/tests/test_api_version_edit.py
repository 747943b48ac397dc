"""PATCH models/{name}/versions/{version}/: a version's description and tags, by who may
change the model's metadata, audited on the model."""

import pytest

from conftest import _client_for
from models_app.models import ModelChange, ModelVersion

pytestmark = pytest.mark.django_db
URL = "/api/v1/models/ranking/versions/1.0.0/"


def patch(client, body):
    return client.patch(URL, body, format="json")


def test_the_owner_describes_and_tags_a_version_and_the_change_is_audited(api,
                                                                            register_version):
    register_version("1.0.0", tags={"team": "quant"})
    response = patch(api, {"description": "Trained on 2019-2025.", "tags": {"gpu": "a100"}})
    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["description"], body["tags"]) == ("Trained on 2019-2025.", {"gpu": "a100"})
    row = ModelVersion.objects.get(model__name="ranking", version="1.0.0")
    assert (row.description, row.tags) == ("Trained on 2019-2025.", {"gpu": "a100"})
    change = ModelChange.objects.get(model__name="ranking")
    assert change.changes["version 1.0.0 tags"] == {"old": {"team": "quant"},
                                                    "new": {"gpu": "a100"}}
    assert change.source == "api"


def test_a_field_left_out_is_kept(api, register_version):
    register_version("1.0.0", tags={"team": "quant"}, description="first")
    assert patch(api, {"description": "second"}).json()["tags"] == {"team": "quant"}


def test_someone_who_may_not_change_the_model_gets_a_403_and_nothing_changes(
        make_user, register_version):
    register_version("1.0.0", tags={"team": "quant"})
    response = patch(_client_for(make_user("stranger")), {"tags": {}})
    assert response.status_code == 403
    assert "owners" in response.json()["message"]
    assert ModelVersion.objects.get(version="1.0.0").tags == {"team": "quant"}


def test_anonymous_is_refused(anon_api, register_version):
    register_version("1.0.0")
    assert patch(anon_api, {"description": "x"}).status_code == 401


def test_tags_that_are_not_an_object_are_a_400_with_a_code(api, register_version):
    register_version("1.0.0")
    response = patch(api, {"tags": "gpu"})
    assert response.status_code == 400
    assert response.json()["code"] and response.json()["message"]


def test_an_unknown_version_is_a_404(api, register_version):
    register_version("1.0.0")
    response = api.patch("/api/v1/models/ranking/versions/9.9.9/", {"tags": {}}, format="json")
    assert response.status_code == 404
