# What every fixture script here shares: the packages, the checked survey version, where
# the script and its data live, how the committed CSVs are read, and how a number is
# written to JSON. Each make_*.R sources this first (see README.md):
#
#   source(file.path(dirname(sub("^--file=", "", grep("^--file=",
#     c(commandArgs(FALSE), "--file=tests/reference/."), value = TRUE)[1])), "common.R"))
#
# (Rscript passes the script's own path as --file=; run by hand from the repository root,
# the fallback names tests/reference.)

suppressPackageStartupMessages({
  library(survey)
  library(jsonlite)
})
stopifnot(as.character(packageVersion("survey")) == "4.1.1")

script_dir <- local({
  arg <- grep("^--file=", commandArgs(FALSE), value = TRUE)
  if (length(arg)) dirname(normalizePath(sub("^--file=", "", arg[1]))) else "tests/reference"
})
data_dir <- file.path(script_dir, "data")

# The committed CSVs are read with empty strings as missing and text as factors, so R and
# barometer see exactly the same values.
read_data <- function(name) {
  read.csv(file.path(data_dir, paste0(name, ".csv")), na.strings = "", stringsAsFactors = TRUE)
}

# One finite number for JSON, or NA (written as null) for anything else.
num <- function(x) {
  x <- unname(as.numeric(x))
  if (length(x) != 1 || !is.finite(x)) NA else x
}

# Population counts of one apipop variable: as a named list (barometer's margins) and as
# the data frame R's rake() takes.
pop_table <- function(var) {
  t <- table(read_data("apipop")[[var]])
  setNames(as.list(as.numeric(t)), names(t))
}
pop_df <- function(var) {
  t <- table(read_data("apipop")[[var]])
  df <- data.frame(names(t), as.numeric(t))
  names(df) <- c(var, "Freq")
  df
}
