"""Synthetic data for the four Axion models: features with a known relation to the target,
so the models learn something in a second and their metrics mean something. No Django."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from abtest_app.vocabulary import Arm

RANKING_FEATURES = ["value", "momentum", "quality", "low_vol", "size", "growth"]
REGIME_FEATURES = ["ret_20d", "vol_20d", "vix", "term_spread", "credit_spread", "breadth"]
EARNINGS_FEATURES = [
    "past_surprise", "revision_3m", "dispersion", "momentum_1m", "accruals", "guidance_raised",
]
FACTOR_TIMING_FEATURES = ["inflation", "gdp_growth", "yield_curve", "vix", "dollar"]
FACTORS = ["value", "momentum", "quality", "low_vol"]
REGIMES = ["bull", "bear", "sideways", "crisis"]


@dataclass(frozen=True)
class Dataset:
    features: pd.DataFrame
    target: pd.Series | pd.DataFrame


def ranking(n: int, rng: np.random.Generator) -> Dataset:
    """Return quintile (0 worst .. 4 best) of next month's return from factor scores."""
    x = pd.DataFrame(rng.normal(size=(n, len(RANKING_FEATURES))), columns=RANKING_FEATURES)
    signal = (0.5 * x["momentum"] + 0.35 * x["value"] + 0.3 * x["quality"]
              - 0.15 * x["size"] + 0.25 * x["momentum"] * x["quality"])
    future = signal + rng.normal(scale=0.9, size=n)
    quintile = pd.qcut(future, 5, labels=False).astype(int)
    return Dataset(x, quintile.rename("quintile"))


def regime(n: int, rng: np.random.Generator) -> Dataset:
    """Bull, bear, sideways or crisis from market features."""
    labels = rng.choice(len(REGIMES), size=n, p=[0.4, 0.25, 0.27, 0.08])
    centers = np.array([
        # ret_20d vol_20d vix term credit breadth
        [0.03, 0.12, 14.0, 1.2, 1.0, 0.65],
        [-0.04, 0.22, 26.0, 0.2, 2.0, 0.35],
        [0.00, 0.14, 17.0, 0.8, 1.3, 0.50],
        [-0.12, 0.45, 45.0, -0.4, 4.0, 0.15],
    ])
    scale = np.array([0.025, 0.05, 5.0, 0.5, 0.5, 0.1])
    x = centers[labels] + rng.normal(size=(n, len(REGIME_FEATURES))) * scale
    frame = pd.DataFrame(x, columns=REGIME_FEATURES)
    return Dataset(frame, pd.Series(np.array(REGIMES)[labels], name="regime"))


def earnings(n: int, rng: np.random.Generator) -> Dataset:
    """Beat (1) or miss (0) of the consensus at the next report."""
    x = pd.DataFrame(rng.normal(size=(n, len(EARNINGS_FEATURES))), columns=EARNINGS_FEATURES)
    x["guidance_raised"] = (rng.random(n) < 0.3).astype(float)
    logit = (0.9 * x["past_surprise"] + 0.7 * x["revision_3m"] - 0.4 * x["dispersion"]
             + 0.3 * x["momentum_1m"] - 0.2 * x["accruals"] + 0.8 * x["guidance_raised"] + 0.2)
    beat = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    return Dataset(x, pd.Series(beat, name="beat"))


def factor_timing(n: int, rng: np.random.Generator) -> Dataset:
    """Next month's return of each factor from macro features: one target per factor."""
    x = pd.DataFrame(rng.normal(size=(n, len(FACTOR_TIMING_FEATURES))),
                     columns=FACTOR_TIMING_FEATURES)
    noise = rng.normal(scale=0.8, size=(n, len(FACTORS)))
    y = pd.DataFrame({
        "value": 0.6 * x["inflation"] + 0.3 * x["yield_curve"] + noise[:, 0],
        "momentum": -0.5 * x["vix"] + 0.2 * x["gdp_growth"] + noise[:, 1],
        "quality": 0.4 * x["vix"] - 0.3 * x["gdp_growth"] + noise[:, 2],
        "low_vol": 0.5 * x["vix"] - 0.2 * x["dollar"] + 0.2 * x["vix"] ** 2 + noise[:, 3],
    })
    return Dataset(x, y)


GENERATORS = {
    "stock-ranking": ranking,
    "market-regime": regime,
    "earnings-surprise": earnings,
    "factor-timing": factor_timing,
}


def example_records(model: str, n: int, rng: np.random.Generator) -> list[dict[str, float]]:
    """Rows to send to the prediction API, as records (drawn from a batch of at least 50, so
    the targets, which the rows do not carry, are well defined)."""
    return GENERATORS[model](max(n, 50), rng).features.head(n).to_dict(orient="records")


# The demo A/B test's outcome: the 21-day forward return (bps) of the portfolio an arm ranked;
# the challenger is slightly better, so the sequential test needs many outcomes to decide.
OUTCOME_MEAN_BPS: dict[str, float] = {Arm.CHAMPION: 42.0, Arm.CHALLENGER: 43.0}
OUTCOME_SD_BPS = 25.0


def abtest_outcome(arm: str, rng: np.random.Generator) -> float:
    return float(rng.normal(OUTCOME_MEAN_BPS[arm], OUTCOME_SD_BPS))
