"""The ``barometer`` command: demo, init, inspect, ingest, weight, estimate, info.

Exit codes: 0 ok, 1 bad input (one clear message, no traceback), 2 usage.  No
command prints a traceback, whatever the input; ``barometer --debug COMMAND`` does, for
bug reports.
Heavy modules (polars, DuckDB, the core) are imported inside the commands, so
``barometer --help`` stays instant.
"""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:
    import polars as pl
    from rich.console import Console, JustifyMethod

app = typer.Typer(
    help="barometer: multi-country public-opinion polls, from respondent files to findings.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


class OutputFormat(StrEnum):
    """How ``estimate`` prints its results."""

    table = "table"
    csv = "csv"
    json = "json"


class WeightsChoice(StrEnum):
    """Which weights ``estimate`` uses."""

    raked = "raked"
    base = "base"


def _console(stderr: bool = False) -> Console:
    from rich.console import Console

    return Console(stderr=stderr, highlight=False, soft_wrap=False, width=120)


#: Set by the global ``--debug`` option: errors print their traceback too.
_DEBUG = False


@contextmanager
def _bad_input() -> Iterator[None]:
    """Turn every error into one message on stderr and exit code 1 (no traceback,
    unless ``--debug``): barometer's own errors as they are, anything else as a bug to
    report.  Messages are stripped of control characters (they quote files' values)."""
    from barometer.errors import BarometerError
    from barometer.untrusted import printable

    try:
        yield
    except (typer.Exit, typer.Abort, KeyboardInterrupt):
        raise
    except BarometerError as err:
        if _DEBUG:
            raise
        # one line: a listing of problems (a spec's) is joined, each item kept
        clean = printable(err, keep_newlines=True)
        text = " ".join(line.strip() for line in clean.splitlines() if line.strip())
        typer.echo(f"error: {text}", err=True)
        raise typer.Exit(1) from None
    except Exception as err:
        if _DEBUG:
            raise
        first = printable(str(err).strip().splitlines()[0] if str(err).strip() else "")[:300]
        typer.echo(
            f"error: unexpected {type(err).__name__}: {first}. This is a bug in barometer; "
            "run the command again with `barometer --debug ...` and report the traceback",
            err=True,
        )
        raise typer.Exit(1) from None


def _text(value: Any) -> str:
    """Text from data as the terminal should show it: control characters (ESC
    sequences) stripped and rich markup escaped, so ``[link=…]`` prints as typed."""
    from rich.markup import escape

    from barometer.untrusted import printable

    return escape(printable(value))


def _pct(x: float | None) -> str:
    return "" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{100 * x:.1f}"


def _rich_table(frame: pl.DataFrame, title: str | None = None, percent: bool = True) -> Any:
    """A rich Table of a polars frame; shares shown as percentages (``percent``; means and
    quantiles of a numeric question as they are)."""
    from rich.table import Table

    table = Table(title=title, title_justify="left", header_style="bold")
    share_cols = {"estimate", "se", "ci_low", "ci_high"} if percent else set()
    for col in frame.columns:
        label = f"{col} %" if col in share_cols else _text(col)
        table.add_column(label, justify="right" if frame.schema[col].is_numeric() else "left")
    for row in frame.iter_rows(named=True):
        cells = []
        for col, value in row.items():
            if col in share_cols:
                cells.append(_pct(value))
            elif isinstance(value, list):
                cells.append(_text(", ".join(map(str, value))))
            elif isinstance(value, float):
                cells.append("" if math.isnan(value) else f"{value:.4g}")
            else:
                cells.append("" if value is None else _text(value))
        table.add_row(*cells)
    return table


@contextmanager
def _progress(description: str) -> Iterator[Any]:
    """A rich progress bar (on stderr) and a ``progress(step, done, total)`` callback.

    Only on a terminal: a transient bar on a pipe or a log file draws nothing but leaves
    a blank line behind it, which a script reading stderr would take for output."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    console = _console(stderr=True)
    bar = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        console=console,
        transient=True,
        disable=not console.is_terminal,
    )
    with bar:
        task = bar.add_task(description, total=None)

        def update(step: str, done: int, total: int) -> None:
            bar.update(task, description=step, completed=done, total=max(total, 1))

        yield update


# ---------------------------------------------------------------------------------------
# demo


def _headline(pub: Any, console: Console) -> None:
    """Print the demo's headline figures (read from its publication) with 95% intervals
    and the published values."""
    from barometer.demo.figures import HeadlineTable, headline

    for item in headline(pub):
        if isinstance(item, HeadlineTable):
            console.print(_rich_table(item.frame, title=item.title, percent=item.percent))
        else:
            console.print(item)


@app.command()
def demo(
    out: Annotated[Path, typer.Option("--out", help="Folder to write the demo poll to.")] = Path(
        "barometer-demo"
    ),
) -> None:
    """Build the simulated demo poll, ingest and weight it, print the headline figures.

    Writes OUT/spec.yaml, the respondent files (.sav, .dta, .csv, .parquet) and
    OUT/poll.duckdb through the same path a user takes, then the publication:
    OUT/report.html, OUT/findings.md, OUT/findings.json and OUT/banners.xlsx.
    """
    console = _console()
    with _bad_input():
        from barometer.demo.build import build_demo
        from barometer.poll.poll import Poll

        with _progress("writing the demo poll's files") as update:
            update("writing the demo poll's files", 0, 3)
            spec_path = build_demo(out)
            poll, report = Poll.ingest(spec_path, out / "poll.duckdb", progress=update)
            update("weighting (raking every country × wave)", 0, 1)
            poll.weight()
        console.print(
            f"Demo poll written to {out}/ ({report.respondents:,} respondents); "
            f"store: {poll.path.name}\n"
        )
        with _progress("estimating every question") as update:
            update("estimating every question", 0, 1)
            pub = poll.publication()
            update("done", 1, 1)
        _headline(pub, console)
        written = _publish(poll, pub, out, demo_banners=True)
        console.print("\nWritten: " + ", ".join(str(p) for p in written))
        store = out / "poll.duckdb"
        console.print(
            "\nExplore the demo poll in a browser, live:\n"
            f"  barometer serve --store {store}\n"
            "  then open http://127.0.0.1:8000/\n"
            "or as static files to put on any web server:\n"
            f"  barometer explorer --store {store} --out {out / 'site'}\n"
            f"  then open {out / 'site' / 'index.html'}",
            highlight=False,
            markup=False,
            soft_wrap=True,
        )


def _publish(poll: Any, pub: Any, out: Path, demo_banners: bool = False) -> list[Path]:
    """Findings (Markdown, JSON), banner workbook and HTML report of a weighted poll,
    all read from its publication ``pub``."""
    from barometer.publish import write_report
    from barometer.publish.banner.build import banner, banner_tables
    from barometer.publish.banner.tables import write_xlsx
    from barometer.publish.findings import find

    with _progress("publishing") as update:
        update("scanning for findings", 0, 3)
        found = find(pub)
        md, js = found.write(out)
        update("writing banner tables", 1, 3)
        tables = banner_tables(pub, banners=["country"])
        if demo_banners:
            from barometer.demo.figures import DEMO_BANNERS

            wanted = list(dict.fromkeys(q for q, _, _ in DEMO_BANNERS))
            by = list(dict.fromkeys(b for _, bs, _ in DEMO_BANNERS for b in bs))
            # only the countries the tables are of: their bases' notes speak of them alone
            where = list(dict.fromkeys(c for _, _, c in DEMO_BANNERS))
            kr = poll.publication(questions=wanted, countries=where, breakdowns=by)
            tables += [
                banner(kr, q, list(bs), where={"country": country})
                for q, bs, country in DEMO_BANNERS
            ]
        xlsx = write_xlsx(tables, out / "banners.xlsx")
        update("writing the report", 2, 3)
        html = write_report(pub, out / "report.html", findings=found.headlines(8))
        update("done", 3, 3)
    return [html, md, js, Path(xlsx)]


# Publication rules given on the command line (over the spec's publication: section).
SuppressOption = Annotated[
    int | None,
    typer.Option("--suppress-below", help="Suppress cells under this unweighted base (spec: 30)."),
]
FlagOption = Annotated[
    int | None,
    typer.Option("--flag-below", help="Mark cells under this unweighted base (spec: 100)."),
]
ConfidenceOption = Annotated[
    float | None,
    typer.Option("--confidence", help="Confidence level of the intervals (spec: 0.95)."),
]


QuestionsOption = Annotated[
    str | None, typer.Option("--questions", help="Comma-separated question ids (default: all).")
]
CountriesOption = Annotated[
    str | None, typer.Option("--countries", help="Comma-separated country codes (default: all).")
]
WavesOption = Annotated[
    str | None, typer.Option("--waves", help="Comma-separated wave ids (default: all).")
]


def _publication(
    poll: Any, rules: Any, questions: str | None, countries: str | None, waves: str | None,
    breakdowns: Sequence[str] = (),
) -> Any:  # fmt: skip
    """The publication of the questions, countries and waves chosen; what it leaves out
    (a question no respondent answers) said on stderr."""
    pub = poll.publication(
        questions=_split(questions), countries=_split(countries), waves=_split(waves),
        breakdowns=list(breakdowns), rules=rules,
    )  # fmt: skip
    for note in pub.notes:
        typer.echo(f"note: {note}", err=True)
    return pub


def _rules(poll: Any, **flags: Any) -> Any:
    """The publication rules: each flag given over the spec's ``publication:`` section."""
    from barometer.poll.spec import publication_rules

    return publication_rules(poll.spec, **flags)


@app.command()
def report(
    store: StoreOption,
    out: Annotated[Path, typer.Option("--out", help="The HTML file to write.")] = Path(
        "report.html"
    ),
    suppress_below: SuppressOption = None,
    flag_below: FlagOption = None,
    confidence: ConfidenceOption = None,
    questions: QuestionsOption = None,
    countries: CountriesOption = None,
    waves: WavesOption = None,
) -> None:
    """Write the self-contained HTML report: findings, a section per question, methodology."""
    with _bad_input():
        from barometer.poll.poll import Poll
        from barometer.publish import write_report
        from barometer.publish.findings import find

        poll = Poll.open(store)
        rules = _rules(
            poll, suppress_below=suppress_below, flag_below=flag_below, confidence=confidence
        )
        pub = _publication(poll, rules, questions, countries, waves)
        path = write_report(pub, out, findings=find(pub).headlines(8))
        _console().print(f"Report: {path}")


@app.command()
def findings(
    store: StoreOption,
    out: Annotated[Path, typer.Option("--out", help="Folder for findings.md/.json.")] = Path("."),
    alpha: Annotated[
        float | None, typer.Option(help="Significance level after adjustment (spec: 0.05).")
    ] = None,
    adjust: Annotated[
        str | None, typer.Option(help="Multiple-comparison adjustment: holm|bh|bonferroni|none.")
    ] = None,
    min_base: Annotated[
        int | None, typer.Option(help="Smallest unweighted base to claim (spec: 100).")
    ] = None,
    suppress_below: SuppressOption = None,
    confidence: ConfidenceOption = None,
    top: Annotated[int, typer.Option(help="How many findings to print.")] = 10,
    questions: QuestionsOption = None,
    countries: CountriesOption = None,
    waves: WavesOption = None,
) -> None:
    """Scan for significant changes and gaps; write findings.md and findings.json."""
    with _bad_input():
        from barometer.poll.poll import Poll
        from barometer.publish.findings import find

        poll = Poll.open(store)
        rules = _rules(
            poll, alpha=alpha, adjust=adjust, claim_min_base=min_base,
            suppress_below=suppress_below, confidence=confidence,
        )  # fmt: skip
        found = find(_publication(poll, rules, questions, countries, waves))
        md, js = found.write(out)
        console = _console()
        for f in found.headlines(top):
            console.print(f"• {_text(f.sentence)}")
        console.print(f"\n{len(found)} findings written to {md} and {js}")


@app.command()
def banners(
    store: StoreOption,
    out: Annotated[Path, typer.Option("--out", help="The workbook to write.")] = Path(
        "banners.xlsx"
    ),
    by: Annotated[
        str | None,
        typer.Option(
            help="Comma-separated banner variables: country, region, wave or a question "
            "(default: country, and region when the spec has regions)."
        ),
    ] = None,
    csv: Annotated[bool, typer.Option("--csv", help="Write CSV instead of xlsx.")] = False,
    suppress_below: SuppressOption = None,
    flag_below: FlagOption = None,
    wave: Annotated[
        str | None, typer.Option("--wave", help="The wave shown (default: each question's latest).")
    ] = None,
    questions: QuestionsOption = None,
    countries: CountriesOption = None,
    waves: WavesOption = None,
) -> None:
    """Banner tables of every question with column-proportion letters (xlsx or CSV)."""
    with _bad_input():
        from barometer.errors import EstimationError
        from barometer.poll.poll import Poll
        from barometer.publish.banner.build import banner_tables, unasked
        from barometer.publish.banner.tables import write_csv, write_xlsx

        poll = Poll.open(store)
        rules = _rules(poll, suppress_below=suppress_below, flag_below=flag_below)
        chosen = _split(by) or ["country", *(["region"] if poll.spec.regions else [])]
        breakdowns = [b for b in chosen if b not in ("country", "wave", "region")]
        pub = _publication(poll, rules, questions, countries, waves, breakdowns)
        # a question the publication left out was said above; the others, per wave
        named = [q for q in _split(questions) or () if q in pub.questions] or None
        tables = banner_tables(pub, questions=named, banners=chosen, wave=wave)
        for _, note in unasked(pub, named or pub.questions, wave):
            typer.echo(f"note: {note}", err=True)
        if not tables:
            raise EstimationError("banners: no question has respondents in the scope chosen")
        path = write_csv(tables, out) if csv else write_xlsx(tables, out)
        _console().print(f"Banner tables: {path}")


# ---------------------------------------------------------------------------------------
# init


@app.command()
def init(
    path: Annotated[Path, typer.Argument(help="Where to write the spec.")] = Path("spec.yaml"),
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing file.")] = False,
) -> None:
    """Write a starter poll specification (YAML) to edit."""
    if path.exists() and not force:
        typer.echo(f"error: {path} exists; pass --force to overwrite it", err=True)
        raise typer.Exit(1)
    with _bad_input():
        from barometer.atomic import write_text
        from barometer.poll.starter import STARTER_SPEC

        write_text(path, STARTER_SPEC)
    typer.echo(f"Wrote {path}. Edit it, then run: barometer ingest {path}")


# ---------------------------------------------------------------------------------------
# ingest, weight


StoreOption = Annotated[Path, typer.Option("--store", help="The poll store (a DuckDB file).")]


def _missing_table(quality: pl.DataFrame) -> Any:
    """Missing answers per question (rows) × source (columns), user-missing in brackets."""
    import polars as pl

    user = pl.col("n_user_missing")
    cell = pl.col("n_missing").cast(pl.String) + pl.when(user > 0).then(
        pl.format(" ({})", user)
    ).otherwise(pl.lit(""))
    cells = quality.select("question", "source_id", cell.alias("cell"))
    table = cells.pivot(on="source_id", index="question", values="cell")
    # a source that does not map a question did not ask it (not "0 missing")
    table = table.with_columns(pl.exclude("question").fill_null("not asked"))
    from rich.console import Group
    from rich.text import Text

    heading = "Missing answers by question × source (in brackets: of them, SPSS user-missing)"
    return Group(Text(heading, style="italic"), _rich_table(table))


def _asked_where(spec: Any, cells: pl.DataFrame, quality: pl.DataFrame, question: str) -> str:
    """Where ``question`` was asked — the country × wave cells of the sources that map
    it (``cells``: ``Store.source_cells``), in spec order: ``"every country and wave"``,
    ``"no source maps it"`` or, per wave polled, ``"2024-11: DE, FR; 2025-11: not
    asked"``."""
    import polars as pl

    mapping = set(quality.filter(pl.col("question") == question)["source_id"].to_list())
    if not mapping:
        return "no source maps it"
    polled: dict[str, list[str]] = {}
    asked: dict[str, list[str]] = {}
    for sid, country, wave in cells.select("source_id", "country", "wave").iter_rows():
        polled.setdefault(str(wave), []).append(str(country))
        if sid in mapping:
            asked.setdefault(str(wave), []).append(str(country))
    parts, everywhere = [], True
    for wave in (w.id for w in spec.waves if w.id in polled):
        here = list(dict.fromkeys(asked.get(wave, [])))
        everywhere &= set(here) == set(polled[wave])
        parts.append(f"{wave}: {', '.join(here) if here else 'not asked'}")
    return "every country and wave" if everywhere else "; ".join(parts)


@app.command("ingest")
def ingest_command(
    spec: Annotated[Path, typer.Argument(help="The poll spec (YAML).")],
    store: Annotated[
        Path | None,
        typer.Option("--store", help="The store to write (default: poll.duckdb beside SPEC)."),
    ] = None,
    data_dir: Annotated[
        list[Path] | None,
        typer.Option(
            "--data-dir",
            help="A folder source files may also be read from (repeatable). By default "
            "a spec may only read files under its own folder.",
        ),
    ] = None,
    partitions: Annotated[
        Path | None,
        typer.Option(
            "--partitions",
            help="Also write the respondents as Parquet partitions by country x wave in "
            "this new folder: the poll is then estimated, weighted and published from "
            "them through DuckDB, out of core.",
        ),
    ] = None,
) -> None:
    """Read the spec's respondent files, harmonise them and write the store (atomically)."""
    with _bad_input():
        from barometer.poll.ingest import ingest

        target = store if store is not None else spec.parent / "poll.duckdb"
        with _progress("reading the spec") as update:
            report = ingest(
                spec, target, progress=update, data_dirs=data_dir or (), partitions=partitions
            )
        parts = [
            f"{len(ids)} {what}"
            for what, ids in (
                ("added", report.added),
                ("replaced", report.replaced),
                ("unchanged", report.unchanged),
                ("removed", report.removed),
            )
            if ids
        ]
        verdict = "written" if report.changed else "nothing changed"
        typer.echo(
            f"{report.store}: {verdict}; sources: {', '.join(parts) or 'none'}; "
            f"{report.respondents:,} respondents"
        )
        if partitions is not None:
            typer.echo(f"Respondents partitioned by country × wave in {partitions.resolve()}")
        read = report.added + report.replaced
        if read:
            from barometer.poll.store import Store

            _console().print(_missing_table(Store(report.store).column_quality(read)))


@app.command()
def weight(
    store: StoreOption,
    tol: Annotated[float, typer.Option(help="Raking tolerance on the margins.")] = 1e-8,
    cap: Annotated[
        float | None, typer.Option(help="Largest weight, as a multiple of the mean weight.")
    ] = None,
    lonely_psu: Annotated[
        str | None,
        typer.Option(
            "--lonely-psu",
            help="A stratum with one PSU: fail|adjust|average|certainty|remove "
            "(default: the spec's sources' lonely_psu, else fail).",
        ),
    ] = None,
) -> None:
    """Rake every country × wave to its targets; store the weights and diagnostics."""
    with _bad_input():
        from barometer.poll.poll import Poll

        poll = Poll.open(store)
        with _progress("weighting") as update:
            update("weighting (raking every country × wave)", 0, 1)
            diagnostics = poll.weight(tol=tol, cap=cap, lonely_psu=lonely_psu)
        console = _console()
        console.print(_rich_table(diagnostics, title=f"Weights stored in {store}"))
        _print_imputed(console, poll.imputed())


def _print_imputed(console: Any, imputed: Any) -> None:
    """The weighting values imputed per country × wave × variable (``weighting: {missing:
    impute}``), used for weighting only; nothing when none were."""
    if imputed.height:
        title = "Weighting values imputed (hot-deck; for weighting only, never as answers)"
        console.print(_rich_table(imputed, title=title))


# ---------------------------------------------------------------------------------------
# estimate


def _split(value: str | None) -> list[str] | None:
    if value is None:
        return None
    return [v.strip() for v in value.split(",") if v.strip()]


def _records(frame: pl.DataFrame) -> list[dict[str, Any]]:
    def clean(v: Any) -> Any:
        return None if isinstance(v, float) and not math.isfinite(v) else v

    return [{k: clean(v) for k, v in row.items()} for row in frame.to_dicts()]


@app.command()
def estimate(
    question: Annotated[str, typer.Argument(help="A question id, e.g. us_relationship.")],
    store: StoreOption,
    by: Annotated[str, typer.Option(help="Comma-separated breakdown.")] = "country,wave",
    region: Annotated[
        str | None, typer.Option(help="Combine a region's countries (e.g. EU).")
    ] = None,
    countries: Annotated[str | None, typer.Option(help="Comma-separated country codes.")] = None,
    waves: Annotated[str | None, typer.Option(help="Comma-separated wave ids.")] = None,
    like_for_like: Annotated[
        bool,
        typer.Option(
            "--like-for-like/--each-wave",
            help="Regional trends on the countries polled in every wave (default).",
        ),
    ] = True,
    weights: Annotated[WeightsChoice, typer.Option(help="Raked or base weights.")] = (
        WeightsChoice.raked
    ),
    format: Annotated[OutputFormat, typer.Option("--format", help="Output format.")] = (
        OutputFormat.table
    ),
    ci: Annotated[
        str, typer.Option(help="Interval method: wald, logit, wilson, beta, likelihood, ...")
    ] = "wald",
    confidence: ConfidenceOption = None,
    level: Annotated[
        float | None,
        typer.Option("--level", hidden=True, help="Deprecated: use --confidence."),
    ] = None,
    suppress_below: SuppressOption = None,
    flag_below: FlagOption = None,
    quantiles: Annotated[
        bool,
        typer.Option(
            "--quantiles", help="A numeric question's quartiles and median, not its mean."
        ),
    ] = False,
) -> None:
    """Weighted shares of every level of QUESTION (and of its nets) with their intervals
    (95% by default); for a numeric question its mean, or with --quantiles its quartiles.

    Rows carry scope (country or region id), scope_kind, members (a region's countries
    with data), suppressed and flagged under the publication rules; a suppressed row
    shows no estimate.
    """
    with _bad_input():
        from barometer.poll.poll import Poll
        from barometer.poll.publication import mark, scope_columns

        if level is not None:
            _deprecated("--level is deprecated; use --confidence")
            confidence = level if confidence is None else confidence
        poll = Poll.open(store)
        rules = _rules(
            poll, suppress_below=suppress_below, flag_below=flag_below, confidence=confidence
        )
        asked = poll.spec.question(question)
        if asked.is_numeric:
            _estimate_numeric(poll, question, by, region, waves, weights.value, rules, quantiles,
                              format, countries=countries, like_for_like=like_for_like)  # fmt: skip
            return
        if quantiles:
            from barometer.errors import EstimationError

            raise EstimationError(f"--quantiles needs a numeric question; {question!r} has levels")
        est = poll.estimate(
            question,
            by=_split(by) or [],
            region=region,
            countries=_split(countries),
            waves=_split(waves),
            like_for_like=like_for_like,
            weights=weights.value,
            ci=ci,  # type: ignore[arg-type]  # checked by the core
            confidence=rules.confidence,
        )
        frame = _boundary(est.to_polars(), ci, rules.boundary_ci, rules.confidence)
        frame = mark(_scoped(frame, scope_columns), rules, blank=True)
        if frame.height == 0:
            chosen = ", ".join(
                f"{what} {value}" for what, value in (("countries", countries), ("waves", waves))
                if value
            )  # fmt: skip
            typer.echo(
                f"note: no respondent answers {question!r}"
                + (f" in {chosen}" if chosen else "")
                + " (the question was not asked there); nothing to show",
                err=True,
            )
            if format is OutputFormat.table:  # an empty frame would say nothing more
                return
        _print_estimates(frame, format, f"{question} (shares in %, "
                         f"{100 * rules.confidence:g}% intervals)", est.notes)  # fmt: skip


def _estimate_numeric(
    poll: Any, question: str, by: str, region: str | None, waves: str | None, weights: str,
    rules: Any, quantiles: bool, format: OutputFormat, *, countries: str | None,
    like_for_like: bool,
) -> None:  # fmt: skip
    """``estimate`` of a numeric question: its mean by ``by`` (a region's from its
    members), or its quartiles (``quantiles``; not combined into regions)."""
    import polars as pl

    from barometer.errors import EstimationError
    from barometer.poll.publication import mark, scope_columns

    conf = f"{100 * rules.confidence:g}% intervals"
    if quantiles:
        if region is not None:
            raise EstimationError(
                "--quantiles with --region: quantiles are not combined into regions "
                "(a median of medians is not a median); ask per country"
            )
        est = poll.quantiles(
            question, by=_split(by) or [], weights=weights, confidence=rules.confidence
        )
        if countries is not None:
            est = est.filter(pl.col("country").is_in(_split(countries) or []))
        if waves is not None:
            est = est.filter(pl.col("wave").is_in(_split(waves) or []))
        title = f"{question} (quartiles and median; level = probability, {conf})"
    else:
        est = poll.estimate(
            question, by=_split(by) or [], region=region, countries=_split(countries),
            waves=_split(waves), like_for_like=like_for_like, weights=weights,
            confidence=rules.confidence,
        )  # fmt: skip
        title = f"{question} (mean, {conf})"
    frame = mark(_scoped(est.to_polars(), scope_columns), rules, blank=True)
    _print_estimates(frame, format, title, est.notes, percent=False)


def _boundary(frame: pl.DataFrame, ci: str, boundary: Any, confidence: float) -> pl.DataFrame:
    """``frame`` with ``ci_method``: ``ci``, or at a country's share (level or net) of
    exactly 0 or 1 the interval of the publication's ``boundary_ci``, by the one rule
    (:func:`barometer.poll.regions.with_boundary_ci`); a region's rows come with theirs."""
    from barometer.poll.regions import with_boundary_ci

    return with_boundary_ci(frame, boundary, confidence, inside=ci)


def _deprecated(message: str) -> None:
    """Say on stderr that a spelling is deprecated (the command still runs)."""
    typer.echo(f"warning: {message}", err=True)


def _scoped(
    frame: pl.DataFrame, scope_columns: Callable[[pl.DataFrame], pl.DataFrame]
) -> pl.DataFrame:
    """The estimate's rows with scope, scope_kind and members (a region's rows from
    ``Poll.estimate`` carry their members in ``countries``)."""
    import polars as pl

    if "countries" in frame.columns:
        frame = frame.with_columns(scope_kind=pl.lit("region"), members=pl.col("countries"))
    if "country" not in frame.columns:
        return frame
    return scope_columns(frame)


def _print_estimates(
    frame: pl.DataFrame,
    format: OutputFormat,
    title: str,
    notes: Sequence[str],
    percent: bool = True,
) -> None:
    """The rows as JSON, CSV (lists joined by ';') or a table with the notes (shares as
    percentages when ``percent``)."""
    if format is OutputFormat.json:
        typer.echo(json.dumps(_records(frame), indent=2, default=str))
    elif format is OutputFormat.csv:
        import polars as pl

        lists = [c for c, t in frame.schema.items() if isinstance(t, pl.List)]
        frame = frame.with_columns(pl.col(c).list.join(";") for c in lists)
        sys.stdout.write(frame.write_csv())
    else:
        import polars as pl

        console = _console()
        added = ("scope", "scope_kind", "members", "missing", "suppressed", "flagged")
        shown = frame.drop([c for c in added if c in frame.columns])
        if frame.get_column("flagged").any():
            flag = (
                pl.when(pl.col("suppressed"))
                .then(pl.lit("suppressed"))
                .when(pl.col("flagged"))
                .then(pl.lit("low base"))
                .otherwise(pl.lit(""))
            )
            shown = shown.with_columns(frame.select(flag.alias("flag")))
        console.print(_rich_table(shown, title=title, percent=percent))
        for note in notes:
            console.print(f"note: {_text(note)}")


@app.command("model")
def model_command(
    formula: Annotated[
        str, typer.Argument(help="A model formula, e.g. \"I(q1 == 'yes') ~ C(country) + age\".")
    ],
    store: StoreOption,
    family: Annotated[
        str, typer.Option(help="gaussian, binomial, quasibinomial, poisson, quasipoisson.")
    ] = "gaussian",
    countries: Annotated[str | None, typer.Option(help="Comma-separated country codes.")] = None,
    waves: Annotated[str | None, typer.Option(help="Comma-separated wave ids.")] = None,
    weights: Annotated[WeightsChoice, typer.Option(help="Raked or base weights.")] = (
        WeightsChoice.raked
    ),
    format: Annotated[OutputFormat, typer.Option("--format", help="Output format.")] = (
        OutputFormat.table
    ),
) -> None:
    """A design-based regression (R svyglm) on the weighted poll: its coefficient table
    (term, estimate, se, statistic, p_value, ci_low, ci_high; t on the design's residual
    degrees of freedom)."""
    with _bad_input():
        from barometer.poll.poll import Poll

        poll = Poll.open(store)
        fitted = poll.glm(
            formula,
            family=family,  # type: ignore[arg-type]  # checked against ModelFamily by glm
            countries=_split(countries),
            waves=_split(waves),
            weights=weights.value,
        )
        title = f"{formula} ({family}, n={fitted.n:,}, df={fitted.df_residual:g})"
        table = fitted.to_polars()
        if format is OutputFormat.table:
            _console().print(_rich_table(table, title=title))
        else:
            _print_estimates(table, format, title, [])


# ---------------------------------------------------------------------------------------
# inspect


@app.command("inspect")
def inspect_command(
    file: Annotated[Path, typer.Argument(help="A respondent file (.sav .dta .csv .parquet).")],
    format: Annotated[
        str | None,
        typer.Option("--format", help="sav, dta, csv or parquet (default: from the extension)."),
    ] = None,
    values: Annotated[int, typer.Option(help="Distinct values shown per column.")] = 5,
    draft_only: Annotated[
        bool, typer.Option("--draft-only", help="Print only the draft spec entries (YAML).")
    ] = False,
) -> None:
    """List a file's columns (type, labels, missing counts, values) and draft its spec entry.

    Prints a `questions:` and a `sources:` entry to paste into the spec, with `codes:`
    from the value labels, and numeric questions (`range:`, `missing:`) for columns of
    many unlabelled numbers. Never writes a store.
    """
    with _bad_input():
        from rich.table import Table
        from rich.text import Text

        from barometer.poll.inspect import draft, inspect_file, table_rows

        found = inspect_file(file, format=format)
        if not draft_only:
            title = (
                f"{file.name}: {found.format}, {found.n_rows:,} rows, {len(found.columns)} columns"
            )
            table = Table(title=title, title_justify="left", header_style="bold", expand=True)
            rows = table_rows(found, shown=values)
            for name in rows[0] if rows else ():
                numbers = name in ("missing", "user-missing", "distinct")
                wide = {"values": 3, "value labels": 2, "label": 2}.get(name)
                justify: JustifyMethod = "right" if numbers else "left"
                table.add_column(name, justify=justify, ratio=wide, no_wrap=wide is None)
            for row in rows:
                table.add_row(*(Text(str(v)) for v in row.values()))
            _console().print(table)
            typer.echo('\nDraft spec entries (paste into the spec, fill in every "?"):\n')
        typer.echo(draft(found, file=str(file)), nl=False)


# ---------------------------------------------------------------------------------------
# info


@app.command()
def info(store: StoreOption) -> None:
    """What a store holds: sources, bases by country × wave, questions, weighting."""
    with _bad_input():
        import polars as pl

        from barometer.poll.poll import Poll

        poll = Poll.open(store)
        spec = poll.spec
        console = _console()
        console.print(f"[bold]{_text(spec.name)}[/bold] — {_text(poll.path)}")
        sources = poll.sources().select(
            "id",
            "file",
            "format",
            "wave",
            "country",
            "firm",
            "n_rows",
            pl.col("sha256").str.slice(0, 12),
        )
        console.print(_rich_table(sources, title="Sources"))
        quality = poll.store.column_quality()
        if quality.height:
            console.print(_missing_table(quality))
        bases = poll.bases().pivot(on="wave", index="country", values="n")
        # waves in the spec's order (the pivot would follow the first country's waves)
        bases = bases.select("country", *(w.id for w in spec.waves if w.id in bases.columns))
        console.print(_rich_table(bases, title="Respondents by country × wave"))
        cells = poll.store.source_cells()
        questions = pl.DataFrame(
            {
                "question": [q.id for q in spec.questions],
                "kind": [q.kind for q in spec.questions],
                "levels": [", ".join(q.level_codes) for q in spec.questions],
                "asked": [_asked_where(spec, cells, quality, q.id) for q in spec.questions],
            }
        )
        console.print(_rich_table(questions, title="Questionnaire"))
        for region in spec.regions:
            members = ", ".join(region.members)
            named = f" — {region.name}" if region.name and region.name != region.id else ""
            console.print(_text(f"Region {region.id} ({region.rule}): {members}{named}"))
        if poll.weighted:
            settings = {k: v for k, v in poll.weight_settings().items() if k != "imputed"}
            console.print(_rich_table(poll.diagnostics(), title=_text(f"Weights ({settings})")))
            _print_imputed(console, poll.imputed())
        else:
            console.print(f"Not weighted: run `barometer weight --store {store}`.")


# ---------------------------------------------------------------------------------------
# serve


@app.command()
def serve(
    store: StoreOption,
    host: Annotated[str, typer.Option(help="Address to listen on (loopback by default).")] = (
        "127.0.0.1"
    ),
    port: Annotated[int, typer.Option(min=0, max=65535, help="Port to listen on.")] = 8000,
) -> None:
    """Serve the explorer over the poll, its pages and their JSON API: every question by
    country, region, wave and declared breakdown, with margins, bases and suppression
    (Ctrl-C stops).

    The store is only read. The breakdowns offered are the spec's publication.breakdowns.
    """
    import warnings

    with _bad_input():
        from barometer.poll.poll import Poll
        from barometer.publish.explorer.cube import build_cube
        from barometer.publish.explorer.serve import run, warn_if_exposed

        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            warn_if_exposed(host)
        for w in caught:
            typer.echo(f"warning: {w.message}", err=True)
        poll = Poll.open(store)
        poll.store.require()
        pub = poll.publication(breakdowns=poll.spec.publication.breakdowns)
        cube = build_cube(pub)
    shown = f"[{host}]" if ":" in host else host
    typer.echo(
        f"Serving {cube.name} ({len(cube.questions)} questions, {cube.rows.height} rows) "
        f"at http://{shown}:{port}/ — Ctrl-C stops.",
        err=True,
    )
    run(cube, host, port, warn=False)


# ---------------------------------------------------------------------------------------
# explorer (static export)


@app.command()
def explorer(
    store: StoreOption,
    out: Annotated[
        Path, typer.Option("--out", help="Folder to write the static explorer to.")
    ] = Path("site"),
) -> None:
    """Write the explorer as static files (HTML, JavaScript, the cube as JSON) that any
    static web server can host, or that open from the folder itself.

    The same pages, suppression and escaping as barometer serve; the breakdowns offered
    are the spec's publication.breakdowns. The store is only read.
    """
    with _bad_input():
        from barometer.poll.poll import Poll
        from barometer.publish.explorer.api import CSP
        from barometer.publish.explorer.cube import build_cube
        from barometer.publish.explorer.pages import write_site

        poll = Poll.open(store)
        poll.store.require()
        cube = build_cube(poll.publication(breakdowns=poll.spec.publication.breakdowns))
        written = write_site(cube, out, CSP)
    typer.echo(
        f"Explorer of {cube.name} written to {out}/ ({len(written)} files): open "
        f"{out / 'index.html'} in a browser, or copy the folder to any web server."
    )


@app.callback()
def _main(
    debug: Annotated[
        bool, typer.Option("--debug", help="Print the traceback of an error (for bug reports).")
    ] = False,
) -> None:
    """barometer: from respondent files to published findings."""
    global _DEBUG
    _DEBUG = debug
