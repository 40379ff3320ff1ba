"""The ``barometer`` command."""

from __future__ import annotations

import typer

app = typer.Typer(help="barometer: multi-country public-opinion polls.", no_args_is_help=True)


@app.callback()
def _main() -> None:
    """barometer: from respondent files to published findings."""


@app.command()
def demo() -> None:
    """Run a short worked example on R survey's stratified `apistrat` sample."""
    from importlib.resources import files

    import polars as pl

    import barometer as bm

    api = pl.read_csv(files("barometer").joinpath("data/apistrat.csv").read_bytes())
    d = bm.Design(api, weights="pw", strata="stype", fpc="fpc")
    typer.echo("Stratified sample of 200 California schools (R survey's apistrat):")
    typer.echo(d.mean("api00").to_polars())
    typer.echo(d.proportion("awards", by="stype").to_polars())
