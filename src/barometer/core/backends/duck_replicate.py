"""``bm.ReplicateDesign`` over a DuckDB relation or Parquet files.

The full-sample estimates come from the grouped sums of ``duck_sums`` (a design with no
strata or clusters); the replicate estimates from one more GROUP BY by (domain[, level])
that sums every replicate weight column (``fsum``), so only a (domains x levels) x
replicates table leaves the engine. The variance is R ``svrVar`` on those estimates, by the
in-memory path's ``variance.replicate.svr_variance``.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from functools import cached_property
from typing import Any, NoReturn

import numpy as np
import polars as pl

from barometer.core.backends.duck import SRC, Source, ident
from barometer.core.backends.duck_design import InDuckDB
from barometer.core.backends.duck_structure import Layout, check_door, weight_sql
from barometer.core.backends.duck_sums import with_codes
from barometer.core.design import ReplicateDesign
from barometer.core.estimates import Estimates
from barometer.core.estimators import RatioFamily
from barometer.core.replication.weights import replicate_setup
from barometer.core.variance.steps import CalibrationStep
from barometer.errors import DesignError, EstimationError
from barometer.options import ReplicateType, check_option


class DuckDBReplicateDesign(InDuckDB, ReplicateDesign):
    """Replicate weights whose rows stay in DuckDB; built by ``bm.ReplicateDesign`` from a
    DuckDB relation or Parquet files, with its arguments. ``mean``, ``total`` and
    ``proportion`` (Wald intervals) by domains run in DuckDB."""

    def __init__(
        self,
        data: Any,
        weights: str | None,
        replicates: str | Sequence[str],
        type: ReplicateType,
        rscales: float | Sequence[float] | None = None,
        scale: float | None = None,
        mse: bool = False,
        rho: float | None = None,
    ) -> None:
        type = check_option(type, ReplicateType, "type", DesignError)
        self.source = src = Source.of(data)
        self.layout = Layout(weights, None, None, None, True, "fail")
        self._rows = check_door(src, self.layout)
        # R's scale and rscales for the type, and the columns' names and types, by the
        # in-memory rule on the table's schema (no rows): the values are checked below
        schema = {c: pl.Float64 if src.is_numeric(c) else pl.String for c in src.types}
        frame = pl.DataFrame(schema=schema)
        setup = replicate_setup(frame, replicates, type, rscales, scale, rho, check=False)
        self.replicate_names = setup.weights.columns
        _check_values(src, self.replicate_names)
        self.type = type
        self.scale = setup.scale
        self.rscales = setup.rscales
        self.mse = bool(mse)
        self.calibration: tuple[CalibrationStep, ...] = ()
        self.weighting: Any = None

    @property
    def replicate_frame(self) -> NoReturn:
        raise EstimationError(f"the replicate weights of {self.source.label} stay in DuckDB")

    @replicate_frame.setter
    def replicate_frame(self, frame: pl.DataFrame) -> None:
        raise EstimationError("a DuckDB design's replicate weights cannot be replaced")

    @property
    def replicate_weights(self) -> NoReturn:
        raise EstimationError(
            f"the replicate weights of {self.source.label} stay in DuckDB; a DuckDB design "
            "has no n x R array"
        )

    @replicate_weights.setter
    def replicate_weights(self, weights: np.ndarray) -> None:
        raise EstimationError("a DuckDB design's replicate weights cannot be replaced")

    @cached_property
    def degf(self) -> int:
        """R ``degf``: the rank of the replicate weights (n x R) minus one, as the rank of
        their R x R cross-product, one query of ``fsum(rw_a * rw_b)``. The Gram matrix
        holds the squared singular values, so a singular value counts when it exceeds
        ``sqrt(max(n, R) eps)`` times the largest (numpy's ``matrix_rank`` cut on the
        matrix itself is ``max(n, R) eps``; replicate weights have none in between)."""
        reps = [weight_sql(r) for r in self.replicate_names]
        n_rep = len(reps)
        pairs = [(a, b) for a in range(n_rep) for b in range(a, n_rep)]
        aggs = ", ".join(f"fsum({reps[a]} * {reps[b]}) AS _g{i}" for i, (a, b) in enumerate(pairs))
        found = self.source.sql(f"SELECT {aggs} FROM {SRC}").row(0)
        gram = np.zeros((n_rep, n_rep))
        for (a, b), value in zip(pairs, found, strict=True):
            gram[a, b] = gram[b, a] = value
        eig = np.linalg.eigvalsh(gram)
        cut = eig.max() * max(self._rows, n_rep) * np.finfo(float).eps
        return int((eig > cut).sum()) - 1

    def __repr__(self) -> str:
        return (
            f"DuckDBReplicateDesign({self._rows} rows of {self.source.label}, "
            f"{len(self.rscales)} {self.type} replicates, scale={self.scale:.6g})"
        )

    def reduce_families(
        self, variables: list[str], by: list[str], ratio: bool, categorical: bool | None
    ) -> tuple[pl.DataFrame, Iterator[RatioFamily]]:
        """The reduction for ``core.estimators``: each family with its replicate
        estimates (``replicate_thetas``), from grouped sums computed by DuckDB."""
        red = self._reduction
        levels = red.domains(by)

        def each() -> Iterator[RatioFamily]:
            for name in variables:
                fam = red.family(self, name, by, levels, ratio, categorical)
                fam.cache["replicate_thetas"] = self._thetas(fam, by, levels)
                yield fam

        return levels, each()

    def reduce_ratio(
        self, numerators: list[str], denominators: list[str], by: list[str], confidence: float
    ) -> Estimates:
        """``ReplicateDesign.ratio`` (R ``svyratio`` on replicate weights) from grouped sums
        in DuckDB: the ratio under the full-sample and every replicate weight; see
        ``backends.duck_ratio``."""
        from barometer.core.backends.duck_ratio import ratio

        return ratio(self, self._reduction, numerators, denominators, by, confidence)

    def _thetas(self, fam: RatioFamily, by: list[str], levels: pl.DataFrame) -> np.ndarray:
        """The K estimates under every replicate weight (K x R), from one GROUP BY."""
        src = self.source
        name = fam.var.name
        ok = f"NOT {src.missing(name)}"
        keys = [ident(b) for b in by] + [f"{src.present(by)} AS _in"]
        reps = [weight_sql(r) for r in self.replicate_names]
        n_rep = len(reps)
        if fam.var.levels is not None:
            level = (
                ident(name) if src.types[name] != "BOOLEAN" else f"CAST({ident(name)} AS STRING)"
            )
            keys.append(f"CASE WHEN {ok} THEN {level} END AS _y")
            aggs = [f"fsum({r}) AS _r{i}" for i, r in enumerate(reps)]
        else:
            y = f"CAST({ident(name)} AS DOUBLE)"
            aggs = [f"fsum({r} * {y}) AS _r{i}" for i, r in enumerate(reps)]
            aggs += [f"fsum({r}) AS _s{i}" for i, r in enumerate(reps)]
        where = ok if fam.var.levels is None else "TRUE"  # (levels: missing is a group)
        grouped = src.sql(
            f"SELECT {', '.join(keys)}, {', '.join(aggs)} FROM {SRC} WHERE {where} GROUP BY ALL"
        )
        grouped = with_codes(grouped, levels, by, None, fam.var)
        d = grouped.get_column("_d").to_numpy()
        n_dom, n_lev = fam.n_domains, fam.n_levels
        num_cols = grouped.select(f"_r{i}" for i in range(n_rep)).fill_null(0.0).to_numpy()
        if fam.var.levels is not None:
            lv = grouped.get_column("_l").to_numpy()
            seen = lv >= 0
            num = np.zeros((n_dom * n_lev, n_rep))
            np.add.at(num, d[seen] * n_lev + lv[seen], num_cols[seen])
            den = num.reshape(n_dom, n_lev, n_rep).sum(axis=1)
        else:
            num = np.zeros((n_dom, n_rep))
            np.add.at(num, d, num_cols)
            den = np.zeros((n_dom, n_rep))
            den_cols = grouped.select(f"_s{i}" for i in range(n_rep)).fill_null(0.0).to_numpy()
            np.add.at(den, d, den_cols)
        if not fam.ratio:
            return num
        with np.errstate(invalid="ignore", divide="ignore"):
            thetas: np.ndarray = num / np.repeat(den, n_lev, axis=0)
        return thetas


def _check_values(src: Source, names: list[str]) -> None:
    """Missing (null or NaN) or negative replicate weights: one query over every column,
    a DesignError naming the first column at fault."""
    aggs = []
    for r in names:
        aggs += [f"count(*) FILTER (WHERE {src.missing(r)})", f"min({weight_sql(r)})"]
    found = src.sql(f"SELECT {', '.join(aggs)} FROM {SRC}").row(0)
    for i, r in enumerate(names):
        missing, low = found[2 * i], found[2 * i + 1]
        if missing:
            raise DesignError(
                f"replicate weight column {r!r} has missing values in {missing} rows of {src.label}"
            )
        if low is not None and low < 0:
            raise DesignError(f"replicate weight column {r!r} has negative weights")


__all__ = ["DuckDBReplicateDesign"]
