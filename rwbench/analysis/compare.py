"""Paired comparisons of the cells a figure compares: differences with 95 % intervals, decisions, equivalence (TOST).

Which comparisons (one row per comparison and headline metric):
- swept axes (models, schedules, steps, c, T0, TK, step_scale): neighbouring values in config order, other axes equal
  (models only when both score against the same reference); never across the measurement noise eta of inverse cells
  (different measurements: eta is part of the cell, not a swept axis);
- samplers: every sampler against the experiment's `reference_sampler` (same model, task, eta, steps, shared axes);
  without one, neighbouring samplers in config order;
- `contrasts:` of an experiment: named pairs of cells (a, b selectors, e.g. T_K 0.2 vs 1), difference tests;
- `equivalence:` claims of an experiment: cell a vs cell b, 90 % interval inside [-margin, margin];
- calibration (kind `calibration`): every oracle inverse cell against N exact posterior draws (the run's own
  `exact_reference` draws, metrics-per-target.csv): sampler minus exact per target for CALIBRATION's metrics, a paired
  t interval over the (seed x target) clusters with G - 1 df.

Intervals (rwbench.metrics.intervals): set metrics (energy distance to exact oracle draws and logp gap of oracle cells; FID and
KID from the per-image features evaluate writes, rwbench.metrics.fidelity.SetMetrics) by the paired bootstrap over
images, one shared resample I* for both arms (two seeds: hierarchical, seeds then images); with >= 3 seeds the t
interval over the per-seed differences (S - 1 df); per-image metrics
of inverse tasks (psnr, ssim) as paired per-sample differences clustered by (seed, target). Decisions: the 95 %
interval excludes 0 and the Benjamini-Hochberg adjusted p-value over the table's difference and calibration rows is
<= q.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rwbench.metrics import intervals as iv
from rwbench.metrics.registry import better, metric_label
from rwbench.plan.config import defaults

SWEPT = ("models", "schedules", "steps", "c", "T0", "TK", "step_scale")   # config list -> spec field compared pairwise
SPEC_FIELD = {"models": "model", "schedules": "schedule", "steps": "steps", "c": "c", "T0": "T0", "TK": "TK",
              "step_scale": "step_scale"}
NUMERIC = ("c", "T0", "TK", "step_scale")     # spec fields held as floats (config lists may give integers)
PAIRED_ON = ("model", "task", "eta")     # cells compared across samplers or claims share these (the same measurements)
HEADLINE = {"uncond": ("energy_distance", "logp_gap", "fid", "kid"), "inverse": ("psnr", "ssim")}
DEFAULTS = defaults("compare")     # n_boot, q, level, seed (workflow/schemas/config.schema.yaml)
ORACLE_ONLY = ("energy_distance", "logp_gap")   # exact-answer metrics (rwbench.metrics.exact) of oracle cells
MIN_BOOT = 2000   # bootstrap replicates of set-metric differences at least (percentile intervals need them)
# calibration rows: metric -> better direction of (sampler - N exact draws); "" where either sign is miscalibration
CALIBRATION = {"coverage": "", "coverage_of_exact_draws": "", "energy_distance": "lower", "psnr_gap_vs_exact_draws": ""}
DECIDED_KINDS = ("difference", "calibration")
# metrics whose difference interval failed the coverage simulation on the exact oracle (docs/statistics.md): reported
# with their interval, never decided, outside the multiplicity family
NOT_VALIDATED = ("fid", "kid")
NOT_VALIDATED_NOTE = "not decided: FID / KID difference intervals missed 93-97 % coverage on the oracle"
ACCURACY_ONLY = ("psnr", "psnr_minmax", "ssim", "lpips")   # posterior samplers: accuracy, judged beside calibration    # rows that get a decision under one Benjamini-Hochberg family


def cell_key(spec: dict) -> dict:
    """The axis values of a run without its seed: model, sampler, schedule, steps, task, the measurement noise eta of
    inverse tasks (task_params; cells of different eta never merge) and sampler parameters (step_scale among them)."""
    key = {"model": spec["model"], "sampler": spec["sampler"], "schedule": spec["schedule"], "steps": int(spec["steps"]),
           "task": spec["task"]}
    eta = (spec.get("task_params") or {}).get("eta")
    if spec["task"] != "uncond" and eta is not None:
        key["eta"] = float(eta)
    key.update({k: v for k, v in (spec.get("params") or {}).items()})
    return key


def _frozen(key: dict) -> str:
    return json.dumps(key, sort_keys=True, default=str)


def describe(key: dict, skip=()) -> str:
    """Compact text of a cell key (`digits-oracle simplified pretrained K100 c=0.5 TK=0.2`)."""
    head = [str(key[k]) for k in ("model", "sampler", "schedule") if k not in skip]
    if "steps" not in skip:
        head.append(f"K{key['steps']}")
    rest = [f"{k}={v}" for k, v in key.items() if k not in ("model", "sampler", "schedule", "steps", "task") + tuple(skip)
            and k not in ("init", "variance", "cap", "n_steps_each", "eps") and not (k == "step_scale" and v == 1.0)]
    if key.get("task") not in (None, "uncond") and "task" not in skip:
        rest.append(key["task"])
    return " ".join(head + rest)


@dataclass
class Cell:
    """The runs (one per seed) of one cell of an experiment."""

    experiment: str
    figure: str
    key: dict
    specs: list

    @property
    def task_kind(self) -> str:
        return "uncond" if self.key["task"] == "uncond" else "inverse"


def cells_of(specs: list[dict]) -> list[Cell]:
    """Group one experiment's run specs into cells (runs equal but for the seed), in expansion (config) order."""
    cells: dict[str, Cell] = {}
    for spec in specs:
        k = _frozen(cell_key(spec))
        if k not in cells:
            cells[k] = Cell(spec["experiment"], spec["figure"], cell_key(spec), [])
        cells[k].specs.append(spec)
    return list(cells.values())


