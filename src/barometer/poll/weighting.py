"""Weighting schemes of a poll: the design of its respondents and the raking to targets.

The respondents form one core ``Design``: strata = country × wave (× the source's own
strata), so countries and waves are independent samples; PSUs from the sources (each
respondent its own PSU when a source has none). Raking is the core's ``Design.rake``
(iterative proportional fitting, R ``survey::rake``) within each country × wave, from the
sources' base weights to the spec's targets (a wave's own targets, else the country's;
shares scaled to the adult population, so weights gross up to it).
"""

from __future__ import annotations

import zlib
from collections.abc import Mapping
from typing import TYPE_CHECKING, cast

import numpy as np
import polars as pl

from barometer.core.design import Design
from barometer.errors import WeightingError
from barometer.options import LonelyPSU, check_option
from barometer.poll.spec import PollSpec, Target

if TYPE_CHECKING:
    from barometer import ColumnSource

__all__ = [
    "DESIGN_COLUMNS",
    "base_design",
    "blank_design_columns",
    "check_weighting_data",
    "design_columns",
    "diagnostics",
    "impute",
    "margins",
    "raked_design",
    "schemes",
    "weighting_variables",
]

#: The respondents' columns of a design and its key (question columns are added to them).
DESIGN_COLUMNS = ["source_id", "respondent_id", "country", "wave", "base_weight", "strata", "psu"]
_GROUP = "_country_wave"
_STRATUM = "_stratum"
_PSU = "_psu"
_ROW = "_row"
#: Prefix of the imputed copies of the weighting variables that raking uses.
IMPUTED_PREFIX = "_w_"
#: Counts imputed per country × wave × weighting variable.
IMPUTED_SCHEMA = {
    "country": pl.String,
    "wave": pl.String,
    "variable": pl.String,
    "n_imputed": pl.Int64,
}


def design_columns(spec: PollSpec) -> list[str]:
    """The respondents' columns an in-memory design of ``spec`` reads (question columns
    are added to them): :data:`DESIGN_COLUMNS`, without ``respondent_id`` unless a rule
    reads it — the hot deck's order and messages (``weighting: {missing: impute}``,
    :func:`impute`) and the own PSU of a respondent beside sources that have PSUs
    (:func:`design_frame`).  The unique ids are the costliest column to read (~0.04 s
    per million respondents) and no estimate uses them; the weights are keyed by them
    when written (``Poll.weight``).  Nor are strata or PSUs read when no source has
    them (:func:`blank_design_columns`)."""
    left = set(blank_design_columns(spec))
    if spec.weighting.missing != "impute" and "psu" in left:
        left.add("respondent_id")
    return [c for c in DESIGN_COLUMNS if c not in left]


def blank_design_columns(spec: PollSpec) -> list[str]:
    """The design's text columns that no source of ``spec`` fills, so every respondent's
    is missing: ``strata`` and ``psu`` in an online poll.  Ingest writes them as nulls
    for a source that names no such column (the store's spec is the one it ingested),
    and reading a million nulls as text costs ~12 ms of CPU per column: a design is
    given them as null columns, not read."""
    declared = {
        "strata": any(s.strata is not None for s in spec.sources),
        "psu": any(s.psu is not None for s in spec.sources),
    }
    return [c for c, filled in declared.items() if not filled]


def design_frame(frame: pl.DataFrame, coded: bool = False) -> tuple[pl.DataFrame, bool]:
    """Add the design columns: group (country × wave), stratum (× source strata), PSU
    (the source's, else one per respondent: ``source_id/respondent_id``).

    As text labels (``country/wave[/strata]``), formed row by row — what the Parquet
    partitions hold, written one country × wave at a time; or ``coded``, for a design in
    memory: group and stratum as enums of the same labels in sorted order, formed once per
    run of rows that share them (:func:`_run_labels`), so the core codes them without
    hashing text, and the PSU column only when a source has PSUs.
    """
    has_psu = frame.get_column("psu").null_count() < frame.height
    own = pl.col("psu").fill_null(pl.col("source_id") + "/" + pl.col("respondent_id"))
    if not coded:
        cw = pl.col("country") + "/" + pl.col("wave")
        stratum = (
            pl.when(pl.col("strata").is_null()).then(cw).otherwise(cw + "/" + pl.col("strata"))
        )
        out = frame.with_columns(cw.alias(_GROUP), stratum.alias(_STRATUM), own.alias(_PSU))
        return out, has_psu
    columns = _run_labels(
        frame, {_GROUP: ["country", "wave"], _STRATUM: ["country", "wave", "strata"]}
    )
    if has_psu:
        columns.append(frame.select(own).to_series().alias(_PSU))
    return frame.with_columns(columns), has_psu


