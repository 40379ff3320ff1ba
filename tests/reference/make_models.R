# Reference fixtures for barometer's models, ratios and t-tests (issue 19), computed with
# R's `survey` package.
#
# Regenerate (from the repository root):
#   apt-get install r-cran-survey r-cran-mass r-cran-jsonlite
#   Rscript tests/reference/make_models.R
#
# Writes tests/reference/models.json. Same conventions as make_fixtures.R: the data are
# read from the committed CSVs in tests/reference/data (make_fixtures.R writes gen_poll.csv
# and the replicate-weight CSVs), and every case stores the R design and the exact R call
# beside its numbers, with the R and survey versions at the top of the file.
#
# The glm fits ask glm for a tight convergence (epsilon=1e-15, maxit=100): R's default
# (1e-8 on the relative change in deviance) stops while coefficients can still move by
# ~1e-9 relative, so the reference would not be the estimator's value to 1e-8. barometer
# iterates to convergence.

source(file.path(dirname(sub("^--file=", "", grep("^--file=",
  c(commandArgs(FALSE), "--file=tests/reference/."), value = TRUE)[1])), "common.R"))

options(survey.lonely.psu = "fail", survey.adjust.domain.lonely = FALSE,
        survey.replicates.mse = FALSE)
ctl <- "control=glm.control(epsilon=1e-15, maxit=100)"


# ---------------------------------------------------------------------------
# Designs: one spec gives the barometer arguments and the R call (as make_fixtures.R)
# ---------------------------------------------------------------------------

make_design <- function(data, weights, strata = NULL, psu = NULL, fpc = NULL,
                        nest = FALSE, lonely_psu = "fail") {
  id <- if (is.null(psu)) "1" else psu
  parts <- c(sprintf("id=~%s", id))
  if (!is.null(strata)) parts <- c(parts, sprintf("strata=~%s", strata))
  parts <- c(parts, sprintf("weights=~%s", weights))
  if (!is.null(fpc)) parts <- c(parts, sprintf("fpc=~%s", fpc))
  if (nest) parts <- c(parts, "nest=TRUE")
  call <- sprintf("svydesign(%s, data=%s)", paste(parts, collapse = ", "), data)
  env <- new.env()
  assign(data, read_data(data), envir = env)
  list(data = data, r = eval(parse(text = call), envir = env), r_design = call,
       lonely = lonely_psu, class = "Design",
       spec = list(weights = weights, strata = if (is.null(strata)) NA else strata,
                   psu = if (is.null(psu)) NA else psu, fpc = if (is.null(fpc)) NA else fpc,
                   nest = nest, lonely_psu = lonely_psu))
}

make_rep_design <- function(data, type, r_type, scale = NULL, rscales = NULL) {
  df <- read_data(data)
  cols <- grep("^rw[0-9]+$", names(df), value = TRUE)
  r <- suppressWarnings(svrepdesign(data = df, weights = ~pw, repweights = "^rw[0-9]+$",
                                    type = r_type, combined.weights = TRUE, scale = scale,
                                    rscales = rscales))
  parts <- c(sprintf("data=%s", data), "weights=~pw", "repweights='^rw[0-9]+$'",
             sprintf("type='%s'", r_type), "combined.weights=TRUE")
  if (!is.null(scale)) parts <- c(parts, sprintf("scale=%.17g", scale))
  if (!is.null(rscales)) parts <- c(parts, "rscales=<design$rscales>")
  list(data = data, r = r, r_design = sprintf("svrepdesign(%s)", paste(parts, collapse = ", ")),
       lonely = "fail", class = "ReplicateDesign",
       spec = list(weights = "pw", replicates = as.list(cols), type = type,
                   rscales = if (is.null(rscales)) NA else as.list(unname(rscales)),
                   scale = if (is.null(scale)) NA else scale, mse = FALSE, rho = NA))
}

# the same design raked: barometer's weighting spec and the R call
apipop <- read_data("apipop")
raked <- function(D) {
  D2 <- D
  D2$r <- rake(D$r, list(~stype, ~sch.wide), list(pop_df("stype"), pop_df("sch.wide")),
               control = list(maxit = 1000, epsilon = 1e-13))
  D2$r_design <- paste0("d <- ", D$r_design, "; d <- rake(d, list(~stype, ~sch.wide), ",
                        "list(pop_df('stype'), pop_df('sch.wide')), ",
                        "control=list(maxit=1000, epsilon=1e-13))")
  D2$weighting <- list(method = "rake",
                       args = list(margins = list(stype = pop_table("stype"),
                                                  sch.wide = pop_table("sch.wide")),
                                   tol = 1e-12, max_iter = 1000))
  D2
}

