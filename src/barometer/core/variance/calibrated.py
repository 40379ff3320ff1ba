"""Calibration residuals on the table of cells, for post-stratified, raked and GREG-calibrated
(categorical margins) designs.

R's ``svyrecvar`` replaces the influence values ``x`` by their calibration residuals with a
sequence of elementary projections, one per post-stratification and per raking margin (ten
sweeps over the margins for ``rake``)::

    x <- x - a * M[g],   M = rowsum(x * q, g) / norm          (cells g)

with ``a = psw``, ``q = oldw / psw``, ``norm = rowsum(oldw)`` for ``postStratify`` and
``a = psw``, ``q = 1 / psw``, ``norm = count`` for a raking margin. After any number of them
``x = z - sum_v a_v * A_v[g_v]`` where ``A_v`` (cells x K) accumulates the ``M`` of margin
``v``, so the whole sequence runs on small matrices: the cell sums of ``z q`` and the
cell-by-cell cross sums ``T[u, v] = rowsum(a_v q_u)`` over (g_u, g_v), which are design
constants. The influence values of the K estimates never need to be formed row by row,
which keeps calibrated variances linear in the respondents with a small constant.
``calibrate()`` on categorical margins is one more such projection, with ``diag(1 /
norm)`` replaced by a (cells x cells) matrix (``GregProjection``, where it is derived).

The cell sums of ``z q`` themselves come from one grouped pass per estimate family over
the joint calibration cells (``variance.cells``, where the reduction is derived and the
cases that stay on the row path are named); ``row_sums`` is that row path. What the
projections take off the PSU totals is ``sum_v T_psu,v A_v`` with ``T_psu,v =
rowsum(a_v)`` over (PSU, g_v): a sparse design constant, as each PSU meets few cells.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from itertools import pairwise
from typing import TYPE_CHECKING, Any, TypeAlias

import numpy as np
import scipy.sparse as sp

from barometer.core._protocols import SurveyDesign
from barometer.core.variance import cells as cell_stats
from barometer.core.variance import linearisation as lin
from barometer.core.variance.steps import CalibrationStep, GregStep, PostStratStep, RakingStep

if TYPE_CHECKING:
    from barometer.core.design import Structure

#: R's raking variance runs a fixed ten sweeps over the margins.
RAKING_SWEEPS = 10

#: ``Plan.margin_kappa``: the final over the base weights must be constant within joint
#: cells to this relative tolerance (ten times tighter than ``cells.CONSTANT``, so that
#: the rounding of ``w / psw`` stays inside that).
BASE_RATIO = 1e-13

#: Largest number of cells (over all projections) whose sweep matrix is formed.
MAX_SWEEP_CELLS = 3000

#: A stacked residual table with fewer than 1 / SPARSE_SHARE of its entries non-zero is
#: multiplied as a sparse matrix.
SPARSE_SHARE = 4

Table: TypeAlias = "np.ndarray | sp.csr_matrix"

#: The cell sums of projection ``v`` for request kind ``"q"`` (``rowsum(z q_v, g_v)``) or
#: ``"scaled"`` (``rowsum(z scale_h a_v, g_v)``, element designs): (G_v x K), sparse on
#: the cell path (a cell's sums reach few domains), dense on the row path.
Sums = Callable[[str, int], Table]


@dataclass(frozen=True, eq=False)
class Projection:
    """One elementary projection ``x <- x - a * (rowsum(x * q, g) / norm)[g]``."""

    g: np.ndarray
    size: int
    a: np.ndarray
    #: ``q`` per row; None for ``1 / a`` (a raking margin), formed when first asked for:
    #: the cell path of a margin on cell factors never asks (``Plan.margin_kappa``)
    q_rows: np.ndarray | None
    norm: np.ndarray
    #: a raking margin's step, position and the step's rows per cell, when its ``a`` and
    #: ``q`` are the step's base weights times, and over, a factor of the cell
    margin: tuple[RakingStep, int, np.ndarray] | None = None

    @cached_property
    def q(self) -> np.ndarray:
        """``q`` per row."""
        return 1.0 / self.a if self.q_rows is None else self.q_rows

    def solve(self, m: np.ndarray) -> np.ndarray:
        """``M`` from the cell sums ``m`` of ``x q``: each cell's sum over its ``norm``."""
        out: np.ndarray = m / self.norm[:, None]
        return out


