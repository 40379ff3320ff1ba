"""The demo poll: simulated respondent files from several fieldwork firms plus a spec.

:func:`build_demo` writes what a poll analyst receives — one respondent file per
country and wave (or per wave, for a firm that fields several countries), mostly
SPSS ``.sav`` with value labels, variable labels and user-missing codes, each firm with
its own variable names, codes and respondent id column — and the ``spec.yaml`` that
maps them onto one questionnaire, with census-style weighting targets per country.
``barometer demo`` then ingests, weights and queries it through the same path a user
takes.

The respondents are drawn from the simulated populations of
:mod:`barometer.demo.population`, whose shares equal the published figures of
the poll the project is built for (European Council on Foreign Relations, 2024-11 and
2025-11 waves; see ../shared/SEED-FACTS.md) exactly.  Samples come from an online
panel that is too young, too educated and too urban (a multiplicative selection on
age, education and urbanity), so raw shares are biased and raking to the census
margins — the model under which raking is consistent — recovers the population.

Examples
--------
>>> from barometer.demo.build import build_demo
>>> spec_path = build_demo(tmp_path / "demo")  # doctest: +SKIP
>>> spec_path.name  # doctest: +SKIP
'spec.yaml'
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import numpy as np

from barometer.demo import population as popn
from barometer.demo.population import DEMOGRAPHICS, QUESTIONS, WAVES
from barometer.demo.scales import (
    AGE_YEARS,
    SCALE,
    draw_age_years,
    draw_scale,
    numeric_rng,
    population_mean,
)
from barometer.demo.sets import (
    draw_sets,
    encode_sets,
    set_missing,
    set_questions,
    set_truth,
    set_variables,
)
from barometer.errors import BarometerError
from barometer.poll.spec_yaml import dump_yaml
from barometer.user_cache import cache_folder

if TYPE_CHECKING:
    # pandas only where samples are drawn and files written: a demo whose files are
    # already in place (the second run) never imports it
    import pandas as pd
    from pyreadstat.pyclasses import MissingRange

__all__ = ["FIRMS", "ITEM_MISSING", "PANEL_SKEW", "build_demo", "draw_sample"]

#: Relative selection odds of an online panel by demographic level (the skew weighting
#: must undo): the young, the highly educated and city dwellers join panels more often.
PANEL_SKEW: dict[str, dict[str, float]] = {
    "age": {"18-29": 1.45, "30-44": 1.2, "45-59": 0.95, "60+": 0.6},
    "gender": {"female": 1.0, "male": 1.0},
    "education": {"low": 0.45, "middle": 0.95, "high": 1.6},
    "urbanity": {"urban": 1.25, "rural": 0.65},
}

#: Share of respondents with no answer (refused / skipped) per question, at random.
ITEM_MISSING: dict[str, float] = {
    "us_relationship": 0.01,
    "us_relations_outlook": 0.0,
    "us_president_effect": 0.02,
    "eu_equal_terms": 0.015,
    "defence_spending": 0.01,
}

_MISSING = -1  # level index of an item non-response in a harmonised sample


# ---------------------------------------------------------------------------------------
# Sampling.


def draw_sample(country: str, wave: str, n: int, rng: np.random.Generator) -> pd.DataFrame:
    """Draw ``n`` online-panel respondents of ``country`` in ``wave``.

    Cells are drawn with probability ``share[cell] * prod(PANEL_SKEW)`` (normalised),
    answers from the population's answer probabilities in the respondent's cell, and
    item non-response at random with the rates of :data:`ITEM_MISSING`.

    Returns
    -------
    pandas.DataFrame
        One row per respondent: a level index (0-based, questionnaire order) for each
        weighting variable and each question asked, ``-1`` for no answer.
    """
    import pandas as pd

    pop = popn.population(country, wave)
    select = pop.cell_share.copy()
    for j, var in enumerate(DEMOGRAPHICS):
        select *= np.array(list(PANEL_SKEW[var].values()))[pop.cells[:, j]]
    cell = rng.choice(len(select), size=n, p=select / select.sum())
    out: dict[str, np.ndarray] = {}
    for j, var in enumerate(DEMOGRAPHICS):
        out[var] = pop.cells[cell, j]
    for qid, probs in pop.answers.items():
        cum = np.cumsum(probs, axis=1)[cell]
        level = np.minimum((rng.random(n)[:, None] > cum).sum(axis=1), probs.shape[1] - 1)
        level[rng.random(n) < ITEM_MISSING[qid]] = _MISSING
        out[qid] = level
    return pd.DataFrame(out)


# ---------------------------------------------------------------------------------------
# Fieldwork firms' file layouts.


@dataclass(frozen=True)
class Firm:
    """How one fieldwork firm delivers its files.

    ``countries`` maps each country the firm polls to its file format; ``names`` maps
    question ids to the firm's column names; ``codes(var, levels)`` gives the firm's
    code of each level; ``missing`` is the code of an item
    non-response (``None``: left empty).  ``country_codes`` (firms delivering one file
    per wave) are the numeric codes of the country column; ``id_prefix`` makes text ids.
    """

    name: str
    id_column: str
    names: dict[str, str]
    codes: Callable[[str, tuple[str, ...]], list[int]]
    missing: int | None
    countries: dict[str, str] = field(default_factory=dict)
    country_column: str | None = None
    country_codes: dict[str, int] = field(default_factory=dict)
    upper_labels: bool = False
    id_prefix: str | None = None
    #: the code of no answer on the 0-10 scale (outside it; ``None``: left empty)
    scale_missing: int | None = None
    #: ages delivered in whole years (the spec bands them with a recode), not in bands
    age_in_years: bool = False
    #: in a CSV file, bands written as their text ("18-29"), not as numeric codes
    text_bands: bool = False


def _substantive_then(dk: int, first: int) -> Callable[[str, tuple[str, ...]], list[int]]:
    """Codes ``first, first+1, ...`` for substantive levels and ``dk`` for don't know."""

    def codes(var: str, levels: tuple[str, ...]) -> list[int]:
        out, k = [], first
        for lv in levels:
            if lv == "dont_know":
                out.append(dk)
            else:
                out.append(k)
                k += 1
        if var == "gender":  # firms code men first
            out = out[::-1]
        return out

    return codes


