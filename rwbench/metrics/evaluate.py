"""`rwbench evaluate --run <dir>`: metrics of one run written to <dir>/metrics.csv (long format, rwbench.run.rundir).

Every row has value, unit, se, ci_lo, ci_hi (95 %), n (generated samples used) and n_ref (reference items used).
Unconditional runs: FID and KID (rwbench.metrics.fidelity.SetMetrics: one path, all n samples x all n_ref reference
images, no KID subsets), se / interval by bootstrap over the generated images against the fixed reference;
precision/recall; for the digits classifier `confident_share` (per image); every set metric on the generic path (a
registry row with `needs` and its function fn(inputs, counts=None), rwbench.metrics.set_protocol; `class_entropy`)
whose inputs the run has, bootstrapped with the same counts as FID; and for oracle runs the exact-answer metrics
energy_distance, occupancy_tv, logp_gap and the moment metrics
(variance_ratio, mean_offset, mean_offset_sq, occupancy_chi2, component_variance_ratio, component_ratio_maxdev;
rwbench.metrics.exact), the primary metrics of those cells. Per-image features (and exact-metric inputs) go to <dir>/features.safetensors so
comparisons can resample them. Inverse tasks (shards carry ground_truth): per-image psnr, psnr_minmax, ssim, lpips
(mean, se, bootstrap interval), *_mean_of_samples over targets when samples_per_target > 1, and oracle calibration
rows: the sampler's draws against exact posterior draws and, when the shards hold `exact_reference`, the same
statistics of N independent exact draws (`<m>_exact_n`), per target in metrics-per-target.csv. Every run gets
`diverged_fraction`; when more than --max-diverged of the images diverged, image metrics are NaN and a `diverged` row
(value 1) is written. Floors (real-data and exact-sampler) are `rwbench floors`.
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import numpy as np
import torch

from rwbench.run import rundir
from rwbench.io import atomic_write
from rwbench.metrics import uncertainty as aggregation
from rwbench.metrics import extractors as ex
from rwbench.metrics import registry
from rwbench.metrics.options import EvaluateOptions

COLUMNS = rundir.METRIC_COLUMNS
NAN = float("nan")
SET_BOOT = 200  # bootstrap replicates of set metrics (FID, KID, exact metrics); --n-boot caps it


def default_extractor(spec: dict) -> str:
    """digits-cnn for the digits dataset, torch-fidelity's Inception otherwise."""
    return ex.DIGITS if spec.get("dataset") == "digits" else ex.INCEPTION


class _Rows:
    def __init__(self, run_id: str):
        self.run_id, self.rows = run_id, []

    def add(self, metric, value, n, reference="", extractor="", conversion="", *, se=NAN, ci_lo=NAN, ci_hi=NAN,
            n_ref=0, unit=None):
        self.rows.append({"run_id": self.run_id, "metric": metric, "value": float(value),
                          "unit": registry.csv_unit(metric) if unit is None else unit, "se": float(se),
                          "ci_lo": float(ci_lo), "ci_hi": float(ci_hi), "n": int(n), "n_ref": int(n_ref),
                          "reference": reference, "extractor": extractor, "conversion": conversion})

    def summary(self, metric, values, reference="", extractor="", conversion="", n_ref=0, clusters=None, **boot):
        """One row of a per-image metric: mean, se, bootstrap interval, n finite values; with `clusters` (targets of
        an inverse task) the mean over targets with the t interval over targets (target_summary)."""
        s = aggregation.summary_row(values, **boot) if clusters is None else target_summary(values, clusters)
        self.add(metric, s["value"], s["n"], reference, extractor, conversion, se=s["se"], ci_lo=s["ci_lo"],
                 ci_hi=s["ci_hi"], n_ref=n_ref)

    def boot(self, metric, estimate, replicates, n, reference="", extractor="", conversion="", n_ref=0):
        """One row of a set metric with its bootstrap se and re-centred percentile interval."""
        iv = aggregation.replicate_interval(estimate, replicates)
        self.add(metric, estimate, n, reference, extractor, conversion, se=iv["se"], ci_lo=iv["ci_lo"],
                 ci_hi=iv["ci_hi"], n_ref=n_ref)


