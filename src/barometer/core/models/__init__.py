"""Design-based regression: generalised linear models (R ``svyglm``), their Wald tests,
predictions and predicted margins."""

from __future__ import annotations

from barometer.core.models.glm import Model, WaldTest, domain_rows, fit
from barometer.core.models.irls import Family
from barometer.core.models.margins import Margins, predmeans

__all__ = ["Family", "Margins", "Model", "WaldTest", "domain_rows", "fit", "predmeans"]
