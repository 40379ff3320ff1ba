"""A poll whose respondents are Parquet partitions: estimated, weighted and published in DuckDB.

``ingest(..., partitions=folder)`` (``barometer ingest SPEC --partitions DIR``) writes the
store's respondents as ``folder/<country>/<wave>/respondents.parquet``, one country × wave
in memory at a time, and records the folder in the store. From then on the ``Poll``
reads no respondent into memory: its designs are the core's DuckDB designs
(``bm.Design`` over a DuckDB relation) over the partitions' glob, so every estimate is a
set of grouped sums computed by DuckDB, and the statistics on them are the in-memory
ones (equal to the in-memory poll's to rounding).

What a partition holds besides the store's columns is written by the in-memory code
itself, row by row, so each rule keeps its one home: the design's columns (the
stratum, PSU and raking group of :func:`barometer.poll.weighting.design_frame`), the
grids' paired item differences (:func:`barometer.poll.sets.pair_columns`), and
``_respondent`` — ``source_id/respondent_id``, the key of the weights.

Weighting rakes each country × wave on its cell table (``DuckDBDesign.rake``) and writes
the weights to a new Parquet file beside the store (``<store>.weights/raked-*.parquet``:
``_respondent, weight``), never into the partitions. Estimates on raked weights rake
again from the base weights with the stored settings, as in memory, into a table of the
poll's own DuckDB connection, so their standard errors account for the raking.

A model (``Poll.glm``, a publication's ``models:``) and ``ci="likelihood"`` read only
their columns into memory (the core's ``backends.duck_models``). What cannot run on the
cell table fails with one message instead of reading the rows into memory: a weight
``cap`` and ``weighting: {missing: impute}`` (its hot deck draws donors row by row).
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import duckdb
import polars as pl

from barometer.core.design import Design
from barometer.errors import BarometerError, EstimationError, WeightingError
from barometer.options import LonelyPSU
from barometer.poll.sets import pair_columns
from barometer.poll.spec import PollSpec
from barometer.poll.store import Store, partition_relation
from barometer.poll.weighting import DESIGN_COLUMNS, design_frame, margins, schemes

if TYPE_CHECKING:
    from barometer.core.backends.duck_design import DuckDBDesign

__all__ = ["GROUP", "KEY", "MARKER", "Partitions", "write"]

#: The file that marks a folder as written here (only such a folder is ever replaced).
MARKER = "_barometer"
#: The columns ``weighting.design_frame`` adds: raking group, stratum, PSU.
GROUP, STRATUM, PSU = "_country_wave", "_stratum", "_psu"
#: The respondent's key in the partitions and in the weights file.
KEY = "_respondent"
#: The folder of weights files beside a store ``poll.duckdb``: ``poll.duckdb.weights``.
WEIGHTS_SUFFIX = ".weights"


def _path_part(value: object) -> str:
    """A country or wave code as one folder name (no separator, not a dot name)."""
    text = str(value)
    if not text or text in (".", "..") or "/" in text or "\\" in text or "\0" in text:
        raise BarometerError(f"{text!r} cannot name a partition folder")
    return text


def _fresh_folder(out: Path, store: Path) -> None:
    """Empty ``out`` for new partitions: it must be new, or a folder written here (it
    holds the marker), and must not hold the store."""
    if store.is_relative_to(out):
        raise BarometerError(
            f"partitions folder {str(out)!r} holds the store {str(store)!r}; choose a "
            "folder of their own (it is replaced whole at each ingest)"
        )
    if out.exists() and not (out / MARKER).exists():
        raise BarometerError(
            f"partitions folder {str(out)!r} exists and was not written by barometer; "
            "respondents are partitioned into a new folder (or one barometer wrote)"
        )
    if out.exists():
        shutil.rmtree(out)


def write(store: Store, folder: str | Path) -> Path:
    """Write ``store``'s respondents as Parquet partitions by country × wave in ``folder``
    (replaced whole: it must be new or written here) and record it in the store.

    Each partition holds the respondents' design columns, every stored question (codes
    as text, values as doubles), the grids' paired differences, the design's stratum,
    PSU and raking group, and the key ``_respondent``; no weights. One country × wave is
    in memory at a time.
    """
    out = Path(folder).resolve()
    spec = store.spec()
    _fresh_folder(out, store.path)
    stored = store.columns()
    questions = [q for q in spec.stored_questions() if q.id in stored]
    columns = [*DESIGN_COLUMNS, *(q.id for q in questions)]
    levels = {q.id: q.level_codes for q in questions if not q.is_numeric}
    has_psu = False
    try:
        # the marker first: a write cut short leaves a folder the next ingest may replace
        # (it is read only once the store records it, after the last partition)
        out.mkdir(parents=True)
        (out / MARKER).write_text("respondents by country x wave; rewritten by ingest\n")
        for country, wave in store.bases().select("country", "wave").iter_rows():
            part = out / _path_part(country) / _path_part(wave)
            part.mkdir(parents=True)
            frame = store.respondents(columns, [country], [wave], levels=levels)
            frame, psu = design_frame(frame.with_columns(pair_columns(spec, stored)))
            has_psu |= psu
            key = pl.col("source_id") + "/" + pl.col("respondent_id")
            frame.with_columns(key.alias(KEY)).write_parquet(part / "respondents.parquet")
    except OSError as err:
        raise BarometerError(
            f"cannot write the partitions in {str(out)!r} ({err.strerror or err}); the store "
            "is written, its partitions are not — free space or fix the folder, then ingest "
            "again with --partitions"
        ) from None
    record = {"folder": str(out), "ingested_at": store.meta().get("ingested_at"), "psu": has_psu}
    store.record_partitions(record)
    return out


def recorded(meta: dict[str, str]) -> Path | None:
    """The partitions folder a store's ``meta`` records (None: respondents in memory)."""
    raw = meta.get("partitions")
    return Path(json.loads(raw)["folder"]) if raw else None