def target_summary(values, clusters) -> dict:
    """Mean of the finite values, with se and 95 % interval over targets (rwbench.metrics.intervals.cluster_mean: spread of the
    target means, t with targets - 1 df for few targets; targets x samples are never independent images)."""
    from rwbench.metrics import intervals

    v, c = np.asarray(values, dtype=np.float64).ravel(), np.asarray(clusters).ravel()
    ok = np.isfinite(v)
    if not ok.any():
        return {"value": NAN, "se": NAN, "ci_lo": NAN, "ci_hi": NAN, "n": 0}
    if len(np.unique(c[ok])) < 2:
        return {"value": float(v[ok].mean()), "se": NAN, "ci_lo": NAN, "ci_hi": NAN, "n": int(ok.sum())}
    got = intervals.cluster_mean(v[ok], c[ok])      # se from the spread of the target means
    mean, half = float(v[ok].mean()), (got.hi - got.lo) / 2    # value stays the mean over images (run-layout.md)
    return {"value": mean, "se": got.se, "ci_lo": mean - half, "ci_hi": mean + half, "n": int(ok.sum())}


def generic_set_metrics(rows: _Rows, inputs, counts) -> None:
    """Every set metric on the generic path (registry.generic_set_names: rows with `needs`) whose needs the run meets:
    value = fn(inputs), replicates = fn(inputs, c) for each bootstrap count vector c, one bootstrapped row each with
    the registry's unit and the columns its needs give (rwbench.metrics.set_protocol)."""
    from rwbench.metrics import set_protocol

    have = inputs.available()
    for name in registry.generic_set_names():
        metric = registry.METRICS[name]
        if not set(metric.needs) <= have:
            continue
        value, replicates = set_protocol.compute(registry.set_function(name), inputs, counts)
        cols = inputs.columns(metric.needs)
        conversion = cols["conversion"] + (f"; {metric.note}" if metric.note else "")
        rows.boot(name, value, replicates, inputs.n, cols["reference"], cols["extractor"], conversion, cols["n_ref"])


def _unconditional(rows: _Rows, run_dir: Path, spec: dict, data: dict, ok: torch.Tensor, too_many: bool,
                   opts: dict) -> None:
    from rwbench.metrics import fidelity
    from rwbench.metrics.reference import reference_statistics
    from rwbench.metrics.set_protocol import SetInputs

    reference = spec.get("reference")
    if reference is None:
        raise ValueError("spec.json: no 'reference' for an unconditional run (see docs/run-layout.md)")
    ref_label = rundir.reference_label(reference)
    name = opts["extractor"] or default_extractor(spec)
    images = data["sample_uint8"][ok]
    if too_many or len(images) < 2:
        for metric in ("fid", "kid_mean", "precision", "recall"):
            rows.add(metric, NAN, len(images), ref_label, name, "")
        return
    info = ex.resolve_extractor(name, opts["extractor_weights"], opts["allow_download"])
    features = [info.layer] + (["logits"] if not ex.needs_rgb(name) else [])  # classifier nets also give logits
    extractor = ex.build_extractor(info, features, opts["device"])
    ref = reference_statistics(reference, info, opts["reference_cache"], int(images.shape[1]), opts["device"],
                               opts["batch_size"], extractor=extractor)
    prepared, conversion = ex.prepare_uint8(images, name)
    if conversion != ref["conversion"]:
        raise ValueError(f"{ref['path']}: reference conversion {ref['conversion']!r} differs from samples' {conversion!r}")
    feats = ex.extract_features(extractor, prepared, opts["batch_size"], opts["device"])
    gen = feats[info.layer].double().cpu()
    n, n_ref, label = len(gen), int(ref["count"]), info.label()
    # one FID / KID path: all n samples against the fixed reference; bootstrap over the generated images
    sm = fidelity.SetMetrics(gen, ref)
    counts = aggregation.bootstrap_counts(n, min(SET_BOOT, opts["n_boot"]), opts["seed"])
    value = sm()
    reps = sm.replicates(counts)
    rows.boot("fid", value["fid"], reps["fid"], n, ref_label, label, conversion + "; symmetric-eigh Frechet", n_ref)
    rows.boot("kid_mean", value["kid"], reps["kid"], n, ref_label, label,
              conversion + f"; unbiased MMD^2 over all {n} x {n_ref} pairs (no subsets)", n_ref)
    tensors = {"index": data["index"][ok], "features": gen}
    meta = {"extractor": label, "reference": ref_label, "conversion": conversion}
    logits = feats["logits"].double().cpu() if "logits" in feats else None
    oracle, exact_reference = _oracle_inputs(spec, data, reference)
    inputs = SetInputs(uint8=images, sample=data["sample"][ok] if "sample" in data else None, features=gen,
                       reference=ref, logits=logits, oracle=oracle, exact_reference=exact_reference,
                       reference_label=ref_label, extractor_label=label,
                       logit_label=label.replace(f"/{info.layer}@", "/logits@"), conversion=conversion)
    if opts["prc"] and min(n, n_ref) > opts["prc_neighborhood"]:
        prc = fidelity.precision_recall(gen.float(), ref["features"].float(), opts["prc_neighborhood"])
        for metric, v in prc.items():
            rows.add(metric, v, n, ref_label, label, conversion + f"; k={opts['prc_neighborhood']}", n_ref=n_ref)
    if logits is not None:
        probs = torch.softmax(logits, dim=1)
        rows.summary("confident_share", (probs.max(dim=1).values >= registry.CONFIDENT).double().numpy(), "",
                     inputs.logit_label, conversion + f"; max softmax >= {registry.CONFIDENT:g}",
                     n_boot=opts["n_boot"], seed=opts["seed"])
    generic_set_metrics(rows, inputs, counts)      # class_entropy and any set metric that is one function + one row
    if logits is not None:
        rows.add("class_entropy_max", math.log(logits.shape[1]), n, "", inputs.logit_label, conversion)
    if oracle is not None:
        _exact(rows, inputs, reference, opts, counts, tensors, meta)
    rundir.write_features(run_dir, tensors, meta)