# the same design calibrated (GREG, linear) on stype and api99
calibrated <- function(D) {
  D2 <- D
  pt <- pop_table("stype")
  tot <- c(`(Intercept)` = nrow(apipop), stypeH = pt$H, stypeM = pt$M, api99 = sum(apipop$api99))
  D2$r <- calibrate(D$r, ~stype + api99, tot, calfun = "linear", epsilon = 1e-12, maxit = 200)
  D2$r_design <- paste0("d <- ", D$r_design, sprintf(
    "; d <- calibrate(d, ~stype+api99, c(`(Intercept)`=%d, stypeH=%d, stypeM=%d, api99=%.17g), calfun='linear', epsilon=1e-12, maxit=200)",
    nrow(apipop), pt$H, pt$M, sum(apipop$api99)))
  D2$weighting <- list(method = "calibrate",
                       args = list(margins = list(stype = pt, api99 = sum(apipop$api99)),
                                   method = "linear"))
  D2
}

run_r <- function(D, call) {
  old <- options(survey.lonely.psu = D$lonely)
  on.exit(options(old))
  env <- list2env(list(d = D$r, pop_df = pop_df))
  # regTermTest(method = "LRT") on a replicate design re-fits by update(), which evaluates
  # the call (design = d) from the global environment
  assign("d", D$r, envir = globalenv())
  withCallingHandlers(eval(parse(text = call), envir = env), warning = function(w) {
    # binomial() with survey weights: "non-integer #successes" (the fit is quasibinomial's)
    if (grepl("non-integer", conditionMessage(w))) invokeRestart("muffleWarning")
  })
}

cases <- list()
add_case <- function(id, D, r_call, method, args, results, extra = list()) {
  stopifnot(!(id %in% vapply(cases, function(c) c$id, "")))
  case <- c(list(id = id, data = D$data, design_class = D$class, design = D$spec,
                 r_design = D$r_design, r_call = r_call),
            if (!is.null(D$weighting)) list(weighting = D$weighting) else list(),
            extra, list(method = method, args = args, results = results))
  cases[[length(cases) + 1]] <<- case
}

# ---------------------------------------------------------------------------
# svyglm: the coefficient table (summary + confint), df.residual
# ---------------------------------------------------------------------------

glm_call <- function(r_formula, r_family, subset = NULL) {
  sub <- if (is.null(subset)) "" else sprintf(", subset=%s", subset)
  sprintf("svyglm(%s, d, family=%s()%s, %s)", r_formula, r_family, sub, ctl)
}

coef_rows <- function(m) {
  s <- summary(m)$coefficients
  ci <- confint(m)
  lapply(seq_len(nrow(s)), function(i) {
    list(term_r = rownames(s)[i], estimate = num(s[i, 1]), se = num(s[i, 2]),
         statistic = num(s[i, 3]), p_value = num(s[i, 4]),
         ci_low = num(ci[i, 1]), ci_high = num(ci[i, 2]))
  })
}

case_glm <- function(id, D, r_formula, formula, r_family, family = r_family, subset = NULL,
                     where = NULL) {
  call <- glm_call(r_formula, r_family, subset)
  m <- run_r(D, call)
  old <- options(survey.lonely.psu = D$lonely) # summary() computes a dispersion variance
  on.exit(options(old))
  args <- list(formula = formula, family = family)
  if (!is.null(where)) args$where <- where
  add_case(id, D, call, "glm", args, coef_rows(m),
           extra = list(df_residual = num(m$df.residual)))
}

case_wald <- function(id, D, r_formula, formula, r_family, r_terms, terms) {
  call <- sprintf("regTermTest(%s, %s, method='Wald')", glm_call(r_formula, r_family), r_terms)
  t <- run_r(D, call)
  add_case(id, D, call, "wald_test",
           list(formula = formula, family = r_family, terms = as.list(terms)),
           list(list(statistic = num(t$Ftest), ndf = num(t$df), ddf = num(t$ddf),
                     p_value = num(t$p))))
}

