"""The benign set: real models of every framework, pickled with protocols 2-5 and joblib-dumped
raw and in every compression, are admitted at upload and load through the restricted
unpicklers to exactly what pickle.loads / joblib.load give, predictions included."""

from __future__ import annotations

import io
import json
import pickle

import joblib
import numpy as np
import pandas as pd
import pytest

from models_app.safe_pickle import GlobalPolicy, UnsafePickle, check_file, load_file
from models_app.tests.real_models import artifacts, real_models

PLATFORM = "models_app.tests.platform"
# categorical_features="from_dtype" pickles functools.partial(check_array): see the allowlist.
REFUSED_ON_PURPOSE = "sklearn.HistGradientBoostingCategorical"
POLICY = GlobalPolicy(platform_packages=(PLATFORM,))
X = np.random.default_rng(2).normal(size=(6, 4))
FRAME = pd.DataFrame(X, columns=["momentum", "value", "quality", "size"]).assign(
    sector=["tech", "energy", "health"] * 2, asof=pd.date_range("2024-03-01", periods=6))


@pytest.fixture(scope="module")
def models():
    return real_models()


def _predictions(obj):
    if not hasattr(obj, "predict"):
        return None
    for sample in (X, FRAME, FRAME[["momentum", "value", "sector"]].astype(
            {"sector": "category"}), FRAME[["momentum", "sector"]].astype({"sector": "category"}),
            FRAME[["sector"]]):
        try:
            return np.asarray(obj.predict(sample))
        except Exception:  # noqa: BLE001 - try the next input shape
            continue
    return None


def _same(a, b, depth: int = 0) -> bool:
    """Deep equality of two loaded objects (their pickled bytes may differ: sklearn's tree
    nodes carry uninitialised padding)."""
    if depth > 60 or type(a) is not type(b):
        return depth <= 60 and False
    if isinstance(a, type) or callable(a) and not hasattr(a, "__dict__"):
        return a is b
    if isinstance(a, np.ndarray):
        if a.dtype != b.dtype or a.shape != b.shape:
            return False
        if a.dtype.names:
            return all(_same(a[n], b[n], depth + 1) for n in a.dtype.names)
        if a.dtype.hasobject:
            return all(_same(x, y, depth + 1) for x, y in zip(a.ravel(), b.ravel(), strict=True))
        return np.array_equal(a, b, equal_nan=a.dtype.kind in "fc")
    if isinstance(a, pd.DataFrame | pd.Series | pd.Index | pd.Categorical):
        return a.equals(b) if hasattr(a, "equals") else bool((a == b).all())
    if isinstance(a, float):
        return a == b or (a != a and b != b)
    if isinstance(a, str | bytes | int | bool | complex | type(None)):
        return a == b
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k], depth + 1) for k in a)
    if isinstance(a, list | tuple):
        return len(a) == len(b) and all(_same(x, y, depth + 1) for x, y in zip(a, b, strict=True))
    if isinstance(a, set | frozenset | range | slice):
        return a == b
    try:
        return _same(a.__reduce_ex__(4)[1:3], b.__reduce_ex__(4)[1:3], depth + 1)
    except TypeError:
        return pickle.dumps(a, 4) == pickle.dumps(b, 4)


def _plain(data: bytes, fmt: str):
    return joblib.load(io.BytesIO(data)) if fmt == "joblib" else pickle.loads(data)


@pytest.mark.slow
def test_every_real_model_in_every_format_is_admitted_and_loads_as_pickle_would(models):
    problems = []
    checked = 0
    for label, obj in models.items():
        if label == REFUSED_ON_PURPOSE:
            continue
        for variant, fmt, data in artifacts(obj, protocols=(4,)):
            try:
                check_file(io.BytesIO(data), fmt, POLICY)
                restricted = load_file(io.BytesIO(data), fmt, POLICY)
            except Exception as exc:  # noqa: BLE001 - collect every refusal
                problems.append((label, variant, f"{type(exc).__name__}: {exc}"))
                continue
            plain = _plain(data, fmt)
            if not _same(restricted, plain):
                problems.append((label, variant, "differs from the plain load"))
            expected = _predictions(plain)
            if expected is not None and not np.array_equal(_predictions(restricted), expected):
                problems.append((label, variant, "predicts differently"))
            checked += 1
    assert problems == []
    assert checked >= len(models) * 8


def test_a_model_that_pickles_functools_partial_is_refused_on_purpose(models):
    data = pickle.dumps(models[REFUSED_ON_PURPOSE])
    with pytest.raises(UnsafePickle, match="functools.partial"):
        check_file(io.BytesIO(data), "pickle", POLICY)
    extras = GlobalPolicy(extra_globals=frozenset({("functools", "partial"),
                                                   ("sklearn.utils.validation", "check_array")}))
    loaded = load_file(io.BytesIO(data), "pickle", extras)
    assert np.array_equal(_predictions(loaded), _predictions(pickle.loads(data)))


REPRESENTATIVES = ["sklearn.LogisticRegression", "sklearn.RandomForestClassifier",
                   "sklearn.HistGradientBoostingRegressor", "sklearn.Pipeline",
                   "lightgbm.LGBMClassifier", "lightgbm.Booster", "xgboost.XGBRanker",
                   "xgboost.Booster", "platform.RegimeRanker"]


@pytest.mark.django_db
def test_real_models_are_admitted_through_the_api_and_served_as_they_predict(
        models, api, settings):
    from models_app.models import ModelVersion
    from serving_app import loader

    settings.PLATFORM_MODEL_PACKAGE = [*settings.PLATFORM_MODEL_PACKAGE, PLATFORM]
    assert api.post("/api/v1/models/", {"name": "ranking"}, format="json").status_code == 201
    minor = 0
    for label in REPRESENTATIVES:
        obj = models[label]
        files = [("pickle", pickle.dumps(obj, protocol=5))]
        files += [("joblib", joblib_bytes(obj, compress=c)) for c in (0, ("zlib", 3), ("xz", 3))]
        for fmt, data in files:
            minor += 1
            artifact = io.BytesIO(data)
            artifact.name = f"model.{fmt}"
            response = api.post("/api/v1/models/ranking/versions/", {
                "artifact": artifact, "metadata": json.dumps({
                    "framework": label.split(".")[0].replace("platform", "custom"),
                    "artifact_format": fmt, "version": f"1.{minor}.0"})},
                format="multipart")
            assert response.status_code == 201, (label, fmt, response.json())
            row = ModelVersion.objects.get(version=f"1.{minor}.0")
            served = loader.load(loader.VersionRecord.from_row(row)).obj
            expected = _predictions(_plain(data, fmt))
            if expected is not None:
                assert np.array_equal(_predictions(served), expected), (label, fmt)


def joblib_bytes(obj, **kwargs) -> bytes:
    buffer = io.BytesIO()
    joblib.dump(obj, buffer, **kwargs)
    return buffer.getvalue()
