"""Settings of the embedded models: defaults of the networks, objectives and training, resolved per model from a
config's `embedded:` section (defaults <- embedded.train/net <- models.<kind>), and the training data."""

from __future__ import annotations

import copy
from pathlib import Path

from rwbench.data import family_range, load_dataset
from rwbench.plan.samplers import TRAINED_FAMILIES

KINDS = TRAINED_FAMILIES + ("classifier",)     # what `rwbench train` trains: the network families and the classifier
FAMILY = {kind: kind for kind in TRAINED_FAMILIES}
TRAIN_DEFAULTS = dict(steps=1000, batch_size=64, lr=2e-3, adam_betas=[0.9, 0.999], warmup=50, min_lr_ratio=0.05,
                      ema_decay=0.995, grad_clip=1.0, checkpoint_every=250, seed=0, threads=2)
NET_DEFAULTS = dict(base_channels=32, channel_mult=[1, 2, 4], num_res_blocks=1, patch_size=2, emb_dim=128,
                    attention=True, heads=4, groups=8)
OBJECTIVE_DEFAULTS = {
    "vp": dict(T=1000, beta_min=1e-4, beta_max=0.02, cond_scale=1.0, parameterization="eps", sigma_data=0.5),
    "ve": dict(sigma_min=0.01, sigma_max="auto", sigma_data=0.5, input_scaling=True, cond_scale=100.0,
               parameterization="eps"),
    "iadb": dict(cond_scale=1000.0, parameterization="direct", sigma_data=0.5),
}
CLASSIFIER_DEFAULTS = dict(steps=600, batch_size=128, lr=2e-3, warmup=20, min_lr_ratio=0.05, width=32,
                           feature_dim=128, shift=1, seed=0, threads=2, checkpoint_every=0)


def load_embedded_config(path) -> dict:
    """The `embedded:` section of a YAML config file (the whole file if it has no such section)."""
    from rwbench.plan.config import read_yaml

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: config file not found; pass --config config/embedded-default.yaml")
    data = read_yaml(path) or {}
    section = data.get("embedded", data)
    if not isinstance(section, dict):
        raise ValueError(f"{path}: the `embedded:` section must be a mapping")
    return section


def _merge(base: dict, *overrides) -> dict:
    out = copy.deepcopy(base)
    for o in overrides:
        for k, v in (o or {}).items():
            out[k] = v
    return out


def resolve_model_config(embedded: dict, kind: str) -> dict:
    """Full settings of one model: dataset, net, train, objective (defaults <- embedded.train/net <- models.<kind>)."""
    if kind not in KINDS:
        raise ValueError(f"--model: choose one of {', '.join(KINDS)}, got {kind!r}")
    dataset = _merge(dict(name="digits", resolution=16, test_fraction=0.2, split_seed=0), embedded.get("dataset"))
    if kind == "classifier":
        return dict(kind=kind, dataset=dataset, train=_merge(CLASSIFIER_DEFAULTS, embedded.get("classifier")))
    spec = embedded.get("models", {}).get(kind) or {}
    return dict(kind=kind, family=FAMILY[kind], data_range=list(family_range(FAMILY[kind])), dataset=dataset,
                net=_merge(NET_DEFAULTS, embedded.get("net"), spec.get("net")),
                train=_merge(TRAIN_DEFAULTS, embedded.get("train"), spec.get("train")),
                objective=_merge(OBJECTIVE_DEFAULTS[kind], spec.get("objective")))


def training_images(dataset: dict, split: str = "train"):
    """The dataset split used for training (uint8 images and labels)."""
    return load_dataset(dataset["name"], split, dataset["resolution"], seed=dataset["split_seed"],
                        test_fraction=dataset["test_fraction"])
