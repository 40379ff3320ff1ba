"""Calibration residuals on the table of cells, for post-stratified and raked designs.

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
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from barometer.core._protocols import SurveyDesign
from barometer.core.variance.steps import CalibrationStep, PostStratStep, RakingStep

#: R's raking variance runs a fixed ten sweeps over the margins.
RAKING_SWEEPS = 10


@dataclass(frozen=True, eq=False)
class Projection:
    """One elementary projection ``x <- x - a * (rowsum(x * q, g) / norm)[g]``."""

    g: np.ndarray
    size: int
    a: np.ndarray
    q: np.ndarray
    norm: np.ndarray


@dataclass(eq=False)
class Plan:
    """A design's projections and their cross tables: design constants, formed once and
    reused by every estimate on the design (a banner asks for hundreds)."""

    steps: tuple[CalibrationStep, ...]
    distinct: list[Projection]
    order: list[int]
    tables: dict[tuple[object, ...], np.ndarray] = field(default_factory=dict)

    def table(self, key: tuple[object, ...], make: Callable[[], np.ndarray]) -> np.ndarray:
        if key not in self.tables:
            self.tables[key] = make()
        return self.tables[key]


def plan(design: SurveyDesign) -> Plan | None:
    """The design's ``Plan``, cached on it (``design.cache``); ``None`` when a step is not a
    cell projection. The cache is trusted only while it belongs to the design's current
    calibration steps."""
    steps = design.calibration
    cached = design.cache.calibration_plan
    if cached is not None and cached[0] is steps:
        return cached[1]
    found = projections(steps)
    made = None if found is None else Plan(steps, *found)
    design.cache.calibration_plan = (steps, made)
    return made


def projections(steps: tuple[CalibrationStep, ...]) -> tuple[list[Projection], list[int]] | None:
    """The distinct projections and the order they are applied in; ``None`` if a step is not
    a cell projection (regression calibration goes the dense way)."""
    distinct: list[Projection] = []
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
            for codes, psw in zip(step.margins, step.weights, strict=True):
                size = int(codes.max()) + 1
                distinct.append(
                    Projection(
                        codes,
                        size,
                        psw,
                        1.0 / psw,
                        np.bincount(codes, minlength=size).astype(float),
                    )
                )
            order.extend(list(range(first, len(distinct))) * RAKING_SWEEPS)
        else:
            return None
    return distinct, order


def cross_table(
    g1: np.ndarray, size1: int, g2: np.ndarray, size2: int, values: np.ndarray
) -> np.ndarray:
    """``rowsum(values)`` over the cells (g1, g2): a (size1 x size2) table."""
    return np.bincount(g1 * size2 + g2, values, minlength=size1 * size2).reshape(size1, size2)


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


def accumulate(d: DomainRows, plan: Plan) -> list[np.ndarray]:
    """Run the projections on the cell table: the accumulated ``A_v`` of every projection."""
    distinct = plan.distinct
    base = [cell_sums(p.g, p.size, p.q, d) for p in distinct]
    acc = [np.zeros_like(b) for b in base]
    for u in plan.order:
        pu = distinct[u]
        m = base[u].copy()
        for v, av in enumerate(acc):
            if not av.any():
                continue
            pv = distinct[v]

            def make(pu: Projection = pu, pv: Projection = pv) -> np.ndarray:
                return cross_table(pu.g, pu.size, pv.g, pv.size, pv.a * pu.q)

            cross = plan.table(("cross", u, v), make)
            m -= cross @ av
        acc[u] += m / pu.norm[:, None]
    return acc


def group_corrections(
    plan: Plan, acc: list[np.ndarray], group: np.ndarray, n_groups: int, kind: str
) -> np.ndarray:
    """``sum_v rowsum(a_v * A_v[g_v], group)``: what the projections take off each group's
    total (groups: the design's PSUs or strata, named by ``kind``), (groups x K)."""
    out = np.zeros((n_groups, acc[0].shape[1]))
    for v, (p, av) in enumerate(zip(plan.distinct, acc, strict=True)):
        if av.any():

            def make(p: Projection = p) -> np.ndarray:
                return cross_table(group, n_groups, p.g, p.size, p.a)

            table = plan.table((kind, v), make)
            out += table @ av
    return out


def element_second_moments(
    plan: Plan,
    acc: list[np.ndarray],
    d: DomainRows,
    row_scale: np.ndarray,
    full: bool,
) -> np.ndarray:
    """``sum_i s_i (c_i c_i' - z_i c_i' - c_i z_i')`` with ``c_i = sum_v a_v A_v[g_v(i)]``:
    what the projections change in ``sum_i s_i x_i x_i'`` (element designs)."""
    k = acc[0].shape[1]
    out = np.zeros((k, k)) if full else np.zeros(k)
    live = [(v, p, av) for v, (p, av) in enumerate(zip(plan.distinct, acc, strict=True))]
    live = [item for item in live if item[2].any()]
    for v, p, av in live:

        def scaled(p: Projection = p) -> np.ndarray:
            out: np.ndarray = row_scale * p.a
            return out

        sa = plan.table(("scaled", v), scaled)
        w = cell_sums(p.g, p.size, sa, d)  # (G_v x K)
        if full:
            cross = w.T @ av
            out -= cross + cross.T
        else:
            out -= 2.0 * np.einsum("gk,gk->k", w, av)
        for v2, p2, av2 in live:

            def second(p: Projection = p, p2: Projection = p2, sa: np.ndarray = sa) -> np.ndarray:
                return cross_table(p.g, p.size, p2.g, p2.size, sa * p2.a)

            q = plan.table(("second", v, v2), second)
            if full:
                out += av.T @ q @ av2
            else:
                out += np.einsum("gk,gh,hk->k", av, q, av2)
    return out
