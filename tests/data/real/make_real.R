# R `survey` figures for the real survey files of tests/data/real/ -> figures.json
#
#   python tests/data/real/make_real.py      # first: writes nhanes.sav and ces11.dta
#   Rscript tests/data/real/make_real.R      # from the repository root; ~5 s
#
# R reads the files barometer ingests (haven; SPSS user-missing codes as NA) and the
# specs barometer reads (nhanes.yaml, ces11.yaml: the code -> level mappings and the
# targets), so both sides see the same numbers. Each poll's design is the one barometer
# builds from its source entry: strata and PSUs of the file (nested), the file's weight
# as base weight, then raking to the spec's targets (shares scaled to the population).
# Estimates are svymean / svyby with na.rm=TRUE (a missing answer is left out of the
# base, as a domain), intervals confint() (Wald, df = Inf). tests/poll/test_real_data.py
# compares barometer with these to 1e-8 relative.

suppressMessages({
  library(survey)
  library(haven)
  library(jsonlite)
  library(yaml)
})
stopifnot(packageVersion("survey") == "4.1.1")
here <- "tests/data/real"
rake_ctl <- list(maxit = 1000, epsilon = 1e-13)

# The respondents of a spec's single source, each mapped question as a factor whose levels
# are the question's level codes (in questionnaire order), as barometer stores them.
read_poll <- function(spec_file) {
  spec <- yaml.load_file(file.path(here, spec_file))
  src <- spec$sources[[1]]
  path <- file.path(here, src$file)
  raw <- if (grepl("\\.sav$", path)) read_sav(path, user_na = FALSE) else read_dta(path)
  raw <- zap_labels(raw)
  ids <- vapply(spec$questions, function(q) q$id, "")
  questions <- setNames(spec$questions, ids)
  levels_of <- setNames(lapply(spec$questions, function(q) {
    vapply(q$levels, function(l) as.character(l$code), "")
  }), ids)
  data <- data.frame(weight = raw[[src$weight]])
  data$strata <- if (is.null(src$strata)) 1 else raw[[src$strata]]
  data$psu <- if (is.null(src$psu)) seq_len(nrow(raw)) else raw[[src$psu]]
  for (qid in names(src$variables)) {
    v <- src$variables[[qid]]
    x <- raw[[v$column]]
    if (identical(questions[[qid]]$kind, "numeric")) {
      # a number; the source's own missing codes replace the question's
      missing <- unlist(if (is.null(v$missing)) questions[[qid]]$missing else v$missing)
      x <- as.numeric(x)
      x[x %in% missing] <- NA
      data[[qid]] <- x
    } else if (!is.null(v$recode)) {
      # inclusive ranges; `else` for the rest (none of these specs' recodes has one)
      out <- rep(NA_character_, length(x))
      for (rule in v$recode) {
        inside <- !is.na(x) & x >= rule$range[[1]] & x <= rule$range[[2]]
        out[inside] <- if (is.null(rule$to)) NA_character_ else as.character(rule$to)
      }
      data[[qid]] <- factor(out, levels = levels_of[[qid]])
    } else {
      codes <- unlist(v$codes)
      data[[qid]] <- factor(unname(codes[as.character(x)]), levels = levels_of[[qid]])
    }
  }
  country <- spec$countries[[1]]
  target <- spec$targets[[1]]$margins
  shares <- all(vapply(target, function(m) abs(sum(unlist(m)) - 1) <= 1e-3, TRUE))
  scale <- if (shares) country$population else 1
  margins <- lapply(names(target), function(var) {
    m <- unlist(target[[var]])
    out <- data.frame(factor(names(m), levels = levels_of[[var]]), unname(m) * scale)
    names(out) <- c(var, "Freq")
    out
  })
  list(spec = spec, data = data, margins = margins, formulas = lapply(
    names(target), function(var) as.formula(paste0("~", var))
  ))
}

cases <- list()
add_case <- function(id, poll, weights, question, by, design, call) {
  est <- eval(parse(text = call), list(d = design))
  cf <- coef(est)
  # svyby keeps only the variances (it warns so); the SEs are their square roots
  se <- sqrt(diag(as.matrix(suppressWarnings(vcov(est)))))
  ci <- confint(est)
  rows <- lapply(seq_along(cf), function(i) {
    parts <- strsplit(names(cf)[i], ":", fixed = TRUE)[[1]]
    # a mean (numeric question) has no level: "religiosity", or by group "female"
    level <- if (length(by) && length(parts) == 1) "" else sub(paste0("^", question), "", parts[length(parts)])
    by_values <- if (length(by)) setNames(list(parts[1]), by) else setNames(list(), character(0))
    list(by = by_values, level = level, estimate = unname(cf[i]), se = unname(se[i]),
         ci_low = unname(ci[i, 1]), ci_high = unname(ci[i, 2]))
  })
  cases[[length(cases) + 1]] <<- list(id = id, poll = poll, weights = weights,
                                      question = question, by = I(by), r_call = call,
                                      results = rows)
}

# A net: the share who gave any of its levels, svymean of the indicator; its TRUE row.
add_net_case <- function(id, poll, question, net, levels, design) {
  call <- sprintf("svymean(~I(%s %%in%% c(%s)), d)", question,
                  paste0('"', levels, '"', collapse = ", "))
  est <- eval(parse(text = call), list(d = design))
  i <- which(endsWith(names(coef(est)), "TRUE"))
  ci <- confint(est)
  cases[[length(cases) + 1]] <<- list(
    id = id, poll = poll, weights = "raked", question = question, by = I(character(0)),
    r_call = call,
    results = list(list(by = setNames(list(), character(0)), level = net,
                        estimate = unname(coef(est)[i]), se = unname(SE(est)[i]),
                        ci_low = unname(ci[i, 1]), ci_high = unname(ci[i, 2])))
  )
}

