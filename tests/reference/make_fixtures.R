# Reference fixtures for barometer, computed with R's `survey` package.
#
# Regenerate (from the repository root):
#   apt-get install r-cran-survey r-cran-mass r-cran-jsonlite
#   Rscript tests/reference/make_fixtures.R
#
# Writes tests/reference/{core,replicates,weighting,compare}.json, the generated poll
# tests/reference/data/gen_poll.csv, and the replicate-weight CSVs
# tests/reference/data/rep_*.csv. Every case stores the R design and the exact R call
# beside its numbers; see tests/reference/README.md for the JSON layout.
#
# The api data are read back from the committed CSVs (not from data(api)) so that R
# and barometer see exactly the same numbers.

source(file.path(dirname(sub("^--file=", "", grep("^--file=",
  c(commandArgs(FALSE), "--file=tests/reference/."), value = TRUE)[1])), "common.R"))

write_data <- function(df, name) {
  write.csv(df, file.path(data_dir, paste0(name, ".csv")), row.names = FALSE, na = "")
  read_data(name) # read back so R uses exactly what the CSV holds
}

options(survey.lonely.psu = "fail", survey.adjust.domain.lonely = FALSE,
        survey.replicates.mse = FALSE)

# ---------------------------------------------------------------------------
# JSON building blocks
# ---------------------------------------------------------------------------

empty_obj <- structure(list(), names = character(0))
by_obj <- function(by) if (length(by) == 0) empty_obj else lapply(by, as.character)

result_row <- function(by, variable, level, estimate, se = NA, deff = NA,
                       ci_low = NA, ci_high = NA) {
  list(by = by_obj(by), variable = variable, level = if (is.null(level)) NA else level,
       estimate = num(estimate), se = num(se), deff = num(deff),
       ci_low = num(ci_low), ci_high = num(ci_high))
}

# (variable, level) of every coefficient R returns for ~v1+v2+...: a factor gives one
# coefficient per level (named <var><level>), a numeric variable one.
stat_labels <- function(vars, data) {
  out <- list()
  for (v in vars) {
    x <- data[[v]]
    if (is.factor(x) || is.character(x)) {
      for (l in levels(factor(x))) out[[length(out) + 1]] <- list(variable = v, level = l)
    } else {
      out[[length(out) + 1]] <- list(variable = v, level = NULL)
    }
  }
  out
}

# rows of an svystat (svymean / svytotal without by)
rows_stat <- function(st, vars, data, by = list(), ci = FALSE) {
  labs <- stat_labels(vars, data)
  est <- coef(st)
  se <- SE(st)
  dd <- if (!is.null(attr(st, "deff"))) deff(st) else rep(NA, length(est))
  stopifnot(length(labs) == length(est))
  cis <- if (ci) confint(st) else matrix(NA, length(est), 2)
  lapply(seq_along(est), function(i) {
    result_row(by, labs[[i]]$variable, labs[[i]]$level, est[i], se[i], dd[i],
               cis[i, 1], cis[i, 2])
  })
}

# rows of an svyby(..., keep.var=TRUE) result: by columns, then the statistics, then
# their SEs, then their design effects.
rows_by <- function(b, byvars, vars, data, ci = FALSE) {
  labs <- stat_labels(vars, data)
  info <- attr(b, "svyby")
  k <- length(byvars)
  ns <- info$nstats
  stopifnot(ns == length(labs))
  df <- as.data.frame(b)
  out <- list()
  for (r in seq_len(nrow(df))) {
    by <- setNames(lapply(byvars, function(v) as.character(df[[v]][r])), byvars)
    for (j in seq_len(ns)) {
      est <- df[r, k + j]
      se <- df[r, k + ns + j]
      dd <- if (isTRUE(info$deffs)) df[r, k + 2 * ns + j] else NA
      lo <- hi <- NA
      if (ci) {
        lo <- est - qnorm(0.975) * se
        hi <- est + qnorm(0.975) * se
      }
      out[[length(out) + 1]] <- result_row(by, labs[[j]]$variable, labs[[j]]$level,
                                           est, se, dd, lo, hi)
    }
  }
  out
}

# rows of svyquantile(..., ci=TRUE, se=TRUE): level = the probability as R labels it
rows_quantile <- function(q, by = list()) {
  out <- list()
  for (v in names(q)) {
    m <- q[[v]]
    for (p in rownames(m)) {
      out[[length(out) + 1]] <- result_row(by, v, p, m[p, 1], m[p, 4], NA,
                                           m[p, 2], m[p, 3])
    }
  }
  out
}

# ---------------------------------------------------------------------------
# Designs: one spec gives both the barometer arguments and the R svydesign call
# ---------------------------------------------------------------------------

make_design <- function(data, weights, strata = NULL, psu = NULL, fpc = NULL,
                        nest = FALSE, lonely_psu = "fail", r_id = NULL) {
  id <- if (!is.null(r_id)) r_id else if (is.null(psu)) "1" else psu
  parts <- c(sprintf("id=~%s", id))
  if (!is.null(strata)) parts <- c(parts, sprintf("strata=~%s", strata))
  parts <- c(parts, sprintf("weights=~%s", weights))
  if (!is.null(fpc)) parts <- c(parts, sprintf("fpc=~%s", fpc))
  if (nest) parts <- c(parts, "nest=TRUE")
  call <- sprintf("svydesign(%s, data=%s)", paste(parts, collapse = ", "), data)
  df <- read_data(data)
  env <- new.env()
  assign(data, df, envir = env)
  list(
    data = data,
    df = df,
    r = eval(parse(text = call), envir = env),
    r_design = call,
    lonely = lonely_psu,
    spec = list(weights = weights, strata = if (is.null(strata)) NA else strata,
                psu = if (is.null(psu)) NA else psu, fpc = if (is.null(fpc)) NA else fpc,
                nest = nest, lonely_psu = lonely_psu)
  )
}

# Evaluate an R call string with `d` bound to the design, under the design's
# lonely-PSU option.
run_r <- function(D, call, extra = list()) {
  old <- options(survey.lonely.psu = if (D$lonely == "fail") "fail" else D$lonely)
  on.exit(options(old))
  env <- list2env(c(list(d = D$r), extra))
  eval(parse(text = call), envir = env)
}

store <- new.env()
for (area in c("core", "replicates", "weighting", "compare")) store[[area]] <- list()

# n: the unweighted base of each row, R's unwtd.count(~variable, design[domain, ]) -- the
# rows of the domain with the variable observed (every weight here is positive)
add_n <- function(results, df) {
  lapply(results, function(r) {
    m <- !is.na(df[[r$variable]])
    for (b in names(r$by)) m <- m & as.character(df[[b]]) == r$by[[b]]
    r$n <- sum(m)
    r
  })
}

add_case <- function(area, id, D, r_call, method, args, results, extra = list()) {
  stopifnot(!(id %in% vapply(store[[area]], function(c) c$id, "")))
  if (method %in% c("mean", "total", "proportion", "quantile")) results <- add_n(results, D$df)
  case <- c(list(id = id, data = D$data, design_class = if (is.null(D$class)) "Design" else D$class,
                 design = D$spec, r_design = D$r_design, r_call = r_call),
            extra,
            list(method = method, args = args, results = results))
  store[[area]][[length(store[[area]]) + 1]] <- case
}

# ---- estimator cases ------------------------------------------------------

# mean / total of numeric variables (optionally by domains)
case_stat <- function(area, id, D, fun, vars, by = NULL, na_rm = FALSE, ci = FALSE) {
  method <- if (fun == "svymean") "mean" else "total"
  f <- paste0("~", paste(vars, collapse = "+"))
  na <- if (na_rm) ", na.rm=TRUE" else ""
  if (is.null(by)) {
    call <- sprintf("%s(%s, d, deff=TRUE%s)", fun, f, na)
    res <- rows_stat(run_r(D, call), vars, D$df, ci = ci)
  } else {
    call <- sprintf("svyby(%s, ~%s, d, %s, deff=TRUE, keep.var=TRUE%s)", f,
                    paste(by, collapse = "+"), fun, na)
    res <- rows_by(run_r(D, call), by, vars, D$df, ci = ci)
  }
  args <- list(variables = if (length(vars) == 1) vars else as.list(vars))
  if (!is.null(by)) args$by <- if (length(by) == 1) by else as.list(by)
  add_case(area, id, D, call, method, args, res)
}

