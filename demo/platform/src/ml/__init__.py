"""A stand-in for the Axion platform's `src.ml` package: the four model kinds as the platform
writes them (plain classes holding LightGBM, XGBoost and scikit-learn estimators, with
predict(DataFrame) -> DataFrame). The demo pickles these, so serving needs
PLATFORM_MODEL_PATHS=demo/platform to load them, as it needs the real package's folder."""

from src.ml.models import (
    EarningsSurpriseModel,
    FactorTimingModel,
    MarketRegimeModel,
    StockRankingModel,
)

__all__ = ["EarningsSurpriseModel", "FactorTimingModel", "MarketRegimeModel",
           "StockRankingModel"]
