"""Deterministic generator of the benchmark poll.

A multi-country, two-wave poll shaped like the one barometer is built for:

* 12 countries x 2 waves; each country-wave is its own stratified cluster sample with
  4-6 strata and 35-45 PSUs per stratum (ids unique across the file, so ``nest`` does
  not matter);
* 20 categorical questions ``q01..q20`` with 3-5 levels stored as **integer codes**
  ``1..k`` with ~3% missing (null). Integer codes are what a poll's ``.sav`` files carry
  (numeric codes with value labels); every tool gets them in its own natural categorical
  form at load time, outside the timings: R a ``factor``, svy and barometer the integer
  column (both treat the variable of ``prop``/``proportion`` as categorical);
* raking variables ``age`` (5), ``gender`` (2), ``education`` (3), ``region`` (5) as
  string labels, drawn with the skews of an online panel (too young, too educated) from
  per-country population shares that are multiples of 0.001;
* base weights ``w`` (stratum design weight x a respondent-level non-response factor);
* an indicator ``ind`` (0/1, no missing) and 80 successive-difference (SDR) replicate
  weight columns ``rw01..rw80`` (full replicate weights, ACS-style factors
  ``1 + 2^-1.5 (h_a - h_b)`` from a Hadamard matrix over units in sample order), stored
  in a separate file because only the replicate benchmark reads them.

Rows are shuffled, so no tool can rely on sorted input.

Files written into ``--out`` (default ``benchmarks/_data``), ``{n}`` the row count:

* ``poll_{n}.parquet`` and ``poll_{n}.csv`` (for R): all columns but the replicates;
* ``poll_{n}_rep.parquet``: ``country``, ``w``, ``ind``, ``rw01..rw80``;
* ``targets_{n}.json``: per-country raking totals ``{country: {var: {level: total}}}``
  and the list of question columns.

Usage: ``python benchmarks/data.py --n 100000`` (the recorded run uses 1,000,000).
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
from scipy.linalg import hadamard

SEED = 20261124
DATA_DIR = Path(__file__).resolve().parent / "_data"
COUNTRIES = ["BG", "DE", "DK", "EE", "ES", "FR", "GB", "HU", "IT", "KR", "PL", "PT"]
WAVES = ["2024-11", "2025-11"]
N_QUESTIONS = 20
MISSING_RATE = 0.03
N_REPLICATES = 80
RAKING = {
    "age": ["18-29", "30-44", "45-59", "60-69", "70+"],
    "gender": ["female", "male"],
    "education": ["low", "mid", "high"],
    "region": ["R1", "R2", "R3", "R4", "R5"],
}
# Online-panel skew: sample odds relative to the population, per level.
TILT = {
    "age": [1.8, 1.4, 1.0, 0.7, 0.4],
    "gender": [0.9, 1.1],
    "education": [0.5, 1.0, 1.9],
    "region": None,  # random per country
}
QUESTIONS = [f"q{i:02d}" for i in range(1, N_QUESTIONS + 1)]
REPLICATES = [f"rw{i:02d}" for i in range(1, N_REPLICATES + 1)]


def paths(n: int, out: Path = DATA_DIR) -> dict[str, Path]:
    """The files written for a poll of ``n`` respondents."""
    return {
        "parquet": out / f"poll_{n}.parquet",
        "csv": out / f"poll_{n}.csv",
        "rep": out / f"poll_{n}_rep.parquet",
        "targets": out / f"targets_{n}.json",
    }


def _draw(rng: np.random.Generator, probs: np.ndarray, group: np.ndarray) -> np.ndarray:
    """Draw one category (0-based) per row from ``probs[group[row]]`` by inverse CDF."""
    cum = np.cumsum(probs, axis=1)
    cum[:, -1] = 1.0
    u = rng.random(group.size)
    return (u[:, None] > cum[group]).sum(axis=1).astype(np.int8)


def _shares_in_thousandths(rng: np.random.Generator, k: int) -> np.ndarray:
    """Population shares of ``k`` levels, integers in thousandths summing to 1000."""
    p = rng.dirichlet(np.full(k, 8.0))
    t = np.floor(p * 1000).astype(np.int64)
    t[np.argmax(p * 1000 - t)] += 1000 - t.sum()
    return t


def _sizes(rng: np.random.Generator, n: int, k: int) -> np.ndarray:
    """Split ``n`` rows into ``k`` groups of roughly equal size (+-20%)."""
    p = rng.uniform(0.8, 1.2, k)
    s = np.floor(p / p.sum() * n).astype(np.int64)
    s[: n - s.sum()] += 1
    return s


def generate(n: int, seed: int = SEED) -> tuple[pa.Table, pa.Table, dict]:
    """Generate the poll: (main table, replicate table, targets)."""
    rng = np.random.default_rng(seed)
    n_cw = len(COUNTRIES) * len(WAVES)
    cw = np.repeat(np.arange(n_cw), _sizes(rng, n, n_cw))
    country = cw // len(WAVES)

    # design: strata within country-wave, PSUs within strata, globally unique ids
    n_strata = rng.integers(4, 7, n_cw)
    strata_start = np.concatenate([[0], np.cumsum(n_strata)])
    stratum = strata_start[cw] + np.floor(rng.random(n) * n_strata[cw]).astype(np.int64)
    n_psu = rng.integers(35, 46, strata_start[-1])
    psu_start = np.concatenate([[0], np.cumsum(n_psu)])
    psu = psu_start[stratum] + np.floor(rng.random(n) * n_psu[stratum]).astype(np.int64)
    order = np.lexsort((psu, stratum, cw))  # sample order, for the SDR replicates
    cw, country, stratum, psu = cw[order], country[order], stratum[order], psu[order]
    stratum_weight = rng.lognormal(np.log(1500.0), 0.35, strata_start[-1])
    w = stratum_weight[stratum] * rng.lognormal(0.0, 0.25, n)

    cols: dict[str, np.ndarray] = {}
    targets: dict[str, dict[str, dict[str, float]]] = {c: {} for c in COUNTRIES}
    population = rng.integers(1_000, 60_000, len(COUNTRIES)) * 1000
    for var, levels in RAKING.items():
        k = len(levels)
        pop = np.stack([_shares_in_thousandths(rng, k) for _ in COUNTRIES])
        tilt = np.asarray(TILT[var]) if TILT[var] is not None else None
        odds = pop * (tilt if tilt is not None else rng.lognormal(0, 0.4, (len(COUNTRIES), k)))
        code = _draw(rng, odds / odds.sum(axis=1, keepdims=True), country)
        cols[var] = np.asarray(levels, dtype=object)[code]
        for ci, c in enumerate(COUNTRIES):
            share = pop[ci]
            targets[c][var] = {
                lv: float(share[j] * population[ci] // 1000) for j, lv in enumerate(levels)
            }

    questions: dict[str, pa.Array] = {}
    for q in QUESTIONS:
        k = int(rng.integers(3, 6))
        probs = rng.dirichlet(np.full(k, 2.0), n_cw)
        code = _draw(rng, probs, cw) + 1
        missing = rng.random(n) < MISSING_RATE
        questions[q] = pa.array(code, type=pa.int8(), mask=missing)

    ind = (rng.random(n) < rng.uniform(0.2, 0.6, len(COUNTRIES))[country]).astype(np.float64)

    # SDR replicates: unit i in sample order uses Hadamard rows (i, i+1) mod 128
    h = hadamard(128)[:, 1 : N_REPLICATES + 1].astype(np.float64)
    row = np.arange(n) % 128
    factors = 1.0 + 2.0**-1.5 * (h[row] - h[(row + 1) % 128])

    shuffle = rng.permutation(n)
    country_s = np.asarray(COUNTRIES, dtype=object)[country]
    wave_s = np.asarray(WAVES, dtype=object)[cw % len(WAVES)]
    main = pa.table(
        {
            "id": pa.array(np.arange(n)[shuffle]),
            "country": pa.array(country_s[shuffle], type=pa.string()),
            "wave": pa.array(wave_s[shuffle], type=pa.string()),
            "stratum": pa.array(stratum[shuffle]),
            "psu": pa.array(psu[shuffle]),
            "w": pa.array(w[shuffle]),
            **{v: pa.array(cols[v][shuffle], type=pa.string()) for v in RAKING},
            **{q: a.take(pa.array(shuffle)) for q, a in questions.items()},
            "ind": pa.array(ind[shuffle]),
        }
    )
    rep_w = w[:, None] * factors
    rep = pa.table(
        {
            "country": main.column("country"),
            "w": main.column("w"),
            "ind": main.column("ind"),
            **{r: pa.array(rep_w[shuffle, j]) for j, r in enumerate(REPLICATES)},
        }
    )
    meta = {"targets": targets, "questions": QUESTIONS, "n": n, "seed": seed}
    return main, rep, meta


def write(n: int, seed: int = SEED, out: Path = DATA_DIR) -> dict[str, Path]:
    """Generate and write the poll's files; returns their paths."""
    out.mkdir(parents=True, exist_ok=True)
    p = paths(n, out)
    main, rep, meta = generate(n, seed)
    pq.write_table(main, p["parquet"])
    pacsv.write_csv(main, p["csv"])
    pq.write_table(rep, p["rep"])
    p["targets"].write_text(json.dumps(meta, indent=1))
    return p


