"""The poll specification: one YAML file that describes a multi-country, multi-wave poll.

The pydantic models here are the single source of truth for the format documented in
``docs/spec.md``.  :func:`load_spec` reads a YAML file, validates its structure with
pydantic and then its cross-references (countries, waves, questions, levels, regions,
targets), collecting *every* problem and raising one :class:`~barometer.errors.SpecError`
that lists each with its location, e.g.::

    sources[3].variables.us_relationship.codes: level 'aly' is not a level of question
    us_relationship (did you mean 'ally'?)
"""

from __future__ import annotations

import itertools
import math
import re
from collections import Counter
from collections.abc import Sequence
from datetime import date
from itertools import pairwise
from pathlib import Path
from typing import Annotated, Any, Literal, Protocol, TypeVar

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    field_validator,
    model_serializer,
    model_validator,
)

from barometer.atomic import write_text
from barometer.core.formulas import unknown_names
from barometer.errors import SpecError, did_you_mean
from barometer.options import (
    CIMethod,
    LonelyPSU,
    MissingWeighting,
    ModelFamily,
    PAdjustMethod,
    QuestionKind,
    RegionRule,
    SamplingKind,
    SourceFormat,
    TotalRule,
)
from barometer.poll.spec_yaml import collector_paused, dump_yaml, read_yaml

__all__ = [
    "RESERVED_COLUMNS",
    "Country",
    "Level",
    "ModelDeclaration",
    "Net",
    "Option",
    "PollSpec",
    "PublicationRules",
    "Question",
    "RecodeRule",
    "Region",
    "Source",
    "Target",
    "VariableMap",
    "Wave",
    "WeightingPolicy",
    "dump_spec",
    "format_of",
    "load_spec",
    "parse_spec",
    "publication_rules",
]


#: Columns of the store's respondents table; no question may be called one of these.
RESERVED_COLUMNS = frozenset(
    {"source_id", "respondent_id", "country", "wave", "base_weight", "strata", "psu", "weight"}
)

_FORMAT_BY_SUFFIX: dict[str, SourceFormat] = {
    ".sav": "sav",
    ".zsav": "sav",
    ".dta": "dta",
    ".csv": "csv",
}
_FORMAT_BY_SUFFIX |= {".parquet": "parquet", ".pq": "parquet"}
_QUESTION_ID = re.compile(r"^[a-z][a-z0-9_]*$")
_SHARE_TOLERANCE = 1e-3


def format_of(file: str | Path) -> SourceFormat | None:
    """The format a file's extension names (``.sav .zsav .dta .csv .parquet .pq``), or None."""
    return _FORMAT_BY_SUFFIX.get(Path(file).suffix.lower())


def _duplicates(items: list[str]) -> list[str]:
    """The items listed more than once, sorted (linear: a spec may have 20,000 questions)."""
    return sorted(item for item, n in Counter(items).items() if n > 1)


def _as_name(value: Any) -> Any:
    """Let YAML numbers stand for names: ``wave: 2024`` becomes ``"2024"``."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return value


Name = Annotated[str, BeforeValidator(_as_name), Field(min_length=1)]


def _as_missing_code(value: Any) -> Any:
    """A don't-know code of a numeric column must be a number: its column holds numbers,
    so a text (``"98"``, ``"dk"``) or a boolean would never match a value."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(
            f"missing code {value!r} is not a number; a numeric question's column holds "
            "numbers, so list its don't-know codes as numbers (e.g. [98, 99])"
        )
    if not math.isfinite(value):
        raise ValueError(f"missing code {value!r} is not a finite number")
    return float(value)


#: A code of a numeric column that means "no answer" (don't know, refused).
MissingCode = Annotated[float, BeforeValidator(_as_missing_code)]
#: A code as it appears in a source file: a number (SPSS/Stata) or a string (CSV).
SourceCode = int | float | str


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


_Population = Annotated[float, Field(gt=0)]


class Country(_Model):
    """A polled country: ISO 3166-1 alpha-2 ``code``, ``name`` and adult ``population``.

    ``population`` is one number for every wave or ``{wave: number}`` per wave (see
    :meth:`population_in`).
    """

    code: Annotated[str, Field(pattern=r"^[A-Z]{2}$")]
    name: Name
    population: _Population | dict[Name, _Population] | None = None

    def population_in(self, wave: str | None = None) -> float | None:
        """The adult population in ``wave``: its own figure when populations are given per
        wave (None for a wave without one), else the one number.  ``wave=None`` gives the
        latest wave's figure (the last listed), for uses that need one number."""
        pop = self.population
        if not isinstance(pop, dict):
            return pop
        if wave is None:
            return next(reversed(pop.values()), None)
        return pop.get(wave)


class Region(_Model):
    """A named group of countries and the rule that combines their results.

    ``rule``: ``mean`` (each country counts equally; the default), ``population``
    (each country weighted by its adult population) or ``median``.
    """

    id: Name
    name: Name
    members: Annotated[list[str], Field(min_length=1)]
    rule: RegionRule = "mean"

    @field_validator("members")
    @classmethod
    def _unique_members(cls, members: list[str]) -> list[str]:
        dupes = _duplicates(members)
        if dupes:
            raise ValueError(f"countries listed twice: {', '.join(dupes)}")
        return members


