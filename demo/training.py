"""The four Axion models as the platform writes them (demo/platform/src/ml: classes holding
LightGBM, XGBoost and scikit-learn estimators), trained in seconds on demo.synthetic data.

Their pickles reference `src.ml` classes, so serving needs PLATFORM_MODEL_PATHS=demo/platform
(scripts/run.py sets it), as it would need the real platform package's folder. Per-iteration
training and validation losses become the metric histories of an experiment run. No Django.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import (
    accuracy_score,
    brier_score_loss,
    f1_score,
    log_loss,
    mean_squared_error,
    r2_score,
    roc_auc_score,
)
from sklearn.model_selection import train_test_split
from threadpoolctl import threadpool_limits

from demo import synthetic
from models_app.vocabulary import Direction

ROWS = 3000
PLATFORM_PATH = Path(__file__).resolve().parent / "platform"


@dataclass
class Candidate:
    """A trained model with everything the registry records about it."""

    model: str
    estimator: Any
    params: dict[str, Any]
    metrics: dict[str, float]
    history: dict[str, list[float]] = field(default_factory=dict)
    signature: dict[str, Any] = field(default_factory=dict)
    input_example: list[dict[str, float]] = field(default_factory=list)
    holdout: pd.DataFrame | None = None  # features and label: an evaluation dataset


@dataclass(frozen=True)
class ModelSpec:
    name: str
    description: str
    task: str  # what the estimator predicts, for the signature's output column
    output_type: str
    metric_directions: dict[str, str]
    gates: dict[str, Any]
    baseline: dict[str, Any]  # hyperparameters of version 1.0.0
    sweep: list[dict[str, Any]]  # hyperparameters of the experiment's runs


SPECS: dict[str, ModelSpec] = {
    "stock-ranking": ModelSpec(
        "stock-ranking", "Ranks stocks by next month's return quintile from factor scores.",
        "quintile", "long", {"log_loss": Direction.LOWER},
        {"required_metrics": ["auc"], "thresholds": [{"metric": "auc", "op": ">=",
                                                      "value": 0.6}]},
        {"learning_rate": 0.3, "num_leaves": 3, "n_estimators": 15},
        [{"learning_rate": lr, "num_leaves": leaves, "n_estimators": 60}
         for lr, leaves in [(0.05, 7), (0.1, 7), (0.1, 15), (0.2, 7)]],
    ),
    "market-regime": ModelSpec(
        "market-regime", "Classifies the market as bull, bear, sideways or crisis.",
        "regime", "string", {"log_loss": Direction.LOWER},
        {"required_metrics": ["accuracy"], "thresholds": [
            {"metric": "accuracy", "op": ">=", "value": 0.5},
            {"metric": "accuracy", "op": ">=", "value": 0.5, "source": "verified"}]},
        {"n_components": 2, "n_estimators": 10, "max_depth": 2},
        [{"n_components": 4, "n_estimators": trees, "max_depth": depth}
         for trees, depth in [(30, 4), (60, 6), (60, 8)]],
    ),
    "earnings-surprise": ModelSpec(
        "earnings-surprise", "Predicts whether a company beats or misses earnings consensus.",
        "beat", "long", {"log_loss": Direction.LOWER, "brier": Direction.LOWER},
        {"required_metrics": ["auc"], "thresholds": [
            {"metric": "auc", "op": ">=", "value": 0.6},
            {"metric": "auc", "op": ">=", "value": 0.6, "source": "verified"}]},
        {"learning_rate": 0.3, "max_depth": 2, "n_estimators": 10},
        [{"learning_rate": lr, "max_depth": depth, "n_estimators": 80}
         for lr, depth in [(0.05, 2), (0.1, 3), (0.1, 5)]],
    ),
    "factor-timing": ModelSpec(
        "factor-timing", "Forecasts next month's return of each factor (a regressor per "
        "factor) from macro features.",
        "factor_returns", "double", {"rmse": Direction.LOWER, "r2": Direction.HIGHER},
        {"required_metrics": ["rmse"]},
        {"learning_rate": 0.3, "num_leaves": 3, "n_estimators": 10},
        [{"learning_rate": lr, "num_leaves": leaves, "n_estimators": 60}
         for lr, leaves in [(0.05, 7), (0.1, 7), (0.2, 15)]],
    ),
}


def platform_classes() -> dict[str, Any]:
    """The demo platform package's classes (put on sys.path here, as serving does)."""
    if str(PLATFORM_PATH) not in sys.path:
        sys.path.append(str(PLATFORM_PATH))
    from src.ml import (
        EarningsSurpriseModel,
        FactorTimingModel,
        MarketRegimeModel,
        StockRankingModel,
    )

    return {"stock-ranking": StockRankingModel, "market-regime": MarketRegimeModel,
            "earnings-surprise": EarningsSurpriseModel, "factor-timing": FactorTimingModel}


