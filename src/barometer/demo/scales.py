"""The demo poll's numeric answers: a 0-10 trust-in-the-EU scale and ages in years.

The scale is drawn, in each demographic cell of :mod:`barometer.demo.population`, as a
binomial count out of 10 (so answers are whole numbers with many ties) whose success
probability is a logistic function of the country's level plus demographic tilts (the
young and the highly educated trust the EU more).  The country's level is solved for
(bisection) so that the population mean equals its target *exactly*: the EU countries'
targets spread around the EU average by a country score and average to it exactly, as
the shares of :mod:`barometer.demo.population` do.  Ages in years are drawn uniformly
within the respondent's age band, so a firm that delivers years and one that delivers
bands describe the same people.

These draws use a generator of their own (:func:`numeric_rng`), so adding them leaves
every other answer of the demo, and so every published figure, as it was.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING

import numpy as np

from barometer.demo import population as popn

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "AGE_YEARS",
    "SCALE",
    "ScaleFacts",
    "cell_probabilities",
    "draw_age_years",
    "draw_scale",
    "numeric_rng",
    "population_mean",
    "scale_targets",
]


@dataclass(frozen=True)
class ScaleFacts:
    """A demo scale: wording, range, targets and how answers depend on who answers.

    ``eu`` is the EU average of the countries' population means per wave; ``countries``
    the other countries' means; ``spread`` spreads the EU countries by the country
    score ``score``; ``youth``, ``education``, ``urban`` and ``female`` are logit tilts
    per unit of each demographic trait; ``missing`` the share of no answers.
    """

    id: str
    wording: str
    finding_label: str
    high: int
    eu: dict[str, float]
    countries: dict[str, dict[str, float]]
    score: str
    spread: float
    youth: float
    education: float
    urban: float
    female: float
    missing: float


SCALE = ScaleFacts(
    id="trust_eu",
    wording="On a scale from 0 to 10, how much do you trust the European Union?",
    finding_label="trust in the EU",
    high=10,
    eu={"2024-11": 5.1, "2025-11": 5.4},
    countries={
        "KR": {"2024-11": 5.9, "2025-11": 6.2},
        "GB": {"2024-11": 4.6, "2025-11": 4.8},
        "US": {"2024-11": 4.5, "2025-11": 4.3},
    },
    score="euro_confidence",
    spread=1.5,
    youth=0.35,
    education=0.3,
    urban=0.15,
    female=0.0,
    missing=0.03,
)

#: Age bands (the spec's levels of ``age``) and the whole years each holds.
AGE_YEARS: dict[str, tuple[int, int]] = {
    "18-29": (18, 29),
    "30-44": (30, 44),
    "45-59": (45, 59),
    "60+": (60, 92),
}

#: The stream of the numeric draws, beside the country × wave stream of the samples.
_STREAM = 14


def numeric_rng(seed: int, wave_index: int, country_index: int) -> np.random.Generator:
    """The generator of a sample's numeric answers (independent of its other draws)."""
    return np.random.default_rng([seed, wave_index, country_index, _STREAM])


def scale_targets(wave: str) -> dict[str, float]:
    """Each polled country's population mean of the scale in ``wave``: the EU countries'
    spread by their score around the EU average (which they meet exactly)."""
    members = [cc for cc in popn.polled(wave) if cc in popn.EU_MEMBERS]
    scores = np.array([popn.score_of(SCALE.score, cc) for cc in members])
    means = SCALE.eu[wave] + SCALE.spread * (scores - scores.mean())
    out = dict(zip(members, means.tolist(), strict=True))
    for cc, by_wave in SCALE.countries.items():
        if cc in popn.polled(wave):
            out[cc] = by_wave[wave]
    return {cc: out[cc] for cc in popn.polled(wave) if cc in out}


def _tilt(cells: np.ndarray) -> np.ndarray:
    """Each cell's logit tilt from its demographic traits."""
    tilt = np.zeros(len(cells))
    effects = {
        "age": SCALE.youth,
        "gender": SCALE.female,
        "education": SCALE.education,
        "urbanity": SCALE.urban,
    }
    for j, var in enumerate(popn.DEMOGRAPHICS):
        trait = np.array(list(popn.trait_values(var)))[cells[:, j]]
        tilt += effects[var] * trait
    return tilt


@cache
def cell_probabilities(country: str, wave: str) -> np.ndarray:
    """The binomial success probability of the scale in each demographic cell, solved so
    that the population mean ``high * sum(share * p)`` is the country's target."""
    # the cells and their shares, not the population's answers (whose fitting costs
    # more than the headline that asks for the scale's mean)
    share = popn.adult_shares(country)
    target = scale_targets(wave)[country] / SCALE.high
    tilt = _tilt(popn.demographic_cells())

    def mean(a: float) -> float:
        return float(share @ (1.0 / (1.0 + np.exp(-(a + tilt)))))

    lo, hi = -20.0, 20.0
    for _ in range(200):  # bisection: the mean rises with the level a
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if mean(mid) < target else (lo, mid)
    return 1.0 / (1.0 + np.exp(-((lo + hi) / 2 + tilt)))


def population_mean(country: str, wave: str) -> float:
    """The population mean of the scale (the truth a poll estimates)."""
    share = popn.adult_shares(country)
    return float(SCALE.high * share @ cell_probabilities(country, wave))


def _cell_index(sample: pd.DataFrame) -> np.ndarray:
    """Each respondent's cell (the order of ``population``'s cells: a product of the
    demographic levels, last variable fastest)."""
    index = np.zeros(len(sample), dtype=np.int64)
    for var, levels in popn.DEMOGRAPHICS.items():
        index = index * len(levels) + sample[var].to_numpy()
    return index


def draw_scale(
    country: str, wave: str, sample: pd.DataFrame, rng: np.random.Generator
) -> np.ndarray:
    """The scale's answers of ``sample``'s respondents (whole numbers 0 to ``high``, NaN
    for no answer)."""
    p = cell_probabilities(country, wave)[_cell_index(sample)]
    values: np.ndarray = rng.binomial(SCALE.high, p).astype(float)
    values[rng.random(len(sample)) < SCALE.missing] = np.nan
    return values


def draw_age_years(sample: pd.DataFrame, rng: np.random.Generator) -> np.ndarray:
    """Each respondent's age in whole years, uniform within their age band."""
    bands = list(AGE_YEARS.values())
    low = np.array([b[0] for b in bands])[sample["age"].to_numpy()]
    high = np.array([b[1] for b in bands])[sample["age"].to_numpy()]
    years: np.ndarray = rng.integers(low, high + 1)
    return years
