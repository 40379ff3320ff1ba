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

from dataclasses import dataclass

import numpy as np

from barometer.variance.steps import CalibrationStep, PostStratStep, RakingStep

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


def cell_sums(
    g: np.ndarray, size: int, r: np.ndarray, z: np.ndarray, dom: np.ndarray, n_domains: int
) -> np.ndarray:
    """``rowsum(z * r, g)`` for domain-sparse influence values: (cells x K), K = D x L."""
    inside = dom >= 0
    n_levels = z.shape[1]
    code = g[inside] * n_domains + dom[inside]
    out = np.empty((size * n_domains, n_levels))
    zr = z[inside] * r[inside][:, None]
    for lv in range(n_levels):
        out[:, lv] = np.bincount(code, zr[:, lv], minlength=size * n_domains)
    return out.reshape(size, n_domains * n_levels)


def accumulate(
    z: np.ndarray, dom: np.ndarray, n_domains: int, steps: tuple[CalibrationStep, ...]
) -> tuple[list[Projection], list[np.ndarray]] | None:
    """Run the projections on the cell table: the accumulated ``A_v`` of every projection."""
    found = projections(steps)
    if found is None:
        return None
    distinct, order = found
    base = [cell_sums(p.g, p.size, p.q, z, dom, n_domains) for p in distinct]
    cross: dict[tuple[int, int], np.ndarray] = {}
    acc = [np.zeros_like(b) for b in base]
    for u in order:
        pu = distinct[u]
        m = base[u].copy()
        for v, av in enumerate(acc):
            if not av.any():
                continue
            if (u, v) not in cross:
                pv = distinct[v]
                cross[(u, v)] = cross_table(pu.g, pu.size, pv.g, pv.size, pv.a * pu.q)
            m -= cross[(u, v)] @ av
        acc[u] += m / pu.norm[:, None]
    return distinct, acc


def group_corrections(
    distinct: list[Projection], acc: list[np.ndarray], group: np.ndarray, n_groups: int
) -> np.ndarray:
    """``sum_v rowsum(a_v * A_v[g_v], group)``: what the projections take off each group's
    total (groups: PSUs or strata), (groups x K)."""
    out = np.zeros((n_groups, acc[0].shape[1]))
    for p, av in zip(distinct, acc, strict=True):
        if av.any():
            out += cross_table(group, n_groups, p.g, p.size, p.a) @ av
    return out


def element_second_moments(
    distinct: list[Projection],
    acc: list[np.ndarray],
    z: np.ndarray,
    dom: np.ndarray,
    n_domains: int,
    row_scale: np.ndarray,
    full: bool,
) -> np.ndarray:
    """``sum_i s_i (c_i c_i' - z_i c_i' - c_i z_i')`` with ``c_i = sum_v a_v A_v[g_v(i)]``:
    what the projections change in ``sum_i s_i x_i x_i'`` (element designs)."""
    k = acc[0].shape[1]
    out = np.zeros((k, k)) if full else np.zeros(k)
    live = [(p, av) for p, av in zip(distinct, acc, strict=True) if av.any()]
    for p, av in live:
        w = cell_sums(p.g, p.size, row_scale * p.a, z, dom, n_domains)  # (G_v x K)
        if full:
            cross = w.T @ av
            out -= cross + cross.T
        else:
            out -= 2.0 * np.einsum("gk,gk->k", w, av)
        for p2, av2 in live:
            q = cross_table(p.g, p.size, p2.g, p2.size, row_scale * p.a * p2.a)
            if full:
                out += av.T @ q @ av2
            else:
                out += np.einsum("gk,gh,hk->k", av, q, av2)
    return out
