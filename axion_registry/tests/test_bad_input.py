"""Odd input answers a 4xx JSON error, never a 500, and leaves nothing broken behind."""

import pytest

pytestmark = pytest.mark.django_db


def deeply_nested(depth: int = 5000) -> bytes:
    return b'{"a":' * depth + b"1" + b"}" * depth


def test_a_huge_integer_in_a_gate_is_refused_and_the_list_still_reads(api):
    response = api.post("/api/v1/models/", {"name": "m10", "gates": {"thresholds": [
        {"metric": "auc", "op": ">=", "value": 10**30}]}}, format="json")
    assert response.status_code == 201  # 1e30 is a finite threshold, stored as a float
    assert response.json()["gates"]["thresholds"][0]["value"] == 1e30
    huge = api.post("/api/v1/models/", {"name": "m11", "gates": {"thresholds": [
        {"metric": "auc", "op": ">=", "value": 10**400}]}}, format="json")
    assert huge.status_code == 400
    assert api.get("/api/v1/models/").status_code == 200


def test_a_huge_integer_in_hyperparameters_does_not_break_listings(api, register_version):
    register_version("1.0.0", hyperparameters={"seed": 10**30})  # from a script, exact
    listed = api.get("/api/v1/versions/")
    assert listed.status_code == 200
    assert listed.json()["results"][0]["hyperparameters"] == {"seed": 10**30}


def test_nan_in_hyperparameters_is_refused_naming_where(register_version):
    from models_app.errors import InvalidMetadata

    with pytest.raises(InvalidMetadata, match=r"hyperparameters\.grid\[1\]"):
        register_version("1.0.0", hyperparameters={"grid": [0.1, float("nan")]})


@pytest.mark.parametrize("path", ["/api/v1/models/", "/api/v1/experiments/", "/api/v1/runs/",
                                  "/api/v1/abtests/"])
def test_json_nested_too_deep_is_a_400(api, path):
    response = api.generic("POST", path, deeply_nested(), content_type="application/json")
    assert response.status_code == 400
    assert response.json()["code"] == "parse_error"


def test_a_registration_must_be_an_upload(api, registered_model):
    response = api.post("/api/v1/models/ranking/versions/", [], format="json")
    assert response.status_code == 415
    assert "multipart/form-data upload" in response.json()["message"]


def test_an_impossible_time_is_a_400(api, registered_model):
    response = api.get("/api/v1/models/ranking/production-at/?at=2020-01-01T00:00:00%2B25:00")
    assert (response.status_code, response.json()["code"]) == (400, "invalid_time")


@pytest.mark.parametrize("experiment", ["²", "99999999999999999999", "0"])
def test_odd_experiment_references_in_a_run_search(api, experiment):
    response = api.get(f"/api/v1/runs/?experiment={experiment}")
    assert response.status_code == 200
    assert response.json()["count"] == 0


def test_a_superscript_digit_is_a_name_not_an_id(api):
    response = api.post("/api/v1/runs/", {"experiment": "²"}, format="json")
    assert response.status_code == 201
    assert api.get(f"/api/v1/experiments/{response.json()['experiment_id']}/").json()[
        "name"] == "²"


@pytest.mark.parametrize("max_points", ["²", "99999999999999999999", "-3"])
def test_odd_max_points_are_a_400(api, max_points):
    run = api.post("/api/v1/runs/", {"experiment": "x"}, format="json").json()
    response = api.get(f"/api/v1/runs/{run['run_id']}/metrics/auc/history/"
                       f"?max_points={max_points}")
    assert response.status_code == 400
    assert "max_points" in response.json()["message"]


def test_a_metric_key_that_is_not_a_string_is_a_400(api):
    run = api.post("/api/v1/runs/", {"experiment": "x"}, format="json").json()
    response = api.post(f"/api/v1/runs/{run['run_id']}/log-batch/",
                        {"metrics": [{"key": {}, "value": 1}]}, format="json")
    assert response.status_code == 400


@pytest.mark.parametrize(("method", "path", "body"), [
    ("get", "/api/v1/metrics/history/?key=loss&run_ids=%00", None),
    ("get", "/api/v1/runs/?name=a%00b", None),
    ("get", "/api/v1/versions/?tag=team:%00", None),
    ("post", "/api/v1/experiments/", {"name": "a\u0000b"}),
    ("post", "/api/v1/runs/", {"experiment": "nul", "name": "a\u0000b"}),
])
def test_a_nul_byte_is_a_clear_4xx_or_stored_never_a_500(api, method, path, body):
    """PostgreSQL's text cannot hold NUL; SQLite can. Either way the caller gets an answer."""
    response = getattr(api, method)(path, body, format="json") if body else api.get(path)
    assert response.status_code in (200, 201, 400, 404), response.content
    if response.status_code >= 400:
        assert response.json()["code"] and response.json()["message"]
