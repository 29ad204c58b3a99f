"""The paper's core: the random walk (eqs. 11 and 22), its Table II presets, noise ladders and step and
temperature rules, the conditional walk, named random streams and divergence checks. No model imports."""
