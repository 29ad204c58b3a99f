# Helpers shared by the rules: the resolved run grid, paths, and what each run needs.
import os
import shlex
import sys
from types import SimpleNamespace

from rwbench.grid import expand as expand_grid
from rwbench.grid import spec_digest
from rwbench.inputs import missing_inputs
from rwbench.packs import pack_runs
from rwbench.config import defaults as schema_defaults

RESULTS = config["results_dir"]
REPORTS = config["reports_dir"]
CONFIGFILE = str((workflow.overwrite_configfiles or ["config/default.yaml"])[-1])
RUNS = expand_grid(config)
THREADS = int(config["threads"])   # validate() filled in the schema defaults
DEVICE = config["device"]
EMBEDDED_KINDS = ("vp", "ve", "iadb")
# `packs: N` (rwbench.packs): runs grouped into about N jobs per stage (workflow/rules/packs.smk); the per-run rules
# then match no run. 0: one job per shard and per run.
PACKS = pack_runs(RUNS, int(config.get("packs") or 0)) if config.get("packs") else []
UNPACKED_RUNS = "(?!)" if PACKS else "[^/]+"
# Every job runs the checkout's rwbench (the folder of this Snakefile on PYTHONPATH), so it needs no installed copy:
# under --sdm conda the rules' environment (workflow/envs/rwbench.yaml) holds only the dependencies, which makes it
# buildable from the copy of the file that Snakemake uses. Jobs use the `python` of PATH (or of that environment).
RWBENCH = f"env PYTHONPATH={shlex.quote(str(workflow.basedir))} python -m rwbench.cli"
CONDA_ENV = "../envs/rwbench.yaml"


def report_missing_inputs():
    """Before any job runs: one warning listing the external inputs (images, checkpoints) the runs need but lack."""
    missing = missing_inputs(RUNS, RESULTS)
    if missing and workflow.is_main_process:
        lines = "\n".join(f"  - {m}" for m in missing)
        print(f"rwbench: {CONFIGFILE} needs inputs that are missing; jobs using them will fail "
              f"(`rwbench info` says where to get them):\n{lines}", file=sys.stderr)
    return missing


MISSING_INPUTS = report_missing_inputs()


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
        kind = Path(ckpt).name
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
    from rwbench.config import load_config

    return spec_digest(load_config(EMBEDDED_CONFIG).get("embedded") or {})


def classifier_weights():
    """The digits classifier the digits-cnn extractor uses."""
    return f"{RESULTS}/embedded/classifier/model.safetensors"


def metrics_settings():
    """Resolved `metrics:` options."""
    return dict(schema_defaults("metrics"), **(config.get("metrics") or {}))


def extractor_weights():
    """Weights file of the feature extractor (the trained classifier for digits-cnn; else the config's path)."""
    m = metrics_settings()
    if m["extractor"] == "digits-cnn":
        return m["extractor_weights"] or classifier_weights()
    return m["extractor_weights"]


def reference_name(spec):
    """File-safe name of a run's reference set for the reference-statistics jobs."""
    ref = spec["reference"]
    if ref["kind"] == "dataset":
        return f"dataset={ref['dataset']}={ref['split']}={ref['resolution']}"
    if ref["kind"] == "file":
        return "=".join(["file", *ref["path"].split(os.sep)])
    return None


def reference_args(name):
    """`rwbench reference` arguments of a reference name."""
    kind, *rest = name.split("=")
    if kind == "dataset":
        return f"--dataset {rest[0]} --split {rest[1]} --resolution {rest[2]}"
    return f"--file {os.sep.join(rest)}"


def reference_input(name):
    """Files a reference set needs (an oracle's exact samples come from `prepare`)."""
    kind, *rest = name.split("=")
    return [os.sep.join(rest)] if kind == "file" else []


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


def uncond_runs():
    """Runs scored against a reference set (their (reference, n) pairs get floors)."""
    return [r for r, s in RUNS.items() if s["task"] == "uncond"]


def floors_inputs(wildcards):
    """Specs and reference statistics of the unconditional runs, the extractor weights and the fitted oracles."""
    runs = uncond_runs()
    inputs = {"specs": [f"{run_dir(r)}/spec.json" for r in runs],
              "reference": sorted({f"{RESULTS}/reference/{reference_name(RUNS[r])}.json" for r in runs})}
    if extractor_weights():
        inputs["weights"] = extractor_weights()
    if any(RUNS[r]["family"] == "oracle" for r in runs):
        inputs["oracle"] = f"{RESULTS}/embedded/oracle/prepare.json"
    return inputs


