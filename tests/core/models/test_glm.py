"""Properties of the design-based GLM and its bad-input errors (issue 19).

Tolerances: 1e-10 relative where two routes compute the same quantity in exact arithmetic
(an intercept-only model and ``Design.mean``; a saturated model and the domain means;
scaled weights), which leaves room only for rounding.
"""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

import barometer as bm
from tests.support.reference import load_data

RTOL = 1e-10


@pytest.fixture(scope="module")
def strat() -> bm.Design:
    return bm.Design(load_data("apistrat"), weights="pw", strata="stype", fpc="fpc")


@pytest.fixture(scope="module")
def clus() -> bm.Design:
    return bm.Design(load_data("apiclus1"), weights="pw", psu="dnum", fpc="fpc")


@pytest.mark.parametrize("family", ["gaussian", "quasibinomial", "poisson"])
def test_scaling_weights_changes_nothing(clus: bm.Design, family: str) -> None:
    formula = {
        "gaussian": "api00 ~ ell + C(stype)",
        "quasibinomial": "I(`sch.wide` == 'Yes') ~ ell + C(stype)",
        "poisson": "enroll ~ ell + C(stype)",
    }[family]
    scaled = bm.Design(
        load_data("apiclus1").with_columns(pl.col("pw") * 37.5), weights="pw", psu="dnum", fpc="fpc"
    )
    a = clus.glm(formula, family=family).to_polars()  # type: ignore[arg-type]
    b = scaled.glm(formula, family=family).to_polars()  # type: ignore[arg-type]
    for col in ("estimate", "se"):
        np.testing.assert_allclose(a[col].to_numpy(), b[col].to_numpy(), rtol=RTOL)


def test_intercept_only_model_is_the_mean(clus: bm.Design) -> None:
    model = clus.glm("api00 ~ 1").to_polars()
    mean = clus.mean("api00").to_polars()
    np.testing.assert_allclose(model["estimate"][0], mean["estimate"][0], rtol=RTOL)
    np.testing.assert_allclose(model["se"][0], mean["se"][0], rtol=RTOL)


def test_saturated_model_gives_the_domain_means(strat: bm.Design) -> None:
    model = strat.glm("api00 ~ 0 + C(stype)").to_polars()
    means = strat.mean("api00", by="stype").to_polars().sort("stype")
    np.testing.assert_allclose(model["estimate"], means["estimate"], rtol=RTOL)
    np.testing.assert_allclose(model["se"], means["se"], rtol=RTOL)


def test_by_fits_one_model_per_domain(strat: bm.Design) -> None:
    models = strat.glm("api00 ~ ell", by="stype")
    assert len(models) == 3
    table = models.to_polars()
    assert table.columns[:2] == ["stype", "term"]
    alone = strat.glm("api00 ~ ell", where={"stype": "H"}).to_polars()
    np.testing.assert_allclose(
        table.filter(pl.col("stype") == "H")["se"].to_numpy(), alone["se"].to_numpy(), rtol=RTOL
    )
    assert models["H"].n == 50


def test_predict_defaults_to_the_fitted_rows(strat: bm.Design) -> None:
    model = strat.glm("I(`sch.wide` == 'Yes') ~ ell", family="quasibinomial")
    fitted = model.predict(type="response")
    assert fitted.height == model.n
    assert ((fitted["estimate"] > 0) & (fitted["estimate"] < 1)).all()


def test_predmeans_with_the_group_in_the_model_equals_adding_it(strat: bm.Design) -> None:
    added = strat.glm("api00 ~ ell").predmeans("stype").to_polars()
    given = strat.glm("api00 ~ ell + C(stype)").predmeans("stype").to_polars()
    np.testing.assert_allclose(added["estimate"], given["estimate"], rtol=RTOL)
    np.testing.assert_allclose(added["se"], given["se"], rtol=RTOL)


def test_wald_test_of_one_coefficient_is_its_t_squared(strat: bm.Design) -> None:
    model = strat.glm("api00 ~ ell + meals")
    t = model.to_polars().filter(pl.col("term") == "meals")["statistic"][0]
    test = model.wald_test("meals")
    np.testing.assert_allclose(test.statistic, t * t, rtol=RTOL)
    assert test.ndf == 1 and test.ddf == model.df_residual


