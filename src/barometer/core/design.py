"""Survey designs: a table bound to its weights, strata, clusters and finite-population sizes."""

from __future__ import annotations

import abc
import copy
import functools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Self, overload

import numpy as np
import polars as pl

from barometer.core import estimators
from barometer.core._columns import Columns
from barometer.core._frame import as_list, check_columns, dense_codes, encode, first_rows, to_polars
from barometer.core._protocols import ColumnSource, DesignCache, FloatArray, TableLike, Targets
from barometer.core.variance import linearisation as lin
from barometer.core.variance.steps import CalibrationStep
from barometer.errors import DesignError, EstimationError
from barometer.options import (
    CONFIDENCE,
    CalibrationMethod,
    ChisqStatistic,
    CIMethod,
    LonelyPSU,
    ReplicateType,
    check_option,
    confidence_level,
)

if TYPE_CHECKING:
    from barometer.core.chisq import ChisqTest
    from barometer.core.estimates import Estimates
    from barometer.core.estimators import RatioFamily
    from barometer.core.models import Family, Model, Models
    from barometer.core.models.olr import OrdinalModel
    from barometer.core.ttest import TTest
    from barometer.core.weighting.diagnostics import WeightSummary
    from barometer.core.weighting.spec import WeightingInfo


@dataclass(frozen=True, eq=False)
class Structure:
    """The sampling structure as integer codes.

    PSUs are numbered 0..P-1 in stratum order, so each stratum's PSUs are a contiguous block.
    ``scale[h]`` is R ``onestrat``'s factor ``f_h n_h / (n_h - 1)`` (``f_h`` alone for a lonely
    PSU), with ``f_h = (N_h - n_h) / N_h`` the finite-population correction (1 without fpc).
    """

    n: int
    psu_stratum: np.ndarray  # (P,) stratum of each PSU
    n_psu: np.ndarray  # (H,) PSUs per stratum
    scale: np.ndarray  # (H,)
    census: np.ndarray  # (H,) bool: f_h ~ 0, the stratum contributes nothing
    lonely_psu: str
    stratum_labels: pl.DataFrame  # one row per stratum (empty frame when unstratified)
    element: bool  # every row is its own PSU
    # (strata, psu) codes per row; validation needs only the per-stratum counts, so the
    # per-row codes are formed when an estimate first asks for them (raking never does)
    rows: Callable[[], tuple[np.ndarray, np.ndarray]]

    @cached_property
    def _row_codes(self) -> tuple[np.ndarray, np.ndarray]:
        h, p = self.rows()
        return h.astype(np.int64, copy=False), p.astype(np.int64, copy=False)

    @property
    def strata(self) -> np.ndarray:
        """(n,) stratum code per row."""
        return self._row_codes[0]

    @property
    def psu(self) -> np.ndarray:
        """(n,) PSU code per row, 0..P-1, sorted by stratum."""
        return self._row_codes[1]

    @property
    def n_strata(self) -> int:
        return self.n_psu.size

    @property
    def n_psus(self) -> int:
        return self.psu_stratum.size


def _weights(frame: pl.DataFrame, weights: str | None) -> np.ndarray:
    if weights is None:
        return np.ones(frame.height)
    check_columns(frame, [weights], "weights", DesignError)
    col = frame.get_column(weights)
    if not col.dtype.is_numeric():
        raise DesignError(f"weights column {weights!r} must be numeric, not {col.dtype}")
    w = col.cast(pl.Float64).to_numpy()  # read-only, and a copy only if it must convert
    # min and max propagate NaN, so two reductions check everything without a temporary
    if not (w.size == 0 or (w.min() > 0 and w.max() < np.inf)):
        bad = ~np.isfinite(w)
        if bad.any():
            raise DesignError(f"weights column {weights!r} has missing values in {first_rows(bad)}")
        raise DesignError(
            f"weights column {weights!r} must be positive; it is not in {first_rows(w <= 0)}"
        )
    return w


