"""Questionnaires: the published instruments (items, ranges, reverse items, missing-item rules,
scores, direction, meaningful change), their scoring, internal consistency, and the choice of the
baseline and follow-up administration per client.
Layer 0.5: imports core only; extract and the layers above import it.
"""
