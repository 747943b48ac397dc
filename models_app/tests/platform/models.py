"""Platform-style model classes: each wraps several fitted estimators, as src.ml's do."""

from __future__ import annotations

import numpy as np
import pandas as pd


class RegimeRanker:
    """Scales features, finds the market regime, ranks with one booster per regime."""

    takes_dataframe = True

    def __init__(self, scaler, regimes, rankers: dict, columns: list[str]):
        self.scaler = scaler
        self.regimes = regimes
        self.rankers = rankers
        self.columns = pd.Index(columns)

    def predict(self, frame):
        matrix = self.scaler.transform(np.asarray(frame[self.columns], dtype=float))
        regime = self.regimes.predict(matrix)
        scores = np.zeros(len(matrix))
        for label, ranker in self.rankers.items():
            rows = regime == label
            if rows.any():
                scores[rows] = ranker.predict(matrix[rows])
        return scores
