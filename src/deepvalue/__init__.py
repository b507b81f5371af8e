"""deepvalue: does relational continuity cause better outcomes, and what is it worth?

The library behind the Snakemake workflow: every stage is a plain function here and a
`deepvalue` CLI command. Nothing in this package imports snakemake.
"""

__version__ = "0.1.0"
