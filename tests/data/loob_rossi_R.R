# riskRegression::Score(split.method = "loob") reference for mastoprog's leave-one-out bootstrap
# Brier score (bootstrap_optimism(...).loob). R 4.x, survival, riskRegression 2022.11.28.
# Writes the resample indices (1-based, one column per resample) and the LOOB Brier per horizon.
suppressPackageStartupMessages({library(survival); library(riskRegression)})
d <- read.csv("validation_rossi.csv")  # run from tests/data/
fit <- coxph(Surv(week, arrest) ~ age + prio, data = d, ties = "breslow", x = TRUE, y = TRUE)
sc <- Score(list(cox = fit), formula = Surv(week, arrest) ~ 1, data = d, times = c(20, 40),
            metrics = "brier", split.method = "loob", B = 20, seed = 7, cens.model = "km",
            se.fit = FALSE, keep = "splitindex", progress.bar = NULL, null.model = FALSE)
idx <- sc$split.method$index
stopifnot(is.matrix(idx), ncol(idx) == 20)
# Score sorts the data by (time, -status) before drawing: map the indices back to the file's rows
neworder <- order(d$week, -d$arrest)
idx <- matrix(neworder[idx], nrow = nrow(idx))
write.csv(idx, "loob_rossi_R_indices.csv", row.names = FALSE)
out <- data.frame(horizon = sc$Brier$score$times, brier_loob = sc$Brier$score$Brier)
write.csv(out, "loob_rossi_R.csv", row.names = FALSE)
print(out, digits = 15)
