# R `survey` side of the raked-design task of benchmarks/bench_estimates.py (issue 16).
#
# Usage: Rscript benchmarks/bench_raked.R POLL.csv TARGETS.json OUT.csv
# The design raked within country on age, gender, education and region (margins crossed
# with country: the same weights as raking each country alone), then the shares of every
# level of q01 and q02 by country x wave with calibration-aware linearisation SEs:
#   rake(svydesign(ids=~psu, strata=~stratum, weights=~w, data=df),
#        list(~country+age, ~country+gender, ~country+education, ~country+region), <totals>,
#        control=list(maxit=1000, epsilon=1e-13))
#   svyby(~q, ~country+wave, design, svymean, na.rm=TRUE), one call per question.
# Timed: svydesign(), rake() and the two svyby() calls, on data in memory. Run once, or
# three times (fastest kept) when a run takes under 10 s, the rule every tool follows.
# Prints one line `RESULT {json}` and writes the estimates in long form to OUT.csv.

source(file.path(dirname(sub("^--file=", "", grep("^--file=",
  c(commandArgs(FALSE), "--file=benchmarks/."), value = TRUE)[1])), "common.R"))
vars <- c("age", "gender", "education", "region")
qs <- c("q01", "q02")
df <- as.data.frame(fread(args[1], showProgress = FALSE,
                          select = c("country", "wave", "stratum", "psu", "w", vars, qs)))
for (v in c("country", "wave", vars, qs)) df[[v]] <- factor(df[[v]])
targets <- fromJSON(args[2], simplifyVector = FALSE)$targets
pop <- lapply(vars, function(v) {
  m <- do.call(rbind, lapply(names(targets), function(cc) {
    t <- targets[[cc]][[v]]
    data.frame(country = cc, level = names(t), Freq = as.numeric(unlist(t)))
  }))
  names(m) <- c("country", v, "Freq")
  m
})
margins <- lapply(vars, function(v) as.formula(paste0("~country+", v)))
load_mb <- hwm_mb()

work <- function() {
  c0 <- cpu()
  t0 <- now()
  des <- svydesign(ids = ~psu, strata = ~stratum, weights = ~w, data = df)
  des <- rake(des, margins, pop, control = list(maxit = 1000, epsilon = 1e-13))
  t1 <- now()
  res <- lapply(qs, function(q) {
    svyby(as.formula(paste0("~", q)), ~ country + wave, des, svymean, na.rm = TRUE)
  })
  t2 <- now()
  list(setup = t1 - t0, total = t2 - t0, cpu = cpu() - c0, res = res)
}

runs <- repeat_runs(work)
best <- fastest(runs)

fwrite(shares_long(best$res, qs, df), args[3])

print_result(runs, nrow(df), load_mb, questions = length(qs))
