"""Quality floor of the embedded models: native samplers at full steps, scored by the digits classifier.

`python -m rwbench.tools.bench quality [--config FILE] [--root DIR] [--n N]` prints per model
`model=<name> confident=<share p_max >= 0.9> class_entropy=<nats of the argmax histogram> fid=<samples vs test>
fid_floor=<n train images vs test> nn_ratio=<median NN distance samples->train / test->train>`.
FID is the Frechet distance of the classifier's penultimate features (the digits-cnn extractor's "features").
Samplers: VP DDPM ancestral (1000 steps, variance beta), VE-SDE reverse-diffusion predictor (1000 geometric
levels s_max -> s_min, the last step the noise-free denoising x + s_min^2 s; quality.ve_corrector_snr / --ve-snr adds
score-SDE's Langevin corrector before each predictor step), IADB deterministic (128 uniform steps). Missing
checkpoints under --root are trained first (all together, `embedded.jobs` processes).
"""

from __future__ import annotations

import argparse
import math
import time
from pathlib import Path

import torch

from rwbench.data import from_uint8, to_uint8
from rwbench.core.rng import image_generators, randn_per_image
from rwbench.plan.samplers import TRAINED_FAMILIES

MODELS = TRAINED_FAMILIES


def sample_native(kind: str, denoiser, n: int, steps: int, seed: int = 0, batch_size: int = 500,
                  shape=(1, 16, 16), ve_corrector_snr: float | None = None) -> torch.Tensor:
    """n samples (uint8) of a loaded embedded model with its native sampler; image i uses generator (seed, kind, i)."""
    from rwbench.baselines.ddpm import ddpm_ancestral
    from rwbench.baselines.iadb import iadb_sample
    from rwbench.baselines.score_sde import ve_predictor
    from rwbench.data import family_range
    from rwbench.core.schedules import geometric

    out = []
    for start in range(0, n, batch_size):
        idx = list(range(start, min(n, start + batch_size)))
        gens = image_generators(seed, f"quality-{kind}", idx)
        z = randn_per_image(gens, shape, dtype=torch.float32)
        with torch.no_grad():
            if kind == "vp":
                x = ddpm_ancestral(denoiser.eps_fn, z, denoiser.betas, generators=gens)
            elif kind == "ve":
                sigmas = geometric(steps, denoiser.sigma_min, denoiser.sigma_max)
                x = ve_predictor(denoiser.score_fn, denoiser.sigma_max * z, sigmas, generators=gens,
                                 corrector_snr=ve_corrector_snr)
            elif kind == "iadb":
                x = iadb_sample(denoiser.blend_fn, z, steps)
            else:
                raise ValueError(f"kind: choose one of {', '.join(MODELS)}, got {kind!r}")
        out.append(to_uint8(x, family_range(kind)))
    return torch.cat(out)


def class_stats(logits: torch.Tensor, threshold: float | None = None) -> dict:
    """Confident share (max softmax >= threshold, default the registry's CONFIDENT) and entropy in nats of the
    predicted-class histogram."""
    from rwbench.metrics.fidelity import classifier_statistics

    return classifier_statistics(logits) if threshold is None else classifier_statistics(logits, threshold)


def fid(features_a: torch.Tensor, features_b: torch.Tensor) -> float:
    """FID of features_a against reference features_b through the one FID path (rwbench.metrics.fidelity.set_metrics)."""
    from rwbench.metrics.fidelity import SetMetrics, reference_from_features

    return SetMetrics(features_a, reference_from_features(features_b)).fid()


def nn_distance(queries: torch.Tensor, bank: torch.Tensor) -> torch.Tensor:
    """Euclidean distance of each query image to its nearest image in `bank` (pixels in [0, 1])."""
    q = from_uint8(queries, dtype=torch.float64).reshape(len(queries), -1)
    b = from_uint8(bank, dtype=torch.float64).reshape(len(bank), -1)
    return torch.cdist(q, b).min(dim=1).values


def score_samples(samples: torch.Tensor, classifier, train: torch.Tensor, test: torch.Tensor, seed: int = 0) -> dict:
    """All quality numbers of uint8 samples against the digits train/test splits."""
    with torch.no_grad():
        embed = getattr(classifier, "embedding", classifier.features)   # the digits-cnn extractor's normalised features
        feats = embed(from_uint8(samples))
        logits = classifier(from_uint8(samples))
        test_feats = embed(from_uint8(test))
        g = torch.Generator().manual_seed(seed)
        floor_idx = torch.randperm(len(train), generator=g)[: len(samples)]
        floor_feats = embed(from_uint8(train[floor_idx]))
    stats = class_stats(logits)
    ratio = nn_distance(samples, train).median() / nn_distance(test, train).median()
    return dict(confident=stats["confident_share"], class_entropy=stats["class_entropy"],
                fid=fid(feats, test_feats), fid_floor=fid(floor_feats, test_feats), nn_ratio=float(ratio))


