"""Robustness: DoWhy's estimates, bootstrap and refuters as a cross-check, and sensitivity analysis
(E-values, Rosenbaum bounds, robustness values).
Layer 5: imports core, adjust and effects.
"""
