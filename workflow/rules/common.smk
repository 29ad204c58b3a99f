# Helpers shared by the rules: the resolved run grid, paths, and what each run needs.
import json

from rwbench.grid import expand as expand_grid
from rwbench.grid import spec_digest

RESULTS = config["results_dir"]
REPORTS = config["reports_dir"]
CONFIGFILE = str((workflow.overwrite_configfiles or ["config/default.yaml"])[-1])
RUNS = expand_grid(config)
THREADS = int(config.get("threads", 1))
DEVICE = config.get("device", "cpu")
EMBEDDED_KINDS = ("vp", "ve", "iadb")


wildcard_constraints:
    run_id="[^/]+",
    shard=r"\d{5}",
    kind="vp|ve|iadb|classifier",
    reference="[A-Za-z0-9_.=-]+",
    figure="[a-z-]+",


def run_dir(run_id):
    """results/runs/<run_id>."""
    return f"{RESULTS}/runs/{run_id}"


def shard_names(run_id):
    """Zero-padded shard numbers of a run."""
    return [f"{i:05d}" for i in range(RUNS[run_id]["n_shards"])]


def checkpoint_inputs(wildcards):
    """Files a run's model needs: a trained embedded network, the fitted oracles, or nothing (external checkpoint)."""
    spec = RUNS[wildcards.run_id]
    ckpt = spec.get("checkpoint") or ""
    if ckpt.startswith(f"{RESULTS}/embedded/"):
        kind = ckpt.rstrip("/").split("/")[-1]
        if kind == "oracle":
            return {"oracle": f"{RESULTS}/embedded/oracle/prepare.json"}
        return {"model": f"{RESULTS}/embedded/{kind}/model.safetensors"}
    return {}


def spec_param(wildcards):
    """Digest of a run's resolved spec: a changed spec re-runs that run's jobs (and only those)."""
    return spec_digest(RUNS[wildcards.run_id])


EMBEDDED_CONFIG = config["embedded_config"]


def embedded_digest():
    """Digest of the embedded config's `embedded:` section (prepare and training re-run when it changes)."""
    from rwbench.grid import load_config

    return spec_digest(load_config(EMBEDDED_CONFIG).get("embedded") or {})


def classifier_weights():
    """The digits classifier the digits-cnn extractor uses."""
    return f"{RESULTS}/embedded/classifier/model.safetensors"


def metrics_settings():
    """Resolved `metrics:` options."""
    return dict(
        {"extractor": "digits-cnn", "extractor_weights": None, "lpips": False, "lpips_net": "alex",
         "kid_subset_size": None, "n_boot": 2000},
        **(config.get("metrics") or {}),
    )


def extractor_weights():
    """Weights file of the feature extractor (the trained classifier for digits-cnn; else the config's path)."""
    m = metrics_settings()
    if m["extractor"] == "digits-cnn":
        return m["extractor_weights"] or classifier_weights()
    return m["extractor_weights"]


def reference_name(spec):
    """File-safe name of a run's reference set for the statistics cache rule."""
    ref = spec["reference"]
    if ref["kind"] == "dataset":
        return f"dataset={ref['dataset']}={ref['split']}={ref['resolution']}"
    if ref["kind"] == "file":
        return "file=" + ref["path"].replace("/", "=")
    return None


def reference_args(name):
    """`rwbench reference` arguments of a reference name."""
    kind, *rest = name.split("=")
    if kind == "dataset":
        return f"--dataset {rest[0]} --split {rest[1]} --resolution {rest[2]}"
    return "--file " + "/".join(rest)


def reference_input(name):
    """Files a reference set needs (an oracle's exact samples come from `prepare`)."""
    kind, *rest = name.split("=")
    return ["/".join(rest)] if kind == "file" else []


def evaluate_inputs(wildcards):
    """Shards, plus the reference statistics marker and extractor weights for unconditional runs."""
    spec = RUNS[wildcards.run_id]
    inputs = {"shards": [f"{run_dir(wildcards.run_id)}/shards/shard-{s}.pt" for s in shard_names(wildcards.run_id)]}
    if spec["task"] == "uncond":
        inputs["reference"] = f"{RESULTS}/reference/{reference_name(spec)}.json"
        weights = extractor_weights()
        if weights:
            inputs["weights"] = weights
    return inputs


def trajectory_runs():
    """Runs that record trajectories (scale-space diagnostics)."""
    return [r for r, s in RUNS.items() if s.get("trajectory_points")]


def figure_names():
    """Figures this config feeds: every experiment's `figure`, plus schedules and equivalence tables."""
    names = {s["figure"] for s in RUNS.values() if s["figure"] != "none"}
    if config.get("schedules_table"):
        names.add("schedules")
    if config.get("equivalence"):
        names.add("equivalence")
    return sorted(names)


def all_targets():
    """rule all: every run's metrics, the aggregated table, the figures and tables."""
    targets = [f"{RESULTS}/metrics.csv"]
    targets += [f"{REPORTS}/figures/{name}.png" for name in figure_names()]
    if trajectory_runs():
        targets.append(f"{REPORTS}/figures/scalespace.png")
    return targets
