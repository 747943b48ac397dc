"""The hostile corpus at upload: every file of every builder is refused through the API with
a 400 that names the global or the reason, and nothing is stored. The corpus is live: each
payload really runs when its file is loaded without restriction."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from models_app.models import ModelVersion
from models_app.tests.hostile import pickles
from models_app.tests.test_api_registry import upload

ROOT = Path(__file__).resolve().parents[2]

UNRESTRICTED = r"""
import copyreg, json, pickle, sys, time
from pathlib import Path
import joblib
import numpy as np

marker, secret, ext_code = Path(sys.argv[1]), sys.argv[2].encode(), int(sys.argv[3])
copyreg.add_extension("os", "system", ext_code)
ran = {}
for name, fmt, path in json.loads(sys.stdin.read()):
    obj = None
    try:
        if fmt == "joblib":
            obj = joblib.load(path)
        else:
            with open(path, "rb") as stream:
                while True:  # a loader that reads on after STOP
                    obj = pickle.load(stream)
    except BaseException:
        pass
    deadline = time.monotonic() + 5
    while "popen" in name and not marker.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    leaked = False
    for probe in (lambda: pickle.dumps(obj), lambda: obj.predict(np.zeros((1, 4))).tobytes(),
                  lambda: bytes(obj.predict(np.zeros((1, 4))).astype(np.uint8).ravel())):
        try:
            leaked = leaked or secret in probe()
        except BaseException:
            pass
    ran[name] = marker.exists() or leaked
    marker.unlink(missing_ok=True)
print(json.dumps(ran))
"""


@pytest.fixture
def ranking(api):
    response = api.post("/api/v1/models/", {"name": "ranking"}, format="json")
    assert response.status_code == 201
    return response.json()


def test_the_pickle_corpus_holds_at_least_25_files_of_every_cause(hostile_corpus):
    _, files = hostile_corpus
    mine = [f for f in files if f.artifact_format in ("pickle", "joblib")]
    assert len(mine) >= 25
    assert {f.artifact_format for f in mine} == {"pickle", "joblib"}
    assert all(f.path.exists() and f.cause for f in mine)


@pytest.mark.slow
def test_every_pickle_payload_runs_when_loaded_without_restriction(hostile_corpus):
    """Proof that the corpus is dangerous: plain pickle.load and joblib.load, in a
    throwaway process, run (or leak through) every single file."""
    marker, files = hostile_corpus
    mine = [(f.name, f.artifact_format, str(f.path)) for f in files
            if f.artifact_format in ("pickle", "joblib")]
    result = subprocess.run(
        [sys.executable, "-c", UNRESTRICTED, str(marker), pickles.SECRET.decode(),
         str(pickles.EXT_CODE)],
        input=json.dumps(mine), capture_output=True, text=True, cwd=ROOT, timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    ran = json.loads(result.stdout.strip().splitlines()[-1])
    assert [name for name, did in ran.items() if not did] == []


def test_every_hostile_file_is_refused_at_upload_and_nothing_is_stored(
        hostile_corpus, api, ranking, artifact_root):
    marker, files = hostile_corpus
    problems = []
    for hostile in files:
        response = upload(api, content=hostile.path.read_bytes(),
                          artifact_format=hostile.artifact_format,
                          framework=hostile.framework)
        body = response.json()
        if response.status_code != 400 or not body.get("message"):
            problems.append((hostile.name, response.status_code, body))
        elif hostile.artifact_format in ("pickle", "joblib") and (
                body["code"] != "disallowed_pickle" or "refused" not in body["message"]):
            problems.append((hostile.name, body))
        if pickles.SECRET.decode() in response.content.decode("utf-8", "replace"):
            problems.append((hostile.name, "the secret leaked into the answer"))
    assert problems == []
    assert not ModelVersion.objects.exists()
    assert [p for p in artifact_root.rglob("*") if p.is_file()] == []
    assert not marker.exists()


EXPECTED_REASONS = {
    "pickle-reduce-os-system": "os.system",
    "pickle-dotted-stack-global": "sklearn.os.system",
    "pickle-dotted-global-opcode": "sklearn.os.system",
    "pickle-dotted-through-allowed-class": "np.testing.runstring",
    "pickle-memo-confusion": "os.system",
    "pickle-memo-out-of-order": "os.system",
    "pickle-computed-stack-global": "computed",
    "pickle-garbage-prefix": "os.system",
    "pickle-scanner-unparseable-prefix": "not a readable pickle/joblib file",
    "pickle-inst-opcode": "os.system",
    "pickle-obj-opcode": "os.system",
    "pickle-ext-opcode": "EXT4",
    "pickle-build-setattr-on-allowed-function": "sets attributes",
    "pickle-reconstructor-popen": "subprocess.Popen",
    "pickle-numpy-fromfile-leak": "numpy.fromfile",
    "pickle-numpy-load-nested": "numpy.load",
    "pickle-numpy-testing-runstring": "runstring",
    "pickle-numpy-testing-public-runstring": "numpy.testing.runstring",
    "pickle-sklearn-testing-script": "sklearn.utils._testing",
    "pickle-pandas-read-pickle": "pandas.read_pickle",
    "pickle-nested-pickle-loads": "pickle.loads",
    "pickle-nested-c-pickle-loads": "_pickle.loads",
    "pickle-builtins-getattr-import": "builtins.getattr",
    "pickle-builtins-eval": "builtins.eval",
    "pickle-runpy-run-code": "runpy._run_code",
    "pickle-pydoc-locate": "pydoc.locate",
    "pickle-importlib-import-module": "importlib.import_module",
    "pickle-timeit-statement": "timeit.timeit",
    "pickle-functools-partial-wrapper": "functools.partial",
    "pickle-platform-function": "a function of the platform model package",
    "pickle-platform-reexport-os-system": "platform model package",
    "pickle-platform-reexport-popen": "subprocess.Popen re-exported",
    "pickle-protocol5-out-of-band": "os.system",
    "pickle-payload-after-stop": "bytes after the end",
    "joblib-payload-after-first-array": "os.system",
    "joblib-compressed-zlib": "os.system",
    "joblib-compressed-gzip": "os.system",
    "joblib-compressed-bz2": "os.system",
    "joblib-compressed-lzma": "os.system",
    "joblib-compressed-xz": "os.system",
    "joblib-object-array-nested-pickle": "os.system",
    "joblib-object-array-compressed": "os.system",
    "joblib-ndarraywrapper-filename": "NDArrayWrapper",
    "joblib-zndarraywrapper-leak": "ZNDArrayWrapper",
    "joblib-plain-pickle-payload": "os.system",
    "joblib-numpy-fromfile-leak": "numpy.fromfile",
}


def test_each_pickle_refusal_names_the_global_or_the_reason(hostile_corpus, register_version):
    from models_app.errors import DisallowedPickle

    _, files = hostile_corpus
    mine = {f.name: f for f in files if f.artifact_format in ("pickle", "joblib")}
    assert set(mine) == set(EXPECTED_REASONS)
    wrong = {}
    for name, hostile in mine.items():
        with pytest.raises(DisallowedPickle) as refused:
            register_version(artifact=hostile.path.open("rb"),
                             artifact_format=hostile.artifact_format)
        message = refused.value.message.replace("posix.system", "os.system")
        if EXPECTED_REASONS[name] not in message:
            wrong[name] = message
    assert wrong == {}