class Wave(_Model):
    """A wave of fieldwork: ``id`` (e.g. ``"2025-11"``) and its fieldwork dates."""

    id: Name
    start: date | None = None
    end: date | None = None

    @model_validator(mode="after")
    def _ordered(self) -> Wave:
        if self.start is not None and self.end is not None and self.end < self.start:
            raise ValueError(f"wave {self.id!r} ends ({self.end}) before it starts ({self.start})")
        return self


class Level(_Model):
    """One answer option: a stable ``code`` (used everywhere), its published ``label`` and,
    optionally, the phrase findings use for the people who gave it (``finding_label``,
    e.g. "see the US as an ally")."""

    code: Name
    label: Name
    finding_label: str | None = None


class Option(Level):
    """One option of a multiple-response question; an ``exclusive`` one ("None of
    these") may not be selected together with another."""

    exclusive: bool = False


class Net(_Model):
    """A published combination of a question's levels ("ally or necessary partner",
    "top-two box"): the share of respondents who gave any of ``levels``.

    A net is estimated as a level of its own, with its standard error and its covariance
    with the question's other levels, so it is compared across waves, countries and
    regions like any level.
    """

    code: Name
    label: Name
    levels: Annotated[list[Name], Field(min_length=2)]
    finding_label: str | None = None


class Question(_Model):
    """A question (or a weighting variable): single-choice with ordered answer levels, or
    numeric.

    ``kind: weighting`` marks demographics used for weighting (age, gender, …).
    ``non_substantive`` lists level codes such as ``dont_know``; ``nets`` combines levels
    into published nets.  ``kind: numeric`` is a number (a 0–10 scale, an age in years):
    no levels; ``range`` bounds its valid values (inclusive; a value outside is an ingest
    error), ``missing`` lists the codes that mean "no answer" (don't know, refused), and
    ``finding_label`` is how findings name its mean ("trust in the EU").  ``kind:
    multiple`` (select all that apply) has ``options`` instead of levels; ``kind: grid``
    has ``items`` that share the ``levels`` (see :mod:`barometer.poll.spec_sets`).
    """

    id: Name
    wording: str = ""
    levels: list[Level] = Field(default_factory=list)
    non_substantive: list[Name] = Field(default_factory=list)
    kind: QuestionKind = "question"
    options: list[Option] = Field(default_factory=list)
    items: list[Level] = Field(default_factory=list)
    nets: list[Net] = Field(default_factory=list)
    range: tuple[float, float] | None = None
    missing: list[MissingCode] = Field(default_factory=list)
    finding_label: str | None = None

    @field_validator("id")
    @classmethod
    def _identifier(cls, value: str) -> str:
        if not _QUESTION_ID.match(value):
            raise ValueError(
                f"question id {value!r} must be lower case letters, digits and '_', "
                "starting with a letter"
            )
        if value in RESERVED_COLUMNS:
            raise ValueError(f"question id {value!r} is reserved; choose another id")
        return value

    @model_validator(mode="after")
    def _levels_consistent(self) -> Question:
        from barometer.poll.spec_sets import check_question_shape

        check_question_shape(self)
        if self.kind == "numeric":
            self._check_numeric()
            return self
        if not self.levels and self.kind != "multiple":
            raise ValueError(
                f"question {self.id!r} has no levels; list them, or set kind: numeric for a number"
            )
        for name in ("range", "missing"):
            if getattr(self, name):
                raise ValueError(
                    f"question {self.id!r} has {name!r}, which only a numeric question "
                    "takes (kind: numeric); its codes map to levels under each source's codes"
                )
        codes = [lv.code for lv in self.levels]
        dupes = _duplicates(codes)
        if dupes:
            raise ValueError(f"question {self.id!r} lists level(s) twice: {', '.join(dupes)}")
        for code in self.non_substantive:
            if code not in codes:
                raise ValueError(
                    f"non_substantive level {code!r} is not a level of question "
                    f"{self.id!r}{did_you_mean(code, codes)}"
                )
        self._check_nets(codes)
        return self

    def _check_numeric(self) -> None:
        for name in ("levels", "nets", "non_substantive"):
            if getattr(self, name):
                raise ValueError(
                    f"question {self.id!r} is numeric and cannot have {name!r}; band it into "
                    "levels with a recode under a source's variables instead"
                )
        if self.range is None:
            return
        low, high = self.range
        if not (math.isfinite(low) and math.isfinite(high)) or low >= high:
            raise ValueError(
                f"question {self.id!r}: range [{low:g}, {high:g}] must be two finite numbers, "
                "the lower first"
            )
        problem = self.missing_inside_range(self.missing)
        if problem:
            raise ValueError(f"question {self.id!r}: {problem}")

    def missing_inside_range(self, codes: list[float], whose: str = "its") -> str | None:
        """Why ``codes`` cannot be missing codes of this question (one lies inside its
        range, so it would also be a valid answer), or None; ``whose`` names the range
        in the message."""
        if self.range is None:
            return None
        low, high = self.range
        inside = [m for m in codes if low <= m <= high]
        if not inside:
            return None
        return (
            f"missing code {inside[0]:g} lies inside {whose} range [{low:g}, {high:g}], so "
            "it would also be a valid answer; use a code outside the range"
        )

    def missing_in(self, vmap: VariableMap | None = None) -> list[float]:
        """The codes read as missing in one source: the source mapping's own ``missing``
        when it gives one (firms code don't-know and refused differently: 98/99, -1/-2,
        11/12 on a 0-10 scale), else the question's."""
        if vmap is not None and vmap.missing is not None:
            return vmap.missing
        return self.missing

    def _check_nets(self, codes: list[str]) -> None:
        net_codes = [net.code for net in self.nets]
        for dup in _duplicates(net_codes):
            raise ValueError(f"question {self.id!r} has net code {dup!r} more than once")
        for net in self.nets:
            if net.code in codes:
                raise ValueError(
                    f"net {net.code!r} of question {self.id!r} has the code of one of its "
                    "levels; give the net a code of its own"
                )
            for level in net.levels:
                if level not in codes:
                    raise ValueError(
                        f"net {net.code!r} of question {self.id!r}: {level!r} is not a level "
                        f"of the question{did_you_mean(level, codes)}"
                    )
            if len(set(net.levels)) < len(net.levels):
                raise ValueError(f"net {net.code!r} of question {self.id!r} repeats a level")
            if set(net.levels) == set(codes):
                raise ValueError(
                    f"net {net.code!r} of question {self.id!r} combines every level (it "
                    "would always be 100%); leave one out"
                )

    @property
    def level_codes(self) -> list[str]:
        """The level codes in questionnaire order (none for a numeric question)."""
        return [lv.code for lv in self.levels]

    @property
    def is_numeric(self) -> bool:
        """True for a numeric question (``kind: numeric``)."""
        return self.kind == "numeric"

    def net(self, code: str) -> Net | None:
        """The net ``code`` of this question, or None."""
        return next((net for net in self.nets if net.code == code), None)


