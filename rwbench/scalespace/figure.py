"""Scale-space figure (D1-D5 against sigma per model family, with the exact forward marginal and the D7 curves) and the
monotonicity table (D6 per family, sampler, schedule, temperature, step factor), read from every run's scalespace CSVs."""

from __future__ import annotations

from pathlib import Path

from rwbench.io import atomic_path, atomic_write, read_json, write_table_html
from rwbench.plan.failures import produced

PANELS = [("mean", "D1 mean grey value", "linear"), ("variance", "D1 per-pixel variance", "log"),
          ("gaussian_entropy", "D2 Gaussian entropy / dim", "linear"), ("kl_vp", "D2 KL to N(0,(1+s^2)I) / dim", "log"),
          ("grey_entropy_mean", "D4 grey-histogram entropy", "linear"), ("fd_reference", "D5 Frechet to data", "log"),
          ("fd_forward", "D5 Frechet to forward marginal", "log"), ("fid", "FID (features) to data", "log")]
REFERENCE_STYLE = {"forward": ("black", "--", "exact forward marginal"), "heat": ("0.45", ":", "homogeneous diffusion (D7)"),
                   "osmosis": ("0.45", "-.", "osmosis noise -> sample (D7)")}
GROUP = ["family", "sampler", "schedule", "T0", "TK", "c", "steps", "curve"]


def _param(spec: dict, key: str):
    params = spec.get("params") or {}
    value = params.get(key, spec.get(f"params_{key}"))
    return "" if value is None else value


def load_runs(runs_dir: str | Path):
    """(diagnostics, monotonicity) data frames of every <runs_dir>/*/scalespace.csv joined with its spec.json."""
    import pandas as pd

    runs_dir = Path(runs_dir)
    files = [p for p in sorted(runs_dir.glob("*/scalespace.csv")) if produced(p.parent, "scalespace")]  # not failed
    if not files:
        raise FileNotFoundError(f"{runs_dir}: no */scalespace.csv; run `rwbench scalespace --run <run dir>` first")
    diags, monos = [], []
    for path in files:
        spec = read_json(path.parent / "spec.json")
        meta = {"family": spec.get("family", ""), "sampler": spec.get("sampler", ""), "schedule": spec.get("schedule", ""),
                "T0": _param(spec, "T0"), "TK": _param(spec, "TK"), "c": _param(spec, "c"), "steps": spec.get("steps", "")}
        diags.append(pd.read_csv(path).assign(**meta))
        mono_path = path.parent / "scalespace-monotonicity.csv"
        if mono_path.is_file():
            monos.append(pd.read_csv(mono_path).assign(**meta))
    mono = pd.concat(monos, ignore_index=True) if monos else pd.DataFrame(columns=["run_id", "curve", "quantity", "score"])
    return pd.concat(diags, ignore_index=True), mono


def monotonicity_table(mono):
    """Mean D6 score per (family, sampler, schedule, T0, TK, c, steps, curve) over runs (seeds), one column per quantity."""
    if mono.empty:
        return mono
    frame = mono.copy()
    frame[GROUP] = frame[GROUP].astype(str)      # D7 rows keep their run's settings: osmosis starts from its samples
    table = frame.pivot_table(index=GROUP, columns="quantity", values="score", aggfunc="mean")
    table.columns = [f"M_{q}" for q in table.columns]
    counts = frame.groupby(GROUP)["run_id"].nunique().rename("n_runs")
    return table.join(counts).reset_index()


def _label(row) -> str:
    temp = f"T {row['T0']}->{row['TK']}" if str(row["T0"]) != "" else ""
    step = f"c {row['c']}" if str(row["c"]) != "" else ""
    return " ".join(s for s in (str(row["sampler"]), str(row["schedule"]), temp, step, f"K{row['steps']}") if s.strip())


