"""The sampler table: one row per sampler (kind, axes, defaults, tasks, NFE rule, the functions that run it) and the
one rule that turns a schedule name into a noise ladder for a model family (torch-free: the Snakefile imports it).

rwbench.plan.grid expands experiments from it, rwbench.run.runners dispatches on it, and tests/test_samplers.py keeps the
config schema's enums equal to it. Adding a sampler is one `Sampler(...)` row in SAMPLERS plus its function (see
docs/samplers.md).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Callable

# ---------------------------------------------------------------------------------------------------------------------
# Axes: every parameter a sampler may use, where a config gives it, and its default (the schema repeats these defaults;
# tests/test_samplers.py keeps them equal).
#   list:   an experiment key holding a list that is crossed (steps: [10, 100])
#   scalar: an experiment key holding one value (init: unit)
#   option: only through `sampler_options: {<sampler>: {<name>: value}}`
# An axis with named_at_default=False is left out of run ids at its default (step_scale 1: the published setting).
# ---------------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Axis:
    """One sampler parameter: how a config gives it (list | scalar | option), its experiment key and default."""

    name: str
    source: str
    key: str | None = None
    default: object = None
    doc: str = ""
    named_at_default: bool = True

    def in_run_id(self, value) -> bool:
        """Whether a run id names this axis at `value` (not at its default when named_at_default is False)."""
        return value is not None and (self.named_at_default or value != self.default)


AXES: dict[str, Axis] = {a.name: a for a in (
    Axis("schedule", "list", "schedules", "pretrained", "noise ladder (resolve_schedule)"),
    Axis("steps", "list", "steps", 100, "iterations K (levels of the ladder)"),
    Axis("c", "list", "c", 0.5, "step factor tau_k = c sigma_k^2"),
    Axis("T0", "list", "T0", 0.4, "start temperature"),
    Axis("TK", "list", "TK", 1.0, "end temperature"),
    Axis("ancestral_eta", "list", "ancestral_eta", None,
         "noise fraction of ancestral / SDE / DDIM steps (0 = deterministic); default per sampler"),
    Axis("step_scale", "list", "step_scale", 1.0,
         "factor on the sampler's main step parameter (Sampler.step_param); 1 = the published setting",
         named_at_default=False),
    Axis("init", "scalar", "init", "sigma", "x_0 ~ N(0, sigma_0^2 I) (sigma) or N(0, I) (unit)"),
    Axis("cap", "scalar", "cap", "lipschitz", "step cap of the conditional walk"),
    Axis("variance", "option", None, "beta", "DDPM reverse variance beta | beta_tilde"),
    Axis("n_steps_each", "option", None, 5, "Langevin steps per NCSN level"),
    Axis("eps", "option", None, 2e-5, "NCSN step size epsilon"),
    Axis("convention", "option", None, "paper",
         "NCSN convention: paper (Alg. 1: tau = eps sigma^2 / (2 sigma_L^2), x_0 ~ N(0, sigma_1^2 I)) or released "
         "(ermongroup/ncsn's code: twice that step, x_0 ~ U(0, 1))"),
    Axis("corrector_snr", "option", None, None, "Langevin corrector snr of predictor-corrector (None: predictor only)"),
    Axis("zeta", "option", None, None, "DPS step size (None: DPS's published value for the task)"),
    Axis("s_churn", "option", None, None, "Heun churn S_churn (Karras Alg. 2; None: Alg. 1, no churn)"),
    Axis("s_tmin", "option", None, None, "Heun churn window lower sigma"),
    Axis("s_tmax", "option", None, None, "Heun churn window upper sigma"),
    Axis("s_noise", "option", None, None, "Heun churn noise inflation S_noise"),
)}
LIST_AXES = tuple(a.name for a in AXES.values() if a.source == "list")  # crossed in this order (tasks innermost)

# ---------------------------------------------------------------------------------------------------------------------
# NFE rules: denoiser evaluations per image as a function of (steps, params).
# ---------------------------------------------------------------------------------------------------------------------


def nfe_per_step(steps: int, params: dict) -> int:
    """One denoiser call per step (template walks, Euler, DPM-Solver++(2M), DDIM, Langevin steps of NCSN)."""
    return int(steps)


def nfe_predictor_corrector(steps: int, params: dict) -> int:
    """Predictor-corrector: two calls per level with a corrector (corrector_snr set), else one."""
    return int(steps) * (2 if params.get("corrector_snr") else 1)


def nfe_daps(steps: int, params: dict) -> int:
    """DAPS: steps annealing levels, each an ode_steps-step Euler PF-ODE solve (published 5; rwbench.baselines.daps)."""
    from rwbench.plan.daps_settings import DAPS

    return int(steps) * int(DAPS["ode_steps"])


def nfe_heun(steps: int, params: dict) -> int:
    """Heun (Karras Alg. 1/2): two calls per step except the last, an Euler step to sigma = 0."""
    return 2 * int(steps) - 1


# ---------------------------------------------------------------------------------------------------------------------
# Schedules.
# ---------------------------------------------------------------------------------------------------------------------

LADDERS = ("sigmoid", "linear", "geometric", "karras")           # rwbench.core.schedules.LADDERS over [sigma_min, sigma_max]
SCHEDULES = ("pretrained",) + LADDERS                            # names a config's `schedules` axis accepts
# model families (the one home of their names): an adapter each (rwbench.models.registry); the DAG trains the network families
# and fits the oracle (a Gaussian mixture with exact scores)
FAMILIES = ("vp", "ve", "iadb", "oracle")
TRAINED_FAMILIES = tuple(f for f in FAMILIES if f != "oracle")
PRETRAINED = {"vp": "vp_pretrained", "ve": "geometric", "iadb": "geometric", "oracle": "geometric"}
# the data range each family's models work on (rwbench.data.family_range: uint8 <-> model floats)
FAMILY_RANGES = {"vp": (-1.0, 1.0), "ve": (0.0, 1.0), "iadb": (-1.0, 1.0), "oracle": (0.0, 1.0)}
# the models rwbench.models.registry registers (a config's `registry:`, default the model's key), named here so that the
# torch-free planner refuses an unknown name before any job; tests/test_samplers.py keeps it equal to the registry's list
REGISTRY_MODELS = ("digits-iadb", "digits-oracle", "digits-ve", "digits-vp", "faces-oracle", "ffhq-ve-ncsnpp",
                   "ffhq-vp-adm")


def resolve_schedule(name: str, family: str) -> str:
    """The ladder a schedule name means for a model family: "pretrained" is the VP model's own DDPM levels
    (vp_pretrained) for VP models and the score-SDE geometric ladder for VE, IADB and the oracle; others are themselves.
    "vp_pretrained" is accepted as a name too (the schedules table's spelling)."""
    if family not in PRETRAINED:
        raise ValueError(f"family: unknown model family {family!r}; choose one of {', '.join(FAMILIES)}")
    if name == "pretrained":
        return PRETRAINED[family]
    if name in LADDERS or name == "vp_pretrained":
        return name
    raise ValueError(f"unknown schedule {name!r}; choose one of {', '.join(SCHEDULES)} (or vp_pretrained)")


# ---------------------------------------------------------------------------------------------------------------------
# The table.
# ---------------------------------------------------------------------------------------------------------------------

KINDS = ("template", "native", "solver", "iadb", "posterior")
TASK_SCOPES = ("uncond", "inverse", "both")


@dataclass(frozen=True)
class Sampler:
    """One sampler: name, kind, the axes it uses (inverse_axes only on inverse tasks), per-sampler defaults, the tasks
    it solves, its NFE rule, the dotted path of the runner (rwbench.run.runners.SamplerCall -> x) and of the algorithm it
    wraps (template rows: the WalkParams builder), the schedule it is fixed to (None: the `schedules` axis), the keyword
    names its algorithm takes for params (param -> keyword), a step multiple (NCSN: steps % n_steps_each == 0), the
    fewest steps its algorithm accepts (min_steps; DiffPIR's quad timesteps need 2), and its main step parameter:
    step_param, the setting the step_scale axis multiplies (or itself a list axis, the walk's c), with step_max, the
    largest value the algorithm accepts (the scaled value is clamped to it).

    A posterior sampler names its module (posterior_module, e.g. rwbench.baselines.dps), which gives
    published(task, data_range, image_shape=, oracle=, steps=) -> settings, nfe(settings) -> {forward, backward, total}
    and run(denoiser, x_T, y, operator, eta, settings, data_range=, betas=, generators=, callback=) -> x; the DAG and
    the posterior benchmark both run it through rwbench.run.runners.posterior_settings and run_posterior_sampler."""

    name: str
    kind: str
    axes: tuple[str, ...]
    run: str
    algorithm: str
    tasks: str = "uncond"
    nfe: Callable[[int, dict], int] = nfe_per_step
    defaults: dict = field(default_factory=dict)
    inverse_axes: tuple[str, ...] = ()
    fixed_schedule: str | None = None
    keywords: dict = field(default_factory=dict)
    steps_multiple: str | None = None
    min_steps: int = 1
    step_param: str | None = None
    step_max: float | None = None
    posterior_module: str | None = None
    doc: str = ""

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"sampler {self.name!r}: kind {self.kind!r} is not one of {', '.join(KINDS)}")
        if self.tasks not in TASK_SCOPES:
            raise ValueError(f"sampler {self.name!r}: tasks {self.tasks!r} is not one of {', '.join(TASK_SCOPES)}")
        unknown = [a for a in self.axes + self.inverse_axes + tuple(self.defaults) if a not in AXES]
        if unknown:
            raise ValueError(f"sampler {self.name!r}: unknown axes {unknown}; declare them in rwbench.plan.samplers.AXES")
        if ("schedule" in self.axes) == (self.fixed_schedule is not None):
            raise ValueError(f"sampler {self.name!r}: give either the schedule axis or a fixed_schedule, not both/none")
        if "steps" not in self.axes:
            raise ValueError(f"sampler {self.name!r}: every sampler uses the steps axis")
        if (self.kind == "posterior" and not self.posterior_module) or (self.posterior_module and not self.inverse):
            raise ValueError(f"sampler {self.name!r}: a posterior row names a posterior_module, solves inverse tasks")
        if self.scales_step != ("step_scale" in self.axes):
            raise ValueError(f"sampler {self.name!r}: the step_scale axis goes with a step_param that is not itself a "
                             f"list axis (step_param {self.step_param!r}); declare both or neither")

    @property
    def scales_step(self) -> bool:
        """Uses the step_scale axis: it has a main step parameter that is not itself a list axis (the walk's c is)."""
        axis = AXES.get(self.step_param) if self.step_param else None
        return self.step_param is not None and (axis is None or axis.source != "list")

    def scaled_step(self, value: float, factor: float) -> float:
        """The main step parameter at step_scale `factor`: value x factor, clamped to step_max where the algorithm
        bounds it (Pi-GDM's DDIM eta and DDRM's eta are at most 1)."""
        if not factor > 0:
            raise ValueError(f"step_scale: need a positive factor, got {factor}")
        scaled = float(value) * float(factor)
        return min(scaled, self.step_max) if self.step_max is not None else scaled

    @property
    def uncond(self) -> bool:
        """Samples the prior (unconditional task)."""
        return self.tasks in ("uncond", "both")

    @property
    def inverse(self) -> bool:
        """Solves inverse tasks."""
        return self.tasks in ("inverse", "both")

    def default(self, axis: str):
        """This sampler's default of an axis (its own, else the axis's)."""
        return self.defaults[axis] if axis in self.defaults else AXES[axis].default

    def count_nfe(self, steps: int, params: dict) -> int:
        """Denoiser evaluations per image at `steps` iterations."""
        return int(self.nfe(int(steps), params))

    def steps_problem(self, steps: int, params: dict) -> str | None:
        """Why this sampler cannot run `steps` iterations (below min_steps, or not a multiple of its steps_multiple
        parameter), or None when it can: the one home of these rules (the config check and the grid both ask)."""
        steps = int(steps)
        if steps < self.min_steps:
            return f"{self.name} needs at least {self.min_steps} steps, got {steps}"
        multiple = int(params[self.steps_multiple]) if self.steps_multiple else 1
        if steps % multiple:
            return (f"{self.name} runs steps = levels x {self.steps_multiple} ({multiple}), got {steps}; use a multiple "
                    f"of {multiple} or set sampler_options.{self.name}.{self.steps_multiple}")
        return None

    def steps_for_nfe(self, budget: int, params: dict) -> int:
        """The largest steps whose NFE is at most `budget` (a multiple of steps_multiple's value where set, at least
        min_steps)."""
        multiple = int(params[self.steps_multiple]) if self.steps_multiple else 1
        for steps in range(int(budget) - int(budget) % multiple, 0, -multiple):
            if steps >= self.min_steps and self.count_nfe(steps, params) <= budget:
                return steps
        fewest = max(multiple, self.min_steps + (-self.min_steps) % multiple)
        raise ValueError(f"nfe: budget {budget} is below one step of sampler {self.name!r} (its fewest steps, "
                         f"{fewest}, take {self.count_nfe(fewest, params)} evaluations)")


