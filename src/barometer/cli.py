"""The ``barometer`` command: demo, init, ingest, weight, estimate, info.

Exit codes: 0 ok, 1 bad input (one clear message, no traceback), 2 usage.
Heavy modules (polars, DuckDB, the core) are imported inside the commands, so
``barometer --help`` stays instant.
"""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:
    import polars as pl
    from rich.console import Console

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


@contextmanager
def _bad_input() -> Iterator[None]:
    """Turn barometer's own errors into one message on stderr and exit code 1."""
    from barometer.errors import BarometerError

    try:
        yield
    except BarometerError as err:
        typer.echo(f"error: {err}", err=True)
        raise typer.Exit(1) from None


def _pct(x: float | None) -> str:
    return "" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{100 * x:.1f}"


def _rich_table(frame: pl.DataFrame, title: str | None = None) -> Any:
    """A rich Table of a polars frame; shares shown as percentages."""
    from rich.table import Table

    table = Table(title=title, title_justify="left", header_style="bold")
    share_cols = {"estimate", "se", "ci_low", "ci_high"}
    for col in frame.columns:
        label = f"{col} %" if col in share_cols else col
        table.add_column(label, justify="right" if frame.schema[col].is_numeric() else "left")
    for row in frame.iter_rows(named=True):
        cells = []
        for col, value in row.items():
            if col in share_cols:
                cells.append(_pct(value))
            elif isinstance(value, list):
                cells.append(", ".join(map(str, value)))
            elif isinstance(value, float):
                cells.append("" if math.isnan(value) else f"{value:.4g}")
            else:
                cells.append("" if value is None else str(value))
        table.add_row(*cells)
    return table


@contextmanager
def _progress(description: str) -> Iterator[Any]:
    """A rich progress bar (on stderr) and a ``progress(step, done, total)`` callback."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    bar = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        console=_console(stderr=True),
        transient=True,
    )
    with bar:
        task = bar.add_task(description, total=None)

        def update(step: str, done: int, total: int) -> None:
            bar.update(task, description=step, completed=done, total=max(total, 1))

        yield update


# ---------------------------------------------------------------------------------------
# demo


def _headline(poll: Any, console: Console) -> None:
    """Print the demo's headline figures with 95% intervals and the published values."""
    from barometer.demo.figures import HeadlineTable, headline

    for item in headline(poll):
        if isinstance(item, HeadlineTable):
            console.print(_rich_table(item.frame, title=item.title))
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
        _headline(poll, console)
        written = _publish(poll, out, demo_banners=True)
        console.print("\nWritten: " + ", ".join(str(p) for p in written))


def _publish(poll: Any, out: Path, demo_banners: bool = False) -> list[Path]:
    """Findings (Markdown, JSON), banner workbook and HTML report of a weighted poll."""
    from barometer.publish import write_report
    from barometer.publish.banner.tables import banner, banner_tables, write_xlsx
    from barometer.publish.findings.find import find

    with _progress("publishing") as update:
        update("scanning for findings", 0, 3)
        found = find(poll)
        md, js = found.write(out)
        update("writing banner tables", 1, 3)
        tables = banner_tables(poll, banners=["country"])
        if demo_banners:
            from barometer.demo.figures import DEMO_BANNERS

            tables += [
                banner(poll, q, list(by), where={"country": country})
                for q, by, country in DEMO_BANNERS
            ]
        xlsx = write_xlsx(tables, out / "banners.xlsx")
        update("writing the report", 2, 3)
        html = write_report(poll, out / "report.html", findings=found.headlines(8))
        update("done", 3, 3)
    return [html, md, js, Path(xlsx)]


@app.command()
def report(
    store: StoreOption,
    out: Annotated[Path, typer.Option("--out", help="The HTML file to write.")] = Path(
        "report.html"
    ),
) -> None:
    """Write the self-contained HTML report: findings, a section per question, methodology."""
    with _bad_input():
        from barometer.poll.poll import Poll
        from barometer.publish import write_report
        from barometer.publish.findings import find

        poll = Poll.open(store)
        path = write_report(poll, out, findings=find(poll).headlines(8))
        _console().print(f"Report: {path}")