def plot_figure(diag, figure_base: Path) -> list[Path]:
    """One column per family, one row per D1-D5 quantity; every run's sampler curve plus one run's reference curves."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import NullLocator

    families = sorted(diag["family"].astype(str).unique())
    present = set(diag["quantity"])
    panels = [p for p in PANELS if p[0] in present]            # FID only when the runs computed it
    fig, axes = plt.subplots(len(panels), len(families), figsize=(3.6 * len(families) + 0.8, 2.1 * len(panels)),
                             squeeze=False, sharex="col")
    positive = diag.loc[diag["sigma"] > 0, "sigma"]
    linthresh = float(positive.min()) if len(positive) else 1e-2
    cmap = plt.get_cmap("tab10")
    for col, family in enumerate(families):
        fam = diag[diag["family"].astype(str) == family]
        samp = fam[fam["curve"] == "sampler"]
        runs = list(dict.fromkeys(samp["run_id"]))
        counts = fam[fam["curve"] != "sampler"].groupby("run_id")["step"].nunique()
        rep = counts.idxmax() if len(counts) else None      # the run whose reference curves are drawn
        for row, (quantity, title, scale) in enumerate(panels):
            ax = axes[row, col]
            for i, run_id in enumerate(runs):
                cur = samp[(samp["run_id"] == run_id) & (samp["quantity"] == quantity)].sort_values("sigma")
                if len(cur):
                    ax.plot(cur["sigma"], cur["value"], color=cmap(i % 10), lw=1.0, marker=".", ms=3,
                            label=_label(cur.iloc[0]))
            for curve, (color, style, text) in REFERENCE_STYLE.items():
                cur = fam[(fam["run_id"] == rep) & (fam["curve"] == curve) & (fam["quantity"] == quantity)]
                cur = cur.sort_values("sigma")
                if len(cur):
                    ax.plot(cur["sigma"], cur["value"], color=color, ls=style, lw=1.2, label=text)
            ax.set_xscale("symlog", linthresh=linthresh)
            ax.xaxis.set_minor_locator(NullLocator())          # symlog minor ticks cost seconds of layout
            values = fam.loc[fam["quantity"] == quantity, "value"]
            if scale == "log" and len(values) and (values > 0).all():
                ax.set_yscale("log")
                ax.yaxis.set_minor_locator(NullLocator())
            if col == 0:
                ax.set_ylabel(title, fontsize=8)
            if row == 0:
                ax.set_title(f"family: {family}", fontsize=9)
            if row == len(panels) - 1:
                ax.set_xlabel("noise level sigma (VE)")
            ax.tick_params(labelsize=7)
        axes[0, col].invert_xaxis()                         # sampler order (sigma decreasing) reads left to right
        handles, labels = axes[0, col].get_legend_handles_labels()
        for ax in axes[1:, col]:
            for h, lab in zip(*ax.get_legend_handles_labels()):
                if lab not in labels:
                    handles.append(h)
                    labels.append(lab)
        axes[-1, col].legend(handles, labels, fontsize=6, loc="upper center", bbox_to_anchor=(0.5, -0.35), frameon=False)
    fig.suptitle("Scale-space diagnostics along sampler trajectories (sigma decreasing left to right)", fontsize=10)
    fig.subplots_adjust(hspace=0.25, wspace=0.3, top=0.95)
    written = []
    for suffix in (".png", ".pdf"):
        path = figure_base.with_suffix(suffix)
        with atomic_path(path) as tmp:
            fig.savefig(tmp, dpi=150, bbox_inches="tight", format=suffix[1:])
        written.append(path)
    plt.close(fig)
    return written


def build_figure_and_table(runs_dir: str | Path, out_dir: str | Path) -> list[Path]:
    """Write <out>/figures/scalespace.{png,pdf} and <out>/tables/scalespace.{csv,md} from every run's scalespace CSVs."""
    diag, mono = load_runs(runs_dir)
    out_dir = Path(out_dir)
    written = plot_figure(diag, out_dir / "figures" / "scalespace")
    table = monotonicity_table(mono)
    csv_path, md_path = out_dir / "tables" / "scalespace.csv", out_dir / "tables" / "scalespace.md"
    with atomic_write(csv_path, "w") as handle:
        table.to_csv(handle, index=False)
    body = table.to_markdown(index=False, floatfmt=".3f") if len(table) else "(no monotonicity scores)"
    with atomic_write(md_path, "w") as handle:
        handle.write("# Monotonicity scores M(q) along the sampler order (0 = monotone as expected, 1 = reversed)\n\n")
        handle.write("Expected: variance, Gaussian entropy, Frechet distance and FID to the data decrease; KL to the VP "
                     "invariant law increases. Mean over runs (seeds) per row.\n\n")
        handle.write(body + "\n")
    html_path = write_table_html(table, out_dir / "tables" / "scalespace.html", "scalespace monotonicity scores M",
                                 "M(q) along the sampler order: 0 = monotone as expected, 1 = reversed. Variance, "
                                 "Gaussian entropy, Frechet distance and FID to the data should decrease; KL to the VP "
                                 "invariant law should increase. Mean over runs (seeds) per row.")
    return written + [csv_path, md_path, html_path]


__all__ = ["build_figure_and_table", "load_runs", "monotonicity_table", "plot_figure"]