def _yougov_codes(var: str, levels: tuple[str, ...]) -> list[int]:
    codes = _substantive_then(dk=8, first=0)(var, levels)
    return codes[::-1] if var == "urbanity" else codes  # 0 = rural, 1 = urban


#: The demo's four firms; file formats differ by country (``countries``: code -> format).
FIRMS: dict[str, Firm] = {
    "Datapraxis": Firm(
        name="Datapraxis",
        id_column="respid",
        names={"us_relationship": "q1", "us_relations_outlook": "q2",
               "us_president_effect": "q3", "eu_equal_terms": "q4", "defence_spending": "q5",
               "age": "d1_age", "gender": "d2_gender", "education": "d3_edu",
               "urbanity": "d4_urban", "trust_eu": "q6_trust_eu"},
        codes=_substantive_then(dk=99, first=1),
        missing=98,
        countries={cc: "sav" for cc in ("FR", "DE", "IT", "ES", "PL", "RO")},
        scale_missing=98,
    ),
    "YouGov": Firm(
        name="YouGov",
        id_column="yougov_id",
        names={"us_relationship": "US_Relationship", "us_relations_outlook": "US_Relations_Future",
               "us_president_effect": "Trump_Effect", "eu_equal_terms": "EU_Equal_Terms",
               "defence_spending": "Defence_Spending", "age": "age_group", "gender": "gender",
               "education": "educ3", "urbanity": "urbrur", "trust_eu": "EU_Trust"},
        codes=_yougov_codes,
        missing=9,
        countries={"GB": "sav", "US": "sav", "DK": "csv"},
        id_prefix="YG",
        scale_missing=99,
        text_bands=True,
    ),
    "Gallup International": Firm(
        name="Gallup International",
        id_column="ID",
        names={"us_relationship": "Q10", "us_relations_outlook": "Q11",
               "us_president_effect": "Q12", "eu_equal_terms": "Q13", "defence_spending": "Q14",
               "age": "AGEGR", "gender": "SEX", "education": "EDU", "urbanity": "SETTLEMENT",
               "trust_eu": "Q15"},
        codes=_substantive_then(dk=7, first=1),
        missing=9,
        countries={cc: "sav" for cc in ("KR", "BG", "HU")},
        country_column="COUNTRY",
        country_codes={"KR": 410, "BG": 100, "HU": 348},  # ISO 3166-1 numeric
        upper_labels=True,
        scale_missing=99,
    ),
    "Norstat": Firm(
        name="Norstat",
        id_column="resp_no",
        names={"us_relationship": "s1_us_rel", "us_relations_outlook": "s2_us_future",
               "us_president_effect": "s3_president", "eu_equal_terms": "s4_eu_equal",
               "defence_spending": "s5_defence", "age": "age", "gender": "sex",
               "education": "edu_level", "urbanity": "urban_rural", "trust_eu": "s6_trust_eu"},
        codes=_substantive_then(dk=9, first=1),
        missing=None,
        countries={"EE": "dta", "PT": "parquet"},
        age_in_years=True,
    ),
}  # fmt: skip


