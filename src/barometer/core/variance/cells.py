"""Sufficient statistics of calibrated variances: sums by joint calibration cell.

``variance.calibrated`` runs R's projections on small tables, but each projection ``v``
still starts from ``rowsum(z * r_v, g_v)`` — the influence values ``z`` of the K estimates
weighted by a design constant ``r_v`` (``q_v`` of the projection, or ``scale_h a_v`` for the
second moments of an element design), summed within the projection's cells. Row by row
that is a pass over the respondents per projection per estimate family. It is not needed.

Derivation. Every estimator here has influence values ``z_ik = w_i (y_il - theta_k x_i) /
X_d`` for ``i`` in domain ``d`` (``k = (d, l)``; ``x_i = 1`` for a mean or proportion, and a
total has ``z_ik = w_i y_il``): linear in the estimate's own data ``(y_il, x_i)``. Let the
*joint cells* ``J`` be the crossing of every calibration step's cells (the post-strata, the
raking cells of which each margin is a union). When, for some per-row basis ``b_i``,

    r_v(i) w_i = kappa_v(J(i)) b_i        (kappa_v constant within joint cells),

then, with ``g_v`` a union of joint cells,

    rowsum(z r_v, g_v)[c, (d, l)] = sum_{J in c} kappa_v(J) U_b[J, (d, l)],
    U_b[J, (d, l)] = (sum_{i in J, d} b_i y_il - theta_dl sum_{i in J, d} b_i x_i) / X_d,

so one grouped pass per family (the sums of ``b y`` and ``b x`` by joint cell x domain x
level) replaces one per projection, and the projections' ``kappa_v`` are design constants.
The identity holds for the steps R records:

* ``rake()``: ``r_v = q_v = 1 / psw_v`` with ``psw_v`` the weights after margin ``v`` in the
  last sweep; the final weights are ``psw_v`` times the factors of the later margins (and
  of later steps), all constant within joint cells: ``b = 1``, ``kappa_v = w / psw_v``.
  R's residual, ten sweeps of ``x <- x - psw * ave(x / psw, margin)``, is linear in ``x``
  and each sweep is a cell aggregate, so the whole sequence reduces to the cell table
  exactly (``calibrated.accumulate``).
* ``postStratify()``: ``r_v = oldw / psw``, the inverse of the cell's factor: ``b = w``.
* ``calibrate()`` (linear, raking or logit, bounded or not) on categorical margins only:
  the g-weights are a function of the model matrix's row, constant within the cells of the
  margins' crossing (``GregStep.cells``), and ``r_v = q_v = 1 / g``: ``b = w``, ``kappa_v =
  1 / g`` when it is the last step (in general the later steps' cell factors times it);
  ``calibrated.GregProjection`` derives the projection itself.
* element designs' second moments: ``r_v = scale_h psw_v`` gives ``b = scale_h w^2``,
  ``kappa_v = psw_v / w``.

Which basis holds is not assumed from the step's type: it is checked on the rows, once per
design (``kappa_v`` must be constant within joint cells to 1e-12 relative; for a raking
margin on cell factors, ``calibrated.Plan.margin_kappa`` checks the final over the base
weights once per step instead, which implies it, and reads ``kappa_v`` off one row per
joint cell). Where none
does, the family goes the row path (``calibrated.row_sums``, the same algebra on the rows):
capped or bounded raking (weights held at a bound are not a cell factor times the base
weight), and weights trimmed or otherwise changed after calibration. GREG on a numeric
auxiliary (a ``GregStep`` without cells: the model matrix differs row by row) has no
cells at all, and ``estimators._calibrated_sums`` residualises densely, as does a GREG
step with a zero old weight or g-weight (R's residual divides by both).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp

from barometer.core._frame import dense_codes
from barometer.core.reduce import Variable, level_table
from barometer.core.variance.steps import CalibrationStep, PostStratStep, RakingStep

#: kappa_v must be constant within each joint cell to this relative tolerance.
CONSTANT = 1e-12

#: How many domain codings' joint combinations a design keeps.
MAX_DOMAIN_CODINGS = 8


@dataclass(eq=False)
class JointCells:
    """The joint calibration cells of a design's rows, and per-projection constants.

    ``code`` numbers each row's joint cell 0..size-1; ``bases`` are the candidate per-row
    bases ``b`` (None: the constant 1); ``kappas`` caches, per request key, the basis index
    and the (size,) ``kappa`` — or None when no basis fits."""

    code: np.ndarray
    size: int
    first: np.ndarray  # (size,) one row of each joint cell
    bases: list[np.ndarray | None]
    kappas: dict[tuple[object, ...], tuple[int, np.ndarray] | None] = field(default_factory=dict)
    by_domains: dict[int, JointDomains] = field(default_factory=dict)

    def kappa(self, key: tuple[object, ...], m: np.ndarray) -> tuple[int, np.ndarray] | None:
        """The basis ``b`` and the ``kappa`` with ``m = kappa[J] * b`` (``m = r_v w``)."""
        if key not in self.kappas:
            self.kappas[key] = self._fit(m)
        return self.kappas[key]

    def _fit(self, m: np.ndarray) -> tuple[int, np.ndarray] | None:
        for index, b in enumerate(self.bases):
            with np.errstate(divide="ignore", invalid="ignore"):
                ratio = m if b is None else np.where(b == 0, 0.0, m / b)
            if b is not None and (m[b == 0] != 0).any():
                continue
            if not np.isfinite(ratio).all():
                continue
            kappa = np.take(ratio, self.first)
            gap = np.abs(ratio - np.take(kappa, self.code))
            if (gap <= CONSTANT * np.abs(np.take(kappa, self.code))).all():
                return index, kappa
        return None

    def aggregator(
        self, g: np.ndarray, size: int, kappa: np.ndarray, of_cells: np.ndarray | None = None
    ) -> sp.csr_matrix | None:
        """The (size x J) matrix summing ``kappa``-weighted joint cells into cells ``g`` (the
        cells of a projection); None if ``g`` is not constant within joint cells. Checked
        on the rows, unless ``of_cells`` gives each joint cell's ``g`` (a raking margin:
        its levels are unions of the step's cells, of which the joint cells are a
        refinement)."""
        if of_cells is not None:
            g_of = of_cells
        else:
            g_of = np.take(g, self.first)
            if not np.array_equal(np.take(g_of, self.code), g):
                return None
        cols = np.arange(self.size)
        return sp.csr_matrix((kappa, (g_of, cols)), shape=(size, self.size))


def first_rows(codes: np.ndarray, size: int) -> np.ndarray:
    """The first row of each of ``size`` cells (``codes``: every row's cell; -1 for a cell
    with no row)."""
    first = np.full(size, -1, dtype=np.int64)
    first[codes[::-1]] = np.arange(codes.size - 1, -1, -1)
    return first


def joint_cells(
    steps: tuple[CalibrationStep, ...], weights: np.ndarray, row_scale: np.ndarray | None
) -> JointCells | None:
    """The crossing of the steps' cells, or None when a step has no cells (GREG on a numeric
    auxiliary) or the crossing is as fine as the rows (nothing to gain)."""
    n = weights.size
    key: np.ndarray | None = None
    span = 1
    for step in steps:
        if isinstance(step, PostStratStep):
            cells = step.cells
        elif isinstance(step, RakingStep):
            cells = step.cell
        elif step.cells is not None:  # GREG on categorical margins
            cells = step.cells
        else:
            return None
        size = int(cells.max()) + 1 if cells.size else 1
        if key is None and np.bincount(cells, minlength=size).all():
            # a first step's cells that all hold rows number themselves densely
            key, span = cells.astype(np.int64, copy=False), size
            continue
        key = cells.astype(np.int64) if key is None else key * size + cells
        key, present = dense_codes(key, span * size)
        span = present.size
    if key is None:  # no steps
        key = np.zeros(n, dtype=np.int64)
    if span * 4 > n:
        return None
    first = first_rows(key, span)
    bases: list[np.ndarray | None] = [None, weights]
    if row_scale is not None:
        bases.append(row_scale * weights * weights)
    return JointCells(key, span, first, bases)


@dataclass(frozen=True, eq=False)
class JointDomains:
    """The (joint cell, domain) combinations that hold rows, numbered 0..C-1: ``code`` (n,)
    is each row's combination, C (a spare) for a row outside every domain. Formed once per
    design and ``by``, so that a family's table is one ``np.bincount`` over the rows, with
    no selection of the rows inside its domains (a domain meets few joint cells: calibrating
    within countries, a country's domains meet its own cells only)."""

    domains: np.ndarray  # the domain codes they were formed from (-1: outside)
    code: np.ndarray
    size: int
    cell: np.ndarray  # (C,) joint cell of each combination
    domain: np.ndarray  # (C,) domain of each combination
    layouts: dict[tuple[int, int], tuple[np.ndarray, np.ndarray]] = field(
        default_factory=dict, repr=False
    )

    def layout(self, n_cells: int, n_levels: int) -> tuple[np.ndarray, np.ndarray]:
        """The CSR column indices and row pointers of a (joint cell x (domain, level))
        table with one entry per combination and level, in combination order: the
        combinations are numbered in (cell, domain) order, so that order is CSR's (rows
        sorted, columns sorted within rows, none twice) and the table is formed without
        a sort. Cached per shape."""
        key = (n_cells, n_levels)
        if key not in self.layouts:
            cols = self.domain[:, None] * n_levels + np.arange(n_levels)[None, :]
            per_cell = np.bincount(self.cell, minlength=n_cells) * n_levels
            indptr = np.concatenate(([0], np.cumsum(per_cell)))
            self.layouts[key] = (cols.ravel(), indptr)
        return self.layouts[key]


def joint_domains(cells: JointCells, domains: np.ndarray, n_domains: int) -> JointDomains:
    """The combinations of ``cells`` and the domain codes ``domains``, cached on ``cells``
    by the identity of the codes (a design's coding of ``by`` is formed once)."""
    found = cells.by_domains.get(id(domains))
    if found is not None and found.domains is domains:
        return found
    inside = domains >= 0
    key = cells.code * n_domains
    key += domains
    span = cells.size * n_domains
    if inside.all():
        code, present = dense_codes(key, span)
    else:
        picked, present = dense_codes(key[inside], span)
        code = np.full(domains.size, present.size, dtype=np.int64)
        code[inside] = picked
    cell, domain = np.divmod(present, n_domains)
    made = JointDomains(domains, code, present.size, cell, domain)
    if len(cells.by_domains) >= MAX_DOMAIN_CODINGS:  # the oldest goes (subsets make new codes)
        del cells.by_domains[next(iter(cells.by_domains))]
    cells.by_domains[id(domains)] = made
    return made


def cell_table(
    cells: JointCells,
    joint: JointDomains,
    basis: np.ndarray | None,
    n_domains: int,
    var: Variable,
    theta: np.ndarray,
    denom: np.ndarray | None,
) -> sp.csr_matrix:
    """``U_b`` (J x K, K = D x L): the family's influence values summed by joint cell with
    per-row weights ``b`` (see the module doc), from one grouped pass by (level,
    combination) over all the rows (of the column's own integer values when the first
    pass binned those, ``reduce.RawLevels``). Sparse: a joint cell meets few domains (a
    breakdown by age within countries: its own country's and age group's).

    ``denom`` is the domains' weighted bases (None for totals)."""
    width = joint.size + 1
    if var.categorical:
        y = level_table(var, joint.code, width, basis)[:, : joint.size].T
        x = y.sum(axis=1)
    else:
        values = var.values
        assert values is not None
        missing = np.isnan(values)
        code = np.where(missing, joint.size, joint.code)
        filled = np.where(missing, 0.0, values)
        y = np.bincount(code, filled if basis is None else basis * filled, minlength=width)
        y = y[: joint.size, None]
        x = np.bincount(code, basis, minlength=width)[: joint.size]
    if denom is None:  # a total: z = w y
        u = y
    else:
        with np.errstate(divide="ignore", invalid="ignore"):
            d = joint.domain
            u = (y - np.nan_to_num(theta)[d] * x[:, None]) / denom[d][:, None]
        u = np.nan_to_num(u, copy=False)
    n_levels = u.shape[1]
    indices, indptr = joint.layout(cells.size, n_levels)
    shape = (cells.size, n_domains * n_levels)
    return sp.csr_matrix((u.ravel(), indices, indptr), shape=shape)
