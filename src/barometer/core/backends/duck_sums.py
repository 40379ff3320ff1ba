"""The grouped pass in DuckDB: a variable's weighted sums by (domain, PSU[, level]).

This is ``core.reduce`` as queries. For a clustered design the sums by (domain, PSU) pair
come back as the in-memory path's ``PsuPairs``/``PairSums``, so the estimates and their
linearisation variance are computed by the same code (``estimators.pair_family`` and
``family_variance``). For an element design (every row its own PSU) the per-row influence
values cannot leave the engine; the query returns instead their first and second moments
by (domain, stratum[, level]) — ``sum z`` and ``sum z^2`` with ``z`` centred on the
domain's estimate inside the query — which are exactly the ``S1`` and ``S2`` that
``variance.linearisation.combine`` takes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np
import polars as pl

from barometer.core import estimators, reduce
from barometer.core._protocols import SurveyDesign
from barometer.core.backends.duck import SRC, Source, ident, value_literal
from barometer.core.backends.duck_calibrated import CellCalibration, CellRecord
from barometer.core.backends.duck_structure import Layout, weight_sql
from barometer.core.design import Structure
from barometer.core.estimators import RatioFamily
from barometer.core.reduce import PairSums, Variable
from barometer.core.variance import linearisation as lin
from barometer.errors import EstimationError

_NO_ROWS = np.zeros(0, dtype=np.int64)


@dataclass(frozen=True, eq=False)
class Reduction:
    """What the queries need: the table, the design's columns, its structure and the
    PSU (or stratum) numbering."""

    src: Source
    layout: Layout
    structure: Structure
    units: pl.DataFrame  # _h[, _p], _code
    #: the steps of a weighting on the cell table (None: not calibrated)
    record: CellRecord | None = None
    #: the domains of each ``by`` already asked for (the table never changes)
    found: dict[tuple[str, ...], pl.DataFrame] = field(default_factory=dict, repr=False)
    #: sums of categorical variables by ``by`` formed ahead in one pass (``prefetch``),
    #: each taken out when its family is formed: (variable, by) -> (grouped, cell sums)
    batch: dict[tuple[str, tuple[str, ...]], tuple[pl.DataFrame, pl.DataFrame | None]] = field(
        default_factory=dict, repr=False
    )

    def domains(self, by: list[str]) -> pl.DataFrame:
        """The domains of ``by``: their observed combinations, sorted (rows with a missing
        by-value are in none), one row each — the in-memory path's ``Coding.levels``."""
        if not by:
            return pl.DataFrame()
        key = tuple(by)
        if key not in self.found:
            self.src.check(by, "by", EstimationError)
            cols = ", ".join(ident(b) for b in by)
            self.found[key] = self.src.sql(
                f"SELECT DISTINCT {cols} FROM {SRC} WHERE {self.src.present(by)} ORDER BY {cols}"
            )
        return self.found[key]

    def family(
        self,
        design: SurveyDesign,
        name: str,
        by: list[str],
        levels: pl.DataFrame,
        ratio: bool,
        categorical: bool | None,
    ) -> RatioFamily:
        """The ratio family of ``name`` by the domains ``levels`` of ``by``."""
        self.src.check([name], "variable", EstimationError)
        ok = f"NOT {self.src.missing(name)}"
        if self._kind(name, categorical):
            level = self.level_sql(name)
            batched = self.batch.pop((name, tuple(by)), None)
            grouped = self.grouped(by, ok, level=level) if batched is None else batched[0]
            found = grouped.get_column("_y").drop_nulls().unique().sort()
            var = Variable(name, None, None, found.alias(name))
            fam = self.family_of(design, grouped, var, by, levels, ratio)
            cells = None if batched is None else batched[1]
            return self.calibrated(fam, by, levels, ok, level=level, cells=cells)
        value = f"CAST({ident(name)} AS DOUBLE)"
        grouped = self.grouped(by, ok, value=value)
        var = Variable(name, None, None, None)
        fam = self.family_of(design, grouped, var, by, levels, ratio)
        return self.calibrated(fam, by, levels, ok, value=value)

    @cached_property
    def calibration(self) -> CellCalibration | None:
        """The design constants of the calibrated variances (None: not calibrated)."""
        return None if self.record is None else CellCalibration.of(self, self.record)

    def calibrated(
        self,
        fam: RatioFamily,
        by: list[str],
        levels: pl.DataFrame,
        ok: str,
        level: str | None = None,
        value: str | None = None,
        join: str = "",
        cells: pl.DataFrame | None = None,
    ) -> RatioFamily:
        """``fam`` with its calibrated variance, on a calibrated design: the family's sums
        by cell (``ok``, ``level``, ``value`` and ``join`` as its ``grouped`` query;
        ``cells``: already formed by ``prefetch``)."""
        cal = self.calibration
        if cal is not None:
            if cells is None:
                cells = cal.cell_sums(self, by, ok, level, value, join)
            cal.attach(self, fam, cells, fam.var, by, levels)
        return fam

    def prefetch(self, names: list[str], by: list[str], categorical: bool | None = True) -> None:
        """Form the sums of the categorical variables ``names`` by ``by`` (and, on a
        calibrated design, their sums by cell) in one pass over the table, for the
        families asked for next: one query of GROUPING SETS, one set per variable, reads
        the design's columns (and joins the written weights) once rather than once per
        variable. The sums are those of one ``grouped`` query each."""
        todo = [n for n in dict.fromkeys(names) if (n, tuple(by)) not in self.batch]
        self.src.check(todo, "variable", EstimationError)
        todo = [n for n in todo if self._kind(n, categorical)]
        if len(todo) < 2:  # one variable: its own query, when its family is formed
            return
        oks = [f"NOT {self.src.missing(n)}" for n in todo]
        ys = [self.level_sql(n) for n in todo]
        grouped = self.grouped_levels(by, oks, ys)
        cal = self.calibration
        cells = [None] * len(todo) if cal is None else cal.cell_levels(self, by, oks, ys)
        for name, g, c in zip(todo, grouped, cells, strict=True):
            self.batch[(name, tuple(by))] = (g, c)

    def grouped_levels(
        self, by: list[str], oks: list[str], levels: list[str]
    ) -> list[pl.DataFrame]:
        """``grouped(by, ok, level=level)`` for each pair of ``oks`` and ``levels``, from
        one query (``level_sums``)."""
        lay = self.layout
        keys = [ident(b) for b in by]
        keys.append(f"{lay.stratum_sql} AS _h")
        if lay.psu is not None:
            keys.append(f"{ident(lay.psu)} AS _p")
        keys.append(f"{self.src.present(by)} AS _in")
        # w^2 only feeds an element design's moments (a clustered one's come by PSU)
        squares = self.structure.element
        return level_sums(self.src, keys, oks, levels, weight_sql(lay.weights), squares, False)

    def cells_family(
        self,
        design: SurveyDesign,
        a: str,
        b: str,
        labels: tuple[list[Any], list[Any]],
        where: str,
        ratio: bool,
    ) -> tuple[RatioFamily, np.ndarray]:
        """The family of the ``r x c`` cells of ``a`` and ``b`` (levels ``labels``,
        numbered rows fastest) over the rows ``where`` both are observed, as one domain,
        and each cell's unweighted count: what ``chisq.rao_scott`` takes."""
        la, lb = labels
        row, col = _position(self.level_sql(a), la), _position(self.level_sql(b), lb)
        code = f"CAST({row} + {len(la)} * {col} AS BIGINT)"
        ok = f"NOT {self.src.missing(a)} AND NOT {self.src.missing(b)} AND ({where})"
        grouped = self.grouped([], ok, level=code)
        cells = pl.Series("cell", np.arange(len(la) * len(lb), dtype=np.int64))
        var = Variable(f"{a}:{b}", None, None, cells)
        fam = self.family_of(design, grouped, var, [], pl.DataFrame(), ratio)
        fam = self.calibrated(fam, [], pl.DataFrame(), ok, level=code)
        inside = grouped.filter(pl.col("_y").is_not_null())
        counts = np.bincount(
            inside.get_column("_y").to_numpy(),
            inside.get_column("_n").to_numpy(),
            minlength=cells.len(),
        )
        return fam, counts.astype(np.int64)

    def level_sql(self, name: str) -> str:
        """SQL for a categorical column's level (a boolean as text, as in memory)."""
        c = ident(name)
        return c if self.src.types[name] != "BOOLEAN" else f"CAST({c} AS STRING)"

    def family_of(
        self,
        design: SurveyDesign,
        grouped: pl.DataFrame,
        var: Variable,
        by: list[str],
        levels: pl.DataFrame,
        ratio: bool,
    ) -> RatioFamily:
        grouped = with_codes(grouped, levels, by, self.units, var)
        if self.structure.element:
            return _element_family(design, grouped, var, levels, by, ratio, self.structure)
        return _pair_family(design, grouped, var, levels, ratio, self.structure)

    def _kind(self, name: str, categorical: bool | None) -> bool:
        t = self.src.types[name]
        numeric = self.src.is_numeric(name)
        if categorical is None:
            return not numeric
        if not categorical and not numeric and t != "BOOLEAN":
            raise EstimationError(
                f"variable {name!r} is {t}, not numeric: use proportion() for the share of "
                "each level, or total() for the weighted count of each level"
            )
        return categorical

    def grouped(
        self,
        by: list[str],
        ok: str,
        level: str | None = None,
        value: str | None = None,
        join: str = "",
        x: str | None = None,
    ) -> pl.DataFrame:
        """One GROUP BY over (by, stratum[, PSU][, level]) with the sums a family needs,
        of the categorical ``level`` or the numeric ``value`` where ``ok``; rows outside
        ``ok`` are kept (with zero sums) so that every (domain, PSU) pair with rows is
        present, as in memory. ``join`` (SQL) joins the columns ``value`` may use. A
        numeric ``value`` over the denominator ``x`` (SQL; 1 if None) gives the family of
        the ratio ``sum w y / sum w x``: ``_sw`` is then ``sum w x``, the centring
        ``y - theta x``."""
        if level is not None:
            return self.grouped_levels(by, [ok], [level])[0]
        src, lay = self.src, self.layout
        w = weight_sql(lay.weights)
        keys = [ident(b) for b in by]
        keys.append(f"{lay.stratum_sql} AS _h")
        if lay.psu is not None:
            keys.append(f"{ident(lay.psu)} AS _p")
        keys.append(f"{src.present(by)} AS _in")
        y = value
        wx = w if x is None else f"{w} * {x}"
        t = "_t" if x is None else f"_t * {x}"
        sums = {"_sw": wx, "_swy": f"{w} * {y}", "_swyy": f"{w} * {y} * {y}"}
        frm = f"{SRC} {join}"
        if lay.psu is None:
            # moments of the centred influence values z = w (y - theta_d) (see module doc),
            # each domain's mean joined back so that they are centred in the query
            sums |= {
                "_sz": f"{w} * ({y} - {t})",
                "_szz": f"{w} * {w} * ({y} - {t}) * ({y} - {t})",
                "_sww_yy": f"{w} * {w} * {y} * {y}",
            }
            by_cols = ", ".join(keys[: len(by)])
            theta = (
                f"SELECT {by_cols}{',' if by else ''} fsum({w} * {y}) / fsum({wx}) AS _t "
                f"FROM {SRC} WHERE {ok} AND {src.present(by)}"
                + (f" GROUP BY {by_cols}" if by else "")
            )
            using = f"USING ({by_cols})" if by else "ON TRUE"
            frm = f"{frm} LEFT JOIN ({theta}) AS _theta {using}"
        aggs = [f"fsum({e}) FILTER (WHERE {ok}) AS {k}" for k, e in sums.items()]
        aggs.append(f"count(*) FILTER (WHERE {ok}) AS _n")
        grouped = src.sql(f"SELECT {', '.join(keys)}, {', '.join(aggs)} FROM {frm} GROUP BY ALL")
        # a group with the variable all missing sums to null: to 0
        return grouped.with_columns(pl.col(*sums).fill_null(0.0))