_T = "rwbench.run.runners.run_template"
_VE = "rwbench.run.runners.run_ve_solver"
_POST = "rwbench.run.runners.run_posterior"
_KARRAS = {"schedule": "karras"}   # the VE solvers' default ladder (EDM, rho = 7)
SAMPLERS: dict[str, Sampler] = {s.name: s for s in (
    # The random-walk template with a preset (rwbench.core.walk.random_walk); Table II of the paper.
    Sampler("simplified", "template", ("schedule", "steps", "c", "T0", "TK", "init"), _T, "rwbench.run.runners.walk_simplified",
            tasks="both", inverse_axes=("cap",), step_param="c", doc="the paper's simplified scheme tau = c sigma^2, linear T_k"),
    Sampler("ddpm", "template", ("steps", "variance"), _T, "rwbench.run.runners.walk_ddpm", fixed_schedule="ddpm",
            doc="DDPM ancestral as a walk (respaced DDPM timesteps)"),
    Sampler("vp-sde", "template", ("steps",), _T, "rwbench.run.runners.walk_vp_sde", fixed_schedule="ddpm",
            doc="VP-SDE reverse-diffusion predictor as a walk"),
    Sampler("ncsn", "template", ("schedule", "steps", "n_steps_each", "eps", "convention"), _T, "rwbench.run.runners.walk_ncsn",
            steps_multiple="n_steps_each", doc="NCSN annealed Langevin as a walk (steps = levels x n_steps_each)"),
    Sampler("ve-sde", "template", ("schedule", "steps"), _T, "rwbench.run.runners.walk_ve_sde",
            doc="VE-SDE reverse-diffusion predictor as a walk"),
    # Native baselines (rwbench.baselines), each in its own coordinates.
    Sampler("native-ddpm", "native", ("steps", "variance"), "rwbench.run.runners.run_native_ddpm",
            "rwbench.baselines.ddpm.ddpm_ancestral", fixed_schedule="ddpm", doc="DDPM ancestral (Ho et al. 2020)"),
    Sampler("native-vp-sde", "native", ("steps", "corrector_snr"), "rwbench.run.runners.run_native_vp_sde",
            "rwbench.baselines.score_sde.vp_predictor", nfe=nfe_predictor_corrector, fixed_schedule="ddpm",
            doc="score-SDE VP reverse diffusion (+ Langevin corrector)"),
    Sampler("native-ncsn", "native", ("schedule", "steps", "n_steps_each", "eps", "convention"), "rwbench.run.runners.run_ncsn",
            "rwbench.baselines.ncsn.annealed_langevin", steps_multiple="n_steps_each",
            doc="NCSN annealed Langevin dynamics (Song & Ermon 2019)"),
    Sampler("native-ve-sde", "native", ("schedule", "steps", "corrector_snr"), "rwbench.run.runners.run_ve_predictor",
            "rwbench.baselines.score_sde.ve_predictor", nfe=nfe_predictor_corrector,
            doc="score-SDE VE reverse diffusion (+ Langevin corrector)"),
    Sampler("iadb", "iadb", ("steps",), "rwbench.run.runners.run_iadb", "rwbench.baselines.iadb.iadb_sample",
            fixed_schedule="iadb-uniform", doc="IADB deterministic blending (Heitz et al. 2023)"),
    # Posterior samplers (docs/posterior-samplers.md), each run by its posterior_module's published / nfe / run at the
    # published setting for the task, image size and data range (rwbench.run.runners.posterior_settings); steps = forward
    # NFE (DAPS: annealing levels). DPS keeps kind native (its own DDPM posterior variance, on the VP chain).
    Sampler("dps", "native", ("steps", "zeta", "variance", "step_scale"), _POST, "rwbench.baselines.dps.dps",
            tasks="inverse", fixed_schedule="ddpm", defaults={"variance": "beta_tilde"}, step_param="zeta",
            posterior_module="rwbench.baselines.dps",
            doc="diffusion posterior sampling (Chung et al. 2023), its own posterior variance"),
    Sampler("pigdm", "posterior", ("steps", "step_scale"), _POST, "rwbench.baselines.pigdm.pigdm", tasks="inverse",
            fixed_schedule="ddpm", step_param="ddim_eta", step_max=1.0, posterior_module="rwbench.baselines.pigdm",
            doc="Pi-GDM (Song et al. 2023); one VJP per step besides the NFE"),
    Sampler("ddrm", "posterior", ("steps", "step_scale"), _POST, "rwbench.baselines.ddrm.ddrm", tasks="inverse",
            fixed_schedule="ddpm", step_param="ddrm_eta", step_max=1.0, posterior_module="rwbench.baselines.ddrm",
            doc="DDRM (Kawar et al. 2022), eta 0.85, eta_b 1, in the SVD of A"),
    Sampler("diffpir", "posterior", ("steps", "step_scale"), _POST, "rwbench.baselines.diffpir.diffpir",
            tasks="inverse", fixed_schedule="diffpir-quad", step_param="lam", min_steps=2,
            posterior_module="rwbench.baselines.diffpir", doc="DiffPIR (Zhu et al. 2023), closed-form prox"),
    Sampler("daps", "posterior", ("steps", "step_scale"), _POST, "rwbench.baselines.daps.daps", tasks="inverse",
            nfe=nfe_daps, fixed_schedule="daps-karras", step_param="lr", posterior_module="rwbench.baselines.daps",
            doc="DAPS (Zhang et al. 2024): steps annealing levels x 5 ODE steps, 100 Langevin steps each"),
    # Modern solvers on D(x, sigma) in VE coordinates (k-diffusion conventions: sigmas = ladder + [0], K steps).
    Sampler("euler", "solver", ("schedule", "steps"), _VE, "rwbench.baselines.solvers.euler",
            defaults=_KARRAS, doc="Euler on the probability-flow ODE (Karras et al. 2022)"),
    Sampler("heun", "solver", ("schedule", "steps", "s_churn", "s_tmin", "s_tmax", "s_noise"), _VE,
            "rwbench.baselines.solvers.heun", nfe=nfe_heun, defaults=_KARRAS,
            doc="Heun 2nd order (Karras et al. 2022 Alg. 1; churn of Alg. 2 as options)"),
    Sampler("euler-ancestral", "solver", ("schedule", "steps", "ancestral_eta"), _VE,
            "rwbench.baselines.solvers.euler_ancestral", defaults={**_KARRAS, "ancestral_eta": 1.0},
            keywords={"ancestral_eta": "eta"}, doc="Euler ancestral (k-diffusion): a random walk"),
    Sampler("dpmpp-2m", "solver", ("schedule", "steps"), _VE, "rwbench.baselines.solvers.dpmpp_2m", defaults=_KARRAS,
            doc="DPM-Solver++(2M) (Lu et al. 2022)"),
    Sampler("dpmpp-2m-sde", "solver", ("schedule", "steps", "ancestral_eta"), _VE,
            "rwbench.baselines.solvers.dpmpp_2m_sde", defaults={**_KARRAS, "ancestral_eta": 1.0},
            keywords={"ancestral_eta": "eta"}, doc="DPM-Solver++(2M) SDE, midpoint variant"),
    Sampler("ddim", "native", ("steps", "ancestral_eta"), "rwbench.run.runners.run_ddim",
            "rwbench.baselines.ddim.ddim", fixed_schedule="ddpm", defaults={"ancestral_eta": 0.0},
            keywords={"ancestral_eta": "eta"}, doc="DDIM (Song et al. 2021) with eta on respaced DDPM timesteps"),
)}


