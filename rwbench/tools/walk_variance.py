"""`python -m rwbench.tools.walk_variance`: the walk's variance ratio E|x - mu|^2 / tr Sigma against K, closed form
(rwbench.core.walk_moments on one-Gaussian surrogates of the digits oracle) next to the walk measured on the mixture.

Settings: `shipped` = the simplified cell of the config's nfe-oracle experiment (its ladder, c, T0, TK and init),
`paper` = the same ladder at the paper's sigmoid setting (rwbench.core.presets.PAPER_RUNS["vp-uncond-sigmoid"]:
c 0.7, T0 0.1). Closed forms: `surrogate` (N(mu, Sigma), Sigma the mixture's total covariance, start x_0 =
init_scale z around 0) and `components` (each N(mu_j, C_j) alone, pooled: sum_j w_j E|x - mu_j|^2 / sum_j w_j tr C_j,
the closed-form counterpart of the measured component_variance_ratio). Measured: the run layer's own sampler
(rwbench.run.runners.run_sampler: per-image seeds of the noise stream, the spec's dtype) on the mixture oracle,
variance_ratio with se = sd / sqrt(n) and the pooled within-component ratio with its delta-method se. `fixed`:
the start temperature T0* that makes the surrogate's closed-form E|x - mu|^2 equal tr Sigma at each K (the output
variance is affine in T0 at fixed TK), closed form and, at --fix-steps, measured. docs/walk-variance.md.
"""

from __future__ import annotations

import argparse
import math
import time
from pathlib import Path

import torch

F64 = torch.float64
CLOSED_STEPS = (10, 13, 16, 20, 25, 32, 40, 50, 63, 80, 100, 130, 160, 200, 250, 320, 400, 500, 630, 800, 1000,
                1300, 1600, 2000, 4000, 10000)
FIX_MAX_STEPS = 2000    # T0* (the closed-form fix) is solved up to this K
MEASURE_STEPS = (10, 20, 50, 100, 200)   # under ~60 s CPU at 256 images; K = 500, 1000: --steps (docs/walk-variance.md)
COLUMNS = ["setting", "c", "T0", "TK", "K", "quantity", "value", "se", "ci_lo", "ci_hi", "n"]
Z95 = 1.959964


def base_spec(config_path: str, experiment: str, oracle_dir: str) -> dict:
    """The simplified sampler's run spec of `experiment` (first seed), its checkpoint set to `oracle_dir`."""
    from rwbench.plan.config import load_and_validate
    from rwbench.plan.grid import expand_experiment

    config = load_and_validate(config_path)
    specs = [s for s in expand_experiment(config, experiment) if s["sampler"] == "simplified"]
    if not specs or specs[0]["family"] != "oracle":
        raise ValueError(f"--experiment {experiment}: needs a simplified cell of an oracle model in {config_path}")
    spec = dict(specs[0], checkpoint=str(oracle_dir), trajectory_points=0)
    if not (Path(oracle_dir) / f"{spec['dataset']}-gmm.safetensors").is_file():
        raise FileNotFoundError(f"--oracle-dir {oracle_dir}: no {spec['dataset']}-gmm.safetensors; run `rwbench "
                                f"prepare --config config/embedded-default.yaml --out {oracle_dir}` first")
    return spec


def settings(spec: dict) -> dict[str, dict]:
    """{name: params}: the shipped cell's (c, T0, TK, init) and the paper's sigmoid setting on the same ladder."""
    from rwbench.core.presets import PAPER_RUNS

    shipped = dict(spec["params"])
    paper = dict(shipped, c=float(PAPER_RUNS["vp-uncond-sigmoid"]["c"]), T0=float(PAPER_RUNS["vp-uncond-sigmoid"]["T0"]))
    return {"shipped": shipped, "paper": paper}


def walk_of(spec: dict, params: dict, K: int, oracle):
    """WalkParams of the spec at K steps with `params` (the run layer's builder)."""
    from rwbench.run.runners import walk_params

    wp = walk_params(dict(spec, steps=int(K), params=dict(params)), oracle)
    if wp.init != "normal":
        raise ValueError(f"init {wp.init!r}: the closed form needs a normal start x_0 = init_scale z")
    return wp


