# Reference values for tests/test_metrics_comparison.py (R survival + riskRegression).
#   Rscript tests/data/model_comparison_R.R   (from the repository root)
# Reads model_comparison_inputs.csv (written by model_comparison_inputs.py) and writes
# model_comparison_R.csv: per dataset, Harrell's and Uno's C of each prediction truncated at the
# horizon with the joint infinitesimal-jackknife variance (survival::concordance, several
# predictors), and the IPCW Brier score, IPA and AUC with their contrasts
# (riskRegression::Score, conservative = TRUE: censoring weights held fixed).
suppressPackageStartupMessages({library(survival); library(riskRegression); library(prodlim)})
inp <- read.csv("tests/data/model_comparison_inputs.csv")
out <- list()
add <- function(ds, quantity, value) out[[length(out) + 1]] <<- data.frame(dataset = ds, quantity = quantity, value = value)
for (ds in unique(inp$dataset)) {
  d <- inp[inp$dataset == ds, ]
  h <- d$horizon[1]
  for (wt in c("n", "n/G2")) {
    tag <- if (wt == "n") "harrell" else "uno"
    # several predictors need fitted objects: Cox models held at coefficient -1 (no iterations),
    # whose risk score -S(h) ranks patients like S(h) with "higher = longer survival"
    fixed <- function(v) coxph(as.formula(paste("Surv(time, event) ~", v)), data = d, init = -1,
                               control = coxph.control(iter.max = 0))
    cc <- concordance(fixed("a"), fixed("b"), fixed("c"), ymax = h, timewt = wt)
    v <- cc$var
    for (k in 1:3) {
      add(ds, paste0(tag, "_c_", letters[k]), cc$concordance[k])
      add(ds, paste0(tag, "_se_", letters[k]), sqrt(v[k, k]))
    }
    for (k in 2:3) {
      add(ds, paste0(tag, "_diff_", letters[k], "_a"), cc$concordance[k] - cc$concordance[1])
      add(ds, paste0(tag, "_diffse_", letters[k], "_a"), sqrt(v[k, k] + v[1, 1] - 2 * v[1, k]))
    }
  }
  sc <- Score(list(a = 1 - d$a, b = 1 - d$b, c = 1 - d$c), formula = Hist(time, event) ~ 1, data = d,
              times = h, metrics = c("brier", "auc"), summary = "ipa", null.model = TRUE,
              conservative = TRUE, cens.model = "km", se.fit = TRUE, contrasts = TRUE)
  b <- as.data.frame(sc$Brier$score)
  for (i in seq_len(nrow(b))) {
    m <- as.character(b$model[i])
    add(ds, paste0("brier_", m), b$Brier[i])
    add(ds, paste0("brierse_", m), b$se[i])
    add(ds, paste0("ipa_", m), b$IPA[i])
  }
  bc <- as.data.frame(sc$Brier$contrasts)
  for (i in seq_len(nrow(bc))) {
    add(ds, paste0("brierdiff_", bc$model[i], "_", bc$reference[i]), bc$delta.Brier[i])
    add(ds, paste0("brierdiffse_", bc$model[i], "_", bc$reference[i]), bc$se[i])
  }
  a <- as.data.frame(sc$AUC$score)
  for (i in seq_len(nrow(a))) {
    add(ds, paste0("auc_", a$model[i]), a$AUC[i])
    add(ds, paste0("aucse_", a$model[i]), a$se[i])
  }
  ac <- as.data.frame(sc$AUC$contrasts)
  for (i in seq_len(nrow(ac))) {
    add(ds, paste0("aucdiff_", ac$model[i], "_", ac$reference[i]), ac$delta.AUC[i])
    add(ds, paste0("aucdiffse_", ac$model[i], "_", ac$reference[i]), ac$se[i])
  }
}
res <- do.call(rbind, out)
write.csv(res, "tests/data/model_comparison_R.csv", row.names = FALSE)
cat(R.version.string, "survival", as.character(packageVersion("survival")), "riskRegression",
    as.character(packageVersion("riskRegression")), "\n")
