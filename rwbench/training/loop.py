"""The training template L = E w(sigma) ||X - D(X + sigma N, sigma)||^2 (paper.md section 2) for VP, VE and IADB, and the digits classifier.

Objectives (one step draws everything from a generator seeded by (seed, model, step), so resuming is exact):
- vp:   t ~ U{0..T-1}, x_t = sqrt(abar_t) x0 + sqrt(1 - abar_t) z, loss ||eps(x_t, t) - z||^2 (DDPM "simple").
- ve:   sigma = s_min (s_max / s_min)^u, u ~ U(0, 1), loss ||sigma s(x0 + sigma z, sigma) + z||^2 (lambda = sigma^2);
        s_max = the largest pairwise Euclidean distance of training images (score-SDE, technique 1).
- iadb: x0 ~ N(0, I), x1 ~ data, a ~ U(0, 1), x_a = (1 - a) x0 + a x1, loss ||blend(x_a, a) - (x1 - x0)||^2.
- classifier: cross-entropy on the digits train split with random +-1 pixel shifts.
The losses are fixed; `objective.parameterization` only chooses how the UNet F computes each native output:
eps / direct: the output is F itself (VE: s = -F(c_in x, log sigma) / sigma, c_in = 1 / sqrt(sigma_data^2 + sigma^2));
edm: the output is derived from EDM's preconditioned denoiser D = c_skip x + c_out F(c_in x) (Karras et al. 2022,
Table 1) in VE coordinates (vp_eps, ve_sigma_score, iadb_blend), which gives the network a unit-variance target at
every noise level and puts the near-identity part of eps / score / blend outside the network.
Outputs in --out: model.safetensors (EMA weights), config.json (full training config and results), both written
only when training has finished, and state.safetensors (raw weights, EMA, Adam moments, step) for --resume.
Intermediate checkpoints (every `checkpoint_every` steps, or a `stop_after` cut) write state.safetensors and
checkpoint.json only, so a killed or partial training never looks finished. `--model all` trains the four models
in `jobs` concurrent processes (train_all).
"""

from __future__ import annotations

import math
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from rwbench import schedules
from rwbench.data import to_model_range
from rwbench.io import atomic_path, read_json, write_json
from rwbench.nets.preconditioning import iadb_blend, ve_sigma_score, vp_eps
from rwbench.progress import Progress
from rwbench.rng import image_seed
from rwbench.training.config import resolve_model_config, training_images


def max_pairwise_distance(x: torch.Tensor) -> float:
    """max_{i,j} ||x_i - x_j||_2 over a set of images (score-SDE's choice of sigma_max)."""
    flat = x.reshape(x.shape[0], -1).to(torch.float64)
    return float(torch.cdist(flat, flat).max())


# ---------------------------------------------------------------- networks and losses


def build_net(cfg: dict):
    """The UNet of a resolved model config (channels from the dataset, cond_scale from the objective)."""
    from rwbench.nets.unet import UNet

    return UNet(in_channels=1, cond_scale=cfg["objective"]["cond_scale"], **cfg["net"])


def diffusion_loss(kind: str, net, x0: torch.Tensor, objective: dict, g: torch.Generator) -> torch.Tensor:
    """One minibatch of the kind's objective (module docstring), all randomness from `g`."""
    B = x0.shape[0]
    shape = (B,) + (1,) * (x0.dim() - 1)
    z = torch.randn(x0.shape, generator=g)
    if kind == "vp":
        abar = schedules.alphas_cumprod(schedules.linear_betas(objective["T"], objective["beta_min"],
                                                               objective["beta_max"])).float()
        t = torch.randint(0, objective["T"], (B,), generator=g)
        ab = abar[t].view(shape)
        xt = ab.sqrt() * x0 + (1 - ab).sqrt() * z
        return F.mse_loss(vp_eps(net, xt, t.float(), objective), z)
    if kind == "ve":
        smin, smax = float(objective["sigma_min"]), float(objective["sigma_max"])
        u = torch.rand(B, generator=g)
        sigma = smin * (smax / smin) ** u
        out = ve_sigma_score(net, x0 + sigma.view(shape) * z, sigma, objective)
        return F.mse_loss(out, z)  # ||sigma s + z||^2 with s = -out / sigma
    if kind == "iadb":
        a = torch.rand(B, generator=g)
        xa = (1 - a.view(shape)) * z + a.view(shape) * x0
        return F.mse_loss(iadb_blend(net, xa, a, objective), x0 - z)
    raise ValueError(f"kind: unknown objective {kind!r}")


