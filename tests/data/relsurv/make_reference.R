# Reference numbers for mastoprog.relative from R's relsurv (run: Rscript make_reference.R in this folder).
#
# Data nobody here wrote: relsurv's own `rdata` (1040 Slovene cancer patients, follow-up in days) and its
# `slopop` ratetable (Slovene population, daily hazards by age 0-103, calendar year 1930-2020 at its own
# cut points, sex). Both are exported to CSV so that the Python tests never need R.
#
# Two reference runs:
#   * "floored": age and calendar year of diagnosis given to relsurv as whole years (year = 1 January of
#     the year of diagnosis; rdata's ages are whole years already). This is mastoprog's LifeTable
#     convention (lifetables.py: age0 and year0 truncated, one table cell per year since diagnosis), so
#     the two implementations see the same background hazard and differences measure the estimators.
#   * "exact": relsurv's usual call with the exact date of diagnosis (year cell changes on 1 January,
#     not on the anniversary of diagnosis); kept to state how much the convention itself moves the curve.
#
# R 4.x, relsurv 2.2-9, survival 3.x (Debian r-cran-relsurv, r-cran-survival).
suppressPackageStartupMessages({
  library(survival)
  library(relsurv)
})
stopifnot(as.character(packageVersion("relsurv")) == "2.2.9")
data(rdata, package = "relsurv")
data(slopop, package = "relsurv")

days_per_year <- 365.241  # relsurv's year on its day scale (slopop's age cut points are k * 365.241)

# ------------------------------------------------------------------ the data
diag_date <- as.Date(as.numeric(rdata$year), origin = "1960-01-01")
cohort <- data.frame(
  time_days = rdata$time, event = rdata$cens, age_years = rdata$age,
  sex = ifelse(rdata$sex == 1, "M", "F"), diagnosis_date = format(diag_date),
  diagnosis_year = as.integer(format(diag_date, "%Y")))
write.csv(cohort, "rdata.csv", row.names = FALSE)

# slopop: rate per day for each (age, year cut point, sex); cut points are 1 January of the year named.
at <- attributes(slopop)
rates <- expand.grid(age = as.integer(at$dimnames$age), year = as.integer(at$dimnames$year),
                     sex = c("M", "F"))
rates$rate_per_day <- as.vector(unclass(slopop))
stopifnot(all.equal(at$cutpoints[[1]], (0:103) * days_per_year))
write.csv(rates, "slopop.csv", row.names = FALSE)

# Dates as R's Date class: relsurv converts slopop's cut points (package `date`, days since 1960) to Date
# (days since 1970); a plain number would be read as days since 1970, ten years off.
rdata$year_jan1 <- as.Date(paste0(cohort$diagnosis_year, "-01-01"))
rdata$year_exact <- diag_date

# ------------------------------------------------------------------ net survival (rs.surv)
net <- function(method, yearcol, convention) {
  rdata$year_used <- rdata[[yearcol]]  # rmap is evaluated in `data` (relsurv substitutes it)
  fit <- rs.surv(Surv(time, cens) ~ 1, data = rdata, ratetable = slopop, method = method,
                 rmap = list(age = age * 365.241, sex = sex, year = year_used))
  data.frame(convention = convention, method = method, time_days = fit$time, estimate = fit$surv,
             std_error = fit$std.err, lower = fit$lower, upper = fit$upper, n_at_risk = fit$n.risk,
             n_events = fit$n.event)
}
rs <- rbind(net("pohar-perme", "year_jan1", "floored"), net("ederer2", "year_jan1", "floored"),
            net("pohar-perme", "year_exact", "exact"), net("ederer2", "year_exact", "exact"))
write.csv(rs, "rs_surv.csv", row.names = FALSE)

# one curve per sex (relsurv strata: Surv(time, cens) ~ sex), floored convention
by_sex <- rs.surv(Surv(time, cens) ~ sex, data = rdata, ratetable = slopop, method = "pohar-perme",
                  rmap = list(age = age * 365.241, sex = sex, year = year_jan1))
write.csv(data.frame(group = rep(ifelse(names(by_sex$strata) == "sex=1", "M", "F"), by_sex$strata),
                     time_days = by_sex$time, estimate = by_sex$surv, std_error = by_sex$std.err,
                     n_at_risk = by_sex$n.risk),
          "rs_surv_by_sex.csv", row.names = FALSE)

# ------------------------------------------------------------------ crude probabilities (cmp.rel)
tau <- 10 * 365  # ten years (days)
cr <- cmp.rel(Surv(time, cens) ~ 1, data = rdata, ratetable = slopop, tau = tau,
              rmap = list(age = age * 365.241, sex = sex, year = year_jan1))
crude <- function(part, cause) {
  keep <- which(part$time %in% c(0, rdata$time, tau))  # observed times and tau (not the daily grid)
  data.frame(cause = cause, time_days = part$time[keep], estimate = part$est[keep],
             variance = part$var[keep], area_years = part$area)
}
write.csv(rbind(crude(cr$causeSpec, "disease"), crude(cr$population, "other")), "cmp_rel.csv",
          row.names = FALSE)

# ------------------------------------------------------------------ years lost (years)
yl <- years(Surv(time, cens) ~ 1, data = rdata, ratetable = slopop, measure = "yl2013",
            rmap = list(age = age * 365.241, sex = sex, year = year_jan1))
write.csv(data.frame(measure = "yl2013", time_days = yl$years$time, years_lost = yl$years$est,
                     crude_disease = yl$F_E$prob),
          "years_yl2013.csv", row.names = FALSE)
yl17 <- years(Surv(time, cens) ~ 1, data = rdata, ratetable = slopop, measure = "yl2017",
              rmap = list(age = age * 365.241, sex = sex, year = year_jan1))
write.csv(data.frame(measure = "yl2017", time_days = yl17$years$time, years_lost = yl17$years$est),
          "years_yl2017.csv", row.names = FALSE)
# the observed part of yl2017 is the area above the Kaplan-Meier curve: tau minus its restricted mean,
# whose standard error R's survival prints (print.survfit / summary(..., rmean = tau), Greenwood-type)
km <- survfit(Surv(time, cens) ~ 1, data = rdata)
taus <- c(1, 2, 5, 10) * days_per_year
rmean <- t(sapply(taus, function(tau) summary(km, rmean = tau)$table[c("rmean", "se(rmean)")]))
write.csv(data.frame(time_days = taus, rmean_days = rmean[, 1], se_rmean_days = rmean[, 2]),
          "km_restricted_mean.csv", row.names = FALSE)
# relsurv's default measure, "yd", with its Greenwood-type standard error, at the same horizons
yd <- years(Surv(time, cens) ~ 1, data = rdata, ratetable = slopop, measure = "yd", var.estimator = "greenwood",
            add.times = taus, rmap = list(age = age * 365.241, sex = sex, year = year_jan1))
yd_at <- yd$years[yd$years$time %in% taus, ]
write.csv(data.frame(measure = "yd", time_days = yd_at$time, years_lost = yd_at$est, std_error = yd_at$est.se),
          "years_yd_greenwood.csv", row.names = FALSE)
writeLines(c(R.version.string, paste("relsurv", packageVersion("relsurv")),
             paste("survival", packageVersion("survival"))), "versions.txt")
