"""Ratios of weighted totals on a DuckDB design (R ``svyratio``), from grouped sums.

``R_d = sum_d w y / sum_d w x`` over the domain's rows with every variable of the call
observed, as ``core.ratio``. Its influence values ``w (y - R_d x) / X_d`` are those of a
mean whose weight sums are ``sum w x``: the family of ``duck_sums`` with the denominator
``x`` (``Reduction.grouped(x=...)``) — sums of ``w y`` and ``w x`` by (domain, PSU), or
the centred moments by (domain, stratum) of an element design. The covariance of all
the ratios is the linearisation of their PSU totals (``variance.linearisation``).
"""

from __future__ import annotations

import numpy as np
import polars as pl

from barometer.core import estimators
from barometer.core._protocols import SurveyDesign
from barometer.core.backends.duck import SRC, ident
from barometer.core.backends.duck_structure import weight_sql
from barometer.core.backends.duck_sums import Reduction, with_codes
from barometer.core.design import ReplicateDesign
from barometer.core.estimates import Estimates
from barometer.core.influence import FixedEstimates, replicate_vcov
from barometer.core.intervals import wald_interval
from barometer.core.reduce import Variable
from barometer.core.variance import linearisation as lin
from barometer.errors import EstimationError


def ratio(
    design: SurveyDesign,
    red: Reduction,
    numerators: list[str],
    denominators: list[str],
    by: list[str],
    confidence: float,
) -> Estimates:
    """Every numerator over every denominator in every domain of ``by`` (the table and
    covariance of ``core.ratio.ratio``)."""
    if not numerators or not denominators:
        raise EstimationError("ratio needs a numerator and a denominator")
    names = numerators + [d for d in denominators if d not in numerators]
    red.src.check(names, "ratio", EstimationError)
    for name in names:
        if not red.src.is_numeric(name):
            raise EstimationError(f"ratio: variable {name!r} is {red.src.types[name]}, not numeric")
    if red.record is not None:
        raise EstimationError(
            "ratio() is not yet available on a calibrated DuckDB design; estimate the ratio "
            "on the data joined to the weights, as base weights"
        )
    s = red.structure
    pairs = [(a, b) for b in denominators for a in numerators]
    replicated = getattr(design, "replicate_names", None) is not None
    if s.element and len(pairs) > 1 and not replicated:
        raise EstimationError(
            "on a DuckDB design without PSUs, ratio() takes one numerator and one denominator "
            "per call (their covariance needs the rows' cross moments)"
        )
    levels = red.domains(by)
    ok = red.src.present(names)
    families = []
    for a, b in pairs:
        value, x = (f"CAST({ident(v)} AS DOUBLE)" for v in (a, b))
        grouped = red.grouped(by, ok, value=value, x=x)
        var = Variable(f"{a}/{b}", None, None, None)
        families.append(red.family_of(design, grouped, var, by, levels, True))
    est = np.concatenate([f.theta.ravel() for f in families])
    replicates = getattr(design, "replicate_names", None)
    if replicates is not None:  # each ratio under every replicate weight (R svrVar)
        thetas = np.vstack(
            [_replicate_ratios(red, replicates, a, b, by, levels, ok) for a, b in pairs]
        )
        assert isinstance(design, ReplicateDesign)
        cov = replicate_vcov(design, thetas, est)
    else:
        if s.element:
            s2, s1 = families[0].cache["linearised"](True)
        else:
            zp = np.vstack([estimators.psu_totals(f) for f in families])
            s2, s1 = lin.psu_sums(zp, s, True)
        found = [estimators.strata_present(f) for f in families]
        present = [p for p in found if p is not None]
        masks = np.vstack(present) if len(present) == len(found) else None
        cov = lin.combine(s2, s1, s, masks)
    se = np.sqrt(np.maximum(np.diag(cov), 0.0))
    low, high = wald_interval(est, se, confidence)
    n_dom = families[0].n_domains
    cols: dict[str, object] = {}
    if levels.width:
        take = pl.Series(np.tile(np.arange(n_dom, dtype=np.uint32), len(pairs)))
        cols.update(levels.select(pl.all().gather(take)).to_dict())
    cols["variable"] = pl.Series(
        [f"{a}/{b}" for a, b in pairs for _ in range(n_dom)], dtype=pl.String
    )
    cols["level"] = pl.Series([None] * est.size, dtype=pl.String)
    cols |= {"estimate": est, "se": se, "ci_low": low, "ci_high": high}
    cols["n"] = np.tile(families[0].count, len(pairs)).astype(np.int64)
    cols["deff"] = np.full(est.size, np.nan)
    return FixedEstimates(pl.DataFrame(cols), by=tuple(by), statistic="ratio", covariance=cov)


def _replicate_ratios(
    red: Reduction,
    replicates: list[str],
    a: str,
    b: str,
    by: list[str],
    levels: pl.DataFrame,
    ok: str,
) -> np.ndarray:
    """``sum rw y / sum rw x`` per domain under every replicate weight (D x R), one query."""
    y, x = (f"CAST({ident(v)} AS DOUBLE)" for v in (a, b))
    reps = [weight_sql(r) for r in replicates]
    keys = [ident(v) for v in by] + [f"{red.src.present(by)} AS _in"]
    aggs = [f"fsum({r} * {y}) AS _r{i}" for i, r in enumerate(reps)]
    aggs += [f"fsum({r} * {x}) AS _s{i}" for i, r in enumerate(reps)]
    grouped = red.src.sql(
        f"SELECT {', '.join(keys)}, {', '.join(aggs)} FROM {SRC} WHERE {ok} GROUP BY ALL"
    )
    grouped = with_codes(grouped, levels, by, None, Variable(a, None, None, None))
    d = grouped.get_column("_d").to_numpy()
    n_dom = max(levels.height, 1)
    num, den = np.zeros((n_dom, len(reps))), np.zeros((n_dom, len(reps)))
    np.add.at(num, d, grouped.select(f"_r{i}" for i in range(len(reps))).to_numpy())
    np.add.at(den, d, grouped.select(f"_s{i}" for i in range(len(reps))).to_numpy())
    with np.errstate(invalid="ignore", divide="ignore"):
        out: np.ndarray = num / den
    return out


__all__ = ["ratio"]