# The median of a numeric question: svyquantile (qrule="math", as barometer; Wald-type
# interval from the Woodruff CI as survey 4.1 gives it: its SE).
add_median_case <- function(id, poll, question, design) {
  call <- sprintf("svyquantile(~%s, d, 0.5, qrule='math', ci=TRUE)", question)
  est <- eval(parse(text = call), list(d = design))
  q <- est[[question]]
  cases[[length(cases) + 1]] <<- list(
    id = id, poll = poll, weights = "raked", question = question, by = I(character(0)),
    kind = "median", r_call = call,
    results = list(list(by = setNames(list(), character(0)), level = "0.5",
                        estimate = unname(q[1, "quantile"]), se = unname(q[1, "se"]),
                        ci_low = unname(q[1, "ci.2.5"]), ci_high = unname(q[1, "ci.97.5"])))
  )
}

polls <- list()
designs <- function(name, spec_file, design_call) {
  p <- read_poll(spec_file)
  d <- eval(parse(text = design_call), list(data = p$data))
  r <- rake(d, p$formulas, p$margins, control = rake_ctl)
  polls[[name]] <<- list(
    spec = spec_file,
    r_design = design_call,
    r_weighting = "rake(d, <the spec's targets>, control=list(maxit=1000, epsilon=1e-13))",
    weights_sum = sum(weights(r)),
    weights_head = unname(weights(r)[1:20])
  )
  list(base = d, raked = r)
}

nh <- designs("nhanes", "nhanes.yaml",
              "svydesign(id=~psu, strata=~strata, weights=~weight, nest=TRUE, data=data)")
add_case("nhanes_hi_chol", "nhanes", "raked", "hi_chol", character(0), nh$raked,
         "svymean(~hi_chol, d, na.rm=TRUE)")
add_case("nhanes_hi_chol_by_age", "nhanes", "raked", "hi_chol", "agecat", nh$raked,
         "svyby(~hi_chol, ~agecat, d, svymean, na.rm=TRUE)")
add_case("nhanes_agecat", "nhanes", "raked", "agecat", character(0), nh$raked,
         "svymean(~agecat, d)")
add_case("nhanes_hi_chol_base", "nhanes", "base", "hi_chol", character(0), nh$base,
         "svymean(~hi_chol, d, na.rm=TRUE)")
add_case("nhanes_hi_chol_by_gender_base", "nhanes", "base", "hi_chol", "gender", nh$base,
         "svyby(~hi_chol, ~gender, d, svymean, na.rm=TRUE)")
# issue 14: HI_CHOL as a 0/1 number (its mean is the over_240 share above), a recode, a net
add_case("nhanes_chol_high", "nhanes", "raked", "chol_high", character(0), nh$raked,
         "svymean(~chol_high, d, na.rm=TRUE)")
add_case("nhanes_chol_high_by_age2", "nhanes", "raked", "chol_high", "age2", nh$raked,
         "svyby(~chol_high, ~age2, d, svymean, na.rm=TRUE)")
add_case("nhanes_age2", "nhanes", "raked", "age2", character(0), nh$raked,
         "svymean(~age2, d)")
add_net_case("nhanes_agecat_net", "nhanes", "agecat", "20+", c("20-39", "40-59", "60+"),
             nh$raked)

ces <- designs("ces11", "ces11.yaml",
               "svydesign(id=~1, strata=~strata, weights=~weight, data=data)")
for (q in c("abortion", "importance", "education", "urban")) {
  add_case(paste0("ces11_", q), "ces11", "raked", q, character(0), ces$raked,
           sprintf("svymean(~%s, d)", q))
}
add_case("ces11_abortion_by_importance", "ces11", "raked", "abortion", "importance", ces$raked,
         "svyby(~abortion, ~importance, d, svymean)")
add_case("ces11_abortion_by_gender", "ces11", "raked", "abortion", "gender", ces$raked,
         "svyby(~abortion, ~gender, d, svymean)")
add_case("ces11_abortion_base", "ces11", "base", "abortion", character(0), ces$base,
         "svymean(~abortion, d)")
# issue 14: the importance answers as a 1-4 score, education banded by a recode, a net
add_case("ces11_religiosity", "ces11", "raked", "religiosity", character(0), ces$raked,
         "svymean(~religiosity, d)")
add_case("ces11_religiosity_by_gender", "ces11", "raked", "religiosity", "gender", ces$raked,
         "svyby(~religiosity, ~gender, d, svymean)")
add_median_case("ces11_religiosity_median", "ces11", "religiosity", ces$raked)
add_case("ces11_education3", "ces11", "raked", "education3", character(0), ces$raked,
         "svymean(~education3, d)")
add_net_case("ces11_importance_net", "ces11", "importance", "important",
             c("very", "somewhat"), ces$raked)

out <- list(
  r_version = R.version.string,
  survey_version = as.character(packageVersion("survey")),
  haven_version = as.character(packageVersion("haven")),
  generated_by = "Rscript tests/data/real/make_real.R",
  polls = polls,
  cases = cases
)
writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, pretty = TRUE),
           file.path(here, "figures.json"))
message(sprintf("figures.json: %d cases", length(cases)))
