"""The demo poll's simulated populations: who lives in each country and how they answer.

A population is a table of demographic *cells* (age × gender × education × urbanity,
48 cells) with the share of adults in each cell and, for every question, the
probability of each answer in each cell.  It is built in three steps, each an
iterative proportional fitting (IPF, Deming & Stephan 1940; the algorithm behind
R's ``survey::rake`` and ``stats::loglin``) so that the published figures hold
*exactly* in the population:

1. **Country targets.**  For the EU countries the published figure is the simple mean
   of the countries' own shares (../shared/SEED-FACTS.md).  Each country's
   distribution starts as the EU target tilted by a country score (e.g. how
   Atlanticist, how close to the US president) and the C × K table of country shares
   is fitted by IPF to rows summing to 1 and columns averaging to the EU target.
2. **Demographic margins.**  The joint cell shares start from the census margins times
   an association (older adults less educated and more rural) and are fitted by IPF so
   that every census margin holds exactly; these margins are the spec's weighting
   targets.
3. **Answers by cell.**  ``P[cell, level]`` starts as the country target tilted
   multiplicatively by demographic effects (the young less Atlanticist, the less
   educated more often "don't know", …) and the table ``share[cell] * P[cell, level]``
   is fitted by IPF to rows ``share[cell]`` and columns equal to the country target.
   Hence ``sum_cell share[cell] * P[cell, level] == target[level]`` exactly, while
   answers still depend on demographics, so a sample that over-represents the young,
   educated and urban is biased until it is weighted.

Everything here is fixed data plus deterministic arithmetic: the populations do not
depend on the demo's random seed; only the samples drawn from them do.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from functools import cache

import numpy as np

from barometer.errors import BarometerError

__all__ = [
    "COUNTRIES",
    "DEMOGRAPHICS",
    "EU_MEMBERS",
    "QUESTIONS",
    "WAVES",
    "Population",
    "adult_shares",
    "country_targets",
    "demographic_cells",
    "ipf_table",
    "polled",
    "population",
    "score_of",
    "trait_values",
]

# ---------------------------------------------------------------------------------------
# Fixed facts: waves, countries, demographics.

#: Wave id -> (fieldwork start, fieldwork end), ISO dates.
WAVES: dict[str, tuple[str, str]] = {
    "2024-11": ("2024-11-06", "2024-12-04"),
    "2025-11": ("2025-11-05", "2025-12-03"),
}

#: Weighting variables and their levels (question ids and level codes of the spec).
DEMOGRAPHICS: dict[str, tuple[str, ...]] = {
    "age": ("18-29", "30-44", "45-59", "60+"),
    "gender": ("female", "male"),
    "education": ("low", "middle", "high"),
    "urbanity": ("urban", "rural"),
}


@dataclass(frozen=True)
class CountryFacts:
    """One demo country: name, adult population, census margins and sample sizes."""

    name: str
    adults: float
    age: tuple[float, float, float, float]
    female: float
    education: tuple[float, float, float]
    urban: float
    n: int
    waves: tuple[str, ...]


# Approximate real-world magnitudes (adults 18+; census shares rounded from
# Eurostat/OECD-style tables): the demo needs plausible, not official, figures.
# Columns: code | name | adults | age 18-29, 30-44, 45-59, 60+ | female |
# education low, middle, high | urban | respondents per wave | waves polled.
_COUNTRY_TABLE = """
BG | Bulgaria       |   5.6e6 | .14 .24 .25 .37 | .53 | .20 .53 .27 | .73 | 1000 | 2024-11 2025-11
DK | Denmark        |   4.7e6 | .20 .23 .25 .32 | .50 | .22 .40 .38 | .88 | 1000 | 2024-11 2025-11
EE | Estonia        |  1.08e6 | .17 .26 .24 .33 | .54 | .12 .47 .41 | .69 | 1000 | 2024-11 2025-11
FR | France         |  52.5e6 | .18 .23 .25 .34 | .53 | .20 .42 .38 | .81 | 1500 | 2024-11 2025-11
DE | Germany        |  70.0e6 | .16 .23 .25 .36 | .51 | .17 .52 .31 | .77 | 1500 | 2024-11 2025-11
HU | Hungary        |   8.0e6 | .16 .25 .25 .34 | .53 | .17 .56 .27 | .72 | 1000 | 2024-11 2025-11
IT | Italy          |  50.5e6 | .14 .21 .28 .37 | .52 | .37 .43 .20 | .71 | 1500 | 2024-11 2025-11
PL | Poland         |  31.0e6 | .16 .27 .23 .34 | .53 | .08 .58 .34 | .60 | 1200 | 2024-11 2025-11
PT | Portugal       |   8.7e6 | .15 .22 .27 .36 | .54 | .44 .30 .26 | .66 | 1000 | 2024-11 2025-11
ES | Spain          |  39.5e6 | .15 .24 .29 .32 | .51 | .36 .23 .41 | .81 | 1200 | 2024-11 2025-11
RO | Romania        |  15.2e6 | .16 .25 .27 .32 | .52 | .22 .59 .19 | .54 | 1000 | 2024-11
KR | South Korea    |  44.5e6 | .18 .23 .28 .31 | .51 | .12 .38 .50 | .81 | 1500 | 2024-11 2025-11
GB | United Kingdom |  53.5e6 | .20 .25 .24 .31 | .51 | .18 .36 .46 | .84 | 1500 | 2024-11 2025-11
US | United States  | 262.0e6 | .21 .26 .24 .29 | .51 | .09 .43 .48 | .83 | 1500 | 2024-11 2025-11
"""


def _parse_countries(table: str) -> dict[str, CountryFacts]:
    out = {}
    for line in table.strip().splitlines():
        code, name, adults, age, female, edu, urban, n, waves = (f.strip() for f in line.split("|"))
        out[code] = CountryFacts(
            name=name,
            adults=float(adults),
            age=tuple(float(x) for x in age.split()),  # type: ignore[arg-type]
            female=float(female),
            education=tuple(float(x) for x in edu.split()),  # type: ignore[arg-type]
            urban=float(urban),
            n=int(n),
            waves=tuple(waves.split()),
        )
    return out


COUNTRIES: dict[str, CountryFacts] = _parse_countries(_COUNTRY_TABLE)

#: EU member states among the demo countries.
EU_MEMBERS: tuple[str, ...] = ("BG", "DK", "EE", "FR", "DE", "HU", "IT", "PL", "PT", "ES", "RO")


def polled(wave: str) -> list[str]:
    """The countries polled in ``wave``, in the order of :data:`COUNTRIES`."""
    return [cc for cc, facts in COUNTRIES.items() if wave in facts.waves]


# ---------------------------------------------------------------------------------------
# The questionnaire and its published (or plausible) population figures.


@dataclass(frozen=True)
class QuestionFacts:
    """A demo question: wording, levels, targets and how answers depend on who answers.

    ``eu`` holds the EU average per wave (simple mean of the EU countries polled);
    ``countries`` holds the non-EU countries' shares per wave.  ``score`` names the
    country score (``_SCORES``) that spreads EU countries around the mean along
    ``direction``.  ``youth``, ``education``, ``urban`` and ``female`` are log-scale
    tilts of each level for a one-unit demographic trait (``_TRAITS``).
    """

    wording: str
    levels: tuple[str, ...]
    labels: tuple[str, ...]
    eu: dict[str, tuple[float, ...]]
    countries: dict[str, dict[str, tuple[float, ...]]]
    score: str
    direction: tuple[float, ...]
    youth: tuple[float, ...]
    education: tuple[float, ...]
    urban: tuple[float, ...]
    female: tuple[float, ...]
    not_asked: tuple[str, ...] = ()


QUESTIONS: dict[str, QuestionFacts] = {
    "us_relationship": QuestionFacts(
        wording=(
            "Which of the following best describes how you see the United States? "
            "An ally that shares our interests and values; a necessary partner with which "
            "we must strategically cooperate; a rival with which we need to compete; or an "
            "adversary with which we are in conflict?"
        ),
        levels=("ally", "partner", "rival", "adversary", "dont_know"),
        labels=(
            "An ally that shares our interests and values",
            "A necessary partner with which we must strategically cooperate",
            "A rival with which we need to compete",
            "An adversary with which we are in conflict",
            "Don't know",
        ),
        # SEED-FACTS: EU ally 21% (2024-11); 16/51/12/8/13 (2025-11).
        eu={"2024-11": (0.21, 0.50, 0.11, 0.06, 0.12), "2025-11": (0.16, 0.51, 0.12, 0.08, 0.13)},
        countries={
            # SEED-FACTS: KR 2025-11 ally 41%, partner 48%.
            "KR": {"2024-11": (0.44, 0.46, 0.04, 0.02, 0.04),
                   "2025-11": (0.41, 0.48, 0.05, 0.02, 0.04)},
            "GB": {"2024-11": (0.26, 0.48, 0.09, 0.05, 0.12),
                   "2025-11": (0.19, 0.50, 0.11, 0.08, 0.12)},
        },
        score="atlanticism",
        direction=(0.6, 0.1, -0.3, -0.6, -0.1),
        youth=(-0.5, -0.1, 0.35, 0.45, 0.1),
        education=(0.0, 0.35, 0.15, -0.1, -0.7),
        urban=(-0.15, 0.1, 0.05, 0.05, -0.1),
        female=(-0.1, -0.05, -0.1, -0.2, 0.45),
        not_asked=("US",),
    ),
    "us_relations_outlook": QuestionFacts(
        wording=(
            "Over the next few years, do you think relations between our country and the "
            "United States will become stronger, remain strong, or become weaker?"
        ),
        levels=("stronger", "remain_strong", "weaker", "dont_know"),
        labels=("Become stronger", "Remain strong", "Become weaker", "Don't know"),
        eu={"2024-11": (0.09, 0.30, 0.41, 0.20), "2025-11": (0.07, 0.26, 0.49, 0.18)},
        countries={
            # SEED-FACTS: KR 2025-11 remain strong 42%, stronger 30%.
            "KR": {"2024-11": (0.28, 0.45, 0.17, 0.10), "2025-11": (0.30, 0.42, 0.18, 0.10)},
            "GB": {"2024-11": (0.12, 0.36, 0.33, 0.19), "2025-11": (0.10, 0.33, 0.40, 0.17)},
        },
        score="atlanticism",
        direction=(0.4, 0.4, -0.4, 0.0),
        youth=(0.2, -0.3, 0.2, 0.1),
        education=(-0.1, 0.1, 0.35, -0.6),
        urban=(-0.1, 0.0, 0.15, -0.05),
        female=(0.0, 0.0, -0.1, 0.4),
        not_asked=("US",),
    ),
    "us_president_effect": QuestionFacts(
        wording=(
            "Do you think that the President of the United States, Donald Trump, and his "
            "policies are good or bad for our country?"
        ),
        levels=("good", "bad", "neither", "dont_know"),
        labels=(
            "Good for our country", "Bad for our country", "Neither good nor bad", "Don't know",
        ),
        # SEED-FACTS (direction only): majorities in Europe and South Korea say bad.
        eu={"2024-11": (0.22, 0.45, 0.20, 0.13), "2025-11": (0.15, 0.56, 0.18, 0.11)},
        countries={
            "KR": {"2024-11": (0.24, 0.44, 0.21, 0.11), "2025-11": (0.21, 0.52, 0.18, 0.09)},
            "GB": {"2024-11": (0.18, 0.50, 0.19, 0.13), "2025-11": (0.14, 0.58, 0.17, 0.11)},
            "US": {"2024-11": (0.44, 0.41, 0.08, 0.07), "2025-11": (0.38, 0.50, 0.07, 0.05)},
        },
        score="trumpism",
        direction=(0.8, -0.5, 0.1, 0.0),
        youth=(0.1, 0.2, -0.1, 0.2),
        education=(-0.45, 0.4, -0.1, -0.6),
        urban=(-0.35, 0.2, 0.0, -0.1),
        female=(-0.25, 0.1, 0.0, 0.35),
    ),
    "eu_equal_terms": QuestionFacts(
        wording=(
            "Do you agree or disagree: the European Union is able to deal with major powers "
            "such as China and the United States on equal terms."
        ),
        levels=("agree", "disagree", "dont_know"),
        labels=("Agree", "Disagree", "Don't know"),
        # SEED-FACTS (direction only): KR confidence rose slightly over the year.
        eu={"2024-11": (0.52, 0.33, 0.15), "2025-11": (0.50, 0.36, 0.14)},
        countries={
            "KR": {"2024-11": (0.47, 0.33, 0.20), "2025-11": (0.50, 0.31, 0.19)},
            "GB": {"2024-11": (0.38, 0.42, 0.20), "2025-11": (0.37, 0.44, 0.19)},
            "US": {"2024-11": (0.35, 0.35, 0.30), "2025-11": (0.33, 0.38, 0.29)},
        },
        score="euro_confidence",
        direction=(0.5, -0.5, 0.0),
        youth=(0.3, -0.1, 0.1),
        education=(0.3, 0.0, -0.7),
        urban=(0.15, -0.1, 0.0),
        female=(0.0, -0.15, 0.4),
    ),
    "defence_spending": QuestionFacts(
        wording=(
            "Should our country increase its defence spending, keep it at the current level, "
            "or decrease it?"
        ),
        levels=("increase", "keep", "decrease", "dont_know"),
        labels=("Increase", "Keep at the current level", "Decrease", "Don't know"),
        eu={"2024-11": (0.48, 0.30, 0.09, 0.13), "2025-11": (0.54, 0.27, 0.08, 0.11)},
        countries={
            "KR": {"2024-11": (0.42, 0.41, 0.08, 0.09), "2025-11": (0.46, 0.38, 0.07, 0.09)},
            "GB": {"2024-11": (0.52, 0.30, 0.07, 0.11), "2025-11": (0.55, 0.28, 0.07, 0.10)},
            "US": {"2024-11": (0.36, 0.38, 0.16, 0.10), "2025-11": (0.34, 0.38, 0.19, 0.09)},
        },
        score="threat",
        direction=(0.6, -0.1, -0.5, -0.2),
        youth=(-0.5, 0.1, 0.4, 0.2),
        education=(0.1, 0.05, 0.05, -0.6),
        urban=(0.0, 0.0, 0.1, -0.1),
        female=(-0.2, 0.05, 0.05, 0.4),
    ),
}  # fmt: skip

#: Country scores that spread the EU countries around the EU mean (log-scale units).
_SCORES: dict[str, dict[str, float]] = {
    "atlanticism": {"BG": -0.6, "DK": 0.4, "EE": 0.5, "FR": -0.3, "DE": 0.0, "HU": -0.2,
                    "IT": 0.1, "PL": 0.7, "PT": 0.3, "ES": -0.1, "RO": 0.6},
    "trumpism": {"BG": 0.3, "DK": -0.7, "EE": -0.2, "FR": -0.3, "DE": -0.4, "HU": 0.8,
                 "IT": 0.2, "PL": 0.2, "PT": -0.2, "ES": -0.4, "RO": 0.5},
    "euro_confidence": {"BG": 0.1, "DK": 0.1, "EE": 0.0, "FR": -0.3, "DE": 0.0, "HU": -0.4,
                        "IT": -0.1, "PL": 0.2, "PT": 0.5, "ES": 0.3, "RO": 0.3},
    "threat": {"BG": -0.5, "DK": 0.7, "EE": 0.9, "FR": 0.0, "DE": 0.3, "HU": -0.7,
               "IT": -0.6, "PL": 0.9, "PT": -0.2, "ES": -0.4, "RO": 0.3},
}  # fmt: skip

#: Trait values of each demographic level (youth, education, urban, female).
_TRAITS: dict[str, dict[str, float]] = {
    "age": {"18-29": 1.0, "30-44": 0.5, "45-59": 0.0, "60+": -0.5},
    "education": {"low": -1.0, "middle": 0.0, "high": 1.0},
    "urbanity": {"urban": 0.5, "rural": -0.5},
    "gender": {"female": 0.5, "male": -0.5},
}
_TRAIT_OF = {"age": "youth", "education": "education", "urbanity": "urban", "gender": "female"}


def score_of(score: str, country: str) -> float:
    """A country's score (e.g. ``euro_confidence``) spreading the EU countries; 0 for a
    country outside the EU."""
    return _SCORES[score].get(country, 0.0)


def trait_values(var: str) -> tuple[float, ...]:
    """The trait value of each level of a weighting variable (youth of an age band, …)."""
    return tuple(_TRAITS[var].values())


# ---------------------------------------------------------------------------------------
# Fitting.


def ipf_table(
    seed: np.ndarray,
    row_totals: np.ndarray,
    col_totals: np.ndarray,
    tol: float = 1e-14,
    max_iter: int = 10_000,
) -> np.ndarray:
    """Scale a positive 2-d table so that its row and column sums equal the totals.

    Iterative proportional fitting (Deming & Stephan 1940): alternately rescale rows
    and columns.  For a strictly positive seed and consistent totals it converges to
    the unique table of the form ``a[i] * seed[i, j] * b[j]`` with those margins.

    Parameters
    ----------
    seed : ndarray, shape (R, C)
        Strictly positive starting table (its odds ratios are kept).
    row_totals, col_totals : ndarray
        Wanted sums; they must have the same grand total.
    tol : float
        Stop when no row or column sum is off by more than ``tol`` (relative).

    Returns
    -------
    ndarray
        The fitted table.
    """
    table = np.asarray(seed, dtype=float).copy()
    rows = np.asarray(row_totals, dtype=float)
    cols = np.asarray(col_totals, dtype=float)
    for _ in range(max_iter):
        table *= (rows / table.sum(axis=1))[:, None]
        col_sums = table.sum(axis=0)
        table *= cols / col_sums
        if np.max(np.abs(table.sum(axis=1) / rows - 1.0)) < tol:
            return table
    raise BarometerError("demo population: IPF did not converge")  # pragma: no cover


@cache
def country_targets(question: str, wave: str) -> dict[str, np.ndarray]:
    """Each polled country's population shares for ``question`` in ``wave``.

    The EU countries' shares average (simple mean) exactly to the EU figure; the other
    countries' shares are their own targets.  Countries not asked are left out.
    """
    facts = QUESTIONS[question]
    members = [cc for cc in polled(wave) if cc in EU_MEMBERS]
    eu = np.asarray(facts.eu[wave])
    scores = np.array([_SCORES[facts.score][cc] for cc in members])
    start = eu[None, :] * np.exp(np.outer(scores, facts.direction))
    fitted = ipf_table(start, np.ones(len(members)), len(members) * eu)
    out = {cc: fitted[i] for i, cc in enumerate(members)}
    for cc, by_wave in facts.countries.items():
        if cc in polled(wave):
            out[cc] = np.asarray(by_wave[wave], dtype=float)
    return {cc: out[cc] for cc in polled(wave) if cc in out and cc not in facts.not_asked}


def demographic_cells() -> np.ndarray:
    """Level indices of the 48 demographic cells, shape (48, 4), variables as DEMOGRAPHICS."""
    ranges = [range(len(levels)) for levels in DEMOGRAPHICS.values()]
    return np.array(list(itertools.product(*ranges)), dtype=np.int64)


def census_margins(country: str) -> dict[str, dict[str, float]]:
    """The census margins (population shares) of a country's weighting variables."""
    f = COUNTRIES[country]
    shares = {
        "age": f.age,
        "gender": (f.female, 1.0 - f.female),
        "education": f.education,
        "urbanity": (f.urban, 1.0 - f.urban),
    }
    out = {}
    for var, levels in DEMOGRAPHICS.items():
        values = np.asarray(shares[var], dtype=float)
        values = values / values.sum()
        out[var] = {lv: float(v) for lv, v in zip(levels, values, strict=True)}
    return out