def _differs_only_in(a: dict, b: dict, field: str) -> bool:
    keys = set(a) | set(b)
    return a.get(field) != b.get(field) and all(a.get(k) == b.get(k) for k in keys if k != field)


def _value(key: dict, field: str):
    return key.get(field)


def _same_reference(a: Cell, b: Cell) -> bool:
    sa, sb = a.specs[0], b.specs[0]
    return sa.get("reference") == sb.get("reference") and sa.get("dataset") == sb.get("dataset")


def sweep_pairs(exp: dict, cells: list[Cell]) -> list[tuple[str, Cell, Cell]]:
    """(axis, a, b) for neighbouring values of every swept axis with > 1 value, other axes equal."""
    out = []
    for axis in SWEPT:
        values = exp.get(axis)
        if not isinstance(values, (list, tuple)) or len(values) < 2:
            continue
        field = SPEC_FIELD[axis]
        norm = [float(v) if field in NUMERIC else (int(v) if field == "steps" else v) for v in values]
        for left, right in zip(norm[:-1], norm[1:]):
            for a in cells:
                if _value(a.key, field) != left:
                    continue
                for b in cells:
                    if _value(b.key, field) == right and _differs_only_in(a.key, b.key, field):
                        if axis == "models" and not _same_reference(a, b):
                            continue          # pairs only within one dataset and reference (inverse tasks too)
                        out.append((axis, a, b))
    return out


def budget(exp: dict, cell: Cell):
    """The cell's iterations K, or with `nfe:` budgets the budget its run was fitted to (the smallest budget >= its NFE;
    samplers spend a budget differently, e.g. Heun 2K - 1)."""
    if "nfe" not in exp:
        return cell.key["steps"]
    used = int(cell.specs[0]["nfe"])
    return min((int(b) for b in exp["nfe"] if int(b) >= used), default=used)


def sampler_pairs(exp: dict, cells: list[Cell]) -> list[tuple[str, Cell, Cell]]:
    """(samplers, a, reference) for every cell of another sampler (same model, task, eta, steps or NFE budget, and shared
    parameters)."""
    samplers = list(exp.get("samplers") or [])
    ref = exp.get("reference_sampler")
    if ref is not None and ref not in samplers:
        raise ValueError(f"experiment {cells[0].experiment if cells else '?'}: reference_sampler {ref!r} is not one of "
                         f"its samplers ({', '.join(samplers)})")
    pairs = [(s, ref) for s in samplers if s != ref] if ref else list(zip(samplers[:-1], samplers[1:]))
    out = []
    for sa, sb in pairs:
        for a in cells:
            if a.key["sampler"] != sa:
                continue
            for b in cells:
                if b.key["sampler"] != sb or any(a.key.get(k) != b.key.get(k) for k in PAIRED_ON) \
                        or budget(exp, a) != budget(exp, b):
                    continue
                shared = (set(a.key) & set(b.key)) - {"sampler", "model", "task", "steps", "schedule"}
                if all(a.key[k] == b.key[k] for k in shared):
                    out.append(("samplers", a, b))
    return out


def _matches(cell: Cell, selector: dict) -> bool:
    for k, v in selector.items():
        have = cell.key.get(k)
        if isinstance(v, (int, float)) and not isinstance(v, bool) and have is not None:
            if float(have) != float(v):
                return False
        elif have != v:
            return False
    return True