def level_sums(
    src: Source,
    keys: list[str],
    oks: list[str],
    levels: list[str],
    w: str,
    squares: bool,
    filtered: bool,
) -> list[pl.DataFrame]:
    """For each categorical ``levels[i]`` observed where ``oks[i]``: ``fsum(w)``
    (``_sw``), ``fsum(w^2)`` if ``squares`` (``_sww``) and ``count(*)`` (``_n``) by
    ``keys`` (SQL, ``expr AS name`` or a column) and the level ``_y`` (null outside ``ok``).
    With ``filtered`` the sums are over the rows where ``ok`` only (the null level's are 0).

    Several variables are one query of GROUPING SETS, one set per variable, so the table
    (and any join in it) is read once: DuckDB and Spark aggregate every set in the same
    scan. ``GROUPING(_y<i>)`` (0 in variable ``i``'s set) tells the sets apart, since a
    level that is null (missing) and one grouped away look alike."""
    names = [k.rsplit(" AS ", 1)[-1] for k in keys]  # SQL
    columns = [n[1:-1].replace('""', '"') if n.startswith('"') else n for n in names]
    sums = {"_sw": w} | ({"_sww": f"{w} * {w}"} if squares else {})
    if len(levels) == 1:
        y = f"CASE WHEN {oks[0]} THEN {levels[0]} END AS _y"
        where = f" FILTER (WHERE {oks[0]})" if filtered else ""
        aggs = [f"fsum({e}){where} AS {k}" for k, e in sums.items()]
        aggs.append(f"count(*){where} AS _n")
        found = src.sql(f"SELECT {', '.join(keys)}, {y}, {', '.join(aggs)} FROM {SRC} GROUP BY ALL")
        return [found.with_columns(pl.col(*sums).fill_null(0.0))] if filtered else [found]
    ys = [f"_y{i}" for i in range(len(levels))]
    inner = [
        *keys,
        *(
            f"CASE WHEN {ok} THEN {lv} END AS {y}"
            for ok, lv, y in zip(oks, levels, ys, strict=True)
        ),
    ]
    inner.append(f"{w} AS _w")
    common = ", ".join(names)
    sets = ", ".join(f"({common}, {y})" for y in ys)
    term = {"_sw": "_w", "_sww": "_w * _w"}
    aggs = [f"fsum({term[k]}) AS {k}" for k in sums] + ["count(*) AS _n"]
    flags = [f"GROUPING({y}) AS _g{i}" for i, y in enumerate(ys)]
    found = src.sql(
        f"SELECT {common}, {', '.join(ys)}, {', '.join(flags)}, {', '.join(aggs)} "
        f"FROM (SELECT {', '.join(inner)} FROM {SRC}) AS _rows GROUP BY GROUPING SETS ({sets})"
    )
    out = []
    for i, y in enumerate(ys):
        part = found.filter(pl.col(f"_g{i}") == 0).select(
            *columns, pl.col(y).alias("_y"), "_n", *sums
        )
        if filtered:  # the rows outside ok are the null level's: their sums are 0
            outside = pl.col("_y").is_null()
            part = part.with_columns(
                pl.when(outside).then(0).otherwise(pl.col(c)).cast(part.schema[c]).alias(c)
                for c in [*sums, "_n"]
            )
        out.append(part.select(*columns, "_y", *sums, "_n"))
    return out


