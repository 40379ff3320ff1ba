"""Designs on the R reference data shared by the test files of the tests and comparisons
(test_chisq.py, test_significance.py), built as R builds them."""

from __future__ import annotations

from functools import cache

import barometer as bm
from tests.support.reference import load_data


@cache
def clus1() -> bm.Design:
    """R: ``svydesign(id=~dnum, weights=~pw, data=apiclus1, fpc=~fpc)``."""
    return bm.Design(load_data("apiclus1"), weights="pw", psu="dnum", fpc="fpc")


@cache
def gen_poll() -> bm.Design:
    """R: ``svydesign(id=~psu, strata=~stratum, weights=~w, fpc=~fpc, nest=TRUE,
    data=gen_poll)`` with ``options(survey.lonely.psu="adjust")``."""
    return bm.Design(
        load_data("gen_poll"),
        weights="w",
        strata="stratum",
        psu="psu",
        fpc="fpc",
        nest=True,
        lonely_psu="adjust",
    )