class Surrogates:
    """Eigenvalues of the mixture's total covariance and of each component, with start-mean offsets, evaluated in
    one closed-form call (block 0: the total covariance, block j: component j)."""

    def __init__(self, oracle):
        from rwbench.metrics.exact import mixture_moments

        m = mixture_moments(oracle)
        lam, vec = torch.linalg.eigh(m["covariance"])
        lams, starts = [lam.clamp(min=0.0)], [vec.T @ (0.0 - m["mean"])]       # x_0 centred on 0, not on mu
        for l, v, mj in zip(oracle.eigvals.cpu(), oracle.eigvecs.cpu(), oracle.means.cpu()):
            lams.append(l.clamp(min=0.0))
            starts.append(v.T @ (0.0 - mj))
        self.sizes = [len(l) for l in lams]
        self.lam, self.start = torch.cat(lams), torch.cat(starts)
        self.weights = oracle.weights.cpu().to(F64)

    def moments(self, wp, temperatures=None) -> list[dict]:
        """Closed-form moments per block: [total, component 1, ..., component J]."""
        from rwbench.core.walk_moments import walk_moments

        T = wp.temperatures if temperatures is None else temperatures
        mom = walk_moments(wp.sigmas, wp.taus, T, self.lam, wp.init_scale ** 2, self.start,
                           final_noise=wp.final_noise)
        parts = {k: torch.split(mom[k], self.sizes) for k in ("mean", "var", "gain", "eigenvalues")}
        return [{k: parts[k][i] for k in parts} for i in range(len(self.sizes))]

    def pooled(self, blocks: list[dict]) -> float:
        """sum_j w_j E|x - mu_j|^2 / sum_j w_j tr C_j over the component blocks."""
        num = sum(w * float(b["var"].sum() + (b["mean"] ** 2).sum()) for w, b in zip(self.weights.tolist(), blocks[1:]))
        den = sum(w * float(b["eigenvalues"].sum()) for w, b in zip(self.weights.tolist(), blocks[1:]))
        return num / den


def fixed_T0(surr: Surrogates, wp, TK: float) -> float:
    """T0 >= 0 with the surrogate's closed-form E|x - mu|^2 = tr Sigma at this ladder (linear T0 -> TK); NaN when even
    T0 = 0 leaves too much variance (the start has not been forgotten)."""
    from rwbench.core.schedules import linear_temperatures
    from rwbench.core.walk_moments import variance_ratio

    r0 = variance_ratio(surr.moments(wp, linear_temperatures(wp.K, 0.0, TK))[0])
    r1 = variance_ratio(surr.moments(wp, linear_temperatures(wp.K, 1.0, TK))[0])
    if r1 == r0:
        return float("nan")
    t0 = (1.0 - r0) / (r1 - r0)                      # the ratio is affine in T0
    return t0 if t0 >= 0 else float("nan")


def measure(spec: dict, params: dict, K: int, oracle, n: int) -> dict:
    """The mixture oracle sampled by the run layer at K steps: variance_ratio and the pooled within-component ratio
    (value, se, n) of n images with the spec's per-image seeds."""
    from rwbench.metrics.exact import component_parts, variance_ratios
    from rwbench.run.runners import run_sampler, to_unit
    from rwbench.run.sample import DTYPES

    run = dict(spec, steps=int(K), params=dict(params), n_images=int(n))
    x = to_unit(run_sampler(run, oracle, list(range(int(n))), dtype=DTYPES[spec.get("dtype", "float32")])["x"],
                spec["data_range"])
    v = variance_ratios(oracle, x)
    parts = component_parts(oracle, x)
    ratio = float(parts["num"].sum() / parts["den"].sum())
    resid = parts["num"] - ratio * parts["den"]                 # delta method for a ratio of means
    return {"variance_ratio": (float(v.mean()), float(v.std()) / math.sqrt(n), n),
            "component_variance_ratio": (ratio, float(resid.std()) / (math.sqrt(n) * float(parts["den"].mean())), n)}