case_lrt <- function(id, D, r_formula, formula, r_family, r_terms, terms) {
  call <- sprintf("regTermTest(%s, %s, method='LRT')", glm_call(r_formula, r_family), r_terms)
  t <- run_r(D, call)
  add_case(id, D, call, "lr_test",
           list(formula = formula, family = r_family, terms = as.list(terms)),
           list(list(chisq = num(t$chisq), ndf = num(t$df), ddf = num(t$ddf),
                     p_value = num(t$p), lambdas = lapply(sort(t$lambda, decreasing = TRUE), num))))
}

case_predict <- function(id, D, r_formula, formula, r_family, type, rows) {
  call <- sprintf("predict(%s, newdata=d$variables[c(%s), ], type='%s')",
                  glm_call(r_formula, r_family), paste(rows, collapse = ", "), type)
  p <- run_r(D, call)
  res <- lapply(seq_along(rows), function(i) {
    list(estimate = num(coef(p)[i]), se = num(SE(p)[i]))
  })
  add_case(id, D, call, "predict",
           list(formula = formula, family = r_family, type = type, rows = as.list(rows - 1)),
           res)
}

case_predmeans <- function(id, D, r_formula, formula, r_family, group, contrast = NULL) {
  call <- sprintf("svypredmeans(%s, ~%s)", glm_call(r_formula, r_family), group)
  pm <- run_r(D, call)
  est <- coef(pm)
  se <- SE(pm)
  res <- lapply(names(est), function(g) list(level = g, estimate = num(est[[g]]),
                                               se = num(se[[g]])))
  extra <- list()
  if (!is.null(contrast)) {
    cc <- svycontrast(pm, setNames(c(1, -1), contrast))
    extra$contrast <- list(levels = as.list(contrast), estimate = num(coef(cc)),
                           se = num(SE(cc)))
    call <- paste0(call, sprintf("; svycontrast(., c(%s=1, %s=-1))", contrast[1], contrast[2]))
  }
  add_case(id, D, call, "predmeans", list(formula = formula, family = r_family, group = group),
           res, extra = extra)
}

# ---------------------------------------------------------------------------
# svyratio and svyttest
# ---------------------------------------------------------------------------

case_ratio <- function(id, D, num_v, den_v, by = NULL, na_rm = FALSE) {
  na <- if (na_rm) ", na.rm=TRUE" else ""
  if (is.null(by)) {
    call <- sprintf("svyratio(~%s, ~%s, d%s)", num_v, den_v, na)
    r <- run_r(D, call)
    res <- list(list(by = structure(list(), names = character(0)),
                     estimate = num(coef(r)), se = num(SE(r))))
  } else {
    call <- sprintf("svyby(~%s, ~%s, denominator=~%s, d, svyratio%s)", num_v, by, den_v, na)
    r <- run_r(D, call)
    df <- as.data.frame(r)
    res <- lapply(seq_len(nrow(df)), function(i) {
      list(by = setNames(list(as.character(df[[by]][i])), by), estimate = num(df[i, 2]),
           se = num(df[i, 3]))
    })
  }
  args <- list(numerator = num_v, denominator = den_v)
  if (!is.null(by)) args$by <- by
  add_case(id, D, call, "ratio", args, res)
}

case_ttest <- function(id, D, variable, group) {
  call <- sprintf("svyttest(%s ~ %s, d)", variable, group)
  t <- run_r(D, call)
  add_case(id, D, call, "ttest", list(variable = variable, group = group),
           list(list(estimate = num(t$estimate), statistic = num(t$statistic),
                     df = num(t$parameter), p_value = num(t$p.value),
                     ci_low = num(t$conf.int[1]), ci_high = num(t$conf.int[2]))))
}

