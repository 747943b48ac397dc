"""search_runs with MLflow filter strings, order_by and page tokens, through the real client."""

from __future__ import annotations

import pytest
from mlflow.exceptions import MlflowException


@pytest.fixture
def sweep(client):
    """Four finished runs of one experiment: lr, loss, team."""
    experiment_id = client.create_experiment("ranking-lgbm")
    runs = {}
    for name, lr, loss, team in [("a", "0.01", 0.5, "quant"), ("b", "0.01", 1.5, "quant"),
                                 ("c", "0.1", 0.2, "macro"), ("d", "0.1", 0.9, None)]:
        run = client.create_run(experiment_id, run_name=f"lgbm-{name}",
                                tags={"team": team} if team else {})
        client.log_param(run.info.run_id, "lr", lr)
        client.log_metric(run.info.run_id, "loss", loss)
        if name != "d":
            client.set_terminated(run.info.run_id)
        runs[name] = run.info.run_id
    return experiment_id, runs


def names(found) -> list[str]:
    return [run.info.run_name.removeprefix("lgbm-") for run in found]


@pytest.mark.parametrize("filter_string, expected", [
    ("metrics.loss < 1 and params.lr = '0.01'", ["a"]),
    ("metrics.loss < 1", ["a", "c", "d"]),
    ("metrics.loss >= 0.9", ["b", "d"]),
    ("metrics.loss != 0.5", ["b", "c", "d"]),
    ("params.lr != '0.01'", ["c", "d"]),
    ("params.lr LIKE '0.0%'", ["a", "b"]),
    ("tags.team = 'quant'", ["a", "b"]),
    ("tags.team ILIKE 'QU%'", ["a", "b"]),
    ("tags.team IS NULL", ["d"]),
    ("tags.team IS NOT NULL", ["a", "b", "c"]),
    ("params.depth IS NULL", ["a", "b", "c", "d"]),
    ("attributes.status = 'RUNNING'", ["d"]),
    ("status != 'RUNNING'", ["a", "b", "c"]),
    ("attributes.run_name LIKE '%-c'", ["c"]),
    ("run_name = 'lgbm-b'", ["b"]),
    ("attributes.user_id = 'rita_researcher' and metrics.loss > 1", ["b"]),
    ("attributes.start_time > 0 and attributes.end_time IS NULL", None),
    ("metrics.auc > 0", []),
])
def test_filters_select_the_runs_they_say(tracking, sweep, filter_string, expected):
    experiment_id, _ = sweep
    if expected is None:
        with pytest.raises(MlflowException) as caught:
            tracking.search_runs([experiment_id], filter_string, output_format="list")
        assert caught.value.error_code == "INVALID_PARAMETER_VALUE"
        return
    found = tracking.search_runs([experiment_id], filter_string, output_format="list",
                                 order_by=["attributes.run_name"])
    assert names(found) == expected


def test_run_id_in_a_list(tracking, sweep):
    experiment_id, runs = sweep
    found = tracking.search_runs([experiment_id], f"run_id IN ('{runs['a']}', '{runs['c']}')",
                                 output_format="list", order_by=["run_name"])
    assert names(found) == ["a", "c"]


@pytest.mark.parametrize("order_by, expected", [
    (["metrics.loss ASC"], ["c", "a", "d", "b"]),
    (["metrics.loss DESC"], ["b", "d", "a", "c"]),
    (["params.lr DESC", "metrics.loss"], ["c", "d", "a", "b"]),
    (["tags.team", "run_name DESC"], ["c", "b", "a", "d"]),
    (["attributes.start_time"], ["a", "b", "c", "d"]),
    ([], ["d", "c", "b", "a"]),
])
def test_order_by_sorts_missing_values_last(tracking, sweep, order_by, expected):
    experiment_id, _ = sweep
    found = tracking.search_runs([experiment_id], order_by=order_by, output_format="list")
    assert names(found) == expected


def test_pages_follow_page_tokens_to_the_end(client, sweep):
    experiment_id, _ = sweep
    seen: list[str] = []
    token = None
    pages = 0
    while True:
        page = client.search_runs([experiment_id], max_results=3, page_token=token,
                                  order_by=["run_name"])
        seen += names(page)
        pages += 1
        token = page.token
        if not token:
            break
    assert seen == ["a", "b", "c", "d"] and pages == 2


def test_a_bad_page_token_is_a_400(client, sweep):
    with pytest.raises(MlflowException) as caught:
        client.search_runs([sweep[0]], page_token="not-a-token")
    assert caught.value.error_code == "INVALID_PARAMETER_VALUE"


def test_the_search_spans_several_experiments(client, sweep):
    other = client.create_experiment("regime")
    client.create_run(other, run_name="lgbm-e")
    found = client.search_runs([sweep[0], other], order_by=["run_name"])
    assert names(found) == ["a", "b", "c", "d", "e"]


@pytest.mark.parametrize("filter_string, token", [
    ("metrics.loss < 1 OR params.lr = '0.01'", "OR"),
    ("metrics.loss < 'one'", "loss"),
    ("params.lr = 0.01", "lr"),
    ("metrics.loss ~ 1", "~"),
    ("attributes.colour = 'red'", "colour"),
])
def test_a_filter_the_grammar_refuses_is_a_400_naming_the_token(client, sweep, filter_string,
                                                                token):
    with pytest.raises(MlflowException) as caught:
        client.search_runs([sweep[0]], filter_string)
    assert caught.value.error_code == "INVALID_PARAMETER_VALUE"
    assert f"near {token!r}" in caught.value.message
    assert "position" in caught.value.message