def _run_labels(frame: pl.DataFrame, made: Mapping[str, list[str]]) -> list[pl.Series]:
    """Per name of ``made``, the labels ``a/b/...`` of each row's values of those columns (a
    missing value left out), as an enum of the labels present in sorted order.

    The respondents come source by source, so country, wave and strata stand in long
    runs of one value: the labels are formed once per run (a few thousand instead of a
    million) and their codes repeated over the runs' rows; rows in any order are simply
    more runs."""
    used = dict.fromkeys(c for parts in made.values() for c in parts)
    keys = frame.select(pl.col(c).cast(pl.String) for c in used)
    if keys.height == 0:
        return [pl.Series(name, [], pl.Enum([])) for name in made]
    starts = _run_starts(keys)
    lengths = np.diff(np.append(starts, keys.height))
    runs = keys[starts]
    out = []
    for name, parts in made.items():
        labels = runs.select(pl.concat_str(parts, separator="/", ignore_nulls=True)).to_series()
        enum = pl.Enum(labels.unique().sort())
        codes = labels.cast(enum).to_physical().to_numpy()
        out.append(pl.Series(name, np.repeat(codes, lengths)).cat.to(enum))
    return out


def _run_starts(keys: pl.DataFrame) -> np.ndarray:
    """The first row of each run of equal rows of ``keys`` (a null equal to a null), 0
    first: rows in any order are simply more runs."""
    changed = pl.any_horizontal(pl.all().ne_missing(pl.all().shift(1)))
    starts = np.flatnonzero(keys.select(changed).to_series().to_numpy())
    if keys.height and (not starts.size or starts[0] != 0):
        starts = np.concatenate([[0], starts])
    return starts


def lonely_psu_rule(spec: PollSpec, given: str | None = None) -> LonelyPSU:
    """The lonely-PSU rule of the poll's design: ``given`` (the command line or the
    caller), else the one the spec's sources set (``sources[i].lonely_psu``), else
    ``"fail"`` (R's default).  The core applies one rule to a design, so sources that
    set different rules are an error."""
    if given is not None:
        rule = cast(LonelyPSU, check_option(given, LonelyPSU, "lonely_psu", WeightingError))
        return rule
    rules = {s.id: s.lonely_psu for s in spec.sources if s.lonely_psu is not None}
    if len(set(rules.values())) > 1:
        listing = ", ".join(f"{sid}: {r}" for sid, r in rules.items())
        raise WeightingError(
            f"the sources set different lonely_psu rules ({listing}); one rule applies "
            "to the poll's design: give them the same rule, or choose one with "
            "`barometer weight --lonely-psu RULE`"
        )
    return next(iter(rules.values()), "fail")


def base_design(
    frame: pl.DataFrame, lonely_psu: LonelyPSU = "fail", source: ColumnSource | None = None
) -> Design:
    """The respondents' design with the sources' base weights; ``source``: the columns
    ``frame`` leaves out, read when an estimate needs them (``barometer.poll.columns``)."""
    data, has_psu = design_frame(frame, coded=True)
    return Design(
        data,
        weights="base_weight",
        strata=_STRATUM,
        psu=_PSU if has_psu else None,
        lonely_psu=lonely_psu,
        column_source=source,
    )


def weighting_variables(spec: PollSpec) -> list[str]:
    """The variables any target names, in the order they first appear."""
    return list(dict.fromkeys(v for t in spec.targets for v in t.margins))


def schemes(spec: PollSpec, frame: pl.DataFrame) -> dict[tuple[str, str], Target]:
    """Each country × wave's own targets: the wave's, else the country's (wave: null).

    One :class:`WeightingError` names every country × wave of ``frame`` without targets.
    """
    by_key = {(t.country, t.wave): t for t in spec.targets}
    out: dict[tuple[str, str], Target] = {}
    missing = []
    # among the first rows of the runs (a few: the respondents come source by source)
    # are every pair's, in order
    keys = frame.select("country", "wave")
    for country, wave in keys[_run_starts(keys)].unique(maintain_order=True).rows():
        target = by_key.get((country, wave)) or by_key.get((country, None))
        if target is None:
            missing.append(f"{country} {wave}")
        else:
            out[(country, wave)] = target
    if missing:
        raise WeightingError(
            f"no weighting targets for {', '.join(missing)}; add them to the spec's "
            "targets (wave: null applies a country's targets to every wave)"
        )
    return out