def _firm_of(country: str) -> Firm:
    for firm in FIRMS.values():
        if country in firm.countries:
            return firm
    raise BarometerError(f"demo: no fieldwork firm polls {country!r}")  # pragma: no cover


def _levels(var: str) -> tuple[str, ...]:
    return DEMOGRAPHICS[var] if var in DEMOGRAPHICS else QUESTIONS[var].levels


def _labels(var: str) -> tuple[str, ...]:
    if var in QUESTIONS:
        return QUESTIONS[var].labels
    return tuple(lv.capitalize() if lv[0].isalpha() else lv for lv in DEMOGRAPHICS[var])


def _variable_label(var: str) -> str:
    if var == SCALE.id:
        return SCALE.wording
    if var in QUESTIONS:
        wording = QUESTIONS[var].wording
        return wording if len(wording) <= 120 else wording[:117] + "..."
    return {"age": "Age group", "gender": "Gender", "education": "Education (3 groups)",
            "urbanity": "Urban or rural area"}[var]  # fmt: skip


# ---------------------------------------------------------------------------------------
# Writing files.


@dataclass
class _File:
    """One respondent file to write: its firm, wave, countries and harmonised rows."""

    firm: Firm
    wave: str
    fmt: str
    countries: list[str]
    samples: list[pd.DataFrame]

    @property
    def name(self) -> str:
        firm = self.firm.name.split()[0].lower()
        who = "all" if self.firm.country_column else self.countries[0].lower()
        return f"{firm}_{who}_{self.wave}.{self.fmt}"


