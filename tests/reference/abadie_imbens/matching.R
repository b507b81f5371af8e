suppressMessages(library(Matching))
t <- read.csv(commandArgs(TRUE)[1])
out <- NULL
for (M in c(1, 2)) for (J in c(1, 2, 4)) {
  m <- Match(Y = t$y, Tr = t$d, X = t$x, estimand = "ATT", M = M, replace = TRUE, ties = TRUE, Var.calc = J)
  out <- rbind(out, data.frame(M = M, J = J, estimate = m$est[1], se = m$se))
}
write.csv(out, commandArgs(TRUE)[2], row.names = FALSE)
