"""Scale-space figures (after P. Peter, "Generalised Diffusion Probabilistic Scale-Spaces") of the trajectory runs:
scalespace.png, the monotonicity scores M (0 = monotone as expected) of every diagnostic per sampler curve as one
heatmap, and per model family two figures of the diagnostics against sigma, each panel titled in words: moments (D1
mean grey value and per-pixel variance, D2 Gaussian entropy and KL to the VP prior) and distances (D4 grey-histogram
entropy, D5 Frechet distances, FID), each with the exact forward marginal and the D7 references (homogeneous
diffusion, osmosis). The files are those of rwbench.plan.figures.SCALESPACE; the data come from rwbench.scalespace.figure.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from rwbench.figures import style  # noqa: E402
from rwbench.figures.captions import write_readme  # noqa: E402
from rwbench.io import atomic_path, atomic_write, write_table_html  # noqa: E402
from rwbench.scalespace.figure import load_runs, monotonicity_table  # noqa: E402

# quantity -> (panel title in words, y-axis label with its unit, y scale)
QUANTITIES = {
    "mean": ("D1: mean grey value of the ensemble", "mean grey value [data scale]", "linear"),
    "variance": ("D1: mean per-pixel variance of the ensemble", "variance [data scale squared]", "log"),
    "gaussian_entropy": ("D2: Gaussian entropy per dimension", "entropy [nats per dimension]", "linear"),
    "kl_vp": ("D2: KL divergence to the VP prior N(0, (1 + sigma^2) I)", "KL [nats per dimension]", "log"),
    "grey_entropy_mean": ("D4: grey-level histogram entropy", "entropy [nats]", "linear"),
    "fd_reference": ("D5: Frechet distance to the data (pixels)", "Frechet distance [data scale squared]", "log"),
    "fd_forward": ("D5: Frechet distance to the exact forward marginal", "Frechet distance [data scale squared]",
                   "log"),
    "fid": ("FID to the data (features)", "FID [squared feature distance]", "log"),
}
GROUPS = {"moments": ("mean", "variance", "gaussian_entropy", "kl_vp"),
          "distances": ("grey_entropy_mean", "fd_reference", "fd_forward", "fid")}
REFERENCE_STYLE = {"forward": ("black", "--", "exact forward marginal"),
                   "heat": ("0.45", ":", "homogeneous diffusion (D7)"),
                   "osmosis": ("0.45", "-.", "osmosis, noise to sample (D7)")}


def curve_label(row) -> str:
    """A sampler curve's label: sampler, ladder, temperatures, c, K."""
    temp = f"T {row['T0']}->{row['TK']}" if str(row["T0"]) != "" else ""
    step = f"c {row['c']}" if str(row["c"]) != "" else ""
    return " ".join(s for s in (str(row["sampler"]), str(row["schedule"]), temp, step, f"K{row['steps']}") if s.strip())


def family_figure(diag, family: str, group: str, path_base: Path) -> list[Path]:
    """<path_base>.png/.pdf: the group's quantities (at most 4 panels) of one family against sigma."""
    from matplotlib.ticker import NullLocator

    fam = diag[diag["family"].astype(str) == family]
    present = set(fam["quantity"])
    quantities = [q for q in GROUPS[group] if q in present]
    fig, axes = plt.subplots(1, max(1, len(quantities)), figsize=(min(3.6 * max(1, len(quantities)) + 2.4,
                                                                      style.MAX_WIDTH_IN), 3.3), squeeze=False)
    samp = fam[fam["curve"] == "sampler"]
    runs = list(dict.fromkeys(samp["run_id"]))
    colors = style.series_colors(runs) if samp["sampler"].astype(str).nunique() < len(runs) else \
        {r: style.sampler_color(str(samp.loc[samp["run_id"] == r, "sampler"].iloc[0])) for r in runs}
    counts = fam[fam["curve"] != "sampler"].groupby("run_id")["step"].nunique()
    rep = counts.idxmax() if len(counts) else None      # the run whose reference curves are drawn
    positive = fam.loc[fam["sigma"] > 0, "sigma"]
    linthresh = float(positive.min()) if len(positive) else 1e-2
    for ax, quantity in zip(axes[0], quantities):
        title, ylabel, scale = QUANTITIES[quantity]
        for run_id in runs:
            cur = samp[(samp["run_id"] == run_id) & (samp["quantity"] == quantity)].sort_values("sigma")
            if len(cur):
                sampler = str(cur["sampler"].iloc[0])
                ax.plot(cur["sigma"], cur["value"], color=colors[run_id], lw=1.0, marker=style.sampler_marker(sampler),
                        ms=3, label=curve_label(cur.iloc[0]))
        for curve, (color, line, text) in REFERENCE_STYLE.items():
            cur = fam[(fam["run_id"] == rep) & (fam["curve"] == curve) & (fam["quantity"] == quantity)]
            cur = cur.sort_values("sigma")
            if len(cur):
                ax.plot(cur["sigma"], cur["value"], color=color, ls=line, lw=1.2, label=text)
        ax.set_xscale("symlog", linthresh=linthresh)
        ax.xaxis.set_minor_locator(NullLocator())          # symlog minor ticks cost seconds of layout
        values = fam.loc[fam["quantity"] == quantity, "value"]
        if scale == "log" and len(values) and (values > 0).all():
            ax.set_yscale("log")
            ax.yaxis.set_minor_locator(NullLocator())
        ax.set_title(title, fontsize=8)
        ax.set_ylabel(ylabel, fontsize=7)
        ax.set_xlabel("noise level sigma (VE) [data scale]", fontsize=7)
        ax.invert_xaxis()                                   # sampler order (sigma decreasing) reads left to right
    if not quantities:
        axes[0][0].axis("off")
        axes[0][0].text(0.5, 0.5, f"no {group} diagnostics for the {family} runs", ha="center", fontsize=8)
    handles, labels = [], []
    for ax in axes[0]:
        for h, lab in zip(*ax.get_legend_handles_labels()):
            if lab not in labels:
                handles.append(h)
                labels.append(lab)
    if handles:
        fig.legend(handles, labels, fontsize=6, loc="outside right center", title="sampler curves; references",
                   title_fontsize=6)
    fig.suptitle(f"Scale-space diagnostics, {family} models: {group} along the sampler trajectories", fontsize=9)
    fig.set_layout_engine("constrained")
    return _save(fig, path_base)


