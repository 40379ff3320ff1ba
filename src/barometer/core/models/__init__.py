"""Design-based regression: generalised linear models (R ``svyglm``), their Wald tests,
predictions and predicted margins; proportional-odds models (R ``svyolr``)."""

from __future__ import annotations

from barometer.core.models.glm import Model, Models, WaldTest, domain_rows, fit, fit_by
from barometer.core.models.irls import Family
from barometer.core.models.margins import Margins, predmeans
from barometer.core.models.olr import OrdinalModel, olr

__all__ = [
    "Family",
    "Margins",
    "Model",
    "Models",
    "OrdinalModel",
    "WaldTest",
    "domain_rows",
    "fit",
    "fit_by",
    "olr",
    "predmeans",
]
