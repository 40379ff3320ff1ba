"""Design-based generalised linear models (R ``svyglm``), their tests, predictions, margins.

The coefficients solve the weighted score equations ``sum_i w_i x_i (y_i - mu_i)
mu'_i / V(mu_i) = 0`` (IRLS, ``models.irls``). Their covariance is the sandwich
``A^-1 B A^-1`` of Binder (1983): with ``A = X'WX`` and the influence values
``x_i score_i A^-1`` of every row, ``B`` is the design covariance of their total, from the
core's one linearisation (strata, PSUs, fpc, lonely PSUs, calibration residuals: R
``svy.varcoef`` -> ``svyrecvar``); on a replicate design the model is re-fitted under every
replicate weight, each fit starting from the full-sample coefficients (R
``svyglm.svyrep.design``), and the covariance is R ``svrVar``'s. Lumley (2010), ch. 5.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import polars as pl

from barometer.core import distributions, influence
from barometer.core._frame import check_columns, to_polars
from barometer.core.intervals import t_quantile
from barometer.core.models import formula as fm
from barometer.core.models.irls import Cells, Family, Fit, Link, check_response, irls
from barometer.core.models.table import coefficient_table
from barometer.errors import EstimationError, did_you_mean
from barometer.options import PredictType, check_option

if TYPE_CHECKING:
    from barometer.core.design import Design, ReplicateDesign
    from barometer.core.models.margins import Margins

    SampleDesign = Design | ReplicateDesign

COLUMNS = ("term", "estimate", "se", "statistic", "p_value", "ci_low", "ci_high")


@dataclass(frozen=True)
class WaldTest:
    """R ``regTermTest`` (Wald): ``statistic`` = ``beta' V^-1 beta / ndf`` (F) on ``ndf``
    and ``ddf`` (the model's residual degrees of freedom) degrees of freedom."""

    statistic: float
    ndf: int
    ddf: float
    p_value: float
    chisq: float
    terms: tuple[str, ...]

    def to_polars(self) -> pl.DataFrame:
        """One row: terms, statistic, ndf, ddf, p_value."""
        return pl.DataFrame(
            {
                "terms": [" + ".join(self.terms)],
                "statistic": [self.statistic],
                "ndf": [self.ndf],
                "ddf": [self.ddf],
                "p_value": [self.p_value],
            }
        )


@dataclass(frozen=True)
class LRTest:
    """R ``regTermTest(method="LRT")``: ``chisq`` the working deviance difference,
    ``lambdas`` the design effects (eigenvalues of ``V0^-1 V``), ``p_value`` by R
    ``pFsum``'s saddlepoint on ``ddf``; see ``models.lrt``."""

    chisq: float
    ndf: int
    ddf: float
    p_value: float
    lambdas: tuple[float, ...]
    terms: tuple[str, ...]

    def to_polars(self) -> pl.DataFrame:
        """One row: terms, chisq, ndf, ddf, p_value."""
        return pl.DataFrame(
            {
                "terms": [" + ".join(self.terms)],
                "chisq": [self.chisq],
                "ndf": [self.ndf],
                "ddf": [self.ddf],
                "p_value": [self.p_value],
            }
        )


@dataclass(frozen=True, eq=False)
class Model:
    """A fitted design-based GLM (R ``svyglm``).

    ``to_polars()`` gives ``term, estimate, se, statistic, p_value, ci_low, ci_high``: t
    statistics on ``df_residual = degf(design) + 1 - p`` degrees of freedom, as
    ``summary.svyglm`` (for every family), and intervals as ``confint.svyglm`` (t quantile
    on the same degrees of freedom). ``vcov()`` is the design-based covariance.
    """

    formula: str
    family: Family
    frame: fm.ModelFrame = field(repr=False)
    coefficients: np.ndarray = field(repr=False)
    covariance: np.ndarray = field(repr=False)
    df_residual: float
    n: int
    design: SampleDesign = field(repr=False)
    offset: str | None = None
    naive_covariance: np.ndarray = field(default_factory=lambda: np.empty((0, 0)), repr=False)

    @property
    def terms(self) -> tuple[str, ...]:
        """The model matrix's column names (formulaic's: ``C(g)[T.b]``, ``x:z``)."""
        return self.frame.columns

    def vcov(self) -> np.ndarray:
        """Design-based covariance of the coefficients (R ``vcov(svyglm)``)."""
        return self.covariance.copy()

    def to_polars(self, confidence: float = 0.95) -> pl.DataFrame:
        """The coefficient table (see the class docstring)."""
        return coefficient_table(
            self.terms, self.coefficients, self.covariance, self.df_residual, confidence
        )

    def to_pandas(self, confidence: float = 0.95) -> pd.DataFrame:
        """The coefficient table as a pandas DataFrame."""
        return self.to_polars(confidence).to_pandas()

    def odds_ratios(self, confidence: float = 0.95) -> pl.DataFrame:
        """``term, odds_ratio, ci_low, ci_high``: the exponentiated coefficients of a
        logistic model and their interval (R ``exp(cbind(coef(m), confint(m)))``: the
        ends of the coefficient's interval exponentiated, not a delta-method interval)."""
        if Link(self.family).kind != "binomial":
            raise EstimationError(
                f"odds ratios need a binomial or quasibinomial model, not {self.family!r}"
            )
        table = self.to_polars(confidence)
        return table.select(
            "term",
            pl.col("estimate").exp().alias("odds_ratio"),
            pl.col("ci_low").exp(),
            pl.col("ci_high").exp(),
        )

    def __repr__(self) -> str:
        return f"Model({self.formula!r}, family={self.family!r}, n={self.n})\n{self.to_polars()}"

    def _columns_of(self, terms: Sequence[str]) -> np.ndarray:
        """Model-matrix columns of the named formula terms (R ``regTermTest`` matching)."""
        canon = [fm.canonical(t) for t in self.frame.term_of]
        idx: list[int] = []
        for term in terms:
            want = fm.canonical(term)
            hit = [j for j, c in enumerate(canon) if c == want]
            if not hit:
                hit = [j for j, c in enumerate(self.terms) if c == term]
            if not hit:
                labels = sorted(set(self.frame.term_of) - {"1"})
                raise EstimationError(
                    f"term {term!r} is not in the model {self.formula!r} (terms: "
                    f"{', '.join(labels)}){did_you_mean(term, labels)}"
                )
            idx.extend(h for h in hit if h not in idx)
        return np.asarray(idx, dtype=np.int64)

    def wald_test(
        self, terms: str | Sequence[str], null: Sequence[float] | None = None
    ) -> WaldTest:
        """Wald test that the coefficients of ``terms`` are zero (or ``null``), R
        ``regTermTest(model, ~terms)``: ``F = beta' V^-1 beta / ndf`` on ``ndf`` (the number of
        coefficients) and ``ddf`` = the residual degrees of freedom.

        Terms are named as in the formula (``"age"``, ``"C(country)"``, ``"x:C(g)"``, parts of
        an interaction in any order) or by a column name from ``terms``.
        """
        names = [terms] if isinstance(terms, str) else list(terms)
        idx = self._columns_of(names)
        beta = self.coefficients[idx]
        if null is not None:
            beta = beta - np.asarray(null, dtype=float)
        v = self.covariance[np.ix_(idx, idx)]
        chisq = float(beta @ np.linalg.solve(v, beta))
        ndf = int(idx.size)
        ddf = self.df_residual
        f = chisq / ndf
        p = float(distributions.f_sf(f, ndf, ddf)) if ddf > 0 else float("nan")
        return WaldTest(f, ndf, float(ddf), p, chisq, tuple(names))

    def lr_test(self, terms: str | Sequence[str]) -> LRTest:
        """Working likelihood-ratio (Rao-Scott) test that the coefficients of ``terms`` are
        zero, R ``regTermTest(model, ~terms, method="LRT")``: the model is re-fitted without
        the terms' columns on the same rows (R's ``update`` re-reads the data, so it would
        also take rows missing only a dropped variable; barometer keeps the model's rows).
        On a replicate design, as in R, ``V`` is the replicate covariance and ``V0`` the
        full-sample fit's naive covariance (tests/reference/make_models.R: JK1, JKn and
        bootstrap cases)."""
        from barometer.core.models import lrt

        names = [terms] if isinstance(terms, str) else list(terms)
        idx = self._columns_of(names)
        keep = np.setdiff1d(np.arange(self.coefficients.size), idx)
        mf = self.frame
        # R's svyglm scales the weights by their mean over the whole design (rows missing a
        # variable and rows outside a domain included), and its deviances and naive.cov with
        # them; the fit (and the bread) used the mean over the model's rows
        w_all = np.asarray(self.design.weights, dtype=float)
        w = w_all[mf.rows] / w_all.mean()
        rescale = w_all.mean() / w_all[mf.rows].mean()
        link = Link(self.family)
        off = self.offset_values(None)
        x0 = np.asfortranarray(mf.x[:, keep])
        cols0 = tuple(mf.columns[j] for j in keep)
        eta0 = x0 @ irls(x0, mf.y, w, link, off, cols0).beta + off
        mu1 = link.linkinv(mf.x @ self.coefficients + off)
        chisq = lrt.deviance(mf.y, link.linkinv(eta0), w, link.kind) - lrt.deviance(
            mf.y, mu1, w, link.kind
        )
        v0 = self.naive_covariance[np.ix_(idx, idx)] * rescale
        v = self.covariance[np.ix_(idx, idx)]
        lam = np.sort(np.linalg.eigvals(np.linalg.solve(v0, v)).real)[::-1]
        ddf = self.df_residual
        p = lrt.pfsum_upper(chisq, lam, ddf) if ddf > 0 else float("nan")
        return LRTest(
            chisq, int(idx.size), float(ddf), p, tuple(float(x) for x in lam), tuple(names)
        )

    def predict(
        self,
        new_data: object | None = None,
        type: PredictType = "link",
        confidence: float = 0.95,
    ) -> pl.DataFrame:
        """Predictions with design-based SEs (R ``predict.svyglm``): ``estimate``, ``se``,
        ``ci_low``, ``ci_high`` (normal interval, as ``confint`` of R's ``svystat``) for every
        row of ``new_data`` (default: the rows the model used). ``type="response"`` gives
        the mean, its SE by the delta method. With an ``offset``, barometer adds the new
        rows' offset to the linear predictor (R's ``predict.svyglm`` leaves it out)."""
        kind = check_option(type, PredictType, "type", EstimationError)
        if new_data is None:
            x = self.frame.x
            off = self.offset_values(None)
        else:
            data = to_polars(new_data)
            x = fm.new_matrix(self.frame, data)
            off = self.offset_values(data)
        eta = x @ self.coefficients + off
        var = np.einsum("ij,jk,ik->i", x, self.covariance, x)
        se = np.sqrt(np.maximum(var, 0.0))
        link = Link(self.family)
        est = eta
        if kind == "response":
            d = link.mu_eta(eta)
            est, se = link.linkinv(eta), np.abs(d) * se
        q = float(t_quantile(confidence))
        return pl.DataFrame(
            {"estimate": est, "se": se, "ci_low": est - q * se, "ci_high": est + q * se}
        )

    def offset_values(self, data: pl.DataFrame | None) -> np.ndarray:
        """The offset of the model's rows (``data=None``) or of new rows (zeros without one)."""
        if self.offset is None:
            n = self.frame.rows.size if data is None else data.height
            return np.zeros(n)
        if data is None:
            col = self.design.data.get_column(self.offset).cast(pl.Float64)
            values: np.ndarray = col.to_numpy()[self.frame.rows]
            return values
        check_columns(data, [self.offset], "offset", EstimationError)
        return data.get_column(self.offset).cast(pl.Float64).to_numpy()

    def predmeans(self, group: str, confidence: float = 0.95) -> Margins:
        """Predicted margins by the levels of ``group``, as R ``svypredmeans``; see
        ``models.margins.predmeans``."""
        from barometer.core.models.margins import predmeans

        return predmeans(self, group, confidence)


# ---------------------------------------------------------------------------------------
# fitting
# ---------------------------------------------------------------------------------------


def _offset(design: SampleDesign, offset: str | None) -> np.ndarray:
    frame = design.data
    if offset is None:
        return np.zeros(frame.height)
    check_columns(frame, [offset], "offset", EstimationError)
    col = frame.get_column(offset)
    if not col.dtype.is_numeric():
        raise EstimationError(f"offset column {offset!r} must be numeric, not {col.dtype}")
    return col.cast(pl.Float64).fill_null(np.nan).to_numpy()


def domain_rows(frame: pl.DataFrame, where: Mapping[str, object] | None) -> np.ndarray:
    """Rows in the domain ``where`` (column -> value, or a list of values)."""
    mask = np.ones(frame.height, dtype=bool)
    for column, value in (where or {}).items():
        check_columns(frame, [column], "where", EstimationError)
        values = list(value) if isinstance(value, list | tuple | set) else [value]
        col = frame.get_column(column)
        wanted = pl.Series(values).cast(col.dtype, strict=False)
        mask &= col.is_in(wanted).fill_null(False).to_numpy()
    if not mask.any():
        raise EstimationError(f"where={dict(where or {})!r} selects no row")
    return mask


def fit(
    design: SampleDesign,
    formula: str,
    family: Family = "gaussian",
    offset: str | None = None,
    rows: np.ndarray | None = None,
) -> Model:
    """Fit ``formula`` on the design (R ``svyglm``); ``rows`` (bool) restricts it to a
    domain (R ``svyglm(subset=)``), whose complement counts as zero in the variance while
    the design keeps all its PSUs and strata. See the module docstring for the variance.

    Examples
    --------
    >>> import polars as pl, barometer as bm
    >>> df = pl.DataFrame({"w": [1.0, 2.0, 1.0, 3.0, 2.0], "y": [1.0, 3.0, 2.0, 5.0, 4.0],
    ...                    "x": [0.0, 1.0, 1.0, 2.0, 2.0]})
    >>> m = bm.Design(df, weights="w").glm("y ~ x")
    >>> m.to_polars()["term"].to_list()
    ['Intercept', 'x']
    >>> round(float(m.to_polars()["estimate"][1]), 4)
    1.8421
    """
    family = check_option(family, Family, "family", EstimationError)
    from barometer.core.design import ReplicateDesign

    frame = design.data
    n = frame.height
    keep = np.ones(n, dtype=bool) if rows is None else np.asarray(rows, dtype=bool)
    mf = fm.build(frame, formula, keep, [offset] if offset else None)
    link = Link(family)
    check_response(mf.y, link, mf.response)
    w_all = np.asarray(design.weights, dtype=float)
    w = w_all[mf.rows]
    w = w / w.mean()  # R rescales the weights to mean 1 (for the fit's numerics only)
    off = _offset(design, offset)[mf.rows]
    if not mf.columns:
        raise EstimationError(f"formula {formula!r}: the model has no coefficient")
    cells = mf.cells
    full = irls(None if cells else mf.x, mf.y, w, link, off, mf.columns, cells=cells)
    p = len(mf.columns)
    if isinstance(design, ReplicateDesign):
        cov = _replicate_cov(design, mf, full, link, off, cells)
        df = float(design.degf + 1 - p)
    else:
        # influence values are u_i A^-1 with u_i = x_i score_i; every step of the
        # linearisation is linear in them, so Cov(sum u A^-1) = A^-1 Cov(sum u) A^-1,
        # which spares an n x p x p product
        inside = np.zeros(n, dtype=bool)
        inside[mf.rows] = True
        score = full.score
        z_psu = None if design.calibration else _psu_scores(design, mf, score)
        if z_psu is not None:
            meat = influence.psu_totals_vcov(design, z_psu, inside)
        else:
            u = mf.x * score[:, None]  # column-major, as mf.x: the PSU sums read columns
            meat = influence.linearised_vcov(design, u, inside, mf.rows)
        cov = full.bread @ meat @ full.bread
        cov = 0.5 * (cov + cov.T)
        df = float(influence.domain_degf(design, inside) + 1 - p)
    return Model(
        formula=formula,
        family=family,
        frame=mf,
        coefficients=full.beta,
        covariance=cov,
        df_residual=df,
        n=int(mf.rows.size),
        design=design,
        offset=offset,
        naive_covariance=full.bread,
    )


def _psu_scores(design: Design, mf: fm.ModelFrame, score: np.ndarray) -> np.ndarray | None:
    """PSU totals (p x PSUs) of the estimating functions ``x_i score_i``, term by term from
    the codes (``fm.Block``): one grouped sum by PSU x level combination per term, times
    the term's coding. None when the frame has no blocks or a term has too many levels."""
    if not mf.blocks:
        return None
    s = design.structure
    psu = s.psu[mf.rows]
    out = np.empty((len(mf.columns), s.n_psus))
    for block in mf.blocks:
        size = block.table.shape[0]
        if s.n_psus * size > 4 * psu.size + (1 << 16):
            return None
        weights = score if block.numeric is None else score * block.numeric
        key = psu if block.combo is None else psu * size + block.combo
        sums = np.bincount(key, weights, minlength=s.n_psus * size).reshape(s.n_psus, size)
        out[block.columns] = np.einsum("pk,kj->jp", sums, block.table)
    return out


def _replicate_cov(
    design: ReplicateDesign,
    mf: fm.ModelFrame,
    full: Fit,
    link: Link,
    off: np.ndarray,
    cells: Cells | None,
) -> np.ndarray:
    """R ``svyglm.svyrep.design``: re-fit under every replicate weight from ``beta0``."""
    reps = design.replicate_weights[mf.rows]
    thetas = np.empty((full.beta.size, reps.shape[1]))
    for r in range(reps.shape[1]):
        wr = np.asarray(reps[:, r], dtype=float)
        total = wr.sum()
        if total <= 0:
            thetas[:, r] = np.nan
            continue
        try:
            thetas[:, r] = irls(
                None if cells else mf.x,
                mf.y,
                wr / total,
                link,
                off,
                mf.columns,
                full.beta,
                False,
                cells,
            ).beta
        except EstimationError as exc:
            raise EstimationError(f"replicate {r + 1} of {reps.shape[1]}: {exc}") from exc
    return influence.replicate_vcov(design, thetas, full.beta)


@dataclass(frozen=True, eq=False)
class Models:
    """One fitted model per domain of ``by`` (``Design.glm(..., by=)``), each as R's
    ``svyglm(subset=)`` on that domain; ``to_polars()`` stacks the coefficient tables
    behind the ``by`` columns."""

    by: tuple[str, ...]
    keys: tuple[tuple[object, ...], ...]
    models: tuple[Model, ...] = field(repr=False)

    def __len__(self) -> int:
        return len(self.models)

    def __getitem__(self, key: object) -> Model:
        want = key if isinstance(key, tuple) else (key,)
        for k, model in zip(self.keys, self.models, strict=True):
            if tuple(str(v) for v in k) == tuple(str(v) for v in want):
                return model
        raise EstimationError(f"no model for {key!r}; domains: {', '.join(map(str, self.keys))}")

    def to_polars(self, confidence: float = 0.95) -> pl.DataFrame:
        """``*by, term, estimate, se, statistic, p_value, ci_low, ci_high``."""
        parts = []
        for key, model in zip(self.keys, self.models, strict=True):
            table = model.to_polars(confidence)
            parts.append(
                table.select(
                    *[pl.lit(v).alias(name) for name, v in zip(self.by, key, strict=True)],
                    pl.all(),
                )
            )
        return pl.concat(parts, how="vertical_relaxed")

    def to_pandas(self, confidence: float = 0.95) -> pd.DataFrame:
        """The stacked coefficient tables as a pandas DataFrame."""
        return self.to_polars(confidence).to_pandas()


def fit_by(
    design: SampleDesign,
    formula: str,
    family: Family,
    offset: str | None,
    rows: np.ndarray | None,
    by: list[str],
) -> Models:
    """One model per domain of ``by`` (within ``rows``), each R ``svyglm(subset=)``."""
    from barometer.core import reduce

    coding = reduce.domains(design, by)
    keys = [tuple(r) for r in coding.levels.iter_rows()]
    models = []
    for k in range(coding.size):
        mask = coding.codes == k
        if rows is not None:
            mask &= rows
        try:
            models.append(fit(design, formula, family, offset, mask))
        except EstimationError as exc:
            raise EstimationError(f"domain {dict(zip(by, keys[k], strict=True))}: {exc}") from exc
    return Models(tuple(by), tuple(keys), tuple(models))


__all__ = ["COLUMNS", "LRTest", "Model", "Models", "WaldTest", "domain_rows", "fit", "fit_by"]