class RecodeRule(_Model):
    """One rule of a range recode: ``{range: [low, high], to: level}`` maps the numbers
    from ``low`` to ``high`` (both inclusive) to a level (``to: null``: missing), and a
    last ``{else: level}`` catches every other number."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    range: tuple[float, float] | None = None
    to: Name | None = None
    else_: Name | None = Field(default=None, alias="else")

    @model_validator(mode="after")
    def _one_form(self) -> RecodeRule:
        given = self.model_fields_set
        if (self.range is None) == ("else_" not in given):
            raise ValueError(
                "a recode rule is {range: [low, high], to: level} or {else: level}, "
                "not both and not neither"
            )
        if self.range is not None:
            low, high = self.range
            if "to" not in given:
                raise ValueError("a recode range needs 'to': a level code, or null for missing")
            if not (math.isfinite(low) and math.isfinite(high)) or low > high:
                raise ValueError(
                    f"recode range [{low:g}, {high:g}] must be two finite numbers, the lower first"
                )
        elif "to" in given:
            raise ValueError("an else rule takes no 'to': write {else: level}")
        return self

    @property
    def level(self) -> str | None:
        """The level this rule maps to (None: missing)."""
        return self.to if self.range is not None else self.else_

    @model_serializer
    def _plain(self) -> dict[str, Any]:
        if self.range is None:
            return {"else": self.else_}
        return {"range": list(self.range), "to": self.to}


class VariableMap(_Model):
    """Where a question lives in one source file and how its codes map to levels.

    ``codes`` maps each source code to a level code, or to ``null`` for "missing".
    ``recode`` maps a numeric column by inclusive ranges instead (an age in years into
    bands), its last rule optionally ``{else: ...}``.  Omit both when the column already
    holds the level codes as text, or for a numeric question.  A numeric question's
    mapping may give ``missing``: this file's don't-know codes, in place of the
    question's (:meth:`Question.missing_in`).
    A multiple-response question or a grid gives ``columns`` (one per option or item)
    or, for multiple response, one ``delimited`` column; ``selected``, ``separator``
    and ``shown`` are theirs (:mod:`barometer.poll.spec_sets` states the rules).
    """

    column: Name | None = None
    codes: dict[SourceCode, Name | None] | None = None
    recode: Annotated[list[RecodeRule], Field(min_length=1)] | None = None
    #: a numeric question's don't-know codes in this file, replacing the question's
    missing: list[MissingCode] | None = None
    #: option (or grid item) code -> the column holding it
    columns: dict[Name, Name] | None = None
    #: the codes of an option column that mean "selected", or ``label``: a column
    #: holding the option's label (or a code labelled so) when selected, blank if not
    selected: list[SourceCode] | Literal["label"] | None = None
    #: one text column listing the options selected, split by ``separator``
    delimited: Name | None = None
    separator: Annotated[str, Field(min_length=1)] = ","
    #: a column saying whether the question was asked (1 / true / "yes": asked)
    shown: Name | None = None

    @model_validator(mode="after")
    def _one_layout(self) -> VariableMap:
        if self.codes is not None and self.recode is not None:
            raise ValueError("give 'codes' or 'recode', not both")
        given = [k for k in ("column", "columns", "delimited") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError(
                "give exactly one of 'column', 'columns' (one per option or item) and "
                f"'delimited' (given: {', '.join(given) or 'none'})"
            )
        return self

    def source_columns(self) -> list[str]:
        """Every column of the file this mapping reads, in order."""
        cols = [self.column, *(self.columns or {}).values(), self.delimited, self.shown]
        return list(dict.fromkeys(c for c in cols if c is not None))


class Source(_Model):
    """One respondent file: where it is, which wave and country, and how to read it."""

    id: Name
    file: Name
    format: SourceFormat | None = None
    wave: Name
    country: str | None = None
    country_column: str | None = None
    country_codes: dict[SourceCode, str] | None = None
    firm: str | None = None
    mode: str | None = None
    #: how respondents were selected: a probability sample, an opt-in panel, or both
    sampling: SamplingKind | None = None
    respondent_id: Name
    weight: str | None = None
    strata: str | None = None
    psu: str | None = None
    #: What to do with a stratum of this source that has a single PSU (R's
    #: ``survey.lonely.psu``); ``None`` leaves it to the weighting call (default "fail").
    lonely_psu: LonelyPSU | None = None
    variables: dict[str, VariableMap] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _country_given_once(self) -> Source:
        if (self.country is None) == (self.country_column is None):
            raise ValueError("give exactly one of 'country' and 'country_column'")
        if self.country_codes is not None and self.country_column is None:
            raise ValueError("'country_codes' needs 'country_column'")
        if self.format is None and Path(self.file).suffix.lower() not in _FORMAT_BY_SUFFIX:
            raise ValueError(
                f"cannot tell the format of {self.file!r} from its extension; "
                "set format: sav|dta|csv|parquet"
            )
        return self

    @property
    def file_format(self) -> str:
        """The file format, from ``format`` or else the file's extension."""
        return self.format or _FORMAT_BY_SUFFIX[Path(self.file).suffix.lower()]