def margins(
    spec: PollSpec,
    frame: pl.DataFrame,
    prefix: str = "",
    scheme: Mapping[tuple[str, str], Target] | None = None,
) -> dict[str, dict[str, dict[str, float]]]:
    """Targets per country × wave group (keys ``country/wave``), shares grossed up to the
    country's adult population in that wave; ``prefix`` names the raking columns;
    ``scheme`` is :func:`schemes` of ``frame`` when the caller has it."""
    countries = {c.code: c for c in spec.countries}
    out: dict[str, dict[str, dict[str, float]]] = {}
    no_population = []
    for (country, wave), target in (scheme or schemes(spec, frame)).items():
        pop = countries[country].population_in(wave)
        if pop is None and target.are_shares and isinstance(countries[country].population, dict):
            no_population.append(f"{country} {wave}")
        scale = pop if target.are_shares and pop else 1.0
        out[f"{country}/{wave}"] = {
            prefix + var: {lv: v * scale for lv, v in m.items()}
            for var, m in target.margins.items()
        }
    if no_population:
        raise WeightingError(
            f"no population for {', '.join(no_population)}: the spec gives populations per "
            "wave; add these waves to the countries' population"
        )
    return out


def check_weighting_data(frame: pl.DataFrame, scheme: Mapping[tuple[str, str], Target]) -> None:
    """One :class:`WeightingError` naming every weighting variable no source maps and, per
    country × wave, the respondents lacking a variable of that country × wave's targets
    (a variable other countries are raked on is not needed)."""
    problems = []
    mapped = []
    for var in dict.fromkeys(v for t in scheme.values() for v in t.margins):
        if var not in frame.columns:
            problems.append(f"no source maps weighting variable {var!r}")
        else:
            mapped.append(var)
    # a column's missing values are counted as it is made: only a variable that has some
    # is counted per country × wave (one grouped pass for every such variable)
    lacking = [v for v in mapped if frame.get_column(v).null_count()]
    missing: dict[tuple[str, str], dict[str, int]] = {}
    if lacking:
        counted = frame.group_by("country", "wave").agg(pl.col(v).null_count() for v in lacking)
        missing = {(row["country"], row["wave"]): row for row in counted.iter_rows(named=True)}
    for (country, wave), target in scheme.items():
        for var in target.margins:
            if var in lacking and (n := missing[(country, wave)][var]):
                problems.append(f"{country} {wave}: {n} respondent(s) have no {var}")
    if problems:
        raise WeightingError(
            "cannot weight: "
            + "; ".join(problems)
            + ". Map every code of a weighting variable to a level, or set "
            "weighting: {missing: impute} in the spec, then ingest again"
        )


def raked_design(
    spec: PollSpec,
    frame: pl.DataFrame,
    tol: float,
    max_iter: int,
    cap: float | None,
    lonely_psu: LonelyPSU = "fail",
    source: ColumnSource | None = None,
) -> tuple[Design, pl.DataFrame]:
    """The respondents' design raked within each country × wave to its own targets
    (``source``: as for :func:`base_design`; ``frame`` holds the weighting variables).

    With ``weighting: {missing: impute}`` the raking runs on hot-deck-imputed copies of
    the weighting variables (:func:`impute`); the design's own columns, which every
    estimate reads, keep the respondents' answers (missing stays missing).  Returns the
    design and the counts imputed per country × wave × variable (empty without impute).
    """
    if not spec.targets:
        raise WeightingError("the spec has no targets; add targets to weight the poll")
    scheme = schemes(spec, frame)
    prefix, imputed = "", pl.DataFrame(schema=IMPUTED_SCHEMA)
    if spec.weighting.missing == "impute":
        frame, imputed = impute(frame, scheme, spec.weighting.seed)
        prefix = IMPUTED_PREFIX
    else:
        check_weighting_data(frame, scheme)
    raked: Design = base_design(frame, lonely_psu, source).rake(
        margins(spec, frame, prefix, scheme), by=_GROUP, tol=tol, max_iter=max_iter, cap=cap
    )
    return raked, imputed


