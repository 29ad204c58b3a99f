"""`python -m rwbench.tools.bench tune`: pick the template's (schedule, c, T_K) per NFE budget on the oracle's exact metric,
then report it with fresh seeds on the oracle and the learned models beside the best solver and DPM-Solver++(2M)."""

from __future__ import annotations

import argparse
from pathlib import Path

import torch


def _list(text: str, cast, option: str) -> list:
    try:
        items = [cast(s) for s in str(text).split(",") if s.strip()]
    except ValueError as err:
        raise ValueError(f"{option}: cannot parse {text!r} as a comma-separated list ({err})") from err
    if not items:
        raise ValueError(f"{option}: need at least one value")
    return items


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m rwbench.tools.bench tune", description=__doc__)
    p.add_argument("--config", default="config/default.yaml", help="DAG config whose `models:` (and results_dir) to use")
    p.add_argument("--oracle", default="digits-oracle", help="the config's oracle model (selection and exact metric)")
    p.add_argument("--models", default="digits-vp,digits-ve", help="learned models of the config ('' for none)")
    p.add_argument("--budgets", default="10,20,50", help="NFE budgets")
    p.add_argument("--schedules", default="sigmoid,karras,geometric", help="template ladders searched")
    p.add_argument("--c", default="0.25,0.5,1.0", help="template step factors searched")
    p.add_argument("--TK", default="0.6,0.8,1.0", help="template end temperatures searched")
    p.add_argument("--T0", type=float, default=0.4, help="template start temperature (fixed)")
    p.add_argument("--solvers", default="euler,heun,euler-ancestral,dpmpp-2m,dpmpp-2m-sde",
                   help="solvers the best one is chosen from (Karras ladder)")
    p.add_argument("--n", type=int, default=128, help="images per setting (selection and each evaluation replicate)")
    p.add_argument("--replicates", type=int, default=3, help="fresh-seed evaluation replicates (interval over them)")
    p.add_argument("--seed", type=int, default=0, help="selection seed (samplers' noise and exact draws)")
    p.add_argument("--eval-seed", type=int, default=1000, help="first evaluation seed (replicate r: eval-seed + r)")
    p.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    p.add_argument("--out", default="reports/tune", help="folder for selection.csv, evaluation.csv, summary.csv, tune.png")
    return p


def main(argv: list[str] | None = None) -> int:
    """Run selection and fresh-seed evaluation; write the tables and the figure; print the chosen settings."""
    import pandas as pd

    from rwbench.plan import grid
    from rwbench.tools import tune
    from rwbench.plan.config import load_config
    from rwbench.data import load_dataset
    from rwbench.io import atomic_write
    from rwbench.run.runners import load_denoiser

    args = parser().parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.seed in range(args.eval_seed, args.eval_seed + args.replicates):
        raise ValueError(f"--seed: {args.seed} is one of the evaluation seeds {args.eval_seed}..; pick fresh ones")
    config = load_config(args.config)
    learned = [m for m in args.models.split(",") if m.strip()]
    budgets = _list(args.budgets, int, "--budgets")

    def load(name: str) -> tune.Model:
        settings = grid.model_settings(config, name)
        spec = {"registry": settings.get("registry", name), "loader_options": settings.get("loader_options") or {},
                "checkpoint": grid.resolve_checkpoint(config, settings.get("checkpoint"))}
        den = load_denoiser(spec)
        if settings["family"] == "oracle":
            return tune.Model(name, den)
        images = load_dataset(settings["dataset"], settings.get("reference_split", "test"), int(settings["resolution"]))
        return tune.Model(name, den, images.images.to(torch.float64) / 255.0)

    if grid.model_settings(config, args.oracle)["family"] != "oracle":
        raise ValueError(f"--oracle: model {args.oracle!r} is not of family oracle in {args.config}")
    oracle = load(args.oracle)
    models = [oracle] + [load(m) for m in learned]
    selection = tune.select(config, oracle, budgets, schedules=_list(args.schedules, str, "--schedules"),
                            cs=_list(args.c, float, "--c"), TKs=_list(args.TK, float, "--TK"), T0=args.T0,
                            solvers=_list(args.solvers, str, "--solvers"), n=args.n, seed=args.seed)
    evaluation = tune.evaluate(config, models, selection, budgets, n=args.n, replicates=args.replicates,
                               seed=args.eval_seed)
    summary = tune.summarize(evaluation)
    out = Path(args.out)
    for name, frame in (("selection", pd.DataFrame(selection)), ("evaluation", pd.DataFrame(evaluation)),
                        ("summary", summary)):
        with atomic_write(out / f"{name}.csv", "w") as handle:
            frame.to_csv(handle, index=False)
    tune.plot(summary, out / "tune.png")
    for row in summary.itertuples():
        print(f"model={row.model} budget={row.budget} role={row.role} sampler={row.sampler} schedule={row.schedule} "
              f"c={row.c:g} TK={row.TK:g} nfe={row.nfe} energy_distance={row.energy_distance:.5g} "
              f"ci=[{row.ci_lo:.5g}, {row.ci_hi:.5g}]")
    print(f"out={out}")
    return 0
