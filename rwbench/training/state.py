"""What the diffusion trainer (loop.py) and the classifier trainer (classifier.py) share: the generator of each
training step, the learning-rate schedule, the training clock and metadata, and the files of a training folder.

Files in a training folder `out`:
- state.safetensors: raw weights (`net.*`), EMA weights (`ema.*`, diffusion models only), Adam moments
  (`opt.<param index>.<name>`) and `step`; written at every checkpoint, read by --resume.
- model.safetensors + config.json: the final weights (EMA, or the raw weights without an EMA) and the metadata,
  written only when the last step is done.
- checkpoint.json: the metadata of an intermediate checkpoint, so a killed or partial training never looks finished.
Every safetensors file is written through a temporary file and renamed (rwbench.io.save_safetensors).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch

from rwbench.io import load_safetensors, read_json, save_safetensors, write_json
from rwbench.core.rng import image_seed

STATE_FILE, FINAL_WEIGHTS, FINAL_META, CHECKPOINT_META = (
    "state.safetensors", "model.safetensors", "config.json", "checkpoint.json")
RESUME_KEYS = ("kind", "net", "objective", "dataset", "train")  # settings a resumed training must share


def step_generator(seed: int, kind: str, step: int) -> torch.Generator:
    """The generator of training step `step` (independent of where a run was interrupted, so resuming is exact)."""
    return torch.Generator().manual_seed(image_seed(seed, f"train-{kind}", step))


def lr_at(step: int, train: dict) -> float:
    """Linear warmup then cosine decay from lr to min_lr_ratio * lr at the last step."""
    lr, warm, total = train["lr"], train["warmup"], train["steps"]
    if step < warm:
        return lr * (step + 1) / warm
    frac = (step - warm) / max(1, total - warm)
    return lr * (train["min_lr_ratio"] + (1 - train["min_lr_ratio"]) * 0.5 * (1 + math.cos(math.pi * min(frac, 1.0))))


@dataclass(frozen=True)
class Clock:
    """Wall and CPU time when a training started (the `seconds` and `cpu_seconds` of its metadata)."""

    wall: float = field(default_factory=time.perf_counter)
    cpu: float = field(default_factory=time.process_time)


def training_meta(cfg: dict, step: int, n_params: int, loss, clock: Clock) -> dict:
    """The metadata of a checkpoint: the full training config, step, parameter count, loss, times and versions."""
    import rwbench

    return dict(cfg, step=step, parameters=n_params, loss_ema=loss, seconds=round(time.perf_counter() - clock.wall, 2),
                cpu_seconds=round(time.process_time() - clock.cpu, 2), torch_threads=torch.get_num_threads(),
                torch_version=torch.__version__, rwbench_version=getattr(rwbench, "__version__", "0"))


def save_state(out: Path, net, ema: dict | None, opt, step: int) -> None:
    """Write out/state.safetensors atomically: raw weights, EMA weights (if any), Adam moments and the step."""
    tensors = {f"net.{k}": v.detach().clone().contiguous() for k, v in net.state_dict().items()}
    if ema is not None:
        tensors.update({f"ema.{k}": v.detach().clone().contiguous() for k, v in ema.items()})
    for i, st in opt.state_dict()["state"].items():
        for name, value in st.items():
            tensors[f"opt.{i}.{name}"] = torch.as_tensor(value).detach().clone().contiguous()
    tensors["step"] = torch.tensor(step, dtype=torch.int64)
    save_safetensors(Path(out) / STATE_FILE, tensors)


def _existing_state(out: Path) -> Path:
    path = Path(out) / STATE_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{path}: nothing to resume from; run without --resume first")
    return path


def load_state(out: Path, net, ema: dict | None, opt) -> int:
    """Load out/state.safetensors into `net`, `ema` (if any) and `opt` in place; returns the saved step."""
    t = load_safetensors(_existing_state(out), "training state", "delete it and train without --resume")
    net.load_state_dict({k[4:]: v for k, v in t.items() if k.startswith("net.")})
    if ema is not None:
        for k in ema:
            ema[k].copy_(t[f"ema.{k}"])
    sd = opt.state_dict()
    state = {}
    for key, v in t.items():
        if key.startswith("opt."):
            _, i, name = key.split(".", 2)
            state.setdefault(int(i), {})[name] = v
    sd["state"] = state
    opt.load_state_dict(sd)
    return int(t["step"])


def _check_resume_config(out: Path, cfg: dict) -> None:
    old = read_json(out / CHECKPOINT_META if (out / CHECKPOINT_META).is_file() else out / FINAL_META)
    for key in RESUME_KEYS:
        if key in cfg and old.get(key) != cfg[key]:
            raise ValueError(f"{out}: `{key}` of the saved training differs from the given config; resume with the "
                             f"same config or use a new --out")


def resume_or_start(out: Path, cfg: dict, net, ema: dict | None, opt, resume: bool) -> int:
    """The step a training starts from.

    With `resume`: checks that out/ holds a state whose settings (RESUME_KEYS) equal `cfg`'s, loads it into `net`,
    `ema` and `opt`, and returns its step. Without: removes a previous run's final and checkpoint metadata files (so a
    killed run cannot look finished) and returns 0.
    """
    out = Path(out)
    if not resume:
        for name in (FINAL_WEIGHTS, FINAL_META, CHECKPOINT_META):
            (out / name).unlink(missing_ok=True)
        return 0
    _existing_state(out)
    _check_resume_config(out, cfg)
    return load_state(out, net, ema, opt)


def save_checkpoint(out: Path, net, ema: dict | None, opt, meta: dict) -> None:
    """Save the state at meta["step"], then the model files: final ones (model.safetensors with the EMA weights, or
    the raw ones without an EMA, and config.json) at the last step, else checkpoint.json only."""
    out = Path(out)
    save_state(out, net, ema, opt, meta["step"])
    if meta["step"] < meta["train"]["steps"]:
        write_json(out / CHECKPOINT_META, meta)
        return
    weights = ema if ema is not None else net.state_dict()
    save_safetensors(out / FINAL_WEIGHTS, {k: v.detach().clone() for k, v in weights.items()})
    write_json(out / FINAL_META, meta)
    (out / CHECKPOINT_META).unlink(missing_ok=True)