def floors_options():
    """`rwbench floors` options: the metrics extractor and the `floors:` section (draws, seed)."""
    opts = [f"--extractor {metrics_settings()['extractor']}"]
    if extractor_weights():
        opts.append(f"--extractor-weights {extractor_weights()}")
    opts += [f"--{k} {v}" for k, v in (config.get("floors") or {}).items()]
    return " ".join(opts)


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


def missing_intermediates():
    """Sample outputs deleted after their run was evaluated. Snakemake does not rebuild a missing intermediate while
    the outputs made from it exist, so the default target requests them: they are resampled (same seeds, same
    images) and everything downstream re-runs because its input is newer."""
    missing = []
    for run_id in RUNS:
        if not os.path.exists(f"{run_dir(run_id)}/metrics.csv"):
            continue  # not evaluated yet: the normal DAG builds its shards
        for s in shard_names(run_id):
            outputs = [f"{run_dir(run_id)}/shards/shard-{s}.pt", f"{run_dir(run_id)}/provenance-{s}.json",
                       f"{run_dir(run_id)}/trajectories/shard-{s}.pt"]
            if not all(os.path.exists(p) for p in outputs):
                missing.append(outputs[0])
    if missing and workflow.is_main_process:
        print(f"rwbench: {len(missing)} deleted sample shard(s) will be rebuilt, e.g. {missing[0]}", file=sys.stderr)
    return missing


def all_targets():
    """Targets of the default target: every run's metrics, the aggregated table, the floors, the comparisons, the figures
    and tables, and any sample shard deleted after its run was evaluated (missing_intermediates)."""
    targets = [f"{RESULTS}/metrics.csv", f"{RESULTS}/floors.csv", f"{REPORTS}/tables/runs.csv",
               f"{REPORTS}/tables/comparisons.csv"] + missing_intermediates()
    targets += [f"{REPORTS}/figures/{name}.png" for name in figure_names()]
    if trajectory_runs():
        targets.append(f"{REPORTS}/figures/scalespace.png")
    return targets


def scalespace_inputs(wildcards):
    """Trajectory shards and the reference images; with `scalespace.fid_points` also what FID needs (as evaluate)."""
    spec = RUNS[wildcards.run_id]
    name = reference_name(spec) or "dataset"
    inputs = {"spec": f"{run_dir(wildcards.run_id)}/spec.json",
              "trajectories": [f"{run_dir(wildcards.run_id)}/trajectories/shard-{s}.pt"
                               for s in shard_names(wildcards.run_id)],
              "reference": reference_input(name)}
    if (config.get("scalespace") or {}).get("fid_points") and reference_name(spec):
        inputs["statistics"] = f"{RESULTS}/reference/{reference_name(spec)}.json"
        if extractor_weights():
            inputs["weights"] = extractor_weights()
    return inputs


def scalespace_options():
    """`rwbench scalespace` options: the `scalespace:` section, plus the metrics extractor when FID is asked for."""
    options = dict(config.get("scalespace") or {})
    opts = [f"--{k.replace('_', '-')} {v}" for k, v in options.items()]
    if options.get("fid_points"):
        opts += [f"--extractor {metrics_settings()['extractor']}", f"--reference-cache {RESULTS}/reference"]
        if extractor_weights():
            opts.append(f"--extractor-weights {extractor_weights()}")
    return " ".join(opts)


def evaluate_options():
    """`rwbench evaluate` options from the `metrics:` section."""
    m = metrics_settings()
    opts = [f"--extractor {m['extractor']}", f"--n-boot {m['n_boot']}"]
    if extractor_weights():
        opts.append(f"--extractor-weights {extractor_weights()}")
    opts.append(f"--lpips --lpips-net {m['lpips_net']}" if m["lpips"] else "--no-lpips")
    return " ".join(opts)


def schedules_table_options():
    """`rwbench schedules` options from the `schedules_table:` section."""
    t = config.get("schedules_table") or {}
    opts = [f"--schedules {','.join(t['schedules'])}"] if "schedules" in t else []
    for key in ("steps", "sigma_min", "sigma_max", "c", "T0", "TK"):
        if key in t:
            opts.append(f"--{key.replace('_', '-')} {t[key]}")
    return " ".join(opts)


def equivalence_options():
    """`rwbench equivalence` options from the `equivalence:` section."""
    e = config.get("equivalence") or {}
    return " ".join(f"--{k.replace('_', '-')} {v}" for k, v in e.items())


