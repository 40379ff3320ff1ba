# R `survey` side of benchmarks/bench_estimates.py (issue 2).
#
# Usage: Rscript benchmarks/bench_estimates.R POLL.csv OUT.csv
# Shares of every level of q01..q20 by country x wave with linearisation SEs:
#   svyby(~q, ~country+wave, design, svymean, na.rm=TRUE), one call per question.
# Timed: svydesign() plus the 20 svyby() calls, on data already in memory (reading the CSV
# and turning the codes into factors are not timed). Run once, or three times (fastest
# kept) when a run takes under 10 s, the rule every tool follows.
# Prints one line `RESULT {json}` and writes the estimates in long form to OUT.csv.

source(file.path(dirname(sub("^--file=", "", grep("^--file=",
  c(commandArgs(FALSE), "--file=benchmarks/."), value = TRUE)[1])), "common.R"))
csv <- args[1]
out <- args[2]

df <- as.data.frame(fread(csv, showProgress = FALSE))
qs <- sprintf("q%02d", 1:20)
for (q in qs) df[[q]] <- factor(df[[q]])
df$country <- factor(df$country)
df$wave <- factor(df$wave)
load_mb <- hwm_mb()

work <- function() {
  c0 <- cpu()
  t0 <- now()
  des <- svydesign(ids = ~psu, strata = ~stratum, weights = ~w, data = df)
  t1 <- now()
  res <- lapply(qs, function(q) {
    svyby(as.formula(paste0("~", q)), ~ country + wave, des, svymean, na.rm = TRUE)
  })
  t2 <- now()
  list(setup = t1 - t0, total = t2 - t0, cpu = cpu() - c0, res = res)
}

runs <- repeat_runs(work)
best <- fastest(runs)

fwrite(shares_long(best$res, qs, df), out)

print_result(runs, nrow(df), load_mb)
