"""The artifact storage away: cached models keep serving, registration is a clear 503."""

from __future__ import annotations

import json

import pytest

from models_app.models import ModelVersion
from serving_app.tests.mock_models import ConstantModel

pytestmark = pytest.mark.django_db

ROWS = [{"f0": 1.0, "f1": 0.0, "f2": 0.0, "f3": 0.0}]


def test_cached_models_keep_serving_and_registration_answers_503(
        runtime, deploy, api, artifact_file, settings, tmp_path):
    deploy(ConstantModel(3.0), "1.0.0")
    url = "/api/v1/serve/ranking/predict/"
    assert api.post(url, {"records": ROWS}, format="json").json()["predictions"] == [3.0]
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    settings.STORAGES = {**settings.STORAGES, "artifacts": {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": str(blocker / "artifacts")},
    }}

    for _ in range(5):
        answer = api.post(url, {"records": ROWS}, format="json")
        assert (answer.status_code, answer.json()["predictions"]) == (200, [3.0])
    metadata = json.dumps({"framework": "sklearn", "artifact_format": "pickle",
                           "version": "2.0.0"})
    response = api.post("/api/v1/models/ranking/versions/",
                        {"artifact": artifact_file(), "metadata": metadata}, format="multipart")
    assert response.status_code == 503, response.json()
    assert response.json()["code"] == "storage_unavailable"
    assert "Try again" in response.json()["message"]
    assert not ModelVersion.objects.filter(version="2.0.0").exists()
