"""The demo poll's multiple-response question and grid, in every firm's layout.

``allies`` — "Which of these do you consider allies of your country? Select all that
apply." — and ``views`` — a grid on how respondents see the United States, China and
Russia (the levels of ``us_relationship``). Their answers are drawn with a generator of
their own (seeded apart from the other questions'), so adding them leaves every other
column of the demo's files, and every published figure, as it was.

The firms deliver them as analysts receive such questions:

* Datapraxis (SPSS): one 0/1 column per option (``q7_1`` …), grid codes as its others;
* YouGov (SPSS and CSV): one *labelled* column per option — the option's label (in SPSS
  a code labelled so) when selected, blank when not;
* Gallup International (SPSS, one file of several countries): one text column listing
  the codes selected (``"1;4"``);
* Norstat (Stata, Parquet): 0/1 columns and a ``shown`` column (the question is routed
  away from some respondents).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from barometer.demo.population import EU_MEMBERS, QUESTIONS

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "ALLY_OPTIONS",
    "SET_COLUMNS",
    "VIEW_ITEMS",
    "draw_sets",
    "encode_sets",
    "set_missing",
    "set_questions",
    "set_truth",
    "set_variables",
]

#: (code, label) of the options of ``allies``; the last is exclusive.
ALLY_OPTIONS: tuple[tuple[str, str], ...] = (
    ("us", "The United States"),
    ("eu", "Other EU member states"),
    ("cn", "China"),
    ("ru", "Russia"),
    ("none", "None of these"),
)
#: (code, label) of the items of ``views``.
VIEW_ITEMS: tuple[tuple[str, str], ...] = (
    ("us", "The United States"),
    ("cn", "China"),
    ("ru", "Russia"),
)
_ALLY_PHRASES = {
    "us": "count the United States as an ally",
    "eu": "count other EU member states as allies",
    "cn": "count China as an ally",
    "ru": "count Russia as an ally",
    "none": "count none of these as allies",
}
_VIEW_LEVELS = QUESTIONS["us_relationship"].levels
_VIEW_LABELS = QUESTIONS["us_relationship"].labels

#: Chance of selecting each option but "none" (us, eu, cn, ru) by where one lives.
_SELECT = {
    "EU": (0.30, 0.55, 0.05, 0.03),
    "GB": (0.42, 0.45, 0.04, 0.02),
    "US": (0.10, 0.40, 0.03, 0.02),
    "KR": (0.62, 0.22, 0.07, 0.03),
}
#: Shares of ally, partner, rival, adversary, don't know for China and Russia.
_VIEWS = {
    "EU": {"cn": (0.04, 0.36, 0.29, 0.16, 0.15), "ru": (0.03, 0.08, 0.2, 0.57, 0.12)},
    "KR": {"cn": (0.05, 0.35, 0.30, 0.18, 0.12), "ru": (0.03, 0.15, 0.30, 0.38, 0.14)},
}
_ROUTED_AWAY = 0.04  # Norstat: not shown "allies"
_ITEM_MISSING = 0.02

#: The firms' column names: option / item code -> column (``allies`` delimited: one).
SET_COLUMNS: dict[str, dict[str, Any]] = {
    "Datapraxis": {
        "allies": {code: f"q7_{k}" for k, (code, _) in enumerate(ALLY_OPTIONS, start=1)},
        "views": {code: f"q8_{k}" for k, (code, _) in enumerate(VIEW_ITEMS, start=1)},
    },
    "YouGov": {
        "allies": {code: f"Allies_{code.upper()}" for code, _ in ALLY_OPTIONS},
        "views": {code: f"Views_{code.upper()}" for code, _ in VIEW_ITEMS},
    },
    "Gallup International": {
        "allies": "Q17",
        "views": {code: f"Q18_{k}" for k, (code, _) in enumerate(VIEW_ITEMS, start=1)},
    },
    "Norstat": {
        "allies": {code: f"s7_{code}" for code, _ in ALLY_OPTIONS},
        "views": {code: f"s8_{code}" for code, _ in VIEW_ITEMS},
        "shown": "s7_shown",
    },
}


def _where(country: str) -> str:
    return "EU" if country in EU_MEMBERS else country


def draw_sets(
    sample: pd.DataFrame, country: str, wave: str, rng: np.random.Generator
) -> pd.DataFrame:
    """``sample`` with ``allies__<option>`` (1, 0; -1 not asked), ``allies__shown`` and
    ``views__<item>`` (a level index; -1 no answer) drawn with ``rng``.

    Seeing the US as an ally (``us_relationship``) makes choosing it as an ally likelier
    and is most respondents' answer to the grid's US item; the 2025-11 wave chooses the
    US less often. Who selects nothing ticks "None of these" (or, one in ten, nothing:
    no answer, out of the base).
    """
    n = len(sample)
    out = sample.copy()
    asked = "us_relationship" in sample.columns
    us_rel = sample["us_relationship"].to_numpy() if asked else np.full(n, -1)
    p = np.tile(np.array(_SELECT[_where(country)]), (n, 1))
    p[:, 0] += np.where(us_rel == 0, 0.30, np.where(us_rel == 3, -0.15, 0.0))
    if wave == "2025-11":
        p[:, 0] -= 0.06
    chosen = rng.random((n, 4)) < np.clip(p, 0.0, 1.0)
    nothing = ~chosen.any(axis=1)
    none = nothing & (rng.random(n) < 0.9)
    shown = rng.random(n) >= _ROUTED_AWAY
    for k, (code, _) in enumerate(ALLY_OPTIONS):
        pick = chosen[:, k] if code != "none" else none
        out[f"allies__{code}"] = np.where(shown, pick.astype(int), -1)
    out["allies__shown"] = shown
    views = _VIEWS["KR" if country == "KR" else "EU"]
    keep = rng.random(n) < 0.9
    other = rng.integers(0, len(_VIEW_LEVELS), n)
    out["views__us"] = np.where((us_rel >= 0) & keep, us_rel, other)
    for code in ("cn", "ru"):
        probs = np.cumsum(views[code])
        out[f"views__{code}"] = np.minimum(
            (rng.random(n)[:, None] > probs).sum(axis=1), len(probs) - 1
        )
    for code, _ in VIEW_ITEMS:
        col = f"views__{code}"
        out[col] = np.where(rng.random(n) < _ITEM_MISSING, -1, out[col])
    return out


def set_truth(
    country: str, wave: str, us_relationship: dict[str, float] | None
) -> list[tuple[str, str, float]]:
    """The population shares :func:`draw_sets` draws from — ``(stored part, level,
    share)`` of every ``allies`` option (level ``selected``) and ``views`` item × level —
    given the population shares of ``us_relationship`` (None where it is not asked).

    Each option's share is of its base, those who answered (selected something, or
    "None of these"): with ``p_k(l)`` the chance of option ``k`` for a respondent with
    ``us_relationship`` level ``l``, and ``z(l) = prod_k (1 - p_k(l))`` the chance of
    choosing none of the four, ``P(k | answered) = sum_l s_l p_k(l) / sum_l s_l (1 -
    0.1 z(l))`` and "None of these" ``0.9 sum_l s_l z(l)`` over the same; the routing
    and the grid's item non-response are independent of the answers, so they cancel.
    The grid's US item is ``us_relationship`` nine times in ten, a uniform draw else."""
    levels = list(_VIEW_LEVELS)
    base = np.array(_SELECT[_where(country)])
    if us_relationship is None:
        mix = [(1.0, base.copy())]
    else:
        shift = {0: 0.30, 3: -0.15}
        mix = [(us_relationship[lv], base + np.array([shift.get(k, 0.0), 0, 0, 0]))
               for k, lv in enumerate(levels)]  # fmt: skip
    picked = np.zeros(4)
    nothing = answered = 0.0
    for weight, p in mix:
        if wave == "2025-11":
            p = p - np.array([0.06, 0, 0, 0])
        p = np.clip(p, 0.0, 1.0)
        z = float(np.prod(1 - p))
        picked += weight * p
        nothing += weight * 0.9 * z
        answered += weight * (1 - 0.1 * z)
    rows = [(f"allies__{code}", "selected", float(v / answered))
            for (code, _), v in zip(ALLY_OPTIONS[:4], picked, strict=True)]  # fmt: skip
    rows.append(("allies__none", "selected", nothing / answered))
    uniform = 1 / len(levels)
    for lv in levels:
        told = us_relationship[lv] if us_relationship is not None else 0.0
        keep = 0.9 if us_relationship is not None else 0.0
        rows.append(("views__us", lv, keep * told + (1 - keep) * uniform))
    views = _VIEWS["KR" if country == "KR" else "EU"]
    for code in ("cn", "ru"):
        rows.extend((f"views__{code}", lv, share) for lv, share in zip(levels, views[code],
                                                                       strict=True))  # fmt: skip
    return rows


