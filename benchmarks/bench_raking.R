# R `survey` side of benchmarks/bench_raking.py (issue 3).
#
# Usage: Rscript benchmarks/bench_raking.R POLL.csv TARGETS.json OUT.csv
# Each country is raked separately on age, gender, education and region:
#   svydesign(ids=~psu, strata=~stratum, weights=~w, data=<country's rows>)
#   rake(design, list(~age, ~gender, ~education, ~region), <population totals>,
#        control=list(maxit=100, epsilon=1e-6))
# (R's epsilon < 1 is relative to the sum of the weights: it stops when no cell of the
# cross-table moves by more than 1e-6 x the total between sweeps.)
# Timed: the split by country, the designs and the raking, on data already in memory.
# Run once, or three times (fastest kept) when a run takes under 10 s. Prints one line
# `RESULT {json}` and writes the final weights as (id, weight) to OUT.csv.

source(file.path(dirname(sub("^--file=", "", grep("^--file=",
  c(commandArgs(FALSE), "--file=benchmarks/."), value = TRUE)[1])), "common.R"))
vars <- c("age", "gender", "education", "region")
df <- as.data.frame(fread(args[1], showProgress = FALSE,
                          select = c("id", "country", "stratum", "psu", "w", vars)))
# factors, R's categorical type, prepared at load time and untimed as for every tool
for (v in c("country", vars)) df[[v]] <- factor(df[[v]])
targets <- fromJSON(args[2], simplifyVector = FALSE)$targets
pop <- lapply(targets, function(tc) {
  lapply(vars, function(v) {
    m <- data.frame(names(tc[[v]]), as.numeric(unlist(tc[[v]])))
    names(m) <- c(v, "Freq")
    m
  })
})
sample_margins <- lapply(vars, function(v) as.formula(paste0("~", v)))
load_mb <- hwm_mb()

work <- function() {
  c0 <- cpu()
  t0 <- now()
  parts <- split(df, df$country)
  res <- lapply(names(parts), function(c) {
    des <- svydesign(ids = ~psu, strata = ~stratum, weights = ~w, data = parts[[c]])
    r <- rake(des, sample_margins, pop[[c]], control = list(maxit = 100, epsilon = 1e-6))
    data.table(id = parts[[c]]$id, weight = weights(r))
  })
  list(total = now() - t0, cpu = cpu() - c0, res = res)
}

runs <- repeat_runs(work)
fwrite(rbindlist(fastest(runs)$res), args[3])

print_result(runs, nrow(df), load_mb, tool = "r")
