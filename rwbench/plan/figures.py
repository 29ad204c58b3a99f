"""The figures of `rwbench figures`, one frozen row each: the one home of figure names, of the files each writes and of
their captions.

A row names the figure (an experiment's `figure` value), the module whose `build(ctx)` draws it, its caption (and its
table's) and what else it writes: <name>.png/.pdf with its table (<name>.csv/.md/.html) and, when the figure has runs,
its extras (sample grids, metric panels), some once per inverse task ("{task}" in the stem) or per model family of the
runs ("{family}"). The DAG declares exactly these files as outputs of its figures job, with these captions
(workflow/rules/common.smk; workflow/report/<figures|tables>/<key>.rst are written from them by
`python -m rwbench.figures.captions`), the figures job writes them to reports/figures/README.md, rwbench.plan.grid
checks experiments' `figure` against the names and `rwbench figures` imports the modules; tests/test_figure_table.py
checks that each build writes what its row declares. SCALESPACE is the scale-space figure of the trajectory runs
(`rwbench scalespace --figure`), not an experiment's figure. Torch-free: the Snakefile imports it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

NAME = re.compile(r"^[a-z][a-z0-9-]*$")
NONE = "none"   # an experiment's `figure` when it feeds no figure
PER = {"task": "task", "family": "family"}   # the placeholders a stem may hold: "{task}", "{family}"


@dataclass(frozen=True)
class FigureFile:
    """One file stem a figure writes: <stem>.png/.pdf, and <stem>.csv/.md/.html when `table`; `key` names its report
    caption files (workflow/report/figures/<key>.rst and, with a table, workflow/report/tables/<key>.rst); `caption`
    and `table_caption` are the texts (placeholders filled in)."""

    stem: str
    table: bool
    key: str
    caption: str = ""
    table_caption: str = ""


def _placeholder(stem: str) -> str | None:
    found = [p for p in PER if "{" + p + "}" in stem]
    if len(found) > 1 or any(stem.count("{" + p + "}") > 1 for p in found):
        raise ValueError(f"figure file {stem!r}: at most one placeholder, once")
    return found[0] if found else None


def _check_stem(stem: str) -> None:
    if not NAME.match(stem.replace("{task}", "task").replace("{family}", "family")):
        raise ValueError(f"figure file {stem!r}: a stem is lower-case letters, digits and '-'")


@dataclass(frozen=True)
class Extra:
    """A file a figure writes besides its own plot when it has runs, with its caption (and its table's). A stem with
    "{task}" is written once per inverse task of the runs, one with "{family}" once per model family."""

    stem: str
    table: bool
    caption: str
    table_caption: str = ""

    def __post_init__(self):
        _check_stem(self.stem)
        _placeholder(self.stem)
        if not self.caption.strip() or (self.table and not self.table_caption.strip()):
            raise ValueError(f"figure extra {self.stem!r}: needs a caption (and a table caption with a table)")

    @property
    def key(self) -> str:
        """The caption key: the stem with its placeholder as a word (inverse-{task} -> inverse-task)."""
        return self.stem.replace("{task}", "task").replace("{family}", "family")

    def values(self, specs: list[dict]) -> list[str]:
        """The values this extra's placeholder takes for the runs (sorted), or [''] without a placeholder."""
        per = _placeholder(self.stem)
        if per is None:
            return [""]
        if per == "task":
            return sorted({str(s["task"]) for s in specs if s.get("task", "uncond") != "uncond"})
        return sorted({str(s["family"]) for s in specs})

    def files(self, specs: list[dict]) -> list[FigureFile]:
        """The files of this extra for the figure's run specs (none without runs)."""
        if not specs:
            return []
        per = _placeholder(self.stem)
        out = []
        for value in self.values(specs):
            fill = (lambda text: text) if per is None else (lambda text: text.replace("{" + per + "}", value))
            out.append(FigureFile(fill(self.stem), self.table, self.key, fill(self.caption), fill(self.table_caption)))
        return out


@dataclass(frozen=True)
class Figure:
    """A figure: its name, the dotted path of the module with `build(ctx) -> list[Path]`, its caption and its
    table's, and its extras."""

    name: str
    module: str
    caption: str
    table_caption: str
    extras: tuple[Extra, ...] = ()

    def __post_init__(self):
        if not NAME.match(self.name) or self.name == NONE:
            raise ValueError(f"figure {self.name!r}: a name is lower-case letters, digits and '-', and not {NONE!r}")
        if not re.match(r"^rwbench\.figures\.[a-z_][a-z0-9_]*$", self.module):
            raise ValueError(f"figure {self.name!r}: module {self.module!r} is not a module of rwbench.figures")
        if not self.caption.strip() or not self.table_caption.strip():
            raise ValueError(f"figure {self.name!r}: needs a caption and a table caption")
        for extra in self.extras:
            if not extra.stem.startswith(f"{self.name}-"):
                raise ValueError(f"figure {self.name!r}: extra {extra.stem!r} does not start with '{self.name}-'")

    def files(self, specs: list[dict]) -> list[FigureFile]:
        """Every file stem the figure writes, given the specs of the runs whose `figure` is this one: its plot and
        table first, then its extras (when it has runs)."""
        out = [FigureFile(self.name, True, self.name, self.caption, self.table_caption)]
        for extra in self.extras:
            out += extra.files(specs)
        return out


_FLOOR = ("The grey band is the floor: what real images (or exact oracle draws) score at the same n, mean +- sd "
          "(results/floors.csv); a cell inside it is as good as data at that n.")
_CI = "Error bars: 95 % intervals (bootstrap over images; over seeds, t, when a cell has several)."
_SAMPLERS = "Each sampler has one colour and marker in every figure (rwbench.figures.style)."

ROWS: tuple[Figure, ...] = (
    Figure("schedules", "rwbench.figures.schedules",
           "**Noise ladders** (paper Fig. 2, left): the noise level sigma_k against the iteration k (log y axis), one "
           "line per ladder, one panel per number of iterations K, as `rwbench schedules` tabulates them. Look for "
           "where each ladder spends its steps: the pretrained (DDPM) and sigmoid ladders linger at small sigma, the "
           "linear ladder takes few steps there, which is why it fails at K = 100.",
           "sigma_k of every ladder and K at every iteration k (the Markdown view: about 11 evenly spaced k per "
           "ladder).",
           (Extra("schedules-samples", table=True,
                  caption="**Samples per noise ladder** (paper Fig. 2, right): the first images of each `schedules` "
                          "run, one panel per ladder (titled with the ladder, K, model and sampler), same model, "
                          "seeds, c and temperatures. Look for clean digits under the pretrained, sigmoid, geometric "
                          "and Karras ladders and noisy or blank images under the linear ladder.",
                  table_caption="Metrics of the `schedules` runs (one row per run) with their 95 % intervals."),
            Extra("schedules-metrics", table=False,
                  caption="**Metrics per noise ladder**: energy distance, FID, KID, the classifier's confident share "
                          "and class entropy of each `schedules` run, one point per noise ladder (x) and model "
                          "(colour). " + _CI + " " + _FLOOR + " Look for ladders whose intervals sit apart: only "
                          "the ladder differs between the points."))),
    Figure("ve-vs-vp", "rwbench.figures.ve_vs_vp",
           "**VE score vs VP eps** (paper Fig. 1): sample grids of a VE (score) and a VP (eps) model driven by the "
           "same random walk, one panel per run titled with family, model, sampler and schedule. Look for images of "
           "the same quality: the template treats both as one denoiser D(x, sigma), so a difference comes from the "
           "networks, not from the sampler.",
           "Metrics of the `ve-vs-vp` runs (one row per run).",
           (Extra("ve-vs-vp-metrics", table=False,
                  caption="**VE score vs VP eps, metrics**: energy distance, FID, KID, the classifier's confident "
                          "share and class entropy of the two models (x) under the same template. " + _CI + " "
                          + _FLOOR + " The comparisons table says whether a difference is decided. Look for "
                          "differences larger than the floor band: smaller ones are noise."),)),
    Figure("temperature", "rwbench.figures.temperature",
           "**End-temperature sweep** (paper Fig. 3, metrics): energy distance, FID, KID, the classifier's confident "
           "share and class entropy against the end temperature T_K (linear axes), one line per model and noise "
           "ladder (line style: start temperature T_0). " + _CI + " " + _FLOOR + " Look for the minimum of FID: too "
           "low a T_K gives smooth, washed-out images; too high keeps noise in the output.",
           "Metrics of the `temperature` runs (seeds pooled: mean, t interval over seeds).",
           (Extra("temperature-samples", table=False,
                  caption="**Samples per end temperature** (paper Fig. 3, images): one panel per model / noise "
                          "ladder, its rows the start temperature T_0 and its columns the end temperature T_K "
                          "(labelled under each grid), same seeds throughout. Look from left to right: blurry, "
                          "over-smoothed digits at low T_K, crisp ones near T_K = 1, grainy ones above."),)),
    Figure("inverse", "rwbench.figures.inverse",
           "**Inverse problems, overview**: PSNR of single posterior samples against the ground truth (dB, images "
           "clipped to [0, 1]), one panel per task; x: model and measurement noise eta, colour and marker: sampler. "
           "Error bars: 95 % intervals over targets (t, targets - 1 df). Look for how the random walk compares with "
           "DPS and the other posterior samplers on the same task and noise.",
           "PSNR, PSNR of the mean of N and SSIM per run with 95 % intervals over targets.",
           (Extra("inverse-{task}", table=True,
                  caption="**{task}: samples** (paper Fig. 4 kind): one panel per model; each row one run (sampler, "
                          "eta, step_scale when not 1), its columns the measurement, three posterior samples, their "
                          "mean of N and the ground truth, each with its PSNR in dB. Look for samples that agree with "
                          "the measurement yet differ where it says little, and a mean smoother and closer to the "
                          "truth than one sample.",
                  table_caption="PSNR (dB) of every tile of the {task} figure (measurement, samples, mean; run and "
                                "target)."),
            Extra("inverse-{task}-metrics", table=False,
                  caption="**{task}: PSNR, PSNR of the mean of samples, SSIM** per model and eta (x) and sampler "
                          "(colour and marker), with 95 % intervals over targets (t, targets - 1 df). Look for the "
                          "mean of N beating single samples (it estimates the posterior mean)."))),
    Figure("nfe", "rwbench.figures.nfe",
           "**Quality per cost**: energy distance to exact draws (oracle models), FID and KID against the denoiser "
           "evaluations per image (NFE, log x axis with the budgets as ticks; linear y), one panel per metric. "
           "Colour and marker: sampler; line style: model, noise ladder and sampler settings. " + _CI + " " + _FLOOR
           + " An x at the bottom marks a diverged cell. Look for the knee: where more evaluations stop buying "
           "quality, and which sampler gets there with the fewest.",
           "Metrics of the `nfe` runs with their 95 % intervals."),
    Figure("cross", "rwbench.figures.cross",
           "**Cross-compatibility** (a comparison the paper did not make): model family (rows) x sampler (columns), "
           "each cell the FID of the best run in it with its 95 % interval (colour: log FID), and the classifier's "
           "confident share (fraction of images) in a second panel. \"div\": every run of the cell diverged. Look "
           "for rows that stay good across samplers: the paper's claim is that any score model works with any of "
           "these random walks.",
           "One row per family and sampler: the chosen run, its FID and confident share with intervals, runs and "
           "diverged runs."),
    Figure("posterior", "rwbench.figures.posterior",
           "**Posterior calibration on the exact oracle**: coverage of the ground truth and coverage of exact "
           "posterior draws by the samplers' per-pixel credible intervals (fraction of pixels), and the PSNR gap PSNR(mean of N) - "
           "PSNR(exact mean) in dB, one panel per metric; x: task and eta, colour and marker: sampler. Dashed: what N "
           "exact posterior draws reach on the same targets. Error bars: 95 % intervals over targets. Look for "
           "coverage at the dashed line (calibrated) and a PSNR gap near it; far below means overconfident (DPS).",
           "Coverage, coverage of exact draws and PSNR gap per run with intervals, the level and the reference."),
    Figure("equivalence", "rwbench.figures.equivalence",
           "**Table II equivalences**: the largest absolute deviation max |template - native| and relative deviation "
           "max ||template - native|| / ||native|| of the iterates per iteration k between each template preset and "
           "its native implementation, on the exact oracle with identical noise (log y axis: deviations span "
           "rounding level to O(1)). Look for curves at rounding level (1e-15 .. 1e-12): those pairs are the same "
           "algorithm; the VP-SDE pair differs by its O(beta^2) discretisation.",
           "Per pair: steps, largest and final absolute and relative deviation."),
    # the inverse grid of the calibration runs (rwbench.figures.inverse_grid.build_runs)
    Figure("calibration", "rwbench.figures.calibration",
           "**Calibration against the exact posterior, overview** (oracle inverse runs): coverage of exact posterior "
           "draws by each sampler's per-pixel 90 % intervals (fraction of pixels) against forward NFE (denoiser "
           "evaluations per image, log x axis), one panel per task; colour and marker: sampler, line style: "
           "measurement noise eta. Error bars: 95 % intervals over targets (t, targets - 1 df). The band (one per "
           "eta) is what N exact posterior draws reach: a calibrated sampler lies in it; below it is overconfident, "
           "above over-dispersed. Cells with step_scale other than 1 are left out. Look for samplers that sit in the "
           "band at every task: the claims ledger's `calibrated-*` rows decide it.",
           "Every point of the calibration figures: sampler, task, eta, NFE, value with interval, the N-exact-draws "
           "reference with its interval.",
           (Extra("calibration-{task}", table=False,
                  caption="**Calibration, {task}**: coverage of exact posterior draws (fraction of pixels), energy "
                          "distance to exact draws ([0, 1] pixel scale) and PSNR(mean of N) - PSNR(mean of N exact "
                          "draws) in dB against forward NFE (log x, linear y), one panel per statistic; colour and "
                          "marker: sampler, line style: eta. Error bars: 95 % intervals over targets. The band per "
                          "eta (dashed centre) is what N exact draws reach on the same statistic; the decisions are "
                          "the `calibration` rows of the comparisons table. Look for a sampler whose coverage sits in "
                          "the band while its PSNR gap does not: spread like the posterior, centred elsewhere."),
            Extra("calibration-grid", table=False,
                  caption="**Oracle posterior, target 0** (one panel; rows: task and eta): the ground truth, the "
                          "measurement shown as A^T y / A^T A 1 (black where no measurement enters), the exact "
                          "posterior mean and one exact draw, then for each sampler the mean of its N draws and one "
                          "draw, at the sampler's largest NFE with step_scale 1. Look for each sampler's mean "
                          "matching the exact mean and its draw as varied as an exact draw."))),
)

SCALESPACE = Figure(
    "scalespace", "rwbench.figures.scalespace",
    "**Scale-space monotonicity** (after P. Peter, \"Generalised Diffusion Probabilistic Scale-Spaces\"): the score M "
    "(0 = monotone in the expected direction, 1 = reversed) of each diagnostic (columns: mean grey value, per-pixel "
    "variance, Gaussian entropy, KL to the VP prior, grey-histogram entropy, Frechet distances, FID) along each "
    "recorded sampler trajectory (rows: family, sampler, ladder, temperatures, c, K). Look for rows of zeros; a high M "
    "marks a quantity that turns back on the way to the data.",
    "Monotonicity scores M per family, sampler, ladder, temperature, step factor and curve (mean over seeds).",
    (Extra("scalespace-{family}-moments", table=False,
           caption="**Scale-space, {family} models: moments** along the sampler trajectories against the noise level "
                   "sigma (VE, decreasing left to right): mean grey value and mean per-pixel variance of the "
                   "ensemble (D1), Gaussian entropy per dimension and KL divergence to the VP prior N(0, (1 + "
                   "sigma^2) I) per dimension (D2), one panel each; coloured lines: the samplers, black dashed: the "
                   "exact forward marginal, grey: homogeneous diffusion and osmosis (D7 references). Look for curves "
                   "that track the exact forward process and fall monotonically to the data."),
     Extra("scalespace-{family}-distances", table=False,
           caption="**Scale-space, {family} models: distances** along the sampler trajectories against the noise "
                   "level sigma: grey-histogram entropy (D4), Frechet distance in pixel space to the data and to the "
                   "exact forward marginal (D5) and, with `scalespace.fid_points`, the feature FID to the data, one "
                   "panel each, with the exact forward marginal and the D7 references. Look for a curve that turns "
                   "up again at the end: a sampler that overshoots (e.g. too low an end temperature).")))

# the oracle Pareto front of the experiments the config's `pareto:` names (`rwbench pareto`, rule pareto in
# workflow/rules/pareto.smk; table reports/tables/oracle_pareto.csv from rwbench.analysis.pareto): not an experiment's
# figure, like SCALESPACE
PARETO = Figure(
    "pareto", "rwbench.figures.pareto",
    "**Pareto front on the exact oracle**: energy distance to exact draws (left; [0, 1] pixel scale, symlog y) and "
    "variance ratio E|x - mu|^2 / tr Sigma (right; 1 = exact) against the denoiser evaluations per image (NFE, log x), "
    "every sampler from the exact start x ~ p_sigma_max. Colour and marker: sampler; line style: the walk's setting "
    "(shipped: sigmoid, c 0.5, T0 0.4; paper: c 0.7, T0 0.1; tuned: chosen per NFE on separate tuning seeds, each "
    "point labelled with K, its temperatures T0 -> T_K and c). Error bars: 95 % intervals (evaluate's, per cell). The "
    "grey band is what sets of n exact draws score (mean +- sd, results/floors.csv). Look for the fewest NFE at which a "
    "sampler's intervals reach the band on both metrics (band_nfe in reports/tables/oracle_pareto.csv): that sampler "
    "is then as good as exact draws at this n.",
    "Every point of the Pareto front: energy distance and variance ratio with 95 % intervals, the exact-draw bands, "
    "whether both intervals overlap them (in_band) and the smallest NFE in band per sampler and setting.",
    (Extra("pareto-samples", table=False,
           caption="**Pareto front, samples**: one panel per NFE budget (two budgets); each row one sampler and "
                   "setting of the front (labelled with K and, for the walk, its temperatures and c), its columns "
                   "images 0-7 from the same seeds and the same exact start in every row. Look for rows that look "
                   "like each other and like clean digits: at the small budget the differences between samplers "
                   "show as noise left in the images or over-smoothed strokes."),))


# the figures `rwbench fidelity` draws (rwbench.figures.posterior_fidelity.build; rule fidelity in
# workflow/rules/fidelity.smk, which declares these files): plots only, <stem>.png and <stem>.pdf; their tables are the
# analysis' (reports/tables/posterior_fidelity.csv, ...)
FIDELITY_FIGURES = ("calibration-curves", "posterior-fidelity")
FORMATS = ("png", "pdf")


def plot_files(stems, folder: str) -> dict[str, str]:
    """{<stem>_<format>: <folder>/<stem>.<format>} of plots without a table (the DAG's named outputs)."""
    return {f"{stem.replace('-', '_')}_{fmt}": f"{folder}/{stem}.{fmt}" for stem in stems for fmt in FORMATS}


def _index(rows: tuple[Figure, ...]) -> dict[str, Figure]:
    table: dict[str, Figure] = {}
    stems: set[str] = set()
    for row in rows:
        if row.name in table:
            raise ValueError(f"figure {row.name!r} is listed twice")
        table[row.name] = row
    for row in rows:
        for extra in row.extras:
            if extra.stem in table or extra.stem in stems:
                raise ValueError(f"figure extra {extra.stem!r} is listed twice or is a figure's name")
            stems.add(extra.stem)
    return table


FIGURES: dict[str, Figure] = _index(ROWS)
NAMES: tuple[str, ...] = tuple(FIGURES)
ALL: dict[str, Figure] = _index(ROWS + (SCALESPACE, PARETO))   # every figure with a caption (scale-space, Pareto too)


def figure_files(name: str, specs: list[dict]) -> list[FigureFile]:
    """The files figure `name` (a row of ROWS, SCALESPACE's or PARETO's) writes for the specs of its runs (rwbench.plan.grid
    run specs; for the scale-space figure: the trajectory runs)."""
    return ALL[name].files(specs)


def caption_files() -> list[FigureFile]:
    """One FigureFile per caption key of every figure (placeholders kept as words): what the report's caption files
    hold."""
    out = []
    for row in ALL.values():
        out.append(FigureFile(row.name, True, row.name, row.caption, row.table_caption))
        out += [FigureFile(e.key, e.table, e.key, e.caption.replace("{task}", "one task (in the file name)")
                           .replace("{family}", "one model family (in the file name)"),
                           e.table_caption.replace("{task}", "the task in the file name")) for e in row.extras]
    return out


__all__ = ["NONE", "FIDELITY_FIGURES", "FORMATS", "plot_files", "FigureFile", "Extra", "Figure", "ROWS", "SCALESPACE", "PARETO", "FIGURES", "NAMES", "ALL", "figure_files",
           "caption_files"]