def _integer_ids(
    frame: pl.DataFrame, strata: str, psu: str
) -> tuple[pl.DataFrame, np.ndarray, Callable[[], tuple[np.ndarray, np.ndarray]]] | None:
    """Strata and PSUs given as integer ids in a modest range (the usual case), coded from
    the (stratum, psu) keys: the stratum labels, each PSU's stratum (PSUs numbered in
    (stratum, psu) order) and a function giving the per-row codes. ``None`` when the
    columns are not such ids (the general path codes them)."""
    hs, ps = frame.get_column(strata), frame.get_column(psu)
    signed = (hs.dtype, ps.dtype)
    if not all(t.is_integer() and t != pl.UInt64 for t in signed) or frame.height == 0:
        return None  # (UInt64 ids may not fit in int64: the general path codes them)
    h, p = hs.cast(pl.Int64).to_numpy(), ps.cast(pl.Int64).to_numpy()
    h_lo, p_lo = int(h.min()), int(p.min())
    h_span, p_span = int(h.max()) - h_lo + 1, int(p.max()) - p_lo + 1
    span = h_span * p_span
    if span > max(4 * frame.height, 1 << 16):
        return None
    key = h - h_lo  # offsets first: ids near the int64 limits must not overflow
    key *= p_span
    key += p
    key -= p_lo
    keys = np.flatnonzero(np.bincount(key, minlength=span) > 0)  # on bools: ~6x faster
    h_present, psu_stratum = np.unique(keys // p_span, return_inverse=True)
    labels = pl.DataFrame([pl.Series(strata, h_present + h_lo).cast(hs.dtype)])

    def rows() -> tuple[np.ndarray, np.ndarray]:
        lut = np.zeros(span, dtype=np.int64)
        lut[keys] = np.arange(keys.size)
        psu_code = lut[key]
        return psu_stratum[psu_code], psu_code

    return labels, psu_stratum, rows


def _check_layout(
    frame: pl.DataFrame, strata: str | None, psu: str | None, fpc: str | None
) -> None:
    """The design columns exist, and strata and PSU ids are never missing."""
    for role, name in (("strata", strata), ("psu", psu), ("fpc", fpc)):
        if name is not None:
            check_columns(frame, [name], role, DesignError)
    for role, name in (("strata", strata), ("psu", psu)):
        if name is not None and frame.get_column(name).null_count():
            miss = frame.get_column(name).is_null().to_numpy()
            raise DesignError(f"{role} column {name!r} has missing values in {first_rows(miss)}")


def _structure(
    frame: pl.DataFrame,
    strata: str | None,
    psu: str | None,
    fpc: str | None,
    nest: bool,
    lonely_psu: str,
) -> Structure:
    n = frame.height
    ids = _integer_ids(frame, strata, psu) if strata is not None and psu is not None else None
    rows: Callable[[], tuple[np.ndarray, np.ndarray]]
    if ids is not None:
        labels, psu_stratum, rows = ids
        n_strata = labels.height
        if psu is not None and (not nest or fpc is not None):
            _check_nesting(frame, strata, psu, nest, rows()[0], labels)
    else:
        if strata is not None:
            st = encode(frame, [strata])
            h_code, labels = st.codes, st.levels
        else:
            h_code, labels = np.zeros(n, dtype=np.int64), pl.DataFrame()
        n_strata = int(h_code.max()) + 1 if n else 1
        psu_code, psu_stratum = _number_psus(frame, strata, psu, nest, h_code, n_strata, labels)
        # the codes are at hand here: a callable that just returns them
        codes = (h_code, psu_code)

        def rows() -> tuple[np.ndarray, np.ndarray]:
            return codes

    n_psu = np.bincount(psu_stratum, minlength=n_strata)
    f = np.ones(n_strata)
    if fpc is not None:
        f = fpc_factor(frame, fpc, strata, rows()[0], n_psu)
    lonely = n_psu == 1
    scale = np.where(lonely, f, f * n_psu / np.maximum(n_psu - 1, 1))
    if lonely.any() and lonely_psu == "fail":
        which = labels.row(int(np.flatnonzero(lonely)[0])) if labels.width else ("(all)",)
        raise DesignError(
            f"stratum {which[0]!r} of {strata!r} has only one PSU "
            f"({int(lonely.sum())} such strata); choose lonely_psu='adjust', 'average', "
            "'certainty' or 'remove' (R's survey.lonely.psu)"
        )
    return Structure(
        n=n,
        psu_stratum=psu_stratum.astype(np.int64, copy=False),
        n_psu=n_psu,
        scale=scale,
        census=f < 1e-7,
        lonely_psu=lonely_psu,
        stratum_labels=labels,
        element=psu is None,
        rows=functools.cache(rows),
    )


def _number_psus(
    frame: pl.DataFrame,
    strata: str | None,
    psu: str | None,
    nest: bool,
    h_code: np.ndarray,
    n_strata: int,
    labels: pl.DataFrame,
) -> tuple[np.ndarray, np.ndarray]:
    """Number PSUs 0..P-1 in (stratum, psu) order, so strata are contiguous blocks:
    each row's PSU code and each PSU's stratum."""
    n = frame.height
    if psu is None and n_strata < 2**15:
        # each row a PSU: a stable radix sort of the 16-bit stratum codes is enough
        order = np.argsort(h_code.astype(np.int16), kind="stable")
        psu_code = np.empty(n, dtype=np.int64)
        psu_code[order] = np.arange(n)
        return psu_code, h_code[order]
    raw_psu = np.arange(n, dtype=np.int64) if psu is None else encode(frame, [psu]).codes
    if psu is not None:
        _check_nesting(frame, strata, psu, nest, h_code, labels, raw_psu)
    width = int(raw_psu.max()) + 1
    psu_code, uniq = dense_codes(h_code * width + raw_psu, n_strata * width)
    return psu_code, uniq // width


def _check_nesting(
    frame: pl.DataFrame,
    strata: str | None,
    psu: str,
    nest: bool,
    h_code: np.ndarray,
    labels: pl.DataFrame,
    raw_psu: np.ndarray | None = None,
) -> None:
    """With ``nest=False`` (R's default), a PSU id in two strata is an error."""
    if nest or strata is None:
        return
    if raw_psu is None:
        raw_psu = encode(frame, [psu]).codes
    size = int(raw_psu.max()) + 1
    lo = np.full(size, np.iinfo(np.int64).max)
    hi = np.full(size, -1)
    np.minimum.at(lo, raw_psu, h_code)
    np.maximum.at(hi, raw_psu, h_code)
    clash = lo[raw_psu] != hi[raw_psu]
    if clash.any():
        row = int(np.flatnonzero(clash)[0])
        p_val = frame.get_column(psu)[row]
        names = [labels.get_column(strata)[int(c)] for c in (lo[raw_psu[row]], hi[raw_psu[row]])]
        raise DesignError(
            f"psu column {psu!r}: PSU {p_val!r} lies in more than one stratum of "
            f"{strata!r} ({names[0]!r} and {names[1]!r}; {first_rows(clash)}); pass "
            "nest=True if PSU ids are only unique within strata"
        )


def fpc_factor(
    frame: pl.DataFrame, fpc: str, strata: str | None, h_code: np.ndarray, n_psu: np.ndarray
) -> np.ndarray:
    """``f_h = (N_h - n_h) / N_h`` per stratum from a population-size or fraction column.

    As R ``as.fpc``: values all <= 1 are sampling fractions, otherwise population sizes.
    """
    col = frame.get_column(fpc)
    if not col.dtype.is_numeric():
        raise DesignError(f"fpc column {fpc!r} must be numeric, not {col.dtype}")
    values = col.cast(pl.Float64).to_numpy()
    bad = ~np.isfinite(values) | (values <= 0)
    if bad.any():
        raise DesignError(f"fpc column {fpc!r} must be positive and present: {first_rows(bad)}")
    n_strata = n_psu.size
    first = np.full(n_strata, np.nan)
    first[h_code[::-1]] = values[::-1]
    varies = values != first[h_code]
    if varies.any():
        raise DesignError(
            f"fpc column {fpc!r} varies within a stratum{f' of {strata!r}' if strata else ''} "
            f"({first_rows(varies)}); it must hold one value per stratum"
        )
    if np.all(values <= 1):
        return 1.0 - first
    if np.any(values < 1):
        raise DesignError(
            f"fpc column {fpc!r} mixes sampling fractions (<= 1) and population sizes (> 1)"
        )
    small = first < n_psu
    if small.any():
        raise DesignError(
            f"fpc column {fpc!r} gives a population size smaller than the number of sampled "
            f"PSUs in {int(small.sum())} strata"
        )
    out: FloatArray = (first - n_psu) / first
    return out


def long_bases(wide: pl.DataFrame, by: list[str], names: list[str]) -> pl.DataFrame:
    """``Design.bases``'s table from one row per domain holding ``_bases_n{i}`` (count)
    and ``_bases_w{i}`` (weight sum) of the ``i``-th variable: one row per domain and variable
    observed there, domains sorted, variables in the order given."""
    parts = [
        wide.select(
            *by,
            pl.lit(name).alias("variable"),
            pl.col(f"_bases_n{i}").cast(pl.Int64).alias("n"),
            pl.col(f"_bases_w{i}").cast(pl.Float64).fill_null(0.0).alias("weight"),
        )
        for i, name in enumerate(names)
    ]
    if not parts:  # no variable: no row
        empty = {"variable": pl.String, "n": pl.Int64, "weight": pl.Float64}
        nothing = (pl.lit(None, t).alias(c) for c, t in empty.items())
        return wide.select(by).clear().with_columns(nothing)
    out = pl.concat(parts).filter(pl.col("n") > 0)
    return out.sort(by, maintain_order=True) if by else out


class _Estimating(abc.ABC):
    """The estimator methods, shared by linearisation and replicate designs; each kind
    supplies what ``SurveyDesign`` asks of it beyond these."""

    _columns: Columns
    weights: FloatArray
    calibration: tuple[CalibrationStep, ...]
    weighting: WeightingInfo | None
    cache: DesignCache

    @property
    @abc.abstractmethod
    def structure(self) -> Structure | None:
        """The sampling structure (None: a replicate design)."""

    @property
    @abc.abstractmethod
    def replicate_weights(self) -> FloatArray | None:
        """The replicate weights (None: a linearisation design)."""

    @property
    @abc.abstractmethod
    def degf(self) -> int:
        """Design degrees of freedom (R ``degf``)."""

    @abc.abstractmethod
    def variance(self, family: RatioFamily, full: bool) -> FloatArray:
        """Variances (``full``: covariance) of a family of ratio estimates."""

    def _concrete(self) -> Design | ReplicateDesign:
        """This design as its kind, for the estimators that read kind-specific parts."""
        assert isinstance(self, Design | ReplicateDesign)
        return self

    def _bind(
        self, data: TableLike, weights: str | None, source: ColumnSource | None = None
    ) -> pl.DataFrame:
        """Convert the table once, at the door, and read and check its weights."""
        frame = to_polars(data)
        if frame.height == 0:
            raise DesignError("data has no rows")
        w = _weights(frame, weights)
        w.setflags(write=False)
        self._start(frame, w, source)
        return frame

    def _start(
        self, frame: pl.DataFrame, weights: FloatArray, source: ColumnSource | None = None
    ) -> None:
        self._columns = Columns(frame, source)
        self.weights = weights
        self.calibration = ()
        self.weighting = None
        self.cache = DesignCache()

    def with_weights(
        self,
        weights: FloatArray,
        step: CalibrationStep,
        info: WeightingInfo | None = None,
        replicate_weights: FloatArray | None = None,
    ) -> Self:
        """A new design of the same kind with the same sample, ``weights`` and ``step``
        added to its calibration record (what the variance residualises on). The new
        design owns ``weights`` (made read-only): weighting passes a fresh array."""
        new = copy.copy(self)
        w = np.asarray(weights, dtype=float)
        w.setflags(write=False)
        new.weights = w
        new.calibration = (*self.calibration, step)
        new.weighting = info
        new.cache = self.cache.for_new_weights()
        return new

    @property
    def n(self) -> int:
        """Number of rows (respondents)."""
        return self._columns.frame.height  # (no column source's column need be read)

    @property
    def data(self) -> pl.DataFrame:
        """The respondents, every column (a column source's still unread ones read now)."""
        return self._columns.full()

    def data_with(self, names: Sequence[str]) -> pl.DataFrame:
        """The respondents with at least the columns ``names`` that the design knows (a
        column source's read now, in one call, and kept): what an estimate reads, so a
        design over a column source reads only the columns its estimates use."""
        return self._columns.with_names(names)

    def load(self, names: str | Sequence[str]) -> None:
        """Read the columns ``names`` from the design's column source now, in one call (a
        caller about to estimate several saves a read per column); a no-op for columns
        the design holds."""
        self.data_with(as_list(names))

    @property
    def columns(self) -> tuple[str, ...]:
        """The names of the data's columns (a column source's too, before they are read;
        a DuckDB design's too, whose rows stay there)."""
        return self._columns.names

    def bases(
        self, variables: str | Sequence[str], by: str | Sequence[str] | None = None
    ) -> pl.DataFrame:
        """The respondents with each of ``variables`` observed in each domain of ``by``,
        and their weights summed: columns ``*by, variable, n, weight`` (the unweighted
        and weighted base of an estimate of the variable; no variance is computed), from
        one grouped pass over the rows for all the variables.

        Observed is not null (and not NaN); rows with a ``by`` value missing are in no
        domain, and a domain without a respondent observed has no row for the variable,
        as in every estimate. The same on a DuckDB design, from one GROUP BY.

        Examples
        --------
        >>> import polars as pl, barometer as bm
        >>> df = pl.DataFrame({"w": [1.0, 2.0, 4.0], "g": ["a", "a", "b"], "q": ["x", None, "y"]})
        >>> bm.Design(df, weights="w").bases("q", by="g").rows()
        [('a', 'q', 1, 1.0), ('b', 'q', 1, 4.0)]
        """
        names, by_list = as_list(variables), as_list(by)
        data = self.data_with([*names, *by_list])
        check_columns(data, [*names, *by_list], "bases", EstimationError)
        weight = pl.Series("_bases_w", np.asarray(self.weights, dtype=np.float64))
        sums = []
        for i, name in enumerate(names):
            column = pl.col(name)
            seen = column.is_not_null()
            if data.schema[name].is_float():
                seen &= column.is_nan().fill_null(False).not_()
            total = pl.col("_bases_w").filter(seen).sum()
            sums += [seen.sum().alias(f"_bases_n{i}"), total.alias(f"_bases_w{i}")]
        inside = pl.all_horizontal(pl.col(b).is_not_null() for b in by_list) if by_list else None
        frame = data.select(*by_list, *names).with_columns(weight)
        if inside is not None:
            frame = frame.filter(inside)
        wide = frame.group_by(by_list).agg(sums) if by_list else frame.select(sums)
        return long_bases(wide, by_list, names)

    def mean(
        self,
        variables: str | Sequence[str],
        by: str | Sequence[str] | None = None,
        confidence: float = CONFIDENCE,
    ) -> Estimates:
        """Weighted mean of each numeric variable, overall or by domain.

        The ratio estimator ``sum w y / sum w`` over the domain's rows with ``y`` observed,
        with a linearisation (or replicate) standard error that treats missing values and
        rows outside the domain as a domain, not as dropped rows (R ``svymean(...,
        na.rm=TRUE)`` under ``svyby``; Lumley 2010, sec. 2.3). Each variable has its own base.
        Intervals are normal at ``confidence`` (R ``confint(svymean(...), level=)``).

        Examples
        --------
        >>> import polars as pl, barometer as bm
        >>> df = pl.DataFrame({"w": [1.0, 2.0, 1.0, 3.0], "g": ["a", "a", "b", "b"],
        ...                    "y": [1.0, 2.0, 3.0, None]})
        >>> bm.Design(df, weights="w").mean("y", by="g").to_polars()["estimate"].to_list()
        [1.6666666666666667, 3.0]
        """
        conf = confidence_level(confidence, None, DesignError, "mean")
        return estimators.mean(self, as_list(variables), as_list(by), conf)

    def total(
        self,
        variables: str | Sequence[str],
        by: str | Sequence[str] | None = None,
    ) -> Estimates:
        """Weighted total ``sum w y`` of numeric variables, or the weighted count of every
        level of categorical ones, overall or by domain (R ``svytotal``, ``svyby``).

        Examples
        --------
        >>> import polars as pl, barometer as bm
        >>> df = pl.DataFrame({"w": [10.0, 20.0, 30.0], "q": ["yes", "no", "yes"]})
        >>> bm.Design(df, weights="w").total("q").to_polars()["estimate"].to_list()
        [20.0, 40.0]
        """
        return estimators.total(self, as_list(variables), as_list(by))

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
        """Share of every level of ``variable`` (or of one ``level``), with intervals.

        The shares are R's ``svymean`` of a factor (rows with the variable missing left out
        of the base); ``ci`` chooses the interval: ``"wald"`` (normal, as
        ``confint(svymean(...))``), or R ``svyciprop``'s ``"logit"``, ``"likelihood"``,
        ``"asin"``, ``"beta"`` (Korn-Graubard), ``"mean"``, ``"xlogit"``, which use a t
        quantile with the domain's design degrees of freedom; ``"wilson"`` is the Wilson
        score interval on the effective sample size (not in R ``survey`` 4.1).
        ``confidence`` is the confidence level (``level_ci=`` is its deprecated spelling).

        Examples
        --------
        >>> import polars as pl, barometer as bm
        >>> df = pl.DataFrame({"w": [1.0, 1.0, 2.0, 4.0], "q": ["ally", "rival", "ally", None]})
        >>> bm.Design(df, weights="w").proportion("q").to_polars()["estimate"].to_list()
        [0.75, 0.25]
        """
        ci = check_option(ci, CIMethod, "ci", DesignError)
        conf = confidence_level(confidence, level_ci, DesignError, "proportion")
        return estimators.proportion(self, variable, as_list(by), level, ci, conf)

    def quantile(
        self,
        variable: str,
        probs: float | Sequence[float],
        by: str | Sequence[str] | None = None,
        confidence: float = CONFIDENCE,
        *,
        level_ci: float | None = None,
    ) -> Estimates:
        """Quantiles with Woodruff intervals at level ``confidence`` (R ``svyquantile``,
        ``qrule='math'``); ``level_ci=`` is the deprecated spelling of ``confidence``."""
        from barometer.core.quantiles import quantile

        conf = confidence_level(confidence, level_ci, EstimationError, "quantile")
        p = (
            [float(probs)]
            if isinstance(probs, int | float | np.number)
            else [float(x) for x in probs]
        )
        return quantile(self, variable, p, as_list(by), conf)

    def chisq(
        self,
        a: str,
        b: str,
        statistic: ChisqStatistic = "F",
        where: Mapping[str, object] | None = None,
    ) -> ChisqTest:
        """Rao-Scott test of independence of two categorical variables (R ``svychisq``);
        ``where`` (e.g. ``{"country": "DE"}``) tests within a domain, as R on ``subset()``."""
        from barometer.core.chisq import chisq

        return chisq(self, a, b, statistic, where)

    # weighting: thin delegations to barometer.core.weighting
    def rake(
        self,
        margins: Targets,
        by: str | None = None,
        tol: float = 1e-10,
        max_iter: int = 100,
        cap: float | None = None,
        floor: float | None = None,
    ) -> Self:
        """Rake to marginal totals by iterative proportional fitting; see ``weighting.rake``."""
        from barometer.core import weighting

        return weighting.rake(
            self, margins, by=by, tol=tol, max_iter=max_iter, cap=cap, floor=floor
        )

    def calibrate(
        self,
        margins: Targets,
        method: CalibrationMethod = "linear",
        bounds: tuple[float, float] | None = None,
        tol: float = 1e-10,
        max_iter: int = 100,
    ) -> Self:
        """Generalised regression calibration; see ``weighting.calibrate``."""
        from barometer.core import weighting

        return weighting.calibrate(
            self, margins, method=method, bounds=bounds, tol=tol, max_iter=max_iter
        )

    def poststratify(
        self, variables: str | Sequence[str], table: Targets, partial: bool = False
    ) -> Self:
        """Post-stratification to a cell table (R ``postStratify``; ``partial=True`` lets
        cells without respondents go); see ``weighting.poststratify``."""
        from barometer.core import weighting

        return weighting.poststratify(self, variables, table, partial=partial)

    def weight_summary(self) -> WeightSummary:
        """Weighting diagnostics: effective sample size, design effect, margins."""
        from barometer.core import weighting

        return weighting.weight_summary(self)

    # models, ratios, t-tests (issue 19): thin delegations to core.models, ratio, ttest
    @overload
    def glm(
        self,
        formula: str,
        family: Family = ...,
        offset: str | None = ...,
        where: Mapping[str, object] | None = ...,
        by: None = ...,
    ) -> Model: ...
    @overload
    def glm(
        self,
        formula: str,
        family: Family = ...,
        offset: str | None = ...,
        where: Mapping[str, object] | None = ...,
        *,
        by: str | Sequence[str],
    ) -> Models: ...
    def glm(
        self,
        formula: str,
        family: Family = "gaussian",
        offset: str | None = None,
        where: Mapping[str, object] | None = None,
        by: str | Sequence[str] | None = None,
    ) -> Model | Models:
        """Design-based generalised linear model (R ``svyglm``; ``where`` fits within a
        domain, as ``svyglm(subset=)``; ``by`` fits one model per domain); see
        ``core.models.glm``."""
        from barometer.core.models import domain_rows, fit, fit_by

        rows = None if where is None else domain_rows(self.data, where)
        if by is not None:
            return fit_by(self._concrete(), formula, family, offset, rows, as_list(by))
        return fit(self._concrete(), formula, family, offset, rows)

    def olr(
        self,
        formula: str,
        levels: Sequence[object] | None = None,
        where: Mapping[str, object] | None = None,
    ) -> OrdinalModel:
        """Proportional-odds regression of an ordered response (R ``svyolr``); ``levels``
        orders the response (default: an ``Enum``'s declared order, else sorted); see
        ``core.models.olr``."""
        from barometer.core.models import domain_rows
        from barometer.core.models.olr import olr

        rows = None if where is None else domain_rows(self.data, where)
        return olr(self._concrete(), formula, levels, rows)

    def ratio(
        self,
        numerator: str | Sequence[str],
        denominator: str | Sequence[str],
        by: str | Sequence[str] | None = None,
        confidence: float = 0.95,
    ) -> Estimates:
        """Ratio of weighted totals ``sum w y / sum w x`` (R ``svyratio``); see ``core.ratio``."""
        from barometer.core.ratio import ratio

        return ratio(
            self._concrete(), as_list(numerator), as_list(denominator), as_list(by), confidence
        )

    def ttest(self, variable: str, group: str | None = None, confidence: float = 0.95) -> TTest:
        """Design-based t-test of a difference in means (R ``svyttest``); see ``core.ttest``."""
        from barometer.core.ttest import ttest

        return ttest(self._concrete(), variable, group, confidence)


class Design(_Estimating):
    """A table bound to its sampling design, for Taylor-linearisation variances.

    Parameters
    ----------
    data : polars, pandas or pyarrow table
        One row per respondent. It is converted once and never modified.
    weights : str, optional
        Column of sampling (or base) weights; positive. Equal weights if omitted.
    strata : str, optional
        Column of first-stage strata.
    psu : str, optional
        Column of first-stage clusters (primary sampling units). Omitted: each row is a PSU.
        Variances follow the ultimate-cluster approximation (R ``svyrecvar``, first stage).
    fpc : str, optional
        Column of the number of PSUs in the population per stratum, or the sampling fraction
        (all values <= 1), constant within a stratum (R ``svydesign(fpc=)``).
    nest : bool
        PSU ids repeat across strata and are only unique within them (R ``nest=TRUE``).
        barometer's default is True, R's is False; with ``nest=False`` a PSU in two strata is
        an error.
    lonely_psu : {"fail", "adjust", "average", "certainty", "remove"}
        What to do with a stratum that has a single PSU (R ``options(survey.lonely.psu)``).
    column_source : ColumnSource, optional
        More columns of the same rows, read when an estimate first uses one (see
        ``core._protocols.ColumnSource``): ``data`` then holds the design's own columns
        (weights, strata, PSUs, fpc) and any others at hand.

    Notes
    -----
    Construction checks the columns, the weights, missing strata or PSU ids, an fpc that
    varies within a stratum and (with ``nest=False``) a PSU in two strata. The strata and
    clusters themselves are coded when a variance first needs them, so a lonely PSU under
    ``lonely_psu="fail"`` is reported by the first estimate, as R reports it from
    ``svyrecvar`` rather than from ``svydesign``; weighting alone never pays for them.

    Examples
    --------
    >>> import polars as pl, barometer as bm
    >>> df = pl.DataFrame({"w": [1.0, 2.0, 1.0, 3.0], "y": [1.0, 2.0, 3.0, 4.0]})
    >>> round(bm.Design(df, weights="w").mean("y").to_polars()["estimate"][0], 4)
    2.8571
    """

    # --- backends: a DuckDB relation or Parquet files are estimated where they live -------
    def __new__(cls, data: object = None, *args: object, **kwargs: object) -> Design:
        from barometer.core.backends import is_external

        if cls is Design and is_external(data):
            from barometer.core.backends.duck_design import DuckDBDesign

            cls = DuckDBDesign
        return super().__new__(cls)

    # --------------------------------------------------------------------------------------

    def __init__(
        self,
        data: TableLike,
        weights: str | None = None,
        strata: str | None = None,
        psu: str | None = None,
        fpc: str | None = None,
        nest: bool = True,
        lonely_psu: LonelyPSU = "fail",
        *,
        column_source: ColumnSource | None = None,
    ) -> None:
        lonely_psu = check_option(lonely_psu, LonelyPSU, "lonely_psu", DesignError)
        frame = self._bind(data, weights, column_source)
        _check_layout(frame, strata, psu, fpc)
        self._layout = (strata, psu, fpc, nest, lonely_psu)
        if fpc is not None or (not nest and strata is not None and psu is not None):
            self.structure  # noqa: B018 - fpc and nesting are checked now (see the class doc)
        self.spec: dict[str, str | bool | None] = {
            "weights": weights,
            "strata": strata,
            "psu": psu,
            "fpc": fpc,
            "nest": nest,
            "lonely_psu": lonely_psu,
        }

    @cached_property
    def structure(self) -> Structure:
        """The sampling structure as integer codes (R ``svydesign``'s strata, clusters, fpc).

        Formed when a variance first needs it: raking and point estimates do not."""
        layout = [c for c in self._layout[:3] if isinstance(c, str)]
        return _structure(self.data_with(layout), *self._layout)

    def __repr__(self) -> str:
        s = self.structure
        cal = f", {len(self.calibration)} calibration step(s)" if self.calibration else ""
        return (
            f"Design({self.n} rows, {s.n_strata} strata, {s.n_psus} PSUs{cal}; "
            f"{', '.join(f'{k}={v!r}' for k, v in self.spec.items() if v is not None)})"
        )

    @property
    def degf(self) -> int:
        """Design degrees of freedom: PSUs minus strata (R ``degf``)."""
        return self.structure.n_psus - self.structure.n_strata

    @property
    def replicate_weights(self) -> None:
        """None: a linearisation design has no replicate weights (see ``SurveyDesign``)."""
        return None

    def variance(self, family: RatioFamily, full: bool) -> FloatArray:
        """Taylor-linearisation variances of a family of ratio estimates (R ``svyrecvar``;
        see ``variance.linearisation``), calibration residuals included."""
        s2, s1 = estimators.linearised_sums(family, full)
        return lin.combine(s2, s1, self.structure, estimators.strata_present(family))

    def to_replicates(
        self, type: ReplicateType = "jk1", replicates: int | None = None, seed: int | None = None
    ) -> ReplicateDesign:
        """Replicate weights for this design, as R ``as.svrepdesign``; see ``replicates``."""
        from barometer.core.replication.weights import to_replicates

        type = check_option(type, ReplicateType, "type", DesignError)
        return to_replicates(self, type, replicates, seed)


class ReplicateDesign(_Estimating):
    """A table with replicate weights, for replication variances (R ``svrepdesign``).

    Variance ``scale * sum_r rscales_r (theta_r - theta_bar)^2`` (R ``svrVar``), centred on
    the mean of the replicates, or on the full-sample estimate with ``mse=True``.
    Default ``scale`` per type (R): jk1 (R-1)/R, jkn 1 (``rscales`` required: (n_h-1)/n_h),
    brr 1/R, fay 1/(R (1-rho)^2), bootstrap 1/(R-1), sdr 4/R. Replicate columns hold
    the full replicate weights (R's ``combined.weights=TRUE``). Missing replicate weights
    (nulls) are refused here; NaN or negative ones when the weights are first read (the
    first estimate checks them in the pass that sums them).
    """

    # --- backends: a DuckDB relation or Parquet files are estimated where they live -------
    def __new__(cls, data: object = None, *args: object, **kwargs: object) -> ReplicateDesign:
        from barometer.core.backends import is_external

        if cls is ReplicateDesign and is_external(data):
            from barometer.core.backends.duck_replicate import DuckDBReplicateDesign

            cls = DuckDBReplicateDesign
        return super().__new__(cls)

    # --------------------------------------------------------------------------------------
    type: ReplicateType
    scale: float
    rscales: FloatArray
    mse: bool
    # the replicate weights are held as the user's columns (``_frame``, summed in polars)
    # or as an array (built or re-weighted here); ``_unchecked``: values not yet checked
    _frame: pl.DataFrame | None
    _array: FloatArray | None
    _unchecked: bool

    def __init__(
        self,
        data: TableLike,
        weights: str | None,
        replicates: str | Sequence[str],
        type: ReplicateType,
        rscales: float | Sequence[float] | None = None,
        scale: float | None = None,
        mse: bool = False,
        rho: float | None = None,
    ) -> None:
        from barometer.core.replication.weights import replicate_setup

        type = check_option(type, ReplicateType, "type", DesignError)
        frame = self._bind(data, weights)
        setup = replicate_setup(frame, replicates, type, rscales, scale, rho, check=False)
        self.replicate_frame = setup.weights
        self._unchecked = True  # NaN/negative weights: found by the first pass that reads them
        self.type = type
        self.scale = setup.scale
        self.rscales = setup.rscales
        self.mse = bool(mse)

    @classmethod
    def from_arrays(
        cls,
        data: pl.DataFrame,
        weights: FloatArray,
        replicate_weights: FloatArray,
        type: ReplicateType,
        scale: float,
        rscales: FloatArray,
    ) -> ReplicateDesign:
        """A replicate design from replicate weights built here (``to_replicates``): the
        table and weights as the design they came from, ``mse=False``."""
        new = cls.__new__(cls)
        new._start(data, weights)
        new.replicate_weights = np.ascontiguousarray(replicate_weights)
        new.type = type
        new.scale = float(scale)
        new.rscales = np.asarray(rscales, dtype=float)
        new.mse = False
        return new

    def __repr__(self) -> str:
        return (
            f"ReplicateDesign({self.n} rows, {len(self.rscales)} "
            f"{self.type} replicates, scale={self.scale:.6g})"
        )

    @property
    def structure(self) -> None:
        """None: a replicate design's variances come from its replicate weights."""
        return None

    @property
    def replicate_frame(self) -> pl.DataFrame:
        """The replicate weights as a polars frame, one Float64 column per replicate."""
        if self._frame is None:
            assert self._array is not None
            self._frame = pl.DataFrame(
                self._array, schema=[f"r{i}" for i in range(self._array.shape[1])]
            )
        elif self._unchecked:
            self.mark_checked(None)
        return self._frame

    @replicate_frame.setter
    def replicate_frame(self, frame: pl.DataFrame) -> None:
        self._frame, self._array, self._unchecked = frame, None, False

    @property
    def replicate_weights(self) -> FloatArray:
        """The replicate weights as an n x R array (row order; formed on first use)."""
        if self._array is None:
            self._array = np.ascontiguousarray(self.replicate_frame.to_numpy(), dtype=float)
            self._array.setflags(write=False)
        return self._array

    @replicate_weights.setter
    def replicate_weights(self, weights: FloatArray) -> None:
        self._array, self._frame, self._unchecked = np.asarray(weights, dtype=float), None, False

    @property
    def replicate_array(self) -> FloatArray | None:
        """The replicate weights if they are held as an array (built or re-weighted here),
        None while they are the user's columns (which the variance sums in polars)."""
        return self._array

    def unchecked_frame(self) -> pl.DataFrame | None:
        """The replicate columns if their values (NaN, negative weights) are still to be
        checked — by the first pass that reads them, which then calls ``mark_checked`` —
        else None."""
        return self._frame if self._unchecked else None

    def mark_checked(self, lows: FloatArray | None) -> None:
        """Check the values of ``unchecked_frame()`` (``replication.weights.check_values``;
        ``lows``: the columns' smallest values, if a pass has found them) and record it."""
        from barometer.core.replication.weights import check_values

        assert self._frame is not None
        check_values(self._frame, lows)
        self._unchecked = False

    @property
    def degf(self) -> int:
        """Degrees of freedom: as R's ``degf`` for replicate designs, the rank of the
        replicate weights minus one."""
        return int(np.linalg.matrix_rank(self.replicate_weights)) - 1

    def variance(self, family: RatioFamily, full: bool) -> FloatArray:
        """Replication variances of a family of ratio estimates (R ``svrVar``; see
        ``variance.replicate``)."""
        from barometer.core.variance.replicate import replicate_variance

        return replicate_variance(self, family, full)

    def with_weights(
        self,
        weights: FloatArray,
        step: CalibrationStep,
        info: WeightingInfo | None = None,
        replicate_weights: FloatArray | None = None,
    ) -> Self:
        if replicate_weights is None:
            raise DesignError("a calibrated replicate design needs re-calibrated replicates")
        new = super().with_weights(weights, step, info)
        new.replicate_weights = np.asarray(replicate_weights, dtype=float)
        return new


__all__ = ["Design", "ReplicateDesign", "Structure"]
