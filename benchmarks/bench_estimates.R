# R `survey` side of benchmarks/bench_estimates.py (issue 2).
#
# Usage: Rscript benchmarks/bench_estimates.R POLL.csv OUT.csv
# Shares of every level of q01..q20 by country x wave with linearisation SEs:
#   svyby(~q, ~country+wave, design, svymean, na.rm=TRUE), one call per question.
# Timed: svydesign() plus the 20 svyby() calls, on data already in memory (reading the CSV
# and turning the codes into factors are not timed). Run once, or three times (fastest
# kept) when a run takes under 10 s, the rule every tool follows.
# Prints one line `RESULT {json}` and writes the estimates in long form to OUT.csv.

suppressMessages({
  library(survey)
  library(data.table)
  library(jsonlite)
})

args <- commandArgs(trailingOnly = TRUE)
csv <- args[1]
out <- args[2]

hwm_mb <- function() {
  s <- grep("^VmHWM", readLines("/proc/self/status"), value = TRUE)
  as.numeric(gsub("[^0-9]", "", s)) / 1024
}
now <- function() as.numeric(Sys.time())
cpu <- function() sum(proc.time()[c("user.self", "sys.self")])

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

runs <- list()
repeat {
  runs[[length(runs) + 1]] <- work()
  spent <- sum(vapply(runs, function(r) r$total, 0))
  # as _common.py: runs under 10 s are repeated, at least 3 times and until 2 s are spent
  if (runs[[1]]$total >= 10 || length(runs) >= 25 || (length(runs) >= 3 && spent >= 2)) break
}
totals <- vapply(runs, function(r) r$total, 0)
best <- runs[[which.min(totals)]]

long <- rbindlist(lapply(seq_along(qs), function(i) {
  q <- qs[i]
  r <- best$res[[i]]
  lev <- levels(df[[q]])
  cols <- paste0(q, lev)
  est <- as.matrix(as.data.frame(r)[, cols])
  se <- as.matrix(as.data.frame(r)[, paste0("se.", cols)])
  rbindlist(lapply(seq_along(lev), function(j) {
    data.table(
      country = as.character(r$country), wave = as.character(r$wave), variable = q,
      level = lev[j], estimate = est[, j], se = se[, j]
    )
  }))
}))
fwrite(long, out)

cat("RESULT ", toJSON(list(
  tool = "R survey", version = as.character(packageVersion("survey")),
  r = R.version.string, n = nrow(df), times = totals, seconds = min(totals), cpu_seconds = best$cpu,
  setup_seconds = best$setup, peak_mb = hwm_mb(), load_mb = load_mb
), auto_unbox = TRUE, digits = NA), "\n", sep = "")
