"""The cohort: continuity indices over the exposure window, treatment, index date, instrument and
outcome timing; flow tables and figures.
Layer 2: imports core and questionnaires (not extract: it reads the canonical interim tables).
"""
