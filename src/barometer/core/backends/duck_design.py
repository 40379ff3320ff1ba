"""``bm.Design`` over a DuckDB relation or Parquet files: estimates by grouped SQL sums.

``bm.Design(data, ...)`` returns a :class:`DuckDBDesign` when ``data`` is a DuckDB relation
or a path, glob or list of Parquet files (``core.backends.is_external``). The rows never
enter Python: the door's checks, the sampling structure and every estimate are queries
whose results are grouped sums (one row per (stratum, PSU), per (domain, PSU[, level]) or
per (domain, stratum[, level])); the statistics on those sums are the in-memory path's.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import asdict, replace
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import numpy as np
import polars as pl

from barometer.core._frame import as_list
from barometer.core.backends.duck import SRC, Source, ident, value_literal
from barometer.core.backends.duck_calibrated import CellRecord
from barometer.core.backends.duck_structure import Layout, check_door, structure, weight_sql
from barometer.core.backends.duck_sums import Reduction
from barometer.core.backends.duck_weighting import WrittenWeights, rake_variables, weight_cells
from barometer.core.chisq import ChisqTest
from barometer.core.design import Design, Structure, long_bases
from barometer.core.estimates import Estimates
from barometer.core.estimators import RatioFamily
from barometer.core.intervals import DomainDesign
from barometer.core.variance.steps import CalibrationStep
from barometer.core.weighting.diagnostics import WeightSummary
from barometer.errors import DesignError, EstimationError, WeightingError
from barometer.options import (
    CONFIDENCE,
    CalibrationMethod,
    ChisqStatistic,
    CIMethod,
    LonelyPSU,
    check_option,
    confidence_level,
)

if TYPE_CHECKING:
    from barometer.core.models import Family, Model, Models, OrdinalModel

#: Methods of ``bm.Design`` that do not yet run in DuckDB (they need per-row data).
_NOT_YET = ("to_replicates",)


class InDuckDB:
    """What a design over a DuckDB table has instead of rows: the table (``source``), its
    row count and the reduction that queries it. ``data`` and ``weights`` are refused."""

    source: Source
    layout: Layout
    _rows: int
    #: the weighting this design's weights came from, on the cell table (None: base weights)
    cell_record: CellRecord | None = None

    @cached_property
    def _reduction(self) -> Reduction:
        s, units = structure(self.source, self.layout, self._rows)
        return Reduction(self.source, self.layout, s, units, self.cell_record)

    @property
    def n(self) -> int:
        """Number of rows (respondents)."""
        return self._rows

    @property
    def columns(self) -> tuple[str, ...]:
        """The names of the table's columns."""
        return tuple(self.source.types)

    def bases(
        self, variables: str | Sequence[str], by: str | Sequence[str] | None = None
    ) -> pl.DataFrame:
        """``Design.bases`` from one GROUP BY: per domain of ``by``, the rows with each
        variable observed (``n``) and their weights summed (``fsum``)."""
        names, by_list = as_list(variables), as_list(by)
        src = self.source
        src.check([*names, *by_list], "bases", EstimationError)
        keys = [ident(b) for b in by_list]
        w = weight_sql(self.layout.weights)
        sums = []
        for i, name in enumerate(names):
            seen = f"NOT {src.missing(name)}"
            sums += [
                f"count(*) FILTER (WHERE {seen}) AS {ident(f'_bases_n{i}')}",
                f"fsum({w}) FILTER (WHERE {seen}) AS {ident(f'_bases_w{i}')}",
            ]
        group = f" GROUP BY {', '.join(keys)}" if keys else ""
        query = f"SELECT {', '.join([*keys, *sums])} FROM {SRC} WHERE {src.present(by_list)}"
        return long_bases(src.sql(query + group), by_list, names)

    @property
    def data(self) -> NoReturn:
        raise EstimationError(
            f"the rows of {self.source.label} stay in DuckDB; a DuckDB design has no "
            "in-memory data (read a sample into polars for that)"
        )

    def data_with(self, names: Sequence[str]) -> NoReturn:
        return self.data

    def load(self, names: str | Sequence[str]) -> None:
        """Nothing to read: a DuckDB design's estimates query the columns where they lie."""

    @property
    def weights(self) -> NoReturn:
        raise EstimationError(
            f"the weights of {self.source.label} stay in DuckDB; a DuckDB design has no "
            "array of weights"
        )