class Target(_Model):
    """Weighting targets of one country (in one wave, or every wave when ``wave`` is null).

    ``margins`` maps each weighting variable to ``{level: share}`` (shares summing to 1)
    or ``{level: population total}``.
    """

    country: str
    wave: str | None = None
    # NaN and inf are refused as such ("Input should be a finite number"), not as a
    # share below 0 or a mixture of shares and totals.
    margins: Annotated[
        dict[str, dict[Name, Annotated[float, Field(ge=0, allow_inf_nan=False)]]],
        Field(min_length=1),
    ]

    @field_validator("wave", mode="before")
    @classmethod
    def _wave_name(cls, value: Any) -> Any:
        return _as_name(value)

    @property
    def are_shares(self) -> bool:
        """True when every margin sums to 1 (shares) rather than to a population total."""
        return all(abs(sum(m.values()) - 1.0) <= _SHARE_TOLERANCE for m in self.margins.values())


class PublicationRules(_Model):
    """The publication rules: the one home of what every output may print.

    Read by findings, banners (xlsx and CSV), the report, ``barometer estimate`` and the
    explorer through the ``Publication``; a command-line flag overrides the spec, which
    overrides these defaults (:func:`publication_rules`). Documented in docs/spec.md.
    """

    #: no finding is claimed when either side's unweighted base is below this
    claim_min_base: Annotated[int, Field(ge=0)] = 100
    #: a cell whose unweighted base is below this shows no estimate anywhere
    suppress_below: Annotated[int, Field(ge=0)] = 30
    #: a cell whose unweighted base is below this is marked (read with caution)
    flag_below: Annotated[int, Field(ge=0)] = 100
    #: significance level of findings (after adjustment) and of the explorer's marks
    alpha: Annotated[float, Field(gt=0, lt=1)] = 0.05
    #: multiple-comparison adjustment of findings (R ``p.adjust``)
    adjust: PAdjustMethod = "holm"
    #: confidence level of every interval printed
    confidence: Annotated[float, Field(gt=0, lt=1)] = 0.95
    #: decimal places of printed percentages (means of numeric questions get one more)
    decimals: Annotated[int, Field(ge=0, le=3)] = 0
    #: the banner Total / "all countries" column: mean of the countries or population-weighted
    total_rule: TotalRule = "mean"
    #: no gap between a region and a member whose share of the region is above this
    max_member_share: Annotated[float, Field(gt=0, le=1)] = 0.5
    #: interval used where a share is exactly 0 or 1
    boundary_ci: CIMethod = "beta"
    #: the variables the explorer may break a country's figures down by (one at a time)
    breakdowns: list[Name] = Field(default_factory=list)

    @model_validator(mode="after")
    def _ordered(self) -> PublicationRules:
        if self.suppress_below > self.flag_below:
            raise ValueError(
                f"suppress_below ({self.suppress_below}) is above flag_below "
                f"({self.flag_below}); a suppressed cell must also be a flagged one"
            )
        return self


class WeightingPolicy(_Model):
    """How weighting treats a respondent lacking a weighting variable of its own scheme.

    ``missing: fail`` (the default) stops with one error naming every gap; ``impute``
    fills the gaps by a random hot-deck within country × wave (donors matching on the
    weighting variables the respondent has), for weighting only, drawn from ``seed``.
    """

    missing: MissingWeighting = "fail"
    seed: int = 0


class ModelDeclaration(_Model):
    """A design-based regression the publication fits and the report shows (``models:``).

    ``formula`` is a Wilkinson formula over question ids, ``country`` and ``wave``
    (``"I(us_relationship == 'ally') ~ C(age) + C(gender) + C(country)"``), fitted as
    ``Poll.glm`` fits it -- on the raked design, over ``countries`` and ``waves`` (default:
    all of the publication's) -- with ``family`` as R ``svyglm``'s.
    """

    id: Name
    formula: Annotated[str, Field(min_length=3)]
    family: ModelFamily = "gaussian"
    countries: list[str] | None = None
    waves: list[Name] | None = None
    title: str | None = None

    @field_validator("waves", mode="before")
    @classmethod
    def _wave_names(cls, value: Any) -> Any:
        return [_as_name(v) for v in value] if isinstance(value, list) else value


