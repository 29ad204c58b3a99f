"""The task vocabulary (torch-free: the planner reads it) and, in rwbench.tasks.operators, the measurement operators.

A task is what a run solves: `uncond` (unconditional sampling) or an inverse problem y = A x + eta n whose operator
rwbench.tasks.operators.make_operator builds by its operator name.
"""

from __future__ import annotations

# grid task name -> operator name (None: no measurement)
TASKS: dict[str, str | None] = {"uncond": None, "inpaint": "inpainting", "box": "box", "sr": "sr", "deblur": "blur"}
INVERSE_TASKS: tuple[str, ...] = tuple(task for task, operator in TASKS.items() if operator)
# operator settings of each inverse task unless an experiment's `task_params` says otherwise
TASK_DEFAULTS: dict[str, dict] = {"inpaint": {"p": 0.92}, "box": {"box": 8}, "sr": {"factor": 4},
                                  "deblur": {"size": 61, "std": 3.0}}


def operator_name(task: str) -> str:
    """The operator of an inverse task (ValueError naming the inverse tasks for anything else)."""
    if TASKS.get(task) is None:
        raise ValueError(f"task: {task!r} is not an inverse task; choose one of {', '.join(INVERSE_TASKS)}")
    return TASKS[task]


__all__ = ["TASKS", "INVERSE_TASKS", "TASK_DEFAULTS", "operator_name"]
