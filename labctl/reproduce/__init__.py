"""``labctl reproduce``: the papers' claims, each run from one shipped protocol and judged by
its own statistic (claim table + Markdown report with figures). See docs/ANALYSIS.md,
"Reproducing the papers"."""
