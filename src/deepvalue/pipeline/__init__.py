"""Orchestration: one function per workflow stage (what the rule scripts call), the step runner,
provenance and reproduce-and-verify.
Top layer with cli.py: may import every subpackage; nothing imports it but cli.py and the scripts.
"""