class _Identified(Protocol):
    @property
    def id(self) -> str: ...


_Item = TypeVar("_Item", bound=_Identified)


def _find(items: Sequence[_Item], wanted: str, what: str) -> _Item:
    """The item whose ``id`` is ``wanted``; :class:`SpecError` with a suggestion if none."""
    for item in items:
        if item.id == wanted:
            return item
    ids = [i.id for i in items]
    raise SpecError(f"no {what} {wanted!r} in the spec{did_you_mean(wanted, ids)}")


class PollSpec(_Model):
    """A whole poll: countries, regions, waves, questionnaire, sources and targets.

    Build one with :func:`load_spec` (from YAML) or :func:`parse_spec` (from a dict);
    both check cross-references.  ``base_dir`` (the spec file's folder) resolves the
    sources' relative file names.
    """

    name: Name
    countries: Annotated[list[Country], Field(min_length=1)]
    regions: list[Region] = Field(default_factory=list)
    waves: Annotated[list[Wave], Field(min_length=1)]
    questions: Annotated[list[Question], Field(min_length=1)]
    sources: list[Source] = Field(default_factory=list)
    targets: list[Target] = Field(default_factory=list)
    weighting: WeightingPolicy = Field(default_factory=WeightingPolicy)
    #: who commissioned the poll and where to ask about it (AAPOR/BPC disclosure)
    sponsor: str | None = None
    contact: str | None = None
    publication: PublicationRules = Field(default_factory=PublicationRules)
    models: list[ModelDeclaration] = Field(default_factory=list)
    _base_dir: Path = PrivateAttr(default_factory=Path.cwd)
    # the stored parts and the index by id, made once: the spec is frozen, and the
    # publication asks for questions by id thousands of times (building the parts of a
    # set makes new Question objects each time)
    _stored: tuple[Question, ...] | None = PrivateAttr(default=None)
    _by_id: dict[str, Question] | None = PrivateAttr(default=None)

    @property
    def base_dir(self) -> Path:
        """The folder relative file names are read from."""
        return self._base_dir

    def question(self, qid: str) -> Question:
        """The question ``qid`` — or the stored part ``qid`` of a multiple-response
        question or grid (``allies__us``); :class:`SpecError` with a suggestion when
        there is none."""
        if self._by_id is None:
            index = {q.id: q for q in reversed(self.stored_questions())}
            index.update({q.id: q for q in reversed(self.questions)})  # a question first
            self._by_id = index
        found = self._by_id.get(qid)
        return found if found is not None else _find(self.questions, qid, "question")

    def stored_questions(self) -> list[Question]:
        """The single-choice columns the store holds, in questionnaire order: each
        question, or the parts of a multiple-response question or grid
        (:func:`barometer.poll.spec_sets.parts`)."""
        from barometer.poll.spec_sets import parts

        if self._stored is None:
            self._stored = tuple(p for q in self.questions for p in parts(q))
        return list(self._stored)

    def source_path(self, source: Source) -> Path:
        """The absolute path of a source's file."""
        path = Path(source.file)
        return path if path.is_absolute() else self._base_dir / path

    def region(self, rid: str) -> Region:
        """The region ``rid``; :class:`SpecError` with a suggestion when there is none."""
        return _find(self.regions, rid, "region")


# ---------------------------------------------------------------------------------------
# Cross-reference checks: every problem, with its location.


def _unknown(value: str, known: list[str], what: str) -> str:
    return f"{what} {value!r} is not in the spec{did_you_mean(value, known)}"


def _check_ids(spec: PollSpec, problems: list[str]) -> None:
    for field, ids in (
        ("countries", [c.code for c in spec.countries]),
        ("regions", [r.id for r in spec.regions]),
        ("waves", [w.id for w in spec.waves]),
        ("questions", [q.id for q in spec.questions]),
        ("sources", [s.id for s in spec.sources]),
    ):
        for dup in _duplicates(ids):
            problems.append(f"{field}: id {dup!r} is used more than once")
    codes = {c.code for c in spec.countries}
    for i, region in enumerate(spec.regions):
        if region.id in codes:
            problems.append(f"regions[{i}].id: {region.id!r} is also a country code")


def _check_wave_order(spec: PollSpec, problems: list[str]) -> None:
    """Waves are listed in the order they were fielded: the list is the one wave order
    of every output (trends, changes, "the latest wave"), so start dates given must not
    contradict it (waves without a start date are not compared)."""
    dated = [(i, w) for i, w in enumerate(spec.waves) if w.start is not None]
    for (_, before), (j, wave) in itertools.pairwise(dated):
        assert before.start is not None and wave.start is not None
        if wave.start < before.start:
            problems.append(
                f"waves[{j}]: wave {wave.id!r} starts {wave.start}, before wave "
                f"{before.id!r} listed above it (starts {before.start}); list waves in the "
                "order they were fielded — trends, changes and the latest wave follow the list"
            )


def _check_regions(spec: PollSpec, problems: list[str]) -> None:
    countries = {c.code: c for c in spec.countries}
    for i, region in enumerate(spec.regions):
        for j, member in enumerate(region.members):
            if member not in countries:
                problems.append(
                    f"regions[{i}].members[{j}]: " + _unknown(member, list(countries), "country")
                )
            elif region.rule == "population" and countries[member].population is None:
                problems.append(
                    f"regions[{i}].members[{j}]: region {region.id!r} combines by population "
                    f"but country {member!r} has no population; add one to countries"
                )


