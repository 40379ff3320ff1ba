# R `survey` side of benchmarks/bench_models.py (issue 19).
#
# Usage: Rscript benchmarks/bench_models.R POLL.csv OUT.csv [tight]
# (`tight`: glm.control(epsilon=1e-15, maxit=100), as the reference fixtures, to check that
# the SE differences at R's default epsilon=1e-8 are R's stopping rule; the timed run uses
# R's defaults, as a user would.)
# A logistic model with 10 terms, linearisation SEs (strata, PSUs):
#   svyglm(ind ~ age + gender + education + region + country + wave + q01 + q02 + q03 + q04,
#          design, family = quasibinomial())
# (rows missing q01..q04 drop out by R's default na.action, as in barometer and svy).
# Timed: svydesign() plus svyglm() and the coefficient table (coef, SEs), on data already in
# memory (reading the CSV and making the factors are not timed). Runs under 10 s are
# repeated, the rule every tool follows (benchmarks/_common.py).
# Prints one line `RESULT {json}` and writes term, estimate, se to OUT.csv.

source(file.path(dirname(sub("^--file=", "", grep("^--file=",
  c(commandArgs(FALSE), "--file=benchmarks/."), value = TRUE)[1])), "common.R"))
csv <- args[1]
out <- args[2]
ctl <- if (length(args) >= 3 && args[3] == "tight") glm.control(epsilon = 1e-15, maxit = 100) else glm.control()

df <- as.data.frame(fread(csv, showProgress = FALSE))
for (v in c("age", "gender", "education", "region", "country", "wave")) df[[v]] <- factor(df[[v]])
load_mb <- hwm_mb()
f <- ind ~ age + gender + education + region + country + wave + q01 + q02 + q03 + q04

work <- function() {
  c0 <- cpu()
  t0 <- now()
  des <- svydesign(ids = ~psu, strata = ~stratum, weights = ~w, data = df)
  t1 <- now()
  m <- svyglm(f, design = des, family = quasibinomial(), control = ctl)
  tab <- data.table(term = names(coef(m)), estimate = unname(coef(m)), se = unname(SE(m)))
  t2 <- now()
  list(setup = t1 - t0, total = t2 - t0, cpu = cpu() - c0, tab = tab)
}

runs <- repeat_runs(work)
best <- fastest(runs)
fwrite(best$tab, out)

print_result(runs, nrow(df), load_mb)