# svyolr: coefficients then cut-points. optim's BFGS stops short of the optimum (by ~1e-7
# relative, even with reltol=1e-16 and restarts), so the reference is svyolr evaluated at
# the maximum-likelihood estimate: found here by Newton steps on the analytic score of the
# weighted proportional-odds likelihood (Hessian by optimHess), then passed to svyolr as
# `start` with maxit=0, so that R's own code computes the cut-points' mapping, the
# finite-difference Hessian and the sandwich at the optimum.
polr_mle <- function(D, r_formula) {
  f <- as.formula(r_formula)
  mf <- model.frame(f, model.frame(D$r), na.action = na.omit)
  keep <- setdiff(seq_len(nrow(model.frame(D$r))), as.integer(attr(mf, "na.action")))
  w <- weights(D$r)[keep]
  x <- model.matrix(f, mf)[, -1, drop = FALSE]
  y <- as.integer(factor(model.response(mf)))
  q <- max(y) - 1
  p <- ncol(x)
  score <- function(par) {
    cuts <- c(-100, par[p + 1:q], 100)
    eta <- drop(x %*% par[1:p])
    a <- cuts[y + 1] - eta
    b <- cuts[y] - eta
    pr <- plogis(a) - plogis(b)
    fa <- dlogis(a) / pr
    fb <- dlogis(b) / pr
    gz <- matrix(0, length(y), q)
    gz[cbind(which(y <= q), y[y <= q])] <- fa[y <= q]
    gz[cbind(which(y > 1), y[y > 1] - 1)] <- -fb[y > 1]
    colSums(w * cbind(-x * (fa - fb), gz))
  }
  m <- run_r(D, sprintf("svyolr(%s, d)", r_formula))
  par <- c(m$coefficients, m$zeta)
  for (i in 1:30) par <- par - solve(optimHess(par, function(b) 0, score), score(par))
  stopifnot(max(abs(score(par))) < 1e-8 * sum(w))
  z <- par[p + 1:q]
  c(par[1:p], z[1], log(diff(z)))
}

case_olr <- function(id, D, r_formula, formula) {
  start <- polr_mle(D, r_formula)
  call <- sprintf("svyolr(%s, d, start=<the MLE>, control=list(maxit=0))", r_formula)
  m <- run_r(D, sprintf("svyolr(%s, d, start=c(%s), control=list(maxit=0))", r_formula,
                        paste(sprintf("%.17g", start), collapse = ", ")))
  est <- coef(m)
  se <- SE(m)
  res <- lapply(seq_along(est), function(i) {
    list(term_r = names(est)[i], estimate = num(est[i]), se = num(se[i]))
  })
  add_case(id, D, call, "olr", list(formula = formula), res,
           extra = list(df_residual = num(m$df.residual)))
}

# ---------------------------------------------------------------------------
# the cases
# ---------------------------------------------------------------------------

dstrat <- make_design("apistrat", "pw", strata = "stype", fpc = "fpc")
dclus1 <- make_design("apiclus1", "pw", psu = "dnum", fpc = "fpc")
dclus1_rake <- raked(dclus1)
dclus1_cal <- calibrated(dclus1)
gp <- make_design("gen_poll", "w", strata = "stratum", psu = "psu", fpc = "fpc", nest = TRUE,
                  lonely_psu = "adjust")
gp_avg <- make_design("gen_poll", "w", strata = "stratum", psu = "psu", fpc = "fpc",
                      nest = TRUE, lonely_psu = "average")
r_jk1 <- make_rep_design("rep_clus1_jk1", "jk1", "JK1",
                         scale = as.svrepdesign(dclus1$r, type = "JK1", compress = FALSE)$scale)
rj <- as.svrepdesign(dstrat$r, type = "JKn", compress = FALSE)
r_jkn <- make_rep_design("rep_strat_jkn", "jkn", "JKn", scale = rj$scale, rscales = rj$rscales)
r_boot <- make_rep_design("rep_clus1_boot", "bootstrap", "bootstrap")

# the replicate-weight CSVs keep only some api columns: the shared formulas use those
lin_f <- "api00 ~ api99 + enroll"
logit_f_r <- "I(sch.wide == 'Yes') ~ api99 + stype"
logit_f <- "I(`sch.wide` == 'Yes') ~ api99 + C(stype)"
pois_f <- "enroll ~ api00 + stype"
pois_fb <- "enroll ~ api00 + C(stype)"
int_f_r <- "api00 ~ api99 * stype"
int_f <- "api00 ~ api99 * C(stype)"

