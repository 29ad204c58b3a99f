"""Published hyper-parameters that torch-free code needs (the sampler table's NFE rules, the Snakefile): one home.

The posterior samplers' other published settings stay beside their code in rwbench/baselines/ (docs/posterior-samplers.md).
"""

# DAPS-1K (Zhang et al. 2024; configs/sampler/edm_daps.yaml, configs/task/*.yaml, pixel group; images in [-1, 1]):
# 200 annealing levels, each a 5-step Euler PF-ODE solve (1000 NFE) and 100 Langevin steps on the likelihood.
DAPS = {"annealing_steps": 200, "ode_steps": 5, "langevin_steps": 100, "tau_repo": 0.01, "lr_min_ratio": 0.01,
        "sigma_max": 100.0, "sigma_min": 0.1, "ode_sigma_min": 0.01}
DAPS_LR = {"box": 5e-5, "inpaint": 1e-4, "sr": 1e-4, "deblur": 1e-4}
