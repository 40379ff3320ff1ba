"""How a question of each kind is estimated: the one place that dispatches on the kind.

* a **single-choice** question: the share of each level (the core's
  ``Design.proportion``), then its **nets** as levels of their own (the core's
  ``comparisons.net``: sums of levels, their covariance with the levels kept, so a net is
  compared across waves, countries and regions like any level);
* a **numeric** question: its weighted mean (``Design.mean``, R ``svymean(na.rm=TRUE)``
  as a domain), its quartiles (``Design.quantile``, R ``svyquantile`` with
  ``qrule="math"`` and Woodruff intervals), and for a scale (a range of at most
  :data:`SCALE_POINTS` whole numbers) the share of each value, for its distribution.

Everything here calls the core's public API, as a user would.
"""

from __future__ import annotations

from collections.abc import Sequence

import polars as pl

from barometer.core.comparisons import net
from barometer.core.design import Design
from barometer.core.estimates import Estimates
from barometer.options import CIMethod
from barometer.poll.spec import Question

__all__ = [
    "QUARTILES",
    "SCALE_POINTS",
    "distribution",
    "estimate_question",
    "is_scale",
    "quartiles",
]

#: The quantiles a publication holds of a numeric question: the quartiles and median.
QUARTILES = (0.25, 0.5, 0.75)
#: A numeric question whose range holds at most this many whole numbers is a scale
#: (0-10 is eleven points): its distribution is published too.
SCALE_POINTS = 21


def is_scale(question: Question) -> bool:
    """True for a numeric question whose range is a short run of whole numbers (0-10)."""
    if not question.is_numeric or question.range is None:
        return False
    low, high = question.range
    return low.is_integer() and high.is_integer() and high - low + 1 <= SCALE_POINTS


def estimate_question(
    design: Design,
    question: Question,
    by: Sequence[str],
    confidence: float,
    ci: CIMethod = "wald",
) -> Estimates:
    """A question's estimates by ``by``, domains without respondents left out: the mean
    of a numeric question (``level`` null; normal intervals), or the share of every level
    of a single-choice one followed by its nets (intervals by ``ci`` for the levels,
    normal for the nets)."""
    if question.is_numeric:
        est = design.mean(question.id, by=list(by), confidence=confidence)
        return est.filter(pl.col("n") > 0)
    est = design.proportion(question.id, by=list(by), ci=ci, confidence=confidence)
    est = est.filter(pl.col("n") > 0)
    if not question.nets or est.to_polars().height == 0:
        return est
    present = set(est["level"].cast(pl.String).to_list())
    nets = {
        n.code: [lv for lv in n.levels if lv in present]
        for n in question.nets
        if any(lv in present for lv in n.levels)
    }
    return net(est, nets, confidence=confidence) if nets else est


def quartiles(
    design: Design, question: Question, by: Sequence[str], confidence: float
) -> Estimates:
    """The quartiles and median (:data:`QUARTILES`) of a numeric question by ``by``
    (``level`` holds the probability as R labels it: ``"0.5"``), domains without
    respondents left out."""
    est = design.quantile(question.id, list(QUARTILES), by=list(by), confidence=confidence)
    return est.filter(pl.col("n") > 0)


def distribution(
    design: Design, question: Question, by: Sequence[str], confidence: float
) -> Estimates:
    """The share of each value of a scale by ``by`` (``level`` the value as text, ``"7"``),
    domains without respondents left out."""
    est = design.proportion(question.id, by=list(by), confidence=confidence)
    table = est.to_polars().with_columns(
        pl.col("level").cast(pl.Float64).map_elements(lambda v: f"{v:g}", return_dtype=pl.String)
    )
    relabelled = Estimates(
        table, by=est.by, statistic=est.statistic, families=est.families, rows=est.rows
    )
    return relabelled.filter(pl.col("n") > 0)
