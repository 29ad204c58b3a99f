"""Device selection: pin each local GPU job to its own device (CUDA_VISIBLE_DEVICES) with a lock file per GPU."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

_HELD: list = []  # open lock files, kept for the life of the process


def lock_dir() -> Path:
    """Folder of the per-GPU lock files ($RWBENCH_GPU_LOCKS, default <tmp>/rwbench-gpu-locks)."""
    return Path(os.environ.get("RWBENCH_GPU_LOCKS") or Path(tempfile.gettempdir()) / "rwbench-gpu-locks")


def acquire_gpu_slot(n_gpus: int, directory: str | os.PathLike | None = None) -> int:
    """Take the first free GPU index 0..n_gpus-1 by an exclusive, non-blocking flock on <dir>/gpu-<i>.lock.

    The lock is released when the process exits (also when it is killed), so a crashed job frees its GPU.
    """
    import fcntl

    directory = Path(directory or lock_dir())
    directory.mkdir(parents=True, exist_ok=True)
    for i in range(int(n_gpus)):
        handle = open(directory / f"gpu-{i}.lock", "a+")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            continue
        _HELD.append(handle)
        return i
    raise RuntimeError(f"all {n_gpus} GPUs are taken by other rwbench jobs (locks in {directory}); run snakemake with "
                       f"--resources gpu={n_gpus} so it never starts more GPU jobs than GPUs")


def pin_device(device: str) -> str:
    """For device "cuda" on a machine with several visible GPUs and no scheduler pinning (no SLURM_JOB_ID),
    set CUDA_VISIBLE_DEVICES to one free GPU before CUDA starts; returns the torch device to use."""
    if not str(device).startswith("cuda") or str(device) != "cuda":
        return device  # cpu, or an explicit cuda:i chosen by the user
    if os.environ.get("SLURM_JOB_ID") or os.environ.get("RWBENCH_NO_GPU_PINNING"):
        return device  # SLURM (or the user) already restricts the visible devices
    import torch

    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    ids = [v for v in visible.split(",") if v.strip()] if visible else None
    n = len(ids) if ids is not None else torch.cuda.device_count()
    if n <= 1:
        return device
    slot = acquire_gpu_slot(n)
    os.environ["CUDA_VISIBLE_DEVICES"] = ids[slot] if ids is not None else str(slot)
    return device
