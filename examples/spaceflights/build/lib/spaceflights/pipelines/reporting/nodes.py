"""A small report on the shuttle fleet."""

from __future__ import annotations

import pandas as pd


def summarize_passenger_capacity(preprocessed_shuttles: pd.DataFrame) -> pd.DataFrame:
    """Mean passenger capacity per shuttle type, largest first."""
    summary = (
        preprocessed_shuttles.groupby("shuttle_type", as_index=False)["passenger_capacity"]
        .mean()
        .sort_values(["passenger_capacity", "shuttle_type"], ascending=[False, True])
    )
    return summary.reset_index(drop=True)