@dataclass(frozen=True, eq=False)
class GregProjection:
    """GREG calibration on categorical margins as one projection on its calibration cells:
    ``x <- x - a * (H rowsum(x * q, g))[g]`` with ``a = w_new``, ``q = 1 / g_w`` (the
    g-weights) and ``H = X_c (X_c' diag(W_c) X_c)^- X_c'`` (G x G), kept as ``basis``
    (G x r) with ``H = basis basis'``.

    Derivation. R's residual (``svyrecvar`` on a ``greg_calibration`` record of
    ``calibrate``; Deville & Särndal 1992; Lumley 2010, sec. 7.4) is ``qr.resid(qr(X
    sqrt(w_old)), x / w) * w`` with ``w = g_w sqrt(w_old)``: the residual of regressing ``x
    / g_w`` on ``X`` with the *pre-calibration* weights, times the *final* ones,

        x_i <- x_i - w_new,i X_i' B,   B = (X' W_old X)^- X' (x / g_w).

    On categorical margins ``X_i`` is an intercept and level dummies, the same row ``X_c``
    for every respondent of a calibration cell ``c`` (the crossing of the margins' levels);
    ``g_w = 1 + F(X_c' lambda)`` is then constant within cells too, whatever the
    calibration function or bounds. Hence ``X' W_old X = X_c' diag(W_c) X_c`` with ``W_c``
    the cells' summed old weights, and ``X' (x / g_w) = X_c' rowsum(x q, g)``: ``X_i' B``
    is ``(H rowsum(x q, g))[c(i)]``, a (G x G) design constant applied to the cell sums.
    With ``D = diag(sqrt(W_c))`` and ``Q_r`` an orthonormal basis of the column space of
    ``D X_c`` (rank ``r``: ``orthonormal_columns``, with the rank rule of the row path's
    pivoted QR, ``linearisation._greg_residual``), ``H = D^-1 Q_r Q_r' D^-1``: the fitted
    values do not depend on the generalised inverse. The projection is then the
    post-stratification one with ``diag(1 / norm)`` replaced by ``H``, and composes with
    the other steps (``Plan``) and the joint cells (``variance.cells``: ``q w`` is ``w /
    g_w``, a cell constant times the final weight) in the same way."""

    g: np.ndarray
    size: int
    a: np.ndarray
    q: np.ndarray
    basis: np.ndarray
    weights: np.ndarray  # (G,) the cells' summed old weights
    margin: None = None

    def solve(self, m: np.ndarray) -> np.ndarray:
        """``H m`` for cell sums ``m`` of ``x q`` (G x K)."""
        # einsum's own loops, not BLAS: a few million multiply-adds, where BLAS threads on a
        # shared machine cost up to ~50x the product
        fitted = np.einsum("gr,gk->rk", self.basis, m)
        out: np.ndarray = np.einsum("gr,rk->gk", self.basis, fitted)
        return out


def greg_projection(step: GregStep) -> GregProjection | None:
    """The step as a ``GregProjection``, or None: a model with a numeric column (no cells),
    or an old weight or g-weight of zero (R's residual divides by them, giving NaN; the
    dense path reproduces that)."""
    cells, old, g = step.cells, step.old_weights, step.g
    if cells is None or not (old > 0).all() or not (np.isfinite(g).all() and (g != 0).all()):
        return None
    size = step.matrix.shape[0]
    weights = np.bincount(cells, old, minlength=size)
    root = np.sqrt(weights)
    basis = orthonormal_columns(step.matrix * root[:, None]) / root[:, None]
    return GregProjection(cells, size, old * g, 1.0 / g, basis, weights)


def orthonormal_columns(x: np.ndarray) -> np.ndarray:
    """An orthonormal basis ``Q_r`` of the column space of ``x`` (G x p, G >> p), from the
    eigenvectors of the small Gram matrix ``x' x`` and once more from those of ``Q' Q``
    (which restores the orthogonality that squaring the condition number loses, while it
    stays below ~1e8). Directions with singular values under 1e-7 of the largest are
    dropped: the rank rule of the row path's pivoted QR, on singular values. Neither pass
    calls LAPACK on the G x p matrix, whose threads cost ~100x the arithmetic on a shared
    machine (a QR of 1,800 x 23: ~0.5 ms on one thread, 0.1-0.9 s on two busy ones)."""
    lam, vec = np.linalg.eigh(np.einsum("gi,gj->ij", x, x))
    keep = lam > 1e-14 * lam.max() if lam.size else lam > 0
    q = np.einsum("gi,ir->gr", x, vec[:, keep] / np.sqrt(lam[keep]))
    lam2, vec2 = np.linalg.eigh(np.einsum("gi,gj->ij", q, q))
    out: np.ndarray = np.einsum("gi,ir->gr", q, vec2 / np.sqrt(lam2))
    return out


