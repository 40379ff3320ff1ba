"""Ingest of .sav, .dta, .csv and .parquet files, good and broken (barometer.poll.ingest)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import polars as pl
import pyreadstat
import pytest

from barometer.errors import IngestError
from barometer.poll.ingest import ingest
from barometer.poll.store import Store
from tests.support.pollkit import edit_spec, make_poll, sample, snapshot, write_sav


@pytest.fixture
def poll_dir(tmp_path: Path) -> Path:
    make_poll(tmp_path, n=120, refused=5)
    return tmp_path


def _ingest(root: Path):
    return ingest(root / "spec.yaml", root / "poll.duckdb")


def test_every_format_is_harmonised(poll_dir: Path) -> None:
    report = _ingest(poll_dir)
    first = [f"{c}-2024-11" for c in ("de", "fr", "it", "pl")]
    second = [f"{c}-2025-11" for c in ("de", "fr", "it")]
    assert sorted(report.added) == sorted([*first, *second])
    assert report.respondents == 7 * 120
    store = Store(poll_dir / "poll.duckdb")
    resp = store.respondents(["source_id", "country", "us_relationship", "gender", "age"])
    assert set(resp["us_relationship"].drop_nulls()) == {"ally", "partner", "dont_know"}
    assert set(resp["gender"]) == {"female", "male"} and set(resp["age"]) == {"young", "old"}
    # the .sav's code 8 is "dont_know"; compare with the file read directly
    raw, _ = pyreadstat.read_sav(str(poll_dir / "data/de_202411.sav"), user_missing=True)
    de = resp.filter(pl.col("source_id") == "de-2024-11")
    assert (de["us_relationship"] == "dont_know").sum() == int((raw["q7"] == 8).sum())
    assert (de["us_relationship"] == "ally").sum() == int((raw["q7"] == 1).sum())


def test_user_missing_codes_become_missing_and_are_counted(poll_dir: Path) -> None:
    _ingest(poll_dir)
    store = Store(poll_dir / "poll.duckdb")
    cols = store.query(
        "SELECT * FROM source_columns WHERE source_id = 'de-2024-11' "
        "AND question = 'us_relationship'"
    ).row(0, named=True)
    assert cols["n_user_missing"] == 5 and cols["n_missing"] == 5
    assert cols["column_name"] == "q7" and cols["variable_label"] == "Is the US an ally?"
    assert '"9": "Refused"' in cols["value_labels"]


def test_same_files_again_change_nothing(poll_dir: Path) -> None:
    _ingest(poll_dir)
    before = snapshot(poll_dir / "poll.duckdb")
    report = _ingest(poll_dir)
    assert not report.changed and report.added == [] and len(report.unchanged) == 7
    assert snapshot(poll_dir / "poll.duckdb") == before


def test_corrected_file_replaces_its_rows(poll_dir: Path) -> None:
    _ingest(poll_dir)
    store = Store(poll_dir / "poll.duckdb")
    before = store.query("SELECT * FROM sources WHERE id = 'it-2024-11'").row(0, named=True)
    fixed = sample("DE", "2024-11", 80, seed=99)
    write_sav(fixed, poll_dir / "data/de_202411.sav")
    report = _ingest(poll_dir)
    assert report.replaced == ["de-2024-11"] and len(report.unchanged) == 6
    counts = dict(store.query("SELECT source_id, count(*) FROM respondents GROUP BY 1").rows())
    assert counts["de-2024-11"] == 80 and counts["fr-2024-11"] == 120
    after = store.query("SELECT * FROM sources WHERE id = 'it-2024-11'").row(0, named=True)
    assert after == before  # untouched sources keep their ingest time


def test_changed_mapping_reloads_the_source(poll_dir: Path) -> None:
    _ingest(poll_dir)

    def remap(spec: dict) -> None:
        spec["sources"][0]["variables"]["us_relationship"]["codes"][8] = None

    edit_spec(poll_dir / "spec.yaml", remap)
    report = _ingest(poll_dir)
    assert report.replaced == ["de-2024-11"]
    de = Store(poll_dir / "poll.duckdb").respondents(["source_id", "us_relationship"])
    de = de.filter(pl.col("source_id") == "de-2024-11")
    assert "dont_know" not in set(de["us_relationship"].drop_nulls())


def test_source_dropped_from_spec_is_removed(poll_dir: Path) -> None:
    _ingest(poll_dir)
    edit_spec(poll_dir / "spec.yaml", lambda s: s["sources"].pop(3))  # pl-2024-11
    report = _ingest(poll_dir)
    assert report.removed == ["pl-2024-11"]
    store = Store(poll_dir / "poll.duckdb")
    assert store.respondent_count() == 6 * 120
    # the source ids' ENUM no longer lists it, and no row lost its id on the way
    (held,) = store.query(
        "SELECT data_type FROM information_schema.columns "
        "WHERE table_name = 'respondents' AND column_name = 'source_id'"
    ).row(0)
    assert "'pl-2024-11'" not in held and "'de-2024-11'" in held
    assert store.query("SELECT count(*) AS n FROM respondents WHERE source_id IS NULL")["n"][0] == 0


# ---------------------------------------------------------------------------------------
# Broken files: one clear IngestError and the store as it was.


def _assert_refused(root: Path, *fragments: str) -> str:
    store = root / "poll.duckdb"
    before = snapshot(store) if store.exists() else None
    with pytest.raises(IngestError) as err:
        _ingest(root)
    text = str(err.value)
    for fragment in fragments:
        assert fragment in text, text
    assert "nothing was ingested" in text
    if before is None:
        assert not store.exists()
    else:
        assert snapshot(store) == before
    return text


def test_unmapped_code_names_file_column_code_and_count(poll_dir: Path) -> None:
    _ingest(poll_dir)
    df = sample("DE", "2025-11", 120, seed=3)
    df.loc[df.index[:7], "q7"] = 7.0
    write_sav(df, poll_dir / "data/de_202511.sav")
    _assert_refused(
        poll_dir,
        "de_202511.sav",
        "column 'q7' (us_relationship)",
        "7 (7 respondents)",
        "sources[4].variables.us_relationship.codes",
    )


def test_unmapped_code_in_a_new_store_writes_no_file(poll_dir: Path) -> None:
    df = sample("IT", "2024-11", 50, seed=3)
    df.loc[df.index[:2], "sex"] = 3.0
    pyreadstat.write_dta(df, str(poll_dir / "data/it_202411.dta"))
    _assert_refused(poll_dir, "it_202411.dta", "column 'sex' (gender)", "3 (2 respondents)")


def test_duplicate_respondent_ids(poll_dir: Path) -> None:
    df = sample("DE", "2024-11", 50, seed=3)
    df.loc[df.index[1:4], "resp_id"] = 1.0
    write_sav(df, poll_dir / "data/de_202411.sav")
    _assert_refused(poll_dir, "de_202411.sav", "1 duplicate respondent id(s) shared by 4 rows")


def test_missing_column_suggests_the_closest(poll_dir: Path) -> None:
    edit_spec(
        poll_dir / "spec.yaml",
        lambda s: s["sources"][1]["variables"]["age"].update(column="agee"),
    )
    _assert_refused(poll_dir, "fr_202411.csv", "column 'agee' is not in the file", "'age'")


def test_country_not_in_spec(poll_dir: Path) -> None:
    df = sample("DE", "2024-11", 40, seed=3)
    df["cntry"] = ["DE"] * 30 + ["XX"] * 10
    pl.from_pandas(df).write_parquet(poll_dir / "data/mixed.parquet")

    def add(spec: dict) -> None:
        src = dict(spec["sources"][0])
        src.update(id="mixed", file="data/mixed.parquet", country_column="cntry")
        del src["country"]
        spec["sources"].append(src)

    edit_spec(poll_dir / "spec.yaml", add)
    _assert_refused(poll_dir, "mixed.parquet", "country column 'cntry'", "XX (10 respondents)")


@pytest.mark.parametrize("name", ["de_202411.sav", "pl_202411.parquet", "it_202411.dta"])
def test_truncated_file(poll_dir: Path, name: str) -> None:
    path = poll_dir / "data" / name
    blob = path.read_bytes()
    path.write_bytes(blob[: len(blob) * 2 // 3])
    _assert_refused(poll_dir, name, "truncated or corrupt")


def test_wrong_types(poll_dir: Path) -> None:
    # a text weight column, and a text answer column in a file mapped with numbers
    df = sample("DE", "2024-11", 30, seed=3)
    df["w"] = "heavy"
    df["q7"] = df["q7"].astype(int).astype(str)
    df.loc[df.index[:4], "q7"] = "x"
    pl.from_pandas(df).write_csv(poll_dir / "data/de.csv")

    def point(spec: dict) -> None:
        spec["sources"][0].update(file="data/de.csv", weight="w")

    edit_spec(poll_dir / "spec.yaml", point)
    _assert_refused(
        poll_dir,
        "weight column 'w' has type String; expected numbers",
        "x (4 respondents)",
        "the column holds text but the mapping's codes are numbers",
    )


def test_numbers_where_text_codes_are_mapped(poll_dir: Path) -> None:
    df = pl.DataFrame({"rid": [1, 2, 3], "q": [1, 2, 1], "g": ["M", "F", "F"], "a": [1, 2, 1]})
    df.write_parquet(poll_dir / "data/pl_202411.parquet")
    _assert_refused(
        poll_dir,
        "column 'q' (us_relationship): 2 code(s) not in the mapping, 3 respondent(s)",
        "the column holds numbers but the mapping's codes are text",
    )


def test_boolean_column_is_refused(poll_dir: Path) -> None:
    df = pl.DataFrame({"rid": [1, 2], "q": [True, False], "g": ["M", "F"], "a": [1, 2]})
    df.write_parquet(poll_dir / "data/pl_202411.parquet")
    _assert_refused(poll_dir, "column 'q' (us_relationship) has type Boolean")


def test_missing_file(poll_dir: Path) -> None:
    (poll_dir / "data/fr_202511.csv").unlink()
    with pytest.raises(IngestError, match=r"sources\[5\].*fr_202511.csv' does not exist"):
        _ingest(poll_dir)


def test_problems_of_all_files_are_listed_together(poll_dir: Path) -> None:
    df = sample("DE", "2024-11", 30, seed=3)
    df.loc[df.index[:2], "q7"] = 5.0
    write_sav(df, poll_dir / "data/de_202411.sav")
    df = sample("IT", "2024-11", 30, seed=3)
    df.loc[df.index[:1], "resp_id"] = 2.0
    pyreadstat.write_dta(df, str(poll_dir / "data/it_202411.dta"))
    text = _assert_refused(poll_dir, "2 file(s) have problems", "de_202411.sav", "it_202411.dta")
    assert "5 (2 respondents)" in text


def test_base_weights_strata_psu_and_country_codes(tmp_path: Path) -> None:
    make_poll(tmp_path, n=40)
    df = pd.DataFrame(
        {
            # ids not used by the DE and FR sources of the same wave (issue 13 refuses a
            # respondent stored twice)
            "id": [9001.0, 9002.0, 9003.0, 9004.0],
            "land": [276.0, 276.0, 250.0, 250.0],
            "q7": [1.0, 2.0, 8.0, 1.0],
            "sex": [1.0, 2.0, 1.0, 2.0],
            "agegrp": [1.0, 2.0, 2.0, 1.0],
            "dw": [0.5, 1.5, 1.0, 1.0],
            "reg": ["n", "s", "n", "s"],
        }
    )
    pyreadstat.write_sav(df, str(tmp_path / "data/multi.sav"))

    def add(spec: dict) -> None:
        src = dict(spec["sources"][0])
        del src["country"]
        src.update(
            id="multi",
            file="data/multi.sav",
            respondent_id="id",
            country_column="land",
            country_codes={276: "DE", 250: "FR"},
            weight="dw",
            strata="reg",
            psu="id",
        )
        spec["sources"].append(src)

    edit_spec(tmp_path / "spec.yaml", add)
    _ingest(tmp_path)
    rows = Store(tmp_path / "poll.duckdb").respondents(
        ["source_id", "respondent_id", "country", "base_weight", "strata", "psu"]
    )
    multi = rows.filter(pl.col("source_id") == "multi")
    assert multi["country"].to_list() == ["DE", "DE", "FR", "FR"]
    assert multi["base_weight"].to_list() == [0.5, 1.5, 1.0, 1.0]
    assert multi["strata"].to_list() == ["n", "s", "n", "s"]
    assert multi["respondent_id"].to_list() == ["9001", "9002", "9003", "9004"]


def test_respondents_as_parquet_partitions(poll_dir: Path) -> None:
    """ingest(partitions=...) writes country x wave partitions that a DuckDB design reads
    where they lie, with the in-memory design's estimates."""
    import barometer as bm

    parts = poll_dir / "respondents"
    ingest(poll_dir / "spec.yaml", poll_dir / "poll.duckdb", partitions=parts)
    assert (parts / "DE" / "2024-11" / "respondents.parquet").is_file()
    assert len(list(parts.glob("*/*/*.parquet"))) == 7
    store = Store(poll_dir / "poll.duckdb")
    memory = store.respondents(["country", "wave", "base_weight", "us_relationship"])
    engine = bm.Design(str(parts / "*" / "*" / "*.parquet"), weights="base_weight")
    a = bm.Design(memory, weights="base_weight").proportion("us_relationship", by="country")
    b = engine.proportion("us_relationship", by="country")
    assert (
        a.to_polars()
        .select("country", "level", "n")
        .equals(b.to_polars().select("country", "level", "n"))
    )
    for col in ("estimate", "se"):
        assert (a.to_polars()[col] - b.to_polars()[col]).abs().max() < 1e-12
    # written again over its own folder; a foreign folder is refused
    ingest(poll_dir / "spec.yaml", poll_dir / "poll.duckdb", partitions=parts)
    assert len(list(parts.glob("*/*/*.parquet"))) == 7
    from barometer.poll import partitions

    (poll_dir / "mine").mkdir()
    with pytest.raises(Exception, match="was not written by barometer"):
        partitions.write(store, poll_dir / "mine")
