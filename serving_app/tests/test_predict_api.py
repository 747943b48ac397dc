"""POST /api/v1/serve/{model}/predict/ and the Python predict(): shapes, errors, auth."""

from __future__ import annotations

import pytest

from serving_app.runtime import predict
from serving_app.tests.conftest import SIGNATURE
from serving_app.tests.mock_models import ConstantModel

pytestmark = pytest.mark.django_db
URL = "/api/v1/serve/ranking/predict/"
ROWS = [{"f0": 1.0, "f1": 1.0, "f2": 0.0, "f3": 0.0}, {"f0": -2.0, "f1": -1.0, "f2": 0.0,
                                                      "f3": 0.0}]


def test_it_answers_records_with_the_predictions_and_the_version(runtime, deploy,
                                                                 sklearn_model, api):
    deploy(sklearn_model, "1.0.0")
    response = api.post(URL, {"records": ROWS}, format="json")
    assert response.status_code == 200
    assert response.json() == {"model": "ranking", "version": "1.0.0", "predictions": [1, 0],
                               "arm": None, "fallback": False}


def test_it_answers_mlflow_dataframe_split(runtime, deploy, sklearn_model, api):
    deploy(sklearn_model, "1.0.0")
    body = {"dataframe_split": {"columns": ["f3", "f2", "f1", "f0"],
                                "data": [[0.0, 0.0, 1.0, 1.0]]}}
    response = api.post(URL, body, format="json")
    assert response.status_code == 200 and response.json()["predictions"] == [1]


def test_the_python_api_gives_the_same_answer(runtime, deploy, sklearn_model):
    deploy(sklearn_model, "1.0.0")
    result = predict("ranking", ROWS)
    assert (result.version, result.predictions, result.fallback) == ("1.0.0", [1, 0], False)


@pytest.mark.parametrize("row, column", [
    ({"f0": 1.0, "f1": 1.0, "f2": 0.0}, "f3"),
    ({"f0": 1.0, "f1": 1.0, "f2": 0.0, "f3": 0.0, "f9": 1.0}, "f9"),
    ({"f0": "high", "f1": 1.0, "f2": 0.0, "f3": 0.0}, "f0"),
    ({"f0": None, "f1": 1.0, "f2": 0.0, "f3": 0.0}, "f0"),
])
def test_rows_that_do_not_fit_the_signature_get_a_400_naming_the_column(
        runtime, deploy, sklearn_model, api, row, column):
    deploy(sklearn_model, "1.0.0")
    response = api.post(URL, {"records": [row]}, format="json")
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "invalid_input" and body["details"] == {"column": column}
    assert repr(column) in body["message"]


def test_nan_is_refused_where_the_signature_does_not_allow_it(runtime, deploy, sklearn_model,
                                                              api):
    deploy(sklearn_model, "1.0.0")
    response = api.post(URL, data=b'{"records": [{"f0": NaN, "f1": 1, "f2": 0, "f3": 0}]}',
                        content_type="application/json")
    assert response.status_code == 400  # orjson refuses NaN: it is not JSON
    predicted = predict  # the Python API sees real NaN
    with pytest.raises(Exception) as caught:
        predicted("ranking", [{"f0": float("nan"), "f1": 1.0, "f2": 0.0, "f3": 0.0}])
    assert getattr(caught.value, "status", None) == 400
    assert "'f0' is missing a value" in str(caught.value)


def test_a_nullable_column_accepts_null(runtime, deploy):
    signature = {"inputs": [{**column, "nullable": column["name"] == "f2"}
                            for column in SIGNATURE["inputs"]]}
    deploy(ConstantModel(0.5), "1.0.0", signature=signature)
    assert predict("ranking", [{"f0": 1, "f1": 2, "f2": None, "f3": 4}]).predictions == [0.5]


def test_bad_bodies_are_400s(runtime, deploy, sklearn_model, api):
    deploy(sklearn_model, "1.0.0")
    assert api.post(URL, data=b"{not json", content_type="application/json").status_code == 400
    assert api.post(URL, [1, 2], format="json").status_code == 400
    assert api.post(URL, {"rows": ROWS}, format="json").status_code == 400


def test_anonymous_and_unknown_tokens_get_401(runtime, deploy, sklearn_model, anon_api):
    deploy(sklearn_model, "1.0.0")
    response = anon_api.post(URL, {"records": ROWS}, format="json")
    assert response.status_code == 401 and response["WWW-Authenticate"] == "Token"
    anon_api.credentials(HTTP_AUTHORIZATION="Token not-a-real-token")
    assert anon_api.post(URL, {"records": ROWS}, format="json").status_code == 401


def test_it_authenticates_like_every_other_endpoint(runtime, deploy, sklearn_model, researcher,
                                                    anon_api):
    from rest_framework.authtoken.models import Token
    from rest_framework.test import APIClient

    deploy(sklearn_model, "1.0.0")
    key = Token.objects.get_or_create(user=researcher)[0].key
    anon_api.credentials(HTTP_AUTHORIZATION=f"token {key}")
    assert anon_api.post(URL, {"records": ROWS}, format="json").status_code == 200
    unknown = APIClient()
    unknown.credentials(HTTP_AUTHORIZATION="Token not-a-real-token")
    answer = unknown.post(URL, {"records": ROWS}, format="json")
    models = unknown.get("/api/v1/models/")
    assert answer.status_code == models.status_code == 401
    assert answer.json()["code"] == models.json()["code"] == "authentication_failed"