def equivalence_pairs(exp: dict, cells: list[Cell], key: str = "equivalence") -> list[tuple[dict, Cell, Cell]]:
    """(claim, a, b): the cells each `equivalence:` claim (or `contrasts:` entry) selects, paired by model, task and eta
    (the same measurements)."""
    out = []
    needed = ("a", "b", "metric", "margin") if key == "equivalence" else ("a", "b")
    for claim in exp.get(key) or []:
        for field in needed:
            if field not in claim:
                raise ValueError(f"{key} entry {claim}: needs {', '.join(needed)} (a and b select cells by axis values)")
        found = False
        for a in cells:
            if not _matches(a, claim["a"]):
                continue
            for b in cells:
                if b is not a and _matches(b, claim["b"]) and all(a.key.get(k) == b.key.get(k) for k in PAIRED_ON):
                    out.append((claim, a, b))
                    found = True
        if not found:
            raise ValueError(f"{key} entry {claim}: no pair of cells of this experiment matches a and b; "
                             "name axis values that the experiment has (sampler, steps, schedule, TK, ...)")
    return out


# ---------------------------------------------------------------------------------------------- per-run data


BATCH = 64   # resamples per batched call (SetMetrics.replicates holds one [D, D] scatter matrix per resample)


class Arm:
    """One run's set metric for any resample of its images: value(rows) scores the multiset rows (None: all images);
    values(rows [M, k]) scores M resamples, batched through `scores(counts [M, n])` when the metric has a batched form."""

    def __init__(self, index, score, n: int, scores=None):
        self.index, self.score, self.n, self.scores = np.asarray(index), score, int(n), scores
        self._done: dict = {}       # resamples already scored: a run's arm serves every comparison it is in

    def value(self, rows: np.ndarray | None = None) -> float:
        counts = None if rows is None else np.bincount(rows, minlength=self.n).astype(np.float64)
        return float(self.score(counts))

    def values(self, rows: np.ndarray) -> np.ndarray:
        rows = np.atleast_2d(rows)
        key = (rows.shape, hashlib.sha256(np.ascontiguousarray(rows, dtype=np.int64).tobytes()).hexdigest())
        if key not in self._done:
            self._done[key] = self._values(rows)
        return self._done[key].copy()

    def _values(self, rows: np.ndarray) -> np.ndarray:
        if self.scores is None:
            return np.array([self.value(r) for r in rows])
        counts = np.zeros((len(rows), self.n))
        np.add.at(counts, (np.repeat(np.arange(len(rows)), rows.shape[1]), rows.ravel()), 1.0)   # bincount per row
        return np.concatenate([np.asarray(self.scores(counts[i:i + BATCH]), dtype=np.float64)
                               for i in range(0, len(rows), BATCH)])


def energy_arm(index, cross, within, yy: float) -> Arm:
    """Energy distance to the exact reference draws (rwbench.metrics.distances.energy_from_parts: a weighted U-statistic that
    leaves pairs of copies of one image out of E|X - X'|)."""
    import torch

    from rwbench.metrics.distances import energy_from_parts

    cross, within = torch.as_tensor(cross, dtype=torch.float64), torch.as_tensor(within, dtype=torch.float64)
    return Arm(index, lambda c: energy_from_parts(cross, within, yy, c), len(cross))


