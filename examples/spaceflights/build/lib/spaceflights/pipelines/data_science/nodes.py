"""Train and evaluate a linear model of shuttle prices.

The model is an ordinary least-squares fit with numpy, so the project needs
no scikit-learn: the point of this example is the pipeline's shape, not the
model.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

logger = logging.getLogger(__name__)


@dataclass
class LinearRegressor:
    """A fitted linear model: ``y = intercept + X @ coef``."""

    features: list[str]
    coef: list[float]
    intercept: float

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        """Predict one value per row of ``X`` (columns taken by name)."""
        values = X[self.features].to_numpy(dtype=float)
        return self.intercept + values @ np.asarray(self.coef)


def _as_series(y: pd.DataFrame | pd.Series) -> pd.Series:
    """A target saved as CSV comes back as a one-column DataFrame."""
    return y.squeeze(axis="columns") if isinstance(y, pd.DataFrame) else y


def split_data(
    data: pd.DataFrame, parameters: dict[str, Any]
) -> tuple[pd.DataFrame, pd.DataFrame, pd.Series, pd.Series]:
    """Split the model input table into a seeded train and test set."""
    test_size = parameters["test_size"]
    if not 0 < test_size < 1:
        raise ValueError(f"test_size must be a fraction between 0 and 1, got {test_size!r}")
    rng = np.random.default_rng(parameters["random_state"])
    test = rng.random(len(data)) < parameters["test_size"]
    X = data[parameters["features"]].astype(float)
    y = data["price"].astype(float)
    return X[~test], X[test], y[~test], y[test]


def train_model(X_train: pd.DataFrame, y_train: pd.DataFrame | pd.Series) -> LinearRegressor:
    """Fit ordinary least squares with an intercept."""
    y = _as_series(y_train).to_numpy(dtype=float)
    design = np.column_stack([np.ones(len(X_train)), X_train.to_numpy(dtype=float)])
    solution, *_ = np.linalg.lstsq(design, y, rcond=None)
    return LinearRegressor(
        features=list(X_train.columns),
        coef=[float(c) for c in solution[1:]],
        intercept=float(solution[0]),
    )


def evaluate_model(
    regressor: LinearRegressor, X_test: pd.DataFrame, y_test: pd.DataFrame | pd.Series
) -> dict[str, float]:
    """Score the model on the test set (R^2 and mean absolute error)."""
    y = _as_series(y_test).to_numpy(dtype=float)
    predicted = regressor.predict(X_test)
    residual = float(np.sum((y - predicted) ** 2))
    total = float(np.sum((y - y.mean()) ** 2)) or 1.0
    metrics = {
        "r2_score": 1.0 - residual / total,
        "mae": float(np.mean(np.abs(y - predicted))),
        "n_test": int(len(y)),
    }
    logger.info("Model has a coefficient R^2 of %.3f on test data.", metrics["r2_score"])
    return metrics
