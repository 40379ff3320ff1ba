# Reference fixtures for numeric questions and nets (issue 14), computed with R's `survey`.
#
# Regenerate (from the repository root):
#   Rscript tests/reference/make_numeric.R
#
# Writes tests/reference/data/numeric_poll.csv (a generated two-wave, three-country poll:
# strata within country x wave, PSUs nested in strata, weights; a 0-10 scale `trust` with
# ties and ~6% missing; a single-choice `rel` with ~3% missing) and
# tests/reference/numeric.json. Every case stores its R call beside its values:
#   * svymean of the scale (na.rm = TRUE) by country x wave, with the covariance matrix;
#   * svyquantile of the scale (qrule = "math", Woodruff intervals) overall and by country;
#   * a net, svymean(~I(rel %in% c("ally", "partner"))) by country x wave, on the
#     respondents who answered (barometer's na.rm = TRUE domain);
#   * a region's mean (the simple mean of the three countries' means in one wave) and the
#     change of a mean between waves in one country, by svycontrast on svyby(covmat=TRUE);
#   * the change of the net between waves in one country (svycontrast likewise).

source(file.path(dirname(sub("^--file=", "", grep("^--file=",
  c(commandArgs(FALSE), "--file=tests/reference/."), value = TRUE)[1])), "common.R"))

set.seed(20261202)
rows <- list()
for (country in c("DE", "FR", "PL")) {
  for (wave in c("2024-11", "2025-11")) {
    for (s in 1:2) {
      for (p in 1:5) {
        m <- sample(25:45, 1)
        shift <- c(DE = 0.4, FR = -0.3, PL = 0.8)[[country]] + (wave == "2025-11") * 0.5
        psu_effect <- rnorm(1, 0, 0.8)
        trust <- pmin(10, pmax(0, round(5 + shift + psu_effect + rnorm(m, 0, 2.2))))
        trust[runif(m) < 0.06] <- NA
        u <- runif(m)
        rel <- ifelse(u < 0.25 + 0.05 * (wave == "2025-11"), "ally",
               ifelse(u < 0.6, "partner", ifelse(u < 0.85, "rival", "dont_know")))
        rel[runif(m) < 0.03] <- NA
        rows[[length(rows) + 1]] <- data.frame(
          country = country, wave = wave,
          stratum = sprintf("%s-%s-%d", country, wave, s),
          psu = sprintf("p%d", p),
          w = round(runif(m, 0.4, 2.6), 4),
          trust = trust, rel = rel
        )
      }
    }
  }
}
d <- do.call(rbind, rows)
d$id <- seq_len(nrow(d))
write.csv(d[, c("id", "country", "wave", "stratum", "psu", "w", "trust", "rel")],
          file.path(script_dir, "data", "numeric_poll.csv"), row.names = FALSE, na = "")
d <- read.csv(file.path(script_dir, "data", "numeric_poll.csv"), stringsAsFactors = FALSE,
              na.strings = "")

des <- svydesign(ids = ~psu, strata = ~stratum, weights = ~w, nest = TRUE, data = d)
r_design <- "svydesign(ids = ~psu, strata = ~stratum, weights = ~w, nest = TRUE, data = numeric_poll)"

rows_of <- function(b, by) {
  est <- coef(b)
  se <- SE(b)
  keys <- as.data.frame(b)[, by, drop = FALSE]
  lapply(seq_along(est), function(i) {
    c(lapply(keys[i, , drop = FALSE], as.character),
      list(estimate = unname(est[i]), se = unname(se[i])))
  })
}

cases <- list()

# means of the scale by country x wave, with their covariance
# (svyby's covmat = TRUE does not take na.rm = TRUE; the subset is the same domain)
call <- "svyby(~trust, ~country + wave, subset(des, !is.na(trust)), svymean, covmat = TRUE)"
means <- svyby(~trust, ~country + wave, subset(des, !is.na(trust)), svymean, covmat = TRUE)
cases$means <- list(r_call = call, rows = rows_of(means, c("country", "wave")),
                    vcov = unname(vcov(means)))

