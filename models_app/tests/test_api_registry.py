import io
import json
from datetime import timedelta

import pytest
from django.utils import timezone

from models_app.models import ModelVersion

pytestmark = pytest.mark.django_db


def upload(client, model="ranking", content=None, sklearn_pickle=None, **metadata):
    metadata.setdefault("framework", "sklearn")
    metadata.setdefault("artifact_format", "pickle")
    artifact = io.BytesIO(content if content is not None else sklearn_pickle)
    artifact.name = "model.pkl"
    return client.post(
        f"/api/v1/models/{model}/versions/",
        {"artifact": artifact, "metadata": json.dumps(metadata)},
        format="multipart",
    )


@pytest.fixture
def ranking(api):
    response = api.post("/api/v1/models/", {"name": "ranking", "description": "Stock ranking",
                                            "metric_directions": {"rmse": "lower"}}, format="json")
    assert response.status_code == 201, response.content
    return response.json()


def test_it_registers_through_a_multipart_upload(api, ranking, sklearn_pickle):
    response = upload(api, sklearn_pickle=sklearn_pickle, metrics={"auc": 0.8}, version="2.1.0",
                      tags={"team": "quant"})
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["version"], body["stage"], body["created_by"]) == ("2.1.0", "draft",
                                                                     "rita_researcher")
    assert body["available_transitions"] == ["deprecated", "staging"]
    assert len(body["artifact_sha256"]) == 64


def test_the_artifact_downloads_byte_for_byte(api, ranking, sklearn_pickle):
    upload(api, sklearn_pickle=sklearn_pickle, version="1.0.0")
    response = api.get("/api/v1/models/ranking/versions/1.0.0/artifact/")
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == sklearn_pickle


@pytest.mark.parametrize(
    ("metadata", "code", "needle"),
    [
        ({"version": "1.0"}, "invalid_version", "MAJOR.MINOR.PATCH"),
        ({"framework": "caffe"}, "invalid", "framework"),
        ({"artifact_format": "zip"}, "invalid", "artifact_format"),
        ({"metrics": {"auc": "NaN"}}, "invalid_metadata", "auc"),
    ],
)
def test_bad_metadata_is_a_400_that_says_why(api, ranking, sklearn_pickle, metadata, code, needle):
    response = upload(api, sklearn_pickle=sklearn_pickle, **metadata)
    assert response.status_code == 400
    assert response.json()["code"] == code
    assert needle in response.json()["message"]
    assert not ModelVersion.objects.exists()


def test_a_nan_metric_in_raw_json_is_refused(api, ranking, sklearn_pickle):
    artifact = io.BytesIO(sklearn_pickle)
    artifact.name = "m.pkl"
    raw = '{"framework": "sklearn", "artifact_format": "pickle", "metrics": {"auc": NaN}}'
    response = api.post("/api/v1/models/ranking/versions/",
                        {"artifact": artifact, "metadata": raw}, format="multipart")
    assert response.status_code == 400
    assert response.json()["code"] in ("invalid_metadata",)


def test_metadata_that_is_not_json_is_a_400(api, ranking, sklearn_pickle):
    artifact = io.BytesIO(sklearn_pickle)
    artifact.name = "m.pkl"
    response = api.post("/api/v1/models/ranking/versions/",
                        {"artifact": artifact, "metadata": "{not json"}, format="multipart")
    assert response.status_code == 400
    assert "not valid JSON" in response.json()["message"]


def test_a_missing_artifact_is_a_400(api, ranking):
    response = api.post("/api/v1/models/ranking/versions/",
                        {"metadata": json.dumps({"framework": "sklearn",
                                                 "artifact_format": "pickle"})},
                        format="multipart")
    assert response.status_code == 400
    assert response.json()["code"] == "missing_artifact"


def test_a_disallowed_pickle_is_a_400_naming_the_import(api, ranking):
    import os
    import pickle

    class Evil:
        def __reduce__(self):
            return (os.system, ("true",))

    response = upload(api, content=pickle.dumps(Evil()))
    assert response.status_code == 400
    assert response.json()["code"] == "disallowed_pickle"
    assert "system" in response.json()["message"]


def test_a_duplicate_version_is_a_409(api, ranking, sklearn_pickle):
    assert upload(api, sklearn_pickle=sklearn_pickle, version="1.0.0").status_code == 201
    response = upload(api, sklearn_pickle=sklearn_pickle, version="1.0.0")
    assert response.status_code == 409
    assert response.json()["code"] == "duplicate_version"


def test_a_too_large_upload_is_a_413(api, ranking, sklearn_pickle, settings):
    settings.MAX_ARTIFACT_BYTES = 64
    response = upload(api, sklearn_pickle=sklearn_pickle)
    assert response.status_code == 413
    assert response.json()["code"] == "artifact_too_large"