# ---------------------------------------------------------------- template loop


def lr_at(step: int, cfg: dict) -> float:
    """Linear warmup then cosine decay from lr to min_lr_ratio * lr at the last step."""
    lr, warm, total = cfg["lr"], cfg["warmup"], cfg["steps"]
    if step < warm:
        return lr * (step + 1) / warm
    frac = (step - warm) / max(1, total - warm)
    return lr * (cfg["min_lr_ratio"] + (1 - cfg["min_lr_ratio"]) * 0.5 * (1 + math.cos(math.pi * min(frac, 1.0))))


def step_generator(seed: int, kind: str, step: int) -> torch.Generator:
    """The generator of training step `step` (independent of where a run was interrupted)."""
    return torch.Generator().manual_seed(image_seed(seed, f"train-{kind}", step))


def _save_state(out: Path, net, ema, opt, step: int) -> None:
    from safetensors.torch import save_file

    tensors = {f"net.{k}": v.detach().clone().contiguous() for k, v in net.state_dict().items()}
    if ema is not None:
        tensors.update({f"ema.{k}": v.detach().clone().contiguous() for k, v in ema.items()})
    for i, st in opt.state_dict()["state"].items():
        for name, value in st.items():
            tensors[f"opt.{i}.{name}"] = torch.as_tensor(value).detach().clone().contiguous()
    tensors["step"] = torch.tensor(step, dtype=torch.int64)
    with atomic_path(out / "state.safetensors") as tmp:
        save_file(tensors, str(tmp))


def _require_state(out: Path) -> None:
    if not (out / "state.safetensors").is_file():
        raise FileNotFoundError(f"{out / 'state.safetensors'}: nothing to resume from; run without --resume first")


def _load_state(out: Path, net, ema, opt) -> int:
    from rwbench.io import load_safetensors

    path = out / "state.safetensors"
    if not path.is_file():
        raise FileNotFoundError(f"{path}: nothing to resume from; run without --resume first")
    t = load_safetensors(path, "training state", "delete it and train without --resume")
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


FINAL_WEIGHTS, FINAL_META, CHECKPOINT_META = "model.safetensors", "config.json", "checkpoint.json"


def _start_fresh(out: Path) -> None:
    """A new (not resumed) training removes a previous run's final files, so a killed run cannot look finished."""
    for name in (FINAL_WEIGHTS, FINAL_META, CHECKPOINT_META):
        (out / name).unlink(missing_ok=True)


def _save_model(out: Path, weights: dict, meta: dict, final: bool) -> None:
    """Final: EMA weights as model.safetensors + config.json. Intermediate: checkpoint.json only (weights in state)."""
    from safetensors.torch import save_file

    if not final:
        write_json(out / CHECKPOINT_META, meta)
        return
    with atomic_path(out / FINAL_WEIGHTS) as tmp:
        save_file({k: v.detach().clone().contiguous() for k, v in weights.items()}, str(tmp))
    write_json(out / FINAL_META, meta)
    (out / CHECKPOINT_META).unlink(missing_ok=True)


def _check_resume_config(out: Path, cfg: dict) -> None:
    old = read_json(out / CHECKPOINT_META if (out / CHECKPOINT_META).is_file() else out / FINAL_META)
    for key in ("kind", "net", "objective", "dataset", "train"):
        if key in cfg and old.get(key) != cfg[key]:
            raise ValueError(f"{out}: `{key}` of the saved training differs from the given config; resume with the same config "
                             f"or use a new --out")