# share of every level of a categorical variable: R svymean(~factor)
case_prop <- function(area, id, D, var, by = NULL, na_rm = FALSE) {
  na <- if (na_rm) ", na.rm=TRUE" else ""
  if (is.null(by)) {
    call <- sprintf("svymean(~%s, d, deff=TRUE%s)", var, na)
    res <- rows_stat(run_r(D, call), var, D$df, ci = TRUE)
  } else {
    call <- sprintf("svyby(~%s, ~%s, d, svymean, deff=TRUE, keep.var=TRUE%s)", var,
                    paste(by, collapse = "+"), na)
    res <- rows_by(run_r(D, call), by, var, D$df, ci = TRUE)
  }
  args <- list(variable = var)
  if (!is.null(by)) args$by <- if (length(by) == 1) by else as.list(by)
  add_case(area, id, D, paste0(call, "; confint(., df=Inf)"), "proportion", args, res)
}

# one level's share with an svyciprop interval; by-domains as svyby does (design[domain, ])
case_ciprop <- function(area, id, D, var, level, method, by = NULL, na_rm = FALSE) {
  na <- if (na_rm) ", na.rm=TRUE" else ""
  one <- function(design, byv) {
    if (method == "wald") {
      m <- eval(parse(text = sprintf("svymean(~I(%s=='%s'), design%s)", var, level, na)))
      ci <- confint(m, df = Inf)
      result_row(byv, var, level, coef(m)[2], SE(m)[2], NA, ci[2, 1], ci[2, 2])
    } else {
      # a domain of a calibrated design keeps its other rows with weight 0, of which
      # svyciprop's glm says they do not count for the dispersion (true, and harmless)
      p <- withCallingHandlers(
        eval(parse(text = sprintf("svyciprop(~I(%s=='%s'), design, method='%s'%s)",
                                  var, level, method, na))),
        warning = function(w) {
          if (grepl("zero weight not used", conditionMessage(w))) invokeRestart("muffleWarning")
        })
      ci <- attr(p, "ci")
      result_row(byv, var, level, p[1], sqrt(attr(p, "var")), NA, ci[1], ci[2])
    }
  }
  old <- options(survey.lonely.psu = D$lonely)
  on.exit(options(old))
  if (method == "wald") {
    call <- sprintf("svymean(~I(%s=='%s'), d%s); confint(., df=Inf)", var, level, na)
  } else {
    call <- sprintf("svyciprop(~I(%s=='%s'), d, method='%s'%s)", var, level, method, na)
  }
  if (is.null(by)) {
    res <- list(one(D$r, list()))
  } else {
    call <- paste0("for each domain g of ", by, ": ",
                   sub("\\bd\\b", perl = TRUE, sprintf("d[d$variables$%s == g, ]", by), call))
    res <- list()
    for (g in levels(factor(D$df[[by]]))) {
      sub_d <- D$r[D$r$variables[[by]] == g, ]
      res[[length(res) + 1]] <- one(sub_d, setNames(list(g), by))
    }
  }
  args <- list(variable = var, level = level, ci = method)
  if (!is.null(by)) args$by <- by
  add_case(area, id, D, call, "proportion", args, res)
}

case_quantile <- function(area, id, D, var, probs, by = NULL, na_rm = FALSE) {
  na <- if (na_rm) ", na.rm=TRUE" else ""
  pr <- paste0("c(", paste(probs, collapse = ", "), ")")
  call <- sprintf("svyquantile(~%s, d, quantiles=%s, ci=TRUE, se=TRUE%s)", var, pr, na)
  old <- options(survey.lonely.psu = D$lonely)
  on.exit(options(old))
  if (is.null(by)) {
    res <- rows_quantile(run_r(D, call))
  } else {
    res <- list()
    for (g in levels(factor(D$df[[by]]))) {
      sub_d <- D$r[D$r$variables[[by]] == g, ]
      q <- eval(parse(text = sub("\\bd\\b", "sub_d", call, perl = TRUE)))
      res <- c(res, rows_quantile(q, setNames(list(g), by)))
    }
    call <- paste0("for each domain g of ", by, ": ",
                   sub("\\bd\\b", perl = TRUE, sprintf("d[d$variables$%s == g, ]", by), call))
  }
  args <- list(variable = var, probs = as.list(probs))
  if (!is.null(by)) args$by <- by
  add_case(area, id, D, call, "quantile", args, res)
}

write_area <- function(area) {
  out <- list(r_version = R.version.string,
              survey_version = as.character(packageVersion("survey")),
              generated_by = "Rscript tests/reference/make_fixtures.R",
              cases = store[[area]])
  path <- file.path(script_dir, paste0(area, ".json"))
  writeLines(toJSON(out, auto_unbox = TRUE, digits = I(17), na = "null", null = "null",
                    pretty = TRUE), path)
  message(sprintf("%s: %d cases", path, length(store[[area]])))
}

# ---------------------------------------------------------------------------
# Generated poll: 3 countries x 4 strata, 6-10 PSUs per stratum (PSU ids repeat across
# strata, so nest=TRUE is needed), one stratum with a single PSU, ~3% missing answers.
# ---------------------------------------------------------------------------

make_gen_poll <- function() {
  set.seed(20251124)
  countries <- c("DE", "FR", "KR")
  rows <- list()
  for (ci in seq_along(countries)) {
    cc <- countries[ci]
    p_ally <- list(DE = c(0.18, 0.50, 0.12, 0.08, 0.12), FR = c(0.14, 0.52, 0.13, 0.09, 0.12),
                   KR = c(0.41, 0.48, 0.04, 0.02, 0.05))[[cc]]
    for (h in 1:4) {
      stratum <- sprintf("%s-%d", cc, h)
      n_psu <- if (cc == "KR" && h == 4) 1L else sample(6:10, 1)
      pop_psu <- n_psu * sample(5:20, 1)
      for (j in seq_len(n_psu)) {
        m <- sample(20:45, 1)
        shift <- rnorm(1, 0, 0.4) # PSU effect
        lp <- log(p_ally) + c(shift, 0, -shift, 0, 0)
        pa <- exp(lp) / sum(exp(lp))
        base_w <- 1000 * (1 + h / 2) * (1 + 0.3 * ci)
        rows[[length(rows) + 1]] <- data.frame(
          country = cc, stratum = stratum, psu = j, fpc = pop_psu,
          w = round(base_w * runif(m, 0.5, 2), 6),
          gender = sample(c("female", "male"), m, TRUE),
          age_group = sample(c("18-34", "35-54", "55+"), m, TRUE, c(0.3, 0.35, 0.35)),
          q_ally = sample(c("ally", "partner", "rival", "adversary", "dont_know"), m, TRUE, pa),
          q_trend = sample(c("stronger", "same", "weaker"), m, TRUE,
                           c(0.3 + shift / 5, 0.42, 0.28 - shift / 5)),
          q_eu = sample(c("yes", "no"), m, TRUE, c(0.55 + shift / 4, 0.45 - shift / 4)),
          score = round(pmin(10, pmax(0, rnorm(m, 5 + shift + (ci - 2) / 2, 2))), 1),
          stringsAsFactors = FALSE)
      }
    }
  }
  df <- do.call(rbind, rows)
  n <- nrow(df)
  for (q in c("q_ally", "q_trend", "q_eu")) df[[q]][runif(n) < 0.03] <- NA
  df$score[runif(n) < 0.05] <- NA
  df$psu_uid <- paste(df$stratum, df$psu, sep = "/")
  # the same fpc given as the first-stage sampling fraction (R: all values <= 1)
  n_h <- tapply(df$psu, df$stratum, function(p) length(unique(p)))
  df$fpc_frac <- as.numeric(n_h[df$stratum]) / df$fpc
  df
}
gen <- write_data(make_gen_poll(), "gen_poll")
message(sprintf("gen_poll: %d rows, %d strata, %d PSUs", nrow(gen),
                length(unique(gen$stratum)), length(unique(gen$psu_uid))))