# overall mean and its 95% interval
m <- svymean(~trust, des, na.rm = TRUE)
cases$mean_overall <- list(r_call = "svymean(~trust, des, na.rm = TRUE); confint()",
                           estimate = unname(coef(m)), se = as.numeric(SE(m)),
                           ci = unname(as.numeric(confint(m))))

# quantiles of the scale (ties): overall, and the median by country
q <- svyquantile(~trust, des, quantiles = c(0.25, 0.5, 0.75), qrule = "math", ci = TRUE,
                 na.rm = TRUE)
qt <- q$trust
cases$quantiles <- list(
  r_call = 'svyquantile(~trust, des, quantiles = c(0.25, 0.5, 0.75), qrule = "math", ci = TRUE, na.rm = TRUE)',
  probs = c(0.25, 0.5, 0.75), estimate = unname(qt[, 1]), ci_low = unname(qt[, 2]),
  ci_high = unname(qt[, 3]), se = unname(SE(q))
)
qb <- svyby(~trust, ~country, des, svyquantile, quantiles = 0.5, qrule = "math", ci = TRUE,
            na.rm = TRUE, keep.var = TRUE)
cases$median_by_country <- list(
  r_call = 'svyby(~trust, ~country, des, svyquantile, quantiles = 0.5, qrule = "math", ci = TRUE, na.rm = TRUE)',
  country = as.character(qb$country), estimate = unname(qb$trust), se = unname(SE(qb))
)

# the net "ally or partner" among those who answered
answered <- subset(des, !is.na(rel))
call <- 'svyby(~I(rel %in% c("ally", "partner")), ~country + wave, subset(des, !is.na(rel)), svymean, covmat = TRUE)'
nets <- svyby(~I(rel %in% c("ally", "partner")), ~country + wave, answered, svymean,
              covmat = TRUE)
est <- coef(nets)
keep <- grepl("TRUE", names(est))
keys <- as.data.frame(nets)[, c("country", "wave")]
cases$net <- list(
  r_call = call,
  rows = lapply(seq_len(nrow(keys)), function(i) list(
    country = keys$country[i], wave = keys$wave[i],
    estimate = unname(est[keep][i]), se = unname(sqrt(diag(vcov(nets)))[keep][i])))
)
v_net <- vcov(nets)[keep, keep]
net_names <- paste(keys$country, keys$wave, sep = ".")

# contrasts: the region's mean in 2025-11, a wave change of a mean and of the net
contrast <- function(b, coefs, call) {
  cc <- svycontrast(b, coefs)
  list(r_call = call, estimate = unname(coef(cc)), se = as.numeric(SE(cc)))
}
mean_names <- names(coef(means))
region <- setNames(as.numeric(grepl("2025-11", mean_names)) / 3, mean_names)
cases$region_mean <- contrast(means, region,
  "svycontrast(means, mean of DE, FR, PL in 2025-11)")
change <- setNames(rep(0, length(mean_names)), mean_names)
change["DE.2025-11"] <- 1
change["DE.2024-11"] <- -1
cases$mean_change <- contrast(means, change, "svycontrast(means, DE 2025-11 - DE 2024-11)")
net_change <- setNames(rep(0, length(est)), names(est))
net_change[grepl("TRUE", names(est)) & grepl("^FR.2025-11", names(est))] <- 1
net_change[grepl("TRUE", names(est)) & grepl("^FR.2024-11", names(est))] <- -1
cases$net_change <- contrast(nets, net_change, "svycontrast(nets, FR 2025-11 - FR 2024-11)")

out <- list(
  R = R.version.string,
  survey = as.character(packageVersion("survey")),
  generated_by = "Rscript tests/reference/make_numeric.R",
  design = r_design,
  cases = cases
)
writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, pretty = TRUE, na = "null"),
           file.path(script_dir, "numeric.json"))