def figure_inputs(figure):
    """A figure reads the aggregated metrics, the sample shards of its runs and its auxiliary table."""
    inputs = {"metrics": f"{RESULTS}/metrics.csv"}
    if figure in ("schedules", "equivalence"):
        inputs["table"] = f"{RESULTS}/tables/{figure}.csv"
    inputs["shards"] = [f"{run_dir(r)}/shards/shard-{s}.pt" for r, spec in RUNS.items()
                        if spec["figure"] == figure for s in shard_names(r)]
    return inputs


def figure_extras(figure):
    """Sample-grid figures (the paper's Figs. 2, 3, 5 kind) and metric panels a figure module writes besides
    <figure>.png: {stem: has a table}. Known from the runs, so they are declared outputs and in the report."""
    runs = [s for s in RUNS.values() if s["figure"] == figure]
    if figure == "schedules" and runs:
        return {"schedules-samples": True}
    if figure == "temperature" and runs:
        return {"temperature-samples": False}
    if figure == "ve-vs-vp" and runs:
        return {"ve-vs-vp-metrics": False}
    if figure == "inverse":
        return {f"inverse-{t}": True for t in sorted({s["task"] for s in runs if s["task"] != "uncond"})}
    if figure == "calibration" and runs:
        return {"calibration-grid": False}     # the inverse grid of the calibration runs (rwbench.figures.inverse_grid)
    return {}


def report_caption(kind, stem):
    """workflow/report/<kind>/<stem>.rst (one caption per figure and table, saying what to look for)."""
    name = "inverse-task" if stem.startswith("inverse-") else stem
    return f"../report/{kind}/{name}.rst"


def figure_outputs(figure):
    """Named outputs of one figure rule: plot, table (CSV, Markdown, HTML for the report) and its sample grids."""
    out = {}
    stems = {figure: True, **figure_extras(figure)}
    for stem, has_table in stems.items():
        key = stem.replace("-", "_")
        subcategory = figure
        out[f"{key}_png"] = report(f"{REPORTS}/figures/{stem}.png", caption=report_caption("figures", stem),
                                   category="Figures", subcategory=subcategory)
        out[f"{key}_pdf"] = f"{REPORTS}/figures/{stem}.pdf"
        if has_table:
            out[f"{key}_csv"] = f"{REPORTS}/tables/{stem}.csv"
            out[f"{key}_md"] = f"{REPORTS}/tables/{stem}.md"
            out[f"{key}_html"] = report(f"{REPORTS}/tables/{stem}.html", caption=report_caption("tables", stem),
                                        category="Tables", subcategory=subcategory)
    return out


def figures_inputs(wildcards):
    """Union of every figure's inputs (figure_inputs) and the scale-space tables of the trajectory runs."""
    inputs = {"metrics": f"{RESULTS}/metrics.csv", "tables": [], "shards": [],
              "scalespace": [f"{run_dir(r)}/scalespace.csv" for r in trajectory_runs()]}
    for name in figure_names():
        got = figure_inputs(name)
        inputs["tables"] += [got["table"]] if "table" in got else []
        inputs["shards"] += got["shards"]
    return inputs


def figures_outputs():
    """Every figure's outputs (figure_outputs), and the scale-space figure and table when trajectories are recorded."""
    out = {}
    for name in figure_names():
        out.update(figure_outputs(name))
    if trajectory_runs():
        out.update(
            scalespace_png=report(f"{REPORTS}/figures/scalespace.png", caption="../report/figures/scalespace.rst",
                                  category="Figures", subcategory="scalespace"),
            scalespace_pdf=f"{REPORTS}/figures/scalespace.pdf",
            scalespace_csv=f"{REPORTS}/tables/scalespace.csv",
            scalespace_md=f"{REPORTS}/tables/scalespace.md",
            scalespace_html=report(f"{REPORTS}/tables/scalespace.html", caption="../report/tables/scalespace.rst",
                                   category="Tables", subcategory="scalespace"))
    return out


def figures_command():
    """`rwbench batch` of `figures --only <every figure>` and, with trajectories, `scalespace --figure`."""
    commands = []
    if figure_names():
        commands.append(f"figures --only {','.join(figure_names())} --metrics {RESULTS}/metrics.csv "
                        f"--runs-dir {RESULTS}/runs --tables-dir {RESULTS}/tables --out {REPORTS}")
    if trajectory_runs():
        commands.append(f"scalespace --figure --runs-dir {RESULTS}/runs --out {REPORTS}")
    return f"{RWBENCH} batch " + " ".join(shlex.quote(c) for c in commands)