# ---------------------------------------------------------------------------
# core.json: designs and estimators (issue 2)
# ---------------------------------------------------------------------------

dsrs <- make_design("apisrs", "pw", fpc = "fpc")
dsrs_nofpc <- make_design("apisrs", "pw")
dstrat <- make_design("apistrat", "pw", strata = "stype", fpc = "fpc")
dstrat_nofpc <- make_design("apistrat", "pw", strata = "stype")
dclus1 <- make_design("apiclus1", "pw", psu = "dnum", fpc = "fpc")
dclus1_nofpc <- make_design("apiclus1", "pw", psu = "dnum")
# two-stage design without fpc: R's variance is the ultimate-cluster one (first stage)
dclus2 <- make_design("apiclus2", "pw", psu = "dnum", r_id = "dnum+snum")
dclus2_fpc1 <- make_design("apiclus2", "pw", psu = "dnum", fpc = "fpc1")

case_stat("core", "srs_mean_api00_enroll", dsrs, "svymean", c("api00", "enroll"))
case_stat("core", "srs_total_enroll", dsrs, "svytotal", "enroll")
case_stat("core", "srs_nofpc_mean_api00", dsrs_nofpc, "svymean", "api00")
case_prop("core", "srs_prop_stype", dsrs, "stype")
case_stat("core", "srs_mean_api00_by_stype", dsrs, "svymean", "api00", by = "stype")

case_stat("core", "strat_mean_api00", dstrat, "svymean", "api00")
case_stat("core", "strat_total_enroll", dstrat, "svytotal", "enroll")
case_stat("core", "strat_nofpc_mean_api00", dstrat_nofpc, "svymean", "api00")
case_stat("core", "strat_mean_acsk3_na", dstrat, "svymean", "acs.k3", na_rm = TRUE)
case_stat("core", "strat_total_acsk3_na", dstrat, "svytotal", "acs.k3", na_rm = TRUE)
case_prop("core", "strat_prop_schwide", dstrat, "sch.wide")
case_stat("core", "strat_total_schwide", dstrat, "svytotal", "sch.wide")
case_stat("core", "strat_mean_api00_api99_by_stype", dstrat, "svymean", c("api00", "api99"),
          by = "stype")
case_stat("core", "strat_total_enroll_by_stype", dstrat, "svytotal", "enroll", by = "stype")
case_prop("core", "strat_prop_schwide_by_stype", dstrat, "sch.wide", by = "stype")
case_stat("core", "strat_mean_acsk3_na_by_schwide", dstrat, "svymean", "acs.k3", by = "sch.wide",
          na_rm = TRUE)

case_stat("core", "clus1_mean_api00", dclus1, "svymean", "api00")
case_stat("core", "clus1_total_enroll", dclus1, "svytotal", "enroll")
case_stat("core", "clus1_nofpc_mean_api00_enroll", dclus1_nofpc, "svymean", c("api00", "enroll"))
case_stat("core", "clus1_nofpc_total_enroll", dclus1_nofpc, "svytotal", "enroll")
case_prop("core", "clus1_prop_stype", dclus1, "stype")
case_stat("core", "clus1_total_stype", dclus1, "svytotal", "stype")
case_stat("core", "clus1_mean_avged_na", dclus1, "svymean", "avg.ed", na_rm = TRUE)
case_stat("core", "clus1_mean_api00_enroll_by_stype_schwide", dclus1, "svymean",
          c("api00", "enroll"), by = c("stype", "sch.wide"))
case_prop("core", "clus1_prop_schwide_by_stype", dclus1, "sch.wide", by = "stype")
case_stat("core", "clus1_total_schwide_by_stype", dclus1, "svytotal", "sch.wide", by = "stype")

case_stat("core", "clus2_mean_api00", dclus2, "svymean", "api00")
case_stat("core", "clus2_total_enroll", dclus2, "svytotal", "enroll", na_rm = TRUE)
case_prop("core", "clus2_prop_stype", dclus2, "stype")
case_stat("core", "clus2_fpc1_mean_api00_by_stype", dclus2_fpc1, "svymean", "api00", by = "stype")
case_stat("core", "clus2_fpc1_total_api00", dclus2_fpc1, "svytotal", "api00")

for (m in c("wald", "logit", "likelihood", "asin", "beta", "mean", "xlogit")) {
  case_ciprop("core", paste0("clus1_ciprop_schwide_", m), dclus1, "sch.wide", "Yes", m)
  case_ciprop("core", paste0("strat_ciprop_schwide_", m, "_by_stype"), dstrat, "sch.wide",
              "Yes", m, by = "stype")
}

case_quantile("core", "srs_quantile_api00", dsrs, "api00", c(0.25, 0.5, 0.75))
case_quantile("core", "clus1_quantile_api00", dclus1, "api00", c(0.1, 0.5, 0.9))
case_quantile("core", "strat_quantile_enroll_by_stype", dstrat, "enroll", c(0.5), by = "stype")

# generated poll: stratified, clustered, nested PSU ids, fpc, missing answers
gp <- make_design("gen_poll", "w", strata = "stratum", psu = "psu", fpc = "fpc", nest = TRUE,
                  lonely_psu = "adjust")
gp_uid <- make_design("gen_poll", "w", strata = "stratum", psu = "psu_uid",
                      lonely_psu = "certainty")
case_prop("core", "gen_prop_ally_by_country", gp, "q_ally", by = "country", na_rm = TRUE)
case_prop("core", "gen_prop_trend", gp, "q_trend", na_rm = TRUE)
case_prop("core", "gen_prop_ally_by_country_gender", gp, "q_ally", by = c("country", "gender"),
          na_rm = TRUE)
case_stat("core", "gen_mean_score_by_country", gp, "svymean", "score", by = "country",
          na_rm = TRUE)
case_stat("core", "gen_mean_score", gp, "svymean", "score", na_rm = TRUE)
case_stat("core", "gen_total_score", gp, "svytotal", "score", na_rm = TRUE)
case_stat("core", "gen_total_eu", gp, "svytotal", "q_eu", na_rm = TRUE)
case_stat("core", "gen_total_ally_by_country", gp, "svytotal", "q_ally", by = "country",
          na_rm = TRUE)
case_stat("core", "gen_uid_mean_score_by_country", gp_uid, "svymean", "score", by = "country",
          na_rm = TRUE)
case_prop("core", "gen_uid_prop_eu", gp_uid, "q_eu", na_rm = TRUE)
gp_frac <- make_design("gen_poll", "w", strata = "stratum", psu = "psu", fpc = "fpc_frac",
                       nest = TRUE, lonely_psu = "adjust")
case_stat("core", "gen_fpc_fraction_mean_score_by_country", gp_frac, "svymean", "score",
          by = "country", na_rm = TRUE)
for (m in c("wald", "logit", "beta", "xlogit")) {
  case_ciprop("core", paste0("gen_ciprop_eu_", m, "_by_country"), gp, "q_eu", "yes", m,
              by = "country", na_rm = TRUE)
}
case_ciprop("core", "gen_ciprop_ally_likelihood", gp, "q_ally", "ally", "likelihood",
            na_rm = TRUE)
case_quantile("core", "gen_quantile_score", gp, "score", c(0.25, 0.5), na_rm = TRUE)
case_quantile("core", "gen_quantile_score_by_country", gp, "score", c(0.5), by = "country",
              na_rm = TRUE)