def _position(expr: str, values: list[Any]) -> str:
    """SQL: the 0-based position of ``expr`` among ``values`` (a CASE, portable SQL)."""
    whens = " ".join(f"WHEN {value_literal(v)} THEN {i}" for i, v in enumerate(values))
    return f"(CASE {expr} {whens} END)"


def with_codes(
    grouped: pl.DataFrame,
    levels: pl.DataFrame,
    by: list[str],
    units: pl.DataFrame | None,
    var: Variable,
) -> pl.DataFrame:
    """The grouped sums of the rows inside a domain, with integer codes: ``_d`` (domain),
    ``_u`` (PSU, or stratum for an element design), ``_l`` (level; -1: missing)."""
    inside = grouped.filter(pl.col("_in"))
    if by:
        inside = inside.join(levels.with_row_index("_d"), on=by, how="left", nulls_equal=True)
    else:
        inside = inside.with_columns(_d=pl.lit(0, dtype=pl.UInt32))
    if units is not None:
        keys = [c for c in ("_h", "_p") if c in units.columns]
        inside = inside.join(units.rename({"_code": "_u"}), on=keys, how="left")
    else:
        inside = inside.with_columns(_u=pl.lit(0))
    if var.levels is not None:
        lv = pl.DataFrame({"_y": var.levels, "_l": np.arange(var.levels.len())})
        inside = inside.join(lv, on="_y", how="left").with_columns(pl.col("_l").fill_null(-1))
    coded = inside.with_columns(pl.col("_d").cast(pl.Int64), pl.col("_u").cast(pl.Int64))
    # the engine returns its groups in any order: sorted, every sum over them in Python
    # adds in one order, so that a result does not depend on the engine's
    cells = sorted(c for c in coded.columns if c.startswith("_j"))  # duck_calibrated's
    order = [c for c in ("_d", "_u", "_l") if c in coded.columns] + cells
    return coded.sort(order)