def test_unknown_model_and_version_are_404s(api, ranking):
    assert api.get("/api/v1/models/nope/").json()["code"] == "model_not_found"
    response = api.get("/api/v1/models/ranking/versions/9.9.9/")
    assert (response.status_code, response.json()["code"]) == (404, "version_not_found")


def test_a_duplicate_model_is_a_409(api, ranking):
    response = api.post("/api/v1/models/", {"name": "ranking"}, format="json")
    assert (response.status_code, response.json()["code"]) == (409, "duplicate_model")


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", "/api/v1/models/"),
        ("post", "/api/v1/models/"),
        ("get", "/api/v1/versions/"),
        ("get", "/api/v1/transitions/"),
        ("post", "/api/v1/models/ranking/versions/"),
        ("post", "/api/v1/models/ranking/rollback/"),
        ("post", "/api/v1/models/ranking/versions/1.0.0/transition/"),
    ],
)
def test_anonymous_requests_are_refused(anon_api, method, path):
    response = getattr(anon_api, method)(path)
    assert response.status_code == 401
    assert response.json()["code"] == "not_authenticated"


def test_health_is_open(anon_api):
    assert anon_api.get("/healthz").status_code == 200


class TestSearch:
    @pytest.fixture
    def catalogue(self, api, sklearn_pickle):
        for name in ("ranking", "regime", "earnings"):
            api.post("/api/v1/models/", {"name": name}, format="json")
        rows = [
            ("ranking", "1.0.0", "sklearn", {"auc": 0.65}, {"team": "quant"}),
            ("ranking", "1.9.0", "sklearn", {"auc": 0.72}, {"team": "quant", "gpu": ""}),
            ("ranking", "1.10.0", "lightgbm", {"auc": 0.81}, {"team": "alpha"}),
            ("regime", "1.0.0", "xgboost", {"auc": 0.70, "rmse": 0.04}, {}),
            ("earnings", "1.0.0", "sklearn", {"rmse": 0.09}, {"team": "quant"}),
        ]
        for model, version, framework, metrics, tags in rows:
            response = upload(api, model=model, sklearn_pickle=sklearn_pickle, version=version,
                              framework=framework, metrics=metrics, tags=tags)
            assert response.status_code == 201, response.content

    def found(self, api, query):
        response = api.get(f"/api/v1/versions/?{query}")
        assert response.status_code == 200, response.content
        return sorted(f"{r['model']}@{r['version']}" for r in response.json()["results"])

    def test_name_is_a_case_insensitive_substring(self, api, catalogue):
        assert self.found(api, "name=RANK") == ["ranking@1.0.0", "ranking@1.10.0", "ranking@1.9.0"]
        assert self.found(api, "name=.*") == []  # a regex is just text

    def test_framework_and_stage(self, api, catalogue):
        assert self.found(api, "framework=lightgbm") == ["ranking@1.10.0"]
        assert self.found(api, "framework=xgboost&framework=lightgbm") == [
            "ranking@1.10.0", "regime@1.0.0"]
        assert len(self.found(api, "stage=draft")) == 5
        assert self.found(api, "stage=production") == []

    def test_tags_by_key_and_by_value(self, api, catalogue):
        assert self.found(api, "tag=gpu") == ["ranking@1.9.0"]
        assert self.found(api, "tag=team:quant") == [
            "earnings@1.0.0", "ranking@1.0.0", "ranking@1.9.0"]
        assert self.found(api, "tag=team:quant&tag=gpu") == ["ranking@1.9.0"]

    def test_metric_thresholds(self, api, catalogue):
        assert self.found(api, "metric=auc>=0.7") == [
            "ranking@1.10.0", "ranking@1.9.0", "regime@1.0.0"]
        assert self.found(api, "metric=auc>0.7&metric=auc<0.8") == ["ranking@1.9.0"]
        assert self.found(api, "metric=rmse<=0.05") == ["regime@1.0.0"]

    def test_a_malformed_metric_condition_is_a_400(self, api, catalogue):
        response = api.get("/api/v1/versions/?metric=auc~0.7")
        assert response.status_code == 400
        assert "auc>=0.7" in response.json()["message"]

    def test_creation_time_range(self, api, catalogue):
        ModelVersion.objects.filter(model__name="earnings").update(
            created_at=timezone.now() - timedelta(days=10))
        cutoff = (timezone.now() - timedelta(days=1)).isoformat().replace("+00:00", "Z")
        assert self.found(api, f"created_before={cutoff}") == ["earnings@1.0.0"]
        assert len(self.found(api, f"created_after={cutoff}")) == 4

    def test_ordering_by_version_is_numeric(self, api, catalogue):
        response = api.get("/api/v1/models/ranking/versions/?ordering=-version")
        assert [r["version"] for r in response.json()["results"]] == ["1.10.0", "1.9.0", "1.0.0"]

    def test_pagination(self, api, catalogue):
        response = api.get("/api/v1/versions/?page_size=2")
        assert response.json()["count"] == 5
        assert len(response.json()["results"]) == 2
        assert response.json()["next"]


