"""The transport: errors, unreachable servers and pagination, at the HTTP boundary."""

from __future__ import annotations

import pytest
import requests
import responses

from axion_client import APIUnreachable, AxionAPIError, AxionClient

BASE = "http://axion.test/api/v1"


def _page(items: list[int], next_url: str | None) -> dict:
    return {"count": 0, "next": next_url, "previous": None,
            "results": [{"n": n} for n in items]}


@pytest.fixture
def api():
    with responses.RequestsMock() as mock:
        yield mock


def test_the_base_url_gets_the_api_prefix_and_the_token_its_header(api):
    api.get(f"{BASE}/me/", json={"username": "rita"})
    client = AxionClient("http://axion.test/", "t0ken")
    assert client.base_url == BASE
    assert client.current_user() == {"username": "rita"}
    assert api.calls[0].request.headers["Authorization"] == "Token t0ken"


def test_an_error_answer_raises_with_the_api_code_and_message(api):
    api.post(f"{BASE}/models/ranking/rollback/", status=409,
             json={"code": "no_rollback_target", "message": "Nothing to roll back to.",
                   "details": {"model": "ranking"}})
    with pytest.raises(AxionAPIError) as caught:
        AxionClient(BASE).rollback_model("ranking", "bad release")
    assert (caught.value.status, caught.value.code) == (409, "no_rollback_target")
    assert caught.value.message == "Nothing to roll back to."
    assert caught.value.details == {"model": "ranking"}


def test_no_answer_is_api_unreachable_which_is_a_requests_connection_error(api):
    api.get(f"{BASE}/models/", body=requests.ConnectTimeout("timed out"))
    with pytest.raises(APIUnreachable) as caught:
        AxionClient(BASE).list_models()
    assert isinstance(caught.value, requests.ConnectionError)


def test_a_list_follows_next_pages(api):
    api.get(f"{BASE}/models/", json=_page([1, 2], f"{BASE}/models/?page=2"))
    api.get(f"{BASE}/models/?page=2", json=_page([3], None))
    assert [m["n"] for m in AxionClient(BASE).list_models()] == [1, 2, 3]


def test_max_results_stops_before_fetching_a_page_it_does_not_need(api):
    api.get(f"{BASE}/models/", json=_page([1, 2], f"{BASE}/models/?page=2"))
    assert [m["n"] for m in AxionClient(BASE).list_models(max_results=2)] == [1, 2]
    assert len(api.calls) == 1


def test_empty_filters_are_not_sent(api):
    api.get(f"{BASE}/versions/", json=_page([], None))
    AxionClient(BASE).list_versions(name="", stages=["production"], frameworks=[])
    assert api.calls[0].request.params == {"stage": "production"}