def _pair_family(
    design: SurveyDesign,
    g: pl.DataFrame,
    var: Variable,
    levels: pl.DataFrame,
    ratio: bool,
    s: Structure,
) -> RatioFamily:
    """The family from sums by (domain, PSU[, level]), through the in-memory path's pairs."""
    n_dom = max(levels.height, 1)
    n_psus = s.n_psus
    key = g.get_column("_d").to_numpy() * n_psus + g.get_column("_u").to_numpy()
    present, pair = np.unique(key, return_inverse=True)
    domain, psu = np.divmod(present, n_psus)
    m = present.size
    n_obs = g.get_column("_n").to_numpy().astype(float)
    if var.levels is not None:
        lv = g.get_column("_l").to_numpy()
        seen = lv >= 0
        n_lev = var.levels.len()
        num = np.bincount(
            lv[seen] * m + pair[seen], g.get_column("_sw").to_numpy()[seen], minlength=n_lev * m
        ).reshape(n_lev, m)
        den = num.sum(axis=0)
        count = np.bincount(domain[pair[seen]], n_obs[seen], minlength=n_dom)
    else:
        num = np.bincount(pair, g.get_column("_swy").to_numpy(), minlength=m)[None, :]
        den = np.bincount(pair, g.get_column("_sw").to_numpy(), minlength=m)
        count = np.bincount(domain[pair], n_obs, minlength=n_dom)
    pairs = reduce.pairs_of(_NO_ROWS, n_dom, domain, psu, count, s.psu_stratum)
    sums = PairSums(var, num, den, count.astype(np.int64))
    fam = estimators.pair_family(design, sums, pairs, _NO_ROWS, ratio)
    observed = n_obs > 0 if var.levels is None else (n_obs > 0) & seen
    _finish(fam, g, observed, s, var, pair_domain=domain[pair])
    return fam


