"""Summarise replicate files by blocks of seeds and pooled (the block and pooled columns of
docs/validation.md's session-15 tables).

    PYTHONPATH=src python diagnostics/issue14_16_session15/pool_blocks.py OUT.csv FIRST-LAST [FIRST-LAST ...] -- FILE [FILE ...]

FILEs are `deepvalue simulate` replicate CSVs (`<out>_replicates.csv`) or validation.smk chunk files
(`results/validation/chunks/*.csv`); each block is summarised with `simulate.study.summarise` (its mean
truth over that block's seeds), and "pooled" over every seed read. OUT.csv gets one row per block and
outcome x method x estimand x scale, with `se_sd` = mean SE / SD of the estimates.
"""

import sys

import pandas as pd

from deepvalue.simulate.study import read_replicates, summarise

out, rest = sys.argv[1], sys.argv[2:]
cut = rest.index("--")
blocks = [tuple(int(x) for x in b.split("-")) for b in rest[:cut]]
replicates = read_replicates(rest[cut + 1 :])
parts = {f"{a}-{b}": replicates[replicates["seed"].between(a, b)] for a, b in blocks}
parts["pooled"] = replicates
rows = []
for name, reps in parts.items():
    summary = summarise(reps)
    rows.append(summary.assign(block=name, se_sd=summary["mean_se"] / summary["sd_estimate"]))
table = pd.concat(rows, ignore_index=True)
table.to_csv(out, index=False)
cols = ["block", "outcome", "method", "estimand", "scale", "reps", "se_sd", "coverage", "coverage_population"]
print(table[cols].round(3).to_string(index=False))
