"""A poll with a numeric question, a net and an age recoded from years (issue 14).

``make_numeric_poll(dir)`` is :func:`tests.support.pollkit.make_poll` plus:

* ``trust_eu``, a 0-10 scale in every file, in its own layout: DE (SPSS) with 99
  "refused" as a declared missing code, FR (CSV) whole numbers with blanks, IT (Stata)
  and PL (Parquet) as floats; FR's mean rises by about one point between the waves;
* a net ``ally_or_partner`` on ``us_relationship``;
* DE's age delivered in years (``age_years``) and recoded by range into the ``young`` /
  ``old`` bands the other firms deliver.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pyreadstat

from tests.support.pollkit import WAVES, edit_spec, make_poll, write_sav

NET = {"code": "ally_or_partner", "label": "Ally or partner", "levels": ["ally", "partner"]}
TRUST = {
    "id": "trust_eu",
    "kind": "numeric",
    "wording": "How much do you trust the EU (0-10)?",
    "range": [0, 10],
    "missing": [99],
    "finding_label": "trust in the EU",
}
#: Each country's mean trust per wave (the truth the estimates should be near).
TRUST_MEANS = {"DE": (5.0, 5.2), "FR": (4.5, 5.6), "IT": (6.0, 6.0), "PL": (6.5, 6.5)}


def _trust(rng: np.random.Generator, n: int, mean: float) -> np.ndarray:
    return np.clip(np.round(rng.normal(mean, 2.0, n)), 0, 10)


def make_numeric_poll(root: Path, n: int = 300, seed: int = 1) -> Path:
    """Write the poll's files and spec under ``root``; return the spec path."""
    spec_path = make_poll(root, n=n, seed=seed, refused=5)
    rng = np.random.default_rng(seed + 500)
    data = root / "data"
    for w, wave in enumerate(WAVES):
        tag = wave.replace("-", "")
        de_path = data / f"de_{tag}.sav"
        de, _ = pyreadstat.read_sav(str(de_path), user_missing=True)
        trust = _trust(rng, len(de), TRUST_MEANS["DE"][w])
        trust[:4] = 99.0
        de["trust"] = trust
        young = de["agegrp"].to_numpy() == 1.0
        de["age_years"] = np.where(
            young, rng.integers(18, 35, len(de)), rng.integers(35, 90, len(de))
        ).astype(float)
        write_sav(de, de_path)
        fr_path = data / f"fr_{tag}.csv"
        fr = pl.read_csv(fr_path)
        values = _trust(rng, fr.height, TRUST_MEANS["FR"][w]).astype(int).tolist()
        values[:3] = [None, None, None]
        fr.with_columns(trust=pl.Series(values, dtype=pl.Int64)).write_csv(fr_path)
        it_path = data / f"it_{tag}.dta"
        it, _ = pyreadstat.read_dta(str(it_path))
        it["trust"] = _trust(rng, len(it), TRUST_MEANS["IT"][w])
        pyreadstat.write_dta(it, str(it_path))
        if w == 0:
            pl_path = data / f"pl_{tag}.parquet"
            frame = pl.read_parquet(pl_path)
            trust = _trust(rng, frame.height, TRUST_MEANS["PL"][w])
            frame.with_columns(trust=pl.Series(trust)).write_parquet(pl_path)

    def numeric(spec: dict[str, Any]) -> None:
        spec["questions"].insert(1, dict(TRUST))
        spec["questions"][0]["nets"] = [dict(NET)]
        for source in spec["sources"]:
            source["variables"]["trust_eu"] = {"column": "trust"}
            if source["country"] == "DE":
                source["variables"]["age"] = {
                    "column": "age_years",
                    "recode": [
                        {"range": [18, 34], "to": "young"},
                        {"range": [35, 120], "to": "old"},
                    ],
                }

    return edit_spec(spec_path, numeric)
