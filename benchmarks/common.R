# What the R sides of the benchmarks share: the packages, the clocks and the peak memory,
# the repeat rule every tool follows (benchmarks/_common.py), the long form of svyby()
# shares, and the one `RESULT {json}` line the Python driver reads. Each bench_*.R sources
# this first:
#   source(file.path(dirname(sub("^--file=", "", grep("^--file=",
#     c(commandArgs(FALSE), "--file=benchmarks/."), value = TRUE)[1])), "common.R"))

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

# As _common.py: a run under 10 s is repeated, at least 3 times and until 2 s are spent
# (25 at most). `work()` returns a list with `total` (seconds); the runs come back in order.
repeat_runs <- function(work) {
  runs <- list()
  repeat {
    runs[[length(runs) + 1]] <- work()
    spent <- sum(vapply(runs, function(r) r$total, 0))
    if (runs[[1]]$total >= 10 || length(runs) >= 25 || (length(runs) >= 3 && spent >= 2)) break
  }
  runs
}
run_times <- function(runs) vapply(runs, function(r) r$total, 0)
fastest <- function(runs) runs[[which.min(run_times(runs))]]

# svyby(~q, ~country + wave, ..., svymean) results, one per question, in long form.
shares_long <- function(res, qs, df) {
  rbindlist(lapply(seq_along(qs), function(i) {
    q <- qs[i]
    r <- res[[i]]
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
}

# The line the Python side parses: times of every run, the fastest, its CPU and set-up
# time, peak and after-load memory, and whatever the task adds in `...`.
print_result <- function(runs, n, load_mb, tool = "R survey", ...) {
  best <- fastest(runs)
  fields <- Filter(Negate(is.null), c(list(
    tool = tool, version = as.character(packageVersion("survey")),
    r = R.version.string, n = n, times = run_times(runs), seconds = min(run_times(runs)),
    cpu_seconds = best$cpu, setup_seconds = best$setup, peak_mb = hwm_mb(), load_mb = load_mb
  ), list(...)))
  cat("RESULT ", toJSON(fields, auto_unbox = TRUE, digits = NA), "\n", sep = "")
}