def test_a_session_needs_its_csrf_token_as_everywhere(runtime, deploy, sklearn_model,
                                                      researcher):
    from rest_framework.test import APIClient

    deploy(sklearn_model, "1.0.0")
    session = APIClient(enforce_csrf_checks=True)
    session.force_login(researcher)
    refused = session.post(URL, {"records": ROWS}, format="json")
    assert refused.status_code == 403 and refused.json()["code"] == "permission_denied"
    from django.middleware.csrf import get_token
    from django.test import RequestFactory

    request = RequestFactory().get("/")
    token = get_token(request)  # what a page would hand the browser, and its cookie
    session.cookies["csrftoken"] = request.META["CSRF_COOKIE"]
    answer = session.post(URL, {"records": ROWS}, format="json", HTTP_X_CSRFTOKEN=token)
    assert answer.status_code == 200 and answer.json()["predictions"] == [1, 0]


def test_each_request_gets_its_own_user_instance(researcher):
    from rest_framework.authtoken.models import Token

    from axion_registry.authentication import CachedTokenAuthentication, token_user

    key = Token.objects.get_or_create(user=researcher)[0].key
    first, _ = CachedTokenAuthentication().authenticate_credentials(key)
    second, _ = CachedTokenAuthentication().authenticate_credentials(key)
    assert first.pk == second.pk == researcher.pk
    assert first is not second and first is not token_user(key)
    first.backend = "set by one request"
    assert not hasattr(second, "backend")


def test_the_error_bodies_keep_their_codes_and_sentences(runtime, anon_api, api):
    missing = anon_api.post(URL, {"records": ROWS}, format="json")
    assert missing.json() == {
        "code": "not_authenticated",
        "message": "Authentication credentials were not provided: send 'Authorization: "
                   "Token <key>'."}
    assert api.get(URL).json() == {"code": "method_not_allowed", "message": "Use POST."}
    bad = api.post(URL, b"{not json", content_type="application/json")
    assert bad.status_code == 400 and bad.json()["code"] == "invalid_json"


def test_a_deactivated_user_loses_access_once_the_token_cache_expires(
        runtime, deploy, sklearn_model, api, settings):
    from axion_registry.authentication import forget_tokens

    deploy(sklearn_model, "1.0.0")
    assert api.post(URL, {"records": ROWS}, format="json").status_code == 200
    api.user.is_active = False
    api.user.save()
    forget_tokens()  # what TOKEN_CACHE_SECONDS passing does
    assert api.post(URL, {"records": ROWS}, format="json").status_code == 401


def test_unknown_models_and_undeployed_ones_are_404_with_their_own_codes(
        runtime, registered_model, api):
    unknown = api.post("/api/v1/serve/nope/predict/", {"records": ROWS}, format="json")
    assert unknown.status_code == 404
    assert unknown.json()["code"] != "no_production_version"
    response = api.post(URL, {"records": ROWS}, format="json")
    assert response.status_code == 404
    assert response.json()["code"] == "no_production_version"


def test_asking_for_an_empty_stage_is_a_404(runtime, deploy, manager_api):
    deploy(ConstantModel(1.0), "1.0.0")
    response = manager_api.post(URL, {"records": ROWS, "version": "archived"}, format="json")
    assert response.status_code == 404
    assert "no version in archived" in response.json()["message"]


def test_a_caller_may_ask_for_a_specific_version(runtime, deploy, manager_api):
    api = manager_api  # 1.1.0 is a draft: a release manager's (see test_version_access.py)
    deploy(ConstantModel(1.0), "1.0.0")
    deploy(ConstantModel(2.0), "1.1.0", promote=False)
    by_body = api.post(URL, {"records": ROWS[:1], "version": "1.1.0"}, format="json")
    by_query = api.post(f"{URL}?version=1.1.0", {"records": ROWS[:1]}, format="json")
    production = api.post(URL, {"records": ROWS[:1]}, format="json")
    assert by_body.json()["predictions"] == by_query.json()["predictions"] == [2.0]
    assert (by_body.json()["version"], production.json()["version"]) == ("1.1.0", "1.0.0")
    assert api.post(URL, {"records": ROWS[:1], "version": "9.9.9"},
                    format="json").status_code == 404


def test_get_is_not_a_prediction(runtime, api):
    assert api.get(URL).status_code == 405


def test_status_says_what_this_process_serves(runtime, deploy, sklearn_model, api):
    deploy(ConstantModel(1.0), "1.0.0")
    deploy(sklearn_model, "1.1.0")
    predict("ranking", ROWS)
    body = api.get("/api/v1/serve/ranking/status/").json()
    assert body["production_version"] == "1.1.0" and body["fallback_version"] == "1.0.0"
    process = body["this_process"]
    assert process["production"]["version"] == "1.1.0" and process["production"]["warm"]
    assert process["fallback"]["version"] == "1.0.0"
    assert set(process["cache"]["pinned"]) == {process["production"]["version_id"],
                                               process["fallback"]["version_id"]}