def _check_breakdowns(spec: PollSpec, problems: list[str]) -> None:
    questions = [q.id for q in spec.questions]
    for i, name in enumerate(spec.publication.breakdowns):
        if name not in questions:
            problems.append(
                f"publication.breakdowns[{i}]: " + _unknown(name, questions, "question")
            )
        elif spec.question(name).is_numeric:
            problems.append(
                f"publication.breakdowns[{i}]: question {name} is numeric; break down by a "
                "question with levels (band it with a recode)"
            )


def check_codes(
    loc: str, qid: str, vmap: VariableMap, question: Question, problems: list[str]
) -> None:
    """Problems of a mapping's ``codes`` (or ``recode``): a level not of the question,
    a number twice; a numeric question takes neither, and its own ``missing`` codes
    must lie outside the question's range."""
    if question.is_numeric:
        for name in ("codes", "recode"):
            if getattr(vmap, name) is not None:
                problems.append(
                    f"{loc}.{name}: question {qid} is numeric, so its column is read as "
                    "numbers; drop the mapping (don't-know codes go under 'missing', the "
                    "question's or this mapping's)"
                )
        inside = question.missing_inside_range(vmap.missing or [], f"question {qid}'s")
        if inside:
            problems.append(f"{loc}.missing: {inside}")
        return
    levels = question.level_codes
    if vmap.recode is not None:
        _check_recode(loc, qid, vmap.recode, levels, problems)
    if vmap.codes is None:
        return
    for code, level in vmap.codes.items():
        if level is not None and level not in levels:
            problems.append(
                f"{loc}.codes: level {level!r} (for code {code!r}) is not a level of question "
                f"{qid}{did_you_mean(level, levels)}"
            )
    floats = [float(c) for c in vmap.codes if isinstance(c, int | float)]
    if len(set(floats)) < len(floats):
        problems.append(f"{loc}.codes: the same number is mapped more than once")


def _check_recode(
    loc: str, qid: str, rules: list[RecodeRule], levels: list[str], problems: list[str]
) -> None:
    """Problems of a range recode: unknown levels, a misplaced ``else``, and ranges that
    overlap or leave a gap (ranges are inclusive and meant for whole numbers, so
    ``[18, 29]`` and ``[30, 44]`` meet)."""
    for j, rule in enumerate(rules):
        if rule.level is not None and rule.level not in levels:
            problems.append(
                f"{loc}.recode[{j}]: level {rule.level!r} is not a level of question "
                f"{qid}{did_you_mean(rule.level, levels)}"
            )
        if rule.range is None and j != len(rules) - 1:
            problems.append(f"{loc}.recode[{j}]: 'else' must be the last rule")
    ranges = sorted((rule.range, j) for j, rule in enumerate(rules) if rule.range is not None)
    for ((lo1, hi1), j1), ((lo2, hi2), j2) in pairwise(ranges):
        where = f"{loc}.recode[{j2}]"
        if lo2 <= hi1:
            problems.append(
                f"{where}: range [{lo2:g}, {hi2:g}] overlaps recode[{j1}]'s [{lo1:g}, {hi1:g}]; "
                "a number must fall in one range only"
            )
        elif lo2 > hi1 + 1:
            gap = f" with {{range: [{hi1 + 1:g}, {lo2 - 1:g}], to: null}}"
            problems.append(
                f"{where}: range [{lo2:g}, {hi2:g}] leaves a gap after recode[{j1}]'s "
                f"[{lo1:g}, {hi1:g}]; start it at {hi1 + 1:g}, or map the gap to null"
                f"{gap if hi1 + 1 <= lo2 - 1 else ''}"
            )


def _check_country_wave(
    spec: PollSpec, loc: str, country: str | None, wave: str | None, problems: list[str]
) -> None:
    """Problems of a ``country`` and ``wave`` reference (either may be None: not given)."""
    countries = [c.code for c in spec.countries]
    waves = [w.id for w in spec.waves]
    if country is not None and country not in countries:
        problems.append(f"{loc}.country: " + _unknown(country, countries, "country"))
    if wave is not None and wave not in waves:
        problems.append(f"{loc}.wave: " + _unknown(wave, waves, "wave"))


def _check_populations(spec: PollSpec, problems: list[str]) -> None:
    waves = [w.id for w in spec.waves]
    for i, country in enumerate(spec.countries):
        if isinstance(country.population, dict):
            for wave in country.population:
                if wave not in waves:
                    problems.append(
                        f"countries[{i}].population.{wave}: " + _unknown(wave, waves, "wave")
                    )


def _check_reuse(
    loc: str,
    qid: str,
    vmap: VariableMap,
    question: Question,
    readings: dict[tuple[str, bool, str], str],
    problems: list[str],
) -> None:
    """A column may feed several questions of a source when each reads it its own way
    (an age in years as a number and banded by a recode; provinces, and regions by other
    codes; a set's ``shown`` column); the same column read the same way twice is most
    likely a copied entry whose column was not changed, so it is refused."""
    reading = vmap.model_dump_json()
    for col in vmap.source_columns():
        key = (col, question.is_numeric, reading)
        if key in readings:
            problems.append(
                f"{loc}: column {col!r} is already mapped to {readings[key]} the same way; "
                "check the column name (a second question may read a column only "
                "differently: other codes, a recode, or as a number)"
            )
        readings.setdefault(key, qid)


