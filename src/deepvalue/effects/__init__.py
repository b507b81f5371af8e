"""Effect estimators by family (base inference, linear, weighting, IV, dose-response), the estimates
table over outcomes and subgroups, and the forest plot.
Layer 4: imports core, cohort and adjust.
"""
