"""`rwbench evaluate --run <dir>`: metrics of one run written to <dir>/metrics.csv (long format).

Unconditional runs: FID (from cached reference statistics), KID, precision/recall on the chosen extractor's features,
the FID of an equally small reference subset (`fid_ref_subset`, the small-N bias floor), and for the digits
classifier `confident_share` / `class_entropy`. Inverse tasks (shards carry ground_truth): per-image psnr,
psnr_minmax, ssim, lpips summarised as mean / _se / _ci95_lo / _ci95_hi rows (see rwbench.metrics.aggregation),
plus *_mean_of_samples over targets when samples_per_target > 1. Every run gets `diverged_fraction`; when more
than --max-diverged of the images diverged, image metrics are NaN and a `diverged` row (value 1) is written.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from rwbench.divergence import diverged
from rwbench.io import atomic_write, load_tensors, read_json
from rwbench.metrics import aggregation
from rwbench.metrics import extractors as ex

COLUMNS = ["run_id", "metric", "value", "n", "reference", "extractor", "conversion"]
NAN = float("nan")


def load_shards(run_dir: str | Path, allow_partial: bool = False) -> tuple[dict, dict[str, torch.Tensor]]:
    """Read spec.json and concatenate all shards' tensors (sorted by global index)."""
    run_dir = Path(run_dir)
    spec = read_json(run_dir / "spec.json")
    files = sorted((run_dir / "shards").glob("shard-*.pt"))
    if not files:
        raise FileNotFoundError(f"{run_dir / 'shards'}: no shard-*.pt files; run `rwbench sample` for this run first")
    expected = spec.get("n_shards")
    if expected is not None and len(files) != int(expected) and not allow_partial:
        raise ValueError(f"{run_dir}: {len(files)} of {expected} shards present; finish sampling or pass --allow-partial")
    shards = [load_tensors(f, "sample shard", f"delete it and rebuild it: snakemake --cores 1 {f}") for f in files]
    keys = [k for k in shards[0] if all(k in s for s in shards)]
    data = {k: torch.cat([s[k] for s in shards]) for k in keys}
    for key in ("index", "sample_uint8"):
        if key not in data:
            raise ValueError(f"{run_dir}: shards lack {key!r} (see docs/run-layout.md)")
    order = torch.argsort(data["index"])
    data = {k: v[order] for k, v in data.items()}
    if len(torch.unique(data["index"])) != len(data["index"]):
        raise ValueError(f"{run_dir}: duplicate image indices across shards")
    if "diverged" not in data:
        data["diverged"] = torch.zeros(len(data["index"]), dtype=torch.bool)
    # the shard's flag, or the one threshold (rwbench.divergence) on the [0, 1] samples: also flags shards written
    # before a blow-up without inf (|x| ~ 1e21) counted as diverged
    data["diverged"] = data["diverged"].bool() | diverged((data["sample"] if "sample" in data else
                                                          data["sample_uint8"].float() / 255), (0.0, 1.0))
    if "target" not in data:
        data["target"] = data["index"].clone()
    return spec, data


def default_extractor(spec: dict) -> str:
    """digits-cnn for the digits dataset, torch-fidelity's Inception otherwise."""
    return ex.DIGITS if spec.get("dataset") == "digits" else ex.INCEPTION


class _Rows:
    def __init__(self, run_id: str):
        self.run_id, self.rows = run_id, []

    def add(self, metric, value, n, reference="", extractor="", conversion=""):
        self.rows.append({"run_id": self.run_id, "metric": metric, "value": float(value), "n": int(n),
                          "reference": reference, "extractor": extractor, "conversion": conversion})


