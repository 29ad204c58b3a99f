"""Planning, torch-free: the sampler table, the config (schema, defaults, validation), the grid of runs, packs,
inputs and the figure table. The only layer the Snakefile imports."""