def _encode(file: _File) -> tuple[pd.DataFrame, dict[str, dict[int, str]], dict[str, str]]:
    """The firm's table for ``file``, with its value labels and variable labels."""
    import pandas as pd

    firm = file.firm
    frame = pd.concat(file.samples, ignore_index=True)
    n = len(frame)
    cols: dict[str, Any] = {}
    value_labels: dict[str, dict[int, str]] = {}
    var_labels: dict[str, str] = {}
    if firm.id_prefix:  # text ids, not consecutive
        ids = np.arange(n) * 7 + 104_729
        cols[firm.id_column] = [f"{firm.id_prefix}{i:08d}" for i in ids]
    else:
        cols[firm.id_column] = np.arange(1, n + 1, dtype=np.int64) + (
            0 if firm.country_column else 10_000
        )
    var_labels[firm.id_column] = "Respondent id"
    if firm.country_column:
        sizes = [len(s) for s in file.samples]
        codes = np.repeat([firm.country_codes[cc] for cc in file.countries], sizes)
        cols[firm.country_column] = codes
        value_labels[firm.country_column] = {
            firm.country_codes[cc]: popn.COUNTRIES[cc].name.upper() for cc in file.countries
        }
        var_labels[firm.country_column] = "Country"
    for var in (*DEMOGRAPHICS, *QUESTIONS):
        if var not in frame.columns:
            continue
        column = firm.names[var]
        if var == "age" and firm.age_in_years:
            cols[column] = frame["age_years"].to_numpy().astype(float)
            var_labels[column] = "Age (years)"
            continue
        if var in DEMOGRAPHICS and firm.text_bands and file.fmt == "csv":
            cols[column] = np.asarray(DEMOGRAPHICS[var], dtype=object)[frame[var].to_numpy()]
            continue
        level_codes = np.asarray(firm.codes(var, _levels(var)), dtype=float)
        index = frame[var].to_numpy()
        answered = index >= 0
        values = np.full(n, np.nan)
        values[answered] = level_codes[index[answered]]
        if firm.missing is not None:
            values[~answered] = firm.missing
        cols[column] = values
        labels = _labels(var)
        if firm.upper_labels:
            labels = tuple(lb.upper() for lb in labels)
        value_labels[column] = dict(zip(level_codes.astype(int).tolist(), labels, strict=True))
        if firm.missing is not None and var in QUESTIONS:
            value_labels[column][firm.missing] = "No answer"
        var_labels[column] = _variable_label(var)
    if SCALE.id in frame.columns:
        column = firm.names[SCALE.id]
        values = frame[SCALE.id].to_numpy().copy()
        if firm.scale_missing is not None:
            values[np.isnan(values)] = firm.scale_missing
        cols[column] = values
        value_labels[column] = {0: "No trust at all", SCALE.high: "Complete trust"}
        if firm.scale_missing is not None:
            value_labels[column][firm.scale_missing] = "Don't know"
        var_labels[column] = _variable_label(SCALE.id)
    if "allies__us" in frame.columns:
        grid = firm.codes("views", QUESTIONS["us_relationship"].levels)
        extra = encode_sets(firm.name, frame, file.fmt, grid, firm.missing)
        cols |= extra[0]
        value_labels |= extra[1]
        var_labels |= extra[2]
    return pd.DataFrame(cols), value_labels, var_labels


def _stamp_sav(path: Path, day: str) -> None:
    """Set a ``.sav`` header's creation date and time (bytes 92-108) to ``day`` 12:00:00.

    pyreadstat stamps the time of writing; a fixed stamp makes the demo's files
    byte-identical for a seed (IBM SPSS Statistics header layout: ``$FL2``, 60-byte
    product name, five int32 fields, a float64 bias, then ``dd mmm yy`` and ``hh:mm:ss``).
    """
    data = bytearray(path.read_bytes())
    if data[:4] != b"$FL2":  # pragma: no cover
        raise BarometerError(f"demo: {path} is not an SPSS system file")
    stamp = date.fromisoformat(day).strftime("%d %b %y").encode("ascii") + b"12:00:00"
    data[92:109] = stamp
    path.write_bytes(bytes(data))


def _stamp_dta(path: Path, day: str) -> None:
    """Set a Stata 118/119 header's ``<timestamp>`` (``dd Mon yyyy hh:mm``) to ``day`` 12:00."""
    data = bytearray(path.read_bytes())
    at = data.find(b"<timestamp>")
    if at < 0 or data[at + 11] != 17:  # pragma: no cover
        raise BarometerError(f"demo: {path} has no Stata timestamp to set")
    stamp = date.fromisoformat(day).strftime("%d %b %Y").encode("ascii") + b" 12:00"
    data[at + 12 : at + 12 + 17] = stamp
    path.write_bytes(bytes(data))