AnyProjection: TypeAlias = "Projection | GregProjection"


@dataclass(eq=False)
class Plan:
    """A design's projections and their cross tables: design constants, formed once and
    reused by every estimate on the design (a banner asks for hundreds).

    ``weights`` are the design's final weights, ``row_scale`` each row's ``scale_h`` (element
    designs only), ``cells`` the joint calibration cells (None: the row path only)."""

    steps: tuple[CalibrationStep, ...]
    distinct: list[AnyProjection]
    order: list[int]
    weights: np.ndarray
    row_scale: np.ndarray | None = None
    cells: cell_stats.JointCells | None = None
    tables: dict[tuple[object, ...], Table] = field(default_factory=dict)
    maps: dict[tuple[str, int], tuple[int, sp.csr_matrix] | None] = field(default_factory=dict)

    def offsets(self) -> np.ndarray:
        """Where each projection's cells start in the stacked cell tables (and the end)."""
        return np.cumsum([0] + [p.size for p in self.distinct])

    def sweeps(self) -> sp.csr_matrix | None:
        """The linear map from the stacked cell sums of ``z q_v`` to the stacked ``A_v``:
        the projections run once on the identity (None above ``MAX_SWEEP_CELLS`` cells,
        where the projections run per family instead). Sparse: calibrating within
        countries, cells of different countries never meet. None with a GREG step too:
        its ``H`` couples every pair of its cells (the intercept), so the matrix would be
        dense, and its product costs G^2 K where running the projections costs G r K."""
        total = int(self.offsets()[-1])
        if total > MAX_SWEEP_CELLS or any(isinstance(p, GregProjection) for p in self.distinct):
            return None
        if ("sweeps",) not in self.tables:
            made = np.vstack(run_projections(self, np.eye(total)))
            self.tables[("sweeps",)] = sp.csr_matrix(made)
        return self.tables[("sweeps",)]

    def cross(self, u: int, v: int) -> Table:
        """``T[u, v] = rowsum(a_v q_u)`` over (g_u, g_v): (G_u x G_v)."""
        key = ("cross", u, v)
        if key not in self.tables:
            pu, pv = self.distinct[u], self.distinct[v]
            if pu.margin is not None and pv.margin is not None and pu.margin[0] is pv.margin[0]:
                step, counts = pu.margin[0], pu.margin[2]
                self.tables[key] = margin_cross(step, counts, pu.margin[1], pv.margin[1])
            else:
                self.tables[key] = cross_table(pu.g, pu.size, pv.g, pv.size, pv.a * pu.q)
        return self.tables[key]

    def request(self, kind: str, v: int) -> np.ndarray:
        """The per-row factor ``r`` of a cell-sum request (``rowsum(z r, g_v)``)."""
        p = self.distinct[v]
        if kind == "q":
            return p.q
        assert self.row_scale is not None
        key = ("scaled", v)
        if key not in self.tables:
            self.tables[key] = self.row_scale * p.a
        found: np.ndarray = self.tables[key]
        return found

    def cell_map(self, kind: str, v: int) -> tuple[int, sp.csr_matrix] | None:
        """The basis and the (G_v x J) aggregator of a request on the joint cells, or None
        when the request does not reduce to them (see ``variance.cells``)."""
        key = (kind, v)
        if key not in self.maps:
            found = None
            if self.cells is not None:
                p = self.distinct[v]
                fit = self.margin_kappa(kind, v)
                if fit is not None:  # a margin's cells are unions of the joint cells
                    step, m, _ = fit[2]
                    of_cells = np.take(step.cell_margins[m], np.take(step.cell, self.cells.first))
                    agg = self.cells.aggregator(p.g, p.size, fit[1], of_cells)
                    found = None if agg is None else (fit[0], agg)
                else:
                    general = self.cells.kappa(key, self.request(kind, v) * self.weights)
                    if general is not None:
                        agg = self.cells.aggregator(p.g, p.size, general[1])
                        found = None if agg is None else (general[0], agg)
            self.maps[key] = found
        return self.maps[key]

    def margin_kappa(
        self, kind: str, v: int
    ) -> tuple[int, np.ndarray, tuple[RakingStep, int, np.ndarray]] | None:
        """``JointCells.kappa`` of the request ``q_v w`` of a raking margin on cell factors,
        read off one row per joint cell, without forming ``q_v w`` for every row.

        Why it is the same fit. ``q_v w = w / psw_v`` with ``psw_v = base f_v[cell]``, so
        where ``w / base`` is the same ``t_J`` throughout each joint cell ``J`` (to
        ``BASE_RATIO``, checked on the rows once per step: ``base_ratio_constant``), every
        row of ``J`` has ``q_v w = (t_J / f_v[J]) (1 + d)`` with ``|d| <= BASE_RATIO + 8
        eps``: constant to within ``cells.CONSTANT`` (1e-12), the tolerance of the row-by-row
        fit, whose basis is then the constant 1 and whose ``kappa`` is the value of the
        first row of each joint cell — computed here by the same floating-point operations
        on that row (``(1 / (base f_v)) w``), so the two give the same bits. Returns the
        basis, ``kappa`` and the projection's margin, or None (the general fit decides)."""
        p = self.distinct[v]
        if kind != "q" or p.margin is None or self.cells is None:
            return None
        step, m, _ = p.margin
        if not self.base_ratio_constant(step):
            return None
        first = self.cells.first
        psw = np.take(step.base, first) * np.take(step.factors[m], np.take(step.cell, first))
        kappa = (1.0 / psw) * np.take(self.weights, first)
        if not (np.isfinite(kappa).all() and (kappa > 0).all()):
            return None
        return 0, kappa, p.margin

    def base_ratio_constant(self, step: RakingStep) -> bool:
        """Whether the final weights over the step's base weights are the same, to
        ``BASE_RATIO`` relative, throughout each joint cell (``margin_kappa``); once per
        step. So they are when the raking is the last step — the final weights are then
        the weights after its last margin, ``base f[cell]`` to the bit, which one
        comparison shows — or the later steps scale cells (the ratio is checked on the
        rows): every step's factor is constant within joint cells."""
        key = ("base ratio", id(step))
        if key not in self.tables:
            cells = self.cells
            assert cells is not None
            if np.array_equal(self.weights, step.weights[-1]):
                ok = True  # w / base = f[cell] up to one rounding
            else:
                ratio = self.weights / step.base  # base > 0: a margin on cell factors
                ref = np.take(np.take(ratio, cells.first), cells.code)
                gap = np.abs(ratio - ref)
                ok = bool(np.isfinite(ref).all() and (gap <= BASE_RATIO * ref).all())
            self.tables[key] = np.array(ok)
        return bool(self.tables[key])


