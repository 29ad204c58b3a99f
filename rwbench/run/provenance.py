"""Provenance of a job: package versions, git revision, host, device, threads (saved next to every shard)."""

from __future__ import annotations

import platform
import subprocess
from importlib import metadata
from pathlib import Path

PACKAGES = ("rwbench", "torch", "torchvision", "numpy", "torch-fidelity", "lpips", "snakemake", "scikit-learn")


def package_versions() -> dict[str, str | None]:
    """Installed versions of the packages results depend on (None when absent)."""
    out = {}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def git_revision(path: str | Path | None = None) -> str:
    """`git describe --always --dirty` of the source tree, or "unknown" outside a git checkout."""
    root = Path(path) if path else Path(__file__).resolve().parents[2]
    try:
        res = subprocess.run(["git", "-C", str(root), "describe", "--always", "--dirty", "--abbrev=12"],
                             capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return res.stdout.strip() if res.returncode == 0 and res.stdout.strip() else "unknown"


def device_description(device: str) -> str:
    """Human-readable device: the CUDA device name or the CPU model."""
    import torch

    if str(device).startswith("cuda") and torch.cuda.is_available():
        return torch.cuda.get_device_name(torch.device(device))
    return platform.processor() or platform.machine()


def provenance(device: str = "cpu") -> dict:
    """Everything needed to say where and with what a result was made."""
    import os

    import torch

    return {"packages": package_versions(), "git": git_revision(), "python": platform.python_version(),
            "host": platform.node(), "device": str(device), "device_name": device_description(device),
            "torch_threads": torch.get_num_threads(), "cuda_visible_devices": os.environ.get("CUDA_VISIBLE_DEVICES")}