def _oracle_inputs(spec: dict, data: dict, reference: dict):
    """(the oracle mixture, its exact reference draws) of an oracle run with float samples, else (None, None)."""
    if spec.get("family") != "oracle" or "sample" not in data:
        return None, None
    from rwbench.metrics import exact
    from rwbench.metrics.reference import load_reference_images

    return exact.oracle_for(spec), load_reference_images(reference)


def _exact(rows: _Rows, inputs, reference: dict, opts: dict, counts, tensors: dict, meta: dict) -> None:
    """Exact-answer metrics of an oracle cell against its mixture (rwbench.metrics.exact)."""
    from rwbench.metrics import exact

    oracle, ref_images = inputs.oracle, inputs.exact_reference
    cache = Path(opts["reference_cache"]) / (f"exact-{exact.oracle_digest(oracle)[:12]}-"
                                             f"{rundir.reference_key(reference)}.json")
    consts = exact.reference_constants(oracle, ref_images, cache)
    em = exact.ExactMetrics(oracle, inputs.sample, inputs.uint8, ref_images, consts)
    value = em()
    reps = [em(c) for c in counts]
    ref_label = rundir.reference_label(reference)
    rows.boot("energy_distance", value["energy_distance"], [r["energy_distance"] for r in reps], em.n, ref_label,
              "", "uint8 images on [0, 1] vs the exact reference draws; U-statistics", em.n_ref)
    rows.boot("occupancy_tv", value["occupancy_tv"], [r["occupancy_tv"] for r in reps], em.n, "exact_mixture", "",
              "float samples; noise-free responsibilities vs mixture weights")
    iv = aggregation.replicate_interval(value["logp_gap"], [r["logp_gap"] for r in reps])
    grow = math.hypot(iv["se"], em.logp_mc_se()) / iv["se"] if iv["se"] > 0 else 1.0   # + MC error of E_p[log p]
    rows.add("logp_gap", value["logp_gap"], em.n, "exact_mixture", "",
             f"float samples; mean log p / D minus E_p[log p] / D ({consts['logp_draws']} exact draws)",
             se=iv["se"] * grow, ci_lo=value["logp_gap"] - (value["logp_gap"] - iv["ci_lo"]) * grow,
             ci_hi=value["logp_gap"] + (iv["ci_hi"] - value["logp_gap"]) * grow, n_ref=consts["logp_draws"])
    _moments(rows, em, value, reps, opts)
    tensors.update(em.tensors())
    meta.update(energy_yy=repr(consts["energy_yy"]), logp_mean=repr(consts["logp_mean"]),
                logp_mc_se=repr(em.logp_mc_se()), exact_reference=ref_label, variance_trace=repr(em.trace))