def _unconditional(rows: _Rows, spec: dict, data: dict, ok: torch.Tensor, too_many: bool, opts: dict) -> None:
    from rwbench.metrics import fidelity
    from rwbench.metrics.reference import reference_label, reference_statistics

    reference = spec.get("reference")
    if reference is None:
        raise ValueError("spec.json: no 'reference' for an unconditional run (see docs/run-layout.md)")
    ref_label = reference_label(reference)
    name = opts["extractor"] or default_extractor(spec)
    images = data["sample_uint8"][ok]
    if too_many or len(images) < 2:
        for metric in ("fid", "kid_mean", "kid_std", "precision", "recall"):
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
    gen = feats[info.layer].float().cpu()
    ref_feats, n, label = ref["features"].float(), len(gen), info.label()
    rows.add("fid", fidelity.fid_from_statistics(fidelity.feature_statistics(gen), ref), n, ref_label, label, conversion)
    rows.add("reference_n", ref["count"], ref["count"], ref_label, label, conversion)
    if n < len(ref_feats):
        pick = torch.randperm(len(ref_feats), generator=torch.Generator().manual_seed(opts["seed"]))[:n]
        sub = fidelity.feature_statistics(ref_feats[pick])
        floor = fidelity.frechet_distance_symmetric(sub["mu"], sub["sigma"], ref["mu"].numpy(), ref["sigma"].numpy())
        rows.add("fid_ref_subset", floor, n, ref_label, label, conversion + "; symmetric-eigh Frechet")
    kid_mean, kid_std, size = fidelity.kid(gen, ref_feats, opts["kid_subset_size"], opts["kid_subsets"], opts["seed"])
    rows.add("kid_mean", kid_mean, n, ref_label, label, conversion)
    rows.add("kid_std", kid_std, n, ref_label, label, conversion)
    rows.add("kid_subset_size", size, n, ref_label, label, conversion)
    if opts["prc"] and min(n, len(ref_feats)) > opts["prc_neighborhood"]:
        prc = fidelity.precision_recall(gen, ref_feats, opts["prc_neighborhood"])
        for metric, value in prc.items():
            rows.add(metric, value, n, ref_label, label, conversion + f"; k={opts['prc_neighborhood']}")
    if "logits" in feats:
        for metric, value in fidelity.classifier_statistics(feats["logits"].float()).items():
            rows.add(metric, value, n, "", label.replace(f"/{info.layer}@", "/logits@"), conversion)


def _inverse(rows: _Rows, run_dir: Path, spec: dict, data: dict, ok: torch.Tensor, too_many: bool, opts: dict) -> None:
    from rwbench.metrics import image_quality as iq

    if "sample" not in data:
        raise ValueError(f"{run_dir}: inverse-task shards lack the float 'sample' tensor")
    x, gt = data["sample"].double(), data["ground_truth"].double()
    n_all = len(x)
    per_image = {"psnr": torch.full((n_all,), NAN, dtype=torch.float64)}
    for key in ("psnr_minmax", "ssim") + (("lpips",) if opts["lpips"] else ()):
        per_image[key] = torch.full((n_all,), NAN, dtype=torch.float64)
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
        per_image["psnr"][ok] = iq.psnr(xs, gts)
        per_image["psnr_minmax"][ok] = iq.psnr_minmax(xs, gts)
        per_image["ssim"][ok] = iq.ssim(xs, gts)
        if metric_lpips is not None:
            per_image["lpips"][ok] = metric_lpips(xs, gts, opts["batch_size"])
    for key, values in per_image.items():
        for metric, value, n in aggregation.summary_rows(key, values.numpy(), n_boot=opts["n_boot"], seed=opts["seed"]):
            rows.add(metric, value, n, "ground_truth", extr[key], conv[key])
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
            for metric, value, n in aggregation.summary_rows(f"{key}_mean_of_samples", fn(means, truths).numpy(),
                                                             n_boot=opts["n_boot"], seed=opts["seed"]):
                rows.add(metric, value, n, "ground_truth", extr[key], conv[key] + f"; mean of <= {spt} samples per target")
    if "exact_mmse" in data and len(targets):
        first = torch.stack([torch.nonzero(data["target"] == t)[0, 0] for t in targets.tolist()])
        mmse, truths = data["exact_mmse"][first].double(), gt[first]
        for metric, value, n in aggregation.summary_rows("psnr_exact_mmse", iq.psnr(mmse, truths).numpy(),
                                                         n_boot=opts["n_boot"], seed=opts["seed"]):
            rows.add(metric, value, n, "ground_truth", "", iq.STANDARD)
    if "exact_draw" in data and spt > 1 and not too_many and len(targets):
        _oracle_posterior(rows, data, ok, targets, opts)
    _write_per_image(run_dir / "metrics-per-image.csv", data, per_image)