def plan(design: SurveyDesign) -> Plan | None:
    """The design's ``Plan``, cached on it (``design.cache``); ``None`` when a step is not a
    cell projection. The cache is trusted only while it belongs to the design's current
    calibration steps (a copy with new weights starts its own)."""
    steps = design.calibration
    cached = design.cache.calibration_plan
    if cached is not None and cached[0] is steps:
        return cached[1]
    found = projections(steps)
    made = None
    if found is not None:
        s = design.structure
        assert s is not None  # a linearisation design
        row_scale = None
        if s.element:
            row_scale = np.take(lin.stratum_factors(s)[0], s.strata)
        joint = cell_stats.joint_cells(steps, design.weights, row_scale)
        made = Plan(steps, *found, weights=design.weights, row_scale=row_scale, cells=joint)
    design.cache.calibration_plan = (steps, made)
    return made


def projections(
    steps: tuple[CalibrationStep, ...],
) -> tuple[list[AnyProjection], list[int]] | None:
    """The distinct projections and the order they are applied in; ``None`` if a step is not
    a cell projection (regression calibration on a numeric auxiliary goes the dense way)."""
    distinct: list[AnyProjection] = []
    order: list[int] = []
    for step in steps:
        if isinstance(step, PostStratStep):
            g = step.cells
            size = int(g.max()) + 1
            distinct.append(
                Projection(
                    g,
                    size,
                    step.new_weights,
                    step.old_weights / step.new_weights,
                    np.bincount(g, step.old_weights, minlength=size),
                )
            )
            order.append(len(distinct) - 1)
        elif isinstance(step, RakingStep):
            first = len(distinct)
            on_cells = on_cell_factors(step)
            counts = np.bincount(step.cell, minlength=step.factors[0].size).astype(float)
            for m, (codes, psw) in enumerate(zip(step.margins, step.weights, strict=True)):
                of_cell = step.cell_margins[m]
                size = int(of_cell[counts > 0].max()) + 1
                distinct.append(
                    Projection(
                        codes,
                        size,
                        psw,
                        None,
                        np.bincount(of_cell, counts, minlength=size),
                        (step, m, counts) if on_cells else None,
                    )
                )
            order.extend(list(range(first, len(distinct))) * RAKING_SWEEPS)
        else:
            greg = greg_projection(step)
            if greg is None:
                return None
            distinct.append(greg)
            order.append(len(distinct) - 1)
    return distinct, order


