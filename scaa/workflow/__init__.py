"""The workflow's stages, one module per job the Snakemake rules call: extract, train, score, evaluate, fuse, robustness, resynthesis, tune, benchmark."""
