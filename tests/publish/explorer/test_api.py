"""The JSON API: the CLI's numbers, 4xx on unknown input, escaped labels, safe headers,
static files without traversal, and a schemathesis run over its OpenAPI schema.

Tolerance: EXACT = 0 — the API and ``barometer estimate`` print the same core figures.
"""

from __future__ import annotations

import json
import re

import polars as pl
import pytest
from starlette.testclient import TestClient
from typer.testing import CliRunner

from barometer.cli import app as cli
from barometer.publish.explorer.api import CSP, create_app
from tests.publish.explorer.conftest import COMMENT, IMG, SCRIPT

Q = "us_relationship"
COUNTRIES = "DE,FR,IT,PL"


@pytest.fixture(scope="module")
def client(explorer) -> TestClient:
    return TestClient(create_app(explorer.cube))


def _cli_rows(store, *args: str) -> list[dict]:
    result = CliRunner().invoke(
        cli, ["estimate", Q, "--store", str(store), "--format", "json", *args]
    )
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def _api_rows(client: TestClient, **params: str) -> list[dict]:
    r = client.get("/api/estimates", params={"question": Q, **params})
    assert r.status_code == 200, r.text
    return r.json()["rows"]


@pytest.mark.parametrize(
    ("cli_args", "params", "level_of"),
    [
        ((), {"countries": COUNTRIES}, None),
        (("--by", "country,wave,age"), {"by": "age", "countries": COUNTRIES}, "age"),
        (("--by", "country,wave,gender"), {"by": "gender", "countries": COUNTRIES}, "gender"),
        (("--region", "EU", "--each-wave"), {"countries": "EU"}, None),
        (
            ("--region", "EUP", "--each-wave", "--by", "country,wave,age"),
            {"countries": "EUP", "by": "age"},
            "age",
        ),
    ],
    ids=["country-wave", "age", "gender", "region", "region-age"],
)
def test_numbers_equal_the_cli(explorer, client, cli_args, params, level_of) -> None:
    api = _api_rows(client, **params)
    cli_rows = _cli_rows(explorer.store, *cli_args)
    want = {
        (r["scope"], r["wave"], r.get(level_of) if level_of else None, r["level"]): r
        for r in cli_rows
    }
    shown = [r for r in api if r["estimate"] is not None]
    assert shown, "nothing to compare"
    for row in shown:
        other = want[(row["scope"], row["wave"], row["breakdown_level"], row["level"])]
        for c in ("estimate", "se", "ci_low", "ci_high", "n"):
            assert row[c] == other[c], (row["scope"], row["wave"], c)
        assert row["members"] == other["members"]
        assert row["flagged"] == other["flagged"]
    # a cell the CLI suppresses is suppressed in the API too (the API may hide more)
    for row in api:
        other = want[(row["scope"], row["wave"], row["breakdown_level"], row["level"])]
        if other["suppressed"]:
            assert row["suppressed"] and row["estimate"] is None


def test_filters_select_scopes_and_waves(client) -> None:
    rows = _api_rows(client, countries="EU,DE", waves="2025-11")
    assert {r["scope"] for r in rows} == {"DE", "EU"}
    assert {r["wave"] for r in rows} == {"2025-11"}
    assert rows[0]["scope"] == "DE"  # countries first, in spec order


@pytest.mark.parametrize(
    ("params", "parameter", "word"),
    [
        ({"question": "us_relatonship"}, "question", "us_relationship"),
        ({"question": Q, "countries": "DE,XX"}, "countries", "XX"),
        ({"question": Q, "waves": "2023-01"}, "waves", "2023-01"),
        ({"question": Q, "by": "educaton"}, "by", "educaton"),
        ({"question": Q, "by": "us_relationship"}, "by", "declared breakdowns: age, gender"),
        ({"question": Q, "format": "csv"}, "format", "parameters: question"),
        ({}, "question", "required"),
        ({"question": Q, "countries": ",".join(["DE"] * 65)}, "countries", "at most 64"),
    ],
)
def test_unknown_inputs_get_a_400_naming_them(client, params, parameter, word) -> None:
    r = client.get("/api/estimates", params=params)
    assert r.status_code == 400
    err = r.json()["error"]
    assert err["parameter"] == parameter
    assert word in err["message"]


def test_bounds_and_methods(client) -> None:
    r = client.get("/api/estimates?question=" + "x" * 3000)
    assert r.status_code == 400 and "longer than" in r.json()["error"]["message"]
    r = client.get(f"/api/estimates?question={Q}&question={Q}")
    assert r.status_code == 400 and "more than once" in r.json()["error"]["message"]
    r = client.post("/api/estimates", params={"question": Q})
    assert r.status_code == 405 and r.headers["content-type"] == "application/json"


def test_questions_and_methodology(explorer, client) -> None:
    body = client.get("/api/questions").json()
    q = body["questions"][0]
    assert q["id"] == Q and q["breakdowns"] == ["age", "gender"]
    assert q["levels"][0] == {"code": "ally", "label": "An ally"}
    assert q["asked"]["2025-11"] == ["DE", "FR", "IT"]
    assert {s["id"] for s in body["scopes"]} == {"DE", "FR", "IT", "PL", "EU", "EUP"}
    m = client.get("/api/methodology").json()
    assert m["rules"]["suppress_below"] == 140
    assert "Taylor-linearised" in m["margins"] and "secondary" in m["suppression"]
    assert {f["country"] for f in m["fieldwork"]} == {"DE", "FR", "IT", "PL"}


