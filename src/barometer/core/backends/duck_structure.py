"""The sampling structure of a DuckDB table, from one GROUP BY over (stratum, PSU).

The in-memory path codes every row (``core.design``); here only the PSU table — one row per
(stratum, PSU) with its row count and fpc range — leaves the engine, and the structure
(PSUs per stratum, ``onestrat``'s scale factors, the lonely-PSU rule) is formed from it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from barometer.core.backends.duck import INF, SRC, Source, ident
from barometer.core.design import Structure, fpc_factor
from barometer.errors import DesignError, EstimationError
from barometer.options import LonelyPSU


@dataclass(frozen=True, eq=False)
class Layout:
    """The design's columns and options, as ``bm.Design`` takes them."""

    weights: str | None
    strata: str | None
    psu: str | None
    fpc: str | None
    nest: bool
    lonely_psu: LonelyPSU

    @property
    def stratum_sql(self) -> str:
        return ident(self.strata) if self.strata is not None else "0"


def weight_sql(weights: str | None) -> str:
    """SQL for a row's weight (1 without a weights column)."""
    return "1.0" if weights is None else f"CAST({ident(weights)} AS DOUBLE)"


def check_door(src: Source, layout: Layout) -> int:
    """The checks ``bm.Design`` makes, as queries: the columns exist, the weights are
    numeric, present, finite and positive, strata and PSU ids are never missing. Returns
    the number of rows."""
    for role, name in (
        ("weights", layout.weights),
        ("strata", layout.strata),
        ("psu", layout.psu),
        ("fpc", layout.fpc),
    ):
        if name is not None:
            src.check([name], role, DesignError)
    checks = ["count(*)"]  # (aliased below: Spark names unaliased columns alike)
    if layout.weights is not None:
        w = layout.weights
        if not src.is_numeric(w):
            raise DesignError(
                f"weights column {w!r} must be numeric, not {src.types[w]} ({src.label})"
            )
        ww = weight_sql(w)
        checks += [
            f"count(*) FILTER (WHERE {src.missing(w)} OR abs({ww}) = {INF})",
            f"count(*) FILTER (WHERE {ww} <= 0)",
        ]
    for name in (layout.strata, layout.psu):
        if name is not None:
            checks.append(f"count(*) FILTER (WHERE {src.missing(name)})")
    aliased = ", ".join(f"{c} AS _c{i}" for i, c in enumerate(checks))
    found = src.sql(f"SELECT {aliased} FROM {SRC}").row(0)
    n = int(found[0])
    if n == 0:
        raise DesignError(f"data has no rows ({src.label})")
    rest = list(found[1:])
    if layout.weights is not None:
        missing, nonpositive = rest.pop(0), rest.pop(0)
        if missing:
            raise DesignError(
                f"weights column {layout.weights!r} has missing values in {missing} rows "
                f"of {src.label}"
            )
        if nonpositive:
            raise DesignError(
                f"weights column {layout.weights!r} must be positive; it is not in "
                f"{nonpositive} rows of {src.label}"
            )
    for role, name in (("strata", layout.strata), ("psu", layout.psu)):
        if name is not None and (bad := rest.pop(0)):
            raise DesignError(
                f"{role} column {name!r} has missing values in {bad} rows of {src.label}"
            )
    return n


def _no_rows() -> tuple[np.ndarray, np.ndarray]:
    raise EstimationError(
        "this design's rows stay in DuckDB: per-row strata and PSU codes are not formed"
    )


