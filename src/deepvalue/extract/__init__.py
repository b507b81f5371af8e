"""The extract: reading CSV, Parquet and XLSX tables, refusing direct identifiers, validating and
cleaning with a count per dropped row.
Layer 1: imports core only.
"""