for (D in list(list("strat", dstrat), list("clus1", dclus1), list("clus1_raked", dclus1_rake),
               list("jk1", r_jk1), list("jkn", r_jkn), list("boot", r_boot))) {
  p <- D[[1]]
  case_glm(paste0(p, "_glm_gaussian"), D[[2]], lin_f, lin_f, "gaussian")
  if (p == "boot") {
    # some bootstrap replicates have no high school with sch.wide == 'No': stype would
    # separate them (R warns and reports a meaningless SE; barometer refuses)
    case_glm(paste0(p, "_glm_quasibinomial"), D[[2]], "I(sch.wide == 'Yes') ~ api99 + enroll",
             "I(`sch.wide` == 'Yes') ~ api99 + enroll", "quasibinomial")
  } else {
    case_glm(paste0(p, "_glm_quasibinomial"), D[[2]], logit_f_r, logit_f, "quasibinomial")
  }
  case_glm(paste0(p, "_glm_quasipoisson"), D[[2]], pois_f, pois_fb, "quasipoisson")
  case_glm(paste0(p, "_glm_interaction"), D[[2]], int_f_r, int_f, "gaussian")
  case_ratio(paste0(p, "_ratio_api00_api99"), D[[2]], "api00", "api99")
  case_ratio(paste0(p, "_ratio_api00_api99_by_stype"), D[[2]], "api00", "api99", by = "stype")
  case_ttest(paste0(p, "_ttest_api00_awards"), D[[2]], "api00", "awards")
}
case_glm("clus1_cal_glm_quasibinomial", dclus1_cal, logit_f_r, logit_f, "quasibinomial")
case_glm("clus1_cal_glm_gaussian_missing", dclus1_cal, "api00 ~ avg.ed + meals",
         "api00 ~ `avg.ed` + meals", "gaussian")
case_ratio("clus1_cal_ratio_by_stype", dclus1_cal, "api00", "api99", by = "stype")
case_glm("strat_glm_binomial", dstrat, logit_f_r, logit_f, "binomial")
case_glm("strat_glm_poisson", dstrat, pois_f, pois_fb, "poisson")
# missing values: rows without acs.k3 drop out of the model (a domain)
case_glm("strat_glm_missing", dstrat, "api00 ~ acs.k3 + meals", "api00 ~ `acs.k3` + meals",
         "gaussian")
case_glm("clus1_glm_missing_logit", dclus1, "I(sch.wide == 'Yes') ~ avg.ed + meals",
         "I(`sch.wide` == 'Yes') ~ `avg.ed` + meals", "quasibinomial")
case_glm("strat_glm_missing_ell", dstrat, "api00 ~ acs.k3 + ell + mobility",
         "api00 ~ `acs.k3` + ell + mobility", "gaussian")
case_ratio("strat_ratio_missing", dstrat, "acs.k3", "enroll", na_rm = TRUE)
case_ratio("clus1_ratio_missing_by_stype", dclus1, "acs.k3", "enroll", by = "stype", na_rm = TRUE)
case_ratio("clus1_raked_ratio_missing", dclus1_rake, "acs.k3", "enroll", na_rm = TRUE)
# domains: svyglm(subset=) is barometer's where=
case_glm("strat_glm_subset", dstrat, lin_f, lin_f, "gaussian", subset = "stype != 'E'",
         where = list(stype = list("H", "M")))
case_glm("clus1_glm_subset", dclus1, logit_f_r, logit_f, "quasibinomial",
         subset = "stype != 'E'", where = list(stype = list("H", "M")))
case_glm("clus1_raked_glm_subset", dclus1_rake, lin_f, lin_f, "gaussian",
         subset = "stype != 'E'", where = list(stype = list("H", "M")))

# generated poll: stratified, clustered, nested PSU ids, fpc, a lonely PSU, missing answers
gen_logit_r <- "I(q_ally == 'ally') ~ gender + age_group + score"
gen_logit <- "I(q_ally == 'ally') ~ C(gender) + C(age_group) + score"
for (D in list(list("gen", gp), list("gen_average", gp_avg))) {
  p <- D[[1]]
  case_glm(paste0(p, "_glm_quasibinomial"), D[[2]], gen_logit_r, gen_logit, "quasibinomial")
  case_glm(paste0(p, "_glm_interaction"), D[[2]], "score ~ country * gender",
           "score ~ C(country) * C(gender)", "gaussian")
  case_ttest(paste0(p, "_ttest_score_gender"), D[[2]], "score", "gender")
}
case_glm("gen_glm_subset", gp, "score ~ gender + age_group", "score ~ C(gender) + C(age_group)",
         "gaussian", subset = "country == 'DE'", where = list(country = "DE"))

