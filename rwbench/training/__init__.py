"""Training of the embedded models: settings (config.py), what both trainers share (state.py: step generators,
learning-rate schedule, checkpoint files, resume), the diffusion trainer (loop.py), the digits classifier
(classifier.py), and here the one dispatch from a model kind to its trainer (train_model, train_all). The networks'
parameterizations live in rwbench.models.preconditioning and their inference wrapper in
rwbench.models.embedded.native_function; the CLI is rwbench.commands.train."""

from __future__ import annotations

from pathlib import Path

import torch

from rwbench.training.classifier import train_classifier
from rwbench.training.config import KINDS, resolve_model_config, training_images
from rwbench.training.loop import train_diffusion
from rwbench.training.state import Clock


def train_model(embedded: dict, kind: str, out, *, resume: bool = False, progress: bool = True,
                stop_after: int | None = None) -> dict:
    """Train one embedded model (vp | ve | iadb | classifier) into `out`; returns the written config.json contents.

    Sets torch's CPU threads to the config's `threads` (when positive) before any work, loads the training split,
    and hands both to the kind's trainer; `stop_after` cuts the training at that step (a resumable checkpoint).
    """
    cfg = resolve_model_config(embedded, kind)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    threads = int(cfg["train"].get("threads") or 0)
    if threads > 0:
        torch.set_num_threads(threads)
    clock = Clock()
    data = training_images(cfg["dataset"], "train")
    trainer = train_classifier if kind == "classifier" else train_diffusion
    return trainer(cfg, data, out, resume=resume, progress=progress, stop_after=stop_after, clock=clock)


def _cost(embedded: dict, kind: str) -> float:
    """Relative training cost of a model (steps x batch x base width^2) for longest-first scheduling."""
    cfg = resolve_model_config(embedded, kind)
    tc = cfg["train"]
    width = cfg["net"]["base_channels"] if "net" in cfg else tc["width"] / 2
    return float(tc["steps"] * tc["batch_size"] * width * width)


def summary(kind: str, meta: dict, out) -> str:
    """One line per trained model: steps, parameters, seconds, loss or test accuracy, folder."""
    if "test_accuracy" in meta:
        extra = f" test_accuracy={meta['test_accuracy']:.4f}"
    else:  # no loss when a finished training was resumed (no step run)
        extra = " loss=none" if meta["loss_ema"] is None else f" loss={meta['loss_ema']:.4f}"
    return (f"model={kind} steps={meta['step']} parameters={meta['parameters']} seconds={meta['seconds']} "
            f"cpu_seconds={meta['cpu_seconds']}{extra} out={out}")


def _train_worker(job: tuple) -> tuple:
    embedded, kind, out, resume = job
    meta = train_model(embedded, kind, out, resume=resume, progress=False)
    return kind, meta


def train_all(embedded: dict, root, *, jobs: int | None = None, kinds=KINDS, resume: bool = False) -> dict:
    """Train `kinds` into root/<kind> on `jobs` worker processes (longest first); returns {kind: config.json}."""
    import multiprocessing as mp

    root = Path(root)
    jobs = int(jobs if jobs is not None else embedded.get("jobs", 1))
    if jobs < 1:
        raise ValueError(f"jobs: need at least one worker process, got {jobs}")
    order = sorted(kinds, key=lambda k: -_cost(embedded, k))
    work = [(embedded, k, str(root / k), resume) for k in order]
    results = {}
    if jobs == 1:
        for job in work:
            kind, meta = _train_worker(job)
            results[kind] = meta
            print(summary(kind, meta, root / kind), flush=True)
        return results
    with mp.get_context("spawn").Pool(min(jobs, len(work)), maxtasksperchild=1) as pool:
        for kind, meta in pool.imap_unordered(_train_worker, work):
            results[kind] = meta
            print(summary(kind, meta, root / kind), flush=True)
    return results