def ensure_trained(embedded: dict, root: Path, kinds) -> None:
    """Train every model of `kinds` (and the classifier) whose folder under `root` has no model.safetensors.

    The missing ones train together in `embedded.jobs` processes (rwbench.training.train_all).
    """
    from rwbench.training import train_all

    missing = [k for k in list(kinds) + ["classifier"] if not (root / k / "model.safetensors").is_file()]
    if missing:
        print(f"training {', '.join(missing)} into {root}", flush=True)
        train_all(embedded, root, kinds=missing)


def main(argv: list[str] | None = None) -> int:
    """Sample each embedded model natively and print one quality line per model."""
    parser = argparse.ArgumentParser(prog="python -m rwbench.tools.bench quality", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", default="config/embedded-default.yaml", help="YAML with an `embedded:` section")
    parser.add_argument("--root", default=None, help="folder with vp/ ve/ iadb/ classifier/ (default: embedded.out_dir)")
    parser.add_argument("--n", type=int, default=None, help="samples per model (default: quality.n_samples)")
    parser.add_argument("--models", default=",".join(MODELS), help="comma-separated subset of vp,ve,iadb")
    parser.add_argument("--ve-snr", type=float, default=None,
                        help="add score-SDE's Langevin corrector to the VE predictor with this snr (default: quality.ve_corrector_snr)")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: quality.threads, else torch's)")
    parser.add_argument("--oracle", action="store_true", help="also score exact samples of <root>/oracle/digits-gmm")
    args = parser.parse_args(argv)

    from rwbench.models.embedded import load_digits_iadb, load_digits_ve, load_digits_vp, load_oracle
    from rwbench.nets.classifier import load_classifier
    from rwbench.training.config import load_embedded_config, resolve_model_config, training_images

    embedded = load_embedded_config(args.config)
    q = dict(dict(n_samples=500, batch_size=500, vp_steps=1000, ve_steps=1000, iadb_steps=128, seed=0),
             **(embedded.get("quality") or {}))
    n = int(args.n or q["n_samples"])
    threads = args.threads if args.threads is not None else q.get("threads")
    if threads:
        torch.set_num_threads(int(threads))
    root = Path(args.root or embedded.get("out_dir") or "results/embedded")
    kinds = [k for k in args.models.split(",") if k]
    bad = [k for k in kinds if k not in MODELS]
    if bad:
        parser.error(f"--models: unknown {', '.join(bad)}; choose from {', '.join(MODELS)}")
    ensure_trained(embedded, root, kinds)
    ds = resolve_model_config(embedded, "classifier")["dataset"]
    train, test = training_images(ds, "train").images, training_images(ds, "test").images
    classifier = load_classifier(root / "classifier")
    print(f"classifier test_accuracy={classifier.test_accuracy:.4f} n={n} reference=test({len(test)}) "
          f"floor=train subset vs test", flush=True)
    loaders = {"vp": load_digits_vp, "ve": load_digits_ve, "iadb": load_digits_iadb}
    steps = {"vp": q["vp_steps"], "ve": q["ve_steps"], "iadb": q["iadb_steps"]}
    rows = []
    if args.oracle:
        oracle = load_oracle("digits", root / "oracle")
        samples = to_uint8(oracle.sample(n, generator=torch.Generator().manual_seed(q["seed"])))
        rows.append(("digits-oracle", samples, 0.0))
    for kind in kinds:
        den = loaders[kind](root / kind)
        t0 = time.perf_counter()
        snr = args.ve_snr if args.ve_snr is not None else q.get("ve_corrector_snr")
        samples = sample_native(kind, den, n, steps[kind], q["seed"], q["batch_size"], tuple(train.shape[1:]), snr)
        rows.append((f"digits-{kind}", samples, time.perf_counter() - t0))
    for name, samples, seconds in rows:
        r = score_samples(samples, classifier, train, test, q["seed"])
        ok = r["confident"] >= 0.8 and r["class_entropy"] >= 0.9 * math.log(10)
        print(f"model={name} confident={r['confident']:.3f} class_entropy={abs(r['class_entropy']):.3f} fid={r['fid']:.3f} "
              f"fid_floor={r['fid_floor']:.3f} nn_ratio={r['nn_ratio']:.3f} sample_seconds={seconds:.1f} "
              f"floor_ok={ok}", flush=True)
    return 0