def _element_family(
    design: SurveyDesign,
    g: pl.DataFrame,
    var: Variable,
    levels: pl.DataFrame,
    by: list[str],
    ratio: bool,
    s: Structure,
) -> RatioFamily:
    """The family of an element design from sums by (domain, stratum[, level])."""
    n_dom, n_str = max(levels.height, 1), s.n_strata
    d = g.get_column("_d").to_numpy()
    h = g.get_column("_u").to_numpy()
    n_obs = g.get_column("_n").to_numpy().astype(float)
    scale, _ = lin.stratum_factors(s)
    if var.levels is not None:
        lv = g.get_column("_l").to_numpy()
        seen = lv >= 0
        n_lev = var.levels.len()
        d, h, lv, n_obs = d[seen], h[seen], lv[seen], n_obs[seen]
        sw = g.get_column("_sw").to_numpy()[seen]
        cell = (d * n_lev + lv) * n_str + h
        swc = np.bincount(cell, sw, minlength=n_dom * n_lev * n_str).reshape(n_dom, n_lev, n_str)
        num = swc.sum(axis=2)
        denom = num.sum(axis=1)
        # sum over rows of scale_h w^2 by (domain, level): the second moments of z
        a = np.bincount(
            d * n_lev + lv,
            g.get_column("_sww").to_numpy()[seen] * scale[h],
            minlength=n_dom * n_lev,
        ).reshape(n_dom, n_lev)
    else:
        cell = d * n_str + h
        num = np.bincount(d, g.get_column("_swy").to_numpy(), minlength=n_dom)[:, None]
        denom = np.bincount(d, g.get_column("_sw").to_numpy(), minlength=n_dom)
        moment = "_szz" if ratio else "_sww_yy"
        a = np.bincount(d, g.get_column(moment).to_numpy() * scale[h], minlength=n_dom)[:, None]
        n_lev = 1
    count = np.bincount(d, n_obs, minlength=n_dom)
    with np.errstate(invalid="ignore", divide="ignore"):
        theta = num / denom[:, None] if ratio else num
        inv: np.ndarray = np.where(denom > 0, 1.0 / denom, 0.0) if ratio else np.ones(n_dom)
    if var.levels is not None:
        # S1: stratum totals of z = w ([level] - theta) / X_d
        z = swc.copy()
        if ratio:
            z -= np.nan_to_num(theta)[:, :, None] * swc.sum(axis=1)[:, None, :]
        s1 = (z * inv[:, None, None]).reshape(n_dom * n_lev, n_str)
        a = a * (inv * inv)[:, None]
    else:
        key = "_sz" if ratio else "_swy"
        s1 = np.bincount(cell, g.get_column(key).to_numpy(), minlength=n_dom * n_str)
        s1 = s1.reshape(n_dom, n_str) * inv[:, None]
        a = a * (inv * inv)[:, None]
    fam = RatioFamily(design, var, _NO_ROWS, n_dom, ratio, theta, denom, count.astype(np.int64), {})
    fam.cache["linearised"] = _element_sums(fam, a, s1)
    _finish(fam, g.filter(pl.col("_l") >= 0) if var.levels is not None else g, n_obs > 0, s, var)
    return fam


