"""Replicate weights: binding supplied columns, and building them from a design."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeVar

import numpy as np
import polars as pl

from barometer.core._frame import as_list, check_columns, first_rows
from barometer.errors import DesignError, warn
from barometer.options import ReplicateType

if TYPE_CHECKING:
    from barometer.core.design import Design, ReplicateDesign, Structure

T = TypeVar("T")
U = TypeVar("U")

#: Largest replicate-weight matrix (rows x replicates) to_replicates will build.
_MAX_CELLS = 200_000_000

_POOL: ThreadPoolExecutor | None = None


@dataclass(frozen=True, eq=False)
class ReplicateSetup:
    weights: pl.DataFrame  # the R replicate weight columns, as Float64
    scale: float
    rscales: np.ndarray  # (R,)


def _default_scale(type: str, n_rep: int, rho: float | None) -> float:
    if type == "jk1":
        return (n_rep - 1) / n_rep
    if type == "brr":
        return 1.0 / n_rep
    if type == "fay":
        if rho is None:
            raise DesignError("type='fay' needs rho, the Fay coefficient (e.g. rho=0.5)")
        return 1.0 / (n_rep * (1.0 - rho) ** 2)
    if type == "bootstrap":
        return 1.0 / (n_rep - 1)
    if type == "sdr":
        return 4.0 / n_rep
    return 1.0  # jkn: the per-replicate factors are in rscales


def parallel_map(fn: Callable[[T], U], items: Sequence[T]) -> list[U]:
    """``[fn(x) for x in items]`` on polars' thread count (one pool, made on first use): for
    work that releases the GIL (NumPy reductions, Arrow kernels), so the replicate columns
    are read by all cores at once."""
    global _POOL
    if _POOL is None:
        _POOL = ThreadPoolExecutor(max(1, pl.thread_pool_size()), "barometer")
    if len(items) == 1:
        return [fn(items[0])]
    return list(_POOL.map(fn, items))


def column_mins(frame: pl.DataFrame) -> np.ndarray:
    """NumPy's ``min`` of every column (NaN where a column holds one), read in parallel: one
    task per thread, each over its share of the columns (not a task per column: ~8 us of
    dispatch each)."""
    columns = frame.get_columns()
    n_blocks = min(len(columns), max(1, pl.thread_pool_size()))
    blocks = [columns[i::n_blocks] for i in range(n_blocks)]
    lows = np.empty(len(columns))
    for i, part in enumerate(parallel_map(lambda b: [np.min(c.to_numpy()) for c in b], blocks)):
        lows[i::n_blocks] = part
    return lows


def check_values(reps: pl.DataFrame, lows: np.ndarray | None = None) -> None:
    """Missing (null or NaN) or negative replicate weights: a DesignError naming the first
    column at fault (missing values first).

    ``lows`` are the columns' smallest values if a pass over them has already found them
    (``variance.replicate``'s grouped pass; NaN where that pass saw a NaN). Otherwise
    nulls are counted from polars' metadata and one NumPy ``min`` per column (NaN if the
    column holds one) finds the rest, in a single parallel read."""
    if lows is None or np.isnan(lows).any():
        lows = None
        if not any(reps.null_count().row(0)):
            lows = column_mins(reps)
    if lows is not None and not np.isnan(lows).any():
        if (lows < 0).any():
            name = reps.columns[int(np.argmax(lows < 0))]
            raise DesignError(f"replicate weight column {name!r} has negative weights")
        return
    missing = reps.select((pl.all().is_null() | pl.all().is_nan()).any()).row(0)
    col = reps.get_column(reps.columns[missing.index(True)])
    rows = (col.is_null() | col.is_nan()).to_numpy()
    raise DesignError(
        f"replicate weight column {col.name!r} has missing values in {first_rows(rows)}"
    )


def replicate_setup(
    frame: pl.DataFrame,
    replicates: str | Sequence[str],
    type: str,
    rscales: float | Sequence[float] | None,
    scale: float | None,
    rho: float | None,
    check: bool = True,
) -> ReplicateSetup:
    """Validate replicate columns (a list, or a prefix shared by their names) and set R's
    default ``scale``/``rscales`` for the type (R ``svrepdesign``).

    With ``check=False`` the values are checked here only if polars' metadata shows a
    null; NaN and negative weights are left to the first pass over the columns (see
    ``ReplicateDesign.unchecked_frame``), which finds them as it reads them."""
    names = as_list(replicates)
    if len(names) == 1 and names[0] not in frame.columns:
        prefixed = [c for c in frame.columns if c.startswith(names[0])]
        if prefixed:
            names = prefixed
    if not names:
        raise DesignError("replicates: no replicate weight columns given")
    check_columns(frame, names, "replicate weight", DesignError)
    picked: list[str | pl.Expr] = []  # (a cast costs an expression each: only where needed)
    for name in names:
        col = frame.get_column(name)
        if not col.dtype.is_numeric():
            raise DesignError(f"replicate weight column {name!r} must be numeric, not {col.dtype}")
        picked.append(name if col.dtype == pl.Float64 else pl.col(name).cast(pl.Float64))
    reps = frame.select(picked)
    if check or any(reps.null_count().row(0)):
        check_values(reps)
    n_rep = reps.width
    if type == "bootstrap" and n_rep < 2:  # its scale is 1 / (R - 1)
        raise DesignError(f"type={type!r} needs at least two replicate weight columns")
    if type == "jkn" and rscales is None:
        raise DesignError("type='jkn' needs rscales: (n_h - 1) / n_h for each replicate")
    rs = (
        np.ones(n_rep)
        if rscales is None
        else np.broadcast_to(np.asarray(rscales, dtype=float), (n_rep,)).copy()
    )
    if rs.shape != (n_rep,):
        raise DesignError(f"rscales has {rs.size} values; there are {n_rep} replicates")
    sc = (
        _default_scale(type, n_rep, rho)
        if scale is None or type in ("brr", "fay", "sdr")
        else float(scale)
    )
    return ReplicateSetup(reps, sc, rs)


def to_replicates(
    design: Design, type: ReplicateType, replicates: int | None = None, seed: int | None = None
) -> ReplicateDesign:
    """Replicate weights for a linearisation design, as R ``as.svrepdesign``.

    Parameters
    ----------
    design : Design
        An uncalibrated design (build replicates first, then weight the replicate design,
        so the replicates carry the weighting).
    type : {"jk1", "jkn", "brr", "bootstrap"}
        * ``"jk1"`` (unstratified designs): drop one PSU at a time, the others weighted
          ``n / (n - 1)``; ``scale = f (n - 1) / n`` with ``f`` the finite-population
          correction (R ``jk1weights``).
        * ``"jkn"`` (stratified): drop one PSU of one stratum at a time, the stratum's other
          PSUs weighted ``n_h / (n_h - 1)``; ``rscales = f_h (n_h - 1) / n_h``. Fully
          sampled strata (``f_h = 0``) give no replicate; lonely PSUs follow the design's
          ``lonely_psu`` as R ``jknweights`` does (``adjust``: one replicate dropping the
          stratum with the other strata weighted ``H / (H - 1)``, ``rscale (H - 1) / H``;
          ``average``: ``scale`` = PSUs / replicates; ``remove``/``certainty``: none).
        * ``"brr"`` (balanced repeated replication; every stratum must have exactly two
          PSUs): one replicate per column of a Hadamard matrix of order greater than the
          number of strata, chosen as R ``hadamard`` does (Sylvester doublings of order 4
          and Paley constructions); the PSU picked in stratum ``k`` follows row ``k + 1``.
          ``scale = 1 / R``. An fpc is dropped with a warning, as in R.
        * ``"bootstrap"``: in every stratum ``n_h`` PSUs are drawn with replacement (or,
          with an fpc, without replacement from the PSUs repeated to the population size
          ``N_h``); a PSU's replicate weight is its weight times the number of times it was
          drawn; ``scale = n~ / ((n~ - 1)(R - 1))`` with ``n~`` the harmonic mean of the
          ``n_h`` (R ``bootweights``, Canty and Davison 1999). ``replicates`` defaults to 50
          as in R; ``seed`` seeds a NumPy ``Generator`` (R's random draws are not
          reproduced).
    replicates : int, optional
        Number of bootstrap replicates (bootstrap only).
    seed : int, optional
        Seed of the bootstrap draws (bootstrap only).

    Returns
    -------
    ReplicateDesign
        The same data and full-sample weights, with replicate weights (in memory; the
        user's table is not modified) and R's ``scale``/``rscales``; ``mse=False``.

    Notes
    -----
    Replicates are numbered in barometer's stratum/PSU order, not R's order of first
    appearance; variances do not depend on it. For BRR, strata are ordered by their label
    as text and each stratum's first PSU is the one that appears first in the data, as in R.
    Where R's ``hadamard`` would use one of its stored matrices of order 28 or 36 (or a
    doubling of them), barometer uses the Sylvester matrix of the next power of two instead:
    standard errors of totals are the same, those of non-linear statistics differ slightly.

    Examples
    --------
    >>> import polars as pl, barometer as bm
    >>> df = pl.DataFrame({"psu": [1, 1, 2, 2, 3, 3], "y": [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]})
    >>> r = bm.Design(df, psu="psu").to_replicates("jk1")
    >>> r.replicate_weights.shape
    (6, 3)
    """
    from barometer.core.design import ReplicateDesign

    if design.calibration:
        raise DesignError(
            "to_replicates needs an uncalibrated design: build the replicates first "
            "(design.to_replicates(...)), then rake or calibrate the replicate design"
        )
    s = design.structure
    stratified = design.spec.get("strata") is not None
    if type != "bootstrap" and (replicates is not None or seed is not None):
        raise DesignError(f"replicates= and seed= are for type='bootstrap', not {type!r}")
    f = np.where(s.n_psu > 1, s.scale * (s.n_psu - 1) / s.n_psu, s.scale)
    if type in ("jk1", "jkn"):  # before building the PSUs x replicates factors
        _check_size(s.n, s.n_psus, type)
    if type == "jk1":
        if stratified:
            raise DesignError(
                f"type='jk1' is for unstratified designs; this one is stratified by "
                f"{design.spec['strata']!r}: use type='jkn' (or 'bootstrap')"
            )
        factors, scale, rscales = _jk1(s, float(f[0]))
    elif type == "jkn":
        if not stratified:
            raise DesignError("type='jkn' is for stratified designs: use type='jk1' or 'bootstrap'")
        factors, scale, rscales = _jkn(s, f)
    elif type == "brr":
        if not stratified:
            raise DesignError("type='brr' is for stratified designs with two PSUs per stratum")
        if design.spec.get("fpc") is not None:
            warn("to_replicates('brr'): the finite-population correction is dropped (as R)")
        factors, scale, rscales = _brr(design)
    elif type == "bootstrap":
        n_rep = 50 if replicates is None else int(replicates)
        if n_rep < 2:
            raise DesignError(f"replicates={replicates!r}: the bootstrap needs at least 2")
        _check_size(s.n, n_rep, type)
        factors, scale, rscales = _bootstrap(s, f, n_rep, np.random.default_rng(seed), design)
    else:
        raise DesignError(
            f"to_replicates builds 'jk1', 'jkn', 'brr' or 'bootstrap' replicates, not {type!r}; "
            "supply other replicate weights as columns to ReplicateDesign"
        )
    _check_size(s.n, factors.shape[1], type)
    reps = design.weights[:, None] * factors[s.psu]
    return ReplicateDesign.from_arrays(design.data, design.weights, reps, type, scale, rscales)


def _check_size(n_rows: int, n_rep: int, type: str) -> None:
    """Refuse replicate weights that would not fit in memory (see ``_MAX_CELLS``)."""
    if n_rows * n_rep > _MAX_CELLS:
        raise DesignError(
            f"{n_rep} {type} replicates of {n_rows} rows would need "
            f"{n_rows * n_rep * 8 / 1e9:.1f} GB (limit {_MAX_CELLS * 8 / 1e9:.1f} GB); use "
            "type='bootstrap' with fewer replicates, or linearisation (the Design itself)"
        )


def _jk1(s: Structure, f: float) -> tuple[np.ndarray, float, np.ndarray]:
    """Delete-one-PSU jackknife factors (PSUs x replicates), R ``jk1weights``."""
    n = s.n_psus
    if n < 2:
        raise DesignError("type='jk1' needs at least two PSUs")
    if f == 0:
        raise DesignError("every PSU of the population was sampled (fpc): variances are zero")
    factors = np.full((n, n), n / (n - 1))
    np.fill_diagonal(factors, 0.0)
    return factors, f * (n - 1) / n, np.ones(n)


def _jkn(s: Structure, f: np.ndarray) -> tuple[np.ndarray, float, np.ndarray]:
    """Stratified jackknife factors (PSUs x replicates), R ``jknweights``."""
    n_h = s.n_psu
    h_of = s.psu_stratum
    n_strata = n_h.size
    lonely = n_h == 1
    census = f == 0
    # one replicate per PSU of every sampled stratum with two or more PSUs
    dropped = np.flatnonzero(~lonely[h_of] & ~census[h_of])
    in_stratum = h_of[:, None] == h_of[dropped][None, :]
    ratio = n_h[h_of] / np.maximum(n_h[h_of] - 1.0, 1.0)
    factors = np.where(in_stratum, ratio[:, None], 1.0)
    factors[dropped, np.arange(dropped.size)] = 0.0
    rscales = f[h_of[dropped]] * (n_h[h_of[dropped]] - 1) / n_h[h_of[dropped]]
    scale = 1.0
    extra = []
    if s.lonely_psu == "adjust":
        for h in np.flatnonzero(lonely & ~census):
            col = np.where(h_of == h, 0.0, n_strata / (n_strata - 1.0))
            extra.append(col)
        if extra:
            factors = np.column_stack([factors, *extra])
            rscales = np.concatenate([rscales, np.full(len(extra), (n_strata - 1) / n_strata)])
    n_rep = factors.shape[1]
    if n_rep == 0:
        raise DesignError("every stratum was fully sampled (fpc): variances are zero")
    if n_rep < s.n_psus and s.lonely_psu == "average":
        scale = s.n_psus / n_rep
    return factors, scale, rscales


def _brr(design: Design) -> tuple[np.ndarray, float, np.ndarray]:
    """Balanced half-sample factors (PSUs x replicates), R ``brrweights`` (``fay.rho=0``)."""
    s = design.structure
    if np.any(s.n_psu != 2):
        h = int(np.flatnonzero(s.n_psu != 2)[0])
        label = s.stratum_labels.row(h)[0]
        raise DesignError(
            f"type='brr' needs exactly two PSUs in every stratum; stratum {label!r} of "
            f"{design.spec['strata']!r} has {int(s.n_psu[h])} "
            f"({int((s.n_psu != 2).sum())} such strata): use type='jkn' or 'bootstrap'"
        )
    n_strata = s.n_strata
    # strata in the order of their labels as text; in each, the PSU seen first comes first
    labels = [str(x) for x in s.stratum_labels.get_column(s.stratum_labels.columns[0])]
    rank = np.empty(n_strata, dtype=np.int64)
    rank[sorted(range(n_strata), key=labels.__getitem__)] = np.arange(n_strata)
    first_row = np.empty(s.n_psus, dtype=np.int64)
    first_row[s.psu[::-1]] = np.arange(s.n)[::-1]
    pair = first_row.reshape(n_strata, 2)  # PSUs 2h, 2h+1 form stratum h
    leads = np.where(pair[:, 0] < pair[:, 1], 0, 1)  # which of the two appears first
    h_mat = hadamard(n_strata)
    signs = h_mat[1 + rank, :]  # (H, R): 0 -> the first PSU is dropped, 1 -> the second
    n_rep = h_mat.shape[1]
    factors = np.zeros((s.n_psus, n_rep))
    keep_first = signs == 1
    first_psu = 2 * np.arange(n_strata) + leads
    second_psu = 2 * np.arange(n_strata) + 1 - leads
    factors[first_psu] = np.where(keep_first, 2.0, 0.0)
    factors[second_psu] = np.where(keep_first, 0.0, 2.0)
    return factors, 1.0 / n_rep, np.ones(n_rep)


def _bootstrap(
    s: Structure, f: np.ndarray, n_rep: int, rng: np.random.Generator, design: Design
) -> tuple[np.ndarray, float, np.ndarray]:
    """PSU draw counts (PSUs x replicates), R ``bootweights``."""
    n_h = s.n_psu
    has_fpc = design.spec.get("fpc") is not None
    counts = np.zeros((s.n_psus, n_rep))
    start = 0
    for h, m in enumerate(n_h.tolist()):
        block = slice(start, start + m)
        start += m
        if not has_fpc:
            counts[block] = rng.multinomial(m, np.full(m, 1.0 / m), size=n_rep).T
            continue
        # without replacement from the stratum's PSUs repeated to the population size
        # (R: the first N_h mod n_h PSUs of a random order get one copy more)
        pop = round(m / (1.0 - f[h]))
        copies = np.full(m, pop // m, dtype=np.int64)
        copies[rng.permutation(m)[: pop % m]] += 1
        counts[block] = rng.multivariate_hypergeometric(copies, m, size=n_rep).T
    harmonic = 1.0 / np.mean(1.0 / n_h)
    if harmonic <= 1:
        raise DesignError("the bootstrap needs strata with two or more PSUs")
    return counts, float(harmonic / ((harmonic - 1.0) * (n_rep - 1))), np.ones(n_rep)


# ---------------------------------------------------------------------------------------
# Hadamard matrices (0/1 form, first row and column all ones), chosen as R ``hadamard``
# ---------------------------------------------------------------------------------------


def _double(h: np.ndarray) -> np.ndarray:
    """Sylvester doubling ``[[H, H], [H, 1 - H]]``."""
    return np.block([[h, h], [h, 1 - h]])


def _sylvester(order: int) -> np.ndarray:
    """Sylvester matrix of a power-of-two ``order`` >= 4 (0/1 form)."""
    h = np.ones((1, 1), dtype=np.int8)
    while h.shape[0] < order:
        h = _double(h)
    return h


def _primes_3_mod_4(limit: int = 7919) -> np.ndarray:
    sieve = np.ones(limit + 1, dtype=bool)
    sieve[:2] = False
    for i in range(2, int(limit**0.5) + 1):
        if sieve[i]:
            sieve[i * i :: i] = False
    p = np.flatnonzero(sieve)
    out: np.ndarray = p[p % 4 == 3]
    return out


_PRIMES = _primes_3_mod_4()


def _paley_prime(p: int) -> np.ndarray:
    """Paley's construction of order ``p + 1`` from a prime ``p = 3 (mod 4)``: entry
    ``(i, j)`` is 0 when ``i + j`` is zero or a quadratic residue mod ``p``, bordered by ones."""
    residues = np.zeros(p, dtype=bool)
    residues[(np.arange(1, (p - 1) // 2 + 1) ** 2) % p] = True
    residues[0] = True
    core = np.where(residues[np.add.outer(np.arange(p), np.arange(p)) % p], 0, 1)
    out = np.ones((p + 1, p + 1), dtype=np.int8)
    out[1:, 1:] = core
    return out


def _paley(n: int, nmax: int | None = None) -> np.ndarray | None:
    """R ``paley(n, nmax)``: a Paley matrix (possibly doubled) of order > ``n`` and at most
    ``nmax``, or None."""
    nmax = 2 * n if nmax is None else nmax
    nceil = nn = n + 4 - n % 4
    if n % 4 + 4 == n % 8:
        while nn % 8 == 0:
            nn //= 2
        if nn - 1 in _PRIMES:
            m = _paley_prime(nn - 1)
            while nn < nceil:
                m = _double(m)
                nn *= 2
            return m
    if n > _PRIMES[-1]:
        return None
    p = int(_PRIMES[_PRIMES >= n][0])
    if p + 1 > nceil + 4 and nceil + 4 < nmax:
        return _paley(nceil + 3)
    if p > nmax:
        return None
    return _paley_prime(p)


def hadamard(n: int) -> np.ndarray:
    """A Hadamard matrix (0/1 form) of order greater than ``n``, as R ``survey::hadamard``.

    R keeps four stored matrices (orders 4, 16, 28, 36) and otherwise doubles one of them
    or uses Paley's construction. The orders-4 and -16 matrices are Sylvester matrices and
    are rebuilt here exactly; where R would use its stored order-28 or -36 matrix (or a
    doubling of one), the Sylvester matrix of the next power of two above ``n`` is used.
    """
    sizes = np.array([4, 16, 28, 36])
    m = n - n % 4
    pre = sizes[(m < sizes) & (m + 4 >= sizes)]
    if pre.size:
        chosen = int(pre.min())
        return _sylvester(chosen) if chosen in (4, 16) else _sylvester(_next_pow2(n))
    fit = sizes * 2 ** np.maximum(0, np.ceil(np.log2((n + 1) / sizes))).astype(np.int64)
    best = int(np.argmin(fit - n))
    h = _paley(n, int(fit[best])) if fit[best] - n > 4 else None
    if h is not None:
        return h
    if sizes[best] in (4, 16):
        return _sylvester(int(fit[best]))
    return _sylvester(_next_pow2(n))


def _next_pow2(n: int) -> int:
    """The smallest power of two (at least 4) greater than ``n``."""
    return max(4, 1 << int(n).bit_length())
