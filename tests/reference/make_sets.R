# Reference fixture for multiple-response questions and grids (issue 15), computed with
# R's `survey` package.
#
# Regenerate (from the repository root):
#   Rscript tests/reference/make_sets.R
#
# Writes tests/reference/data/sets_poll.csv (a simulated two-country, two-wave poll with
# strata and PSUs; drawn here with a fixed seed) and tests/reference/sets.json.
#
# The poll: multiple response "allies" as 0/1 columns a_us, a_cn, a_ru, a_none ("None of
# these", exclusive); a respondent not asked has every column missing. A grid "views"
# (g_us, g_cn, g_ru: 1 ally, 2 partner, 3 rival, 4 adversary), each item missing for some.
# The base rules barometer's ingest applies (barometer.poll.spec_sets) are written out
# here: a respondent is in the base of "allies" when a column is non-missing and an option
# is selected (the question has an exclusive option, so selecting nothing is no answer).
# Cases:
#   shares   svyby(~sel, ~country + wave, des, svymean, na.rm = TRUE) of each option
#   change   svycontrast of svyby(~sel_us, ~wave, subset(des, country == "DE" &
#            !is.na(sel_us)), svymean, covmat = TRUE), wave 2 minus wave 1
#   items    svycontrast(svymean(~ally_us + ally_cn, subset(des, country == cc & wave == ww),
#            na.rm = TRUE), c(1, -1)): the share seeing the US as an ally minus China, on
#            the respondents who answered both (na.rm drops a row missing either)

source(file.path(dirname(sub("^--file=", "", grep("^--file=",
  c(commandArgs(FALSE), "--file=tests/reference/."), value = TRUE)[1])), "common.R"))

set.seed(20251115)
rows <- list()
for (country in c("DE", "FR")) {
  for (wave in c("w1", "w2")) {
    n <- 400
    stratum <- rep(1:2, each = n / 2)
    psu <- (stratum - 1) * 10 + sample(1:10, n, replace = TRUE)
    w <- round(runif(n, 0.5, 2.5), 3)
    shift <- if (wave == "w2") 0.08 else 0
    p_us <- if (country == "DE") 0.45 + shift else 0.35
    asked <- runif(n) > 0.05
    a_us <- as.integer(runif(n) < p_us + 0.05 * (stratum == 2))
    a_cn <- as.integer(runif(n) < 0.12)
    a_ru <- as.integer(runif(n) < 0.05)
    nothing <- a_us + a_cn + a_ru == 0
    a_none <- as.integer(nothing & runif(n) < 0.8)   # the others select nothing at all
    a_us[!asked] <- NA; a_cn[!asked] <- NA; a_ru[!asked] <- NA; a_none[!asked] <- NA
    draw <- function(p) sample(1:4, n, replace = TRUE, prob = p)
    g_us <- draw(c(0.4, 0.35, 0.15, 0.1))
    g_cn <- draw(c(0.05, 0.3, 0.4, 0.25))
    g_ru <- draw(c(0.03, 0.07, 0.3, 0.6))
    g_us[runif(n) < 0.06] <- NA
    g_cn[runif(n) < 0.10] <- NA
    g_ru[runif(n) < 0.08] <- NA
    rows[[length(rows) + 1]] <- data.frame(
      id = seq_len(n), country = country, wave = wave, stratum = stratum, psu = psu,
      w = w, a_us = a_us, a_cn = a_cn, a_ru = a_ru, a_none = a_none,
      g_us = g_us, g_cn = g_cn, g_ru = g_ru
    )
  }
}
d <- do.call(rbind, rows)
write.csv(d, file.path(script_dir, "data", "sets_poll.csv"), row.names = FALSE, na = "")

# The design barometer builds: strata country/wave/stratum, PSUs nested in them.
d$stratum_cw <- paste(d$country, d$wave, d$stratum, sep = "/")
d$psu_cw <- paste(d$country, d$wave, d$psu, sep = "/")
in_base <- !is.na(d$a_us) & (d$a_us + d$a_cn + d$a_ru + d$a_none) > 0
for (o in c("us", "cn", "ru", "none")) {
  d[[paste0("sel_", o)]] <- ifelse(in_base, as.numeric(d[[paste0("a_", o)]] == 1), NA)
}
levels4 <- c("ally", "partner", "rival", "adversary")
for (i in c("us", "cn", "ru")) {
  d[[paste0("v_", i)]] <- factor(levels4[d[[paste0("g_", i)]]], levels = levels4)
  d[[paste0("ally_", i)]] <- as.numeric(d[[paste0("v_", i)]] == "ally")
}
des <- svydesign(ids = ~psu_cw, strata = ~stratum_cw, weights = ~w, data = d, nest = TRUE)

num <- function(x) unname(as.numeric(x)) # vectorised here, unlike common.R's
shares <- list()
for (o in c("us", "cn", "ru", "none")) {
  f <- as.formula(paste0("~sel_", o))
  b <- svyby(f, ~country + wave, des, svymean, na.rm = TRUE)
  for (k in seq_len(nrow(b))) {
    shares[[length(shares) + 1]] <- list(
      option = o, country = as.character(b$country[k]), wave = as.character(b$wave[k]),
      estimate = num(coef(b)[k]), se = num(SE(b)[k]),
      n = sum(in_base & d$country == b$country[k] & d$wave == b$wave[k]),
      call = sprintf("svyby(~sel_%s, ~country + wave, des, svymean, na.rm = TRUE)", o)
    )
  }
}

# svyby(covmat = TRUE) refuses na.rm = TRUE; subset() to the answering rows is the same
# domain (svymean's na.rm subsets the design so).
b <- svyby(~sel_us, ~wave, subset(des, country == "DE" & !is.na(sel_us)), svymean, covmat = TRUE)
ch <- svycontrast(b, c(-1, 1))
change <- list(
  option = "us", country = "DE", from = "w1", to = "w2",
  estimate = num(coef(ch)), se = num(SE(ch)),
  call = 'svycontrast(svyby(~sel_us, ~wave, subset(des, country == "DE" & !is.na(sel_us)), svymean, covmat = TRUE), c(-1, 1))'
)

items <- list()
for (cc in c("DE", "FR")) {
  for (ww in c("w1", "w2")) {
    # (cc, ww: subset() evaluates names in the data first, where country is a column)
    sub <- subset(des, country == cc & wave == ww)
    m <- svymean(~ally_us + ally_cn, sub, na.rm = TRUE)
    ct <- svycontrast(m, c(ally_us = 1, ally_cn = -1))
    here <- d$country == cc & d$wave == ww
    items[[length(items) + 1]] <- list(
      country = cc, wave = ww, first = "us", second = "cn", level = "ally",
      estimate = num(coef(ct)), se = num(SE(ct)), n = sum(here & !is.na(d$g_us) & !is.na(d$g_cn)),
      n_first = sum(here & !is.na(d$g_us)), n_second = sum(here & !is.na(d$g_cn)),
      call = "svycontrast(svymean(~ally_us + ally_cn, subset(des, country == cc & wave == ww), na.rm = TRUE), c(ally_us = 1, ally_cn = -1))"
    )
  }
}

out <- list(
  R = R.version.string,
  survey = as.character(packageVersion("survey")),
  design = "svydesign(ids = ~psu_cw, strata = ~stratum_cw, weights = ~w, data = sets_poll, nest = TRUE)",
  shares = shares, change = change, items = items
)
writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, pretty = TRUE, na = "null"),
           file.path(script_dir, "sets.json"))