def _element_sums(
    fam: RatioFamily, a: np.ndarray, s1: np.ndarray
) -> Callable[[bool], tuple[np.ndarray, np.ndarray]]:
    """S2 and S1 of an element design from the moments: for level indicators,
    ``sum_i s_i z_i z_i'`` per domain is ``diag(A) - A theta' - theta A' + B theta theta'``
    with ``A_dl = sum_{code=l} s w^2 / X_d^2`` and ``B_d = sum_l A_dl`` (a total: ``diag(A)``);
    for a numeric variable it is the query's ``sum s w^2 (y - theta_d)^2 / X_d^2``."""
    n_dom, n_lev = fam.n_domains, fam.n_levels
    th = np.nan_to_num(fam.theta)
    categorical_ratio = fam.var.levels is not None and fam.ratio
    b = a.sum(axis=1)

    def sums(full: bool) -> tuple[np.ndarray, np.ndarray]:
        if not full:
            diag = a - 2 * a * th + b[:, None] * th * th if categorical_ratio else a
            return diag.ravel(), s1
        blocks = np.zeros((n_dom, n_lev, n_lev))
        idx = np.arange(n_lev)
        blocks[:, idx, idx] = a
        if categorical_ratio:
            blocks -= a[:, :, None] * th[:, None, :] + th[:, :, None] * a[:, None, :]
            blocks += b[:, None, None] * th[:, :, None] * th[:, None, :]
        s2 = np.zeros((n_dom * n_lev, n_dom * n_lev))
        for dd in range(n_dom):
            sl = slice(dd * n_lev, (dd + 1) * n_lev)
            s2[sl, sl] = blocks[dd]
        return s2, s1

    return sums


def _finish(
    fam: RatioFamily,
    g: pl.DataFrame,
    observed: np.ndarray,
    s: Structure,
    var: Variable,
    pair_domain: np.ndarray | None = None,
) -> None:
    """What the shared statistics read from per-row data in memory, from the sums: the
    domain sums of ``w y^2`` (the design effect of a mean) and, for
    ``lonely_psu='average'``, the strata that hold each domain's observed rows."""
    d = g.get_column("_d").to_numpy() if pair_domain is None else pair_domain
    if var.levels is None:
        fam.cache["sq"] = np.bincount(d, g.get_column("_swyy").to_numpy(), minlength=fam.n_domains)
    if s.lonely_psu == "average":
        unit = g.get_column("_u").to_numpy()
        h = unit if s.element else s.psu_stratum[unit]
        present = np.zeros((fam.n_domains, s.n_strata), dtype=bool)
        present[d[observed], h[observed]] = True
        fam.cache["strata_present"] = np.repeat(present, fam.n_levels, axis=0)


__all__ = ["Reduction", "level_sums", "with_codes"]
