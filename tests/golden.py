"""Locate and read the golden data of the FFHQ networks (tests/golden/, provenance in tests/golden/README.md)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
import torch

REPO_ROOT = Path(__file__).resolve().parents[1]
GOLDEN_DIR = REPO_ROOT / "tests" / "golden"


def golden_path(name: str) -> Path:
    """Path of a golden file, skipping the test with a clear message when the folder or file is absent."""
    path = GOLDEN_DIR / name
    if not path.is_file():
        pytest.skip(f"golden data {path} not found: it ships with the repository (tests/golden/); restore it with "
                    f"`git checkout -- tests/golden`")
    return path


def load_json(name: str) -> dict:
    """A golden JSON file (manifest or small-config description)."""
    return json.loads(golden_path(name).read_text())


def load_tensors(name: str) -> dict:
    """A golden .pt file of plain tensors, read with torch.load(weights_only=True)."""
    return torch.load(golden_path(name), map_location="cpu", weights_only=True)


def key_shape_dtype_sha256(state: dict) -> str:
    """sha256 of the lines f'{key}|{tuple(shape)}|{dtype}' in state-dict order (the manifests' one-string check)."""
    lines = "".join(f"{k}|{tuple(v.shape)}|{str(v.dtype).removeprefix('torch.')}\n" for k, v in state.items())
    return hashlib.sha256(lines.encode()).hexdigest()


def module_stats(t: torch.Tensor) -> dict:
    """mean, std, absmax, sum and first 8 values of a tensor, as in the golden per-block statistics."""
    t = t.detach().to(torch.float64)
    return {"mean": t.mean().item(), "std": t.std().item(), "absmax": t.abs().max().item(), "sum": t.sum().item(),
            "first8": t.reshape(-1)[:8].tolist()}