def _moments(rows: _Rows, em, value: dict, reps: list[dict], opts: dict) -> None:
    """The oracle moment metrics (rwbench.metrics.exact): variance_ratio as a per-image mean (se = sd / sqrt(n)),
    mean_offset_sq with its U-statistic se (normal interval), the rest bootstrapped like the other set metrics."""
    conv = "float samples on [0, 1], float64; exact mixture mean and covariance"
    rows.summary("variance_ratio", em.variance_ratios.numpy(), "exact_mixture", "",
                 conv + "; mean of |x_i - mu|^2 / tr Sigma, se = sd / sqrt(n)", n_boot=opts["n_boot"],
                 seed=opts["seed"])
    rows.boot("mean_offset", value["mean_offset"], [r["mean_offset"] for r in reps], em.n, "exact_mixture", "",
              conv + "; |mean - mu|, biased up by about sqrt(tr Sigma / n) (see floors)")
    se = em.offset_se()
    rows.add("mean_offset_sq", value["mean_offset_sq"], em.n, "exact_mixture", "",
             conv + "; U-statistic of |E x - mu|^2, se from its variance, interval +- 1.96 se", se=se,
             ci_lo=value["mean_offset_sq"] - 1.959964 * se, ci_hi=value["mean_offset_sq"] + 1.959964 * se)
    for metric, text in (("occupancy_chi2", "noise-free responsibilities vs mixture weights"),
                         ("component_variance_ratio", "responsibility-weighted, pooled over components"),
                         ("component_ratio_maxdev", "components with soft count >= 2")):
        rows.boot(metric, value[metric], [r[metric] for r in reps], em.n, "exact_mixture", "", f"{conv}; {text}")


def _inverse(rows: _Rows, run_dir: Path, spec: dict, data: dict, ok: torch.Tensor, too_many: bool, opts: dict) -> None:
    from rwbench.metrics import image_quality as iq

    if "sample" not in data:
        raise ValueError(f"{run_dir}: inverse-task shards lack the float 'sample' tensor")
    x, gt = data["sample"].double(), data["ground_truth"].double()
    n_all = len(x)
    # the registry's per-image metrics (psnr, psnr_minmax, ssim, lpips), each fn(x, ground truth) -> [n]
    keys = [k for k in registry.names("per-image") if k != "lpips" or opts["lpips"]]
    per_image = {key: torch.full((n_all,), NAN, dtype=torch.float64) for key in keys}
    conv = {"psnr": iq.STANDARD, "psnr_minmax": iq.MINMAX,
            "ssim": f"clip to [0,1], data_range 1, uniform window {iq.ssim_window(*x.shape[-2:])}"}
    extr = {"psnr": "", "psnr_minmax": "", "ssim": "skimage"}
    metric_lpips = None
    if opts["lpips"]:
        from rwbench.metrics.lpips_metric import LPIPSMetric

        metric_lpips = LPIPSMetric(opts["lpips_net"], opts["device"])
        conv["lpips"], extr["lpips"] = metric_lpips.conversion(*x.shape[-2:]), metric_lpips.label()
    if not too_many and ok.any():
        xs, gts = x[ok], gt[ok]
        for key in keys:
            if key == "lpips":
                per_image[key][ok] = metric_lpips(xs, gts, opts["batch_size"])
            else:
                per_image[key][ok] = registry.function(key)(xs, gts)
    for key, values in per_image.items():
        rows.summary(key, values.numpy(), "ground_truth", extr[key], conv[key], clusters=data["target"].numpy())
    spt = int(spec.get("samples_per_target") or 1)
    targets = torch.unique(data["target"][ok]) if ok.any() else torch.zeros(0, dtype=torch.long)
    if spt > 1 and not too_many and len(targets):
        means, truths = [], []
        for t in targets.tolist():
            member = ok & (data["target"] == t)
            means.append(x[member].mean(0))
            truths.append(gt[member][0])
        means, truths = torch.stack(means), torch.stack(truths)
        for key, fn in (("psnr", iq.psnr), ("psnr_minmax", iq.psnr_minmax), ("ssim", iq.ssim)):
            rows.summary(f"{key}_mean_of_samples", fn(means, truths).numpy(), "ground_truth", extr[key],
                         conv[key] + f"; mean of <= {spt} samples per target", clusters=np.arange(len(means)))
    if "exact_mmse" in data and len(targets):
        first = torch.stack([torch.nonzero(data["target"] == t)[0, 0] for t in targets.tolist()])
        mmse, truths = data["exact_mmse"][first].double(), gt[first]
        rows.summary("psnr_exact_mmse", iq.psnr(mmse, truths).numpy(), "ground_truth", "", iq.STANDARD,
                     n_boot=opts["n_boot"], seed=opts["seed"])
    table = []
    if "exact_draw" in data and spt > 1 and not too_many and len(targets):
        table = _oracle_posterior(rows, run_dir, data, ok, targets, opts)
    if spt > 1 and not too_many and len(targets) and "measurement" in data and opts.get("fidelity", True):
        table = _posterior_fidelity(rows, run_dir, spec, data, ok, targets, opts, table)
    if table:
        rundir.write_per_target(run_dir, table)
    _write_per_image(run_dir / rundir.PER_IMAGE, data, per_image)


