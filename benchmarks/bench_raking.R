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

suppressMessages({
  library(survey)
  library(data.table)
  library(jsonlite)
})

args <- commandArgs(trailingOnly = TRUE)
hwm_mb <- function() {
  s <- grep("^VmHWM", readLines("/proc/self/status"), value = TRUE)
  as.numeric(gsub("[^0-9]", "", s)) / 1024
}
now <- function() as.numeric(Sys.time())
cpu <- function() sum(proc.time()[c("user.self", "sys.self")])

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
  list(seconds = now() - t0, cpu = cpu() - c0, res = res)
}

runs <- list()
repeat {
  runs[[length(runs) + 1]] <- work()
  spent <- sum(vapply(runs, function(r) r$seconds, 0))
  # as _common.py: runs under 10 s are repeated, at least 3 times and until 2 s are spent
  if (runs[[1]]$seconds >= 10 || length(runs) >= 25 || (length(runs) >= 3 && spent >= 2)) break
}
times <- vapply(runs, function(r) r$seconds, 0)
fwrite(rbindlist(runs[[which.min(times)]]$res), args[3])

cat("RESULT ", toJSON(list(
  tool = "r", version = as.character(packageVersion("survey")), n = nrow(df),
  times = times, seconds = min(times), cpu_seconds = runs[[which.min(times)]]$cpu, peak_mb = hwm_mb(), load_mb = load_mb
), auto_unbox = TRUE, digits = NA), "\n", sep = "")