def test_no_endpoint_returns_respondents_or_weights(client) -> None:
    texts = [
        client.get(u).text
        for u in ("/api/questions", "/api/methodology", f"/api/estimates?question={Q}&by=age")
    ]
    for text in texts:
        for word in ("respondent_id", "base_weighted", '"weight"', "sha256"):
            assert word not in text


def test_labels_come_back_escaped(client) -> None:
    for url in ("/api/questions", f"/api/estimates?question={Q}"):
        raw = client.get(url).text
        for payload in ("</script", "<script", "<!--", "<img"):
            assert payload not in raw, (url, payload)
        assert "\\u003c/script\\u003e" in raw or url.startswith("/api/estimates")
    body = client.get("/api/questions").json()  # the data itself is unchanged
    assert body["questions"][0]["wording"].endswith(SCRIPT + COMMENT)
    assert body["questions"][0]["levels"][1]["label"].endswith(IMG)
    assert body["scopes"][0]["name"] == f"Germany {SCRIPT}"


def test_every_response_has_the_security_headers(client) -> None:
    for url in ("/", "/api/questions", "/api/estimates?question=nope", "/nothing"):
        r = client.get(url)
        assert r.headers["content-security-policy"] == CSP
        assert r.headers["x-content-type-options"] == "nosniff"
    assert "unsafe-inline" not in CSP and "script-src 'self'" in CSP


@pytest.mark.parametrize(
    "path",
    [
        "/static/../api.py",
        "/static/%2e%2e/api.py",
        "/static/..%2fapi.py",
        "/static/%2e%2e%2f%2e%2e%2fcube.py",
        "/static/",
        "/static",
        "/static//etc/passwd",
        "/static/index.html/",
    ],
)
def test_static_files_have_no_traversal_or_listing(client, path) -> None:
    r = client.get(path)
    assert r.status_code == 404
    assert "import" not in r.text and "<li>" not in r.text


def test_static_pages_are_served(client) -> None:
    r = client.get("/")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    # No inline script runs: each script element loads a file or is JSON data.
    scripts = re.findall(r"<script([^>]*)>(.*?)</script>", r.text, re.S)
    assert len(scripts) == 3
    for attrs, body in scripts:
        assert ("src=" in attrs and not body.strip()) or 'type="application/json"' in attrs
    for name in ("explorer.css", "explorer.js"):
        assert client.get(f"/static/{name}").status_code == 200


@pytest.mark.parametrize("mode", ["positive", "negative"])
def test_schemathesis_finds_no_server_error(client, mode) -> None:
    """Schema-valid requests are answered as the schema says; schema-invalid ones get
    a 4xx; none gets a 5xx (40 examples per operation and mode, derandomised)."""
    import schemathesis
    from hypothesis import HealthCheck, given, settings
    from schemathesis.generation.modes import GenerationMode

    schema = schemathesis.openapi.from_asgi("/api/openapi.json", client.app)
    for result in schema.get_all_operations():
        operation = result.ok()

        @given(case=operation.as_strategy(GenerationMode(mode)))
        @settings(
            max_examples=40, deadline=None, database=None, derandomize=True,
            suppress_health_check=list(HealthCheck),
        )  # fmt: skip
        def check(case) -> None:
            response = case.call_and_validate()
            assert response.status_code < 500

        if mode == "negative" and not operation.query:
            continue  # nothing to make invalid
        check()


def test_schema_names_every_row_column(client) -> None:
    from barometer.publish.explorer.cube import ROW_COLUMNS

    schema = client.get("/api/openapi.json").json()
    row = schema["paths"]["/api/estimates"]["get"]["responses"]["200"]["content"][
        "application/json"
    ]["schema"]["properties"]["rows"]["items"]
    assert tuple(row["required"]) == ROW_COLUMNS
    assert pl.Series(list(row["properties"])).to_list() == list(ROW_COLUMNS)


def test_a_set_is_asked_for_by_its_parts(explorer) -> None:
    """A multiple-response question's own id holds no rows: a 400 names its parts."""
    from dataclasses import replace

    parts = (("a", "A", Q),)
    info = replace(explorer.cube.questions[0], id="allies", kind="multiple", parts=parts)
    cube = replace(explorer.cube, questions=(*explorer.cube.questions, info))
    client = TestClient(create_app(cube))
    r = client.get("/api/estimates", params={"question": "allies"})
    assert r.status_code == 400
    assert f"ask for its parts: {Q}" in r.json()["error"]["message"]
    # the schema documents that 400: the set's id is no value of `question`, the
    # parameter and the 400 say why, and the body is the documented error
    import jsonschema

    get = client.get("/api/openapi.json").json()["paths"]["/api/estimates"]["get"]
    question = next(p for p in get["parameters"] if p["name"] == "question")
    assert Q in question["schema"]["enum"] and "allies" not in question["schema"]["enum"]
    assert "naming its parts" in question["description"]
    refused = get["responses"]["400"]
    assert "multiple-response question or grid (allies)" in refused["description"]
    jsonschema.validate(r.json(), refused["content"]["application/json"]["schema"])
    plain = TestClient(create_app(explorer.cube)).get("/api/openapi.json").json()
    assert "grid" not in plain["paths"]["/api/estimates"]["get"]["responses"]["400"]["description"]
