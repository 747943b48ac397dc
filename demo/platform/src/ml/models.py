"""The platform's model classes (demo versions). Each takes a DataFrame of named feature
columns and answers a DataFrame: `prediction` and, for classifiers, `p_<class>` columns."""

from __future__ import annotations

from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd
import xgboost as xgb
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.mixture import GaussianMixture
from sklearn.preprocessing import StandardScaler


class PlatformModel:
    """What the platform's classes share: the feature names, in training order."""

    feature_names: list[str]

    def _features(self, frame: pd.DataFrame) -> pd.DataFrame:
        if not isinstance(frame, pd.DataFrame):
            raise TypeError(f"{type(self).__name__}.predict needs a DataFrame of named columns")
        return frame[self.feature_names]

    def params(self) -> dict[str, Any]:
        return {}


class StockRankingModel(PlatformModel):
    """Next month's return quintile (0..4) from factor scores: an ensemble of a LightGBM,
    an XGBoost and a logistic regression, kept in a dict by name."""

    def __init__(self, *, learning_rate: float = 0.1, n_estimators: int = 60,
                 num_leaves: int = 15, seed: int = 0):
        self.learning_rate, self.n_estimators, self.num_leaves = (learning_rate, n_estimators,
                                                                  num_leaves)
        self.seed = seed
        self.estimators: dict[str, Any] = {}
        self.feature_names = []
        self.classes: list[int] = []

    def fit(self, frame: pd.DataFrame, quintile: pd.Series,
            eval_set: tuple[pd.DataFrame, pd.Series] | None = None) -> StockRankingModel:
        self.feature_names = [str(c) for c in frame.columns]
        self.classes = sorted(int(c) for c in quintile.unique())
        self.estimators = {
            "lgbm": lgb.LGBMClassifier(learning_rate=self.learning_rate,
                                       n_estimators=self.n_estimators,
                                       num_leaves=self.num_leaves, n_jobs=1, verbose=-1,
                                       random_state=self.seed),
            "xgb": xgb.XGBClassifier(learning_rate=self.learning_rate,
                                     n_estimators=self.n_estimators, max_depth=3, n_jobs=1,
                                     random_state=self.seed),
            "logit": LogisticRegression(max_iter=500),
        }
        if eval_set:
            self.estimators["lgbm"].fit(frame, quintile, eval_X=(frame, eval_set[0]),
                                        eval_y=(quintile, eval_set[1]),
                                        eval_names=["training", "valid"])
            self.estimators["xgb"].fit(frame, quintile, eval_set=[(frame, quintile), eval_set],
                                       verbose=False)
        else:
            self.estimators["lgbm"].fit(frame, quintile)
            self.estimators["xgb"].fit(frame, quintile)
        self.estimators["logit"].fit(frame, quintile)
        return self

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray:
        x = self._features(frame)
        return np.mean([e.predict_proba(x) for e in self.estimators.values()], axis=0)

    def predict(self, frame: pd.DataFrame) -> pd.DataFrame:
        proba = self.predict_proba(frame)
        out = pd.DataFrame(proba, columns=[f"p_{c}" for c in self.classes], index=frame.index)
        out["prediction"] = np.asarray(self.classes)[proba.argmax(axis=1)]
        out["score"] = proba @ np.asarray(self.classes, dtype=float)
        return out

    def params(self) -> dict[str, Any]:
        return {"learning_rate": self.learning_rate, "n_estimators": self.n_estimators,
                "num_leaves": self.num_leaves, "ensemble": "lgbm+xgb+logit"}