def _write(file: _File, path: Path) -> None:
    """Write ``file`` in its format (value labels and user-missing codes where it has them)."""
    import pyreadstat

    table, value_labels, var_labels = _encode(file)
    day = WAVES[file.wave][1]
    label = f"{file.firm.name}: {', '.join(file.countries)} {file.wave} (simulated demo data)"
    # pyreadstat types its (read-only) label and missing-code arguments as dicts of its
    # widest values, and dict is invariant: ours (str labels, int codes) are cast to them
    codes = cast("dict[str, dict[int | float, str]]", value_labels)
    if file.fmt == "sav":
        missing = {
            file.firm.names[q]: [file.firm.missing]
            for q in QUESTIONS
            if file.firm.missing is not None and file.firm.names[q] in table.columns
        }
        if file.firm.scale_missing is not None:
            missing[file.firm.names[SCALE.id]] = [file.firm.scale_missing]
        missing |= set_missing(file.firm.name, file.firm.missing)
        pyreadstat.write_sav(
            table, path, file_label=label,
            column_labels=cast("dict[str, str | None]", var_labels),
            variable_value_labels=codes,
            missing_ranges=cast("dict[str, list[int | float | str | MissingRange]]", missing),
        )  # fmt: skip
        _stamp_sav(path, day)
    elif file.fmt == "dta":
        short = {c: lb if len(lb) <= 80 else lb[:77] + "..." for c, lb in var_labels.items()}
        pyreadstat.write_dta(
            table, path, file_label=label[:80],
            column_labels=cast("dict[str, str | None]", short), variable_value_labels=codes,
        )  # fmt: skip
        _stamp_dta(path, day)
    elif file.fmt == "parquet":
        table = table.astype({c: "Int64" for c in table.columns if table[c].dtype == float})
        table.to_parquet(path, index=False, engine="pyarrow")
    else:
        table.astype({c: "Int64" for c in table.columns if table[c].dtype == float}).to_csv(
            path, index=False, lineterminator="\n"
        )


# ---------------------------------------------------------------------------------------
# The spec.


def _source(file: _File) -> dict[str, Any]:
    firm = file.firm
    src: dict[str, Any] = {
        "id": file.name.rsplit(".", 1)[0],
        "file": f"data/{file.name}",
        "wave": file.wave,
    }
    if firm.country_column:
        src["country_column"] = firm.country_column
        src["country_codes"] = {firm.country_codes[cc]: cc for cc in file.countries}
    else:
        src["country"] = file.countries[0]
    src |= {"firm": firm.name, "mode": "online panel", "sampling": "opt-in"}
    src["respondent_id"] = firm.id_column
    variables: dict[str, Any] = {}
    asked = set(file.samples[0].columns)
    for var in (*QUESTIONS, *DEMOGRAPHICS):
        if var == next(iter(DEMOGRAPHICS)) and SCALE.id in asked:  # after the questions
            variables[SCALE.id] = {"column": firm.names[SCALE.id]}
        if var not in asked:
            continue
        if var == "age" and firm.age_in_years:
            spans = [list(span) for span in AGE_YEARS.values()]
            spans[-1][1] = 120  # the oldest band is open
            bands = [{"range": r, "to": band} for band, r in zip(AGE_YEARS, spans, strict=True)]
            variables[var] = {"column": firm.names[var], "recode": bands}
            continue
        if var in DEMOGRAPHICS and firm.text_bands and file.fmt == "csv":
            text = {lv: lv for lv in DEMOGRAPHICS[var]}
            variables[var] = {"column": firm.names[var], "codes": text}
            continue
        codes: dict[int, str | None] = dict(
            zip(firm.codes(var, _levels(var)), _levels(var), strict=True)
        )
        if firm.missing is not None and var in QUESTIONS:
            codes[firm.missing] = None
        variables[var] = {"column": firm.names[var], "codes": codes}
    if "allies__us" in asked:
        grid = firm.codes("views", QUESTIONS["us_relationship"].levels)
        variables |= set_variables(firm.name, grid, firm.missing)
    src["variables"] = variables
    return src