def structure(src: Source, layout: Layout, n: int) -> tuple[Structure, pl.DataFrame]:
    """The structure, and the PSU table (``_h``, ``_p``, ``_code``) that numbers the PSUs
    in (stratum, PSU) order as ``core.design`` does (for an element design, the stratum
    table ``_h``, ``_code``)."""
    if layout.fpc is not None and not src.is_numeric(layout.fpc):
        raise DesignError(f"fpc column {layout.fpc!r} must be numeric, not {src.types[layout.fpc]}")
    keys = ["_h", "_p"] if layout.psu is not None else ["_h"]
    cols = [f"{layout.stratum_sql} AS _h"]
    if layout.psu is not None:
        cols.append(f"{ident(layout.psu)} AS _p")
    cols.append("count(*) AS _n")
    if layout.fpc is not None:
        fpc = f"CAST({ident(layout.fpc)} AS DOUBLE)"
        bad = src.count(f"{src.missing(layout.fpc)} OR abs({fpc}) = {INF} OR {fpc} <= 0")
        if bad:
            raise DesignError(
                f"fpc column {layout.fpc!r} must be positive and present: {bad} rows of "
                f"{src.label} are not"
            )
        cols += [f"min({fpc}) AS _flo", f"max({fpc}) AS _fhi"]
    table = src.sql(f"SELECT {', '.join(cols)} FROM {SRC} GROUP BY ALL ORDER BY {', '.join(keys)}")
    if layout.psu is not None and layout.strata is not None and not layout.nest:
        _check_nesting(table, layout)
    strata = table.get_column("_h").unique(maintain_order=True)
    h_code = table.select(pl.col("_h").rank("dense") - 1).to_series().to_numpy()
    n_strata = strata.len()
    if layout.psu is not None:
        psu_stratum = h_code.astype(np.int64)
        n_psu = np.bincount(psu_stratum, minlength=n_strata)
    else:  # each row its own PSU: the PSUs per stratum are its rows
        psu_stratum = np.zeros(0, dtype=np.int64)
        n_psu = np.bincount(h_code, table.get_column("_n").to_numpy(), minlength=n_strata)
        n_psu = n_psu.astype(np.int64)
    f = np.ones(n_strata)
    if layout.fpc is not None:
        f = _stratum_fpc(table, h_code, n_strata, n_psu, layout)
    labels = (
        pl.DataFrame([strata.alias(layout.strata)]) if layout.strata is not None else pl.DataFrame()
    )
    lonely = n_psu == 1
    if lonely.any() and layout.lonely_psu == "fail":
        which = labels.row(int(np.flatnonzero(lonely)[0])) if labels.width else ("(all)",)
        raise DesignError(
            f"stratum {which[0]!r} of {layout.strata!r} has only one PSU "
            f"({int(lonely.sum())} such strata); choose lonely_psu='adjust', 'average', "
            "'certainty' or 'remove' (R's survey.lonely.psu)"
        )
    scale = np.where(lonely, f, f * n_psu / np.maximum(n_psu - 1, 1))
    s = Structure(
        n=n,
        psu_stratum=psu_stratum,
        n_psu=n_psu,
        scale=scale,
        census=f < 1e-7,
        lonely_psu=layout.lonely_psu,
        stratum_labels=labels,
        element=layout.psu is None,
        rows=_no_rows,
    )
    codes = table.select(*keys).with_columns(
        _code=pl.arange(0, table.height, dtype=pl.Int64)
        if layout.psu is not None
        else pl.Series(h_code.astype(np.int64))
    )
    return s, codes


def _check_nesting(table: pl.DataFrame, layout: Layout) -> None:
    """With ``nest=False`` (R's default), a PSU id in two strata is an error."""
    twice = (
        table.group_by("_p", maintain_order=True)
        .agg(pl.col("_h"))
        .filter(pl.col("_h").list.len() > 1)
    )
    if twice.height:
        p_val, (a, b, *_) = twice.row(0)
        raise DesignError(
            f"psu column {layout.psu!r}: PSU {p_val!r} lies in more than one stratum of "
            f"{layout.strata!r} ({a!r} and {b!r}; {twice.height} such PSUs); pass "
            "nest=True if PSU ids are only unique within strata"
        )


def _stratum_fpc(
    table: pl.DataFrame, h_code: np.ndarray, n_strata: int, n_psu: np.ndarray, layout: Layout
) -> np.ndarray:
    """``f_h`` per stratum from the PSU table's fpc ranges: one value per stratum is
    checked here, the rest (R ``as.fpc``'s fractions or sizes) by ``core.design``'s rule
    on the stratum table."""
    assert layout.fpc is not None
    lo = np.full(n_strata, np.inf)
    hi = np.full(n_strata, -np.inf)
    np.minimum.at(lo, h_code, table.get_column("_flo").to_numpy())
    np.maximum.at(hi, h_code, table.get_column("_fhi").to_numpy())
    if np.any(lo != hi):
        where = f" of {layout.strata!r}" if layout.strata else ""
        raise DesignError(
            f"fpc column {layout.fpc!r} varies within a stratum{where} "
            f"({int((lo != hi).sum())} strata); it must hold one value per stratum"
        )
    per_stratum = pl.DataFrame({layout.fpc: lo})
    return fpc_factor(per_stratum, layout.fpc, layout.strata, np.arange(n_strata), n_psu)


__all__ = ["Layout", "check_door", "structure", "weight_sql"]