def impute(
    frame: pl.DataFrame, scheme: Mapping[tuple[str, str], Target], seed: int
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Random hot-deck imputation of the weighting variables, within country × wave.

    A respondent lacking some of its country × wave's weighting variables takes all of
    them from one donor drawn at random (``numpy`` generator seeded by ``seed`` and the
    country × wave, so a group's draws do not depend on the others) among the group's
    respondents with every variable, matching it on the variables it has; when no donor
    matches them all, the last variables in the targets' order are dropped from the
    match until one does (Andridge & Little 2010, "A review of hot deck imputation for
    survey non-response", Int. Stat. Rev. 78(1)).

    Returns the frame with ``_w_<variable>`` columns (the imputed copies raking uses; the
    original columns are untouched) and the counts imputed per country × wave ×
    variable (``country, wave, variable, n_imputed``). Variances do not account for
    the imputation. A respondent lacking every variable, or a group without a donor,
    is a :class:`WeightingError` naming it.
    """
    frame = frame.with_row_index(_ROW)
    variables = list(dict.fromkeys(v for t in scheme.values() for v in t.margins))
    missing = [v for v in variables if v not in frame.columns]
    if missing:
        raise WeightingError(
            "cannot weight: no source maps weighting variable(s) "
            + ", ".join(repr(v) for v in missing)
        )
    # Per variable: its levels and codes (-1 = missing); ``filled`` is raking's copy.
    enums = {v: _enum(frame.get_column(v)) for v in variables}
    codes = {
        v: frame.get_column(v).cast(enums[v]).to_physical().cast(pl.Int64).fill_null(-1).to_numpy()
        for v in variables
    }
    filled = {v: c.copy() for v, c in codes.items()}
    counts: list[tuple[str, str, str, int]] = []
    problems: list[str] = []
    for (country, wave), target in scheme.items():
        group = frame.filter((pl.col("country") == country) & (pl.col("wave") == wave))
        rows = group.sort("source_id", "respondent_id").get_column(_ROW).to_numpy()
        own = list(target.margins)
        table = np.column_stack([codes[v][rows] for v in own])
        have = table >= 0
        lacking = ~have.any(axis=1)
        for r in rows[lacking][:5]:
            problems.append(
                f"{country} {wave}: respondent {frame[int(r), 'respondent_id']} of source "
                f"{frame[int(r), 'source_id']} has none of {', '.join(own)}"
            )
        if lacking.sum() > 5:
            problems.append(f"{country} {wave}: {int(lacking.sum()) - 5} more such respondents")
        needy = ~have.all(axis=1) & ~lacking
        if not needy.any():
            counts.extend((country, wave, v, 0) for v in own)
            continue
        donors = np.flatnonzero(have.all(axis=1))
        if donors.size == 0:
            problems.append(f"{country} {wave}: no respondent has every one of {', '.join(own)}")
            continue
        rng = np.random.default_rng([seed, zlib.crc32(f"{country}/{wave}".encode())])
        drawn = _hot_deck(table, have, donors, np.flatnonzero(needy), rng)
        for j, v in enumerate(own):
            gaps = np.flatnonzero(needy & ~have[:, j])
            filled[v][rows[gaps]] = table[drawn[gaps], j]
            counts.append((country, wave, v, int(gaps.size)))
    if problems:
        raise WeightingError(
            "cannot impute the weighting variables: "
            + "; ".join(problems)
            + ". Drop these respondents from the source or map their codes to levels"
        )
    columns = [
        pl.Series(IMPUTED_PREFIX + v, filled[v])
        .replace_strict(dict(enumerate(enums[v].categories)), default=None, return_dtype=enums[v])
        .cast(frame.schema[v])
        for v in variables
    ]
    report = pl.DataFrame(counts, schema=IMPUTED_SCHEMA, orient="row")
    return frame.drop(_ROW).with_columns(columns), report


def _enum(column: pl.Series) -> pl.Enum:
    """The column's levels as an enum (its own, or its sorted distinct values)."""
    if isinstance(column.dtype, pl.Enum):
        return column.dtype
    return pl.Enum(sorted(str(x) for x in column.drop_nulls().unique()))


def _hot_deck(
    table: np.ndarray,
    have: np.ndarray,
    donors: np.ndarray,
    needy: np.ndarray,
    rng: np.random.Generator,
) -> np.ndarray:
    """For each row in ``needy`` (positions in ``table``), a donor row drawn at random
    among ``donors`` matching it on its observed columns (the last observed columns
    dropped from the match while none matches); other rows map to themselves."""
    drawn = np.arange(table.shape[0])
    k = table.shape[1]
    # One cell per (observed pattern, observed values): all its recipients share a pool.
    keys = np.where(have, table, -1)
    cells: dict[tuple[int, ...], list[int]] = {}
    for i in needy:
        cells.setdefault(tuple(keys[i].tolist()), []).append(int(i))
    for key, members in sorted(cells.items()):
        match = [j for j in range(k) if key[j] >= 0]
        while True:
            rows = table[np.ix_(donors, np.asarray(match, dtype=np.intp))]
            ok = np.all(rows == np.asarray([key[j] for j in match]), axis=1)
            pool = donors[ok]
            if pool.size or not match:
                break
            match = match[:-1]
        drawn[members] = pool[rng.integers(pool.size, size=len(members))]
    return drawn


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