class RunData:
    """Per-run data of the comparisons (features.safetensors, metrics-per-image.csv, shards), loaded once per run."""

    def __init__(self, runs_dir, reference_cache="results/reference", extractor: str | None = None):
        self.runs_dir, self.reference_cache, self.extractor = Path(runs_dir), Path(reference_cache), extractor
        self._cache: dict = {}

    def _get(self, key, build):
        if key not in self._cache:
            self._cache[key] = build()
        return self._cache[key]

    def features(self, spec: dict):
        """(tensors, metadata) of the run's features.safetensors, or None when evaluate wrote none."""
        from rwbench.run import rundir

        def build():
            path = self.runs_dir / spec["run_id"]
            try:
                return rundir.read_features(path)
            except FileNotFoundError:
                return None

        return self._get((spec["run_id"], "features"), build)

    def reference(self, spec: dict):
        """The reference statistics cache the run's FID / KID used (rwbench.metrics.reference), or None."""
        from rwbench.metrics.evaluate import default_extractor
        from rwbench.metrics.reference import load_reference, reference_cache_path

        extractor = self.extractor or default_extractor(spec)
        path = reference_cache_path(spec["reference"], extractor, int(spec.get("channels", 1)), self.reference_cache)

        def build():
            return load_reference(path) if path.is_file() else None

        return self._get(("reference", str(path)), build)

    def arm(self, spec: dict, metric: str) -> Arm | None:
        """The run's arm for a set metric (energy_distance, logp_gap: oracle cells; fid, kid), None without data."""

        def build():
            got = self.features(spec)
            if got is None:
                return None
            tensors, meta = got
            index = tensors["index"].numpy()
            if metric == "energy_distance":
                if "energy_cross" not in tensors:
                    return None
                return energy_arm(index, tensors["energy_cross"], tensors["energy_within"], float(meta["energy_yy"]))
            if metric == "logp_gap":
                if "log_density" not in tensors:
                    return None
                logp, mean = tensors["log_density"].double().numpy(), float(meta.get("logp_mean", 0.0))
                return Arm(index, lambda c: (logp.mean() if c is None else c @ logp / c.sum()) - mean, len(logp))
            if metric in ("fid", "kid"):
                ref = self.reference(spec)
                if ref is None or "features" not in tensors:
                    return None
                from rwbench.metrics.fidelity import SetMetrics

                sm = self._get((spec["run_id"], "setmetrics"), lambda: SetMetrics(tensors["features"], ref))
                return Arm(index, sm.fid if metric == "fid" else sm.kid, sm.n,
                           lambda counts: sm.replicates(counts)[metric])     # batched bootstrap replicates
            raise ValueError(f"set metric {metric!r}: no per-image form (choose energy_distance, logp_gap, fid or kid)")

        return self._get((spec["run_id"], metric), build)

    def pixels(self, spec: dict):
        """(index, pixels [n, D] float64 on [0, 1]) of a run's uint8 samples, diverged images dropped (as evaluate
        drops them), or None when its shards are gone."""
        from rwbench.data import from_uint8
        from rwbench.run import rundir

        def build():
            try:
                _, shards = rundir.load_shards(self.runs_dir / spec["run_id"])
            except (FileNotFoundError, ValueError):
                return None
            keep = ~shards["diverged"].bool() if "diverged" in shards else None
            index, images = shards["index"], shards["sample_uint8"]
            if keep is not None:
                index, images = index[keep], images[keep]
            return index.numpy(), from_uint8(images, dtype=__import__("torch").float64).reshape(len(images), -1).numpy()

        return self._get((spec["run_id"], "pixels"), build)

    def reference_pixels(self, spec: dict):
        """The run's reference images as pixels [m, D] float64 on [0, 1] (the exact draws of an oracle run)."""
        import torch

        from rwbench.data import from_uint8
        from rwbench.metrics.reference import load_reference_images

        key = json.dumps(spec["reference"], sort_keys=True)

        def build():
            images = load_reference_images(spec["reference"])
            return from_uint8(images, dtype=torch.float64).reshape(len(images), -1).numpy()

        return self._get(("reference-pixels", key), build)

    def per_image(self, spec: dict, metric: str):
        """metrics-per-image.csv of an inverse run indexed by image index, or None."""
        import pandas as pd

        def build():
            path = self.runs_dir / spec["run_id"] / "metrics-per-image.csv"
            if not path.is_file():
                return None
            return pd.read_csv(path).set_index("index").sort_index()

        frame = self._get((spec["run_id"], "per-image"), build)
        if frame is None or metric not in frame.columns:
            return None
        return frame

    def per_target(self, spec: dict):
        """metrics-per-target.csv of an oracle inverse run (sampler and exact-reference statistics), or None."""
        from rwbench.run import rundir

        return self._get((spec["run_id"], "per-target"), lambda: rundir.read_per_target(self.runs_dir / spec["run_id"]))