def train_model(embedded: dict, kind: str, out, *, resume: bool = False, progress: bool = True,
                stop_after: int | None = None) -> dict:
    """Train one embedded model (vp | ve | iadb | classifier) into `out`; returns the written config.json contents."""
    cfg = resolve_model_config(embedded, kind)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    tc = cfg["train"]
    threads = int(tc.get("threads") or 0)
    if threads > 0:
        torch.set_num_threads(threads)
    t_wall, t_cpu = time.perf_counter(), time.process_time()
    data = training_images(cfg["dataset"], "train")
    if kind == "classifier":
        from rwbench.training.classifier import train_classifier

        return train_classifier(cfg, data, out, resume, progress, stop_after, t_wall, t_cpu)
    x_train = to_model_range(data.images, cfg["family"])
    if kind == "ve" and cfg["objective"]["sigma_max"] == "auto":
        cfg["objective"]["sigma_max"] = max_pairwise_distance(to_model_range(data.images, "ve"))
    torch.manual_seed(tc["seed"])
    net = build_net(cfg)
    ema = {k: v.detach().clone() for k, v in net.state_dict().items()}
    opt = torch.optim.Adam(net.parameters(), lr=tc["lr"], betas=tuple(tc["adam_betas"]), fused=True)
    step = 0
    if resume:
        _require_state(out)
        _check_resume_config(out, cfg)
        step = _load_state(out, net, ema, opt)
    else:
        _start_fresh(out)
    params = dict(net.named_parameters())
    ema_keys = [k for k in ema if k in params]  # buffers (none in this UNet) are not averaged
    ema_avg, ema_src = [ema[k] for k in ema_keys], [params[k].detach() for k in ema_keys]
    last = tc["steps"] if stop_after is None else min(tc["steps"], stop_after)
    bar = Progress(tc["steps"], f"train {kind}", enabled=progress, initial=step)
    loss_avg = None
    net.train()
    while step < last:
        g = step_generator(tc["seed"], kind, step)
        idx = torch.randint(0, len(x_train), (tc["batch_size"],), generator=g)
        for group in opt.param_groups:
            group["lr"] = lr_at(step, tc)
        loss = diffusion_loss(kind, net, x_train[idx], cfg["objective"], g)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if tc["grad_clip"]:
            torch.nn.utils.clip_grad_norm_(net.parameters(), tc["grad_clip"])
        opt.step()
        decay = min(tc["ema_decay"], (1 + step) / (10 + step))  # EMA with the (1 + n) / (10 + n) warm-up
        with torch.no_grad():
            torch._foreach_lerp_(ema_avg, ema_src, 1.0 - decay)  # ema <- decay ema + (1 - decay) theta
        step += 1
        loss_avg = loss.item() if loss_avg is None else 0.98 * loss_avg + 0.02 * loss.item()
        bar.update(loss=f"{loss_avg:.4f}")
        if tc["checkpoint_every"] and step % tc["checkpoint_every"] == 0 and step < last:
            _write_checkpoint(out, cfg, net, ema, opt, step, loss_avg, t_wall, t_cpu)
    bar.close()
    return _write_checkpoint(out, cfg, net, ema, opt, step, loss_avg, t_wall, t_cpu)


def _meta(cfg: dict, step: int, n_params: int, loss, t_wall: float, t_cpu: float) -> dict:
    import rwbench

    return dict(cfg, step=step, parameters=n_params, loss_ema=loss, seconds=round(time.perf_counter() - t_wall, 2),
                cpu_seconds=round(time.process_time() - t_cpu, 2), torch_threads=torch.get_num_threads(),
                torch_version=torch.__version__, rwbench_version=getattr(rwbench, "__version__", "0"))


def _write_checkpoint(out, cfg, net, ema, opt, step, loss, t_wall, t_cpu) -> dict:
    from rwbench.nets.unet import count_parameters

    _save_state(out, net, ema, opt, step)
    meta = _meta(cfg, step, count_parameters(net), loss, t_wall, t_cpu)
    meta["net_config"] = net.config
    _save_model(out, ema, meta, final=step >= cfg["train"]["steps"])
    return meta


# ---------------------------------------------------------------- all models, in parallel processes


def _cost(embedded: dict, kind: str) -> float:
    """Relative training cost of a model (steps x batch x base width^2) for longest-first scheduling."""
    cfg = resolve_model_config(embedded, kind)
    tc = cfg["train"]
    width = cfg["net"]["base_channels"] if "net" in cfg else tc["width"] / 2
    return float(tc["steps"] * tc["batch_size"] * width * width)


def summary(kind: str, meta: dict, out) -> str:
    """One line per trained model: steps, parameters, seconds, loss or test accuracy, folder."""
    extra = f" test_accuracy={meta['test_accuracy']:.4f}" if "test_accuracy" in meta else f" loss={meta['loss_ema']:.4f}"
    return (f"model={kind} steps={meta['step']} parameters={meta['parameters']} seconds={meta['seconds']} "
            f"cpu_seconds={meta['cpu_seconds']}{extra} out={out}")


def _train_worker(job: tuple) -> tuple:
    embedded, kind, out, resume = job
    meta = train_model(embedded, kind, out, resume=resume, progress=False)
    return kind, meta


def train_all(embedded: dict, root, *, jobs: int | None = None, kinds=("vp", "ve", "iadb", "classifier"),
              resume: bool = False) -> dict:
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


