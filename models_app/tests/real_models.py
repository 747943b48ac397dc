"""Real fitted models of every framework, and their pickle and joblib files (tests, scripts)."""

from __future__ import annotations

import io
import pickle
from typing import Any

import numpy as np
import pandas as pd

JOBLIB_COMPRESSIONS: tuple[int | tuple[str, int], ...] = (
    0, ("zlib", 3), ("gzip", 3), ("bz2", 3), ("lzma", 3), ("xz", 3))


def real_models() -> dict[str, Any]:
    """Fitted models of every framework the allowlist covers, and objects they hold."""
    import lightgbm as lgb
    import scipy.sparse as sp
    import xgboost as xgb
    from sklearn import (
        calibration,
        cluster,
        compose,
        ensemble,
        impute,
        linear_model,
        mixture,
        multioutput,
        neighbors,
        pipeline,
        preprocessing,
        svm,
        tree,
    )

    rng = np.random.default_rng(0)
    x = rng.normal(size=(120, 4))
    y = (x[:, 0] + x[:, 1] > 0).astype(int)
    y3 = np.digitize(x[:, 0], [-0.5, 0.5])
    yr = x @ np.array([1.0, -2.0, 0.5, 0.0]) + rng.normal(scale=0.1, size=120)
    frame = pd.DataFrame(x, columns=["momentum", "value", "quality", "size"])
    frame["sector"] = rng.choice(["tech", "energy", "health"], size=120)
    frame["asof"] = pd.date_range("2024-01-01", periods=120, freq="D")
    group = [30, 30, 30, 30]
    out: dict[str, Any] = {}
    sk = {
        "LogisticRegression": linear_model.LogisticRegression().fit(x, y),
        "LinearRegression": linear_model.LinearRegression().fit(x, yr),
        "Ridge": linear_model.Ridge().fit(x, yr),
        "DecisionTreeClassifier": tree.DecisionTreeClassifier(max_depth=3).fit(x, y),
        "DecisionTreeRegressor": tree.DecisionTreeRegressor(max_depth=3).fit(x, yr),
        "KNeighborsClassifier": neighbors.KNeighborsClassifier().fit(x, y),
        "KNeighborsRegressor": neighbors.KNeighborsRegressor().fit(x, yr),
        "SVC": svm.SVC().fit(x, y),
        "SVR": svm.SVR().fit(x, yr),
        "GaussianMixture": mixture.GaussianMixture(2, random_state=0).fit(x),
        "KMeans": cluster.KMeans(3, n_init=2, random_state=0).fit(x),
        "StandardScaler": preprocessing.StandardScaler().fit(x),
        "MinMaxScaler": preprocessing.MinMaxScaler().fit(x),
        "OneHotEncoder": preprocessing.OneHotEncoder().fit(frame[["sector"]]),
        "LabelEncoder": preprocessing.LabelEncoder().fit(frame["sector"]),
        "SimpleImputer": impute.SimpleImputer().fit(x),
        "CalibratedClassifierCV": calibration.CalibratedClassifierCV(cv=3).fit(x, y),
        "LogisticRegressionOnFrame": linear_model.LogisticRegression().fit(frame.iloc[:, :4], y),
        "LogisticRegressionMulticlass": linear_model.LogisticRegression().fit(x, y3),
        "HistGradientBoostingMulticlass": ensemble.HistGradientBoostingClassifier(
            max_iter=5).fit(x, y3),
        "GradientBoostingMulticlass": ensemble.GradientBoostingClassifier(
            n_estimators=3).fit(x, y3),
        "RandomForestMulticlass": ensemble.RandomForestClassifier(n_estimators=3).fit(x, y3),
        "MultiOutputRegressor": multioutput.MultiOutputRegressor(
            ensemble.HistGradientBoostingRegressor(max_iter=5)).fit(x, np.c_[yr, -yr]),
    }
    for name in ("RandomForest", "ExtraTrees", "GradientBoosting", "HistGradientBoosting"):
        kwargs = {} if name == "HistGradientBoosting" else {"n_estimators": 5}
        if name == "HistGradientBoosting":
            kwargs = {"max_iter": 5}
        sk[f"{name}Classifier"] = getattr(ensemble, f"{name}Classifier")(**kwargs).fit(x, y)
        sk[f"{name}Regressor"] = getattr(ensemble, f"{name}Regressor")(**kwargs).fit(x, yr)
    sk["HistGradientBoostingCategorical"] = ensemble.HistGradientBoostingClassifier(
        max_iter=5, categorical_features="from_dtype").fit(
        frame[["momentum", "sector"]].astype({"sector": "category"}), y)
    sk["Pipeline"] = pipeline.Pipeline([
        ("columns", compose.ColumnTransformer([
            ("num", pipeline.make_pipeline(impute.SimpleImputer(),
                                           preprocessing.StandardScaler()),
             ["momentum", "value", "quality", "size"]),
            ("cat", preprocessing.OneHotEncoder(handle_unknown="ignore"), ["sector"]),
        ])),
        ("model", linear_model.LogisticRegression()),
    ]).fit(frame, y)
    out.update({f"sklearn.{k}": v for k, v in sk.items()})

    out["lightgbm.LGBMClassifier"] = lgb.LGBMClassifier(n_estimators=5, verbose=-1).fit(x, y)
    out["lightgbm.LGBMRegressor"] = lgb.LGBMRegressor(n_estimators=5, verbose=-1).fit(x, yr)
    out["lightgbm.LGBMRanker"] = lgb.LGBMRanker(n_estimators=5, verbose=-1,
                                                min_child_samples=5).fit(x, y, group=group)
    out["lightgbm.LGBMOnFrame"] = lgb.LGBMClassifier(n_estimators=5, verbose=-1).fit(
        frame[["momentum", "value", "sector"]].astype({"sector": "category"}), y)
    out["lightgbm.Booster"] = lgb.train({"verbose": -1}, lgb.Dataset(x, yr), 5)
    out["xgboost.XGBClassifier"] = xgb.XGBClassifier(n_estimators=5).fit(x, y)
    out["xgboost.XGBRegressor"] = xgb.XGBRegressor(n_estimators=5).fit(x, yr)
    out["xgboost.XGBRanker"] = xgb.XGBRanker(n_estimators=5).fit(x, yr.argsort() % 3,
                                                                group=group)
    out["xgboost.Booster"] = xgb.train({}, xgb.DMatrix(x, yr), 5)

    out["pandas.DataFrame"] = frame
    out["pandas.Series"] = frame["momentum"]
    out["pandas.Index"] = pd.Index(["a", "b"])
    out["pandas.RangeIndex"] = pd.RangeIndex(10)
    out["pandas.Categorical"] = pd.Categorical(["a", "b", "a"])
    out["pandas.tz_datetimes"] = pd.Series(pd.date_range("2024", periods=3, tz="UTC"))
    out["pandas.timedeltas"] = pd.Series(pd.to_timedelta([1, 2], unit="D"))
    out["pandas.MultiIndex"] = frame.set_index(["sector", "asof"]).iloc[:5]
    out["pandas.nullable"] = pd.DataFrame({"i": pd.array([1, None], dtype="Int64"),
                                           "s": pd.array(["a", None], dtype="string"),
                                           "b": pd.array([True, None], dtype="boolean")})
    dtypes = ["bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32",
              "uint64", "float16", "float32", "float64", "complex64", "complex128",
              "datetime64[ns]", "timedelta64[s]", "U5", "S5", "object"]
    out["numpy.arrays"] = {d: np.zeros(3, dtype=d) for d in dtypes}
    out["numpy.fortran"] = np.asfortranarray(np.ones((3, 2)))
    out["numpy.structured"] = np.zeros(2, dtype=[("a", "f8"), ("b", "i4")])
    out["numpy.scalars"] = [np.float64(1.5), np.int64(3), np.bool_(True), np.float32(2.0)]
    out["numpy.random"] = [np.random.default_rng(1), np.random.RandomState(1),
                           np.random.Generator(np.random.PCG64DXSM(2)),
                           np.random.Generator(np.random.Philox(3)),
                           np.random.Generator(np.random.SFC64(4)),
                           np.random.Generator(np.random.MT19937(5))]
    out["scipy.sparse"] = [sp.csr_matrix(np.eye(3)), sp.csc_matrix(np.eye(3)),
                           sp.coo_matrix(np.eye(3)), sp.csr_array(np.eye(3)),
                           sp.csc_array(np.eye(3)), sp.coo_array(np.eye(3))]
    out["python.builtins"] = {"set": {1, 2}, "frozenset": frozenset({1}), "bytes": b"ab",
                              "bytearray": bytearray(b"ab"), "complex": 1j,
                              "slice": slice(1, 2), "range": range(3)}
    from models_app.tests.platform.models import RegimeRanker

    columns = ["momentum", "value", "quality", "size"]
    out["platform.RegimeRanker"] = RegimeRanker(
        scaler=sk["StandardScaler"], regimes=sk["GaussianMixture"],
        rankers={0: out["lightgbm.LGBMRegressor"], 1: out["xgboost.XGBRegressor"]},
        columns=columns)
    out["platform.RegimeRanker"].forest = sk["RandomForestRegressor"]
    return out


def artifacts(obj: Any, *, protocols: tuple[int, ...] = (2, 4, 5)) -> list[tuple[str, str, bytes]]:
    """(variant, format, bytes): pickle protocols 2-5, joblib raw and compressed."""
    import joblib

    files = [(f"pickle-p{p}", "pickle", pickle.dumps(obj, protocol=p)) for p in (2, 3, 4, 5)]
    for compress in JOBLIB_COMPRESSIONS:
        for protocol in protocols:
            buffer = io.BytesIO()
            joblib.dump(obj, buffer, compress=compress, protocol=protocol)
            label = compress[0] if isinstance(compress, tuple) else "raw"
            files.append((f"joblib-{label}-p{protocol}", "joblib", buffer.getvalue()))
    return files


