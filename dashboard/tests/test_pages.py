"""The run, version, A/B test and experiment pages, opened by URL (query parameters set on
the AppTest) over the faked API."""

from __future__ import annotations

import pytest

from dashboard import links
from dashboard.tests.conftest import texts
from dashboard.tests.fake_api import RUN_A, TEST_ID, VERSIONS, Reply

RUN = {
    "run_id": RUN_A, "experiment_id": 3, "experiment": "ranking-sweep", "name": "lr=0.1",
    "status": "finished", "start_time": "2026-11-27T09:01:00Z",
    "end_time": "2026-11-27T09:02:00Z", "parent_run_id": None, "source": "", "user": "rita",
    "tags": {"team": "quant", "mlflow.note.content": "The first sweep point."},
    "params": {"lr": "0.1", "depth": "3"}, "metrics": {"auc": 0.71, "val_loss": "NaN"},
    "child_run_ids": [], "produced_versions": [
        {"model": "stock-ranking", "version": "1.1.0", "stage": "staging",
         "created_at": "2026-11-27T10:02:00Z"}],
}
SIGNATURE = {"inputs": [{"name": "f0", "type": "double"}, {"name": "f1", "type": "long"}]}


@pytest.fixture
def pages_api(fake_api):
    fake_api.routes[f"runs/{RUN_A}/"] = RUN
    fake_api.routes[f"runs/{RUN_A}/artifacts/"] = {"run_id": RUN_A, "path": "", "files": [
        {"path": "model/model.pkl", "size": 2048}, {"path": "notes.txt", "size": 12}]}
    fake_api.routes["models/stock-ranking/versions/1.1.0/"] = {
        **VERSIONS[0], "source_run_id": RUN_A, "signature": SIGNATURE,
        "input_example": [{"f0": 0.5, "f1": 3}], "description": "Candidate.",
        "available_transitions": []}
    fake_api.routes["experiments/3/"] = {
        "id": 3, "name": "ranking-sweep", "description": "LR sweep.", "tags": {"team": "q"},
        "archived": False, "created_at": "2026-11-27T09:00:00Z", "run_count": 2}
    return fake_api


def open_page(app, **params):
    from streamlit.testing.v1 import AppTest

    from dashboard.tests.conftest import APP

    at = AppTest.from_file(APP, default_timeout=30)
    for key, value in params.items():
        at.query_params[key] = value
    at.run()  # not app(at): an AppTest that has not run yet is falsy
    assert not at.exception, [e.value for e in at.exception]
    return at


def button(at, label: str):
    return next(b for b in at.button if b.label == label)


def markdown(at) -> str:
    return "\n".join(str(m.value) for m in at.markdown)


def test_the_links_name_each_page_by_its_query_parameters():
    assert links.run_url(RUN_A) == f"?run={RUN_A}"
    assert links.version_url("stock-ranking", "1.1.0") == "?model=stock-ranking&version=1.1.0"
    assert links.abtest_url(7) == "?abtest=7" and links.experiment_url(3) == "?experiment=3"
    assert links.version_url("a b", "#2") == "?model=a%20b&version=%232"
    assert links.page_of({"model": "x", "version": "1.0.0"}) == "version"
    assert links.page_of({}) is None
    assert links.anchor("<b>", "?run=1") == '<a href="?run=1" target="_self">&lt;b&gt;</a>'


def test_a_run_page_links_its_experiment_and_the_versions_registered_from_it(pages_api, app):
    at = open_page(app, run=RUN_A)
    assert not at.tabs  # a page, not the tabs
    shown = markdown(at)
    assert 'href="?experiment=3"' in shown
    assert 'href="?model=stock-ranking&amp;version=1.1.0"' in shown
    assert "The first sweep point." in shown
    params, metrics = at.dataframe[0].value, at.dataframe[1].value
    assert dict(zip(params["param"], params["value"], strict=True)) == {"depth": "3", "lr": "0.1"}
    assert dict(zip(metrics["metric"], metrics["value"], strict=True)) == {
        "auc": "0.71", "val_loss": "NaN"}


def test_a_run_page_lists_artifacts_with_downloads_and_offers_registration(pages_api, app):
    at = open_page(app, run=RUN_A)
    assert [c.value for c in at.code] == ["model/model.pkl", "notes.txt"]
    assert len(at.get("download_button")) == 2
    assert "Register this run's model" in texts(at)
    assert at.selectbox[0].options == ["model/model.pkl"]  # only model files


def test_many_artifacts_are_browsed_one_folder_at_a_time(pages_api, app):
    pages_api.routes[f"runs/{RUN_A}/artifacts/"] = {"run_id": RUN_A, "path": "", "files": [
        {"path": f"plots/p{i}.png", "size": 10} for i in range(25)] + [
        {"path": "model/model.pkl", "size": 2048}]}
    at = open_page(app, run=RUN_A)
    assert [c.value for c in at.code] == ["model/model.pkl"]
    at.selectbox(key=f"run_folder_{RUN_A}").set_value("plots")
    app(at)
    assert len(at.code) == 25 and at.code[0].value == "plots/p0.png"