def ensure(n: int, seed: int = SEED, out: Path = DATA_DIR) -> dict[str, Path]:
    """The poll's files, generated first if any is missing."""
    p = paths(n, out)
    if all(f.exists() for f in p.values()):
        return p
    return write(n, seed, out)


# ---------------------------------------------------------------------------------------
# The poll benchmarks (bench_publish, bench_numeric, bench_sets): Parquet sources per
# country x wave and a spec, ingested through the public path.

POLL_COUNTRIES = ["AT", "BE", "DE", "DK", "ES", "FR", "IT", "NL", "PL", "SE", "GB", "US"]
POLL_EU = POLL_COUNTRIES[:10]


@dataclass(frozen=True)
class PollShape:
    """What a poll benchmark's respondents answer; :func:`write_poll` writes the rest.

    ``answers(rng, per, country_index, wave_index, cols)`` adds one country-wave's answer
    columns to ``cols`` (which holds ``rid`` and the raking columns) and returns their
    ``variables`` entries; ``questions`` are their spec entries. ``margins`` gives a
    country's raking targets (default: shares drawn around equal ones); ``skewed`` draws
    the raking columns with an online panel's skew, else uniformly.
    """

    name: str
    raking: dict[str, list[str]]
    questions: list[dict[str, Any]]
    answers: Callable[[np.random.Generator, int, int, int, dict[str, Any]], dict[str, Any]]
    margins: Callable[[np.random.Generator], dict[str, dict[str, float]]] | None = None
    skewed: bool = True
    region: str = "EU members"
    source: dict[str, str] = field(default_factory=dict)