def test_offset_shifts_the_linear_predictor(strat: bm.Design) -> None:
    data = load_data("apistrat").with_columns(log_enroll=pl.col("enroll").log())
    design = bm.Design(data, weights="pw", strata="stype", fpc="fpc")
    plain = design.glm("api00 ~ ell", family="poisson")
    shifted = design.glm("api00 ~ ell", family="poisson", offset="log_enroll")
    assert not np.allclose(plain.coefficients, shifted.coefficients)
    pred = shifted.predict(data[:3], type="response")["estimate"].to_numpy()
    eta = shifted.coefficients[0] + shifted.coefficients[1] * data["ell"][:3].to_numpy()
    np.testing.assert_allclose(pred, np.exp(eta + data["log_enroll"][:3].to_numpy()), rtol=RTOL)


# --- bad input ----------------------------------------------------------------------


def test_unknown_column_is_named_with_a_suggestion(strat: bm.Design) -> None:
    with pytest.raises(bm.ColumnNotFoundError, match=r"'mealz'.*did you mean 'meals'") as err:
        strat.glm("api00 ~ mealz")
    assert isinstance(err.value, bm.EstimationError) and err.value.column == "mealz"


def test_separation_names_the_term() -> None:
    df = pl.DataFrame(
        {
            "y": [1, 1, 1, 0, 0, 1, 0, 1] * 5,
            "g": ["a", "a", "a", "b", "b", "c", "b", "c"] * 5,
            "x": np.linspace(0, 1, 40),
        }
    )
    df = df.with_columns(y=pl.when(pl.col("g") == "a").then(1).otherwise(pl.col("y")))
    with pytest.raises(bm.EstimationError, match=r"C\(g\)\[T.b\].*separates"):
        bm.Design(df).glm("y ~ C(g) + x", family="binomial")


def test_singular_model_names_the_aliased_column(strat: bm.Design) -> None:
    data = load_data("apistrat").with_columns(ell2=pl.col("ell") * 2.0)
    design = bm.Design(data, weights="pw", strata="stype", fpc="fpc")
    with pytest.raises(bm.EstimationError, match=r"singular: column 'ell2?'"):
        design.glm("api00 ~ ell + ell2")


def test_binomial_refuses_a_non_binary_response(strat: bm.Design) -> None:
    with pytest.raises(bm.EstimationError, match=r"response 'api00' must be 0/1"):
        strat.glm("api00 ~ ell", family="binomial")


def test_unknown_family_and_term(strat: bm.Design) -> None:
    with pytest.raises(bm.EstimationError, match="family='probit'"):
        strat.glm("api00 ~ ell", family="probit")  # type: ignore[call-overload]
    with pytest.raises(bm.EstimationError, match=r"term 'mobility' is not in the model"):
        strat.glm("api00 ~ ell").wald_test("mobility")


def test_predict_needs_the_model_columns(strat: bm.Design) -> None:
    model = strat.glm("api00 ~ ell + meals")
    with pytest.raises(bm.EstimationError, match=r"lack column 'meals'"):
        model.predict(pl.DataFrame({"ell": [1.0]}))


def test_olr_takes_an_enums_declared_order(strat: bm.Design) -> None:
    """An Enum response is ordered as declared (a question's answer order), not sorted:
    the same fit as giving ``levels`` in that order, and another than the sorted one."""
    score = pl.col("api00")
    band = (
        pl.when(score < 600).then(pl.lit("low")).when(score < 720).then(pl.lit("mid"))
        .otherwise(pl.lit("high"))
    )  # fmt: skip
    data = strat.data.with_columns(band.cast(pl.Enum(["low", "mid", "high"])).alias("band"))
    d = bm.Design(data, weights="pw", strata="stype", fpc="fpc")
    default = d.olr("band ~ ell + meals")
    given = d.olr("band ~ ell + meals", levels=["low", "mid", "high"])
    assert default.levels == ("low", "mid", "high")
    assert default.terms[-2:] == ("low|mid", "mid|high")
    np.testing.assert_array_equal(default.estimates, given.estimates)
    np.testing.assert_array_equal(default.vcov(), given.vcov())
    as_text = bm.Design(data.with_columns(pl.col("band").cast(pl.String)), weights="pw",
                        strata="stype", fpc="fpc").olr("band ~ ell + meals")  # fmt: skip
    assert as_text.levels == ("high", "low", "mid")