def test_registering_the_runs_model_posts_to_the_registration_api(pages_api, app):
    pages_api.posts[f"runs/{RUN_A}/register-version/"] = Reply(201, {
        **VERSIONS[0], "version": "1.2.0"})
    at = open_page(app, run=RUN_A)
    at.text_input[0].set_value("stock-ranking")
    button(at, "Register version").click()
    app(at)
    (_, body), = pages_api.requests("POST", f"runs/{RUN_A}/register-version/")
    assert body == {"model": "stock-ranking", "artifact_path": "model/model.pkl",
                    "framework": "sklearn", "artifact_format": "pickle", "bump": "minor"}
    assert "Registered stock-ranking 1.2.0." in texts(at)
    assert 'href="?model=stock-ranking&amp;version=1.2.0"' in markdown(at)


def test_saving_a_runs_tags_deletes_the_removed_ones_and_sets_the_description(pages_api,
                                                                             app):
    pages_api.posts[f"runs/{RUN_A}/delete-tag/"] = Reply(200, {"tags": {}})
    pages_api.posts[f"runs/{RUN_A}/set-tag/"] = Reply(200, {"tags": {}})
    at = open_page(app, run=RUN_A)
    at.text_area[0].set_value("Better than lr=0.3.")
    button(at, "Save description and tags").click()
    app(at)
    # the data editor cannot be edited by AppTest; the unchanged tags stay, the note changes
    assert pages_api.requests("POST", f"runs/{RUN_A}/delete-tag/") == []
    (_, body), = pages_api.requests("POST", f"runs/{RUN_A}/set-tag/")
    assert body == {"tags": {"mlflow.note.content": "Better than lr=0.3."}}


def test_a_version_page_shows_signature_and_example_as_tables_and_links_its_run(pages_api,
                                                                               app):
    at = open_page(app, model="stock-ranking", version="1.1.0")
    assert f'href="?run={RUN_A}"' in markdown(at)
    assert 'href="?abtest=7"' in markdown(at)  # the A/B test it is the challenger of
    frames = [d.value for d in at.dataframe]
    signature = next(f for f in frames if "type" in f.columns)
    assert list(signature["name"]) == ["f0", "f1"] and list(signature["type"]) == [
        "double", "long"]
    example = next(f for f in frames if list(f.columns) == ["f0", "f1"])
    assert example.iloc[0].tolist() == [0.5, 3]
    assert len(at.get("download_button")) == 1


def test_a_version_named_by_its_sequence_number_opens_the_same_page(pages_api, app):
    pages_api.routes["models/stock-ranking/versions/"] = lambda request: (
        200, {"count": 1, "next": None, "previous": None, "results": [VERSIONS[0]]})
    at = open_page(app, model="stock-ranking", version="#2")
    query, _ = pages_api.requests("GET", "models/stock-ranking/versions/")[0]
    assert query["sequence"] == "2"
    assert any("stock-ranking 1.1.0" in str(h.value) for h in at.header)


def test_saving_a_version_patches_its_description_and_tags(pages_api, app):
    patched = []
    pages_api.patch("models/stock-ranking/versions/1.1.0/", patched)
    at = open_page(app, model="stock-ranking", version="1.1.0")
    at.text_area[0].set_value("Retrained on 2026 data.")
    button(at, "Save description and tags").click()
    app(at)
    assert patched == [{"description": "Retrained on 2026 data.", "tags": {"team": "quant"}}]


def test_an_unknown_version_is_a_message_with_the_url_scheme(pages_api, app):
    at = open_page(app, model="stock-ranking", version="9.9.9")
    assert "No version '9.9.9' of model 'stock-ranking'" in texts(at)
    assert "?model=<name>&version=<semver>" in texts(at)


def test_an_abtest_page_links_both_arms_versions(pages_api, app):
    at = open_page(app, abtest=str(TEST_ID))
    shown = markdown(at)
    assert 'href="?model=stock-ranking&amp;version=1.0.0"' in shown
    assert 'href="?model=stock-ranking&amp;version=1.1.0"' in shown
    assert any("ranking 1.1.0 vs 1.0.0" in str(h.value) for h in at.header)
    assert not any(str(m.value).startswith("### ") for m in at.markdown)  # titled once


def test_an_experiment_page_shows_its_runs_linked_and_saves_its_description(pages_api, app):
    patched = []
    pages_api.patch("experiments/3/", patched)
    at = open_page(app, experiment="3")
    runs = at.dataframe[0].value
    assert list(runs["run"]) == ["lr=0.1", "lr=0.3"]
    assert list(runs["page"])[0] == f"?run={RUN_A}"
    at.text_area[0].set_value("Learning-rate sweep.")
    button(at, "Save description and tags").click()
    app(at)
    assert patched == [{"description": "Learning-rate sweep.", "tags": {"team": "q"}}]


def test_a_page_that_is_not_there_says_so(pages_api, app):
    assert "No A/B test #99." in texts(open_page(app, abtest="99"))
    assert "named by its number" in texts(open_page(app, experiment="x"))
