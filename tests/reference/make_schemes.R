# Reference fixture for the poll's weighting schemes per country (issue 12), computed
# with R's `survey` package.
#
# Regenerate (from the repository root):
#   apt-get install r-cran-survey r-cran-jsonlite
#   Rscript tests/reference/make_schemes.R
#
# Writes tests/reference/data/schemes_poll.csv (a generated two-country, two-wave poll;
# fixed seed) and tests/reference/schemes.json: per country × wave, the R design, the
# exact rake() call, the population totals and the raked weights in respondent order.
# DE is raked on gender and age to totals from its per-wave population; FR on gender
# only, from one population for both waves, and some FR respondents have no age (which
# FR's scheme does not need). Same conventions as make_fixtures.R (tests/reference/README.md).

source(file.path(dirname(sub("^--file=", "", grep("^--file=",
  c(commandArgs(FALSE), "--file=tests/reference/."), value = TRUE)[1])), "common.R"))
data_path <- file.path(script_dir, "data", "schemes_poll.csv")

set.seed(20261201)
make_group <- function(country, wave, n, p_female, p_young) {
  data.frame(
    country = country, wave = wave,
    gender = ifelse(runif(n) < p_female, "female", "male"),
    age = ifelse(runif(n) < p_young, "young", "old"),
    w = round(runif(n, 0.5, 2), 4)
  )
}
poll <- rbind(
  make_group("DE", "2024-11", 240, 0.45, 0.40),
  make_group("DE", "2025-11", 260, 0.58, 0.20),
  make_group("FR", "2024-11", 180, 0.40, 0.50),
  make_group("FR", "2025-11", 200, 0.60, 0.30)
)
poll$age[poll$country == "FR" & runif(nrow(poll)) < 0.1] <- NA
poll <- cbind(id = seq_len(nrow(poll)), poll)
write.csv(poll, data_path, row.names = FALSE, na = "")
poll <- read.csv(data_path, na.strings = "", stringsAsFactors = TRUE)

population <- list(DE = c("2024-11" = 84.1e6, "2025-11" = 84.4e6), FR = c("2024-11" = 52.5e6, "2025-11" = 52.5e6))
shares <- list(
  DE = list(gender = c(female = 0.51, male = 0.49), age = c(young = 0.28, old = 0.72)),
  FR = list(gender = c(female = 0.52, male = 0.48))
)
ctl <- "control=list(maxit=1000, epsilon=1e-13)"

cases <- list()
for (country in names(shares)) {
  for (wave in c("2024-11", "2025-11")) {
    sub <- poll[poll$country == country & poll$wave == wave, ]
    d <- svydesign(id = ~1, weights = ~w, data = sub)
    pop <- population[[country]][[wave]]
    vars <- names(shares[[country]])
    totals <- lapply(vars, function(v) {
      df <- data.frame(names(shares[[country]][[v]]), unname(shares[[country]][[v]]) * pop)
      names(df) <- c(v, "Freq")
      df
    })
    r <- rake(d, lapply(vars, function(v) as.formula(paste0("~", v))), totals,
              control = list(maxit = 1000, epsilon = 1e-13))
    cases[[length(cases) + 1]] <- list(
      id = paste0("scheme_", country, "_", wave),
      country = country, wave = wave, population = pop,
      margins = lapply(setNames(vars, vars), function(v) as.list(shares[[country]][[v]])),
      r_design = sprintf("svydesign(id=~1, weights=~w, data=subset(schemes_poll, country=='%s' & wave=='%s'))", country, wave),
      r_call = sprintf("rake(d, list(%s), <population totals: shares x %.10g>, %s)",
                       paste0("~", vars, collapse = ", "), pop, ctl),
      respondent_ids = sub$id,
      weights = unname(weights(r))
    )
  }
}

out <- list(
  r_version = R.version.string,
  survey_version = as.character(packageVersion("survey")),
  generated_by = "Rscript tests/reference/make_schemes.R",
  data = "schemes_poll",
  cases = cases
)
writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, pretty = TRUE),
           file.path(script_dir, "schemes.json"))
