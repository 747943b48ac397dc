"""A logged model's files through the proxied artifact API: a large file streams both ways
with bounded memory, and paths that could leave the model's folder are refused."""

from __future__ import annotations

import hashlib
import os
import tracemalloc

import pytest
import requests

MIB = 1024 * 1024


@pytest.fixture
def logged(tracking, client):
    tracking.set_experiment("ranking-files")
    run = tracking.start_run()
    model = client.create_logged_model(run.info.experiment_id, name="big",
                                       source_run_id=run.info.run_id)
    yield model
    tracking.end_run()


def test_a_50_mb_model_file_streams_both_ways_in_bounded_memory(tracking, client, logged,
                                                                tmp_path, storage_files):
    folder = tmp_path / "model"
    folder.mkdir()
    digest = hashlib.sha256()
    with open(folder / "weights.bin", "wb") as out:
        for _ in range(50):
            chunk = os.urandom(MIB)
            digest.update(chunk)
            out.write(chunk)
    tracemalloc.start()
    try:
        client.log_model_artifacts(logged.model_id, str(folder))
        local = tracking.artifacts.download_artifacts(
            artifact_uri=f"{logged.artifact_location}/weights.bin", dst_path=str(tmp_path / "b"))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # server and client share this process: neither held the file whole
    print(f"peak traced memory {peak / MIB:.1f} MiB for a 50 MiB file up and down")
    assert peak < 12 * MIB, f"peak {peak / MIB:.1f} MiB"
    stored = logged.artifact_location.removeprefix("mlflow-artifacts:/")
    assert storage_files.size(f"{stored}/weights.bin") == 50 * MIB
    back = hashlib.sha256()
    with open(local, "rb") as stream:
        while chunk := stream.read(MIB):
            back.update(chunk)
    assert back.hexdigest() == digest.hexdigest()
    listed = client.list_logged_model_artifacts(logged.model_id)
    assert [(f.path, f.file_size) for f in listed] == [("weights.bin", 50 * MIB)]


@pytest.mark.parametrize("tail", [
    "%2e%2e/%2e%2e/%2e%2e/secrets.txt",
    "a/%2e%2e/%2e%2e/x",
    "a%5cb",
    "/etc/passwd",
    "..%2f..%2fx",
])
def test_paths_that_leave_the_logged_models_folder_are_refused(live_server, logged, token_for,
                                                               researcher, storage_files, tail):
    root = logged.artifact_location.removeprefix("mlflow-artifacts:/")
    headers = {"Authorization": f"Bearer {token_for(researcher)}"}
    base = f"{live_server.url}/api/2.0/mlflow-artifacts/artifacts"
    response = requests.put(f"{base}/{root}/{tail}", data=b"x", headers=headers, timeout=10)
    assert response.status_code in (400, 404), response.text
    assert response.json()["error_code"] in ("INVALID_PARAMETER_VALUE", "RESOURCE_DOES_NOT_EXIST")
    assert not storage_files.named("secrets.txt") and not storage_files.named("x")
    assert not storage_files.named("passwd")
    listing = requests.get(base, params={"path": f"{root}/../.."}, headers=headers, timeout=10)
    assert listing.status_code == 400
    assert listing.json()["error_code"] == "INVALID_PARAMETER_VALUE"


def test_a_logged_model_is_only_under_its_own_experiment(live_server, logged, token_for,
                                                         researcher, storage_files):
    headers = {"Authorization": f"Bearer {token_for(researcher)}"}
    wrong = f"experiments/999/models/{logged.model_id}/artifacts/x.bin"
    response = requests.put(f"{live_server.url}/api/2.0/mlflow-artifacts/artifacts/{wrong}",
                            data=b"x", headers=headers, timeout=10)
    assert response.status_code == 404
    assert response.json()["error_code"] == "RESOURCE_DOES_NOT_EXIST"
    assert not storage_files.named("x.bin")


def test_only_the_models_creator_uploads_its_files(tracking, client, logged, tmp_path, as_user,
                                                   make_user, researcher):
    from mlflow.exceptions import MlflowException

    note = tmp_path / "note.txt"
    note.write_text("mine")
    as_user(make_user("otto_other"))
    from mlflow.tracking import _tracking_service

    _tracking_service.utils._artifact_repos_cache.clear()
    with pytest.raises((MlflowException, requests.HTTPError)) as caught:
        client.log_model_artifacts(logged.model_id, str(tmp_path))
    assert "PERMISSION_DENIED" in str(caught.value)
    as_user(researcher)
