"""``bm.Poll``: a harmonised poll in a store — weight it, then ask it questions.

The poll layer calls the core exactly as a user would: ``bm.Design`` over the
respondents (strata = country × wave, so countries are independent samples),
``Design.rake(..., by=<country × wave>)`` for the weights, ``Design.proportion`` for
shares and ``Estimates.combine`` for regions.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import polars as pl

from barometer.errors import EstimationError, SpecError, WeightingError, did_you_mean
from barometer.options import CIMethod
from barometer.poll.ingest import IngestReport, Progress, ingest
from barometer.poll.spec import PollSpec
from barometer.poll.store import Store

if TYPE_CHECKING:
    from barometer.core.design import Design
    from barometer.core.estimates import Estimates

__all__ = ["Poll"]

WeightsChoice = Literal["raked", "base"]

_DESIGN_COLUMNS = ["source_id", "respondent_id", "country", "wave", "base_weight", "strata", "psu"]
_GROUP = "_country_wave"
_STRATUM = "_stratum"
_PSU = "_psu"


def _design_frame(frame: pl.DataFrame) -> tuple[pl.DataFrame, bool]:
    """Add the design columns: group (country × wave), stratum (× source strata), PSU."""
    has_psu = frame.get_column("psu").null_count() < frame.height
    cw = pl.col("country") + "/" + pl.col("wave")
    stratum = pl.when(pl.col("strata").is_null()).then(cw).otherwise(cw + "/" + pl.col("strata"))
    psu = pl.col("psu").fill_null(pl.col("source_id") + "/" + pl.col("respondent_id"))
    out = frame.with_columns(cw.alias(_GROUP), stratum.alias(_STRATUM), psu.alias(_PSU))
    return out, has_psu


def _diagnostics(raked: Any) -> pl.DataFrame:
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
        store.require()
        self.store = store
        self._spec: PollSpec | None = None
        self._designs: dict[tuple[Any, ...], Any] = {}
        self._stamp: tuple[Any, str] | None = None
        self._memo: dict[str, tuple[str, Any]] = {}

    # -- construction ----------------------------------------------------------------------

    @classmethod
    def open(cls, path: str | Path) -> Poll:
        """Open the store at ``path`` (a DuckDB file written by :meth:`ingest`)."""
        return cls(Store(path))

    @classmethod
    def ingest(
        cls, spec: PollSpec | str | Path, store: str | Path, progress: Progress | None = None
    ) -> tuple[Poll, IngestReport]:
        """Ingest a spec's sources into ``store`` (see :func:`barometer.poll.ingest`)."""
        report = ingest(spec, store, progress=progress)
        return cls.open(store), report

    # -- what is in it ---------------------------------------------------------------------

    @property
    def path(self) -> Path:
        """The store's file."""
        return self.store.path

    @property
    def spec(self) -> PollSpec:
        """The spec the store was ingested from."""
        if self._spec is None:
            self._spec = self.store.spec()
        return self._spec

    @property
    def weighted(self) -> bool:
        """True when the store holds weights (cleared by any change of data or targets)."""
        return self.store.has_weights()

    def bases(self) -> pl.DataFrame:
        """Unweighted respondents per country × wave, in spec order."""
        return self._while_unchanged(
            "bases",
            lambda: self.store.query(
                "SELECT r.country, r.wave, count(*) AS n FROM respondents r "
                "JOIN countries c ON c.code = r.country JOIN waves w ON w.id = r.wave "
                "GROUP BY r.country, r.wave, c.position, w.position "
                "ORDER BY c.position, w.position"
            ),
        )

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
        return self.store.query(
            "SELECT id, file, format, wave, country, firm, mode, n_rows, sha256, ingested_at "
            "FROM sources ORDER BY position"
        )

    def diagnostics(self) -> pl.DataFrame:
        """Weighting diagnostics per country × wave (empty before :meth:`weight`)."""
        return self.store.query(
            "SELECT d.* FROM weight_diagnostics d JOIN countries c ON c.code = d.country "
            "JOIN waves w ON w.id = d.wave ORDER BY c.position, w.position"
        )

    def __repr__(self) -> str:
        state = "weighted" if self.weighted else "not weighted"
        return f"Poll({str(self.path)!r}, {self.store.respondent_count()} respondents, {state})"

    # -- weighting -------------------------------------------------------------------------

    def _weighting_variables(self) -> list[str]:
        return list(dict.fromkeys(v for t in self.spec.targets for v in t.margins))

    def _margins(self, frame: pl.DataFrame) -> dict[str, dict[str, dict[str, float]]]:
        """Targets per country × wave group: wave-specific first, else the country's."""
        spec = self.spec
        population = {c.code: c.population for c in spec.countries}
        by_key = {(t.country, t.wave): t for t in spec.targets}
        margins: dict[str, dict[str, dict[str, float]]] = {}
        missing = []
        for country, wave in frame.select("country", "wave").unique(maintain_order=True).rows():
            target = by_key.get((country, wave)) or by_key.get((country, None))
            if target is None:
                missing.append(f"{country} {wave}")
                continue
            scale = population[country] if target.are_shares and population[country] else 1.0
            margins[f"{country}/{wave}"] = {
                var: {lv: v * scale for lv, v in m.items()} for var, m in target.margins.items()
            }
        if missing:
            raise WeightingError(
                f"no weighting targets for {', '.join(missing)}; add them to the spec's "
                "targets (wave: null applies a country's targets to every wave)"
            )
        return margins

    def _check_weighting_data(self, frame: pl.DataFrame, variables: list[str]) -> None:
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

    def _raked_design(
        self, frame: pl.DataFrame, tol: float, max_iter: int, cap: float | None
    ) -> Any:
        import barometer as bm

        variables = self._weighting_variables()
        if not variables:
            raise WeightingError("the spec has no targets; add targets to weight the poll")
        self._check_weighting_data(frame, variables)
        data, has_psu = _design_frame(frame)
        design = bm.Design(
            data, weights="base_weight", strata=_STRATUM, psu=_PSU if has_psu else None
        )
        return design.rake(self._margins(frame), by=_GROUP, tol=tol, max_iter=max_iter, cap=cap)

    def _frame(
        self, countries: Sequence[str] | None = None, waves: Sequence[str] | None = None
    ) -> pl.DataFrame:
        """Respondents with every question column, levels as ordered enums."""
        columns = list(_DESIGN_COLUMNS)
        for q in self.spec.questions:
            if q.id in self._store_columns():
                columns.append(q.id)
        frame = self.store.respondents(columns, countries=countries, waves=waves)
        if frame.height == 0:
            raise EstimationError(
                f"no respondents in {str(self.path)!r} for countries={countries}, waves={waves}"
            )
        return frame.with_columns(
            pl.col(q.id).cast(pl.Enum(q.level_codes))
            for q in self.spec.questions
            if q.id in frame.columns
        )

    def _store_columns(self) -> frozenset[str]:
        return self._while_unchanged(
            "columns",
            lambda: frozenset(self.store.query("SELECT * FROM respondents LIMIT 0").columns),
        )

    def weight(
        self, tol: float = 1e-8, cap: float | None = None, max_iter: int = 100
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

        Returns
        -------
        polars.DataFrame
            Diagnostics per country × wave: n, sum of weights, min and max weight, their
            ratio, Kish's design effect ``n Σw² / (Σw)²`` and effective sample size.
        """
        frame = self._frame()
        raked = self._raked_design(frame, tol, max_iter, cap)
        weights = np.asarray(raked.weights, dtype=float)
        diagnostics = _diagnostics(raked)
        info = getattr(raked, "weighting", None)
        settings: dict[str, Any] = {"tol": tol, "cap": cap, "max_iter": max_iter}
        if info is not None:
            settings |= {"iterations": int(info.iterations), "max_error": float(info.max_error)}
        out = frame.select("source_id", "respondent_id").with_columns(pl.Series("weight", weights))
        self.store.write_weights(out, diagnostics, settings)
        self._remember(("raked", self._state(), (None, None)), raked)
        return diagnostics

    def weight_settings(self) -> dict[str, object]:
        """The settings (and iterations, largest margin error) of the last weighting."""
        raw = self.store.meta().get("weight_settings")
        return json.loads(raw) if raw else {}

    # -- estimation ------------------------------------------------------------------------

    def _state(self) -> str:
        """What the store holds now; re-read only when its files changed on disk."""
        files = [self.path, self.path.with_name(self.path.name + ".wal")]
        stamp = tuple(
            (f.stat().st_mtime_ns, f.stat().st_size) if f.exists() else None for f in files
        )
        if self._stamp is None or self._stamp[0] != stamp:
            meta = self.store.meta()
            state = f"{meta.get('ingested_at')}|{meta.get('weighted_at')}|{meta.get('spec_sha256')}"
            self._stamp = (stamp, state)
        return self._stamp[1]

    #: designs kept at once (each scope — all, a wave, some countries — is one)
    _DESIGNS_KEPT = 8

    def _remember(self, key: tuple[Any, ...], design: Any) -> None:
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
        import barometer as bm

        scope = (tuple(countries) if countries is not None else None,)
        scope += (tuple(waves) if waves is not None else None,)
        key = (weights, self._state(), scope)
        if key in self._designs:
            return self._designs[key]
        frame = self._frame(countries, waves)
        if weights == "raked":
            if not self.weighted:
                raise EstimationError(
                    f"store {str(self.path)!r} is not weighted (or its data changed since); "
                    "run poll.weight() or `barometer weight`, or ask for weights='base'"
                )
            s = self.weight_settings()
            design = self._raked_design(frame, s["tol"], s["max_iter"], s["cap"])
        elif weights == "base":
            data, has_psu = _design_frame(frame)
            design = bm.Design(
                data, weights="base_weight", strata=_STRATUM, psu=_PSU if has_psu else None
            )
        else:
            raise EstimationError(f"weights={weights!r} is not one of 'raked', 'base'")
        self._remember(key, design)
        return design

    def _check_by(self, by: Sequence[str]) -> list[str]:
        allowed = ["country", "wave", *(q.id for q in self.spec.questions)]
        for col in by:
            if col not in allowed:
                raise EstimationError(
                    f"cannot break down by {col!r}: use country, wave or a question id"
                    f"{did_you_mean(col, allowed)}"
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
        level: float = 0.95,
    ) -> Estimates:
        """Weighted shares of every level of ``question``, by country × wave or a region.

        Parameters
        ----------
        question : str
            A question id of the spec.
        by : str or list of str
            Breakdown: ``country``, ``wave`` and/or other question ids (banners).
        region : str, optional
            A region of the spec (e.g. ``"EU"``): its members' results are combined by the
            region's rule (``mean``: each country counts equally; ``population``: weighted
            by adult population; ``median``) with the core's ``Estimates.combine``;
            intervals are design-based (countries are independent samples).
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
            on the combined estimate.
        level : float
            Confidence level of the intervals.

        Returns
        -------
        Estimates
            Columns ``*by, variable, level, estimate, se, ci_low, ci_high, n, deff``;
            regional rows carry the region id in ``country`` and the members in
            ``countries``.
        """
        spec = self.spec
        spec.question(question)
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
        est = design.proportion(question, by=by_list, ci=ci, confidence=level)
        est = est.filter(pl.col("n") > 0)
        if region is None:
            return est
        return self._combine(est, region, countries, like_for_like, level)

    @staticmethod
    def _check_names(given: Sequence[str] | None, known: list[str], what: str) -> None:
        for name in given or ():
            if name not in known:
                raise SpecError(f"no {what} {name!r} in the poll{did_you_mean(name, known)}")

    def _combine(
        self,
        est: Any,
        region_id: str,
        countries: Sequence[str] | None,
        like_for_like: bool,
        level: float,
    ) -> Any:
        from barometer.core.estimates import Estimates

        spec = self.spec
        region = spec.region(region_id)
        table = est.to_polars()
        members = [m for m in region.members if countries is None or m in countries]
        polled = table.select("country", *(["wave"] if "wave" in est.by else [])).unique()
        notes = list(est.notes)
        if "wave" in est.by and like_for_like:
            waves = polled.get_column("wave").unique().to_list()
            per_country = polled.group_by("country").len()
            full = set(per_country.filter(pl.col("len") == len(waves)).get_column("country"))
            left_out = [m for m in members if m not in full and m in set(polled["country"])]
            members = [m for m in members if m in full]
            if len(waves) > 1:
                note = (
                    f"{region_id} ({region.rule} rule): like-for-like over waves "
                    f"{', '.join(sorted(waves))}: the {len(members)} member(s) polled in every "
                    f"wave ({', '.join(members)})"
                )
                if left_out:
                    absent = ", ".join(left_out)
                    note += f"; left out, not polled (or not asked) in every wave: {absent}"
                notes.append(note)
        elif "wave" in est.by:
            notes.append(f"{region_id} ({region.rule} rule): each wave's own polled members")
        if not members:
            raise EstimationError(
                f"region {region_id!r} has no member with results for these waves"
            )
        population = {c.code: c.population for c in spec.countries}
        weights = {m: population[m] for m in members} if region.rule == "population" else None
        combined = est.combine(
            over="country",
            members=members,
            name=region_id,
            rule=region.rule,
            weights=weights,
            confidence=level,
        )
        out = combined.to_polars().rename({"members": "countries"})
        return Estimates(out, by=combined.by, statistic=combined.statistic, notes=tuple(notes))