def monotonicity_figure(table, path_base: Path) -> list[Path]:
    """<path_base>.png/.pdf: one heatmap of the monotonicity scores M (rows: curves, columns: quantities)."""
    columns = [c for c in table.columns if c.startswith("M_")]
    fig, ax = plt.subplots(figsize=(min(1.1 * max(1, len(columns)) + 4.0, style.MAX_WIDTH_IN),
                                    0.32 * max(1, len(table)) + 1.8))
    if table.empty or not columns:
        ax.axis("off")
        ax.text(0.5, 0.5, "no monotonicity scores", ha="center", fontsize=8)
    else:
        values = table[columns].to_numpy(float)
        image = ax.imshow(values, cmap="viridis", vmin=0, vmax=1, aspect="auto")
        rows = [f"{r['family']}: {r['curve']}" + (f" ({curve_label(r)})" if r["curve"] == "sampler" else "")
                for _, r in table.iterrows()]
        names = [QUANTITIES.get(c[2:], (c[2:],))[0] for c in columns]
        ax.set_xticks(range(len(columns)), names, rotation=35, ha="right", fontsize=6)
        ax.set_yticks(range(len(rows)), rows, fontsize=6)
        for i in range(values.shape[0]):
            for j in range(values.shape[1]):
                if np.isfinite(values[i, j]):
                    ax.text(j, i, f"{values[i, j]:.2f}", ha="center", va="center", fontsize=5,
                            color="white" if values[i, j] < 0.5 else "black")
        ax.grid(False)
        ax.set_xlabel("diagnostic [M: 0 = monotone as expected, 1 = reversed]")
        ax.set_ylabel("family: curve (sampler, ladder, temperatures, c, K) [name]")
        fig.colorbar(image, ax=ax, label="monotonicity score M [fraction]")
    ax.set_title("Scale-space monotonicity of each diagnostic along each trajectory", fontsize=9)
    fig.tight_layout()
    return _save(fig, path_base)


def _save(fig, path_base: Path) -> list[Path]:
    written = []
    try:
        dpi, _ = style.save_dpi(fig)
        for suffix in (".png", ".pdf"):
            path = path_base.with_suffix(suffix)
            with atomic_path(path) as tmp:
                fig.savefig(tmp, dpi=dpi, bbox_inches="tight", pad_inches=0.05, format=suffix[1:])
            written.append(path)
    finally:
        plt.close(fig)
    return written


def build_figure_and_table(runs_dir: str | Path, out_dir: str | Path) -> list[Path]:
    """Write <out>/figures/scalespace.{png,pdf}, scalespace-<family>-<moments|distances>.{png,pdf} and
    <out>/tables/scalespace.{csv,md,html} from every run's scalespace CSVs, then <out>/figures/README.md."""
    diag, mono = load_runs(runs_dir)
    out_dir = Path(out_dir)
    table = monotonicity_table(mono)
    written = monotonicity_figure(table, out_dir / "figures" / "scalespace")
    for family in sorted(diag["family"].astype(str).unique()):
        for group in GROUPS:
            written += family_figure(diag, family, group, out_dir / "figures" / f"scalespace-{family}-{group}")
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
    write_readme(out_dir)
    return written + [csv_path, md_path, html_path]


__all__ = ["build_figure_and_table", "family_figure", "monotonicity_figure", "QUANTITIES", "GROUPS"]