def on_cell_factors(step: RakingStep) -> bool:
    """Whether the step's weights after each margin are its base weights times a positive
    factor of the cell, with nothing held at a bound (``a_v q_u`` is then a ratio of
    factors, constant within cells: its cross tables are sums over cells)."""
    if step.fixed is not None or not (step.base > 0).all():
        return False
    return all(bool((f > 0).all() and np.isfinite(f).all()) for f in step.factors)


def margin_cross(step: RakingStep, counts: np.ndarray, u: int, v: int) -> sp.csr_matrix:
    """``cross_table`` of margins ``u`` and ``v`` of one raking step from its cells
    (``counts``: rows per cell): ``rowsum(a_v q_u) = rowsum(psw_v / psw_u)`` is each cell's
    row count times the ratio of its factors, ``f_v / f_u``."""
    inside = counts > 0
    gu, gv = step.cell_margins[u][inside], step.cell_margins[v][inside]
    ratio = step.factors[v][inside] / step.factors[u][inside]
    return cross_table(gu, int(gu.max()) + 1, gv, int(gv.max()) + 1, counts[inside] * ratio)


def cross_table(
    g1: np.ndarray, size1: int, g2: np.ndarray, size2: int, values: np.ndarray
) -> sp.csr_matrix:
    """``rowsum(values)`` over the cells (g1, g2): a (size1 x size2) table, sparse (cells
    of different calibration groups never meet; and a sparse product is single-threaded,
    where BLAS threads on a shared machine can cost more than the product). Binned densely
    while the grid is small beside the rows (a sort of the rows costs more); a grid of
    thousands of cells each way (the PSUs, or a GREG step's cells) is built sparse."""
    if size1 * size2 <= max(4 * g1.size, 1 << 16):
        dense = np.bincount(g1 * size2 + g2, values, minlength=size1 * size2)
        return sp.csr_matrix(dense.reshape(size1, size2))
    return sp.csr_matrix((values, (g1, g2)), shape=(size1, size2))


@dataclass(frozen=True, eq=False)
class DomainRows:
    """The rows inside a family's domains (``rows`` is None when all are) with their
    influence values and domain codes, selected once for all the projections."""

    rows: np.ndarray | None
    z: np.ndarray
    dom: np.ndarray
    n_domains: int

    @classmethod
    def of(cls, z: np.ndarray, dom: np.ndarray, n_domains: int) -> DomainRows:
        inside = dom >= 0
        if inside.all():  # domains that cover every row: none to leave out
            return cls(None, z, dom, n_domains)
        rows = np.flatnonzero(inside)
        return cls(rows, z[rows], dom[rows], n_domains)

    def pick(self, x: np.ndarray) -> np.ndarray:
        return x if self.rows is None else np.take(x, self.rows)


def cell_sums(g: np.ndarray, size: int, r: np.ndarray, d: DomainRows) -> np.ndarray:
    """``rowsum(z * r, g)`` for domain-sparse influence values: (cells x K), K = D x L."""
    code = d.pick(g) * d.n_domains + d.dom
    r = d.pick(r)
    n_levels = d.z.shape[1]
    out = np.empty((size * d.n_domains, n_levels))
    for lv in range(n_levels):
        out[:, lv] = np.bincount(code, d.z[:, lv] * r, minlength=size * d.n_domains)
    return out.reshape(size, d.n_domains * n_levels)


def row_sums(plan: Plan, d: DomainRows) -> Sums:
    """The row path: each request summed over the rows of the family's domains."""

    def sums(kind: str, v: int) -> np.ndarray:
        p = plan.distinct[v]
        return cell_sums(p.g, p.size, plan.request(kind, v), d)

    return sums