def _drawn_margins(rng: np.random.Generator, raking: dict[str, list[str]]) -> dict[str, Any]:
    margins = {}
    for var, levels in raking.items():
        share = rng.dirichlet(np.full(len(levels), 20.0))
        margins[var] = {lv: float(s) for lv, s in zip(levels, share, strict=True)}
    return margins


def write_poll(shape: PollShape, n: int, out: Path, seed: int) -> Path:
    """Parquet sources (one per country x wave, ``n`` respondents in all) and the spec
    of a poll benchmark in ``out``; returns the spec's path."""
    from barometer.poll.spec_yaml import dump_yaml

    rng = np.random.default_rng(seed)
    out.mkdir(parents=True, exist_ok=True)
    per = n // (len(POLL_COUNTRIES) * len(WAVES))
    sources, targets = [], []
    for c_i, country in enumerate(POLL_COUNTRIES):
        margins = shape.margins(rng) if shape.margins else _drawn_margins(rng, shape.raking)
        targets.append({"country": country, "margins": margins})
        for w_i, wave in enumerate(WAVES):
            cols: dict[str, Any] = {"rid": np.arange(per)}
            for var, levels in shape.raking.items():
                if shape.skewed:  # an online panel's skew: sample shares differ from targets
                    skew = rng.dirichlet(np.full(len(levels), 5.0))
                    cols[var] = np.array(levels)[rng.choice(len(levels), per, p=skew)]
                else:
                    cols[var] = np.array(levels)[rng.integers(0, len(levels), per)]
            variables = {v: {"column": v} for v in shape.raking}
            variables |= shape.answers(rng, per, c_i, w_i, cols)
            file = out / f"{country}_{wave}.parquet"
            pl.DataFrame(cols).write_parquet(file)
            sources.append(
                {"id": f"{country}-{wave}", "file": file.name, "wave": wave,
                 "country": country, "respondent_id": "rid", **shape.source,
                 "variables": variables}
            )  # fmt: skip
    spec = {
        "name": f"{shape.name} ({n:,} respondents)",
        "countries": [{"code": c, "name": c, "population": 1e7} for c in POLL_COUNTRIES],
        "regions": [{"id": "EU", "name": shape.region, "members": POLL_EU, "rule": "mean"}],
        "waves": [{"id": w} for w in WAVES],
        "questions": shape.questions
        + [
            {"id": v, "kind": "weighting", "levels": [{"code": lv, "label": lv} for lv in lvs]}
            for v, lvs in shape.raking.items()
        ],
        "sources": sources,
        "targets": targets,
    }
    path = out / "spec.yaml"
    path.write_text(dump_yaml(spec, sort_keys=False))
    return path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=100_000, help="respondents (recorded: 1000000)")
    ap.add_argument("--seed", type=int, default=SEED)
    ap.add_argument("--out", type=Path, default=DATA_DIR)
    a = ap.parse_args()
    for kind, f in write(a.n, a.seed, a.out).items():
        print(f"{kind:8s} {f}  {f.stat().st_size / 1e6:.1f} MB")


if __name__ == "__main__":
    main()
