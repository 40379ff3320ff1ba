"""Design-based regression: generalised linear models (R ``svyglm``), their Wald tests,
predictions and predicted margins."""

from __future__ import annotations

from barometer.core.models.glm import Model, Models, WaldTest, domain_rows, fit, fit_by
from barometer.core.models.irls import Family
from barometer.core.models.margins import Margins, predmeans

__all__ = [
    "Family",
    "Margins",
    "Model",
    "Models",
    "WaldTest",
    "domain_rows",
    "fit",
    "fit_by",
    "predmeans",
]