@dataclass(eq=False)
class Partitions:
    """The partitions of one store state: its DuckDB connection and the designs over them."""

    store: Path
    folder: Path
    has_psu: bool
    con: duckdb.DuckDBPyConnection = field(init=False, repr=False)
    _tables: int = 0

    def __post_init__(self) -> None:
        # DuckDB spills what exceeds its memory limit beside the store, not in the cwd;
        # local Parquet files need no extension, so none is loaded (or fetched)
        spill = self.store.with_name(self.store.name + ".tmp")
        config: dict[str, str | bool | int | float | list[str]] = {
            "temp_directory": str(spill),
            "autoload_known_extensions": False,
        }
        self.con = duckdb.connect(config=config | {"autoinstall_known_extensions": False})

    @classmethod
    def of(cls, store: Path, meta: dict[str, str]) -> Partitions | None:
        """The store's partitions (None when it records none); an error when they are
        missing or older than the store's respondents."""
        raw = meta.get("partitions")
        if not raw:
            return None
        record = json.loads(raw)
        folder = Path(record["folder"])
        redo = (
            f"write them again with `barometer ingest SPEC --store {store} --partitions {folder}`"
        )
        if not (folder / MARKER).is_file():
            raise EstimationError(
                f"the store {str(store)!r} keeps its respondents as Parquet partitions in "
                f"{str(folder)!r}, which holds none (moved or deleted?); {redo}"
            )
        if record.get("ingested_at") != meta.get("ingested_at"):
            raise EstimationError(
                f"the Parquet partitions in {str(folder)!r} hold an older ingest than the "
                f"store {str(store)!r} (ingested {record.get('ingested_at')}, the store "
                f"{meta.get('ingested_at')}); {redo}"
            )
        return cls(store, folder, bool(record.get("psu")))

    def base(
        self,
        spec: PollSpec,
        lonely_psu: LonelyPSU,
        countries: Sequence[str] | None = None,
        waves: Sequence[str] | None = None,
    ) -> DuckDBDesign:
        """The respondents' design with the sources' base weights (as
        ``weighting.base_design``), over the partitions of ``countries`` × ``waves``."""
        from barometer.core.backends.duck_design import DuckDBDesign

        levels = {q.id: q.level_codes for q in spec.stored_questions() if not q.is_numeric}
        files = str(self.folder / "*" / "*" / "respondents.parquet")
        rel = partition_relation(self.con, files, levels, countries, waves)
        psu = PSU if self.has_psu else None
        design = Design(rel, weights="base_weight", strata=STRATUM, psu=psu, lonely_psu=lonely_psu)
        assert isinstance(design, DuckDBDesign)  # a Design over a relation stays in DuckDB
        return design

    def raked(
        self,
        spec: PollSpec,
        bases: pl.DataFrame,
        settings: tuple[float, int, float | None, LonelyPSU],
        countries: Sequence[str] | None = None,
        waves: Sequence[str] | None = None,
        to: Path | None = None,
    ) -> Design:
        """The design raked within each country × wave to its targets (as
        ``weighting.raked_design``: the same margins, from ``bases``' cells), its weights
        written to ``to`` (a new Parquet file) or to a table of this connection."""
        tol, max_iter, cap, rule = settings
        if not spec.targets:
            raise WeightingError("the spec has no targets; add targets to weight the poll")
        if spec.weighting.missing == "impute":
            raise WeightingError(
                "weighting: {missing: impute} is not available for a poll whose respondents "
                f"are Parquet partitions ({self.folder}): its hot deck draws donors row by "
                "row; map every code of the weighting variables, or ingest without "
                "--partitions to weight in memory"
            )
        if cap is not None:
            raise WeightingError(
                f"cap={cap!r} is not available for a poll whose respondents are Parquet "
                f"partitions ({self.folder}): a cap bounds single respondents' weights, "
                "which raking on the cell table does not see; weight without --cap"
            )
        base = self.base(spec, rule, countries, waves)
        scope = bases
        for column, values in (("country", countries), ("wave", waves)):
            if values is not None:
                scope = scope.filter(pl.col(column).is_in(list(values)))
        _check_weighting_data(base, spec, scope)
        if to is None:
            self._tables += 1
            target = f"raked_{self._tables}"
        else:
            target = str(to)
        written = base.rake(
            margins(spec, scope), by=GROUP, tol=tol, max_iter=max_iter, id=KEY, to=target
        )
        assert written.design is not None
        design: Design = written.design
        return design

    def new_weights_file(self) -> Path:
        """A new file for the weights, in the folder beside the store."""
        folder = self.store.with_name(self.store.name + WEIGHTS_SUFFIX)
        folder.mkdir(exist_ok=True)
        return folder / f"raked-{datetime.now(UTC):%Y%m%dT%H%M%S%f}.parquet"

    def forget_older(self, kept: Path) -> None:
        """Delete the weights files beside the store other than ``kept`` (the one the
        store now names)."""
        for old in kept.parent.glob("raked-*.parquet"):
            if old != kept:
                old.unlink(missing_ok=True)


