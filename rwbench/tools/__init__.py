"""One-off tools and benchmarks: prepare, tune, template-vs-native equivalence, the schedules table, one-shot
generate / score / export, the config README writer and `python -m rwbench.tools.bench`."""