def _check_sources(spec: PollSpec, problems: list[str]) -> None:
    from barometer.poll.spec_sets import check_set_variables

    countries = [c.code for c in spec.countries]
    questions = {q.id: q for q in spec.questions}
    for i, src in enumerate(spec.sources):
        loc = f"sources[{i}]"
        _check_country_wave(spec, loc, src.country, src.wave, problems)
        for code, country in (src.country_codes or {}).items():
            if country not in countries:
                problems.append(
                    f"{loc}.country_codes.{code}: " + _unknown(country, countries, "country")
                )
        readings: dict[tuple[str, bool, str], str] = {}
        for qid, vmap in src.variables.items():
            vloc = f"{loc}.variables.{qid}"
            if qid not in questions:
                problems.append(f"{vloc}: " + _unknown(qid, list(questions), "question"))
                continue
            question = questions[qid]
            _check_reuse(vloc, qid, vmap, question, readings, problems)
            if vmap.missing is not None and not question.is_numeric:
                problems.append(
                    f"{vloc}.missing: question {qid} is not numeric; map this file's "
                    "don't-know codes to null under 'codes' (or, in a recode, 'to: null')"
                )
            if question.kind in ("multiple", "grid"):
                check_set_variables(vloc, qid, vmap, question, problems)
            elif vmap.column is None or vmap.shown is not None or vmap.selected is not None:
                problems.append(
                    f"{vloc}: question {qid!r} is single-choice; map it with 'column' "
                    "(and 'codes'); 'columns', 'delimited', 'selected' and 'shown' are for "
                    "kind: multiple or grid"
                )
            else:
                check_codes(vloc, qid, vmap, question, problems)


def _check_targets(spec: PollSpec, problems: list[str]) -> None:
    questions = {q.id: q for q in spec.questions}
    seen: set[tuple[str, str | None]] = set()
    for i, target in enumerate(spec.targets):
        loc = f"targets[{i}]"
        _check_country_wave(spec, loc, target.country, target.wave, problems)
        key = (target.country, target.wave)
        if key in seen:
            problems.append(f"{loc}: a second target for country {key[0]!r}, wave {key[1]!r}")
        seen.add(key)
        sums = {}
        for var, margin in target.margins.items():
            mloc = f"{loc}.margins.{var}"
            if var not in questions:
                problems.append(f"{mloc}: " + _unknown(var, list(questions), "question"))
                continue
            if questions[var].is_numeric:
                problems.append(
                    f"{mloc}: question {var} is numeric; weight on a question with levels "
                    "(band it with a recode)"
                )
                continue
            levels = questions[var].level_codes
            for level in margin:
                if level not in levels:
                    problems.append(
                        f"{mloc}.{level}: {level!r} is not a level of question "
                        f"{var}{did_you_mean(level, levels)}"
                    )
            total = sum(margin.values())
            sums[var] = total
            if total <= 1.0 + _SHARE_TOLERANCE and abs(total - 1.0) > _SHARE_TOLERANCE:
                problems.append(
                    f"{mloc}: shares sum to {total:.4g}, not 1; fix the shares "
                    "(or give population totals)"
                )
        totals = {v: s for v, s in sums.items() if s > 1.0 + _SHARE_TOLERANCE}
        if totals and len(totals) < len(sums):
            problems.append(
                f"{loc}.margins: mixes shares and totals ({', '.join(sorted(totals))} "
                "are totals); give all margins the same way"
            )
        elif totals and not all(
            math.isclose(s, next(iter(totals.values())), rel_tol=1e-3) for s in totals.values()
        ):
            listing = ", ".join(f"{v}={s:.6g}" for v, s in totals.items())
            problems.append(f"{loc}.margins: totals disagree between variables ({listing})")


def _check_models(spec: PollSpec, problems: list[str]) -> None:
    """A model's formula names only questions, ``country`` and ``wave``; its scope only
    the spec's countries and waves."""
    variables = [q.id for q in spec.questions] + ["country", "wave"]
    for dup in _duplicates([m.id for m in spec.models]):
        problems.append(f"models: id {dup!r} is used more than once")
    for i, model in enumerate(spec.models):
        loc = f"models[{i}]"
        if "~" not in model.formula:
            problems.append(
                f"{loc}.formula: {model.formula!r} has no response: write 'y ~ x1 + x2'"
            )
        for name in unknown_names(model.formula, variables):
            problems.append(
                f"{loc}.formula: variable {name!r} is not a question, country or wave"
                f"{did_you_mean(name, variables)}"
            )
        for field, given, known, what in (
            ("countries", model.countries, [c.code for c in spec.countries], "country"),
            ("waves", model.waves, [w.id for w in spec.waves], "wave"),
        ):
            for j, value in enumerate(given or []):
                if value not in known:
                    problems.append(f"{loc}.{field}[{j}]: " + _unknown(value, known, what))


def check_spec(spec: PollSpec) -> list[str]:
    """Every cross-reference problem of ``spec``, each prefixed by its location."""
    from barometer.poll.spec_sets import check_parts

    problems: list[str] = []
    _check_ids(spec, problems)
    _check_wave_order(spec, problems)
    _check_regions(spec, problems)
    _check_breakdowns(spec, problems)
    _check_populations(spec, problems)
    _check_sources(spec, problems)
    _check_targets(spec, problems)
    check_parts(spec, problems)
    _check_models(spec, problems)
    return problems