#: How findings speak of the people who gave an answer ("16% see the US as an ally").
FINDING_LABELS: dict[str, dict[str, str]] = {
    "us_relationship": {
        "ally": "see the US as an ally",
        "partner": "see the US as a necessary partner",
        "rival": "see the US as a rival",
        "adversary": "see the US as an adversary",
        "dont_know": "cannot say how they see the US",
    },
    "us_relations_outlook": {
        "stronger": "expect relations with the US to become stronger",
        "remain_strong": "expect relations with the US to remain strong",
        "weaker": "expect relations with the US to become weaker",
        "dont_know": "cannot say how relations with the US will develop",
    },
    "us_president_effect": {
        "good": "say the US president and his policies are good for their country",
        "bad": "say the US president and his policies are bad for their country",
        "neither": "say the US president and his policies are neither good nor bad for them",
        "dont_know": "cannot say whether the US president is good or bad for their country",
    },
    "eu_equal_terms": {
        "agree": "think the EU can deal with major powers on equal terms",
        "disagree": "doubt that the EU can deal with major powers on equal terms",
        "dont_know": "cannot say whether the EU can deal with major powers on equal terms",
    },
    "defence_spending": {
        "increase": "want defence spending increased",
        "keep": "want defence spending kept at its current level",
        "decrease": "want defence spending cut",
        "dont_know": "cannot say what should happen to defence spending",
    },
}


#: The net the demo publishes on the US relationship question.
NET = {
    "code": "ally_or_partner",
    "label": "An ally or a necessary partner",
    "levels": ["ally", "partner"],
    "finding_label": "see the US as an ally or a necessary partner",
}


def _level(qid: str, code: str, label: str) -> dict[str, str]:
    phrase = FINDING_LABELS.get(qid, {}).get(code)
    return {"code": code, "label": label} | ({"finding_label": phrase} if phrase else {})


def _spec(files: list[_File]) -> dict[str, Any]:
    """The demo's spec as plain data, in the order a reader expects."""
    questions: list[dict[str, object]] = [
        {
            "id": qid,
            "wording": q.wording,
            "levels": [_level(qid, c, lb) for c, lb in zip(q.levels, q.labels, strict=True)],
            "non_substantive": ["dont_know"],
        }
        for qid, q in QUESTIONS.items()
    ]
    questions[0]["nets"] = [NET]
    questions.insert(
        1,
        {
            "id": SCALE.id,
            "kind": "numeric",
            "wording": SCALE.wording,
            "range": [0, SCALE.high],
            "missing": sorted({f.scale_missing for f in FIRMS.values() if f.scale_missing}),
            "finding_label": SCALE.finding_label,
        },
    )
    questions += set_questions()
    questions += [
        {
            "id": var,
            "wording": _variable_label(var),
            "levels": [
                {"code": c, "label": lb} for c, lb in zip(levels, _labels(var), strict=True)
            ],
            "kind": "weighting",
        }
        for var, levels in DEMOGRAPHICS.items()
    ]
    return {
        "name": "Demo poll: Europe, South Korea and the United States (simulated)",
        "sponsor": "none: simulated data written by barometer demo",
        "contact": "the barometer project (demo poll)",
        "countries": [
            {"code": cc, "name": f.name, "population": f.adults} for cc, f in popn.COUNTRIES.items()
        ],
        "regions": [
            {
                "id": "EU",
                "name": "EU member states polled",
                "members": list(popn.EU_MEMBERS),
                "rule": "mean",
            }
        ],
        "waves": [{"id": w, "start": s, "end": e} for w, (s, e) in WAVES.items()],
        "questions": questions,
        "sources": [_source(f) for f in files],
        "targets": [
            {"country": cc, "wave": None, "margins": popn.census_margins(cc)}
            for cc in popn.COUNTRIES
        ],
        # The breakdowns the explorer offers (barometer serve, barometer explorer).
        "publication": {"breakdowns": ["age", "gender"]},
    }


