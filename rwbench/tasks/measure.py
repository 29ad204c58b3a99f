"""Measurements of the grid's inverse tasks: each target's operator (mask seeded by stream (seed, mask, task, t)) and its
noisy measurement y = A x + eta n (noise from stream (seed, measure, task, t)), and the shape check every posterior
sampler runs. The DAG (rwbench.run.runners.make_inverse) and the posterior benchmark both measure through here."""

from __future__ import annotations

from typing import Sequence

import torch

from rwbench.tasks.operators import LinearOperator, make_operator
from rwbench.core.rng import stream_generators, stream_seed
from rwbench.tasks import operator_name


def task_operator(task: str, seed: int, targets: Sequence[int], repeat: int = 1, **task_params) -> LinearOperator:
    """Operator of a grid task (rwbench.tasks.TASKS) for `targets`, target t's mask from stream (seed, mask, task, t);
    each target repeated `repeat` times in a row (N posterior draws of one measurement)."""
    seeds = [stream_seed(seed, "mask", task, int(t)) for t in targets for _ in range(int(repeat))]
    return make_operator(operator_name(task), n_images=len(seeds), seeds=seeds, **task_params)


def measure_targets(task: str, seed: int, targets: Sequence[int], truth: torch.Tensor, eta: float,
                    **task_params) -> tuple[LinearOperator, torch.Tensor]:
    """(operator, y) of targets: masks as task_operator, y = A x + eta n with n from stream (seed, measure, task, t).
    The DAG (rwbench.run.runners.make_inverse) and the posterior benchmark both measure through this function."""
    targets = [int(t) for t in targets]
    op = task_operator(task, seed, targets, **task_params)
    y = op.measure(truth, eta, stream_generators(seed, "measure", task, targets))
    return op, y


# ---------------------------------------------------------------- shared by the posterior samplers (rwbench.baselines)


def check_problem(x: torch.Tensor, y: torch.Tensor, operator: LinearOperator) -> None:
    """Raise ValueError unless x is a batch the operator accepts and y has the matching measurement shape."""
    operator.check_input(x)
    expected = (x.shape[0], *operator.output_shape(x.shape[1:]))
    if tuple(y.shape) != expected:
        raise ValueError(f"y: need measurements of shape {expected} for x of shape {tuple(x.shape)}, got {tuple(y.shape)}")


__all__ = ["task_operator", "measure_targets", "check_problem"]