class MarketRegimeModel(PlatformModel):
    """Bull, bear, sideways or crisis: market features scaled, a GaussianMixture's cluster
    posteriors added to them, and a random forest on both."""

    def __init__(self, *, n_components: int = 4, n_estimators: int = 60, max_depth: int = 6,
                 seed: int = 0):
        self.n_components, self.n_estimators, self.max_depth = n_components, n_estimators, \
            max_depth
        self.seed = seed
        self.scaler = StandardScaler()
        self.mixture = GaussianMixture(n_components=n_components, random_state=seed)
        self.forest = RandomForestClassifier(n_estimators=n_estimators, max_depth=max_depth,
                                             n_jobs=1, random_state=seed)
        self.feature_names = []

    def _design(self, x: pd.DataFrame) -> np.ndarray:
        scaled = self.scaler.transform(x.to_numpy())
        return np.hstack([scaled, self.mixture.predict_proba(scaled)])

    def fit(self, frame: pd.DataFrame, regime: pd.Series,
            eval_set: tuple[pd.DataFrame, pd.Series] | None = None) -> MarketRegimeModel:
        self.feature_names = [str(c) for c in frame.columns]
        scaled = self.scaler.fit_transform(frame.to_numpy())
        self.mixture.fit(scaled)
        self.forest.fit(self._design(frame), regime.to_numpy())
        return self

    def predict(self, frame: pd.DataFrame) -> pd.DataFrame:
        proba = self.forest.predict_proba(self._design(self._features(frame)))
        classes = [str(c) for c in self.forest.classes_]
        out = pd.DataFrame(proba, columns=[f"p_{c}" for c in classes], index=frame.index)
        out["prediction"] = np.asarray(classes, dtype=object)[proba.argmax(axis=1)]
        return out

    def params(self) -> dict[str, Any]:
        return {"n_components": self.n_components, "n_estimators": self.n_estimators,
                "max_depth": self.max_depth}


class EarningsSurpriseModel(PlatformModel):
    """Beat (1) or miss (0) of the consensus: one XGBoost classifier."""

    def __init__(self, *, learning_rate: float = 0.1, n_estimators: int = 80,
                 max_depth: int = 3, seed: int = 0):
        self.learning_rate, self.n_estimators, self.max_depth = (learning_rate, n_estimators,
                                                                 max_depth)
        self.seed = seed
        self.booster = xgb.XGBClassifier(learning_rate=learning_rate, n_estimators=n_estimators,
                                         max_depth=max_depth, n_jobs=1, random_state=seed)
        self.feature_names = []

    def fit(self, frame: pd.DataFrame, beat: pd.Series,
            eval_set: tuple[pd.DataFrame, pd.Series] | None = None) -> EarningsSurpriseModel:
        self.feature_names = [str(c) for c in frame.columns]
        evals = {"eval_set": [(frame, beat), eval_set]} if eval_set else {}
        self.booster.fit(frame, beat, verbose=False, **evals)
        return self

    def predict(self, frame: pd.DataFrame) -> pd.DataFrame:
        p_beat = self.booster.predict_proba(self._features(frame))[:, 1]
        return pd.DataFrame({"p_0": 1 - p_beat, "p_1": p_beat,
                             "prediction": (p_beat >= 0.5).astype(int)}, index=frame.index)

    def params(self) -> dict[str, Any]:
        return {"learning_rate": self.learning_rate, "n_estimators": self.n_estimators,
                "max_depth": self.max_depth}


class FactorTimingModel(PlatformModel):
    """Next month's return of each factor from macro features: a LightGBM regressor per
    factor, kept in a dict by factor."""

    def __init__(self, *, learning_rate: float = 0.1, n_estimators: int = 60,
                 num_leaves: int = 7, seed: int = 0):
        self.learning_rate, self.n_estimators, self.num_leaves = (learning_rate, n_estimators,
                                                                  num_leaves)
        self.seed = seed
        self.regressors: dict[str, lgb.LGBMRegressor] = {}
        self.feature_names = []

    def fit(self, frame: pd.DataFrame, returns: pd.DataFrame,
            eval_set: tuple[pd.DataFrame, pd.DataFrame] | None = None) -> FactorTimingModel:
        self.feature_names = [str(c) for c in frame.columns]
        self.regressors = {}
        for factor in returns.columns:
            evals: dict[str, Any] = ({"eval_X": (frame, eval_set[0]),
                      "eval_y": (returns[factor], eval_set[1][factor]),
                      "eval_names": ["training", "valid"]} if eval_set else {})
            self.regressors[str(factor)] = lgb.LGBMRegressor(
                learning_rate=self.learning_rate, n_estimators=self.n_estimators,
                num_leaves=self.num_leaves, n_jobs=1, verbose=-1, random_state=self.seed,
            ).fit(frame, returns[factor], **evals)
        return self

    def predict(self, frame: pd.DataFrame) -> pd.DataFrame:
        x = self._features(frame)
        return pd.DataFrame({factor: model.predict(x) for factor, model in self.regressors.items()},
                            index=frame.index)

    def params(self) -> dict[str, Any]:
        return {"learning_rate": self.learning_rate, "n_estimators": self.n_estimators,
                "num_leaves": self.num_leaves}