ORACLE_METRICS = registry.names("posterior")      # per target against the exact posterior
EXACT_N, EXACT_N_METRICS = registry.EXACT_N, registry.EXACT_N_METRICS   # what N exact draws reach: <m>_exact_n


def _oracle_posterior(rows: _Rows, run_dir: Path, data: dict, ok: torch.Tensor, targets: torch.Tensor,
                      opts: dict) -> None:
    """Calibration against the exact posterior (oracle runs): per target, the sampler's draws vs the exact draws and,
    when the shards hold `exact_reference`, the same statistics of as many independent exact draws (<m>_exact_n)."""
    from rwbench.metrics.posterior_quality import oracle_quality

    level = registry.CREDIBLE_LEVEL
    per_target = {key: [] for key in ORACLE_METRICS}
    reference = "exact_reference" in data
    table = []
    for t in targets.tolist():
        member = ok & (data["target"] == t)
        if int(member.sum()) < 2:
            continue
        first = torch.nonzero(data["target"] == t)[0, 0]
        truth, mmse = data["ground_truth"][first].double(), data["exact_mmse"][first].double()
        exact = data["exact_draw"][data["target"] == t].double()
        q = oracle_quality(data["sample"][member].double(), truth, mmse, exact, level=level)
        row = {"target": t, "n": int(member.sum()), "n_exact": len(exact)}
        for key in ORACLE_METRICS:
            per_target[key].append(q[key])
            row[key] = q[key]
        if reference:
            # the same N (the sampler's non-diverged images) of independent exact draws, scored the same way
            r = oracle_quality(data["exact_reference"][member].double(), truth, mmse, exact, level=level)
            for key in EXACT_N_METRICS:
                row[key + EXACT_N] = r[key]
        table.append(row)
    conv = f"[0, 1] scale; {int(level * 100)} % per-pixel credible intervals of the sampler's draws"
    for key, values in per_target.items():
        if values:
            rows.summary(key, np.asarray(values, dtype=float), "exact_posterior", "", conv,
                         clusters=np.arange(len(values)))      # one value per target: t over targets
    if reference and table:
        conv_n = (f"[0, 1] scale; the N independent exact draws (stream exact-reference) in place of the sampler's, "
                  f"{int(level * 100)} % per-pixel intervals")
        for key in EXACT_N_METRICS:
            rows.summary(key + EXACT_N, np.array([r[key + EXACT_N] for r in table], dtype=float), "exact_posterior",
                         "", conv_n, clusters=np.arange(len(table)))
    rows.add("level", level, len(targets), "exact_posterior", "", conv)
    return table


FIDELITY = registry.names("fidelity")      # per-target posterior fidelity (rwbench.metrics.posterior_fidelity)


