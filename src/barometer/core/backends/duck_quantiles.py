"""Quantiles of a DuckDB design (R ``svyquantile``, ``qrule="math"``, Woodruff intervals).

The weighted CDF is formed over the distinct values of each domain — one GROUP BY
(domain, value) with the summed weight and row count — as the in-memory one is
(``quantiles.WeightedCDF``, whose inverse is R ``qs``'s rule for both). The CDF at
each estimate, with its design-based variance, is the mean of ``y <= q_d`` computed by the
grouped sums of ``duck_sums`` (the thresholds joined in as a VALUES table). Only the
table of distinct values per domain leaves the engine: a few thousand rows for answer
scales and incomes in bands, up to the rows themselves for a value unique to every row.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from barometer.core._protocols import SurveyDesign
from barometer.core.backends.duck import SRC, ident, literal, value_literal
from barometer.core.backends.duck_structure import weight_sql
from barometer.core.backends.duck_sums import Reduction
from barometer.core.estimates import Estimates
from barometer.core.estimators import RatioFamily
from barometer.core.intervals import t_quantile
from barometer.core.quantiles import (
    WeightedCDF,
    check_probs,
    per_probability,
    quantile_table,
    woodruff,
)
from barometer.core.reduce import Variable
from barometer.errors import EstimationError


def quantile(
    design: SurveyDesign,
    red: Reduction,
    variable: str,
    probs: list[float],
    by: list[str],
    confidence: float,
) -> Estimates:
    """Quantiles by domain with Woodruff intervals, as ``core.quantiles.quantile``."""
    check_probs(probs)
    src = red.src
    src.check([variable], "variable", EstimationError)
    if not src.is_numeric(variable):
        raise EstimationError(
            f"variable {variable!r} is {src.types[variable]}, not numeric: quantiles need numbers"
        )
    levels = red.domains(by)
    n_dom = max(levels.height, 1)
    ok = f"NOT {src.missing(variable)} AND {src.present(by)}"
    x = f"CAST({ident(variable)} AS DOUBLE)"
    keys = [ident(b) for b in by]
    w = weight_sql(red.layout.weights)
    found = src.sql(
        f"SELECT {', '.join([*keys, f'{x} AS _x'])}, fsum({w}) AS _w, count(*) AS _n "
        f"FROM {SRC} WHERE {ok} GROUP BY ALL"
    )
    d = domain_of(found, levels, by)
    order = np.lexsort((found.get_column("_x").to_numpy(), d))
    cdf = WeightedCDF.of_values(
        d[order],
        found.get_column("_x").to_numpy()[order],
        found.get_column("_w").to_numpy()[order],
        found.get_column("_n").to_numpy()[order],
        n_dom,
    )
    crit = t_quantile(confidence, domain_degf(red, by, levels, ok))

    def below(qhat: np.ndarray) -> RatioFamily:
        thresholds = _thresholds(levels, by, qhat)
        value = f"CASE WHEN {x} <= _qv THEN 1.0 ELSE 0.0 END"
        observed = f"NOT {src.missing(variable)}"
        grouped = red.grouped(by, observed, value=value, join=thresholds)
        fam = red.family_of(design, grouped, Variable(variable, None, None, None), by, levels, True)
        return red.calibrated(fam, by, levels, observed, value=value, join=thresholds)

    rows = woodruff(cdf.quantile, per_probability(below), crit, probs)
    return quantile_table(levels, variable, probs, rows, cdf.count)


def domain_of(frame: pl.DataFrame, levels: pl.DataFrame, by: list[str]) -> np.ndarray:
    if not by:
        return np.zeros(frame.height, dtype=np.int64)
    coded = frame.select(by).join(
        levels.with_row_index("_d"), on=by, how="left", nulls_equal=True, maintain_order="left"
    )
    return coded.get_column("_d").cast(pl.Int64).to_numpy()


def _thresholds(levels: pl.DataFrame, by: list[str], qhat: np.ndarray) -> str:
    """SQL joining each domain's threshold ``_qv`` (domains without one get none)."""
    rows = [
        "(" + ", ".join([*(value_literal(v) for v in rec), literal(float(q))]) + ")"
        for rec, q in zip(levels.iter_rows() if by else [()], qhat, strict=True)
        if not np.isnan(q)
    ]
    if not rows:
        return "CROSS JOIN (SELECT CAST(NULL AS DOUBLE) AS _qv)"
    if not by:
        return f"CROSS JOIN (SELECT {literal(float(qhat[0]))} AS _qv)"
    alias = ", ".join([*(ident(b) for b in by), "_qv"])
    return (
        f"LEFT JOIN (VALUES {', '.join(rows)}) AS _q({alias}) USING ({', '.join(map(ident, by))})"
    )


def domain_degf(red: Reduction, by: list[str], levels: pl.DataFrame, ok: str) -> np.ndarray:
    """R ``degf`` of each domain's subset (its rows with the variable observed): distinct
    PSUs (rows, for an element design) minus distinct strata."""
    lay = red.layout
    keys = [ident(b) for b in by]
    group = f" GROUP BY {', '.join(keys)}" if by else ""
    select = ", ".join([*keys, "count(*) - count(DISTINCT _h) AS _df"])
    if lay.psu is None:  # each row its own PSU
        rows = f"SELECT {', '.join([*keys, f'{lay.stratum_sql} AS _h'])} FROM {SRC} WHERE {ok}"
    else:
        inner = ", ".join([*keys, f"{lay.stratum_sql} AS _h", f"{ident(lay.psu)} AS _p"])
        rows = f"SELECT DISTINCT {inner} FROM {SRC} WHERE {ok}"
    found = red.src.sql(f"SELECT {select} FROM ({rows}) AS _u{group}")
    out = np.zeros(max(levels.height, 1))
    if found.height:
        out[domain_of(found, levels, by)] = found.get_column("_df").to_numpy()
    return out


__all__ = ["domain_degf", "domain_of", "quantile"]
