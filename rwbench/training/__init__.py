"""Training of the embedded models: settings (config.py), the diffusion training loop and checkpoints (loop.py), the
digits classifier (classifier.py). The networks' parameterizations live in rwbench.nets.preconditioning and their
inference wrapper in rwbench.embedded.native_function; the CLI is rwbench.commands.train."""