# Wald tests (regTermTest)
case_wald("strat_wald_stype", dstrat, logit_f_r, logit_f, "quasibinomial", "~stype", "C(stype)")
case_wald("clus1_wald_interaction", dclus1, int_f_r, int_f, "gaussian", "~api99:stype",
          "api99:C(stype)")
case_wald("gen_wald_age", gp, gen_logit_r, gen_logit, "quasibinomial", "~age_group",
          "C(age_group)")
case_wald("jk1_wald_meals_mobility", r_jk1, lin_f, lin_f, "gaussian", "~api99+enroll",
          c("api99", "enroll"))

# working likelihood-ratio tests (regTermTest, method = "LRT", pFsum saddlepoint)
case_lrt("strat_lrt_stype", dstrat, logit_f_r, logit_f, "quasibinomial", "~stype", "C(stype)")
case_lrt("clus1_lrt_interaction", dclus1, int_f_r, int_f, "gaussian", "~api99:stype",
         "api99:C(stype)")
case_lrt("gen_lrt_age", gp, gen_logit_r, gen_logit, "quasibinomial", "~age_group",
         "C(age_group)")
# on replicate designs: R refits the smaller model under the same design; V is the
# replicate covariance, V0 the full-sample fit's naive.cov
case_lrt("jk1_lrt_enroll", r_jk1, lin_f, lin_f, "gaussian", "~enroll", "enroll")
case_lrt("jk1_lrt_stype", r_jk1, logit_f_r, logit_f, "quasibinomial", "~stype", "C(stype)")
case_lrt("jkn_lrt_stype", r_jkn, logit_f_r, logit_f, "quasibinomial", "~stype", "C(stype)")
case_lrt("boot_lrt_enroll", r_boot, lin_f, lin_f, "gaussian", "~enroll", "enroll")

# predictions
case_predict("strat_predict_link", dstrat, logit_f_r, logit_f, "quasibinomial", "link",
             c(1, 2, 60, 150, 200))
case_predict("strat_predict_response", dstrat, logit_f_r, logit_f, "quasibinomial", "response",
             c(1, 2, 60, 150, 200))
case_predict("clus1_predict_gaussian", dclus1, lin_f, lin_f, "gaussian", "response",
             c(1, 10, 100))

# predicted margins and a contrast of two of them
case_predmeans("strat_predmeans_stype", dstrat, "api00 ~ ell + meals", "api00 ~ ell + meals",
               "gaussian", "stype", contrast = c("H", "E"))
case_predmeans("clus1_predmeans_stype_logit", dclus1, "I(sch.wide == 'Yes') ~ ell + meals",
               "I(`sch.wide` == 'Yes') ~ ell + meals", "quasibinomial", "stype",
               contrast = c("M", "E"))
case_predmeans("gen_predmeans_country", gp, "I(q_ally == 'ally') ~ gender + score",
               "I(q_ally == 'ally') ~ C(gender) + score", "quasibinomial", "country",
               contrast = c("FR", "DE"))

# ordinal logistic regression
# (scores rescaled: BFGS on api00 in its raw hundreds does not find the optimum)
olr_api_r <- "stype ~ I(api00/100) + I(meals/10)"
olr_api <- "stype ~ I(api00 / 100) + I(meals / 10)"
case_olr("clus1_olr_stype", dclus1, olr_api_r, olr_api)
case_olr("strat_olr_stype", dstrat, olr_api_r, olr_api)
case_olr("clus1_raked_olr_stype", dclus1_rake, olr_api_r, olr_api)
case_olr("gen_olr_ally", gp, "q_ally ~ gender + score", "q_ally ~ C(gender) + score")
case_olr("gen_average_olr_trend", gp_avg, "q_trend ~ age_group + score",
         "q_trend ~ C(age_group) + score")

out <- list(r_version = R.version.string,
            survey_version = as.character(packageVersion("survey")),
            generated_by = "Rscript tests/reference/make_models.R",
            cases = cases)
path <- file.path(script_dir, "models.json")
writeLines(toJSON(out, auto_unbox = TRUE, digits = I(17), na = "null", null = "null",
                  pretty = TRUE), path)
message(sprintf("%s: %d cases", path, length(cases)))