for (lp in c("adjust", "average", "certainty", "remove")) {
  gl <- make_design("gen_poll", "w", strata = "stratum", psu = "psu", fpc = "fpc", nest = TRUE,
                    lonely_psu = lp)
  case_stat("core", paste0("gen_lonely_", lp, "_mean_score"), gl, "svymean", "score",
            na_rm = TRUE)
  case_prop("core", paste0("gen_lonely_", lp, "_prop_ally_by_country"), gl, "q_ally",
            by = "country", na_rm = TRUE)
}
gl_nofpc <- make_design("gen_poll", "w", strata = "stratum", psu = "psu", nest = TRUE,
                        lonely_psu = "average")
case_stat("core", "gen_lonely_average_nofpc_mean_score", gl_nofpc, "svymean", "score",
          na_rm = TRUE)

write_area("core")

# ---------------------------------------------------------------------------
# replicates.json: replicate-weight designs (issue 2, item 4)
# ---------------------------------------------------------------------------

rep_keep <- c("cds", "stype", "sch.wide", "awards", "comp.imp", "api00", "api99", "enroll", "dnum",
              "pw")

# Export a data set with combined (analysis) replicate weights rw001.. as columns.
export_replicates <- function(df, repw, name) {
  repw <- matrix(as.numeric(repw), nrow = NROW(repw))
  colnames(repw) <- sprintf("rw%03d", seq_len(ncol(repw)))
  out <- cbind(df, as.data.frame(repw))
  list(df = write_data(out, name), cols = colnames(repw))
}

# A ReplicateDesign spec + the R svrepdesign built from the same columns.
make_rep_design <- function(data, cols, type, r_type, scale = NULL, rscales = NULL,
                            mse = FALSE, rho = NULL) {
  df <- read_data(data)
  parts <- c(sprintf("data=%s", data), "weights=~pw", "repweights='^rw[0-9]+$'",
             sprintf("type='%s'", r_type), "combined.weights=TRUE")
  if (!is.null(scale)) parts <- c(parts, sprintf("scale=%.17g", scale))
  if (!is.null(rscales)) parts <- c(parts, "rscales=<design$rscales>")
  if (!is.null(rho)) parts <- c(parts, sprintf("rho=%.17g", rho))
  if (mse) parts <- c(parts, "mse=TRUE")
  call <- sprintf("svrepdesign(%s)", paste(parts, collapse = ", "))
  r <- suppressWarnings(svrepdesign(data = df, weights = ~pw, repweights = "^rw[0-9]+$",
                                    type = r_type, combined.weights = TRUE, scale = scale,
                                    rscales = rscales, rho = rho, mse = mse))
  list(data = data, df = df, r = r, r_design = call, lonely = "fail",
       class = "ReplicateDesign",
       spec = list(weights = "pw", replicates = as.list(cols), type = type,
                   rscales = if (is.null(rscales)) NA else as.list(unname(rscales)),
                   scale = if (is.null(scale)) NA else scale, mse = mse,
                   rho = if (is.null(rho)) NA else rho))
}

rep_cases <- function(prefix, R, area = "replicates", byvar = "stype", totvar = "stype") {
  case_stat(area, paste0(prefix, "_mean_api00_enroll"), R, "svymean", c("api00", "enroll"))
  case_stat(area, paste0(prefix, "_total_enroll"), R, "svytotal", "enroll")
  case_prop(area, paste0(prefix, "_prop_schwide"), R, "sch.wide")
  case_stat(area, paste0(prefix, "_total_", totvar), R, "svytotal", totvar)
  case_stat(area, paste0(prefix, "_mean_api00_by_", byvar), R, "svymean", "api00", by = byvar)
}

# JK1 from the one-stage cluster sample (with its fpc folded into scale)
r_jk1 <- as.svrepdesign(dclus1$r, type = "JK1", compress = FALSE)
x <- export_replicates(dclus1$df[rep_keep], weights(r_jk1, "analysis"), "rep_clus1_jk1")
R <- make_rep_design("rep_clus1_jk1", x$cols, "jk1", "JK1", scale = r_jk1$scale)
rep_cases("jk1", R)
case_quantile("replicates", "jk1_quantile_api00", R, "api00", c(0.5))
case_ciprop("replicates", "jk1_ciprop_schwide_logit", R, "sch.wide", "Yes", "logit")
# default scale (n-1)/n with n = number of replicates
rep_cases("jk1_default_scale", make_rep_design("rep_clus1_jk1", x$cols, "jk1", "JK1"))
rep_cases("jk1_mse", make_rep_design("rep_clus1_jk1", x$cols, "jk1", "JK1",
                                     scale = r_jk1$scale, mse = TRUE))

# JKn from the stratified sample (rscales = (n_h - 1)/n_h times the fpc (1 - n_h/N_h))
r_jkn <- as.svrepdesign(dstrat$r, type = "JKn", compress = FALSE)
x <- export_replicates(dstrat$df[rep_keep], weights(r_jkn, "analysis"), "rep_strat_jkn")
R <- make_rep_design("rep_strat_jkn", x$cols, "jkn", "JKn", scale = r_jkn$scale,
                     rscales = r_jkn$rscales)
rep_cases("jkn", R, byvar = "sch.wide", totvar = "sch.wide")

# BRR and Fay on apistrat with variance strata of 2 PSUs each (vstrat x vpsu)
brr_df <- local({
  df <- dstrat$df[rep_keep]
  df$vstrat <- NA
  df$vpsu <- NA
  for (s in levels(df$stype)) {
    idx <- which(df$stype == s)
    k <- length(idx) # 100, 50, 50: pair consecutive rows into strata of 2 PSUs
    df$vstrat[idx] <- sprintf("%s%02d", s, (seq_len(k) - 1) %/% (k / 10) + 1)
    df$vpsu[idx] <- ((seq_len(k) - 1) %% 2) + 1
  }
  write_data(df, "apistrat_pairs")
})
dpairs <- make_design("apistrat_pairs", "pw", strata = "vstrat", psu = "vpsu", nest = TRUE)
r_brr <- as.svrepdesign(dpairs$r, type = "BRR", compress = FALSE)
x <- export_replicates(brr_df, weights(r_brr, "analysis"), "rep_pairs_brr")
rep_cases("brr", make_rep_design("rep_pairs_brr", x$cols, "brr", "BRR"), totvar = "sch.wide")
r_fay <- as.svrepdesign(dpairs$r, type = "Fay", fay.rho = 0.3, compress = FALSE)
x <- export_replicates(brr_df, weights(r_fay, "analysis"), "rep_pairs_fay")
rep_cases("fay", make_rep_design("rep_pairs_fay", x$cols, "fay", "Fay", rho = 0.3),
          totvar = "sch.wide")

# bootstrap replicates of the cluster sample (fixed seed; default scale 1/(R-1))
set.seed(42)
r_boot <- as.svrepdesign(dclus1_nofpc$r, type = "bootstrap", replicates = 50, compress = FALSE)
x <- export_replicates(dclus1$df[rep_keep], weights(r_boot, "analysis"), "rep_clus1_boot")
rep_cases("bootstrap", make_rep_design("rep_clus1_boot", x$cols, "bootstrap", "bootstrap"))

# successive-difference replicates (80, ACS style) on the simple random sample
sdr_df <- local({
  df <- dsrs$df[rep_keep]
  a <- 2 * hadamard(80)[, 1:80] - 1 # +-1 Hadamard entries
  n <- nrow(df)
  i <- ((seq_len(n) - 1) %% 80) + 1
  i2 <- (seq_len(n) %% 80) + 1
  f <- 1 + 2^(-1.5) * (a[i, ] - a[i2, ])
  list(df = df, repw = df$pw * f)
})
x <- export_replicates(sdr_df$df, sdr_df$repw, "rep_srs_sdr")
rep_cases("sdr", make_rep_design("rep_srs_sdr", x$cols, "sdr", "successive-difference"))
rep_cases("sdr_mse", make_rep_design("rep_srs_sdr", x$cols, "sdr", "successive-difference",
                                     mse = TRUE))

