"""The synthetic extract with known truth: parameters, calendar, workers, clients, contacts, outcomes,
truth.json and the files written.
Beside the stages: imports core only, so the generator never depends on the estimators it validates.
"""
