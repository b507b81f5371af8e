"""Publication: disclosure control of every table that leaves the secure environment, and the self-
contained HTML report.
Layer 6: imports core and the table formats of the layers below.
"""
