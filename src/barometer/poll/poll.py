"""``bm.Poll``: a harmonised poll in a store — weight it, then ask it questions.

The poll layer calls the core exactly as a user would: ``bm.Design`` over the
respondents (strata = country × wave, so countries are independent samples),
``Design.rake(..., by=<country × wave>)`` for the weights, ``Design.proportion`` for
shares and ``Estimates.combine`` for regions.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from functools import cache
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, NoReturn, cast

import numpy as np
import polars as pl

from barometer.core.design import Design
from barometer.core.estimates import Estimates
from barometer.errors import (
    BarometerDeprecationWarning,
    EstimationError,
    SpecError,
    WeightingError,
    did_you_mean,
    warn,
)
from barometer.options import CIMethod, LonelyPSU, ModelFamily, WeightsChoice
from barometer.poll import store_record
from barometer.poll.columns import PollColumns, ScopedColumns
from barometer.poll.ingest import IngestReport, Progress, ingest
from barometer.poll.kinds import QUARTILES, estimate_question
from barometer.poll.partitions import Partitions
from barometer.poll.publication import PollFacts, Publication
from barometer.poll.regions import with_regions
from barometer.poll.sets import set_estimates, stack_parts
from barometer.poll.spec import PollSpec, PublicationRules, Question
from barometer.poll.spec_sets import parts
from barometer.poll.store import Store, StoreState, file_state, spec_of
from barometer.poll.weighting import (
    IMPUTED_SCHEMA,
    base_design,
    lonely_psu_rule,
    raked_design,
)
from barometer.poll.weighting import diagnostics as weighting_diagnostics

if TYPE_CHECKING:
    from barometer.core.models import Model  # formulaic loads only when a model is fitted

__all__ = ["Poll"]


def _confidence(confidence: float | None, level: float | None, default: float) -> float:
    """``confidence``, or the deprecated ``level=`` (with a warning), or ``default``."""
    if level is not None:
        warn(
            "Poll.estimate(level=) is deprecated; write confidence= (an answer level is "
            "never read from it)",
            BarometerDeprecationWarning,
        )
        if confidence is None:
            confidence = level
    value = default if confidence is None else float(confidence)
    if not 0 < value < 1:
        raise EstimationError(f"confidence={value!r} must lie between 0 and 1")
    return value


def _weighting_key(tol: float, cap: float | None, max_iter: int, rule: str) -> str:
    """What the weights of a store's respondents and targets depend on besides them: the
    settings, the source code of the raking and barometer's, numpy's and polars' versions
    (the store's record, :mod:`barometer.poll.store_record`, keeps it)."""
    from barometer import __version__

    return store_record.content_key(
        {
            "settings": [tol, cap, max_iter, rule],
            "code": _raking_code(),
            "versions": [__version__, np.__version__, pl.__version__],
        }
    )


@cache
def _raking_code() -> str:
    """The SHA-256 of the raking's source files, read once per process (the code a
    process runs does not change under it)."""
    from barometer import core

    code = hashlib.sha256()
    folder = Path(core.__file__).parent / "weighting"
    for path in [*sorted(folder.glob("*.py")), Path(__file__).with_name("weighting.py")]:
        code.update(path.name.encode() + b"\0" + path.read_bytes())
    return code.hexdigest()


class Poll:
    """A poll held in a store: countries × waves × questions.

    Open one with :meth:`Poll.open` (or build it with :meth:`Poll.ingest`), weight it with
    :meth:`weight`, then ask :meth:`estimate`.

    Examples
    --------
    >>> import barometer as bm
    >>> poll = bm.Poll.open("poll.duckdb")  # doctest: +SKIP
    >>> poll.weight()  # doctest: +SKIP
    >>> poll.estimate("us_relationship", by=["country", "wave"], region="EU")  # doctest: +SKIP
    """

    def __init__(self, store: Store) -> None:
        self.store = store
        self._designs: dict[tuple[Any, ...], Design] = {}
        self._stamp: tuple[Any, str, StoreState] | None = None
        self._memo: dict[str, tuple[str, Any]] = {}
        self._state()  # raises unless the store exists

    # -- construction ----------------------------------------------------------------------

    @classmethod
    def open(cls, path: str | Path) -> Poll:
        """Open the store at ``path`` (a DuckDB file written by :meth:`ingest`)."""
        return cls(Store(path))

    @classmethod
    def ingest(
        cls,
        spec: PollSpec | str | Path,
        store: str | Path,
        progress: Progress | None = None,
        data_dirs: Sequence[str | Path] = (),
        partitions: str | Path | None = None,
    ) -> tuple[Poll, IngestReport]:
        """Ingest a spec's sources into ``store`` (see :func:`barometer.poll.ingest`);
        with ``partitions`` (a folder) the respondents are also written there as Parquet
        partitions, and the poll estimates, weights and publishes from them in DuckDB
        (:mod:`barometer.poll.partitions`)."""
        report = ingest(spec, store, progress=progress, data_dirs=data_dirs, partitions=partitions)
        return cls.open(store), report

    # -- what is in it ---------------------------------------------------------------------

    @property
    def path(self) -> Path:
        """The store's file."""
        return self.store.path

    @property
    def spec(self) -> PollSpec:
        """The spec the store was ingested from."""
        spec: PollSpec = self._while_unchanged(
            "spec", lambda: spec_of(self._snapshot().meta, self.path)
        )
        return spec

    @property
    def weighted(self) -> bool:
        """True when the store holds weights (cleared by any change of data or targets)."""
        return self._snapshot().weighted

    def bases(self) -> pl.DataFrame:
        """Unweighted respondents per country × wave, in spec order."""
        bases: pl.DataFrame = self._while_unchanged("bases", self.store.bases)
        return bases

    def _while_unchanged(self, name: str, read: Callable[[], Any]) -> Any:
        """``read()``, kept until the store changes (a banner workbook asks once per
        question, and each query opens the DuckDB file)."""
        state = self._state()
        kept = self._memo.get(name)
        if kept is None or kept[0] != state:
            kept = (state, read())
            self._memo[name] = kept
        return kept[1]

    def sources(self) -> pl.DataFrame:
        """The sources ingested: id, file, format, sha256, rows, time, firm, mode."""
        return self.store.sources()

    def diagnostics(self) -> pl.DataFrame:
        """Weighting diagnostics per country × wave (empty before :meth:`weight`)."""
        return self.store.diagnostics()

    def fieldwork(self) -> pl.DataFrame:
        """Per country × wave: fieldwork firm(s), mode(s) and respondents."""
        return self.store.fieldwork()

    def targets(self) -> pl.DataFrame:
        """The weighting targets, one row per country × wave × variable × level."""
        return self.store.targets()

    def facts(self) -> PollFacts:
        """What the report's methodology prints about the poll, read from the store once
        per state of the store (each publication asks: the demo makes two)."""
        facts: PollFacts = self._while_unchanged("facts", self._read_facts)
        return facts

    def _read_facts(self) -> PollFacts:
        return PollFacts(
            name=self.spec.name,
            path=self.path,
            weighted=self.weighted,
            bases=self.bases(),
            fieldwork=self.fieldwork(),
            sources=self.sources(),
            targets=self.targets(),
            diagnostics=self.diagnostics(),
            weight_settings=MappingProxyType(self.weight_settings()),
        )

    def __repr__(self) -> str:
        state = "weighted" if self.weighted else "not weighted"
        return f"Poll({str(self.path)!r}, {self.store.respondent_count()} respondents, {state})"

    # -- weighting -------------------------------------------------------------------------

    def lonely_psu_rule(self, given: str | None = None) -> str:
        """The lonely-PSU rule of the poll's design (see
        :func:`barometer.poll.weighting.lonely_psu_rule`)."""
        return lonely_psu_rule(self.spec, given)

    def _frame(
        self, countries: Sequence[str] | None = None, waves: Sequence[str] | None = None
    ) -> tuple[pl.DataFrame, ScopedColumns]:
        """Respondents with the design's own columns (levels as ordered enums), and the
        source of their question columns, read when an estimate needs them
        (:mod:`barometer.poll.columns`).

        The store is read (and the enums formed) once per store state; a scope of
        countries or waves is a filter of that frame, which keeps its row order.
        """
        held: PollColumns = self._while_unchanged("frame", self._read_frame)
        full = held.frame
        inside = pl.lit(True)
        for column, given in (("country", countries), ("wave", waves)):
            if given is not None:
                inside &= pl.col(column).is_in(list(given))
        rows = None if countries is None and waves is None else full.select(inside).to_series()
        frame = full if rows is None else full.filter(rows)
        if frame.height == 0:
            self._unpolled(countries, waves, full.select("country", "wave"))
        return frame, held.source(rows)

    def _unpolled(
        self, countries: Sequence[str] | None, waves: Sequence[str] | None, cells: pl.DataFrame
    ) -> NoReturn:
        """The error for a scope without respondents, naming what was polled (``cells``:
        the country and wave of the respondents, or of each cell polled)."""
        chosen = " and ".join(
            f"{what} {', '.join(given)}"
            for what, given in (("countries", countries), ("waves", waves))
            if given is not None
        )
        in_waves = cells if waves is None else cells.filter(pl.col("wave").is_in(list(waves)))
        seen_w, seen_c = set(cells["wave"].to_list()), set(in_waves["country"].to_list())
        polled = [
            f"waves {', '.join(w.id for w in self.spec.waves if w.id in seen_w) or 'none'}",
            f"countries {', '.join(c.code for c in self.spec.countries if c.code in seen_c)}"
            + (f" in {', '.join(waves)}" if waves is not None else ""),
        ]
        raise EstimationError(
            f"no respondents in {str(self.path)!r} in {chosen or 'the poll'} (not polled "
            f"there); polled: {'; '.join(polled if seen_c else polled[:1])}"
        )

    def _read_frame(self) -> PollColumns:
        return PollColumns(self.store, self.spec, self._store_columns())

    def _store_columns(self) -> frozenset[str]:
        return self._snapshot().columns

    def _partitions(self) -> Partitions | None:
        """The Parquet partitions the respondents are estimated from (None: in memory)."""
        parts: Partitions | None = self._while_unchanged(
            "partitions", lambda: Partitions.of(self.path, self._snapshot().meta)
        )
        return parts

    def weight(
        self,
        tol: float = 1e-8,
        cap: float | None = None,
        max_iter: int = 100,
        lonely_psu: str | None = None,
    ) -> pl.DataFrame:
        """Rake every country × wave to its targets and store the weights.

        Targets given as shares are scaled to the country's adult population (when the
        spec gives one), so weights are grossing-up weights.  Raking uses the core's
        ``Design.rake`` (iterative proportional fitting, R ``survey::rake``) starting from
        the sources' base weights.

        Parameters
        ----------
        tol : float
            Convergence tolerance on the margins (relative to the group total).
        cap : float, optional
            Largest weight as a multiple of the group's mean weight (trimming).
        max_iter : int
            Largest number of raking sweeps.
        lonely_psu : {"fail", "adjust", "average", "certainty", "remove"}, optional
            What to do with a stratum that has a single PSU (R ``survey.lonely.psu``);
            default: the rule the sources set in the spec, else "fail"
            (:meth:`lonely_psu_rule`).  Stored with the weights and used by estimates.

        Returns
        -------
        polars.DataFrame
            Diagnostics per country × wave: n, sum of weights, min and max weight, their
            ratio, Kish's design effect ``n Σw² / (Σw)²`` and effective sample size.
        """
        rule = lonely_psu_rule(self.spec, lonely_psu)
        parts = self._partitions()
        key = _weighting_key(tol, cap, max_iter, rule)
        recorded = store_record.kept(self.path) if parts is None else {}
        if recorded.get("weighting") == key and self.weighted:
            # the store is as this weighting left it: the same weights again (estimates
            # rake again from the base weights with the stored settings in any case)
            return self.diagnostics()
        if parts is None:
            frame, source = self._frame()
            raked, imputed = raked_design(self.spec, frame, tol, max_iter, cap, rule, source)
        else:  # weights written beside the store, never into the partitions
            weights_file = parts.new_weights_file()
            settings_ = (tol, max_iter, cap, rule)
            raked = parts.raked(self.spec, self.bases(), settings_, to=weights_file)
            imputed = pl.DataFrame(schema=IMPUTED_SCHEMA)
        diagnostics = weighting_diagnostics(raked)
        info = getattr(raked, "weighting", None)
        settings: dict[str, Any] = {"tol": tol, "cap": cap, "max_iter": max_iter}
        if rule != "fail":  # (kept out of the settings of a default weighting)
            settings["lonely_psu"] = rule
        if info is not None:
            settings |= {"iterations": int(info.iterations), "max_error": float(info.max_error)}
        if self.spec.weighting.missing == "impute":
            settings |= {"missing": "impute", "seed": self.spec.weighting.seed}
            settings["imputed"] = imputed.to_dicts()
        if parts is not None:
            none = pl.DataFrame(schema={"source_id": pl.String, "respondent_id": pl.String,
                                        "weight": pl.Float64})  # fmt: skip
            self.store.write_weights(none, diagnostics, settings, file=weights_file)
            parts.forget_older(weights_file)
        else:
            weights = np.asarray(raked.weights, dtype=float)
            out = self._keys(frame).with_columns(weight=weights)
            self.store.write_weights(out, diagnostics, settings)
            # the respondents are unchanged by weighting: keep their frame (and the columns
            # formed) for the new state
            self._memo["frame"] = (self._state(), self._memo["frame"][1])
            ingested = {k: v for k, v in recorded.items() if k in ("ingest", "respondents")}
            store_record.remember(self.path, ingested | {"weighting": key})
        self._remember(("raked", self._state(), (None, None)), raked)
        return diagnostics

    def _keys(self, frame: pl.DataFrame) -> pl.DataFrame:
        """``source_id, respondent_id`` of the rows of ``frame`` (the whole poll, in the
        store's order): its own when it holds the ids, else read from the store in the
        same order (:func:`barometer.poll.weighting.design_columns`)."""
        if "respondent_id" in frame.columns:
            return frame.select("source_id", "respondent_id")
        keys = self.store.respondents(["source_id", "respondent_id"])
        if not keys.get_column("source_id").equals(frame.get_column("source_id")):
            raise WeightingError(
                f"store {str(self.path)!r} changed while it was being weighted (its "
                "respondents are not those raked); run the weighting again"
            )
        return keys

    def imputed(self) -> pl.DataFrame:
        """Weighting values imputed in the last weighting (``weighting: {missing:
        impute}``): ``country, wave, variable, n_imputed``; empty when none were."""
        # (the rows weight() wrote to the settings' JSON: one dict per row)
        rows = cast(list[dict[str, object]], self.weight_settings().get("imputed") or [])
        return pl.DataFrame(rows, schema=IMPUTED_SCHEMA, orient="row")

    @property
    def weights_file(self) -> Path | None:
        """The Parquet file of the weights (``_respondent, weight``) of a poll whose
        respondents are Parquet partitions, once weighted; None otherwise."""
        found = self._snapshot().meta.get("weights_file")
        return Path(found) if found else None

    def weight_settings(self) -> dict[str, object]:
        """The settings (and iterations, largest margin error) of the last weighting."""
        raw = self._snapshot().meta.get("weight_settings")
        return json.loads(raw) if raw else {}

    # -- estimation ------------------------------------------------------------------------

    def _state(self) -> str:
        """What the store holds now; re-read only when its files changed on disk."""
        stamp = file_state(self.path)
        if self._stamp is None or self._stamp[0] != stamp:
            snapshot = self.store.snapshot()
            if snapshot is None:
                self.store.require()  # the one error for "not a store"
            assert snapshot is not None
            meta = snapshot.meta
            # the files' state too (the store record's rule): the times are to the second,
            # and a poll weighted twice within one second must not keep the first
            # weighting's designs and facts
            state = (
                f"{stamp}|{meta.get('ingested_at')}|{meta.get('weighted_at')}|"
                f"{meta.get('spec_sha256')}"
            )
            self._stamp = (stamp, state, snapshot)
        return self._stamp[1]

    def _snapshot(self) -> StoreState:
        """The store's meta table, columns and weights flag, read once per state of its files."""
        self._state()
        assert self._stamp is not None
        return self._stamp[2]

    #: designs kept at once (each scope — all, a wave, some countries — is one)
    _DESIGNS_KEPT = 8

    def _remember(self, key: tuple[Any, ...], design: Design) -> None:
        state = key[1]
        self._designs = {k: v for k, v in self._designs.items() if k[1] == state}
        if len(self._designs) >= self._DESIGNS_KEPT:
            self._designs.pop(next(iter(self._designs)))
        self._designs[key] = design

    def design(
        self,
        weights: WeightsChoice = "raked",
        countries: Sequence[str] | None = None,
        waves: Sequence[str] | None = None,
    ) -> Design:
        """The core ``Design`` behind :meth:`estimate` (cached until the store changes).

        ``weights="raked"`` rakes again from the base weights with the stored settings,
        so standard errors account for the raking; ``"base"`` uses the sources' base
        weights (equal weights when a source has none).  ``countries``/``waves`` keep
        only those respondents: whole strata and raking groups, so estimates and
        variances are those of the full design.
        """
        scope = (
            tuple(countries) if countries is not None else None,
            tuple(waves) if waves is not None else None,
        )
        key = (weights, self._state(), scope)
        if key in self._designs:
            return self._designs[key]
        if self._partitions() is not None:
            design = self._partitioned_design(weights, countries, waves)
            self._remember(key, design)
            return design
        frame, source = self._frame(countries, waves)
        if weights == "raked":
            design, _ = raked_design(self.spec, frame, *self._raking_settings(), source=source)
        elif weights == "base":
            design = base_design(frame, lonely_psu_rule(self.spec), source)
        else:
            raise EstimationError(f"weights={weights!r} is not one of 'raked', 'base'")
        self._remember(key, design)
        return design

    def _partitioned_design(
        self,
        weights: WeightsChoice,
        countries: Sequence[str] | None,
        waves: Sequence[str] | None,
    ) -> Design:
        """:meth:`design` over the Parquet partitions (a DuckDB design; see
        :mod:`barometer.poll.partitions`)."""
        parts = self._partitions()
        assert parts is not None
        cells = self.bases().select("country", "wave")
        inside = pl.lit(True)
        for column, given in (("country", countries), ("wave", waves)):
            if given is not None:
                inside &= pl.col(column).is_in(list(given))
        if cells.filter(inside).height == 0:
            self._unpolled(countries, waves, cells)
        if weights == "base":
            return parts.base(self.spec, lonely_psu_rule(self.spec), countries, waves)
        if weights != "raked":
            raise EstimationError(f"weights={weights!r} is not one of 'raked', 'base'")
        settings = self._raking_settings()
        return parts.raked(self.spec, self.bases(), settings, countries, waves)

    def _raking_settings(self) -> tuple[float, int, float | None, LonelyPSU]:
        """The stored weighting's tolerance, sweeps, cap and lonely-PSU rule, to rake
        again with; an error when the store holds no weights."""
        if not self.weighted:
            raise EstimationError(
                f"store {str(self.path)!r} is not weighted (or its data changed since); "
                "run poll.weight() or `barometer weight`, or ask for weights='base'"
            )
        s = self.weight_settings()
        # (the values weight() wrote to the settings' JSON)
        settings = (s["tol"], s["max_iter"], s["cap"], s.get("lonely_psu", "fail"))
        return cast(tuple[float, int, float | None, LonelyPSU], settings)

    def glm(
        self,
        formula: str,
        family: ModelFamily = "gaussian",
        countries: Sequence[str] | None = None,
        waves: Sequence[str] | None = None,
        weights: WeightsChoice = "raked",
    ) -> Model:
        """A design-based GLM (R ``svyglm``) on the poll's design -- raked by default, so
        the SEs account for the raking -- over ``countries``/``waves``; question ids are
        the formula's columns (``"I(q_ally == 'ally') ~ C(country) + age"``); a question
        enters as a factor whose reference level is its first in questionnaire order (the
        poll hands the core its questions as enums), ``country`` and ``wave`` with their
        first in sorted order. See ``Design.glm``; on a poll of Parquet partitions only
        the model's columns are read into memory (``backends.duck_models``)."""
        return self.design(weights, countries, waves).glm(formula, family=family)

    def _check_by(self, by: Sequence[str]) -> list[str]:
        numeric = {q.id for q in self.spec.questions if q.is_numeric}
        allowed = ["country", "wave", *(q.id for q in self.spec.stored_questions())]
        for col in by:
            if col not in allowed:
                raise EstimationError(
                    f"cannot break down by {col!r}: use country, wave or a question id"
                    f"{did_you_mean(col, allowed)}"
                )
            if col in numeric:
                raise EstimationError(
                    f"cannot break down by {col!r}: it is numeric; band it into levels "
                    "with a recode (docs/spec.md) and break down by that question"
                )
        return list(by)

    def estimate(
        self,
        question: str,
        by: str | Sequence[str] = ("country", "wave"),
        region: str | None = None,
        countries: Sequence[str] | None = None,
        waves: Sequence[str] | None = None,
        like_for_like: bool = True,
        weights: WeightsChoice = "raked",
        ci: CIMethod = "wald",
        confidence: float | None = None,
        *,
        level: float | None = None,
    ) -> Estimates:
        """Weighted shares of every level of ``question`` (and of its nets), or the mean
        of a numeric question, by country × wave or a region.

        Parameters
        ----------
        question : str
            A question id of the spec. A multiple-response question gives each option's
            share of selecting it (ranked; the shares do not sum to 100%), a grid each
            item's shares (:func:`barometer.poll.sets.set_estimates`); for a region each
            option (item) is combined as any question is, then ranked the same way; a
            part such as ``allies__us`` is estimated as any question.
        by : str or list of str
            Breakdown: ``country``, ``wave`` and/or other question ids (banners).
        region : str, optional
            A region of the spec (e.g. ``"EU"``), formed by the one region policy of
            :mod:`barometer.poll.regions`: its members with data (listed in
            ``countries``, the others in ``missing``), combined by the region's rule
            (``mean``: each country counts equally; ``population``: weighted by adult
            population; ``median``) with the core's ``Estimates.combine``; intervals are
            design-based and ``vcov()`` works on the result.
        countries, waves : list of str, optional
            Keep only these countries / waves.
        like_for_like : bool
            For a region over several waves: combine only the members polled in every
            wave asked for (the default, and said in ``notes``); ``False`` uses each
            wave's own members.
        weights : {"raked", "base"}
            Raked weights (after :meth:`weight`) or the sources' base weights.
        ci : str
            Interval method for the countries' shares (the core's ``proportion``:
            ``wald``, ``logit``, ``wilson``, …); regional intervals are Wald intervals
            on the combined estimate (``ci_method`` ``"wald"``) except where every
            member combined is at 0, or every one at 1: there the spec's
            ``publication.boundary_ci`` at the combination's effective sample size
            (:func:`barometer.poll.regions.combine`).
        confidence : float, optional
            Confidence level of the intervals (default: the spec's
            ``publication.confidence``, 0.95 unless set).
        level : float, optional
            Deprecated spelling of ``confidence`` (warns; never an answer level).

        Returns
        -------
        Estimates
            Columns ``*by, variable, level, estimate, se, ci_low, ci_high, n, deff``;
            regional rows carry the region id in ``country``, the members combined in
            ``countries`` and the members left out in ``missing``. No rows when nobody
            answers in scope (for a region: none of its members), ``notes`` saying why.
            A question's nets follow its levels (``level`` the net's code; ``deff``
            null); a numeric question's mean has ``level`` null (see
            :mod:`barometer.poll.kinds`).
        """
        spec = self.spec
        confidence = _confidence(confidence, level, spec.publication.confidence)
        asked = spec.question(question)
        by_list = self._check_by([by] if isinstance(by, str) else by)
        self._check_names(countries, [c.code for c in spec.countries], "country")
        self._check_names(waves, [w.id for w in spec.waves], "wave")
        if region is not None and "country" not in by_list:
            by_list = ["country", *by_list]
        scope = list(countries) if countries is not None else None
        if region is not None:
            members = spec.region(region).members
            scope = [m for m in members if scope is None or m in scope]
        design = self.design(weights, scope, list(waves) if waves is not None else None)
        if asked.kind in ("multiple", "grid") and region is None:
            return set_estimates(design, asked, by_list, ci, confidence)
        if region is None:
            return estimate_question(design, asked, by_list, confidence, ci)
        if asked.kind not in ("multiple", "grid"):
            return self._regional(
                design, asked, by_list, region, like_for_like, countries, ci, confidence
            )
        # each option (grid item) is a question of its own: combined by the region's
        # rule as any question is, then stacked and ranked as a country's are
        present = set(design.columns)
        combined = {
            part.id: self._regional(
                design, part, by_list, region, like_for_like, countries, ci, confidence
            )
            for part in parts(asked)
            if part.id in present
        }
        notes = dict.fromkeys(n for est in combined.values() for n in est.notes)
        held = {k: v for k, v in combined.items() if v.to_polars().height}
        return stack_parts(asked, held, by_list, list(notes))

    def _regional(
        self,
        design: Design,
        asked: Question,
        by_list: list[str],
        region: str,
        like_for_like: bool,
        countries: Sequence[str] | None,
        ci: CIMethod,
        confidence: float,
    ) -> Estimates:
        """The rows of ``region`` for the single-choice or numeric ``asked`` (see
        :meth:`estimate`): its members' estimates combined by the region policy."""
        est = estimate_question(design, asked, by_list, confidence, ci)
        regional = with_regions(
            est, self.spec, [region], like_for_like=like_for_like, countries=countries,
            confidence=confidence, boundary_ci=self.spec.publication.boundary_ci,
        )  # fmt: skip
        # a region none of whose members answered: no rows (as for a country), the note
        # saying so — a question not asked there is not an error
        rows = regional.region_rows()
        table = rows.to_polars().drop("scope_kind").rename({"members": "countries"})
        return Estimates(
            table, by=rows.by, statistic=rows.statistic, notes=regional.notes,
            source=rows.source, coefficients=rows.coefficients,
        )  # fmt: skip

    def quantiles(
        self,
        question: str,
        probs: Sequence[float] = QUARTILES,
        by: str | Sequence[str] = ("country", "wave"),
        weights: WeightsChoice = "raked",
        confidence: float | None = None,
    ) -> Estimates:
        """Quantiles of a numeric question (default: the quartiles and median) by ``by``,
        with Woodruff intervals (R ``svyquantile``, ``qrule="math"``; see
        ``Design.quantile``); ``level`` holds the probability (``"0.5"``). Quantiles are
        not combined into regions (a median of medians is not a median)."""
        spec = self.spec
        asked = spec.question(question)
        if not asked.is_numeric:
            raise EstimationError(
                f"question {question!r} is not numeric; quantiles need kind: numeric "
                "(estimate() gives the shares of its levels)"
            )
        conf = _confidence(confidence, None, spec.publication.confidence)
        by_list = self._check_by([by] if isinstance(by, str) else by)
        est = self.design(weights).quantile(question, list(probs), by=by_list, confidence=conf)
        return est.filter(pl.col("n") > 0)

    def publication(
        self,
        questions: Sequence[str] | None = None,
        countries: Sequence[str] | None = None,
        waves: Sequence[str] | None = None,
        breakdowns: Sequence[str | None] | None = None,
        *,
        rules: PublicationRules | None = None,
        weights: WeightsChoice = "raked",
    ) -> Publication:
        """Every estimate a publication of the poll needs, computed once.

        Per question (default: every question of kind ``question`` or ``numeric``) and breakdown
        (always none — country × wave — plus each of ``breakdowns``, question ids such
        as ``age``): the countries' shares, the regions (each cell's members with data,
        covariance kept), the pooled total, unweighted and weighted bases, and the
        suppressed / flagged marks under ``rules`` (default: the spec's
        ``publication:`` section). See :class:`barometer.poll.publication.Publication`.
        """
        from barometer.poll.publication import build

        return build(self, questions, countries, waves, breakdowns, rules=rules, weights=weights)

    @staticmethod
    def _check_names(given: Sequence[str] | None, known: list[str], what: str) -> None:
        for name in given or ():
            if name not in known:
                raise SpecError(f"no {what} {name!r} in the poll{did_you_mean(name, known)}")