def compute(spec: dict, oracle, closed_steps, measure_steps, n: int, fix_steps, log=print) -> list[dict]:
    """Rows (COLUMNS) of the closed forms at closed_steps and the measurements at measure_steps / fix_steps."""
    from rwbench.core.schedules import linear_temperatures
    from rwbench.core.walk_moments import variance_ratio, wasserstein2_sq

    surr, rows = Surrogates(oracle), []
    for name, params in settings(spec).items():
        c, T0, TK = float(params["c"]), float(params["T0"]), float(params["TK"])

        def add(K, quantity, value, se=float("nan"), count=0):
            lo, hi = (value - Z95 * se, value + Z95 * se) if se == se else (float("nan"), float("nan"))
            rows.append({"setting": name, "c": c, "T0": T0, "TK": TK, "K": int(K), "quantity": quantity,
                         "value": float(value), "se": float(se), "ci_lo": lo, "ci_hi": hi, "n": int(count)})

        for K in sorted(set(closed_steps) | set(measure_steps) | set(fix_steps)):
            wp = walk_of(spec, params, K, oracle)
            blocks = surr.moments(wp)
            mom = blocks[0]
            add(K, "surrogate_variance_ratio", variance_ratio(mom))
            add(K, "surrogate_w2_sq", wasserstein2_sq(mom))
            add(K, "components_variance_ratio", surr.pooled(blocks))
            t0 = fixed_T0(surr, wp, TK) if K <= FIX_MAX_STEPS or K in fix_steps else float("nan")
            add(K, "fixed_T0", t0)
            if t0 == t0:
                fixed = surr.moments(wp, linear_temperatures(K, t0, TK))
                add(K, "fixed_surrogate_variance_ratio", variance_ratio(fixed[0]))
                add(K, "fixed_surrogate_w2_sq", wasserstein2_sq(fixed[0]))
                add(K, "fixed_components_variance_ratio", surr.pooled(fixed))
            if K in measure_steps:
                start = time.process_time()
                got = measure(spec, params, K, oracle, n)
                for metric, (value, se, count) in got.items():
                    add(K, f"measured_{metric}", value, se, count)
                log(f"walk_variance {name} K={K}: measured variance_ratio {got['variance_ratio'][0]:.3f} "
                    f"+- {got['variance_ratio'][1]:.3f} (closed form {variance_ratio(mom):.3f}) "
                    f"[{time.process_time() - start:.1f} s CPU]")
            if K in fix_steps and t0 == t0:
                got = measure(spec, dict(params, T0=t0), K, oracle, n)
                for metric, (value, se, count) in got.items():
                    add(K, f"fixed_measured_{metric}", value, se, count)
                log(f"walk_variance {name} K={K}: T0* = {t0:.3f}, measured variance_ratio "
                    f"{got['variance_ratio'][0]:.3f} +- {got['variance_ratio'][1]:.3f}")
    return rows


