# Reference fixture for intervals at a domain share of exactly 0 and exactly 1 (issue 11),
# computed with R's `survey` package.
#
# Regenerate (from the repository root):
#   Rscript tests/reference/make_boundary.R
#
# Writes tests/reference/boundary.json. The design is make_fixtures.R's dstrat (apistrat,
# weights pw, strata stype, fpc). In the domain sch.wide == "No" no school has awards: the
# share of awards "Yes" is exactly 0 and of "No" exactly 1; in sch.wide == "Yes" both are
# inside (0, 1). svyciprop(method = "beta") gives NaN limits at 0 and 1 (its effective
# sample size p (1 - p) / var is 0/0), so the reference there is the exact Clopper-Pearson
# interval of the domain's unweighted count (binom.test), the interval barometer's "beta"
# method falls back to and the publication's boundary_ci default prints; inside (0, 1) it
# is svyciprop's own. Each case stores the call and svyciprop's own limits beside it.

source(file.path(dirname(sub("^--file=", "", grep("^--file=",
  c(commandArgs(FALSE), "--file=tests/reference/."), value = TRUE)[1])), "common.R"))
d <- read.csv(file.path(script_dir, "data", "apistrat.csv"), stringsAsFactors = TRUE)
des <- svydesign(ids = ~1, strata = ~stype, weights = ~pw, fpc = ~fpc, data = d)

cases <- list()
for (dom in c("No", "Yes")) {
  sub <- subset(des, sch.wide == dom)
  n <- sum(d$sch.wide == dom)
  for (lv in c("No", "Yes")) {
    call <- sprintf('svyciprop(~I(awards == "%s"), subset(dstrat, sch.wide == "%s"), method = "beta")', lv, dom)
    ci <- svyciprop(as.formula(sprintf('~I(awards == "%s")', lv)), sub, method = "beta")
    p <- num(coef(ci))
    limits <- confint(ci)
    x <- sum(d$sch.wide == dom & d$awards == lv)
    boundary <- p == 0 || p == 1
    if (boundary) {
      exact <- binom.test(x, n)$conf.int
      expected <- c(exact[1], exact[2])
      how <- sprintf("binom.test(%d, %d)$conf.int", x, n)
    } else {
      expected <- c(num(limits[1]), num(limits[2]))
      how <- call
    }
    cases[[length(cases) + 1]] <- list(
      domain = dom, level = lv, n = n, count = x, estimate = p, boundary = boundary,
      ci_low = expected[1], ci_high = expected[2], expected_from = how,
      svyciprop_call = call,
      svyciprop_ci = c(num(limits[1]), num(limits[2]))
    )
  }
}

# A combination of domains all at the boundary (a region, or a mean Total, whose members
# are all at 0): the mean over stype of the sch.wide == "No" domains' share of awards
# "Yes", each exactly 0 with no variance. barometer gives it the Clopper-Pearson interval
# at the combination's effective size n* = 1 / sum(c_k^2 / n_k) (c_k = 1/3 here): x = 0
# successes of n*, upper limit qbeta(0.975, 1, n*) (binom.test's formula, at a
# non-integer size). svyby + svycontrast give the estimate 0 and SE 0 it is built on.
by_dom <- svyby(~I(awards == "Yes"), ~stype + sch.wide, des, svymean, covmat = TRUE)
no <- by_dom[by_dom$sch.wide == "No", ]
sizes <- sapply(as.character(no$stype), function(s) sum(d$stype == s & d$sch.wide == "No"))
coef <- rep(1 / nrow(no), nrow(no))
# svyby's coefficients are named "<stype>.<sch.wide>:<level>"; the "Yes" share is TRUE
keys <- paste0(as.character(no$stype), ".No:I(awards == \"Yes\")TRUE")
weights <- setNames(rep(0, length(coef(by_dom))), names(coef(by_dom)))
weights[keys] <- coef
combined <- svycontrast(by_dom, weights)
n_eff <- 1 / sum(coef^2 / sizes)
combination <- list(
  members = as.character(no$stype), sizes = unname(sizes), coefficients = unname(coef),
  estimate = num(coef(combined)), se = num(SE(combined)), n_eff = n_eff,
  ci_low = 0, ci_high = qbeta(0.975, 1, n_eff),
  expected_from = "svycontrast(svyby(~I(awards == 'Yes'), ~stype + sch.wide, dstrat, svymean, covmat = TRUE), mean of the sch.wide == 'No' rows); qbeta(0.975, 1, n_eff)"
)

out <- list(
  R = R.version.string,
  survey = as.character(packageVersion("survey")),
  design = 'dstrat <- svydesign(ids = ~1, strata = ~stype, weights = ~pw, fpc = ~fpc, data = apistrat)',
  confidence = 0.95,
  cases = cases,
  combination = combination
)
writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, pretty = TRUE, na = "null"),
           file.path(script_dir, "boundary.json"))