@app.command()
def findings(
    store: StoreOption,
    out: Annotated[Path, typer.Option("--out", help="Folder for findings.md/.json.")] = Path("."),
    alpha: Annotated[float, typer.Option(help="Significance level after adjustment.")] = 0.05,
    adjust: Annotated[str, typer.Option(help="Multiple-comparison adjustment: holm|bh.")] = "holm",
    min_base: Annotated[int, typer.Option(help="Smallest unweighted base to claim.")] = 100,
    top: Annotated[int, typer.Option(help="How many findings to print.")] = 10,
) -> None:
    """Scan for significant changes and gaps; write findings.md and findings.json."""
    with _bad_input():
        from barometer.poll.poll import Poll
        from barometer.publish.findings import find

        found = find(Poll.open(store), alpha=alpha, adjust=adjust, min_base=min_base)
        md, js = found.write(out)
        console = _console()
        for f in found.headlines(top):
            console.print(f"• {f.sentence}")
        console.print(f"\n{len(found)} findings written to {md} and {js}")


@app.command()
def banners(
    store: StoreOption,
    out: Annotated[Path, typer.Option("--out", help="The workbook to write.")] = Path(
        "banners.xlsx"
    ),
    by: Annotated[str, typer.Option(help="Comma-separated banner variables.")] = "country",
    csv: Annotated[bool, typer.Option("--csv", help="Write CSV instead of xlsx.")] = False,
) -> None:
    """Banner tables of every question with column-proportion letters (xlsx or CSV)."""
    with _bad_input():
        from barometer.poll.poll import Poll
        from barometer.publish.banner.tables import banner_tables, write_csv, write_xlsx

        tables = banner_tables(Poll.open(store), banners=_split(by) or ["country"])
        path = write_csv(tables, out) if csv else write_xlsx(tables, out)
        _console().print(f"Banner tables: {path}")


# ---------------------------------------------------------------------------------------
# init

_STARTER = """\
# A barometer poll specification. Documented in docs/spec.md.
name: My poll
countries:                       # ISO 3166-1 alpha-2 codes; adult population
  - {code: DE, name: Germany, population: 69400000}
  - {code: FR, name: France, population: 52500000}
regions:                         # rule: mean (each country counts equally) | population | median
  - {id: EU, name: European Union, members: [DE, FR], rule: mean}
waves:
  - {id: "2025-11", start: 2025-11-01, end: 2025-11-25}
questions:
  - id: us_relationship
    wording: "Thinking about the United States, which of the following best describes it?"
    levels:
      - {code: ally, label: "An ally that shares our interests and values"}
      - {code: partner, label: "A necessary partner with which we must strategically cooperate"}
      - {code: rival, label: "A rival with which we need to compete"}
      - {code: adversary, label: "An adversary with which we are in conflict"}
      - {code: dont_know, label: "Don't know"}
    non_substantive: [dont_know]
  - id: gender
    kind: weighting
    levels: [{code: female, label: Female}, {code: male, label: Male}]
  - id: age
    kind: weighting
    levels:
      - {code: "18-34", label: "18-34"}
      - {code: "35-54", label: "35-54"}
      - {code: "55+", label: "55+"}
sources:
  - id: de-2025-11
    file: data/de_2025-11.sav    # relative to this file; .sav .dta .csv .parquet
    wave: "2025-11"
    country: DE
    firm: Fieldwork firm
    mode: online panel
    respondent_id: resp_id
    variables:       # question id -> column; source code -> level (null = missing)
      us_relationship:
        column: Q7
        codes: {1: ally, 2: partner, 3: rival, 4: adversary, 8: dont_know, 9: null}
      gender: {column: sex, codes: {1: male, 2: female}}
      age: {column: agegrp, codes: {1: "18-34", 2: "35-54", 3: "55+"}}
  - id: fr-2025-11
    file: data/fr_2025-11.csv
    wave: "2025-11"
    country: FR
    respondent_id: id
    variables:                    # text columns that already hold the level codes need no codes
      us_relationship: {column: us_relationship}
      gender: {column: gender}
      age: {column: age}
targets:            # shares summing to 1 (or population totals); wave: null = every wave
  - country: DE
    wave: null
    margins:
      gender: {female: 0.51, male: 0.49}
      age: {"18-34": 0.25, "35-54": 0.33, "55+": 0.42}
  - country: FR
    wave: null
    margins:
      gender: {female: 0.52, male: 0.48}
      age: {"18-34": 0.26, "35-54": 0.32, "55+": 0.42}
"""


