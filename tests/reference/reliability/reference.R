# Reference values for tests/unit/test_questionnaire_reliability.py (R 4.x, psych 2.2.9, stats::factanal).
# Run from the repository root: Rscript tests/reference/reliability/reference.R
library(psych)
for (name in c("one_factor", "two_factor")) {
  x <- read.csv(sprintf("tests/reference/reliability/%s.csv", name))
  a <- psych::alpha(x, warnings = FALSE)$total$raw_alpha
  ci <- psych::alpha.ci(a, nrow(x), ncol(x))
  f <- factanal(x, factors = 1)
  l <- as.vector(f$loadings); u <- as.vector(f$uniquenesses)
  omega <- sum(l)^2 / (sum(l)^2 + sum(u))
  cat(name, "\n")
  cat(sprintf("alpha %.10f lower %.10f upper %.10f\n", a, ci$lower.ci, ci$upper.ci))
  cat(sprintf("omega %.10f chi2 %.10f df %d p %.10g\n", omega, f$STATISTIC, f$dof, f$PVAL))
  cat("loadings", sprintf("%.8f", l), "\n")
  cat("uniquenesses", sprintf("%.8f", u), "\n")
}
