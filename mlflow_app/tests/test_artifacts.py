"""Proxied artifacts (mlflow-artifacts:/) through Axion's storage, read back by Axion's API."""

from __future__ import annotations

import hashlib
import json

import pytest
import requests
from mlflow.exceptions import MlflowException

# the client raises requests' HTTPError for artifact calls, with our JSON body in its text
CLIENT_ERRORS = (MlflowException, requests.HTTPError)
pytestmark = pytest.mark.artifacts


@pytest.fixture
def run_id(tracking):
    tracking.set_experiment("ranking-lgbm")
    run = tracking.start_run()
    yield run.info.run_id
    tracking.end_run()


def test_log_artifact_and_log_dict_land_in_the_runs_axion_artifacts(tracking, client, api,
                                                                     run_id, tmp_path):
    report = tmp_path / "report.txt"
    report.write_text("auc 0.71\n")
    tracking.log_artifact(str(report))
    tracking.log_artifact(str(report), artifact_path="reports/daily")
    tracking.log_dict({"features": ["a", "b"]}, "config/features.json")
    files = api.get(f"/api/v1/runs/{run_id}/artifacts/").json()["files"]
    assert [f["path"] for f in files] == [
        "config/features.json", "report.txt", "reports/daily/report.txt"]
    top = client.list_artifacts(run_id)
    assert [(f.path, f.is_dir) for f in top] == [
        ("config", True), ("report.txt", False), ("reports", True)]
    assert top[1].file_size == len("auc 0.71\n")
    assert [f.path for f in client.list_artifacts(run_id, "reports/daily")] == [
        "reports/daily/report.txt"]
    local = client.download_artifacts(run_id, "config/features.json", str(tmp_path / "out"))
    assert json.loads(open(local).read()) == {"features": ["a", "b"]}
    folder = tracking.artifacts.download_artifacts(run_id=run_id, artifact_path="reports",
                                                   dst_path=str(tmp_path / "all"))
    assert open(f"{folder}/daily/report.txt").read() == "auc 0.71\n"
    axion = api.get(f"/api/v1/runs/{run_id}/artifacts/download/",
                    {"path": "reports/daily/report.txt"})
    assert b"".join(axion.streaming_content) == b"auc 0.71\n"


def test_a_large_artifact_streams_both_ways(tracking, client, run_id, tmp_path):
    big = tmp_path / "weights.bin"
    chunk = bytes(range(256)) * 4096  # 1 MiB
    with open(big, "wb") as out:
        for _ in range(24):
            out.write(chunk)
    tracking.log_artifact(str(big))
    local = client.download_artifacts(run_id, "weights.bin", str(tmp_path / "back"))
    digest = hashlib.sha256(open(local, "rb").read()).hexdigest()
    assert digest == hashlib.sha256(big.read_bytes()).hexdigest()


def test_an_upload_over_the_limit_is_refused(tracking, run_id, tmp_path, settings):
    settings.MAX_ARTIFACT_BYTES = 1000
    big = tmp_path / "big.bin"
    big.write_bytes(b"x" * 5000)
    with pytest.raises(CLIENT_ERRORS) as caught:
        tracking.log_artifact(str(big))
    assert "RESOURCE_EXHAUSTED" in str(caught.value) and "limit" in str(caught.value)


@pytest.mark.parametrize("path", [
    "runs/{run_id}/%2e%2e/%2e%2e/secrets.txt",
    "runs/{run_id}/a/%2e%2e/%2e%2e/x",
    "runs/{run_id}/a%5cb",
    "runs/{run_id}//etc/passwd",
])
def test_paths_that_escape_the_run_are_refused(live_server, run_id, token_for, researcher,
                                               storage_files, path):
    url = f"{live_server.url}/api/2.0/mlflow-artifacts/artifacts/{path.format(run_id=run_id)}"
    headers = {"Authorization": f"Bearer {token_for(researcher)}"}
    response = requests.put(url, data=b"x", headers=headers, timeout=10)
    assert response.status_code in (400, 404), response.text
    assert response.json()["error_code"] in ("INVALID_PARAMETER_VALUE", "RESOURCE_DOES_NOT_EXIST")
    assert not storage_files.named("secrets.txt") and not storage_files.named("x")
    listing = requests.get(f"{live_server.url}/api/2.0/mlflow-artifacts/artifacts",
                           params={"path": f"runs/{run_id}/../.."}, headers=headers, timeout=10)
    assert listing.status_code == 400
    assert listing.json()["error_code"] == "INVALID_PARAMETER_VALUE"


