"""Cleaning of the raw spaceflights tables (as in Kedro's tutorial)."""

from __future__ import annotations

import pandas as pd


def _is_true(x: pd.Series) -> pd.Series:
    """The raw tables spell booleans as "t"/"f"."""
    return x == "t"


def _parse_percentage(x: pd.Series) -> pd.Series:
    """"90%" -> 0.9."""
    return x.str.replace("%", "", regex=False).astype(float) / 100


def _parse_money(x: pd.Series) -> pd.Series:
    """"$1,325.0" -> 1325.0."""
    return x.str.replace("$", "", regex=False).str.replace(",", "", regex=False).astype(float)


def preprocess_companies(companies: pd.DataFrame) -> pd.DataFrame:
    """Turn the companies' rating and IATA approval into numbers and booleans."""
    companies = companies.copy()
    companies["iata_approved"] = _is_true(companies["iata_approved"])
    companies["company_rating"] = _parse_percentage(companies["company_rating"])
    return companies


def preprocess_shuttles(shuttles: pd.DataFrame) -> pd.DataFrame:
    """Turn the shuttles' check flags into booleans and their price into a number."""
    shuttles = shuttles.copy()
    shuttles["d_check_complete"] = _is_true(shuttles["d_check_complete"])
    shuttles["moon_clearance_complete"] = _is_true(shuttles["moon_clearance_complete"])
    shuttles["price"] = _parse_money(shuttles["price"])
    return shuttles


def create_model_input_table(
    shuttles: pd.DataFrame, companies: pd.DataFrame, reviews: pd.DataFrame
) -> pd.DataFrame:
    """Join shuttles with their reviews and their company; drop incomplete rows."""
    rated_shuttles = shuttles.merge(reviews, left_on="id", right_on="shuttle_id")
    rated_shuttles = rated_shuttles.drop(columns="id")
    table = rated_shuttles.merge(companies, left_on="company_id", right_on="id")
    return table.dropna()