@app.command()
def init(
    path: Annotated[Path, typer.Argument(help="Where to write the spec.")] = Path("spec.yaml"),
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing file.")] = False,
) -> None:
    """Write a starter poll specification (YAML) to edit."""
    if path.exists() and not force:
        typer.echo(f"error: {path} exists; pass --force to overwrite it", err=True)
        raise typer.Exit(1)
    path.write_text(_STARTER, encoding="utf-8")
    typer.echo(f"Wrote {path}. Edit it, then run: barometer ingest {path}")


# ---------------------------------------------------------------------------------------
# ingest, weight


StoreOption = Annotated[Path, typer.Option("--store", help="The poll store (a DuckDB file).")]


@app.command("ingest")
def ingest_command(
    spec: Annotated[Path, typer.Argument(help="The poll spec (YAML).")],
    store: Annotated[
        Path | None,
        typer.Option("--store", help="The store to write (default: poll.duckdb beside SPEC)."),
    ] = None,
) -> None:
    """Read the spec's respondent files, harmonise them and write the store (atomically)."""
    with _bad_input():
        from barometer.poll.ingest import ingest

        target = store if store is not None else spec.parent / "poll.duckdb"
        with _progress("reading the spec") as update:
            report = ingest(spec, target, progress=update)
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


@app.command()
def weight(
    store: StoreOption,
    tol: Annotated[float, typer.Option(help="Raking tolerance on the margins.")] = 1e-8,
    cap: Annotated[
        float | None, typer.Option(help="Largest weight, as a multiple of the mean weight.")
    ] = None,
) -> None:
    """Rake every country × wave to its targets; store the weights and diagnostics."""
    with _bad_input():
        from barometer.poll.poll import Poll

        poll = Poll.open(store)
        with _progress("weighting") as update:
            update("weighting (raking every country × wave)", 0, 1)
            diagnostics = poll.weight(tol=tol, cap=cap)
        _console().print(_rich_table(diagnostics, title=f"Weights stored in {store}"))


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
    level: Annotated[float, typer.Option(help="Confidence level of the intervals.")] = 0.95,
) -> None:
    """Weighted shares of every level of QUESTION with their intervals (95% by default)."""
    with _bad_input():
        from barometer.poll.poll import Poll

        poll = Poll.open(store)
        est = poll.estimate(
            question,
            by=_split(by) or [],
            region=region,
            countries=_split(countries),
            waves=_split(waves),
            like_for_like=like_for_like,
            weights=weights.value,
            ci=ci,  # type: ignore[arg-type]  # checked by the core
            level=level,
        )
        frame = est.to_polars()
        if format is OutputFormat.json:
            typer.echo(json.dumps(_records(frame), indent=2, default=str))
        elif format is OutputFormat.csv:
            import polars as pl

            if "countries" in frame.columns:
                frame = frame.with_columns(pl.col("countries").list.join(";"))
            sys.stdout.write(frame.write_csv())
        else:
            console = _console()
            title = f"{question} (shares in %, {100 * level:g}% intervals)"
            console.print(_rich_table(frame, title=title))
            for note in est.notes:
                console.print(f"note: {note}")


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
        console.print(f"[bold]{spec.name}[/bold] — {poll.path}")
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
        bases = poll.bases().pivot(on="wave", index="country", values="n")
        console.print(_rich_table(bases, title="Respondents by country × wave"))
        questions = pl.DataFrame(
            {
                "question": [q.id for q in spec.questions],
                "kind": [q.kind for q in spec.questions],
                "levels": [", ".join(q.level_codes) for q in spec.questions],
            }
        )
        console.print(_rich_table(questions, title="Questionnaire"))
        for region in spec.regions:
            console.print(f"Region {region.id} ({region.rule}): {', '.join(region.members)}")
        if poll.weighted:
            settings = poll.weight_settings()
            console.print(_rich_table(poll.diagnostics(), title=f"Weights ({settings})"))
        else:
            console.print(f"Not weighted: run `barometer weight --store {store}`.")


@app.callback()
def _main() -> None:
    """barometer: from respondent files to published findings."""
