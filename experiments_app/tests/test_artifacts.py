"""A run's artifacts: upload, list, download, and paths that try to escape."""

import pytest

pytestmark = [pytest.mark.django_db, pytest.mark.artifacts]


def upload(api, run_id, content=b"data", path="", name="file.bin"):
    from io import BytesIO

    stream = BytesIO(content)
    stream.name = name
    return api.post(f"/api/v1/runs/{run_id}/artifacts/", {"file": stream, "path": path},
                    format="multipart")


def test_it_stores_lists_and_downloads_artifacts(api, start_run, storage_files):
    run_id = start_run()["run_id"]
    assert upload(api, run_id, b"weights", "model/model.pkl").json() == {
        "path": "model/model.pkl", "size": 7}
    assert upload(api, run_id, b"a,b", "data/", name="eval.csv").json()["path"] == (
        "data/eval.csv")
    assert upload(api, run_id, b"x", name="notes.txt").json()["path"] == "notes.txt"
    assert storage_files.names() == [f"runs/{run_id}/data/eval.csv",
                                     f"runs/{run_id}/model/model.pkl",
                                     f"runs/{run_id}/notes.txt"]
    listed = api.get(f"/api/v1/runs/{run_id}/artifacts/").json()
    assert listed["files"] == [{"path": "data/eval.csv", "size": 3},
                               {"path": "model/model.pkl", "size": 7},
                               {"path": "notes.txt", "size": 1}]
    folder = api.get(f"/api/v1/runs/{run_id}/artifacts/?path=model").json()
    assert folder["files"] == [{"path": "model/model.pkl", "size": 7}]
    one = api.get(f"/api/v1/runs/{run_id}/artifacts/?path=model/model.pkl").json()
    assert one["files"] == [{"path": "model/model.pkl", "size": 7}]
    download = api.get(f"/api/v1/runs/{run_id}/artifacts/download/?path=model/model.pkl")
    assert download.status_code == 200
    assert b"".join(download.streaming_content) == b"weights"


def test_a_run_without_artifacts_lists_none(api, start_run):
    run_id = start_run()["run_id"]
    assert api.get(f"/api/v1/runs/{run_id}/artifacts/").json()["files"] == []


def test_a_missing_artifact_is_a_404(api, start_run):
    run_id = start_run()["run_id"]
    upload(api, run_id, b"x", "model/model.pkl")
    for path in ("nope.pkl", "model"):
        response = api.get(f"/api/v1/runs/{run_id}/artifacts/download/?path={path}")
        assert response.status_code == 404
        assert response.json()["code"] == "artifact_not_found"


@pytest.mark.parametrize("path", ["../escape.txt", "a/../../escape.txt", "/etc/escape.txt",
                                  "..\\escape.txt", "a\\b.txt", "a//b.txt"])
def test_paths_that_try_to_escape_are_refused(api, start_run, storage_files, path):
    run_id = start_run()["run_id"]
    response = upload(api, run_id, b"evil", path)
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_artifact_path"
    assert storage_files.names() == []
    assert api.get(f"/api/v1/runs/{run_id}/artifacts/download/",
                   {"path": path}).status_code == 400
    assert api.get(f"/api/v1/runs/{run_id}/artifacts/", {"path": path}).status_code == 400


def test_an_upload_cannot_reach_another_runs_artifacts(api, start_run, storage_files):
    first, second = start_run()["run_id"], start_run()["run_id"]
    upload(api, first, b"mine", "model.pkl")
    response = upload(api, second, b"theirs", f"../{first}/model.pkl")
    assert response.status_code == 400
    assert storage_files.read(f"runs/{first}/model.pkl") == b"mine"