def table_sums(plan: Plan, fam: Any, kinds: tuple[str, ...]) -> Sums | None:
    """The cell path: the requests of ``kinds`` for every projection from the family's
    sums by joint cell (one grouped pass per basis, ``cells.cell_table``); None when a
    request does not reduce to the joint cells (the caller goes the row path)."""
    cells = plan.cells
    if cells is None:
        return None
    maps = {}
    for kind in kinds:
        for v in range(len(plan.distinct)):
            found = plan.cell_map(kind, v)
            if found is None:
                return None
            maps[kind, v] = found
    joint = cell_stats.joint_domains(cells, fam.domains, fam.n_domains)
    if joint.size * fam.n_levels > max(4 * cells.code.size, 1 << 16):
        return None  # a table as large as the rows: nothing to gain
    tables = {
        basis: cell_stats.cell_table(
            cells,
            joint,
            cells.bases[basis],
            fam.n_domains,
            fam.var,
            fam.theta,
            fam.denom if fam.ratio else None,
        )
        for basis in sorted({b for b, _ in maps.values()})
    }
    return CellSums(plan, maps, tables)


@dataclass(frozen=True, eq=False)
class CellSums:
    """The cell path's requests (``Sums``): ``rowsum(z r_v, g_v)`` as the aggregator of
    request ``v`` times the family's table of its basis (``cells.cell_table``)."""

    plan: Plan
    maps: dict[tuple[str, int], tuple[int, sp.csr_matrix]]
    tables: dict[int, sp.csr_matrix]

    def __call__(self, kind: str, v: int) -> Table:
        basis, agg = self.maps[kind, v]
        return sp.csr_matrix(agg @ self.tables[basis])

    def stacked(self, kind: str) -> sp.csr_matrix:
        """Every projection's request of ``kind`` stacked (sum_v G_v x K): one product of
        the stacked aggregators when the requests share a basis (each row of a product
        is summed on its own, so the rows are those of ``__call__``), else one each."""
        n = len(self.plan.distinct)
        bases = {self.maps[kind, v][0] for v in range(n)}
        if len(bases) > 1:
            return sp.vstack([self(kind, v) for v in range(n)], format="csr")
        key = ("aggregators", kind)
        if key not in self.plan.tables:
            aggs = [self.maps[kind, v][1] for v in range(n)]
            self.plan.tables[key] = sp.vstack(aggs, format="csr")
        return sp.csr_matrix(self.plan.tables[key] @ self.tables[bases.pop()])


@dataclass(eq=False)
class Accumulated:
    """The accumulated ``A_v`` of every projection (``accumulate``): ``stacked`` (sum_v
    G_v x K) when they come out of one product, else ``given`` per projection."""

    bounds: np.ndarray
    stacked: Table | None = None
    given: list[np.ndarray] | None = None

    @cached_property
    def parts(self) -> list[Table]:
        """``A_v`` of each projection."""
        if self.given is not None:
            return list(self.given)
        if sp.issparse(self.stacked):
            made = sp.csr_matrix(self.stacked)
            return [made[a:b] for a, b in pairwise(self.bounds)]
        assert isinstance(self.stacked, np.ndarray)
        return list(np.split(self.stacked, self.bounds[1:-1]))


def accumulate(sums: Sums, plan: Plan) -> Accumulated:
    """The accumulated ``A_v`` of every projection from the cell sums of ``z q_v``.

    The sequence of projections is linear in those sums, so it is a design constant: the
    (sum_v G_v)-square matrix ``plan.sweeps()``, applied in one product (sparse when the
    sums are: the ``A_v`` of a cell reach the domains its sums reach, and no others)."""
    sweeps = plan.sweeps()
    bounds = plan.offsets()
    if isinstance(sums, CellSums) and sweeps is not None:
        return Accumulated(bounds, sp.csr_matrix(sweeps @ sums.stacked("q")))
    parts = [sums("q", v) for v in range(len(plan.distinct))]
    if sweeps is None:
        return Accumulated(
            bounds, given=run_projections(plan, np.vstack([dense(p) for p in parts]))
        )
    if all(sp.issparse(p) for p in parts):
        return Accumulated(bounds, sp.csr_matrix(sweeps @ sp.vstack(parts, format="csr")))
    base = np.vstack([dense(p) for p in parts])
    return Accumulated(bounds, np.asarray(sweeps @ base))


def dense(x: Table) -> np.ndarray:
    """``x`` as a NumPy array."""
    if isinstance(x, np.ndarray):
        return x
    out: np.ndarray = np.asarray(sp.csr_matrix(x).toarray())
    return out


def nonzero(x: Table) -> bool:
    """Whether ``x`` has an entry that is not zero."""
    if isinstance(x, np.ndarray):
        return bool(x.any())
    return bool(sp.csr_matrix(x).count_nonzero())