def test_only_the_runs_owner_uploads_but_anyone_signed_in_reads(
        tracking, client, run_id, tmp_path, as_user, make_user, researcher):
    note = tmp_path / "note.txt"
    note.write_text("mine")
    tracking.log_artifact(str(note))
    as_user(make_user("otto_other"))
    with pytest.raises(CLIENT_ERRORS) as caught:
        client.log_artifact(run_id, str(note), artifact_path="theirs")
    assert "PERMISSION_DENIED" in str(caught.value)
    local = client.download_artifacts(run_id, "note.txt", str(tmp_path / "read"))
    assert open(local).read() == "mine"
    as_user(researcher)  # she ends her run


def test_a_missing_artifact_is_a_404(client, run_id, tmp_path, live_server, token_for,
                                     researcher):
    with pytest.raises(CLIENT_ERRORS):
        client.download_artifacts(run_id, "nope.txt", str(tmp_path))
    response = requests.get(
        f"{live_server.url}/api/2.0/mlflow-artifacts/artifacts/runs/{run_id}/nope.txt",
        headers={"Authorization": f"Bearer {token_for(researcher)}"}, timeout=10)
    assert response.status_code == 404
    assert response.json()["error_code"] == "RESOURCE_DOES_NOT_EXIST"


def test_an_upload_without_content_length_is_refused(live_server, run_id, token_for,
                                                      researcher, storage_files):
    url = f"{live_server.url}/api/2.0/mlflow-artifacts/artifacts/runs/{run_id}/chunked.bin"
    response = requests.put(url, data=iter([b"abc", b"def"]), timeout=10,
                            headers={"Authorization": f"Bearer {token_for(researcher)}"})
    assert response.status_code == 400
    assert "Content-Length" in response.json()["message"]
    assert not storage_files.named("chunked.bin")


def test_with_proxy_multipart_enabled_the_client_falls_back_to_one_streamed_upload(
        tracking, client, run_id, tmp_path, monkeypatch):
    """The client asks for a multipart upload first when told to (as for an S3-backed
    `mlflow server`); Axion answers as `mlflow server` with a local store does, so the
    client sends the file in one streamed PUT instead of failing."""
    monkeypatch.setenv("MLFLOW_ENABLE_PROXY_MULTIPART_UPLOAD", "true")
    monkeypatch.setenv("MLFLOW_MULTIPART_UPLOAD_MINIMUM_FILE_SIZE", "1024")
    monkeypatch.setenv("MLFLOW_MULTIPART_UPLOAD_CHUNK_SIZE", "5242880")
    big = tmp_path / "weights.bin"
    big.write_bytes(bytes(range(256)) * 4096 * 3)  # 3 MiB
    tracking.log_artifact(str(big))
    local = client.download_artifacts(run_id, "weights.bin", str(tmp_path / "back"))
    assert open(local, "rb").read() == big.read_bytes()


def test_multipart_steps_answer_not_implemented_in_mlflows_shape(live_server, token_for,
                                                                 researcher):
    from mlflow.exceptions import _UnsupportedMultipartUploadException

    base = f"{live_server.url}/api/2.0/mlflow-artifacts/mpu"
    for step in ("create", "complete", "abort"):
        anonymous = requests.post(f"{base}/{step}/runs/abc/w.bin", json={}, timeout=10)
        assert anonymous.status_code == 401
        answer = requests.post(f"{base}/{step}/runs/abc/w.bin", json={"path": "w.bin"},
                               headers={"Authorization": f"Bearer {token_for(researcher)}"},
                               timeout=10)
        assert answer.status_code == 501
        assert answer.json()["error_code"] == "NOT_IMPLEMENTED"
        assert answer.json()["message"].startswith(
            _UnsupportedMultipartUploadException.MESSAGE)
