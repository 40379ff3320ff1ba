"""One local SparkSession for every Spark test (started once: it takes seconds)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from typing import Any

import pytest

pyspark = pytest.importorskip("pyspark", reason="pyspark is the optional extra [spark]")
if shutil.which("java") is None:  # pragma: no cover - .ci/run installs the JRE
    pytest.skip(
        "Spark needs a Java runtime (Debian: default-jre-headless)", allow_module_level=True
    )


@pytest.fixture(scope="session")
def spark() -> Iterator[Any]:
    from pyspark.sql import SparkSession

    session = (
        SparkSession.builder.master("local[2]")
        .appName("barometer-tests")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.shuffle.partitions", "2")
        .config("spark.driver.memory", "1g")
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()
