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
  levels_of <- setNames(lapply(spec$questions, function(q) {
    vapply(q$levels, function(l) as.character(l$code), "")
  }), vapply(spec$questions, function(q) q$id, ""))
  data <- data.frame(weight = raw[[src$weight]])
  data$strata <- if (is.null(src$strata)) 1 else raw[[src$strata]]
  data$psu <- if (is.null(src$psu)) seq_len(nrow(raw)) else raw[[src$psu]]
  for (qid in names(src$variables)) {
    v <- src$variables[[qid]]
    codes <- unlist(v$codes)
    data[[qid]] <- factor(unname(codes[as.character(raw[[v$column]])]), levels = levels_of[[qid]])
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
    level <- sub(paste0("^", question), "", parts[length(parts)])
    by_values <- if (length(by)) setNames(list(parts[1]), by) else setNames(list(), character(0))
    list(by = by_values, level = level, estimate = unname(cf[i]), se = unname(se[i]),
         ci_low = unname(ci[i, 1]), ci_high = unname(ci[i, 2]))
  })
  cases[[length(cases) + 1]] <<- list(id = id, poll = poll, weights = weights,
                                      question = question, by = I(by), r_call = call,
                                      results = rows)
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
