"""Weighting schemes of a poll: the design of its respondents and the raking to targets.

The respondents form one core ``Design``: strata = country × wave (× the source's own
strata), so countries and waves are independent samples; PSUs from the sources (each
respondent its own PSU when a source has none). Raking is the core's ``Design.rake``
(iterative proportional fitting, R ``survey::rake``) within each country × wave, from the
sources' base weights to the spec's targets (a wave's own targets, else the country's;
shares scaled to the adult population, so weights gross up to it).
"""

from __future__ import annotations

import polars as pl

from barometer.core.design import Design
from barometer.errors import WeightingError
from barometer.poll.spec import PollSpec

__all__ = [
    "DESIGN_COLUMNS",
    "base_design",
    "check_weighting_data",
    "diagnostics",
    "margins",
    "raked_design",
    "weighting_variables",
]

#: The respondents' columns every design needs (question columns are added to them).
DESIGN_COLUMNS = ["source_id", "respondent_id", "country", "wave", "base_weight", "strata", "psu"]
_GROUP = "_country_wave"
_STRATUM = "_stratum"
_PSU = "_psu"


def design_frame(frame: pl.DataFrame) -> tuple[pl.DataFrame, bool]:
    """Add the design columns: group (country × wave), stratum (× source strata), PSU."""
    has_psu = frame.get_column("psu").null_count() < frame.height
    cw = pl.col("country") + "/" + pl.col("wave")
    stratum = pl.when(pl.col("strata").is_null()).then(cw).otherwise(cw + "/" + pl.col("strata"))
    psu = pl.col("psu").fill_null(pl.col("source_id") + "/" + pl.col("respondent_id"))
    out = frame.with_columns(cw.alias(_GROUP), stratum.alias(_STRATUM), psu.alias(_PSU))
    return out, has_psu


def base_design(frame: pl.DataFrame) -> Design:
    """The respondents' design with the sources' base weights."""
    data, has_psu = design_frame(frame)
    return Design(data, weights="base_weight", strata=_STRATUM, psu=_PSU if has_psu else None)


def weighting_variables(spec: PollSpec) -> list[str]:
    """The variables the targets name, in the order they first appear."""
    return list(dict.fromkeys(v for t in spec.targets for v in t.margins))


def margins(spec: PollSpec, frame: pl.DataFrame) -> dict[str, dict[str, dict[str, float]]]:
    """Targets per country × wave group: wave-specific first, else the country's."""
    population = {c.code: c.population for c in spec.countries}
    by_key = {(t.country, t.wave): t for t in spec.targets}
    out: dict[str, dict[str, dict[str, float]]] = {}
    missing = []
    for country, wave in frame.select("country", "wave").unique(maintain_order=True).rows():
        target = by_key.get((country, wave)) or by_key.get((country, None))
        if target is None:
            missing.append(f"{country} {wave}")
            continue
        pop = population[country]
        scale = pop if target.are_shares and pop else 1.0
        out[f"{country}/{wave}"] = {
            var: {lv: v * scale for lv, v in m.items()} for var, m in target.margins.items()
        }
    if missing:
        raise WeightingError(
            f"no weighting targets for {', '.join(missing)}; add them to the spec's "
            "targets (wave: null applies a country's targets to every wave)"
        )
    return out


def check_weighting_data(frame: pl.DataFrame, variables: list[str]) -> None:
    """One :class:`WeightingError` naming every weighting variable no source maps and every
    country × wave with respondents lacking one."""
    problems = []
    for var in variables:
        if var not in frame.columns:
            problems.append(f"no source maps weighting variable {var!r}")
            continue
        gaps = (
            frame.filter(pl.col(var).is_null())
            .group_by("country", "wave", maintain_order=True)
            .len()
        )
        for country, wave, n in gaps.rows():
            problems.append(f"{country} {wave}: {n} respondent(s) have no {var}")
    if problems:
        raise WeightingError(
            "cannot weight: "
            + "; ".join(problems)
            + ". Map every code of a weighting variable to a level (or impute it), "
            "then ingest again"
        )


def raked_design(
    spec: PollSpec, frame: pl.DataFrame, tol: float, max_iter: int, cap: float | None
) -> Design:
    """The respondents' design raked within each country × wave to the spec's targets."""
    variables = weighting_variables(spec)
    if not variables:
        raise WeightingError("the spec has no targets; add targets to weight the poll")
    check_weighting_data(frame, variables)
    raked: Design = base_design(frame).rake(
        margins(spec, frame), by=_GROUP, tol=tol, max_iter=max_iter, cap=cap
    )
    return raked


def diagnostics(raked: Design) -> pl.DataFrame:
    """Per country × wave, from the core's weighting diagnostics: n, sum, range, Kish's
    design effect of weighting and effective n."""
    summary = raked.weight_summary().to_polars().filter(pl.col("group").is_not_null())
    parts = pl.col("group").str.split_exact("/", 1)
    return summary.select(
        parts.struct.field("field_0").alias("country"),
        parts.struct.field("field_1").alias("wave"),
        pl.col("n").cast(pl.Int64),
        pl.col("total").alias("sum_weights"),
        pl.col("min").alias("min_weight"),
        pl.col("max").alias("max_weight"),
        pl.col("ratio"),
        pl.col("deff").alias("deff_kish"),
        pl.col("n_eff").alias("n_effective"),
    )