# Design.to_replicates(type): as.svrepdesign on the linearisation design
to_rep_cases <- function(prefix, D, type, r_type, byvar = "stype", totvar = "stype", ...) {
  r <- as.svrepdesign(D$r, type = r_type, ...)
  RD <- D
  RD$r <- r
  RD$r_design <- sprintf("as.svrepdesign(%s, type='%s')", D$r_design, r_type)
  n0 <- length(store$replicates)
  rep_cases(prefix, RD, byvar = byvar, totvar = totvar)
  for (i in (n0 + 1):length(store$replicates)) store$replicates[[i]]$to_replicates <- type
}
to_rep_cases("to_jk1_clus1", dclus1, "jk1", "JK1")
to_rep_cases("to_jk1_clus1_nofpc", dclus1_nofpc, "jk1", "JK1")
to_rep_cases("to_jkn_strat", dstrat, "jkn", "JKn", byvar = "sch.wide", totvar = "sch.wide")
to_rep_cases("to_jkn_strat_nofpc", dstrat_nofpc, "jkn", "JKn", byvar = "sch.wide",
             totvar = "sch.wide")
to_rep_cases("to_brr_pairs", dpairs, "brr", "BRR", totvar = "sch.wide")

write_area("replicates")

# ---------------------------------------------------------------------------
# weighting.json: rake, calibrate, poststratify (issue 3)
# ---------------------------------------------------------------------------

apipop <- read_data("apipop")

# Apply an R weighting call to D; every estimator case added by `estimates(D2)` is tagged
# with the barometer weighting spec, and the first one also carries the final weights.
# `method` is a barometer method name with its `args`, or (args = NULL) a list of steps
# list(method=, args=) applied in order, as the nested R calls in `r_expr` are.
weighting_group <- function(prefix, D, method, args, r_expr, estimates, to_replicates = NULL) {
  spec <- if (is.list(method)) method else list(method = method, args = args)
  D2 <- D
  if (!is.null(to_replicates)) {
    D$r <- as.svrepdesign(D$r, type = toupper(to_replicates))
    D$r_design <- sprintf("as.svrepdesign(%s, type='%s')", D$r_design, toupper(to_replicates))
    D2 <- D
  }
  # R's calibrate on a replicate design does not stop when a replicate fails to converge
  # (grake only warns), nor does rake: any warning other than about compressing is an error
  D2$r <- withCallingHandlers(run_r(D, r_expr), warning = function(w) {
    if (!grepl("compress", conditionMessage(w))) stop(prefix, ": ", conditionMessage(w))
    invokeRestart("muffleWarning")
  })
  D2$r_design <- paste0("d <- ", D$r_design, "; d <- ", r_expr)
  n0 <- length(store$weighting)
  estimates(D2, prefix)
  w <- if (inherits(D2$r, "svyrep.design")) D2$r$pweights else weights(D2$r)
  for (i in (n0 + 1):length(store$weighting)) {
    case <- store$weighting[[i]]
    case$weighting <- spec
    if (!is.null(to_replicates)) case$to_replicates <- to_replicates
    if (i == n0 + 1) case$weights <- as.list(unname(as.numeric(w)))
    store$weighting[[i]] <- case
  }
}

api_estimates <- function(D, prefix) {
  case_stat("weighting", paste0(prefix, "_mean_api00_enroll"), D, "svymean", c("api00", "enroll"))
  case_stat("weighting", paste0(prefix, "_total_enroll"), D, "svytotal", "enroll")
  case_prop("weighting", paste0(prefix, "_prop_awards"), D, "awards")
  case_stat("weighting", paste0(prefix, "_mean_api00_by_stype"), D, "svymean", "api00",
            by = "stype")
}

rake_ctl <- "control=list(maxit=1000, epsilon=1e-13)"
pop_types <- pop_table("stype")
pop_schwide <- pop_table("sch.wide")
margins_r <- "list(~stype, ~sch.wide), list(pop_df('stype'), pop_df('sch.wide'))"
weighting_group("rake_clus1", dclus1, "rake",
                list(margins = list(stype = pop_types, sch.wide = pop_schwide),
                     tol = 1e-12, max_iter = 1000),
                sprintf("rake(d, %s, %s)", margins_r, rake_ctl), api_estimates)
weighting_group("rake_strat", dstrat, "rake",
                list(margins = list(sch.wide = pop_schwide, comp.imp = pop_table("comp.imp")),
                     tol = 1e-12, max_iter = 1000),
                sprintf("rake(d, list(~sch.wide, ~comp.imp), list(pop_df('sch.wide'), pop_df('comp.imp')), %s)",
                        rake_ctl),
                api_estimates)

api99_total <- sum(apipop$api99)
cal_totals_r <- sprintf("c(`(Intercept)`=%d, stypeH=%d, stypeM=%d, api99=%.17g)",
                        sum(unlist(pop_types)), pop_types$H, pop_types$M, api99_total)
# one weighting group per (calfun, bounds or NULL) in `cals`: calibrate dclus1 on
# ~stype+api99, optionally after to_replicates
calibrate_groups <- function(cals, suffix, estimates, to_replicates = NULL) {
  for (cal in cals) {
    calfun <- cal[[1]]
    bounds <- cal[[2]]
    args <- list(margins = list(stype = pop_types, api99 = api99_total), method = calfun)
    r_bounds <- ""
    id <- paste0("calibrate_", calfun)
    if (!is.null(bounds)) {
      args$bounds <- as.list(bounds)
      r_bounds <- sprintf(", bounds=c(%g, %g)", bounds[1], bounds[2])
      id <- paste0(id, "_bounded")
    }
    weighting_group(paste0(id, suffix), dclus1, "calibrate", args,
                    sprintf("calibrate(d, ~stype+api99, %s, calfun='%s'%s, epsilon=1e-12, maxit=200)",
                            cal_totals_r, calfun, r_bounds),
                    estimates, to_replicates = to_replicates)
  }
}
calibrate_groups(list(list("linear", NULL), list("linear", c(0.7, 1.7)), list("raking", NULL),
                      list("raking", c(0.7, 1.7)), list("logit", c(0.7, 1.7))),
                 "_clus1", api_estimates)

weighting_group("poststratify_clus1", dclus1, "poststratify",
                list(variables = "stype", table = pop_types),
                "postStratify(d, ~stype, pop_df('stype'))", api_estimates)
two_way <- as.data.frame(table(stype = apipop$stype, sch.wide = apipop$sch.wide))
two_way_records <- lapply(seq_len(nrow(two_way)), function(i) {
  list(stype = as.character(two_way$stype[i]), sch.wide = as.character(two_way$sch.wide[i]),
       total = two_way$Freq[i])
})
weighting_group("poststratify2_clus1", dclus1, "poststratify",
                list(variables = list("stype", "sch.wide"), table = two_way_records),
                "postStratify(d, ~stype+sch.wide, two_way)", api_estimates)

# raking a replicate design re-rakes every replicate
R_jk1 <- make_rep_design("rep_clus1_jk1", sprintf("rw%03d", 1:15), "jk1", "JK1",
                         scale = r_jk1$scale)
weighting_group("rake_rep_jk1", R_jk1, "rake",
                list(margins = list(stype = pop_types, sch.wide = pop_schwide),
                     tol = 1e-12, max_iter = 1000),
                sprintf("rake(d, %s, %s)", margins_r, rake_ctl), api_estimates)
weighting_group("poststratify_rep_jk1", R_jk1, "poststratify",
                list(variables = "stype", table = pop_types),
                "postStratify(d, ~stype, pop_df('stype'))", api_estimates)
weighting_group("rake_to_jk1_clus1", dclus1, "rake",
                list(margins = list(stype = pop_types, sch.wide = pop_schwide),
                     tol = 1e-12, max_iter = 1000),
                sprintf("rake(d, %s, %s)", margins_r, rake_ctl), api_estimates,
                to_replicates = "jk1")

