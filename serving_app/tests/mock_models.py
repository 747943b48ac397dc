"""Models that misbehave on purpose. Importable so their pickles load (the tests add
"serving_app.tests" to PLATFORM_MODEL_PACKAGE: they load as platform classes)."""

from __future__ import annotations

import time

import numpy as np
import pandas as pd


class ConstantModel:
    def __init__(self, value: float):
        self.value = value

    def predict(self, rows):
        return np.full(len(rows), self.value)


class RaisingModel:
    def predict(self, rows):
        raise RuntimeError("this model always fails")


class PickyModel:
    """Answers 1.0, but raises on any row whose first value is 13 (warm-up passes)."""

    def predict(self, rows):
        first = np.asarray(rows, dtype=float)[:, 0]
        if (first == 13).any():
            raise ValueError("13 is unlucky")
        return np.ones(len(rows))


class SlowModel:
    def __init__(self, seconds: float):
        self.seconds = seconds

    def predict(self, rows):
        time.sleep(self.seconds)
        return np.zeros(len(rows))


class WrongShapeModel:
    def predict(self, rows):
        return np.zeros(len(rows) + 1)


class CountingModel:
    """Counts predict calls per process (class attribute), to see warm-ups happen."""

    calls = 0

    def predict(self, rows):
        type(self).calls += 1
        return np.zeros(len(rows))


class FrameModel:
    """Takes a DataFrame with named columns, answers a DataFrame of several columns."""

    takes_dataframe = True

    def predict(self, frame: pd.DataFrame) -> pd.DataFrame:
        if not isinstance(frame, pd.DataFrame):
            raise TypeError("FrameModel needs a DataFrame")
        score = frame["momentum"] * 2 + frame["value"]
        return pd.DataFrame({
            "p_top": 1 / (1 + np.exp(-score)),
            "quintile": np.clip((score.rank(pct=True) * 5).astype(int), 1, 5),
            "sector": frame["sector"].str.upper(),
        })
