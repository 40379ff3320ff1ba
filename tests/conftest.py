from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

REFERENCE = Path(__file__).parent / "reference"


def read_api(name: str) -> pl.DataFrame:
    """One of R survey's api datasets, as exported to tests/reference/data."""
    return pl.read_csv(
        REFERENCE / "data" / f"{name}.csv", null_values="", infer_schema_length=10000
    )


@pytest.fixture(scope="session")
def apistrat() -> pl.DataFrame:
    return read_api("apistrat")


@pytest.fixture(scope="session")
def apiclus1() -> pl.DataFrame:
    return read_api("apiclus1")