# generated poll: rake each country to its own margins (R: margins crossed with country)
gen_pop <- list(
  DE = list(gender = c(female = 35.1e6, male = 34.0e6),
            age_group = c(`18-34` = 18.2e6, `35-54` = 22.6e6, `55+` = 28.3e6)),
  FR = list(gender = c(female = 27.4e6, male = 25.3e6),
            age_group = c(`18-34` = 14.6e6, `35-54` = 16.9e6, `55+` = 21.2e6)),
  KR = list(gender = c(female = 22.3e6, male = 21.9e6),
            age_group = c(`18-34` = 11.9e6, `35-54` = 16.4e6, `55+` = 15.9e6))
)
cross_df <- function(var) {
  do.call(rbind, lapply(names(gen_pop), function(cc) {
    v <- gen_pop[[cc]][[var]]
    df <- data.frame(country = cc, names(v), as.numeric(v))
    names(df) <- c("country", var, "Freq")
    df
  }))
}
gen_estimates <- function(D, prefix) {
  case_stat("weighting", paste0(prefix, "_mean_score_by_country"), D, "svymean", "score",
            by = "country", na_rm = TRUE)
  case_prop("weighting", paste0(prefix, "_prop_ally_by_country"), D, "q_ally", by = "country",
            na_rm = TRUE)
  case_stat("weighting", paste0(prefix, "_mean_score"), D, "svymean", "score", na_rm = TRUE)
}
gen_margins <- lapply(gen_pop, function(m) lapply(m, as.list))
weighting_group("rake_by_country_gen", gp, "rake",
                list(margins = gen_margins, by = "country", tol = 1e-12, max_iter = 1000),
                sprintf("rake(d, list(~country+gender, ~country+age_group), list(cross_df('gender'), cross_df('age_group')), %s)",
                        rake_ctl),
                gen_estimates)
gen_cells <- cross_df("age_group")
gen_cells$Freq <- round(gen_cells$Freq * c(1.02, 0.97, 1.01, 0.99, 1.03, 0.98, 1, 1.01, 0.99))
weighting_group("poststratify_country_age_gen", gp, "poststratify",
                list(variables = list("country", "age_group"),
                     table = lapply(seq_len(nrow(gen_cells)), function(i) {
                       list(country = gen_cells$country[i], age_group = gen_cells$age_group[i],
                            total = gen_cells$Freq[i])
                     })),
                "postStratify(d, ~country+age_group, gen_cells)", gen_estimates)

# calibrating a replicate design re-calibrates every replicate (R calibrate.svyrep.design;
# a replicate that does not converge is an error above: grake only warns). Bounds (0.5, 2.5)
# are the ones with which every replicate converges for logit: with (0.7, 1.7) four of the 15
# JK1 replicates cannot reach the totals. For bounded raking they bind in some replicates.
rep_cal_estimates <- function(D, prefix) {
  api_estimates(D, prefix)
  case_stat("weighting", paste0(prefix, "_total_enroll_by_schwide"), D, "svytotal", "enroll",
            by = "sch.wide")
  case_prop("weighting", paste0(prefix, "_prop_compimp_by_stype"), D, "comp.imp", by = "stype")
}
calibrate_groups(list(list("linear", NULL), list("raking", NULL), list("logit", c(0.5, 2.5)),
                      list("raking", c(0.5, 2.5)), list("linear", c(0.5, 2.5))),
                 "_to_jk1_clus1", rep_cal_estimates, to_replicates = "jk1")

# two calibrations in a row: post-stratify, then rake the post-stratified weights. R keeps
# both records (design$postStrata) and applies their projections in that order.
chain_estimates <- function(D, prefix) {
  case_stat("weighting", paste0(prefix, "_mean_api00_enroll"), D, "svymean", c("api00", "enroll"))
  case_stat("weighting", paste0(prefix, "_total_enroll"), D, "svytotal", "enroll")
  case_stat("weighting", paste0(prefix, "_total_enroll_by_stype"), D, "svytotal", "enroll",
            by = "stype")
  case_prop("weighting", paste0(prefix, "_prop_awards_by_stype"), D, "awards", by = "stype")
  # (not by sch.wide: in apiclus1 every sch.wide = "No" school has yr.rnd = "No", so the
  # domain's SE is zero and its deff 0/0, which R reports as round-off, e.g. 7e30)
  case_prop("weighting", paste0(prefix, "_prop_yrrnd_by_both"), D, "yr.rnd", by = "both")
}
# post-stratify D on `ps_var`, then rake on sch.wide and comp.imp
poststratify_rake_group <- function(prefix, D, ps_var, to_replicates = NULL) {
  steps <- list(
    list(method = "poststratify", args = list(variables = ps_var, table = pop_table(ps_var))),
    list(method = "rake",
         args = list(margins = list(sch.wide = pop_schwide, comp.imp = pop_table("comp.imp")),
                     tol = 1e-12, max_iter = 1000)))
  r_expr <- sprintf(
    "rake(postStratify(d, ~%s, pop_df('%s')), list(~sch.wide, ~comp.imp), list(pop_df('sch.wide'), pop_df('comp.imp')), %s)",
    ps_var, ps_var, rake_ctl)
  weighting_group(prefix, D, steps, NULL, r_expr, chain_estimates, to_replicates = to_replicates)
}
poststratify_rake_group("poststratify_rake_clus1", dclus1, "stype")
# (dstrat is stratified by stype with weights N_h/n_h: post-stratifying it on stype would
# change nothing, so it is post-stratified on awards)
poststratify_rake_group("poststratify_rake_strat", dstrat, "awards")
# the same on a replicate design: every replicate is post-stratified, then raked
poststratify_rake_group("poststratify_rake_to_jk1_clus1", dclus1, "stype", to_replicates = "jk1")

# svyciprop (logit) and svyquantile on a linearly calibrated design, overall and by domain
weighting_group("calibrate_linear_clus1_ci", dclus1, "calibrate",
                list(margins = list(stype = pop_types, api99 = api99_total), method = "linear"),
                sprintf("calibrate(d, ~stype+api99, %s, calfun='linear')", cal_totals_r),
                function(D, prefix) {
                  case_ciprop("weighting", paste0(prefix, "prop_schwide_logit"), D, "sch.wide",
                              "Yes", "logit")
                  case_ciprop("weighting", paste0(prefix, "prop_schwide_logit_by_stype"), D,
                              "sch.wide", "Yes", "logit", by = "stype")
                  case_ciprop("weighting", paste0(prefix, "prop_stypeE_logit_by_compimp"), D,
                              "stype", "E", "logit", by = "comp.imp")
                  case_quantile("weighting", paste0(prefix, "quantile_api00"), D, "api00",
                                c(0.25, 0.5, 0.75))
                  case_quantile("weighting", paste0(prefix, "quantile_api00_by_stype"), D,
                                "api00", c(0.25, 0.5), by = "stype")
                  case_quantile("weighting", paste0(prefix, "quantile_enroll_by_schwide"), D,
                                "enroll", c(0.5), by = "sch.wide")
                })

# domains that are not raking variables: rake on stype and sch.wide, estimate by `both`
weighting_group("rake_clus1_offmargin", dclus1, "rake",
                list(margins = list(stype = pop_types, sch.wide = pop_schwide),
                     tol = 1e-12, max_iter = 1000),
                sprintf("rake(d, %s, %s)", margins_r, rake_ctl),
                function(D, prefix) {
                  case_prop("weighting", paste0(prefix, "_prop_awards_by_both"), D, "awards",
                            by = "both")
                  case_prop("weighting", paste0(prefix, "_prop_yrrnd_by_both"), D, "yr.rnd",
                            by = "both")
                  case_stat("weighting", paste0(prefix, "_mean_api00_by_both"), D, "svymean",
                            "api00", by = "both")
                  case_stat("weighting", paste0(prefix, "_total_enroll_by_compimp"), D,
                            "svytotal", "enroll", by = "comp.imp")
                  case_prop("weighting", paste0(prefix, "_prop_awards_by_stype_both"), D,
                            "awards", by = c("stype", "both"))
                })

