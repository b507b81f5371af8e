"""Economic value: unit values with their sources, present values, net benefit and benefit-cost ratio
with intervals that carry the effects' uncertainty.
Layer 5: imports core and effects' table formats only.
"""