def test_comparison_marks_the_best_by_direction(api, ranking, sklearn_pickle):
    upload(api, sklearn_pickle=sklearn_pickle, version="1.0.0",
           metrics={"auc": 0.70, "rmse": 0.05}, hyperparameters={"depth": 3, "lr": 0.1})
    upload(api, sklearn_pickle=sklearn_pickle, version="1.1.0",
           metrics={"auc": 0.75, "rmse": 0.07}, hyperparameters={"depth": 5, "lr": 0.1})
    upload(api, sklearn_pickle=sklearn_pickle, version="1.2.0",
           metrics={"auc": 0.75, "rmse": 0.06}, hyperparameters={"depth": 5, "lr": 0.1})
    body = api.get("/api/v1/models/ranking/compare/?versions=1.0.0,1.1.0").json()
    assert body["metrics"]["auc"]["best"] == "1.1.0"
    assert body["metrics"]["rmse"] == {"values": {"1.0.0": 0.05, "1.1.0": 0.07},
                                       "direction": "lower", "best": "1.0.0"}
    assert body["hyperparameters"]["depth"]["differs"] is True
    assert body["hyperparameters"]["lr"]["differs"] is False
    tie = api.get("/api/v1/models/ranking/compare/?versions=1.1.0,1.2.0").json()
    assert tie["metrics"]["auc"]["best"] is None  # a tie has no best
    assert tie["metrics"]["rmse"]["best"] == "1.2.0"


def test_comparison_as_a_dataframe(register_version, registered_model):
    from models_app.selectors import versions_compare

    register_version("1.0.0", metrics={"auc": 0.7})
    register_version("2.0.0", metrics={"auc": 0.8, "brier": 0.2})
    comparison = versions_compare(model=registered_model, versions=["1.0.0", "2.0.0"])
    assert list(comparison.metrics.columns) == ["1.0.0", "2.0.0"]
    assert comparison.metrics.loc["auc", "2.0.0"] == 0.8
    assert comparison.best == {"auc": "2.0.0", "brier": "2.0.0"}


def test_comparison_needs_two_known_versions(api, ranking, sklearn_pickle):
    upload(api, sklearn_pickle=sklearn_pickle, version="1.0.0")
    assert api.get("/api/v1/models/ranking/compare/?versions=1.0.0").status_code == 400
    response = api.get("/api/v1/models/ranking/compare/?versions=1.0.0,3.0.0")
    assert response.status_code == 404
    assert "3.0.0" in response.json()["message"]


class TestModelsList:
    @pytest.fixture
    def catalogue(self, researcher, register_version):
        """Beside `ranking` (no versions), models `m00`, `m01`, ... up to `count`, each with
        1.9.0 and 1.10.0; the even ones have 1.9.0 in production."""
        from models_app.models import RegisteredModel
        from models_app.services import model_create

        def make(count):
            for i in range(RegisteredModel.objects.filter(name__startswith="m").count(), count):
                model = model_create(name=f"m{i:02}", owner=researcher)
                production = register_version("1.9.0", model_name=model.name)
                register_version("1.10.0", model_name=model.name)
                if i % 2 == 0:
                    ModelVersion.objects.filter(pk=production.pk).update(stage="production")

        return make

    def test_it_shows_each_models_production_and_latest_version(self, api, catalogue):
        catalogue(4)
        rows = {row["name"]: row for row in api.get("/api/v1/models/").json()["results"]}
        assert [(rows[n]["production_version"], rows[n]["latest_version"])
                for n in ("m00", "m01")] == [("1.9.0", "1.10.0"), (None, "1.10.0")]

    def test_the_query_count_does_not_grow_with_the_number_of_models(
            self, api, catalogue, django_assert_num_queries):
        from django.db import connection
        from django.test.utils import CaptureQueriesContext

        catalogue(2)
        api.get("/api/v1/models/")  # the token is cached from here on
        with CaptureQueriesContext(connection) as two_models:
            assert len(api.get("/api/v1/models/").json()["results"]) == 1 + 2
        catalogue(12)
        with django_assert_num_queries(len(two_models)):
            assert len(api.get("/api/v1/models/").json()["results"]) == 1 + 12