def _cell_shares(country: str, cells: np.ndarray) -> np.ndarray:
    """Joint adult shares of the cells: census margins exactly, with age associations."""
    margins = census_margins(country)
    age, edu, urb = cells[:, 0], cells[:, 2], cells[:, 3]
    # Older adults are less often highly educated and more often rural.
    assoc = np.exp(np.array([0.3, 0.2, -0.1, -0.4])[age] * (edu - 1) - 0.15 * age * urb)
    share: np.ndarray = assoc / assoc.sum()
    targets = [np.array(list(margins[var].values())) for var in DEMOGRAPHICS]
    for _ in range(1000):
        for j, target in enumerate(targets):
            current = np.bincount(cells[:, j], weights=share, minlength=len(target))
            share = share * (target / current)[cells[:, j]]
        worst = max(
            np.max(np.abs(np.bincount(cells[:, j], weights=share) - target))
            for j, target in enumerate(targets)
        )
        if worst < 1e-14:
            return share
    raise BarometerError(
        f"demo population: census margins of {country} not met"
    )  # pragma: no cover


@cache
def adult_shares(country: str) -> np.ndarray:
    """Joint adult shares of the 48 demographic cells of ``country`` (a population's
    ``cell_share``, the same in every wave): what a population mean needs without the
    answers' fitting."""
    return _cell_shares(country, demographic_cells())