def column_dots(a: Table, b: Table) -> np.ndarray:
    """``(a * b).sum(axis=0)``: each column's dot product of ``a`` and ``b``."""
    if not isinstance(a, np.ndarray):
        out: np.ndarray = np.asarray(sp.csr_matrix(a).multiply(b).sum(axis=0)).ravel()
        return out
    if not isinstance(b, np.ndarray):
        return column_dots(b, a)
    dots: np.ndarray = np.einsum("gk,gk->k", a, b)
    return dots


def run_projections(plan: Plan, base: np.ndarray) -> list[np.ndarray]:
    """Run the projections in order on the stacked cell sums ``base`` (sum_v G_v x K):
    ``M_u = (rowsum(z q_u, g_u) - sum_v T[u, v] A_v) / norm_u`` (``H_u (...)`` for GREG),
    ``A_u += M_u``."""
    distinct = plan.distinct
    parts = np.split(base, plan.offsets()[1:-1])
    acc = [np.zeros_like(b) for b in parts]
    for u in plan.order:
        pu = distinct[u]
        m = parts[u].copy()
        for v, av in enumerate(acc):
            if not av.any():
                continue
            m -= np.asarray(plan.cross(u, v) @ av)
        acc[u] += pu.solve(m)
    return acc


def group_corrections(
    plan: Plan, acc: list[Table], group: np.ndarray, n_groups: int, kind: str
) -> np.ndarray:
    """``sum_v rowsum(a_v * A_v[g_v], group)``: what the projections take off each group's
    total (groups: the design's PSUs or strata, named by ``kind``), (groups x K), as one
    product of the stacked (group x cell) tables — sparse: a PSU meets few of a margin's
    cells — with the stacked ``A_v``, taken sparse when most of it is zero (calibrating
    within countries, a cell's residuals reach only its own country's estimates)."""
    greg = [v for v, p in enumerate(plan.distinct) if isinstance(p, GregProjection)]
    cells = [v for v in range(len(plan.distinct)) if v not in greg]
    out = np.zeros((n_groups, acc[0].shape[1]))
    if cells:
        table = group_table(plan, cells, group, n_groups, kind)
        live = [acc[v] for v in cells]
        if all(sp.issparse(a) for a in live):
            out += dense(table @ sp.vstack(live, format="csr"))
        else:
            stacked = np.vstack([dense(a) for a in live])
            if np.count_nonzero(stacked) * SPARSE_SHARE < stacked.size:
                out += dense(table @ sp.csr_matrix(stacked))
            else:
                out += np.asarray(table @ stacked)
    for v in greg:
        out += greg_correction(plan, v, acc[v], group, n_groups, kind)
    return out


def group_table(
    plan: Plan, cells: list[int], group: np.ndarray, n_groups: int, kind: str
) -> sp.csr_matrix:
    """The stacked (group x cell) tables ``rowsum(a_v)`` over (group, g_v) of the cell
    projections ``cells`` (a design constant)."""
    key = (kind,)
    if key not in plan.tables:
        parts = [
            cross_table(group, n_groups, p.g, p.size, p.a)
            for p in (plan.distinct[v] for v in cells)
        ]
        plan.tables[key] = sp.hstack(parts, format="csr")
    found: sp.csr_matrix = plan.tables[key]
    return found


def psu_sums(
    plan: Plan, acc: Accumulated, totals: sp.csr_matrix, structure: Structure, full: bool
) -> tuple[np.ndarray, np.ndarray] | None:
    """S2 and S1 (``linearisation.psu_sums``) of the calibrated PSU totals ``Z_p - sum_v
    T_psu,v A_v`` with both terms kept sparse (``totals``: the family's PSU totals, P x
    K), or None when an ``A_v`` is dense or a step is GREG (``group_corrections``).

    Calibrating within countries, an estimate's calibrated PSU totals are zero outside
    the PSUs of its domain's country: a few per cent of the P x K grid. Its sums then
    cost those entries, not the grid: the same terms, summed in PSU order (where
    ``einsum`` and ``np.add.reduceat`` sum pairwise), so the two agree to rounding,
    ~1e-16 relative. ``acc.stacked`` is the stacked ``A_v``
    that ``group_corrections`` stacks again from its parts: the same matrix."""
    stacked = acc.stacked
    if not sp.issparse(stacked) or any(isinstance(p, GregProjection) for p in plan.distinct):
        return None
    cells = list(range(len(plan.distinct)))
    table = group_table(plan, cells, structure.psu, structure.n_psus, "psu")
    x = sp.csr_matrix(totals - table @ stacked)
    scale, _ = lin.stratum_factors(structure)
    scale_p = np.take(scale, structure.psu_stratum)
    psu = np.repeat(np.arange(x.shape[0]), np.diff(x.indptr))
    n_est, n_strata = x.shape[1], structure.n_strata
    block = x.indices * n_strata + np.take(structure.psu_stratum, psu)
    s1 = np.bincount(block, x.data, minlength=n_est * n_strata).reshape(n_est, n_strata)
    if full:
        left = x.copy()
        left.data *= np.take(scale_p, psu)
        return dense(left.T @ x), s1
    s2 = np.bincount(x.indices, x.data * x.data * np.take(scale_p, psu), minlength=n_est)
    return s2, s1