_HEADER = """\
# Demo poll written by `barometer demo` (barometer.demo.build.build_demo, seed {seed}).
# Respondents are SIMULATED: drawn from populations whose shares equal the figures
# published for the ECFR global poll (waves 2024-11 and 2025-11), through an online panel
# that is too young, too educated and too urban. Weight (rake to the targets below) to
# recover the population figures; population_truth.csv lists them.
"""


def _plan(seed: int) -> list[_File]:
    """Draw every sample and group them into the firms' files (deterministic for a seed)."""
    files: list[_File] = []
    for w_index, wave in enumerate(WAVES):
        by_firm: dict[str, _File] = {}
        for c_index, cc in enumerate(popn.COUNTRIES):
            if cc not in popn.polled(wave):
                continue
            rng = np.random.default_rng([seed, w_index, c_index])
            sample = draw_sample(cc, wave, popn.COUNTRIES[cc].n, rng)
            numeric = numeric_rng(seed, w_index, c_index)
            sample[SCALE.id] = draw_scale(cc, wave, sample, numeric)
            sample["age_years"] = draw_age_years(sample, numeric)
            # the sets' own generator: every other column stays as it was drawn
            sample = draw_sets(
                sample, cc, wave, np.random.default_rng([seed, w_index, c_index, 15])
            )
            firm = _firm_of(cc)
            fmt = firm.countries[cc]
            if firm.country_column and firm.name in by_firm:
                by_firm[firm.name].countries.append(cc)
                by_firm[firm.name].samples.append(sample)
                continue
            entry = _File(firm, wave, fmt, [cc], [sample])
            files.append(entry)
            if firm.country_column:
                by_firm[firm.name] = entry
    return files


def _write_truth(path: Path) -> None:
    """The population shares (the truth) per country, wave, question and level."""
    with path.open("w", newline="", encoding="utf-8") as fh:
        out = csv.writer(fh, lineterminator="\n")
        out.writerow(["country", "wave", "question", "level", "share"])
        for wave in WAVES:
            for cc in popn.polled(wave):
                pop = popn.population(cc, wave)
                for qid in pop.answers:
                    for level, share in pop.shares(qid).items():
                        out.writerow([cc, wave, qid, level, f"{share:.12f}"])
                # a numeric question's truth is its mean (in the share column)
                out.writerow([cc, wave, SCALE.id, "mean", f"{population_mean(cc, wave):.12f}"])
                # the sets' by their stored parts (allies__us: level "selected")
                told = pop.shares("us_relationship") if "us_relationship" in pop.answers else None
                for part, level, share in set_truth(cc, wave, told):
                    out.writerow([cc, wave, part, level, f"{share:.12f}"])


#: The environment variable naming the folder where build_demo records what it wrote
#: (``off``: no record, every build writes every file; default
#: ``$XDG_CACHE_HOME/barometer/demo``).
RECORDS_ENV = "BAROMETER_DEMO_CACHE"


def _record(out_dir: Path) -> Path | None:
    """Where the record of the demo written to ``out_dir`` is kept, or None (``off``).

    Outside ``out_dir``, in the user's cache (as trusted as the user's home, like the
    rendered charts): a record planted in the folder beside planted files could not
    make them pass for the demo's."""
    folder = cache_folder(RECORDS_ENV, "demo")
    if folder is None:
        return None
    name = hashlib.sha256(str(out_dir.resolve()).encode("utf-8")).hexdigest()
    return folder / f"{name}.json"