# ---------------------------------------------------------------------------
# issue 16: calibrated variances from sums by calibration cell (variance/cells.py).
# Domains that cut across the calibration cells, several calibration steps chained, and
# raked replicate designs. (Appended: the cases above are unchanged.)
# ---------------------------------------------------------------------------

# domains that cut across the cells: strata (within a country, across its gender x age
# cells), gender x stratum, and age groups pooled over countries
cells_estimates <- function(D, prefix) {
  case_prop("weighting", paste0(prefix, "_prop_ally_by_stratum"), D, "q_ally", by = "stratum",
            na_rm = TRUE)
  case_prop("weighting", paste0(prefix, "_prop_trend_by_gender_stratum"), D, "q_trend",
            by = c("gender", "stratum"), na_rm = TRUE)
  case_stat("weighting", paste0(prefix, "_mean_score_by_age"), D, "svymean", "score",
            by = "age_group", na_rm = TRUE)
  case_stat("weighting", paste0(prefix, "_total_score_by_gender"), D, "svytotal", "score",
            by = "gender", na_rm = TRUE)
  case_prop("weighting", paste0(prefix, "_prop_eu_by_country_age"), D, "q_eu",
            by = c("country", "age_group"), na_rm = TRUE)
}
gen_rake_step <- list(method = "rake",
                      args = list(margins = gen_margins, by = "country", tol = 1e-12,
                                  max_iter = 1000))
gen_rake_r <- sprintf(
  "rake(%%s, list(~country+gender, ~country+age_group), list(cross_df('gender'), cross_df('age_group')), %s)",
  rake_ctl)
gen_ps_step <- list(method = "poststratify",
                    args = list(variables = list("country", "age_group"),
                                table = lapply(seq_len(nrow(gen_cells)), function(i) {
                                  list(country = gen_cells$country[i],
                                       age_group = gen_cells$age_group[i],
                                       total = gen_cells$Freq[i])
                                })))
gen_ps_r <- "postStratify(%s, ~country+age_group, gen_cells)"
weighting_group("cells_rake_by_country_gen", gp, gen_rake_step$method, gen_rake_step$args,
                sprintf(gen_rake_r, "d"), cells_estimates)
weighting_group("cells_poststratify_country_age_gen", gp, gen_ps_step$method,
                gen_ps_step$args, sprintf(gen_ps_r, "d"), cells_estimates)
# chained: post-stratify, then rake (and the other way round); three steps: post-stratify,
# rake, post-stratify again
weighting_group("cells_poststratify_rake_gen", gp, list(gen_ps_step, gen_rake_step), NULL,
                sprintf(gen_rake_r, sprintf(gen_ps_r, "d")), cells_estimates)
weighting_group("cells_rake_poststratify_gen", gp, list(gen_rake_step, gen_ps_step), NULL,
                sprintf(gen_ps_r, sprintf(gen_rake_r, "d")), cells_estimates)
weighting_group("cells_poststratify_rake_poststratify_gen", gp,
                list(gen_ps_step, gen_rake_step, gen_ps_step), NULL,
                sprintf(gen_ps_r, sprintf(gen_rake_r, sprintf(gen_ps_r, "d"))),
                cells_estimates)

# raked replicate designs: every replicate re-raked (R rake on a svyrep.design)
rep_rake_estimates <- function(D, prefix) {
  api_estimates(D, prefix)
  case_prop("weighting", paste0(prefix, "_prop_awards_by_stype"), D, "awards", by = "stype")
  case_prop("weighting", paste0(prefix, "_prop_compimp_by_schwide"), D, "comp.imp",
            by = "sch.wide")
}
api_rake_step <- list(margins = list(stype = pop_types, sch.wide = pop_schwide),
                      tol = 1e-12, max_iter = 1000)
R_sdr <- make_rep_design("rep_srs_sdr", sprintf("rw%03d", 1:80), "sdr", "successive-difference")
weighting_group("cells_rake_rep_sdr", R_sdr, "rake", api_rake_step,
                sprintf("rake(d, %s, %s)", margins_r, rake_ctl), rep_rake_estimates)
# (not the bootstrap replicates of apiclus1: R rakes the replicates in the main weights'
# sweeps and stops when those converge, so a slower replicate is left short of its
# margins; barometer rakes every replicate to the tolerance, and the SEs differ by ~5e-8)
weighting_group("cells_poststratify_rake_rep_sdr", R_sdr,
                list(list(method = "poststratify",
                          args = list(variables = "awards", table = pop_table("awards"))),
                     list(method = "rake", args = api_rake_step)), NULL,
                sprintf("rake(postStratify(d, ~awards, pop_df('awards')), %s, %s)", margins_r,
                        rake_ctl),
                rep_rake_estimates)

# issue 16 (h16greg): calibrate() on categorical margins only, whose variance runs on the
# calibration cells (variance/calibrated.py, GregProjection): linear, bounded linear,
# logit; calibrate then rake and rake then calibrate; an element design. The totals are
# the generated population's shares of a total near the sample's weighted total (so that
# the logit bounds can be met), as R's model.matrix columns and as barometer's margins.
gen_cal_totals <- function(total, shares) {
  lapply(shares, function(v) as.list(setNames(round(total * v / sum(v)), names(v))))
}
gen_shares <- list(
  country = c(DE = 0.416, FR = 0.317, KR = 0.267),
  gender = c(female = 0.511, male = 0.489),
  age_group = c(`18-34` = 0.269, `35-54` = 0.337, `55+` = 0.394)
)
gen_cal_r <- function(margins) {
  # (Intercept) then every level but the first of each margin (R's treatment contrasts);
  # each margin's levels add up to the same total, as barometer requires
  total <- sum(unlist(margins[[1]]))
  parts <- c(sprintf("`(Intercept)`=%.17g", total))
  for (v in names(margins)) {
    lv <- names(margins[[v]])
    for (l in lv[-1]) parts <- c(parts, sprintf("`%s%s`=%.17g", v, l, margins[[v]][[l]]))
  }
  sprintf("c(%s)", paste(parts, collapse = ", "))
}
gen_cal <- gen_cal_totals(12.7e6, gen_shares)
# after raking to the population (166e6) the calibration totals move each margin a little
gen_cal_big <- gen_cal_totals(166e6, list(country = c(DE = 0.42, FR = 0.31, KR = 0.27),
                                          gender = c(female = 0.515, male = 0.485),
                                          age_group = c(`18-34` = 0.28, `35-54` = 0.335,
                                                        `55+` = 0.385)))
gen_cal_step <- function(margins, calfun, bounds = NULL) {
  args <- list(margins = margins, method = calfun, tol = 1e-12, max_iter = 200)
  r_bounds <- ""
  if (!is.null(bounds)) {
    args$bounds <- as.list(bounds)
    r_bounds <- sprintf(", bounds=c(%g, %g)", bounds[1], bounds[2])
  }
  list(step = list(method = "calibrate", args = args),
       r = sprintf("calibrate(%%s, ~country+gender+age_group, %s, calfun='%s'%s, epsilon=1e-12, maxit=200)",
                   gen_cal_r(margins), calfun, r_bounds))
}
for (cal in list(list("linear", NULL, "linear"), list("linear", c(0.7, 1.3), "linear_bounded"),
                 list("logit", c(0.5, 2), "logit"), list("raking", NULL, "raking"))) {
  st <- gen_cal_step(gen_cal, cal[[1]], cal[[2]])
  weighting_group(paste0("cells_calibrate_", cal[[3]], "_gen"), gp, st$step$method,
                  st$step$args, sprintf(st$r, "d"), cells_estimates)
}
st <- gen_cal_step(gen_cal, "linear")
weighting_group("cells_calibrate_rake_gen", gp, list(st$step, gen_rake_step), NULL,
                sprintf(gen_rake_r, sprintf(st$r, "d")), cells_estimates)
st <- gen_cal_step(gen_cal_big, "logit", c(0.5, 2))
weighting_group("cells_rake_calibrate_logit_gen", gp, list(gen_rake_step, st$step), NULL,
                sprintf(st$r, sprintf(gen_rake_r, "d")), cells_estimates)
