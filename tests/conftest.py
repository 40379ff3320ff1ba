from __future__ import annotations

import os
from pathlib import Path

import polars as pl
import pytest

REFERENCE = Path(__file__).parent / "reference"

# Every test renders its charts with vl-convert (the folder of charts kept between runs
# would let a second run skip it) and writes nothing to the user's cache; the cache's
# own tests point it at a temporary folder.
os.environ["BAROMETER_CHART_CACHE"] = "off"
# Likewise every demo build writes its files (no record of earlier builds is kept).
os.environ["BAROMETER_DEMO_CACHE"] = "off"
# And every ingest and weighting does its full work (no record of the stores written).
os.environ["BAROMETER_STORE_CACHE"] = "off"


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