def _logloss_curves(train: list[float], valid: list[float]) -> dict[str, list[float]]:
    return {"train_loss": np.round(train, 6).tolist(), "val_loss": np.round(valid, 6).tolist()}


def _history(name: str, model: Any, x_test: pd.DataFrame, y_test: Any) -> dict[str, list[float]]:
    """Per-iteration training and validation loss, from the estimators' own eval logs."""
    if name == "stock-ranking":
        log = model.estimators["lgbm"].evals_result_
        return _logloss_curves(log["training"]["multi_logloss"], log["valid"]["multi_logloss"])
    if name == "earnings-surprise":
        log = model.booster.evals_result()
        return _logloss_curves(log["validation_0"]["logloss"], log["validation_1"]["logloss"])
    if name == "factor-timing":
        logs = [r.evals_result_ for r in model.regressors.values()]
        return _logloss_curves(np.mean([log["training"]["l2"] for log in logs], axis=0),
                               np.mean([log["valid"]["l2"] for log in logs], axis=0))
    # The regime forest: validation log loss of the first k trees' average, k = 1..n.
    design = model._design(x_test[model.feature_names])
    classes = list(model.forest.classes_)
    proba = np.zeros((len(x_test), len(classes)))
    valid = []
    for k, tree in enumerate(model.forest.estimators_, start=1):
        proba += tree.predict_proba(design)
        smoothed = np.clip(proba / k, 1e-6, 1)
        valid.append(log_loss(y_test, smoothed / smoothed.sum(axis=1, keepdims=True),
                              labels=classes))
    return _logloss_curves(valid, valid)


def _classifier_metrics(name: str, out: pd.DataFrame, y: pd.Series) -> dict[str, float]:
    columns = [c for c in out.columns if str(c).startswith("p_")]
    classes = [c[2:] for c in columns]
    proba = out[columns].to_numpy()
    predicted = out["prediction"].astype(str).to_numpy()
    truth = y.astype(str).to_numpy()
    metrics = {"accuracy": accuracy_score(truth, predicted),
               "log_loss": log_loss(truth, proba, labels=classes)}
    if name == "earnings-surprise":
        metrics["auc"] = roc_auc_score(y, proba[:, 1])
        metrics["brier"] = brier_score_loss(y, proba[:, 1])
    elif name == "stock-ranking":
        metrics["auc"] = roc_auc_score(truth, proba, multi_class="ovr", labels=classes)
        top = predicted == "4"
        metrics["top_quintile_precision"] = float((truth[top] == "4").mean()) if top.any() \
            else 0.0
    else:
        metrics["macro_f1"] = f1_score(truth, predicted, average="macro")
    return metrics


def train(name: str, params: dict[str, Any], *, seed: int = 0) -> Candidate:
    """Fit the model `name` with these hyperparameters on fresh synthetic data (seconds).

    One OpenMP thread: these fits are tiny, and on a busy small machine the boosting's
    spinning threads make them 10-20 times slower, not faster."""
    with threadpool_limits(limits=1, user_api="openmp"):
        return _train(name, params, seed)


def _train(name: str, params: dict[str, Any], seed: int) -> Candidate:
    rng = np.random.default_rng(seed)
    data = synthetic.GENERATORS[name](ROWS, rng)
    x_train, x_test, y_train, y_test = train_test_split(
        data.features, data.target, test_size=0.25, random_state=seed
    )
    model = platform_classes()[name](**params, seed=seed)
    model.fit(x_train, y_train, eval_set=(x_test, y_test))
    out = model.predict(x_test)
    holdout = None
    if name == "factor-timing":
        predicted = out[synthetic.FACTORS].to_numpy()
        metrics = {"rmse": float(np.sqrt(mean_squared_error(y_test, predicted))),
                   "r2": float(r2_score(y_test, predicted))}
    else:
        metrics = _classifier_metrics(name, out, y_test)
        holdout = x_test.assign(**{str(y_test.name): y_test.to_numpy()}).round(6)
    return Candidate(
        model=name, estimator=model, params={**params, **model.params()},
        metrics={k: round(float(v), 6) for k, v in metrics.items()},
        history=_history(name, model, x_test, y_test),
        input_example=x_test.head(3).round(4).to_dict(orient="records"), holdout=holdout,
    )
