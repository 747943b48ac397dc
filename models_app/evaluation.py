"""Metrics the registry computes itself, from a model's answers on labelled rows. No Django.

A model may answer an array, a Series, a list or a DataFrame. In a DataFrame the
`prediction` column (else the only numeric column) is the prediction and `p_<class>` columns
are class probabilities; a 2-D array of several columns is read as class probabilities in
the order of the sorted labels (scikit-learn's predict_proba), as is `predict_proba` itself.
Labels with few distinct integral (or text) values make a classification: accuracy, and auc
and log_loss when there are probabilities; otherwise a regression: rmse, mae, r2.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

MAX_CLASSES = 20


@dataclass
class Answers:
    """A model's answers in one shape: predictions, and class scores when it gave them."""

    predictions: np.ndarray
    scores: np.ndarray | None = None
    classes: list[str] | None = None

    @staticmethod
    def concat(parts: list[Answers]) -> Answers:
        scores = None
        if parts and all(p.scores is not None for p in parts) and \
                len({p.scores.shape[1] for p in parts}) == 1:  # type: ignore[union-attr]
            scores = np.vstack([p.scores for p in parts])  # type: ignore[misc]
        return Answers(np.concatenate([p.predictions for p in parts]), scores,
                       parts[0].classes if parts else None)


def answers_of(output: Any, proba: Any = None) -> Answers:
    if isinstance(output, pd.DataFrame):
        prob_columns = [c for c in output.columns if str(c).startswith("p_")]
        scores = output[prob_columns].to_numpy(dtype=float) if prob_columns else None
        classes = [str(c)[2:] for c in prob_columns] if prob_columns else None
        if "prediction" in output.columns:
            predictions = output["prediction"].to_numpy()
        elif len(output.columns) == 1:
            predictions = output.iloc[:, 0].to_numpy()
        elif scores is not None:
            predictions = np.asarray(classes, dtype=object)[scores.argmax(axis=1)]
        else:
            raise ValueError("the model answered a DataFrame with no 'prediction' column and "
                             "no p_<class> columns; the registry cannot score it")
        return Answers(predictions, scores, classes)
    array = np.asarray(output)
    if array.ndim == 2 and array.shape[1] > 1:
        return Answers(array.argmax(axis=1), array.astype(float), None)
    predictions = array.reshape(-1)
    scores = None
    if proba is not None:
        scores = np.asarray(proba, dtype=float)
    return Answers(predictions, scores, None)


def is_classification(labels: pd.Series) -> bool:
    if pd.api.types.is_bool_dtype(labels) or not pd.api.types.is_numeric_dtype(labels):
        return True
    values = labels.dropna().to_numpy(dtype=float)
    return bool(np.all(values == np.round(values))) and len(np.unique(values)) <= MAX_CLASSES


def _finite(metrics: dict[str, float]) -> dict[str, float]:
    return {k: round(float(v), 6) for k, v in metrics.items() if math.isfinite(float(v))}


def score(labels: pd.Series, answers: Answers) -> dict[str, float]:
    """The metrics of `answers` against `labels` (same rows, same order)."""
    from sklearn import metrics as m

    y = labels.to_numpy()
    if len(y) != len(answers.predictions):
        raise ValueError(f"the model gave {len(answers.predictions)} answers for {len(y)} rows")
    if not is_classification(labels):
        predicted = answers.predictions.astype(float)
        return _finite({"rmse": math.sqrt(m.mean_squared_error(y, predicted)),
                        "mae": m.mean_absolute_error(y, predicted),
                        "r2": m.r2_score(y, predicted)})
    classes = sorted(pd.unique(labels.dropna()).tolist())
    predicted = answers.predictions
    scores = answers.scores
    if scores is None and len(classes) == 2 and predicted.dtype.kind == "f" \
            and not np.all(predicted == np.round(predicted)):
        scores = np.column_stack([1 - predicted, predicted])  # a probability of the positive
        predicted = np.where(predicted >= 0.5, classes[1], classes[0])
    result = {"accuracy": float(np.mean(
        np.asarray([str(_plain(v)) for v in predicted]) == np.asarray([str(_plain(v)) for v in y])
    ))}
    if scores is not None and scores.shape[1] == len(classes):
        order = list(range(len(classes)))
        if answers.classes is not None:
            index = {name: i for i, name in enumerate(answers.classes)}
            keys = [str(_plain(c)) for c in classes]
            if set(keys) != set(index):
                return _finite(result)
            order = [index[key] for key in keys]
        ordered = scores[:, order]
        try:
            if len(classes) == 2:
                result["auc"] = m.roc_auc_score(y == classes[1], ordered[:, 1])
            else:
                result["auc"] = m.roc_auc_score(y, ordered, multi_class="ovr", labels=classes)
            result["log_loss"] = m.log_loss(y, np.clip(ordered, 1e-15, 1), labels=classes)
        except ValueError:
            pass  # one class only in these labels: auc is undefined
    return _finite(result)


def _plain(value: Any) -> Any:
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value