@dataclass(frozen=True)
class Population:
    """The simulated adult population of one country in one wave.

    Attributes
    ----------
    cells : ndarray, shape (48, 4)
        Level index of each weighting variable (order of ``DEMOGRAPHICS``) per cell.
    cell_share : ndarray, shape (48,)
        Share of adults in each cell (sums to 1; margins equal the census margins).
    answers : dict
        Question id -> ndarray (48, K): probability of each level in each cell.
    """

    country: str
    wave: str
    cells: np.ndarray
    cell_share: np.ndarray
    answers: dict[str, np.ndarray]

    def shares(self, question: str) -> dict[str, float]:
        """The population share of each level of ``question`` (the truth a poll estimates)."""
        probs = self.cell_share @ self.answers[question]
        return dict(zip(QUESTIONS[question].levels, probs.tolist(), strict=True))


@cache
def population(country: str, wave: str) -> Population:
    """The simulated population of ``country`` in ``wave`` (see the module docstring)."""
    cells = demographic_cells()
    share = adult_shares(country)
    answers = {}
    for qid, facts in QUESTIONS.items():
        targets = country_targets(qid, wave)
        if country not in targets:
            continue
        target = targets[country]
        tilt = np.zeros((len(cells), len(target)))
        for j, var in enumerate(DEMOGRAPHICS):
            trait = np.array(list(_TRAITS[var].values()))[cells[:, j]]
            tilt += np.outer(trait, getattr(facts, _TRAIT_OF[var]))
        start = share[:, None] * target[None, :] * np.exp(tilt)
        fitted = ipf_table(start, share, target)
        answers[qid] = fitted / share[:, None]
    return Population(country, wave, cells, share, answers)
