"""Adjustment for confounding: the covariate design, the propensity score, caliper matching, weights,
balance diagnostics and their figures.
Layer 3: imports core and cohort.
"""