# the rows that run through a posterior_module (DPS, Pi-GDM, DDRM, DiffPIR, DAPS), in table order
POSTERIOR_SAMPLERS = tuple(name for name, row in SAMPLERS.items() if row.posterior_module)


def get(name: str) -> Sampler:
    """The table row of a sampler name (ValueError naming the known ones)."""
    if name not in SAMPLERS:
        raise ValueError(f"sampler {name!r} is not known; choose one of {', '.join(sorted(SAMPLERS))}")
    return SAMPLERS[name]


def resolve(dotted: str):
    """Import `package.module.attr` and return attr."""
    module, _, attr = dotted.rpartition(".")
    try:
        return getattr(importlib.import_module(module), attr)
    except (ImportError, AttributeError) as err:
        raise ValueError(f"{dotted}: cannot import it ({err}); is the sampler's function written?") from err


def sampler_params(row: Sampler, inverse: bool, experiment: dict | None = None, options: dict | None = None) -> dict:
    """Scalar and option params of a row (list axes excluded): defaults < experiment scalar < sampler_options.
    None values are dropped (they mean "the algorithm's own default")."""
    experiment, options = experiment or {}, options or {}
    out = {}
    for name in row.axes + (row.inverse_axes if inverse else ()):
        axis = AXES[name]
        if axis.source == "list":
            continue
        value = row.default(name)
        if axis.source == "scalar" and axis.key in experiment:
            value = experiment[axis.key]
        out[name] = options.get(name, value)
    return out


def nfe(sampler: str, steps: int, params: dict) -> int:
    """Denoiser evaluations per image of a sampler at `steps` iterations (its row's rule)."""
    return get(sampler).count_nfe(steps, params)


__all__ = ["AXES", "Axis", "LIST_AXES", "REGISTRY_MODELS", "SAMPLERS", "POSTERIOR_SAMPLERS", "Sampler", "SCHEDULES", "LADDERS", "KINDS",
           "get", "resolve", "resolve_schedule", "nfe", "nfe_per_step", "nfe_predictor_corrector", "nfe_heun",
           "sampler_params"]
