"""Run one resolved run spec (rwbench.plan.grid) on a set of image indices: the template with a preset, a native baseline,
IADB, a solver or a posterior sampler, unconditional or on an inverse task, with image i's noise and measurement drawn
from its own seed. Posterior samplers have one run protocol (posterior_settings, run_posterior_sampler) that the DAG's
runner and the posterior benchmark (rwbench.tools.bench.posterior) both call."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch

from rwbench.core import presets, schedules
from rwbench.plan import samplers as sampler_table
from rwbench.models.denoisers import GaussianMixtureDenoiser, blend_from_denoiser, chain_eps, score_from_denoiser
from rwbench.core.rng import randn_per_image, stream_generators

F64 = torch.float64


def load_denoiser(spec: dict, device="cpu", dtype=torch.float32):
    """The registered model of a spec, loaded from its checkpoint (None: the model's default location)."""
    from rwbench.models.registry import get_model

    options = dict(spec.get("loader_options") or {})
    return get_model(spec["registry"]).loader(spec.get("checkpoint"), device=device, dtype=dtype, **options)


def model_betas(denoiser) -> torch.Tensor:
    """The DDPM betas a VP-type sampler uses: the model's own (VP models) or linear 1e-4..0.02, T = 1000."""
    betas = getattr(denoiser, "betas", None)
    return torch.as_tensor(betas, dtype=F64) if betas is not None else schedules.linear_betas()


def ladder(spec: dict, denoiser) -> torch.Tensor:
    """The decreasing noise levels sigma_k of a spec's schedule for its model family (schedules.named_ladder:
    "pretrained" is the VP model's own levels for VP models, geometric otherwise)."""
    betas = model_betas(denoiser) if spec["family"] == "vp" else None
    name = sampler_table.resolve_schedule(spec["schedule"], spec["family"])
    return schedules.named_ladder(name, int(spec["steps"]), float(spec["sigma_min"]), float(spec["sigma_max"]),
                                  betas=betas)


def walk_params(spec: dict, denoiser) -> presets.WalkParams:
    """Table II preset (or the simplified scheme) of a template sampler: its table row's WalkParams builder."""
    row = sampler_table.get(spec["sampler"])
    if row.kind != "template":
        raise ValueError(f"sampler {row.name!r} is not a template sampler (kind {row.kind})")
    return sampler_table.resolve(row.algorithm)(spec, denoiser)


def walk_simplified(spec: dict, denoiser) -> presets.WalkParams:
    """The paper's simplified scheme on the spec's ladder: tau = c sigma^2, T linear T0 -> TK."""
    p = spec["params"]
    return presets.simplified(ladder(spec, denoiser), p["c"], p["T0"], p["TK"], init=p.get("init", "sigma"))


def _respaced_chain(spec: dict, denoiser) -> torch.Tensor:
    betas = model_betas(denoiser)
    return schedules.respaced_betas(betas, schedules.respaced_timesteps(betas.numel(), int(spec["steps"])))


def walk_ddpm(spec: dict, denoiser) -> presets.WalkParams:
    """DDPM ancestral (Table II) on the model's respaced betas."""
    return presets.ddpm(_respaced_chain(spec, denoiser), spec["params"].get("variance", "beta"))


def walk_vp_sde(spec: dict, denoiser) -> presets.WalkParams:
    """VP-SDE reverse diffusion (Table II) on the model's respaced betas."""
    return presets.vp_sde(_respaced_chain(spec, denoiser))


def walk_ncsn(spec: dict, denoiser) -> presets.WalkParams:
    """NCSN annealed Langevin (Table II): steps / n_steps_each levels of the spec's ladder."""
    p = spec["params"]
    return presets.ncsn(_ncsn_levels(spec, denoiser), int(p["n_steps_each"]), float(p["eps"]),
                        p.get("convention", "paper"))


def walk_ve_sde(spec: dict, denoiser) -> presets.WalkParams:
    """VE-SDE reverse diffusion (Table II) on the spec's ladder."""
    return presets.ve_sde(ladder(spec, denoiser))


def _ncsn_levels(spec: dict, denoiser) -> torch.Tensor:
    n_each = int(spec["params"]["n_steps_each"])
    if spec["steps"] % n_each:
        raise ValueError(f"steps: NCSN needs steps ({spec['steps']}) divisible by n_steps_each ({n_each})")
    return ladder(dict(spec, steps=spec["steps"] // n_each), denoiser)


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
    """Operator with target t's mask and y = A x + eta n from the named streams (rwbench.tasks.measure.measure_targets)."""
    from rwbench.data import from_uint8
    from rwbench.tasks.measure import measure_targets

    task, seed, tp = spec["task"], int(spec["seed"]), dict(spec["task_params"])
    eta = float(tp.pop("eta"))
    lo, hi = spec["data_range"]
    gt = from_uint8(ground_truth_images(spec, targets), (lo, hi), dtype=F64)
    op, y = measure_targets(task, seed, [int(t) for t in targets], gt, eta, **tp)
    return Inverse(op, y.to(dtype), gt.to(dtype), eta)


START_MODES = ("exact", "noise")            # spec["start"] (rwbench.plan.grid resolves the models' `start: auto`)
NOISE_MODES = ("coupled", "independent")   # spec["noise"]


def start_mode(spec: dict, denoiser) -> str:
    """"exact" where the spec asks for it and the denoiser is an exact oracle (GaussianMixtureDenoiser; the planner
    allows it for family oracle only, rwbench.plan.grid.start_of), else "noise" (specs written before the option:
    noise; a denoiser wrapped around the oracle has no mixture to draw from)."""
    mode = spec.get("start", "noise")
    if mode not in START_MODES:
        raise ValueError(f"start: choose one of {', '.join(START_MODES)}, got {mode!r}")
    return mode if isinstance(denoiser, GaussianMixtureDenoiser) else "noise"


def noise_mode(spec: dict) -> str:
    """"coupled" (each image's Brownian path, rwbench.core.brownian) or "independent" (its generator; specs written
    before the option: independent)."""
    mode = spec.get("noise", "independent")
    if mode not in NOISE_MODES:
        raise ValueError(f"noise: choose one of {', '.join(NOISE_MODES)}, got {mode!r}")
    return mode


def initial_noise(spec: dict, indices, device="cpu") -> tuple[torch.Tensor, list]:
    """x_T ~ N(0, I) per image from image i's generator (drawn first, so every sampler sees the same x_T for image i)."""
    gens = stream_generators(int(spec["seed"]), "noise", spec["task"], [int(i) for i in indices], device=device)
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


def _with_progress(callback, K: int, desc: str, enabled: bool):
    """The walk's per-step callback, also counting steps for a progress line (rwbench.progress)."""
    if not enabled:
        return callback
    from rwbench.progress import Progress

    bar = Progress(K, desc)

    def step(state: dict) -> None:
        if callback is not None:
            callback(state)
        bar.update()
        if state["k"] == K - 1:
            bar.close()

    return step


@dataclass
class SamplerCall:
    """What a sampler's runner gets: the spec, its table row, the denoiser, x_T ~ N(0, I) and the per-image generators
    (already advanced past x_T), the inverse task's data (None: unconditional), and `extras` it may fill. `paths`: the
    images' Brownian paths when the run's noise is coupled (None: independent); `exact`: start from p_{sigma_0}."""

    spec: dict
    row: sampler_table.Sampler
    denoiser: object
    x_T: torch.Tensor
    gens: list
    inverse: Inverse | None
    indices: list
    progress: bool = False
    extras: dict = field(default_factory=dict)
    paths: object = None
    exact: bool = False

    @property
    def params(self) -> dict:
        return self.spec["params"]

    def step_noise(self, levels):
        """The step-noise source of a sampler whose step k goes from VE level levels[k] to levels[k + 1]: the images'
        Brownian paths over that ladder (coupled), else the per-image generators."""
        if self.paths is None:
            return self.gens
        return self.paths.over(levels, tuple(self.x_T.shape[1:]))

    def start_normal(self, level: float) -> torch.Tensor:
        """The start's N(0, I) draw for a sampler whose first level is `level`: x_T (independent noise), or, with
        coupled noise, the images' Brownian paths above level^2 (BrownianPaths.start_normals: independent of the step
        noise, and coupled with the state of any sampler that passes `level` from above)."""
        if self.paths is None:
            return self.x_T
        z = self.paths.start_normals(float(level), self.x_T[0].numel())
        return z.reshape(self.x_T.shape).to(device=self.x_T.device, dtype=self.x_T.dtype)

    def start(self, level: float) -> torch.Tensor:
        """x at the first level (VE coordinates): level z (noise start) or an exact draw of p_level (exact start: the
        oracle's noised mixture as a function of the same z and image i's `start` stream); z = start_normal(level)."""
        z = self.start_normal(level)
        if not self.exact:
            return float(level) * z
        from rwbench.models.oracle import noised_sample

        gens = stream_generators(int(self.spec["seed"]), "start", self.spec["task"], self.indices)
        return noised_sample(self.denoiser, float(level), z, gens).to(self.x_T.dtype)

    def start_vp(self, abar: float) -> torch.Tensor:
        """x_T in VP coordinates at a chain step with cumulative alpha abar (VE level sigma = sqrt((1 - abar) / abar)):
        z ~ N(0, I) (noise start; z = start_normal(sigma)) or sqrt(abar) x with x ~ p_sigma (exact start)."""
        sigma = schedules.sigma_of_abar(float(abar))
        if not self.exact:
            return self.start_normal(sigma)
        return math.sqrt(abar) * self.start(sigma)


def run_sampler(spec: dict, denoiser, indices, *, device="cpu", dtype=torch.float32, progress=False) -> dict:
    """Sample images `indices` of a run: returns x on the model's data scale plus extras (trajectory, inverse data);
    the work is done by the runner named in the sampler's table row (rwbench.plan.samplers)."""
    indices = [int(i) for i in indices]
    row = sampler_table.get(spec["sampler"])
    x_T, gens = initial_noise(spec, indices, device)
    spt = int(spec.get("samples_per_target") or 1)
    targets = torch.tensor([i // spt for i in indices], dtype=torch.long) if spec["task"] != "uncond" else None
    inv = make_inverse(spec, targets, dtype) if targets is not None else None
    if inv is not None and not row.inverse:
        raise ValueError(f"sampler {row.name!r} does not solve inverse tasks (task {spec['task']!r})")
    paths = None
    if noise_mode(spec) == "coupled" and inv is None:     # posterior samplers and the conditional walk keep their noise
        from rwbench.core.brownian import BrownianPaths

        paths = BrownianPaths.for_images(int(spec["seed"]), spec["task"], indices)
    exact = start_mode(spec, denoiser) == "exact" and inv is None   # inverse tasks: the noise start
    call = SamplerCall(spec, row, denoiser, x_T.to(dtype), gens, inv, indices, progress, paths=paths, exact=exact)
    x = sampler_table.resolve(row.run)(call)
    extras = call.extras
    if inv is not None:
        extras["inverse"] = inv
        extras["targets"] = targets
        if isinstance(denoiser, GaussianMixtureDenoiser):
            extras.update(exact_posterior(spec, denoiser, inv, indices, targets))
    return {"x": x, **extras}


def run_template(call: SamplerCall) -> torch.Tensor:
    """The random-walk template (rwbench.core.walk) with the row's preset; the conditional walk on inverse tasks."""
    spec, p, inv = call.spec, call.params, call.inverse
    wp = walk_params(spec, call.denoiser)
    callback = None
    if spec.get("trajectory_points"):
        limit = int(spec.get("trajectory_images") or 0)      # record images 0..limit-1 only (0: all)
        keep = torch.tensor([i < limit for i in call.indices]) if limit else None
        callback = Trajectory(trajectory_steps(wp.K, int(spec["trajectory_points"])), wp.K, keep)
    trajectory, callback = callback, _with_progress(callback, wp.K, f"walk {call.row.name}", call.progress)
    # init_scale x_T, or Phi(x_T) ~ U(0, 1) for NCSN's released convention; the exact start: x_0 ~ p_{sigma_0}
    x0 = call.start(float(wp.sigmas[0])) if call.exact else wp.initial(call.start_normal(float(wp.sigmas[0])))
    if inv is None:
        from rwbench.core.walk import random_walk

        # step k's noise: the path's increment from sigma_k down to sigma_{k+1} (0 after the last level)
        noise = call.step_noise(torch.cat([wp.sigmas, wp.sigmas.new_zeros(1)]))
        x = random_walk(call.denoiser, x0, generator=noise, callback=callback, **wp.walk_kwargs())
    else:
        from rwbench.core.conditional import conditional_random_walk

        x = conditional_random_walk(call.denoiser, x0, inv.y, inv.operator, inv.eta, wp.sigmas, wp.temperatures,
                                    c=p["c"], cap=p.get("cap", "lipschitz"), generator=call.gens,
                                    final_noise=wp.final_noise, callback=callback)
    if trajectory is not None:
        call.extras["trajectory"] = trajectory.finish(x, call.indices)
    return x


def _vp_chain(call: SamplerCall):
    """(respaced betas, eps_fn on the respaced chain) of a VP-type native sampler."""
    betas = model_betas(call.denoiser)
    ts = schedules.respaced_timesteps(betas.numel(), int(call.spec["steps"]))
    return schedules.respaced_betas(betas, ts), chain_eps(call.denoiser, betas, ts)


def chain_levels(betas: torch.Tensor) -> torch.Tensor:
    """The VE levels sigma_t = sqrt((1 - abar_t) / abar_t) of a (respaced) chain in sampling order t = T-1 .. 0,
    followed by 0: step k of an ancestral sampler on the chain goes from levels[k] to levels[k + 1]."""
    abar = schedules.alphas_cumprod(torch.as_tensor(betas, dtype=F64))
    return torch.cat([schedules.sigma_of_abar(abar).flip(0), abar.new_zeros(1)])


def run_native_ddpm(call: SamplerCall) -> torch.Tensor:
    """DDPM ancestral sampling (rwbench.baselines.ddpm) on the respaced chain; coupled noise: step t -> t-1 is the
    path's increment between the chain's VE levels sigma_t and sigma_{t-1}."""
    sub, eps_fn = _vp_chain(call)
    fn = sampler_table.resolve(call.row.algorithm)
    x_T = call.start_vp(float(schedules.alphas_cumprod(sub)[-1]))
    return fn(eps_fn, x_T, sub, variance=call.params.get("variance", "beta"), generators=call.step_noise(chain_levels(sub)),
              progress=call.progress)


def run_native_vp_sde(call: SamplerCall) -> torch.Tensor:
    """score-SDE VP predictor(-corrector) (rwbench.baselines.score_sde) on the respaced chain."""
    sub, eps_fn = _vp_chain(call)
    fn = sampler_table.resolve(call.row.algorithm)
    x_T = call.start_vp(float(schedules.alphas_cumprod(sub)[-1]))
    snr = call.params.get("corrector_snr")
    noise = call.gens if snr is not None else call.step_noise(chain_levels(sub))   # as run_native_ddpm (no corrector)
    return fn(eps_fn, x_T, sub, generators=noise, corrector_snr=snr, progress=call.progress)


def step_scale(call: SamplerCall) -> float:
    """The run's factor on its sampler's main step parameter (the step_scale axis; its default where the spec has none)."""
    return float(call.params.get("step_scale", sampler_table.AXES["step_scale"].default))


def posterior_module(sampler: str):
    """The module a posterior sampler of the table runs through (its row's posterior_module: published, nfe, run)."""
    import importlib

    row = sampler_table.get(sampler)
    if row.posterior_module is None:
        raise ValueError(f"sampler: {sampler!r} is not a posterior sampler; choose one of "
                         f"{', '.join(sampler_table.POSTERIOR_SAMPLERS)}")
    return importlib.import_module(row.posterior_module)


def posterior_settings(sampler: str, task: str, image_shape, data_range, *, oracle: bool = False,
                       steps: int | None = None, nfe: int | None = None, step_scale: float = 1.0, **overrides) -> dict:
    """A posterior sampler's setting for a grid task (inpaint, box, sr, deblur) on a model of this image shape and data
    range, in consistent noise units (docs/posterior-samplers.md): its module's published setting at `steps` (the
    row's steps axis: forward NFE, DAPS annealing levels; None: the published count) or at `nfe` forward passes (a
    whole number of steps), `overrides` replacing single values, then the main step parameter (row.step_param) times
    `step_scale`, clamped to row.step_max. `oracle`: a Gaussian-mixture oracle (DPS leaves x0_hat unclamped)."""
    row = sampler_table.get(sampler)
    module = posterior_module(sampler)
    if nfe is not None:
        if steps is not None:
            raise ValueError("steps, nfe: give the step count or the forward-NFE budget, not both")
        steps = row.steps_for_nfe(int(nfe), {})
        if row.count_nfe(steps, {}) != int(nfe):
            raise ValueError(f"nfe: {sampler} has no step count with exactly {nfe} forward passes "
                             f"({steps} steps give {row.count_nfe(steps, {})})")
    settings = module.published(task, data_range, image_shape=image_shape, oracle=oracle, steps=steps)
    unknown = set(overrides) - set(settings)
    if unknown:
        raise ValueError(f"overrides: {sampler} has no setting {', '.join(sorted(unknown))}; "
                         f"it has {', '.join(sorted(settings))}")
    settings.update(overrides)
    if row.step_param is not None:
        settings[row.step_param] = row.scaled_step(settings[row.step_param], step_scale)
    return settings


def posterior_nfe(sampler: str, settings: dict) -> dict:
    """Network passes of a posterior sampler at a setting: {"forward", "backward", "total"}."""
    return posterior_module(sampler).nfe(settings)


def run_posterior_sampler(sampler: str, denoiser, x_T: torch.Tensor, y: torch.Tensor, operator, eta: float,
                          settings: dict, *, data_range, betas=None, generators=None, callback=None) -> torch.Tensor:
    """Run a posterior sampler at `settings` (posterior_settings) on D(x, sigma): x_T ~ N(0, I) per image, step noise
    from per-image generators, `betas` the model's DDPM chain (None: linear 1e-4..0.02); returns x on the model's data
    scale. The DAG (run_posterior) and the posterior benchmark both run every posterior sampler through here."""
    return posterior_module(sampler).run(denoiser, x_T, y, operator, eta, settings, data_range=data_range, betas=betas,
                                         generators=generators, callback=callback)


def run_posterior(call: SamplerCall) -> torch.Tensor:
    """A posterior sampler (DPS, Pi-GDM, DDRM, DiffPIR, DAPS; the row's posterior_module) at its published setting for
    the task, image size and data range (posterior_settings): steps = the spec's steps, the row's option axes set in
    the spec (DPS: zeta, variance) replace published values, the main step parameter times the run's step_scale.
    The resolved step parameter is recorded in the extras (`step_param`, the provenance's <sampler>_<param>)."""
    spec, inv, row = call.spec, call.inverse, call.row
    shape = (int(spec["channels"]), int(spec["resolution"]), int(spec["resolution"]))
    options = {name: value for name, value in call.params.items()
               if sampler_table.AXES[name].source == "option" and value is not None}
    oracle = isinstance(call.denoiser, GaussianMixtureDenoiser)
    settings = posterior_settings(row.name, spec["task"], shape, spec["data_range"], oracle=oracle,
                                  steps=int(spec["steps"]), step_scale=step_scale(call), **options)
    if row.step_param is not None:
        call.extras["step_param"] = {row.step_param: settings[row.step_param]}
    return run_posterior_sampler(row.name, call.denoiser, call.x_T, inv.y, inv.operator, inv.eta, settings,
                                 data_range=spec["data_range"], betas=model_betas(call.denoiser), generators=call.gens)


def run_ve_predictor(call: SamplerCall) -> torch.Tensor:
    """score-SDE VE predictor(-corrector) (rwbench.baselines.score_sde) on the spec's ladder, x_0 = sigma_0 x_T."""
    sig = ladder(call.spec, call.denoiser)
    fn = sampler_table.resolve(call.row.algorithm)
    snr = call.params.get("corrector_snr")
    # coupled noise for the predictor-only sampler (step i: the path's sigma_i -> sigma_{i+1}, 0 after the last); a
    # corrector draws a second normal per step, which one path increment cannot give: its own generators then
    noise = call.gens if snr is not None else call.step_noise(torch.cat([sig.to(torch.float64), sig.new_zeros(1, dtype=torch.float64)]))
    return fn(_native_score(call.denoiser), call.start(float(sig[0])), sig, generators=noise,
              corrector_snr=snr, progress=call.progress)


def run_ncsn(call: SamplerCall) -> torch.Tensor:
    """NCSN annealed Langevin dynamics (rwbench.baselines.ncsn): x_0 = sigma_0 x_T (paper) or Phi(x_T) (released)."""
    p = call.params
    convention = p.get("convention", "paper")
    levels = _ncsn_levels(call.spec, call.denoiser)
    fn = sampler_table.resolve(call.row.algorithm)
    x0 = call.start(float(levels[0])) if call.exact else \
        schedules.ncsn_initial_state(call.start_normal(float(levels[0])), float(levels[0]), convention)
    # step noise: the template's own source over the same ladder (each level repeated n_steps_each times, then 0), so
    # native and template NCSN draw identical noise, coupled or not
    steps = torch.as_tensor(levels, dtype=torch.float64).repeat_interleave(int(p["n_steps_each"]))
    noise = call.step_noise(torch.cat([steps, steps.new_zeros(1)]))
    return fn(_native_score(call.denoiser), x0, levels,
              int(p["n_steps_each"]), float(p["eps"]), generators=noise, progress=call.progress, convention=convention)


def run_iadb(call: SamplerCall) -> torch.Tensor:
    """IADB deterministic blending (rwbench.baselines.iadb) from x_T."""
    fn = sampler_table.resolve(call.row.algorithm)
    return fn(_native_blend(call.denoiser), call.x_T, int(call.spec["steps"]), progress=call.progress)


def solver_kwargs(row: sampler_table.Sampler, params: dict) -> dict:
    """The row's params under its algorithm's keyword names (row.keywords, e.g. ancestral_eta -> eta)."""
    return {row.keywords.get(k, k): v for k, v in params.items() if k in row.axes}


def _takes_generator(fn) -> bool:
    import inspect

    return "generator" in inspect.signature(fn).parameters


def solver_sigmas(spec: dict, denoiser) -> torch.Tensor:
    """k-diffusion's ladder of a VE solver: the spec's K levels followed by 0 (K steps, the last one to sigma = 0)."""
    sig = ladder(spec, denoiser)
    return torch.cat([sig, sig.new_zeros(1)])


def run_ve_solver(call: SamplerCall) -> torch.Tensor:
    """A k-diffusion-style solver fn(denoiser, x, sigmas, **kw) (rwbench.baselines.solvers) from x_0 = sigma_0 x_T;
    stochastic ones draw image i's noise from its generator."""
    sigmas = solver_sigmas(call.spec, call.denoiser)
    fn = sampler_table.resolve(call.row.algorithm)
    kwargs = solver_kwargs(call.row, call.params)
    if _takes_generator(fn):
        kwargs["generator"] = call.step_noise(sigmas)     # coupled: step i is the path's sigma_i -> sigma_{i+1}
    return fn(call.denoiser, call.start(float(sigmas[0])), sigmas, **kwargs)


def run_ddim(call: SamplerCall) -> torch.Tensor:
    """DDIM with eta (rwbench.baselines.ddim) on the respaced DDPM timesteps."""
    sub, eps_fn = _vp_chain(call)
    fn = sampler_table.resolve(call.row.algorithm)
    x_T = call.start_vp(float(schedules.alphas_cumprod(sub)[-1]))
    return fn(eps_fn, x_T, sub, eta=float(call.params.get("ancestral_eta", 0.0)), generators=call.gens)


def exact_posterior(spec: dict, prior: GaussianMixtureDenoiser, inv: Inverse, indices, targets=None) -> dict:
    """Exact posterior mean and two independent exact posterior draws per image for the oracle: `exact_draw` from stream
    (seed, exact, task, i), `exact_reference` from (seed, exact-reference, task, i) (the exact-vs-exact reference;
    rwbench.tools.bench.posterior draws the same two sets). `targets[i]`: image i's target; the draws of one target share
    its mask and measurement, so its posterior is computed once."""
    from rwbench.models.oracle_posterior import batch_posteriors, posterior_mean

    posts = batch_posteriors(prior, inv.operator, inv.y.to(F64), inv.eta, groups=targets)
    out = {"exact_mmse": torch.stack([posterior_mean(q) for q in posts])}
    for key, kind in (("exact_draw", "exact"), ("exact_reference", "exact-reference")):
        gens = stream_generators(int(spec["seed"]), kind, spec["task"], indices)
        out[key] = torch.cat([q.sample(1, generator=g) for q, g in zip(posts, gens)])
    return out


def to_unit(x: torch.Tensor, data_range) -> torch.Tensor:
    """Model data scale -> [0, 1] (not clamped)."""
    lo, hi = float(data_range[0]), float(data_range[1])
    return (x.to(F64) - lo) / (hi - lo)


__all__ = ["START_MODES", "NOISE_MODES", "start_mode", "noise_mode", "chain_levels", "load_denoiser", "run_sampler", "SamplerCall", "run_template", "run_ve_solver", "solver_sigmas", "walk_params", "ladder", "make_inverse",
           "initial_noise", "trajectory_steps", "to_unit", "exact_posterior", "ground_truth_images", "run_posterior",
           "posterior_module", "posterior_settings", "posterior_nfe", "run_posterior_sampler"]
