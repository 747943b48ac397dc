"""Quick sklearn models for the four Axion models, trained on demo.synthetic data.

Every estimator is a stock sklearn class, so its pickle passes the registry's allowlist
(sklearn / numpy / pandas). Boosted models train with early stopping, and their per-iteration
training and validation losses become the metric histories of an experiment run. No Django.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
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
from sklearn.multioutput import MultiOutputRegressor
from threadpoolctl import threadpool_limits

from demo import synthetic

ROWS = 3000


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
    framework: str = "sklearn"


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
        "quintile", "long", {"log_loss": "lower"},
        {"required_metrics": ["auc"], "thresholds": [{"metric": "auc", "op": ">=",
                                                      "value": 0.6}]},
        {"learning_rate": 0.2, "max_depth": 2, "max_iter": 40},
        [{"learning_rate": lr, "max_depth": depth, "max_iter": 120}
         for lr, depth in [(0.05, 3), (0.1, 3), (0.1, 5), (0.2, 4)]],
    ),
    "market-regime": ModelSpec(
        "market-regime", "Classifies the market as bull, bear, sideways or crisis.",
        "regime", "string", {"log_loss": "lower"},
        {"required_metrics": ["accuracy"], "thresholds": [{"metric": "accuracy", "op": ">=",
                                                           "value": 0.5}]},
        {"learning_rate": 0.3, "max_depth": 2, "max_iter": 20},
        [{"learning_rate": lr, "max_depth": depth, "max_iter": 100}
         for lr, depth in [(0.05, 3), (0.1, 4), (0.2, 3)]],
    ),
    "earnings-surprise": ModelSpec(
        "earnings-surprise", "Predicts whether a company beats or misses earnings consensus.",
        "beat", "long", {"log_loss": "lower", "brier": "lower"},
        {"required_metrics": ["auc"], "thresholds": [{"metric": "auc", "op": ">=",
                                                      "value": 0.6}]},
        {"learning_rate": 0.3, "max_depth": 2, "max_iter": 15},
        [{"learning_rate": lr, "max_depth": depth, "max_iter": 120}
         for lr, depth in [(0.05, 2), (0.1, 3), (0.1, 6)]],
    ),
    "factor-timing": ModelSpec(
        "factor-timing", "Forecasts next month's return of each factor (a regressor per "
        "factor) from macro features.",
        "factor_returns", "double", {"rmse": "lower", "r2": "higher"},
        {"required_metrics": ["rmse"]},
        {"learning_rate": 0.3, "max_depth": 2, "max_iter": 15},
        [{"learning_rate": lr, "max_depth": depth, "max_iter": 100}
         for lr, depth in [(0.05, 3), (0.1, 3), (0.2, 5)]],
    ),
}


def _boosted(params: dict[str, Any], regressor: bool, seed: int) -> Any:
    cls = HistGradientBoostingRegressor if regressor else HistGradientBoostingClassifier
    return cls(
        learning_rate=params["learning_rate"], max_depth=params["max_depth"],
        max_iter=params["max_iter"], early_stopping=True, scoring="loss",
        validation_fraction=0.2, n_iter_no_change=8, random_state=seed,
    )


def _curves(estimators: list[Any]) -> dict[str, list[float]]:
    """Training and validation loss per boosting iteration (averaged over estimators)."""
    length = min(len(e.validation_score_) for e in estimators)
    train = np.mean([-e.train_score_[:length] for e in estimators], axis=0)
    valid = np.mean([-e.validation_score_[:length] for e in estimators], axis=0)
    return {"train_loss": train.round(6).tolist(), "val_loss": valid.round(6).tolist()}


def _classifier_metrics(name: str, estimator: Any, x: pd.DataFrame, y: pd.Series
                        ) -> dict[str, float]:
    proba = estimator.predict_proba(x)
    predicted = estimator.predict(x)
    metrics = {"accuracy": accuracy_score(y, predicted),
               "log_loss": log_loss(y, proba, labels=estimator.classes_)}
    if name == "earnings-surprise":
        metrics["auc"] = roc_auc_score(y, proba[:, 1])
        metrics["brier"] = brier_score_loss(y, proba[:, 1])
    elif name == "stock-ranking":
        metrics["auc"] = roc_auc_score(y, proba, multi_class="ovr", labels=estimator.classes_)
        top = predicted == 4
        metrics["top_quintile_precision"] = float((y[top] == 4).mean()) if top.any() else 0.0
    else:
        metrics["macro_f1"] = f1_score(y, predicted, average="macro")
    return metrics


def train(name: str, params: dict[str, Any], *, seed: int = 0) -> Candidate:
    """Fit the model `name` with these hyperparameters on fresh synthetic data (seconds).

    One OpenMP thread: these fits are tiny, and on a busy small machine the boosting's
    spinning threads make them 10-20 times slower, not faster."""
    with threadpool_limits(limits=1, user_api="openmp"):
        return _train(name, params, seed)


def _train(name: str, params: dict[str, Any], seed: int) -> Candidate:
    spec = SPECS[name]
    rng = np.random.default_rng(seed)
    data = synthetic.GENERATORS[name](ROWS, rng)
    x_train, x_test, y_train, y_test = train_test_split(
        data.features, data.target, test_size=0.25, random_state=seed
    )
    if name == "factor-timing":
        estimator = MultiOutputRegressor(_boosted(params, True, seed)).fit(x_train, y_train)
        predicted = estimator.predict(x_test)
        metrics = {"rmse": float(np.sqrt(mean_squared_error(y_test, predicted))),
                   "r2": float(r2_score(y_test, predicted))}
        history = _curves(estimator.estimators_)
        outputs = [{"name": factor, "type": "double"} for factor in synthetic.FACTORS]
    else:
        estimator = _boosted(params, False, seed).fit(x_train, y_train)
        metrics = _classifier_metrics(name, estimator, x_test, y_test)
        history = _curves([estimator])
        outputs = [{"name": spec.task, "type": spec.output_type}]
    signature = {
        "inputs": [{"name": column, "type": "double"} for column in data.features.columns],
        "outputs": outputs,
    }
    return Candidate(
        model=name, estimator=estimator, params=dict(params),
        metrics={k: round(float(v), 6) for k, v in metrics.items()}, history=history,
        signature=signature,
        input_example=data.features.head(2).round(4).to_dict(orient="records"),
    )
