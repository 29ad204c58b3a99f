"""Run one resolved run spec (rwbench.grid) on a set of image indices: the template with a preset, a native baseline,
IADB or DPS, unconditional or on an inverse task, with image i's noise and measurement drawn from its own seed."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from rwbench import presets, schedules
from rwbench.denoisers import GaussianMixtureDenoiser, VPEpsDenoiser, blend_from_denoiser, eps_from_denoiser, score_from_denoiser
from rwbench.grid import TASKS
from rwbench.rng import image_generators, image_seed, randn_per_image

F64 = torch.float64


def load_denoiser(spec: dict, device="cpu", dtype=torch.float32):
    """The registered model of a spec, loaded from its checkpoint (None: the model's default location)."""
    from rwbench.registry import get_model

    options = dict(spec.get("loader_options") or {})
    return get_model(spec["registry"]).loader(spec.get("checkpoint"), device=device, dtype=dtype, **options)


def model_betas(denoiser) -> torch.Tensor:
    """The DDPM betas a VP-type sampler uses: the model's own (VP models) or linear 1e-4..0.02, T = 1000."""
    betas = getattr(denoiser, "betas", None)
    return torch.as_tensor(betas, dtype=F64) if betas is not None else schedules.linear_betas()


def respaced_timesteps(T: int, K: int) -> torch.Tensor:
    """K integer timesteps evenly spaced over 0..T-1 (DDPM respacing; K = T gives all)."""
    if not 1 <= K <= T:
        raise ValueError(f"steps: DDPM-type samplers need 1 <= steps <= {T}, got {K}")
    return torch.linspace(0, T - 1, K, dtype=F64).round().long().unique()


def respaced_betas(betas: torch.Tensor, timesteps: torch.Tensor) -> torch.Tensor:
    """Betas of the respaced chain: 1 - abar[t_i] / abar[t_{i-1}] (abar before the first kept step = 1)."""
    abar = schedules.alphas_cumprod(betas)[timesteps]
    prev = torch.cat([torch.ones(1, dtype=F64), abar[:-1]])
    return 1.0 - abar / prev


def ladder(spec: dict, denoiser) -> torch.Tensor:
    """The decreasing noise levels sigma_k of a spec's schedule (pretrained: the VP model's levels; VE: geometric)."""
    K, name = int(spec["steps"]), spec["schedule"]
    if name == "pretrained":
        if spec["family"] == "vp":
            return schedules.vp_pretrained(K, model_betas(denoiser))
        name = "geometric"  # a VE model's own training ladder is geometric (score-SDE)
    return schedules.ladder(name, K, float(spec["sigma_min"]), float(spec["sigma_max"]))


def walk_params(spec: dict, denoiser) -> presets.WalkParams:
    """Table II preset (or the simplified scheme) of a template sampler."""
    sampler, p = spec["sampler"], spec["params"]
    if sampler == "simplified":
        return presets.simplified(ladder(spec, denoiser), p["c"], p["T0"], p["TK"], init=p.get("init", "sigma"))
    if sampler in ("ddpm", "vp-sde"):
        betas = model_betas(denoiser)
        sub = respaced_betas(betas, respaced_timesteps(betas.numel(), int(spec["steps"])))
        return presets.ddpm(sub, p.get("variance", "beta")) if sampler == "ddpm" else presets.vp_sde(sub)
    if sampler == "ncsn":
        return presets.ncsn(_ncsn_levels(spec, denoiser), int(p["n_steps_each"]), float(p["eps"]))
    if sampler == "ve-sde":
        return presets.ve_sde(ladder(spec, denoiser))
    raise ValueError(f"sampler {sampler!r} is not a template sampler")


def _ncsn_levels(spec: dict, denoiser) -> torch.Tensor:
    n_each = int(spec["params"]["n_steps_each"])
    if spec["steps"] % n_each:
        raise ValueError(f"steps: NCSN needs steps ({spec['steps']}) divisible by n_steps_each ({n_each})")
    return ladder(dict(spec, steps=spec["steps"] // n_each), denoiser)


def _vp_eps(denoiser, betas: torch.Tensor):
    """eps_fn(x_vp, t) in the full DDPM index space: the network itself for VP models, else via Tweedie."""
    if isinstance(denoiser, VPEpsDenoiser):
        return denoiser.eps_fn
    return eps_from_denoiser(denoiser, schedules.alphas_cumprod(betas))


def _on_timesteps(eps_fn, timesteps: torch.Tensor):
    """eps_fn on a respaced chain: index t of the chain is DDPM time timesteps[t]."""
    ts = timesteps.to(F64)

    def wrapped(x, t):
        return eps_fn(x, ts[t.round().long().cpu()].to(t.device))

    return wrapped


def _native_score(denoiser):
    """score_fn(x, sigma[B]) of VE models' own network, else the Tweedie score of the denoiser."""
    native = getattr(denoiser, "score_fn", None)
    return native if native is not None else score_from_denoiser(denoiser)


def _native_blend(denoiser):
    """blend_fn(x_a, a[B]) of IADB models' own network, else derived from the denoiser."""
    native = getattr(denoiser, "blend_fn", None)
    return native if native is not None else blend_from_denoiser(denoiser)


@dataclass
class Inverse:
    """Measurements of an inverse task for a batch: operator (per-image masks), y, ground truth on the model scale."""

    operator: object
    y: torch.Tensor
    ground_truth: torch.Tensor
    eta: float


def ground_truth_images(spec: dict, targets) -> torch.Tensor:
    """uint8 ground-truth images for target indices: the spec's dataset split, in order."""
    from rwbench.data import load_dataset

    split = "all" if spec["dataset"] in ("faces", "ffhq") else spec.get("split", "test")
    images = load_dataset(spec["dataset"], split, spec["resolution"]).images
    targets = torch.as_tensor(targets, dtype=torch.long)
    if len(targets) and int(targets.max()) >= len(images):
        raise ValueError(f"n_targets: the {spec['dataset']} {split} split has {len(images)} images, "
                         f"target {int(targets.max())} requested")
    return images[targets]


def make_inverse(spec: dict, targets: torch.Tensor, dtype) -> Inverse:
    """Operator with image i's mask from seed (seed, task/mask, target_i) and y = A x + eta n, n from (seed, task/measure, target_i)."""
    from rwbench.data import from_uint8
    from rwbench.operators import make_operator

    task, seed, tp = spec["task"], int(spec["seed"]), dict(spec["task_params"])
    eta = float(tp.pop("eta"))
    lo, hi = spec["data_range"]
    gt = from_uint8(ground_truth_images(spec, targets), (lo, hi), dtype=F64)
    mask_seeds = [image_seed(seed, f"{task}/mask", int(t)) for t in targets]
    op = make_operator(TASKS[task], n_images=len(targets), seeds=mask_seeds, **tp)
    gens = image_generators(seed, f"{task}/measure", [int(t) for t in targets])
    y = op.measure(gt, eta, gens)
    return Inverse(op, y.to(dtype), gt.to(dtype), eta)


def initial_noise(spec: dict, indices, device="cpu") -> tuple[torch.Tensor, list]:
    """x_T ~ N(0, I) per image from image i's generator (drawn first, so every sampler sees the same x_T for image i)."""
    gens = image_generators(int(spec["seed"]), spec["task"], [int(i) for i in indices], device=device)
    shape = (int(spec["channels"]), int(spec["resolution"]), int(spec["resolution"]))
    return randn_per_image(gens, shape, dtype=F64, device=device), gens


@dataclass
class Trajectory:
    """Records (step, sigma, x, denoised) of a template walk at chosen iterations (docs/run-layout.md): sigma is the
    level of the walk step that produced x_k (sigma_{k-1}; sigma_0 at k = 0; 0 for the output); with `keep`
    (bool [B]) only those images of the batch are recorded."""

    steps: list[int]
    K: int
    keep: torch.Tensor | None = None
    rows: list = field(default_factory=list)

    def _pick(self, t: torch.Tensor) -> torch.Tensor:
        t = t.float().cpu()
        return t if self.keep is None else t[self.keep]

    def __call__(self, info: dict) -> None:
        if info["k"] in self.steps:
            # x_k is tagged with the level it was produced at (sigma_{k-1}; sigma_0 for x_0), not sigma_k
            self.rows.append((info["k"], float(info["x_sigma"]), self._pick(info["x"]), self._pick(info["denoised"])))

    def finish(self, x: torch.Tensor, indices) -> dict:
        out = self._pick(x)
        self.rows.append((self.K, 0.0, out, out))
        index = torch.as_tensor(indices, dtype=torch.long)
        index = index if self.keep is None else index[self.keep]
        return {"index": index, "step": torch.tensor([r[0] for r in self.rows]),
                "sigma": torch.tensor([r[1] for r in self.rows], dtype=F64),
                "x": torch.stack([r[2] for r in self.rows]), "denoised": torch.stack([r[3] for r in self.rows])}


def trajectory_steps(K: int, points: int) -> list[int]:
    """points - 1 iterations evenly spread over 0..K-1 (the output is the last point)."""
    if points < 2:
        return []
    return sorted(set(torch.linspace(0, K - 1, points - 1).round().long().tolist()))


def run_sampler(spec: dict, denoiser, indices, *, device="cpu", dtype=torch.float32, progress=False) -> dict:
    """Sample images `indices` of a run: returns x on the model's data scale plus extras (trajectory, inverse data)."""
    indices = [int(i) for i in indices]
    x_T, gens = initial_noise(spec, indices, device)
    x_T = x_T.to(dtype)
    sampler, kind, p = spec["sampler"], spec["sampler_kind"], spec["params"]
    spt = int(spec.get("samples_per_target") or 1)
    targets = torch.tensor([i // spt for i in indices], dtype=torch.long) if spec["task"] != "uncond" else None
    inv = make_inverse(spec, targets, dtype) if targets is not None else None
    extras: dict = {}
    callback = None
    if kind == "template":
        wp = walk_params(spec, denoiser)
        if spec.get("trajectory_points"):
            limit = int(spec.get("trajectory_images") or 0)      # record images 0..limit-1 only (0: all)
            keep = torch.tensor([i < limit for i in indices]) if limit else None
            callback = Trajectory(trajectory_steps(wp.K, int(spec["trajectory_points"])), wp.K, keep)
        x0 = wp.init_scale * x_T
        if inv is None:
            from rwbench.walk import random_walk

            x = random_walk(denoiser, x0, generator=gens, callback=callback, **wp.walk_kwargs())
        else:
            from rwbench.inverse import conditional_random_walk

            x = conditional_random_walk(denoiser, x0, inv.y, inv.operator, inv.eta, wp.sigmas, wp.temperatures,
                                        c=p["c"], cap=p.get("cap", "lipschitz"), generator=gens,
                                        final_noise=wp.final_noise, callback=callback)
        if callback is not None:
            extras["trajectory"] = callback.finish(x, indices)
    elif sampler in ("native-ddpm", "native-vp-sde", "dps"):
        betas = model_betas(denoiser)
        ts = respaced_timesteps(betas.numel(), int(spec["steps"]))
        sub, eps_fn = respaced_betas(betas, ts), _on_timesteps(_vp_eps(denoiser, betas), ts)
        if sampler == "native-ddpm":
            from rwbench.baselines.ddpm import ddpm_ancestral

            x = ddpm_ancestral(eps_fn, x_T, sub, variance=p.get("variance", "beta"), generators=gens, progress=progress)
        elif sampler == "native-vp-sde":
            from rwbench.baselines.score_sde import vp_predictor

            x = vp_predictor(eps_fn, x_T, sub, generators=gens, corrector_snr=p.get("corrector_snr"), progress=progress)
        else:
            from rwbench.baselines.dps import default_zeta, dps

            zeta = p.get("zeta") or default_zeta(TASKS[spec["task"]])
            extras["zeta"] = zeta
            x = dps(eps_fn, x_T, inv.y, inv.operator, sub, zeta, variance=p.get("variance", "beta_tilde"), generators=gens)
    elif sampler == "native-ve-sde":
        from rwbench.baselines.score_sde import ve_predictor

        sig = ladder(spec, denoiser)
        x = ve_predictor(_native_score(denoiser), float(sig[0]) * x_T, sig, generators=gens,
                         corrector_snr=p.get("corrector_snr"), progress=progress)
    elif sampler == "native-ncsn":
        from rwbench.baselines.ncsn import annealed_langevin

        levels = _ncsn_levels(spec, denoiser)
        x = annealed_langevin(_native_score(denoiser), float(levels[0]) * x_T, levels, int(p["n_steps_each"]),
                              float(p["eps"]), generators=gens, progress=progress)
    elif sampler == "iadb":
        from rwbench.baselines.iadb import iadb_sample

        x = iadb_sample(_native_blend(denoiser), x_T, int(spec["steps"]), progress=progress)
    else:
        raise ValueError(f"sampler {sampler!r} has no implementation")
    if inv is not None:
        extras["inverse"] = inv
        extras["targets"] = targets
        if isinstance(denoiser, GaussianMixtureDenoiser):
            extras.update(exact_posterior(spec, denoiser, inv, indices))
    return {"x": x, **extras}


def exact_posterior(spec: dict, prior: GaussianMixtureDenoiser, inv: Inverse, indices) -> dict:
    """Exact posterior mean and one exact posterior draw per image (generator (seed, task/exact, i)) for the oracle."""
    from rwbench.posterior import batch_posteriors, posterior_mean

    posts = batch_posteriors(prior, inv.operator, inv.y.to(F64), inv.eta)
    gens = image_generators(int(spec["seed"]), f"{spec['task']}/exact", indices)
    mmse = torch.stack([posterior_mean(q) for q in posts])
    draws = torch.cat([q.sample(1, generator=g) for q, g in zip(posts, gens)])
    return {"exact_mmse": mmse, "exact_draw": draws}


def to_unit(x: torch.Tensor, data_range) -> torch.Tensor:
    """Model data scale -> [0, 1] (not clamped)."""
    lo, hi = float(data_range[0]), float(data_range[1])
    return (x.to(F64) - lo) / (hi - lo)


__all__ = ["load_denoiser", "run_sampler", "walk_params", "ladder", "respaced_timesteps", "respaced_betas", "make_inverse",
           "initial_noise", "trajectory_steps", "to_unit", "exact_posterior", "ground_truth_images"]