def _check_weighting_data(base: Design, spec: PollSpec, bases: pl.DataFrame) -> None:
    """As ``weighting.check_weighting_data``, from the bases of each weighting variable
    by country × wave: one :class:`WeightingError` naming the variables no source maps
    and the respondents lacking a variable of their country × wave's targets."""
    problems = []
    scheme = schemes(spec, bases)
    for var in dict.fromkeys(v for t in scheme.values() for v in t.margins):
        if var not in base.columns:
            problems.append(f"no source maps weighting variable {var!r}")
    mapped = [v for v in dict.fromkeys(v for t in scheme.values() for v in t.margins)]
    mapped = [v for v in mapped if v in base.columns]
    counts: dict[str, dict[tuple[str, str], int]] = {v: {} for v in mapped}
    for c, w, var, n, _ in base.bases(mapped, ["country", "wave"]).iter_rows():
        counts[var][(c, w)] = n
    size = {(c, w): n for c, w, n in bases.select("country", "wave", "n").iter_rows()}
    for (country, wave), target in scheme.items():
        for var in target.margins:
            lacking = size[(country, wave)] - counts.get(var, {}).get((country, wave), 0)
            if var in counts and lacking:
                problems.append(f"{country} {wave}: {lacking} respondent(s) have no {var}")
    if problems:
        raise WeightingError(
            "cannot weight: "
            + "; ".join(problems)
            + ". Map every code of a weighting variable to a level, then ingest again"
        )