def _paired_rows(ia: np.ndarray, ib: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Row positions in a and b of the image indices both runs hold (pairing by per-image seed)."""
    common, ra, rb = np.intersect1d(ia, ib, return_indices=True)
    return ra, rb


def energy_interval(data: RunData, a: Cell, b: Cell, level: float):
    """ED(a, R) - ED(b, R) to the exact reference draws R, paired image by image (shared per-image seeds), with the
    unbiased U-statistic variance (rwbench.metrics.ustat.energy_difference: exactly unbiased also near the null, where
    the statistic is degenerate; coverage simulated in docs/statistics.md); several seeds pooled by their within-seed
    variances (rwbench.metrics.ustat.pooled). None when a run's samples are gone; an interval of NaN when the variance
    estimate comes out <= 0 (undecidable)."""
    from rwbench.metrics import ustat

    per_seed = []
    for sa in a.specs:
        sb = next((s for s in b.specs if s["seed"] == sa["seed"]), None)
        if sb is None:
            continue
        pa, pb = data.pixels(sa), data.pixels(sb)
        if pa is None or pb is None:
            return None
        ra, rb = _paired_rows(pa[0], pb[0])
        if len(ra) < 4:
            return None
        per_seed.append(ustat.energy_difference(pa[1][ra], pb[1][rb], data.reference_pixels(sa), paired=True,
                                                level=level))
    if not per_seed:
        return None
    if any(not got.se > 0 for got in per_seed):
        nan = math.nan
        return iv.Interval(float(np.mean([g.estimate for g in per_seed])), nan, nan, nan, nan,
                           sum(g.n for g in per_seed), per_seed[0].method + ": variance estimate <= 0, undecidable",
                           level)
    if len(per_seed) == 1:
        return per_seed[0]
    got = ustat.pooled([g.estimate for g in per_seed], [g.se for g in per_seed], level=level)
    return iv.Interval(got.estimate, got.lo, got.hi, got.se, got.p, sum(g.n for g in per_seed),
                       f"{per_seed[0].method}; {got.method}", level)


def set_interval(data: RunData, a: Cell, b: Cell, metric: str, n_boot: int, level: float, seed: int):
    """Interval of metric(a) - metric(b) for a set metric, paired image by image (shared per-image seeds); None when a
    run lacks the data. The energy distance: energy_interval (U-statistic variance). The logp gap, FID and KID: the
    paired bootstrap over images (one shared index resample for both arms, the reference statistics fixed; B >=
    MIN_BOOT, percentiles); several seeds pooled by their within-seed variances (never a t over a few seeds' spread)."""
    if metric == "energy_distance":
        return energy_interval(data, a, b, level)
    groups = []
    for sa in a.specs:
        sb = next((s for s in b.specs if s["seed"] == sa["seed"]), None)
        if sb is None:
            continue
        arm_a, arm_b = data.arm(sa, metric), data.arm(sb, metric)
        if arm_a is None or arm_b is None:
            return None
        ra, rb = _paired_rows(arm_a.index, arm_b.index)
        if len(ra) < 4:
            return None
        groups.append((arm_a, arm_b, ra, rb))
    if not groups:
        return None
    per_seed = []
    for A, B, ra, rb in groups:
        def statistic(group, idx, A=A, B=B, ra=ra, rb=rb):
            if idx is None:
                return A.value(ra) - B.value(rb)
            try:
                return A.value(ra[idx]) - B.value(rb[idx])     # one shared index resample for both arms
            except ValueError:                                  # e.g. KID of a resample holding one distinct image
                return math.nan

        def batch(group, idx, A=A, B=B, ra=ra, rb=rb):
            return A.values(ra[idx]) - B.values(rb[idx])       # row r: one shared index resample for both arms

        per_seed.append(iv.hierarchical([None], statistic, n_boot=max(n_boot, MIN_BOOT), level=level,
                                        seed=seed, sizes=[len(ra)], few_t=False,
                                        batch=batch if metric in ("fid", "kid") else None))
    method = f"paired bootstrap over images (B = {max(n_boot, MIN_BOOT)})"
    if len(per_seed) == 1:
        got = per_seed[0]
        return iv.Interval(got.estimate, got.lo, got.hi, got.se, got.p, got.n, method + ", percentile", got.level)
    est = float(np.mean([g.estimate for g in per_seed]))
    se = float(math.sqrt(sum(g.se ** 2 for g in per_seed)) / len(per_seed))
    q = float(np.sqrt(2) * _erfinv(level))
    S = len(per_seed)
    return iv.Interval(est, est - q * se, est + q * se, se, iv.normal_p(est, se), sum(g.n for g in per_seed),
                       method + f", {S} seeds pooled (within-seed variances), normal", level)


def _erfinv(y: float) -> float:
    from scipy.special import erfinv

    return float(erfinv(y))


def per_image_interval(data: RunData, a: Cell, b: Cell, metric: str, level: float):
    """Cluster interval of the mean paired per-sample difference, clusters = (seed, target)."""
    diffs, clusters = [], []
    for sa in a.specs:
        sb = next((s for s in b.specs if s["seed"] == sa["seed"]), None)
        if sb is None:
            continue
        fa, fb = data.per_image(sa, metric), data.per_image(sb, metric)
        if fa is None or fb is None:
            return None
        joined = fa[[metric, "target"]].join(fb[[metric]].rename(columns={metric: f"{metric}_b"}), how="inner").dropna()
        diffs.append((joined[metric] - joined[f"{metric}_b"]).to_numpy())
        clusters.append(np.array([f"{sa['seed']}/{t}" for t in joined["target"]]))
    if not diffs or sum(len(d) for d in diffs) < 2:
        return None
    d, c = np.concatenate(diffs), np.concatenate(clusters)
    if len(np.unique(c)) < 2:
        return None
    return iv.cluster_mean(d, c, level=level)


def calibration_interval(data: RunData, cell: Cell, metric: str, level: float):
    """Paired t interval of mean(sampler - N exact draws) of a per-target calibration statistic: one difference per
    (seed, target) cluster, estimate +- t_{(1+level)/2, G-1} sd / sqrt(G); None without per-target data."""
    from rwbench.metrics.registry import EXACT_N      # <m>_exact_n: the N exact reference draws' value of m

    diffs, n_images = [], 0
    for spec in cell.specs:
        frame = data.per_target(spec)
        if frame is None or metric not in frame.columns or metric + EXACT_N not in frame.columns:
            return None
        d = (frame[metric] - frame[metric + EXACT_N]).to_numpy(np.float64)   # sampler minus exact, target by target
        ok = np.isfinite(d)
        diffs.append(d[ok])
        n_images += int(frame.loc[ok, "n"].sum()) if "n" in frame.columns else int(ok.sum())
    d = np.concatenate(diffs) if diffs else np.zeros(0)
    G = len(d)
    if G < 2:
        return None
    return iv.t_interval(float(d.mean()), float(d.std(ddof=1) / math.sqrt(G)), G - 1, n_images, level,
                         f"paired t over {G} (seed x target) clusters, {G - 1} df")


def calibration_rows(name: str, cells: list[Cell], data: RunData, level: float, notes: list) -> list[dict]:
    """kind `calibration`: each oracle inverse cell's sampler against N exact posterior draws, per CALIBRATION
    metric."""
    rows = []
    for cell in cells:
        N = int(cell.specs[0].get("samples_per_target") or 1)
        for metric, direction in CALIBRATION.items():
            got = calibration_interval(data, cell, metric, level)
            if got is None:
                notes.append(f"{name}: {describe(cell.key)} vs {N} exact draws: no per-target data for {metric} "
                             "(metrics-per-target.csv with exact-reference columns; re-sample and re-evaluate)")
                continue
            runs = ";".join(s["run_id"] for s in cell.specs)
            rows.append({"experiment": name, "figure": cell.figure, "kind": "calibration", "axis": "exact posterior",
                         "metric": metric, "better": direction, "context": describe(cell.key),
                         "a": str(cell.key["sampler"]), "b": f"{N} exact draws", "n_images": got.n,
                         "n_seeds": len(cell.specs), "difference": got.estimate, "ci_lo": got.lo, "ci_hi": got.hi,
                         "level": got.level, "p": got.p, "method": got.method, "a_runs": runs, "b_runs": runs})
    return rows


def interval(data: RunData, a: Cell, b: Cell, metric: str, opts: dict, level: float):
    if a.task_kind == "uncond":
        return set_interval(data, a, b, metric, opts["n_boot"], level, opts["seed"])
    return per_image_interval(data, a, b, metric, level)


# ---------------------------------------------------------------------------------------------- the table


COLUMNS = ["experiment", "figure", "family", "kind", "axis", "metric", "better", "context", "a", "b", "n_images", "n_seeds",
           "difference", "ci_lo", "ci_hi", "level", "p", "p_adjusted", "method", "decision", "better_arm", "margin",
           "equivalence", "a_runs", "b_runs"]


def _row(exp_name, a: Cell, b: Cell, axis, metric, kind, iv_: iv.Interval):
    differing = sorted(k for k in set(a.key) | set(b.key) if a.key.get(k) != b.key.get(k))
    return {"experiment": exp_name, "figure": a.figure, "kind": kind, "axis": axis, "metric": metric,
            "better": better(metric), "context": describe(a.key, skip=differing),
            "a": " ".join(f"{k}={a.key[k]}" for k in differing if k in a.key),
            "b": " ".join(f"{k}={b.key[k]}" for k in differing if k in b.key),
            "n_images": iv_.n, "n_seeds": len(a.specs), "difference": iv_.estimate, "ci_lo": iv_.lo, "ci_hi": iv_.hi,
            "level": iv_.level, "p": iv_.p, "method": iv_.method,
            "a_runs": ";".join(s["run_id"] for s in a.specs), "b_runs": ";".join(s["run_id"] for s in b.specs)}


def _cell_signature(run_ids: str, specs: dict) -> str:
    """What a row's runs sampled, without the experiment that names them: identical cells of two experiments (the same
    model, sampler, parameters, task, seeds and sizes) give the same signature. `specs`: the config's run specs."""
    drop = ("run_id", "experiment", "figure", "trajectory_points", "trajectory_images", "shard_size", "n_shards")
    return json.dumps([{k: v for k, v in specs[r].items() if k not in drop} for r in run_ids.split(";") if r in specs],
                      sort_keys=True, default=str)


def merge_identical(rows: list[dict], config: dict) -> list[dict]:
    """One row per identical comparison: rows whose runs sample the same cells in different experiments (e.g.
    calibration and posterior-sweep) merge into the first, which lists every experiment and figure using it."""
    from rwbench.plan.grid import expand

    specs = expand(config)          # once: the signatures of every row's runs are read from it
    seen: dict[str, dict] = {}
    out = []
    for row in rows:
        key = json.dumps([row["kind"], row["metric"], _cell_signature(row["a_runs"], specs),
                          _cell_signature(row["b_runs"], specs)])
        if key in seen:
            first = seen[key]
            for field in ("experiment", "figure"):
                if row[field] not in first[field].split(";"):
                    first[field] = f"{first[field]};{row[field]}"
            continue
        seen[key] = row
        out.append(row)
    return out


def compare(config: dict, runs_dir, experiments=None, options: dict | None = None,
            reference_cache="results/reference", extractor: str | None = None):
    """The comparisons table (pandas DataFrame, COLUMNS) and a list of notes (comparisons without data)."""
    import pandas as pd

    from rwbench.plan.failures import produced
    from rwbench.plan.grid import expand_experiment
    from rwbench.run import rundir
    from rwbench.run.rundir import read_spec

    opts = {**DEFAULTS, **(config.get("compare") or {}), **(options or {})}   # options override the config
    data = RunData(runs_dir, reference_cache, extractor)
    rows, notes = [], []
    names = experiments if experiments is not None else list(config.get("experiments") or {})
    oracle_models = {m for m, v in (config.get("models") or {}).items() if v.get("family") == "oracle"}
    for name in names:
        exp = config["experiments"][name]
        specs = [s for s in expand_experiment(config, name)]
        # the runs' own spec.json (what was sampled; paths as the DAG resolved them) for the evaluated runs (evaluate
        # writes features.safetensors / metrics-per-image.csv beside metrics.csv; shards may have been deleted since)
        present = [read_spec(Path(runs_dir) / s["run_id"]) for s in specs
                   if (Path(runs_dir) / s["run_id"] / rundir.SPEC).is_file()
                   and (Path(runs_dir) / s["run_id"] / rundir.METRICS).is_file()
                   and produced(Path(runs_dir) / s["run_id"], "evaluate")]     # failed runs: placeholders
        if len(present) < len(specs):
            notes.append(f"{name}: {len(specs) - len(present)} of {len(specs)} runs are not evaluated; left out")
        for key in ("contrasts", "equivalence"):      # a claim must name cells of the experiment (config error)
            equivalence_pairs(exp, cells_of(specs), key)
        cells = cells_of(present)
        present_ids = {s["run_id"] for s in present}
        pairs = [(axis, a, b, "difference", None) for axis, a, b in sweep_pairs(exp, cells) + sampler_pairs(exp, cells)]
        for key, axis, kind in (("contrasts", "contrast", "difference"), ("equivalence", "equivalence", "equivalence")):
            full = [(claim, a, b) for claim, a, b in equivalence_pairs(exp, cells_of(specs), key)]
            for claim, a, b in full:      # the claim's cells as sampled (their runs' own specs)
                if all(s["run_id"] in present_ids for s in a.specs + b.specs):
                    a_now = next(c for c in cells if _frozen(c.key) == _frozen(a.key))
                    b_now = next(c for c in cells if _frozen(c.key) == _frozen(b.key))
                    pairs.append((axis, a_now, b_now, kind, claim))
                else:
                    notes.append(f"{name}: {key} {describe(a.key)} vs {describe(b.key)}: runs missing; left out")
        for axis, a, b, kind, claim in pairs:
            default = exp.get("compare_metrics") or HEADLINE[a.task_kind]
            metrics = [claim["metric"]] if claim and "metric" in claim else default
            for metric in metrics:
                if metric in ORACLE_ONLY and a.key["model"] not in oracle_models:
                    continue          # exact-answer metrics exist for oracle cells only
                level = 0.90 if kind == "equivalence" else opts["level"]
                got = interval(data, a, b, metric, opts, level)
                if got is None:
                    notes.append(f"{name}: {describe(a.key)} vs {describe(b.key)}: no per-image data for {metric} "
                                 "(a run diverged or is not evaluated, or too few images / targets to pair)")
                    continue
                row = _row(name, a, b, axis, metric, kind, got)
                if kind == "equivalence":
                    row["margin"] = float(claim["margin"])
                    row["equivalence"] = iv.tost(got, float(claim["margin"]))
                rows.append(row)
        oracle_inverse = [c for c in cells if c.key["model"] in oracle_models and c.task_kind == "inverse"]
        rows += calibration_rows(name, oracle_inverse, data, opts["level"], notes)
    rows = merge_identical(rows, config)
    for row in rows:
        row["family"] = "exploratory"     # the confirmatory family is the claims ledger (rwbench.analysis.claims)
        if row["kind"] == "difference" and row["metric"] in ACCURACY_ONLY:
            row["better"] = ""            # accuracy, not posterior fidelity: never "better" on its own
        if row["metric"] in NOT_VALIDATED:
            row["method"] = f"{row['method']}; {NOT_VALIDATED_NOTE}"
    table = pd.DataFrame(rows, columns=COLUMNS)
    diff = table["kind"].isin(DECIDED_KINDS) & ~table["metric"].isin(NOT_VALIDATED)
    if diff.any():
        _, adjusted = iv.benjamini_hochberg(table.loc[diff, "p"].to_numpy(float), q=opts["q"])
        table.loc[diff, "p_adjusted"] = adjusted
    decisions, arms = [], []
    for row in table.to_dict("records"):
        if row["kind"] in DECIDED_KINDS and row["metric"] in NOT_VALIDATED:
            decisions.append(iv.UNDECIDED)
            arms.append("-")
            continue
        if row["kind"] not in DECIDED_KINDS:
            decisions.append("")
            arms.append("")
            continue
        decision = iv.decide(iv.Interval(row["difference"], row["ci_lo"], row["ci_hi"], math.nan, row["p"], 0, ""))
        if not row["p_adjusted"] <= opts["q"]:      # interval excludes 0 but not significant after BH
            decision = iv.UNDECIDED
        decisions.append(decision)
        arms.append(iv.better_arm(decision, row["better"]) if row["better"] else "-")
    table["decision"], table["better_arm"] = decisions, arms
    table["equivalence"] = table["equivalence"].astype(object).where(table["kind"] == "equivalence", "")
    return table, notes


def counts(table, q: float = 0.05) -> str:
    """One sentence: how many comparisons the table holds, how many are decided, how many equivalence tests."""
    n_diff = int((table["kind"] == "difference").sum())
    n_cal = int((table["kind"] == "calibration").sum())
    decided = int((table["decision"].isin([iv.A_LT_B, iv.A_GT_B])).sum())
    n_eq = int((table["kind"] == "equivalence").sum())
    cal = f" and {n_cal} calibration comparisons (sampler - N exact posterior draws)" if n_cal else ""
    reported = int((table["kind"].isin(DECIDED_KINDS) & table["metric"].isin(NOT_VALIDATED)).sum())
    family = n_diff + n_cal - reported
    return (f"{n_diff} difference comparisons{cal}, the exploratory family (95 % paired intervals, Benjamini-Hochberg "
            f"at q = {q} over the {family} whose interval procedure passed the coverage simulation; {reported} FID / "
            f"KID rows reported with their interval, never decided): {decided} decided, {family - decided} "
            f"undecided. {n_eq} equivalence tests (TOST: 90 % interval inside [-margin, margin]). The claims are "
            "decided in reports/claims.md.")


def markdown(table, notes=(), q: float = 0.05) -> str:
    """Markdown view: counts, then one line per comparison (a - b with its interval and decision)."""
    lines = ["# Comparisons\n", counts(table, q) + "\n"]
    if len(table):
        view = table.assign(metric=table["metric"].map(lambda m: metric_label(m)),
                            **{"a - b [95 % CI]": [f"{d:.4g} [{lo:.4g}, {hi:.4g}]" for d, lo, hi in
                                                   zip(table["difference"], table["ci_lo"], table["ci_hi"])]})
        view["result"] = [r["equivalence"] if r["kind"] == "equivalence" else
                          (f"{r['decision']} (better: {r['better_arm']})" if r["better_arm"] not in ("", "-")
                           else r["decision"]) for _, r in table.iterrows()]
        cols = ["experiment", "axis", "context", "a", "b", "metric", "n_images", "n_seeds", "a - b [95 % CI]",
                "p_adjusted", "margin", "result"]
        lines.append(view[cols].to_markdown(index=False, floatfmt=".3g"))
    for note in notes:
        lines.append(f"\n- note: {note}")
    return "\n".join(lines) + "\n"


def write(table, notes, out, q: float = 0.05) -> list[Path]:
    """<out>/tables/comparisons.csv, .md and .html (the report shows the HTML inline), atomically."""
    from rwbench.io import atomic_write, write_table_html

    out = Path(out) / "tables"
    paths = [out / "comparisons.csv", out / "comparisons.md", out / "comparisons.html"]
    with atomic_write(paths[0], "w") as handle:
        table.to_csv(handle, index=False)
    with atomic_write(paths[1], "w") as handle:
        handle.write(markdown(table, notes, q))
    write_table_html(table, paths[2], "comparisons", " ".join([counts(table, q)] + [f"Note: {n}" for n in notes]))
    return paths


__all__ = ["cell_key", "cells_of", "sweep_pairs", "sampler_pairs", "equivalence_pairs", "Arm", "energy_arm", "RunData",
           "set_interval", "per_image_interval", "calibration_interval", "calibration_rows", "compare", "counts",
           "markdown", "write", "COLUMNS"]