# ---------------------------------------------------------------------------------------
# Reading and writing YAML.


def _location(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def _pydantic_problems(err: ValidationError) -> list[str]:
    problems = []
    for e in err.errors():
        msg = e["msg"].removeprefix("Value error, ")
        # Union members and dict keys repeat the same location; keep the message readable.
        loc = tuple(p for p in e["loc"] if p not in ("int", "float", "str", "[key]"))
        problems.append(f"{_location(loc)}: {msg}")
    return list(dict.fromkeys(problems))


_SECTIONS: dict[str, type[_Model]] = {
    "countries": Country,
    "regions": Region,
    "waves": Wave,
    "questions": Question,
    "sources": Source,
    "targets": Target,
    "models": ModelDeclaration,
}


def _partial_problems(data: dict[str, Any]) -> list[str]:
    """Cross-reference problems among the items that are valid on their own.

    Run when some items fail pydantic, so that one bad item does not hide the rest.
    Problems that only say an invalid item's id is unknown are left out.
    """
    parts: dict[str, Any] = {"name": str(data.get("name") or "spec")}
    dropped: set[str] = set()
    where: dict[str, list[int]] = {}  # position among the valid items -> original index
    for section, model in _SECTIONS.items():
        items = data.get(section)
        good, where[section] = [], []
        for i, item in enumerate(items if isinstance(items, list) else []):
            try:
                good.append(model.model_validate(item))
                where[section].append(i)
            except ValidationError:
                if isinstance(item, dict):
                    dropped.update(str(item.get(k)) for k in ("code", "id") if k in item)
        parts[section] = good
    problems = check_spec(PollSpec.model_construct(**parts))

    def original(match: re.Match[str]) -> str:
        return f"{match[1]}[{where[match[1]][int(match[2])]}]"

    return [
        re.sub(r"^(\w+)\[(\d+)\]", original, p)
        for p in problems
        if not any(f"{d!r} is not in the spec" in p for d in dropped)
    ]


def parse_spec(data: Any, base_dir: str | Path | None = None, origin: str = "spec") -> PollSpec:
    """Validate a spec given as a dict (as read from YAML).

    Parameters
    ----------
    data : dict
        The parsed YAML document.
    base_dir : path, optional
        Folder that relative source file names are resolved against (default: cwd).
    origin : str
        Name used in error messages (the file name).

    Raises
    ------
    SpecError
        Listing every problem found, each with its location.
    """
    if not isinstance(data, dict):
        raise SpecError(f"{origin}: expected a mapping with name, countries, waves, ...")
    try:
        spec = PollSpec.model_validate(data)
    except ValidationError as err:
        problems = _pydantic_problems(err) + _partial_problems(data)
    else:
        problems = check_spec(spec)
    if problems:
        listing = "\n".join(f"  - {p}" for p in problems)
        raise SpecError(f"{origin} has {len(problems)} problem(s):\n{listing}")
    spec._base_dir = Path(base_dir).resolve() if base_dir is not None else Path.cwd()
    return spec


def load_spec(path: str | Path) -> PollSpec:
    """Read and validate a YAML poll specification.

    The YAML is read strictly (:func:`barometer.poll.spec_yaml.read_yaml`): duplicate
    keys, aliases and files over 10 MB are errors.

    Examples
    --------
    >>> spec = load_spec("spec.yaml")  # doctest: +SKIP
    >>> [c.code for c in spec.countries]  # doctest: +SKIP
    ['DE', 'FR', 'KR']
    """
    path = Path(path)
    with collector_paused():
        return parse_spec(read_yaml(path), base_dir=path.parent, origin=str(path))


def publication_rules(
    spec: PollSpec | PublicationRules | None = None, **overrides: Any
) -> PublicationRules:
    """The publication rules in force: each of ``overrides`` that is not None (a
    command-line flag or a keyword argument) over the spec's ``publication:`` section
    (or the rules ``spec`` given) over the defaults of :class:`PublicationRules`;
    validated as the spec is.

    Examples
    --------
    >>> publication_rules(None, suppress_below=50).suppress_below
    50
    >>> publication_rules(None).flag_below
    100
    """
    if isinstance(spec, PublicationRules):
        base = spec
    else:
        base = spec.publication if spec is not None else PublicationRules()
    given = {k: v for k, v in overrides.items() if v is not None}
    unknown = sorted(set(given) - set(PublicationRules.model_fields))
    if unknown:
        known = list(PublicationRules.model_fields)
        raise SpecError(
            f"no publication rule {unknown[0]!r}{did_you_mean(unknown[0], known)}; "
            f"rules: {', '.join(known)}"
        )
    try:
        return PublicationRules.model_validate(base.model_dump() | given)
    except ValidationError as err:
        problems = "; ".join(_pydantic_problems(err))
        raise SpecError(f"publication rules: {problems}") from None


def spec_to_dict(spec: PollSpec) -> dict[str, Any]:
    """The spec as plain data (dates stay dates), ready for YAML."""
    return spec.model_dump(mode="python", exclude_none=False)


def dump_spec(spec: PollSpec, path: str | Path) -> Path:
    """Write ``spec`` as YAML to ``path`` (it reads back with :func:`load_spec`)."""
    text = dump_yaml(spec_to_dict(spec), sort_keys=False, allow_unicode=True, width=100)
    return write_text(path, text)