def set_questions() -> list[dict[str, Any]]:
    """The spec entries of ``allies`` and ``views``."""
    from barometer.demo.build import FINDING_LABELS

    phrases = FINDING_LABELS["us_relationship"]
    return [
        {
            "id": "allies",
            "kind": "multiple",
            "wording": "Which of these do you consider allies of your country? "
            "Select all that apply.",
            "options": [
                {"code": code, "label": label, "finding_label": _ALLY_PHRASES[code]}
                | ({"exclusive": True} if code == "none" else {})
                for code, label in ALLY_OPTIONS
            ],
        },
        {
            "id": "views",
            "kind": "grid",
            "wording": "How do you see each of these countries?",
            "items": [{"code": c, "label": lb} for c, lb in VIEW_ITEMS],
            "levels": [
                {"code": c, "label": lb}
                | (
                    {"finding_label": phrases[c].replace("the US", "{item}")}
                    if c in phrases
                    else {}
                )
                for c, lb in zip(_VIEW_LEVELS, _VIEW_LABELS, strict=True)
            ],
            "non_substantive": ["dont_know"],
        },
    ]


def _grid_codes(codes: list[int]) -> dict[int, str]:
    return dict(zip(codes, _VIEW_LEVELS, strict=True))


def encode_sets(
    firm: str, frame: pd.DataFrame, fmt: str, level_codes: list[int], missing: int | None
) -> tuple[dict[str, Any], dict[str, dict[int, str]], dict[str, str]]:
    """The firm's columns for ``allies`` and ``views`` (with value and variable labels)."""
    names = SET_COLUMNS[firm]
    n = len(frame)
    cols: dict[str, Any] = {}
    value_labels: dict[str, dict[int, str]] = {}
    var_labels: dict[str, str] = {}
    allies = names["allies"]
    if isinstance(allies, str):  # one delimited column of codes
        picks = np.stack([frame[f"allies__{c}"].to_numpy() for c, _ in ALLY_OPTIONS], axis=1)
        cols[allies] = [";".join(str(k + 1) for k in np.flatnonzero(row == 1)) for row in picks]
        var_labels[allies] = "Allies (codes selected, ';'-separated)"
    else:
        for code, label in ALLY_OPTIONS:
            col = allies[code]
            v = frame[f"allies__{code}"].to_numpy()
            if firm == "YouGov":  # labelled: the option's label, or blank
                if fmt == "csv":
                    cols[col] = np.where(v == 1, label, "")
                else:
                    cols[col] = np.where(v == 1, 1.0, np.nan)
                    value_labels[col] = {1: label}
            else:
                cols[col] = np.where(v < 0, np.nan, v.astype(float))
                value_labels[col] = {0: "Not selected", 1: "Selected"}
            var_labels[col] = f"Allies: {label}"
    if "shown" in names:
        cols[names["shown"]] = frame["allies__shown"].to_numpy().astype(float)
        var_labels[names["shown"]] = "Allies question shown"
    for code, label in VIEW_ITEMS:
        col = names["views"][code]
        index = frame[f"views__{code}"].to_numpy()
        values = np.full(n, np.nan)
        answered = index >= 0
        values[answered] = np.asarray(level_codes, dtype=float)[index[answered]]
        if missing is not None:
            values[~answered] = missing
        cols[col] = values
        value_labels[col] = dict(zip(level_codes, _VIEW_LABELS, strict=True))
        if missing is not None:
            value_labels[col][missing] = "No answer"
        var_labels[col] = f"How do you see: {label}"
    return cols, value_labels, var_labels


def set_missing(firm: str, missing: int | None) -> dict[str, list[int]]:
    """The SPSS user-missing codes of the firm's grid columns."""
    if missing is None:
        return {}
    return {col: [missing] for col in SET_COLUMNS[firm]["views"].values()}


def set_variables(firm: str, level_codes: list[int], missing: int | None) -> dict[str, Any]:
    """The source entry's ``variables`` for ``allies`` and ``views`` in the firm's layout."""
    names = SET_COLUMNS[firm]
    allies = names["allies"]
    entry: dict[str, Any]
    if isinstance(allies, str):
        entry = {
            "delimited": allies,
            "separator": ";",
            "codes": {k: code for k, (code, _) in enumerate(ALLY_OPTIONS, start=1)},
        }
    elif firm == "YouGov":
        entry = {"columns": dict(allies), "selected": "label"}
    else:
        entry = {"columns": dict(allies), "selected": [1]}
    if "shown" in names:
        entry["shown"] = names["shown"]
    codes: dict[int, str | None] = dict(_grid_codes(level_codes))
    if missing is not None:
        codes[missing] = None
    return {"allies": entry, "views": {"columns": dict(names["views"]), "codes": codes}}