def _posterior_fidelity(rows: _Rows, run_dir: Path, spec: dict, data: dict, ok: torch.Tensor, targets: torch.Tensor,
                        opts: dict, table: list[dict]) -> list[dict]:
    """Calibration curves, MMSE gap and score-KSD per target (rwbench.metrics.posterior_fidelity): summary rows into
    metrics.csv (t over targets; mmse_gap_db: the mean ratio over targets in dB), the per-target values merged into
    `table` (metrics-per-target.csv) and the curves into coverage-curves.csv."""
    from rwbench.metrics import posterior_fidelity as pf

    try:
        denoiser = pf.run_denoiser(spec, opts["device"])
    except (FileNotFoundError, KeyError) as err:   # the model is gone (a copied run folder) or the spec names none
        import sys

        print(f"rwbench evaluate: {run_dir}: posterior fidelity skipped, the model is missing ({err}); "
              "--no-fidelity skips it on purpose", file=sys.stderr)
        return table
    got, curve_rows = pf.run_fidelity(spec, data, ok, targets.tolist(), denoiser=denoiser)
    if not got:
        return table
    by_target = {r["target"]: r for r in table}
    for r in got:
        by_target.setdefault(r["target"], {"target": r["target"], "n": r["n"]}).update(r)
    table = [by_target[t] for t in sorted(by_target)]
    sigma = float(spec["sigma_min"])
    conv = {"ksd": f"model data scale; IMQ c={pf.KSD_C:g}, beta={pf.KSD_BETA:g}; prior score (D(x, {sigma:g}) - x) / "
                   f"{sigma:g}^2 + exact likelihood gradient; U-statistic per target",
            "coverage": f"[0, 1] scale; mean over levels {pf.LEVELS[0]:g}..{pf.LEVELS[-1]:g} of sampler minus reference "
                        "coverage",
            "mmse": "[0, 1] scale; 10 log10 of the mean over targets of |mean of N - exact mean|^2 / (tr Cov / N)"}
    for key in FIDELITY:
        for name in (key, key + EXACT_N):
            values = [r[name] for r in got if name in r]
            if not values:
                continue
            reference = "exact_posterior" if (name.startswith(("mmse", "coverage_gap")) and "truth" not in name) \
                else ("ground_truth" if "truth" in name else "posterior_score")
            if key == "mmse_gap_db":
                continue
            kind = "ksd" if key == "ksd" else "coverage"
            rows.summary(name, np.asarray(values, dtype=float), reference, "", conv[kind],
                         clusters=np.arange(len(values)))
    for suffix in ("", EXACT_N):
        values = [r["mmse_ratio" + suffix] for r in got if "mmse_ratio" + suffix in r]
        if values:
            s = pf.ratio_db(values)
            rows.add("mmse_gap_db" + suffix, s["value"], s["n"], "exact_posterior", "", conv["mmse"], se=s["se"],
                     ci_lo=s["ci_lo"], ci_hi=s["ci_hi"])
    rundir.write_curves(run_dir, curve_rows)
    return table


def _write_per_image(path: Path, data: dict, per_image: dict) -> None:
    import pandas as pd

    frame = pd.DataFrame({"index": data["index"].numpy(), "target": data["target"].numpy(),
                          "diverged": data["diverged"].numpy()})
    for key, values in per_image.items():
        frame[key] = values.numpy()
    with atomic_write(path, "w") as handle:
        frame.to_csv(handle, index=False)


def evaluate_run(run_dir: str | Path, options: EvaluateOptions | None = None, *, write: bool = True, **overrides):
    """Compute all metrics of one run; write <run_dir>/metrics.csv atomically; return the rows as a DataFrame.

    `options` (EvaluateOptions) and/or keyword overrides of its fields, e.g. evaluate_run(run, lpips=False)."""
    import pandas as pd

    unknown = sorted(set(overrides) - {f.name for f in dataclasses.fields(EvaluateOptions)})
    if unknown:
        raise TypeError(f"evaluate_run: unknown option(s) {', '.join(unknown)}; see EvaluateOptions")
    o = dataclasses.replace(options or EvaluateOptions(), **overrides)
    run_dir = Path(run_dir)
    spec, data = rundir.load_shards(run_dir, o.allow_partial)
    rows = _Rows(str(spec.get("run_id") or run_dir.name))
    diverged = data["diverged"]
    n_all = len(diverged)
    frac = float(diverged.double().mean().item()) if n_all else NAN
    too_many = frac > o.max_diverged
    rows.add("diverged_fraction", frac, n_all)
    if too_many:
        rows.add("diverged", 1.0, n_all, conversion=f"diverged_fraction > {o.max_diverged}: image metrics are NaN")
    opts = dataclasses.asdict(o)
    ok = ~diverged
    if "ground_truth" in data:
        _inverse(rows, run_dir, spec, data, ok, too_many, opts)
    else:
        _unconditional(rows, run_dir, spec, data, ok, too_many, opts)
    if write:
        return rundir.write_metrics(run_dir / rundir.METRICS, rows.rows)
    return pd.DataFrame(rows.rows, columns=COLUMNS)
