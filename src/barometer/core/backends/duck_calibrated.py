"""Calibrated variances of a DuckDB design, from sums by calibration cell.

A DuckDB design weighted on its cell table (``duck_weighting``) keeps the steps of that
weighting as they were recorded on the cells (``CellRecord``). Its variances replace the
influence values by their calibration residuals as R ``svyrecvar`` does; by
``variance.cell_steps`` those residuals follow from each family's sums by (cell, domain,
level) — one more GROUP BY per family — and the design's weights by (PSU, cell), queried
once. No respondent's influence value or weight leaves the engine.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import polars as pl
import scipy.sparse as sp

from barometer.core import estimators
from barometer.core.backends.duck import SRC, ident
from barometer.core.backends.duck_structure import weight_sql
from barometer.core.estimators import RatioFamily
from barometer.core.reduce import Variable
from barometer.core.variance import cell_steps
from barometer.core.variance import linearisation as lin
from barometer.core.variance.steps import CalibrationStep

if TYPE_CHECKING:
    from barometer.core.backends.duck_sums import Reduction
    from barometer.core.design import Design


@dataclass(frozen=True, eq=False)
class CellRecord:
    """What weighting on the cell table leaves for the variance: the cell columns, the
    cells (one row each, in the order of the steps' arrays) and the steps."""

    variables: tuple[str, ...]
    cells: pl.DataFrame
    steps: tuple[CalibrationStep, ...]
    #: the base weights' column (None: unweighted) and the in-memory weighting that was run
    #: on the cells, so that rows read into memory can be weighted the same way
    #: (``duck_models``)
    base_weights: str | None = None
    redo: Callable[[Design], Design] | None = None


def _cell_keys(record: CellRecord) -> list[str]:
    """SQL keys naming each cell column ``_j0``, ``_j1``, ... (a ``by`` column may be one)."""
    return [f"{ident(v)} AS _j{i}" for i, v in enumerate(record.variables)]


def _cell_index(frame: pl.DataFrame, record: CellRecord) -> np.ndarray:
    """Each grouped row's cell (its position in ``record.cells``)."""
    names = [f"_j{i}" for i in range(len(record.variables))]
    cells = record.cells.rename(dict(zip(record.cells.columns, names, strict=True)))
    coded = frame.select(names).join(
        cells.with_row_index("_J"), on=names, how="left", nulls_equal=True, maintain_order="left"
    )
    found = coded.get_column("_J")
    assert found.null_count() == 0, "every row lies in a weighting cell"
    return found.cast(pl.Int64).to_numpy()


@dataclass(frozen=True, eq=False)
class CellCalibration:
    """The design constants: ``steps`` on the cells with their respondents and final
    weights, the weights by (unit, cell) (units: PSUs, or strata of an element design) and,
    for an element design, ``S_J = sum s_h w^2`` per cell."""

    record: CellRecord
    steps: cell_steps.CellSteps
    units: sp.csr_matrix
    second: np.ndarray | None

    @classmethod
    def of(cls, red: Reduction, record: CellRecord) -> CellCalibration:
        lay, s = red.layout, red.structure
        w = weight_sql(lay.weights)
        keys = [*_cell_keys(record), f"{lay.stratum_sql} AS _h"]
        if lay.psu is not None:
            keys.append(f"{ident(lay.psu)} AS _p")
        found = red.src.sql(
            f"SELECT {', '.join(keys)}, count(*) AS _n, fsum({w}) AS _sw, "
            f"fsum({w} * {w}) AS _sww FROM {SRC} GROUP BY ALL"
        )
        on = [c for c in ("_h", "_p") if c in red.units.columns]
        found = found.join(red.units.rename({"_code": "_u"}), on=on, how="left")
        # in one order, whatever the engine's: the sums over the groups add alike
        found = found.sort(["_u", *(f"_j{i}" for i in range(len(record.variables)))])
        j = _cell_index(found, record)
        size = record.cells.height
        unit = found.get_column("_u").to_numpy()
        sw = found.get_column("_sw").to_numpy()
        n_units = s.n_strata if s.element else s.n_psus
        steps = cell_steps.CellSteps(
            record.steps,
            np.bincount(j, found.get_column("_n").to_numpy(), minlength=size),
            np.bincount(j, sw, minlength=size),
        )
        units = sp.csr_matrix((sw, (unit, j)), shape=(n_units, size))
        second = None
        if s.element:
            scale, _ = lin.stratum_factors(s)
            sww = found.get_column("_sww").to_numpy()
            second = np.bincount(j, scale[unit] * sww, minlength=size)
        return cls(record, steps, units, second)

    def cell_sums(
        self,
        red: Reduction,
        by: list[str],
        ok: str,
        level: str | None,
        value: str | None,
        join: str,
    ) -> pl.DataFrame:
        """A family's sums by (domain, cell[, stratum][, level]): of ``1``, ``w`` and ``w^2``
        (and times the numeric ``value``) over the rows where ``ok``."""
        if level is not None:
            return self.cell_levels(red, by, [ok], [level])[0]
        assert value is not None
        w = weight_sql(red.layout.weights)
        keys = self._keys(red, by)
        sums = {"_sw": w, "_sww": f"{w} * {w}"}
        sums |= {"_sy": value, "_swy": f"{w} * {value}", "_swwy": f"{w} * {w} * {value}"}
        aggs = [f"fsum({e}) FILTER (WHERE {ok}) AS {k}" for k, e in sums.items()]
        aggs.append(f"count(*) FILTER (WHERE {ok}) AS _n")
        found = red.src.sql(
            f"SELECT {', '.join(keys)}, {', '.join(aggs)} FROM {SRC} {join} GROUP BY ALL"
        )
        return found.with_columns(pl.col(*sums).fill_null(0.0))

    def cell_levels(
        self, red: Reduction, by: list[str], oks: list[str], levels: list[str]
    ) -> list[pl.DataFrame]:
        """``cell_sums`` of each categorical ``levels[i]`` where ``oks[i]``, from one
        query (``duck_sums.level_sums``)."""
        from barometer.core.backends.duck_sums import level_sums

        w = weight_sql(red.layout.weights)
        return level_sums(red.src, self._keys(red, by), oks, levels, w, True, True)

    def _keys(self, red: Reduction, by: list[str]) -> list[str]:
        """The keys of the sums by (domain, cell[, stratum])."""
        keys = [ident(b) for b in by] + _cell_keys(self.record)
        if red.structure.element:
            keys.append(f"{red.layout.stratum_sql} AS _h")
        keys.append(f"{red.src.present(by)} AS _in")
        return keys

    def attach(
        self,
        red: Reduction,
        fam: RatioFamily,
        grouped: pl.DataFrame,
        var: Variable,
        by: list[str],
        levels: pl.DataFrame,
    ) -> None:
        """Give ``fam`` its calibrated linearised sums (``fam.cache["linearised"]``, which
        ``estimators.linearised_sums`` takes from an engine)."""
        from barometer.core.backends.duck_sums import with_codes

        s = red.structure
        g = with_codes(grouped, levels, by, red.units if s.element else None, var)
        if var.levels is not None:
            g = g.filter(pl.col("_l") >= 0)
        j = _cell_index(g, self.record)
        d = g.get_column("_d").to_numpy()
        n_cells, n_dom, n_lev = self.record.cells.height, fam.n_domains, fam.n_levels
        lv = g.get_column("_l").to_numpy() if var.levels is not None else np.zeros(d.size, int)
        key = (j * n_dom + d) * n_lev + lv
        scale = lin.stratum_factors(s)[0][g.get_column("_u").to_numpy()] if s.element else 1.0

        def total(column: str, factor: float | np.ndarray = 1.0) -> np.ndarray:
            values = g.get_column(column).to_numpy().astype(float) * factor
            return np.bincount(key, values, minlength=n_cells * n_dom * n_lev).reshape(
                n_cells, n_dom, n_lev
            )

        if var.levels is not None:  # level indicators: y = [level], x = 1
            y1, yw, yv = total("_n"), total("_sw"), total("_sww", scale)
            x1, xw, xv = (t.sum(axis=2, keepdims=True) for t in (y1, yw, yv))
        else:
            y1, yw, yv = total("_sy"), total("_swy"), total("_swwy", scale)
            x1, xw, xv = total("_n"), total("_sw"), total("_sww", scale)
        u1, uw, v = (_influence(fam, y, x) for y, x in ((y1, x1), (yw, xw), (yv, xv)))
        c = cell_steps.residual_table(self.steps, u1, uw)
        corrections = cell_steps.unit_corrections(self.units, c)
        if not s.element:

            def sums(full: bool) -> tuple[np.ndarray, np.ndarray]:
                zp = estimators.psu_totals(fam) - corrections
                return lin.psu_sums(zp, s, full)

        else:
            base = fam.cache["linearised"]
            assert self.second is not None
            second = self.second

            def sums(full: bool) -> tuple[np.ndarray, np.ndarray]:
                s2, s1 = base(full)
                moments = cell_steps.element_second_moments(v, second, c, full)
                return s2 + moments, s1 - corrections

        fam.cache["linearised"] = sums


def _influence(fam: RatioFamily, y: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Cell sums of ``b (y - theta x) / X_d`` (``b y`` for a total), (J x K), from the
    cell sums of ``b y`` (J x D x L) and ``b x`` (J x D x 1)."""
    if not fam.ratio:
        return y.reshape(y.shape[0], -1)
    theta = np.nan_to_num(fam.theta)[None]
    with np.errstate(divide="ignore", invalid="ignore"):
        u = (y - theta * x) / fam.denom[None, :, None]
    out: np.ndarray = np.nan_to_num(u, copy=False).reshape(y.shape[0], -1)
    return out


__all__ = ["CellCalibration", "CellRecord"]
