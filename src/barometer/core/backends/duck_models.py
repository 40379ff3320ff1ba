"""Models on a design whose rows stay in DuckDB or Spark: the model's columns read into
memory, and nothing else.

A design-based GLM (R ``svyglm``) or proportional-odds model (R ``svyolr``) is fitted by
iteratively reweighted least squares whose working weights change with every row at every
iteration, and the likelihood interval of a proportion (R ``svyciprop(method =
"likelihood")``) profiles such a GLM; neither reduces to one set of grouped sums. As issue 20
allows, these materialise only the columns they need — the model's variables (and offset,
``where`` and ``by`` columns), the design's strata, PSUs and fpc, and the weights — and fit
in memory with the in-memory estimator, so they equal it exactly.

For a design weighted on its cell table (``duck_weighting``) the rows read are the base
weights and the calibration variables besides, and the same weighting is run again on them
in memory (``CellRecord.redo``): its weights are the written ones (a cell's factor depends on
the rows only through the cell's sums), and the model's variance is R ``svyrecvar``'s
calibration residuals on the model's influence values, row by row as in memory. The memory
this takes is that of the materialised columns: at 100M respondents, a few GB per column.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from barometer.core._frame import as_list
from barometer.core.backends.duck import SRC, ident
from barometer.core.formulas import formula_variables, strip_strings, unknown_names
from barometer.errors import EstimationError, did_you_mean

if TYPE_CHECKING:
    from barometer.core.backends.duck_design import DuckDBDesign
    from barometer.core.design import Design


def model_columns(
    design: DuckDBDesign, formula: str, extra: Iterable[str | Sequence[str] | None]
) -> list[str]:
    """The table's columns ``formula`` names, then those of ``extra`` (an offset, a
    ``where`` mapping's keys, ``by``), each once; an unknown name is an error naming it."""
    columns = list(design.source.types)
    unknown = unknown_names(formula, columns)
    if unknown:
        raise EstimationError(
            f"formula {formula!r}: variable {unknown[0]!r} is not in {design.source.label}"
            f"{did_you_mean(unknown[0], columns)}"
        )
    out = formula_variables(strip_strings(formula), columns)
    for names in extra:
        for name in [] if names is None else as_list(names):
            design.source.check([name], "model", EstimationError)
            if name not in out:
                out.append(name)
    return out


def materialise(design: DuckDBDesign, columns: Sequence[str]) -> Design:
    """An in-memory ``Design`` over ``columns`` of every row with the design's own columns,
    weighted as ``design`` is (see the module docstring)."""
    from barometer.core.design import Design

    lay, record = design.layout, design.cell_record
    weights = lay.weights if record is None else record.base_weights
    wanted = [*columns, lay.strata, lay.psu, lay.fpc, weights]
    if record is not None:
        wanted += list(record.variables)
    names = list(dict.fromkeys(c for c in wanted if c is not None))
    frame = design.source.sql(f"SELECT {', '.join(ident(c) for c in names)} FROM {SRC}")
    memory = Design(frame, weights, lay.strata, lay.psu, lay.fpc, lay.nest, lay.lonely_psu)
    if record is None:
        return memory
    assert record.redo is not None, "a cell weighting records how it was run"
    return record.redo(memory)