gp_elements <- make_design("gen_poll", "w", strata = "stratum")
st <- gen_cal_step(gen_cal, "linear")
weighting_group("cells_calibrate_linear_elements_gen", gp_elements, st$step$method,
                st$step$args, sprintf(st$r, "d"), cells_estimates)

write_area("weighting")

# ---------------------------------------------------------------------------
# compare.json: contrasts and Rao-Scott tests (issue 5)
# ---------------------------------------------------------------------------

# A contrast of the rows of one estimator's result. `coefficients` identifies rows by
# (by, variable, level) as in the estimator's results; rows not listed have coefficient 0.
coef_row <- function(by, variable, level, coef) {
  list(by = by_obj(by), variable = variable, level = if (is.null(level)) NA else level,
       coef = coef)
}

case_contrast <- function(id, D, estimator, r_stat, r_coefs, coefficients) {
  call <- sprintf("svycontrast(%s, %s)", r_stat, r_coefs)
  ct <- run_r(D, call)
  res <- list(list(estimate = num(coef(ct)), se = num(SE(ct))))
  add_case("compare", id, D, call, "contrast", list(),
           res, extra = list(compare = list(kind = "contrast", estimator = estimator,
                                             coefficients = coefficients)))
}

stype_by <- function(v, s) setNames(list(s), v)
for (D in list(dclus1, dstrat)) {
  nm <- if (identical(D, dclus1)) "clus1" else "strat"
  est <- list(method = "mean", args = list(variables = "api00", by = "stype"))
  r_stat <- "svyby(~api00, ~stype, d, svymean, covmat=TRUE)"
  case_contrast(paste0(nm, "_contrast_mean_api00_E_minus_H"), D, est, r_stat,
                "c(E=1, H=-1, M=0)",
                list(coef_row(stype_by("stype", "E"), "api00", NULL, 1),
                     coef_row(stype_by("stype", "H"), "api00", NULL, -1)))
  case_contrast(paste0(nm, "_contrast_mean_api00_average"), D, est, r_stat,
                "c(E=1/3, H=1/3, M=1/3)",
                lapply(c("E", "H", "M"), function(s) {
                  coef_row(stype_by("stype", s), "api00", NULL, 1 / 3)
                }))
}
case_contrast("clus1_contrast_mean_api00_schwide_yes_minus_no", dclus1,
              list(method = "mean", args = list(variables = "api00", by = "sch.wide")),
              "svyby(~api00, ~sch.wide, d, svymean, covmat=TRUE)", "c(No=-1, Yes=1)",
              list(coef_row(stype_by("sch.wide", "Yes"), "api00", NULL, 1),
                   coef_row(stype_by("sch.wide", "No"), "api00", NULL, -1)))
case_contrast("clus1_contrast_prop_stype_E_minus_H", dclus1,
              list(method = "proportion", args = list(variable = "stype")),
              "svymean(~stype, d)", "c(1, -1, 0)",
              list(coef_row(list(), "stype", "E", 1), coef_row(list(), "stype", "H", -1)))
case_contrast("clus1_contrast_total_enroll_E_minus_M", dclus1,
              list(method = "total", args = list(variables = "enroll", by = "stype")),
              "svyby(~enroll, ~stype, d, svytotal, covmat=TRUE)", "c(E=1, H=0, M=-1)",
              list(coef_row(stype_by("stype", "E"), "enroll", NULL, 1),
                   coef_row(stype_by("stype", "M"), "enroll", NULL, -1)))

# generated poll: gaps between countries, a country against a two-country average, two
# levels in one sample, a net
ally_est <- list(method = "proportion", args = list(variable = "q_ally", by = "country"))
# (svyby(..., covmat=TRUE, na.rm=TRUE) fails on a factor in survey 4.1.1; dropping the
# missing answers with subset() is the same domain estimate)
ally_by <- "svyby(~q_ally, ~country, subset(d, !is.na(q_ally)), svymean, covmat=TRUE)"
cn <- function(cc, lev, coef) coef_row(stype_by("country", cc), "q_ally", lev, coef)
case_contrast("gen_contrast_ally_KR_minus_DE", gp, ally_est, ally_by,
              "c('KR:q_allyally'=1, 'DE:q_allyally'=-1)",
              list(cn("KR", "ally", 1), cn("DE", "ally", -1)))
case_contrast("gen_contrast_ally_DE_minus_average_DE_FR", gp, ally_est, ally_by,
              "c('DE:q_allyally'=0.5, 'FR:q_allyally'=-0.5)",
              list(cn("DE", "ally", 0.5), cn("FR", "ally", -0.5)))
case_contrast("gen_contrast_partner_KR_minus_average_DE_FR", gp, ally_est, ally_by,
              "c('KR:q_allypartner'=1, 'DE:q_allypartner'=-0.5, 'FR:q_allypartner'=-0.5)",
              list(cn("KR", "partner", 1), cn("DE", "partner", -0.5),
                   cn("FR", "partner", -0.5)))
case_contrast("gen_contrast_ally_minus_partner", gp,
              list(method = "proportion", args = list(variable = "q_ally")),
              "svymean(~q_ally, d, na.rm=TRUE)", "c(q_allyally=1, q_allypartner=-1)",
              list(coef_row(list(), "q_ally", "ally", 1),
                   coef_row(list(), "q_ally", "partner", -1)))
case_contrast("gen_contrast_net_ally_plus_partner_KR", gp, ally_est, ally_by,
              "c('KR:q_allyally'=1, 'KR:q_allypartner'=1)",
              list(cn("KR", "ally", 1), cn("KR", "partner", 1)))

# Rao-Scott tests
case_chisq <- function(id, D, a, b, statistic) {
  call <- sprintf("svychisq(~%s+%s, d, statistic='%s')", a, b, statistic)
  t <- run_r(D, call)
  p <- t$parameter
  res <- list(list(statistic = num(t$statistic),
                   ndf = if ("ndf" %in% names(p)) num(p[["ndf"]]) else num(p[["df"]]),
                   ddf = if ("ddf" %in% names(p)) num(p[["ddf"]]) else NA,
                   p_value = num(t$p.value)))
  add_case("compare", id, D, call, "chisq", list(a = a, b = b, statistic = statistic), res,
           extra = list(compare = list(kind = "chisq")))
}
case_chisq("strat_chisq_schwide_stype_F", dstrat, "sch.wide", "stype", "F")
case_chisq("clus1_chisq_schwide_stype_F", dclus1, "sch.wide", "stype", "F")
case_chisq("clus1_chisq_schwide_stype_Chisq", dclus1, "sch.wide", "stype", "Chisq")
case_chisq("clus1_chisq_awards_stype_F", dclus1, "awards", "stype", "F")
case_chisq("gen_chisq_ally_country_F", gp, "q_ally", "country", "F")
case_chisq("gen_chisq_trend_gender_F", gp, "q_trend", "gender", "F")
case_chisq("gen_chisq_ally_country_Chisq", gp, "q_ally", "country", "Chisq")

# replicate designs: covariances and tests from the replicates
R_brr <- make_rep_design("rep_pairs_brr", sprintf("rw%03d", 1:32), "brr", "BRR")
for (RD in list(list("jk1", R_jk1), list("brr", R_brr))) {
  case_contrast(paste0(RD[[1]], "_contrast_mean_api00_E_minus_H"), RD[[2]],
                list(method = "mean", args = list(variables = "api00", by = "stype")),
                "svyby(~api00, ~stype, d, svymean, covmat=TRUE)", "c(E=1, H=-1, M=0)",
                list(coef_row(stype_by("stype", "E"), "api00", NULL, 1),
                     coef_row(stype_by("stype", "H"), "api00", NULL, -1)))
  case_chisq(paste0(RD[[1]], "_chisq_schwide_stype_F"), RD[[2]], "sch.wide", "stype", "F")
}

write_area("compare")