def plot(frame, path: Path) -> None:
    """Two panels (shipped, paper): closed-form lines, measured points with 95 % bars, the exact level 1."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import seaborn as sns

    from rwbench.io import atomic_path

    sns.set_theme(style="whitegrid", context="paper")
    names = list(dict.fromkeys(frame["setting"]))
    fig, axes = plt.subplots(1, len(names), figsize=(5.2 * len(names), 3.8), sharey=True, squeeze=False)
    lines = {"surrogate_variance_ratio": ("closed form, one Gaussian N(mu, Sigma)", "-"),
             "components_variance_ratio": ("closed form, per component (pooled)", "--")}
    points = {"measured_variance_ratio": ("measured E|x - mu|^2 / tr Sigma (mixture)", "o"),
              "measured_component_variance_ratio": ("measured within-component ratio (mixture)", "s"),
              "fixed_measured_variance_ratio": ("measured at T0* (closed-form fix)", "D")}
    palette = sns.color_palette("deep", 6)
    for ax, name in zip(axes[0], names):
        part = frame[frame["setting"] == name]
        for i, (quantity, (text, style)) in enumerate(lines.items()):
            q = part[part["quantity"] == quantity].sort_values("K")
            sns.lineplot(x=q["K"], y=q["value"], ax=ax, label=text, linestyle=style, color=palette[i])
        for i, (quantity, (text, marker)) in enumerate(points.items()):
            q = part[part["quantity"] == quantity].sort_values("K")
            if q.empty:
                continue
            ax.errorbar(q["K"], q["value"], yerr=[q["value"] - q["ci_lo"], q["ci_hi"] - q["value"]], fmt=marker,
                        ms=4, capsize=2, color=palette[2 + i], label=text + ", 95 % interval")
        ax.axhline(1.0, color="black", lw=0.8, ls=":", label="1 = exact")
        first = part.iloc[0]
        ax.set_title(f"{name}: c = {first['c']:g}, T0 = {first['T0']:g} -> TK = {first['TK']:g}", fontsize=9)
        ax.set_xscale("log")
        ax.set_xlabel("K (walk steps = denoiser evaluations per image)")
        ax.set_ylabel("variance ratio E|x - mu|^2 / tr Sigma (unitless)")
        ax.set_ylim(0.4, 2.0)
        ax.legend(fontsize=6, loc="upper right")
    fig.suptitle("Simplified walk on the digits oracle: output variance against K (values above 2 clipped)",
                 fontsize=10)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format=path.suffix.lstrip(".") or "png", dpi=150)
    plt.close(fig)


def _steps(text: str) -> tuple[int, ...]:
    try:
        values = tuple(int(v) for v in text.split(",") if v.strip())
    except ValueError:
        values = ()
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: need a comma list of positive integers, e.g. 10,100,1000")
    return values


def main(argv=None) -> int:
    import pandas as pd

    from rwbench.io import atomic_write

    ap = argparse.ArgumentParser(prog="python -m rwbench.tools.walk_variance", description=__doc__.split("\n")[0])
    ap.add_argument("--oracle-dir", required=True, help="folder of `rwbench prepare` (digits-gmm.safetensors)")
    ap.add_argument("--out-csv", default="reports/tables/walk_variance.csv")
    ap.add_argument("--out-fig", default="reports/figures/walk-variance.png")
    ap.add_argument("--config", default="config/default.yaml")
    ap.add_argument("--experiment", default="nfe-oracle", help="its simplified cell is the shipped setting")
    ap.add_argument("--steps", type=_steps, default=MEASURE_STEPS, help="K of the measured points (comma list)")
    ap.add_argument("--closed-steps", type=_steps, default=CLOSED_STEPS, help="K of the closed-form curves")
    ap.add_argument("--fix-steps", type=_steps, default=(200,), help="K measured again at the fixed T0*")
    ap.add_argument("--images", type=int, default=256, help="images per measured K")
    ap.add_argument("--no-measure", action="store_true", help="closed forms only")
    args = ap.parse_args(argv)
    if args.images < 2:
        ap.error(f"--images {args.images}: need at least 2 images for an se")
    from rwbench.run.runners import load_denoiser

    torch.set_num_threads(1)
    start = time.process_time()
    spec = base_spec(args.config, args.experiment, args.oracle_dir)
    oracle = load_denoiser(spec)
    measured = () if args.no_measure else args.steps
    fixed = () if args.no_measure else args.fix_steps
    rows = compute(spec, oracle, args.closed_steps, measured, args.images, fixed)
    frame = pd.DataFrame(rows, columns=COLUMNS)
    with atomic_write(args.out_csv, "w") as handle:
        frame.to_csv(handle, index=False)
    plot(frame, Path(args.out_fig))
    print(f"walk_variance: wrote {args.out_csv} ({len(frame)} rows) and {args.out_fig} "
          f"in {time.process_time() - start:.1f} s CPU", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