def greg_correction(
    plan: Plan, v: int, acc: Table, group: np.ndarray, n_groups: int, kind: str
) -> np.ndarray:
    """``rowsum(a_v * A_v[g_v], group)`` of a ``GregProjection`` through its basis: ``A_v``
    only ever accumulates ``H m = basis (basis' m)``, so it lies in the basis's column
    space, and ``basis' W basis = Q_r' Q_r = I`` (``W`` the cells' old weights) gives
    ``A_v = basis (basis' W A_v)``. The correction ``T_v A_v`` (``T_v``: the (group x
    cell) table of ``a_v``) is then ``(T_v basis)(basis' W A_v)``: a (groups x r) design
    constant times r rows, instead of every PSU's cells times K (a national calibration's
    ``A_v`` is dense: its intercept couples every cell)."""
    p = plan.distinct[v]
    assert isinstance(p, GregProjection)
    key = (kind, "greg", v)
    if key not in plan.tables:
        table = cross_table(group, n_groups, p.g, p.size, p.a)
        plan.tables[key] = np.asarray(table @ p.basis)
    reduced = dense(plan.tables[key])
    coef = np.einsum("gr,gk->rk", p.basis * p.weights[:, None], dense(acc))
    out: np.ndarray = np.einsum("pr,rk->pk", reduced, coef)
    return out


def element_second_moments(plan: Plan, acc: list[Table], sums: Sums, full: bool) -> np.ndarray:
    """``sum_i s_i (c_i c_i' - z_i c_i' - c_i z_i')`` with ``c_i = sum_v a_v A_v[g_v(i)]``:
    what the projections change in ``sum_i s_i x_i x_i'`` (element designs).

    With the projections' tables stacked — ``A = [A_v]``, ``W = [rowsum(z s a_v, g_v)]`` and
    the block matrix ``Q = [rowsum(s a_u a_v) over (g_u, g_v)]`` — that is ``A' Q A - W' A -
    A' W``: three products (sparse on the cell path), one dense result."""
    assert plan.row_scale is not None
    k = acc[0].shape[1]
    live = [v for v, av in enumerate(acc) if nonzero(av)]
    if not live:
        return np.zeros((k, k)) if full else np.zeros(k)
    q = second_table(plan, tuple(live))
    scaled = [sums("scaled", v) for v in live]
    parts = [acc[v] for v in live]
    if all(sp.issparse(x) for x in (*parts, *scaled)):
        a: Table = sp.vstack(parts, format="csr")
        w: Table = sp.vstack(scaled, format="csr")
    else:
        a = np.vstack([dense(x) for x in parts])
        w = np.vstack([dense(x) for x in scaled])
    qa = q @ a
    if full:
        cross = dense(w.T @ a)
        second: np.ndarray = dense(a.T @ qa) - cross - cross.T
        return second
    diagonal: np.ndarray = column_dots(a, qa) - 2.0 * column_dots(w, a)
    return diagonal


def second_table(plan: Plan, live: tuple[int, ...]) -> sp.csr_matrix:
    """The block matrix of ``rowsum(scale_h a_u a_v)`` over (g_u, g_v) for the projections
    ``live`` (a design constant)."""
    key = ("second", live)
    if key not in plan.tables:
        assert plan.row_scale is not None
        blocks = [
            [
                cross_table(
                    plan.distinct[u].g,
                    plan.distinct[u].size,
                    plan.distinct[v].g,
                    plan.distinct[v].size,
                    plan.row_scale * plan.distinct[u].a * plan.distinct[v].a,
                )
                for v in live
            ]
            for u in live
        ]
        plan.tables[key] = sp.csr_matrix(sp.bmat(blocks, format="csr"))
    found: sp.csr_matrix = plan.tables[key]
    return found