def _content_key(seed: int) -> dict[str, str]:
    """What the demo's bytes depend on: the seed, barometer's version, the source of the
    demo package and the spec writer (so an edited generator is never mistaken for the
    one that wrote the files) and the versions of the libraries that write them."""
    from importlib.metadata import version

    import barometer
    from barometer.poll import spec_yaml

    code = hashlib.sha256()
    for path in [*sorted(Path(__file__).parent.glob("*.py")), Path(spec_yaml.__file__)]:
        code.update(path.name.encode() + b"\0" + path.read_bytes())
    key = {"seed": str(seed), "barometer": barometer.__version__, "code": code.hexdigest()}
    return key | {lib: version(lib) for lib in ("numpy", "pandas", "pyarrow", "pyreadstat")}


def _in_place(out_dir: Path, key: dict[str, str]) -> bool:
    """True when ``out_dir`` holds exactly what the demo with ``key`` wrote there: its
    record has the same key and every file it lists has the recorded SHA-256 (a file
    deleted, edited or replaced since means a full rewrite)."""
    from barometer.poll.ingest import file_sha256

    record = _record(out_dir)
    if record is None:
        return False
    try:
        kept = json.loads(record.read_text(encoding="utf-8"))
        files = kept["files"]
        if kept["key"] != key or not isinstance(files, dict) or not files:
            return False
        return all(
            (out_dir / name).is_file() and file_sha256(out_dir / name) == digest
            for name, digest in files.items()
        )
    except (OSError, ValueError, KeyError, TypeError):
        return False


def _forget(out_dir: Path) -> None:
    record = _record(out_dir)
    if record is not None:
        with contextlib.suppress(OSError):  # an unwritable cache only costs time
            record.unlink(missing_ok=True)


def _remember(out_dir: Path, key: dict[str, str], names: list[str]) -> None:
    from barometer.atomic import write_text
    from barometer.poll.ingest import file_sha256

    record = _record(out_dir)
    if record is None:
        return
    files = {name: file_sha256(out_dir / name) for name in names}
    try:
        record.parent.mkdir(parents=True, exist_ok=True)
        write_text(record, json.dumps({"key": key, "files": files}, indent=1) + "\n")
    except (OSError, BarometerError):
        pass  # the record is an optimisation: a read-only or full cache only costs time


def build_demo(out_dir: Path, seed: int = 2026) -> Path:
    """Write the demo poll's respondent files and spec to ``out_dir``.

    Writes ``out_dir/spec.yaml``, the respondent files under ``out_dir/data/`` (SPSS
    ``.sav`` from Datapraxis, YouGov and Gallup International, a YouGov ``.csv``, a
    Norstat Stata ``.dta`` and ``.parquet``) and ``out_dir/population_truth.csv``
    (the simulated population shares a correct pipeline recovers).  The output is
    byte-identical for a given ``seed``, so when ``out_dir`` still holds exactly the files
    a build with the same content key (seed, versions, the generator's source) wrote
    there — recorded with each file's SHA-256 in the user's cache (:data:`RECORDS_ENV`),
    not in ``out_dir`` — nothing is drawn or written again.

    Parameters
    ----------
    out_dir : Path
        Folder to write to (created if needed; existing demo files are overwritten).
    seed : int
        Seed of the numpy random generator the samples are drawn with.

    Returns
    -------
    Path
        The path of the ``spec.yaml`` written (validated with the spec models).
    """
    from barometer.poll.spec import load_spec

    out_dir = Path(out_dir)
    spec_path = out_dir / "spec.yaml"
    key = _content_key(seed)
    if _in_place(out_dir, key):
        return spec_path
    _forget(out_dir)  # until every file is written again
    (out_dir / "data").mkdir(parents=True, exist_ok=True)
    files = _plan(seed)
    for f in files:
        _write(f, out_dir / "data" / f.name)
    _write_truth(out_dir / "population_truth.csv")
    text = dump_yaml(_spec(files), sort_keys=False, allow_unicode=True, width=100)
    spec_path.write_text(_HEADER.format(seed=seed) + text, encoding="utf-8")
    load_spec(spec_path)  # the demo must always satisfy the spec models
    names = [f"data/{f.name}" for f in files] + ["population_truth.csv", spec_path.name]
    _remember(out_dir, key, names)
    return spec_path