class DuckDBDesign(InDuckDB, Design):
    """A design whose rows stay in DuckDB (a relation, or Parquet files by path or glob).

    ``mean``, ``total`` and ``proportion`` (Wald intervals) by domains, with missing values,
    strata, clusters, fpc and every ``lonely_psu`` rule, are computed from grouped sums in
    DuckDB and equal the in-memory design's to rounding. The table is never modified.
    ``rake``, ``poststratify`` and ``calibrate`` write the new weights beside it and return
    them with the calibrated design (``WrittenWeights.design``), whose variances use the
    calibration residuals from sums by cell (``backends.duck_calibrated``).
    Built by ``bm.Design`` from such a table; the arguments are ``bm.Design``'s.
    """

    def __init__(
        self,
        data: Any,
        weights: str | None = None,
        strata: str | None = None,
        psu: str | None = None,
        fpc: str | None = None,
        nest: bool = True,
        lonely_psu: LonelyPSU = "fail",
    ) -> None:
        lonely_psu = check_option(lonely_psu, LonelyPSU, "lonely_psu", DesignError)
        self.source = Source.of(data)
        self.layout = Layout(weights, strata, psu, fpc, nest, lonely_psu)
        self._rows = check_door(self.source, self.layout)
        if fpc is not None or (not nest and strata is not None and psu is not None):
            self.structure  # noqa: B018 - fpc and nesting are checked now, as in memory
        self.calibration: tuple[CalibrationStep, ...] = ()
        self.weighting: Any = None
        self.spec = asdict(self.layout)  # bm.Design's spec: the same names, in order

    @cached_property
    def structure(self) -> Structure:
        """The sampling structure, from one GROUP BY over (stratum, PSU); its per-row codes
        are not formed (they would be the table's size)."""
        return self._reduction.structure

    @property
    def degf(self) -> int:
        """Design degrees of freedom: PSUs (rows, for an element design) minus strata."""
        s = self.structure
        return (self._rows if s.element else s.n_psus) - s.n_strata

    def __repr__(self) -> str:
        s = self.structure
        psus = self._rows if s.element else s.n_psus
        spec = ", ".join(f"{k}={v!r}" for k, v in self.spec.items() if v is not None)
        return (
            f"DuckDBDesign({self._rows} rows of {self.source.label}, {s.n_strata} strata, "
            f"{psus} PSUs; {spec})"
        )

    def reduce_families(
        self, variables: list[str], by: list[str], ratio: bool, categorical: bool | None
    ) -> tuple[pl.DataFrame, Iterator[RatioFamily]]:
        """The reduction for ``core.estimators``: the domains and each variable's family,
        from grouped sums computed by DuckDB."""
        red = self._reduction
        levels = red.domains(by)
        return levels, (
            red.family(self, name, by, levels, ratio, categorical) for name in variables
        )

    def prefetch(self, variables: Sequence[str], by: str | Sequence[str] | None = None) -> None:
        """Read the table once for the ``proportion`` (or categorical ``total``) of each of
        ``variables`` by ``by`` that follows: their grouped sums (and a calibrated design's
        sums by cell) come from one query of GROUPING SETS, one set per variable, instead
        of one pass over the table per variable; each call then takes its own sums (once).
        The estimates are the same as without it. It pays where a pass is dear: a
        calibrated design (each pass joins the written weights) and Spark (a fixed cost
        per query); over plain Parquet DuckDB's cost is the hashing, which the sets do not
        share (``benchmarks/RESULTS.md``, issue 20)."""
        self._reduction.prefetch(list(variables), as_list(by))

    def proportion(
        self,
        variable: str,
        by: str | Sequence[str] | None = None,
        level: object = None,
        ci: CIMethod = "wald",
        confidence: float = CONFIDENCE,
        *,
        level_ci: float | None = None,
    ) -> Estimates:
        """Share of every level of ``variable`` by domain, as ``Design.proportion``, with
        every ``ci`` method but ``likelihood`` (its profile refits a GLM on the rows): each
        domain's degrees of freedom, rows and weight sum come from one grouped query
        (``domain_design``)."""
        if ci == "likelihood":  # profiles a GLM on the rows: see backends.duck_models
            from barometer.core.backends.duck_models import materialise, model_columns

            self.source.check([variable], "proportion", EstimationError)
            memory = materialise(self, model_columns(self, "", [variable, by]))
            return memory.proportion(variable, by, level, ci, confidence, level_ci=level_ci)
        return super().proportion(variable, by, level, ci, confidence, level_ci=level_ci)

    def glm(
        self,
        formula: str,
        family: Family = "gaussian",
        offset: str | None = None,
        where: Mapping[str, object] | None = None,
        by: str | Sequence[str] | None = None,
    ) -> Model | Models:
        """``Design.glm`` (R ``svyglm``) on the model's columns read into memory, weighted
        as this design is; see ``backends.duck_models``."""
        from barometer.core.backends.duck_models import materialise, model_columns

        keys = None if where is None else list(where)
        memory = materialise(self, model_columns(self, formula, [offset, keys, by]))
        return memory.glm(formula, family, offset, where, by=by)

    def olr(
        self,
        formula: str,
        levels: Sequence[object] | None = None,
        where: Mapping[str, object] | None = None,
    ) -> OrdinalModel:
        """``Design.olr`` (R ``svyolr``) on the model's columns read into memory, weighted
        as this design is; see ``backends.duck_models``."""
        from barometer.core.backends.duck_models import materialise, model_columns

        keys = None if where is None else list(where)
        return materialise(self, model_columns(self, formula, [keys])).olr(formula, levels, where)

    def domain_design(self, by: list[str]) -> DomainDesign:
        """R ``degf``, ``nrow`` and the weight sum of each domain's subset (as
        ``intervals.domain_design``), from grouped queries."""
        from barometer.core.backends.duck_quantiles import domain_degf, domain_of

        red = self._reduction
        levels = red.domains(by)
        inside = self.source.present(by)
        keys = [ident(b) for b in by]
        w = weight_sql(self.layout.weights)
        select = ", ".join([*keys, "count(*) AS _n", f"fsum({w}) AS _w"])
        group = f" GROUP BY {', '.join(keys)}" if by else ""
        found = self.source.sql(f"SELECT {select} FROM {SRC} WHERE {inside}{group}")
        n_dom = max(levels.height, 1)
        count, weight_sum = np.zeros(n_dom), np.zeros(n_dom)
        if found.height:
            at = domain_of(found, levels, by)
            count[at] = found.get_column("_n").to_numpy()
            weight_sum[at] = found.get_column("_w").to_numpy()
        nrow = np.full(n_dom, float(self._rows)) if self.calibration else count
        return DomainDesign(domain_degf(red, by, levels, inside), nrow, weight_sum)

    def reduce_ratio(
        self, numerators: list[str], denominators: list[str], by: list[str], confidence: float
    ) -> Estimates:
        """``Design.ratio`` (R ``svyratio``) computed from sums of ``w y`` and ``w x`` by
        (domain, PSU) in DuckDB: ``core.ratio`` hands the call here; see
        ``backends.duck_ratio``."""
        from barometer.core.backends.duck_ratio import ratio

        return ratio(self, self._reduction, numerators, denominators, by, confidence)

    def ttest_parts(
        self, variable: str, group: str | None
    ) -> tuple[tuple[str, ...], float, float, float]:
        """What ``Design.ttest`` (R ``svyttest``) reports, from grouped sums: the levels,
        the difference of the two groups' means (second minus first; the mean without a
        group), its SE and the degrees of freedom. The difference is the coefficient of
        ``svyglm(variable ~ group)``, whose influence values are those of the difference
        of the two domain means; its df are the PSUs minus strata among the rows with both
        observed, + 1 - 2, as the in-memory model's."""
        from barometer.core.backends.duck_quantiles import domain_degf

        src = self.source
        src.check([variable] if group is None else [variable, group], "ttest", EstimationError)
        if group is None:
            row = self.mean(variable).to_polars().row(0, named=True)
            return (), float(row["estimate"]), float(row["se"]), float(self.degf - 1)
        ok = src.present([variable, group])
        found = src.sql(f"SELECT DISTINCT {ident(group)} AS _g FROM {SRC} WHERE {ok} ORDER BY 1")
        if found.height != 2:
            raise EstimationError(
                f"ttest: group {group!r} must have two levels among the rows with {variable!r} "
                f"observed; it has {found.height}"
            )
        means = self.mean(variable, by=group)
        m, v = means.to_polars()["estimate"].to_numpy(), means.vcov()
        se = float(np.sqrt(max(v[0, 0] + v[1, 1] - 2 * v[0, 1], 0.0)))
        df = float(domain_degf(self._reduction, [], pl.DataFrame(), ok)[0]) - 1
        labels = tuple(str(x) for x in found.get_column("_g").to_list())
        return labels, float(m[1] - m[0]), se, df

    def quantile(
        self,
        variable: str,
        probs: float | Sequence[float],
        by: str | Sequence[str] | None = None,
        confidence: float = CONFIDENCE,
        *,
        level_ci: float | None = None,
    ) -> Estimates:
        """Quantiles with Woodruff intervals (R ``svyquantile``, ``qrule='math'``), as
        ``Design.quantile``: the weighted CDF over each domain's distinct values and the
        CDF's variance from grouped sums, in DuckDB."""
        from barometer.core.backends.duck_quantiles import quantile

        conf = confidence_level(confidence, level_ci, EstimationError, "quantile")
        p = (
            [float(probs)]
            if isinstance(probs, int | float | np.number)
            else [float(x) for x in probs]
        )
        return quantile(self, self._reduction, variable, p, as_list(by), conf)

    def chisq(
        self,
        a: str,
        b: str,
        statistic: ChisqStatistic = "F",
        where: Mapping[str, Any] | None = None,
    ) -> ChisqTest:
        """Rao-Scott test of independence (R ``svychisq``), as ``Design.chisq``: the cell
        shares and their covariance from grouped sums in DuckDB, the test by the shared
        ``chisq.rao_scott``."""
        from barometer.core.chisq import rao_scott

        statistic = check_option(statistic, ChisqStatistic, "statistic", EstimationError)
        if a == b:
            raise EstimationError(f"chisq needs two different variables, got {a!r} twice")
        red, src = self._reduction, self.source
        src.check([a, b], "variable", EstimationError)
        inside = _where_sql(src, where)
        n_rows = src.count(inside)
        if n_rows == 0:
            raise EstimationError(f"where={dict(where or {})!r} selects no row")
        labels = []
        for v in (a, b):
            found = src.sql(
                f"SELECT DISTINCT {red.level_sql(v)} AS _v FROM {SRC} "
                f"WHERE NOT {src.missing(v)} AND ({inside}) ORDER BY 1"
            )
            if found.height < 2:
                raise EstimationError(
                    f"chisq: variable {v!r} has {found.height} observed level(s)"
                    f"{' in ' + repr(dict(where)) if where else ''}; "
                    "a test of independence needs at least two"
                )
            labels.append(found.get_column("_v").to_list())
        ratio = statistic not in ("Wald", "adjWald")
        fam, counts = red.cells_family(self, a, b, (labels[0], labels[1]), inside, ratio)
        if counts.sum() == 0:
            raise EstimationError(f"chisq: no row has both {a!r} and {b!r} observed")
        whole = where is None or bool(self.calibration)  # R keeps a calibrated design's rows
        nu = float(self.degf if whole else self._domain_degf(inside))
        text = ([str(x) for x in labels[0]], [str(x) for x in labels[1]])
        return rao_scott(lambda _: fam, (a, b), text, counts, n_rows, nu, statistic)

    def _domain_degf(self, inside: str) -> int:
        """R ``degf(subset(design, ...))``: PSUs (rows) minus strata holding the rows."""
        lay = self.layout
        if lay.psu is None:  # each row its own PSU
            query = f"SELECT count(*) - count(DISTINCT {lay.stratum_sql}) AS _df FROM {SRC}"
            return int(self.source.sql(f"{query} WHERE {inside}").item())
        found = self.source.sql(
            f"SELECT count(*) - count(DISTINCT _h) AS _df FROM (SELECT DISTINCT "
            f"{lay.stratum_sql} AS _h, {ident(lay.psu)} AS _p FROM {SRC} WHERE {inside}) AS _u"
        )
        return int(found.item())

    def rake(
        self,
        margins: Mapping[Any, Any],
        by: str | None = None,
        tol: float = 1e-10,
        max_iter: int = 100,
        cap: float | None = None,
        *,
        id: str,
        to: str | Path,
        name: str = "weight",
    ) -> WrittenWeights:
        """Rake to categorical margins (as ``Design.rake``, on the cell table of the
        raking variables and ``by``), writing the weights to a new Parquet file or table
        ``to``, keyed by the respondent id column ``id``; see ``WrittenWeights``.
        ``cap`` bounds single respondents' weights, which the cell table does not see."""
        if cap is not None:
            raise WeightingError("cap= is not available on a DuckDB design (it bounds rows)")
        names = rake_variables(margins, by)
        cells = ([by] if by is not None else []) + names
        return self._weigh(
            cells,
            "rake",
            lambda d: d.rake(margins, by=by, tol=tol, max_iter=max_iter),
            id,
            to,
            name,
            group=by,
        )

    def calibrate(
        self,
        margins: Mapping[Any, Any],
        method: CalibrationMethod = "linear",
        bounds: tuple[float, float] | None = None,
        *,
        id: str,
        to: str | Path,
        name: str = "weight",
        tol: float = 1e-10,
        max_iter: int = 100,
    ) -> WrittenWeights:
        """Calibrate to totals of categorical variables (as ``Design.calibrate``: the
        g-weights of a cell are the same for all its respondents, so it runs on the cell
        table), writing the weights to ``to`` keyed by ``id``; see ``WrittenWeights``.
        Numeric auxiliaries (GREG on a model matrix) are not yet available in DuckDB."""
        numeric = [k for k, v in margins.items() if not isinstance(v, Mapping)]
        if [k for k in numeric if k != "(Intercept)"]:
            raise WeightingError(
                f"calibration to numeric totals ({numeric[0]!r}) is not yet available on a "
                "DuckDB design; categorical margins are"
            )
        names = [str(k) for k in margins if k not in numeric]
        return self._weigh(
            names,
            "calibrate",
            lambda d: d.calibrate(
                margins, method=method, bounds=bounds, tol=tol, max_iter=max_iter
            ),
            id,
            to,
            name,
        )

    def poststratify(
        self,
        variables: str | Sequence[str],
        table: Any,
        *,
        id: str,
        to: str | Path,
        name: str = "weight",
        partial: bool = False,
    ) -> WrittenWeights:
        """Post-stratify to population cell totals (as ``Design.poststratify``, on the
        cell table), writing the weights to ``to`` keyed by ``id``; see ``WrittenWeights``."""
        names = [variables] if isinstance(variables, str) else list(variables)
        return self._weigh(
            names,
            "poststratify",
            lambda d: d.poststratify(names, table, partial=partial),
            id,
            to,
            name,
        )

    def _weigh(
        self,
        variables: list[str],
        method: str,
        run: Callable[[Design], Design],
        id: str,
        to: str | Path,
        name: str,
        group: str | None = None,
    ) -> WrittenWeights:
        """Weight on the cell table of ``variables`` and write the weights; the result
        carries the calibrated design over the data joined to them (``group``: the
        column raked within, for ``weight_summary``)."""
        if self.cell_record is not None:
            raise WeightingError(
                f"this DuckDB design is already weighted (on {list(self.cell_record.variables)}"
                "); weight its base design once, on all the variables together"
            )
        written, record = weight_cells(
            self.source, self.layout.weights, variables, method, run, id, to, name
        )
        written = replace(written, group=group)
        return replace(written, design=self._weighted(written, record))

    def _weighted(self, written: WrittenWeights, record: CellRecord) -> DuckDBDesign:
        """The design over the data joined by id to the written weights (a view: the
        join runs inside every query), with the weighting's steps for its variances."""
        target = written.target
        joined = self.source.joined(target, written.id, written.weight)
        lay = self.layout
        design = DuckDBDesign(
            joined, written.weight, lay.strata, lay.psu, lay.fpc, lay.nest, lay.lonely_psu
        )
        design.source = replace(
            design.source, label=f"{self.source.label} with the weights of {target}"
        )
        design.cell_record = record
        design.calibration = record.steps
        design.weighting = written
        return design

    def weight_summary(self) -> WeightSummary:
        """Weighting diagnostics (as ``Design.weight_summary``: Kish's design effect and
        effective n, per group of a raking's ``by``) from grouped sums in DuckDB; see
        ``duck_weighting.weight_summary``."""
        from barometer.core.backends.duck_weighting import weight_summary

        info = self.weighting if isinstance(self.weighting, WrittenWeights) else None
        before = self.cell_record.base_weights if self.cell_record is not None else None
        return weight_summary(self.source, self.layout.weights, info, before)


def _where_sql(src: Source, where: Mapping[str, Any] | None) -> str:
    """SQL for the rows of the domain ``where`` (column -> value or list of values)."""
    parts = []
    for column, value in (where or {}).items():
        src.check([column], "where:", EstimationError)
        values = list(value) if isinstance(value, list | tuple | set) else [value]
        parts.append(f"{ident(column)} IN ({', '.join(map(value_literal, values))})")
    return " AND ".join(parts) or "TRUE"


def _not_yet(name: str) -> Any:
    def method(self: DuckDBDesign, *args: Any, **kwargs: Any) -> NoReturn:
        raise EstimationError(
            f"{name}() is not yet available on a DuckDB design ({self.source.label}): it "
            "needs per-row data; mean, total and proportion run in DuckDB"
        )

    method.__name__ = name
    return method


for _name in _NOT_YET:
    setattr(DuckDBDesign, _name, _not_yet(_name))


__all__ = ["DuckDBDesign"]