ORACLE_METRICS = ("coverage", "coverage_of_exact_draws", "psnr_gap", "energy_distance", "sliced_wasserstein",
                  "mse_mean_vs_mmse")


def _oracle_posterior(rows: _Rows, data: dict, ok: torch.Tensor, targets: torch.Tensor, opts: dict) -> None:
    """Calibration against the exact posterior (oracle runs): per target, the sampler's draws vs the exact draws."""
    from rwbench.posterior_metrics import oracle_quality

    level = 0.9
    per_target = {key: [] for key in ORACLE_METRICS}
    for t in targets.tolist():
        member = ok & (data["target"] == t)
        if int(member.sum()) < 2:
            continue
        first = torch.nonzero(data["target"] == t)[0, 0]
        q = oracle_quality(data["sample"][member].double(), data["ground_truth"][first].double(),
                           data["exact_mmse"][first].double(), data["exact_draw"][data["target"] == t].double(),
                           level=level)
        for key in ORACLE_METRICS:
            per_target[key].append(q[key])
    conv = f"[0, 1] scale; {int(level * 100)} % per-pixel credible intervals of the sampler's draws"
    for key, values in per_target.items():
        if values:
            for metric, value, n in aggregation.summary_rows(key, np.asarray(values, dtype=float),
                                                             n_boot=opts["n_boot"], seed=opts["seed"]):
                rows.add(metric, value, n, "exact_posterior", "", conv)
    rows.add("level", level, len(targets), "exact_posterior", "", conv)


def _write_per_image(path: Path, data: dict, per_image: dict) -> None:
    import pandas as pd

    frame = pd.DataFrame({"index": data["index"].numpy(), "target": data["target"].numpy(),
                          "diverged": data["diverged"].numpy()})
    for key, values in per_image.items():
        frame[key] = values.numpy()
    with atomic_write(path, "w") as handle:
        frame.to_csv(handle, index=False)


def evaluate_run(run_dir: str | Path, reference_cache: str | Path = "results/reference", extractor: str | None = None,
                 extractor_weights: str | None = None, lpips: bool = True, lpips_net: str = "alex",
                 kid_subset_size: int | None = None, kid_subsets: int = 100, prc: bool = True,
                 prc_neighborhood: int = 3, device: str = "cpu", batch_size: int = 64, max_diverged: float = 0.5,
                 allow_download: bool = True, allow_partial: bool = False, n_boot: int = 2000, seed: int = 0,
                 write: bool = True):
    """Compute all metrics of one run; write <run_dir>/metrics.csv atomically; return the rows as a DataFrame."""
    import pandas as pd

    run_dir = Path(run_dir)
    spec, data = load_shards(run_dir, allow_partial)
    rows = _Rows(str(spec.get("run_id") or run_dir.name))
    diverged = data["diverged"]
    n_all = len(diverged)
    frac = float(diverged.double().mean().item()) if n_all else NAN
    too_many = frac > max_diverged
    rows.add("diverged_fraction", frac, n_all)
    if too_many:
        rows.add("diverged", 1.0, n_all, conversion=f"diverged_fraction > {max_diverged}: image metrics are NaN")
    opts = dict(reference_cache=reference_cache, extractor=extractor, extractor_weights=extractor_weights,
                lpips=lpips, lpips_net=lpips_net, kid_subset_size=kid_subset_size, kid_subsets=kid_subsets, prc=prc,
                prc_neighborhood=prc_neighborhood, device=device, batch_size=batch_size,
                allow_download=allow_download, n_boot=n_boot, seed=seed)
    ok = ~diverged
    if "ground_truth" in data:
        _inverse(rows, run_dir, spec, data, ok, too_many, opts)
    else:
        _unconditional(rows, spec, data, ok, too_many, opts)
    frame = pd.DataFrame(rows.rows, columns=COLUMNS)
    if write:
        with atomic_write(run_dir / "metrics.csv", "w") as handle:
            frame.to_csv(handle, index=False)
    return frame
