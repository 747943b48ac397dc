"""Artifacts in a real S3 wire-protocol server (moto's standalone server): multipart uploads,
the sha256 checked on every load, one download per host, a restart that needs no bucket."""

import hashlib
import io
import os
import pickle
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import boto3
import numpy as np
import pytest

from axion_registry.moto_s3 import MotoS3
from models_app import artifacts
from models_app.artifact_cache import ArtifactCache
from serving_app import loader
from serving_app.errors import ArtifactRefused

pytestmark = [pytest.mark.django_db, pytest.mark.artifacts]

REPO = Path(__file__).resolve().parents[2]
# One process of a host: Django set up from the environment alone, as gunicorn's or a
# worker's; it opens one artifact through the host's cache and prints whether it downloaded.
HOST_PROCESS = textwrap.dedent("""
    import os, sys, time
    import django
    django.setup()
    from models_app import artifacts
    name, sha256, start = sys.argv[1:4]
    while start != "-" and not os.path.exists(start):
        time.sleep(0.01)
    cached = artifacts.artifact_cached(name, sha256)
    with cached.file as stream:
        size = len(stream.read())
    print("filled" if cached.filled else "hit", size)
""")


def host_environment(server, bucket, prefix, cache_dir):
    env = dict(os.environ)
    env.update(server.environment(bucket))
    env.update({"AWS_LOCATION": prefix, "ARTIFACT_CACHE_DIR": str(cache_dir),
                "DJANGO_SETTINGS_MODULE": "axion_registry.settings"})
    return env


def host_process(env, name, sha256, start="-"):
    return subprocess.Popen([sys.executable, "-c", HOST_PROCESS, name, sha256, start],
                            cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)


def finished(process):
    out, err = process.communicate(timeout=120)
    assert process.returncode == 0, err[-2000:]
    return out.split()


@pytest.fixture
def large_pickle(sklearn_model):
    """A scikit-learn model carrying 10 MB of coefficients: over boto3's 8 MiB multipart
    threshold."""
    model = pickle.loads(pickle.dumps(sklearn_model))
    model.lookup_ = np.random.default_rng(3).random(1_300_000)
    return pickle.dumps(model)


def test_a_large_artifact_is_uploaded_in_parts_and_loads_back_verified(
        bucket, register_version, large_pickle, settings):
    version = register_version("1.0.0", artifact=io.BytesIO(large_pickle))
    key = f"/{bucket.bucket}/{bucket.prefix}/{version.artifact_path}"
    assert bucket.requests("POST", f"{key}?uploads") == 1  # CreateMultipartUpload
    assert bucket.requests("PUT", f"{key}?uploadId=") >= 2  # its parts

    loaded = loader.load(loader.VersionRecord.from_row(version))
    assert loaded.obj.lookup_.shape == (1_300_000,)
    cached = ArtifactCache(settings.ARTIFACT_CACHE_DIR, 10**9).entry(version.artifact_sha256)
    assert cached.read_bytes() == large_pickle


def test_an_object_changed_in_the_bucket_is_refused_on_load(
        bucket, register_version, settings, tmp_path):
    version = register_version("1.0.0")
    client = boto3.client("s3", endpoint_url=bucket.endpoint, region_name="us-east-1")
    client.put_object(Bucket=bucket.bucket, Key=f"{bucket.prefix}/{version.artifact_path}",
                      Body=pickle.dumps({"not": "the model"}))
    with pytest.raises(ArtifactRefused) as refused:
        loader.load(loader.VersionRecord.from_row(version))
    assert refused.value.code == "artifact_corrupted"
    assert not any((Path(settings.ARTIFACT_CACHE_DIR) / "sha256").iterdir())


def test_an_object_missing_from_the_bucket_is_refused_on_load(bucket, register_version):
    version = register_version("1.0.0")
    artifacts.artifact_delete(version.artifact_path)
    with pytest.raises(ArtifactRefused) as refused:
        loader.load(loader.VersionRecord.from_row(version))
    assert refused.value.code == "artifact_missing"


def test_the_processes_of_one_host_download_an_artifact_once(bucket, register_version,
                                                             tmp_path):
    version = register_version("1.0.0")
    key = f"/{bucket.bucket}/{bucket.prefix}/{version.artifact_path}"
    env = host_environment(bucket, bucket.bucket, bucket.prefix, tmp_path / "host-cache")
    start = tmp_path / "start"
    processes = [host_process(env, version.artifact_path, version.artifact_sha256, str(start))
                 for _ in range(4)]
    time.sleep(3)  # let every process set Django up and wait at the start line
    start.touch()
    answers = [finished(process) for process in processes]
    assert sorted(kind for kind, _ in answers) == ["filled", "hit", "hit", "hit"]
    assert {int(size) for _, size in answers} == {version.artifact_size}
    assert bucket.requests("GET", key) == 1


def test_a_restarted_process_loads_from_the_host_cache_with_the_bucket_gone(tmp_path):
    server = MotoS3(log=tmp_path / "moto.log").start()
    try:
        server.create_bucket("restart")
        data = os.urandom(300_000)
        client = boto3.client("s3", endpoint_url=server.endpoint, region_name="us-east-1",
                              aws_access_key_id="k", aws_secret_access_key="s")
        client.put_object(Bucket="restart", Key="p/m/1.0.0/model.bin", Body=data)
        sha256 = hashlib.sha256(data).hexdigest()
        env = host_environment(server, "restart", "p", tmp_path / "host-cache")
        assert finished(host_process(env, "m/1.0.0/model.bin", sha256)) == ["filled", "300000"]
    finally:
        server.stop()
    downloads = server.requests("GET", "/restart/p/m/1.0.0/model.bin")
    assert downloads == 1
    assert finished(host_process(env, "m/1.0.0/model.bin", sha256)) == ["hit", "300000"]
