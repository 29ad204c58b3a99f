# Helpers shared by the rules: the resolved run grid, paths, what each run needs, and one command builder per rwbench
# command. A builder returns the command's arguments (`*_command`); rwbench_line() turns them into the job's shell
# line, each value through quote() (shlex.quote), so no config string reaches the shell unquoted. The per-run rules
# (sample.smk, evaluate.smk, figures.smk, prepare.smk) and the packed rules (packs.smk) call the same builders.
import os
import re
import shlex
import sys
from pathlib import Path
from types import SimpleNamespace

from rwbench.plan.figures import FIDELITY_FIGURES, PARETO, SCALESPACE, figure_files, plot_files
from rwbench.plan.grid import expand as expand_grid
from rwbench.plan.grid import spec_digest
from rwbench.plan.inputs import missing_inputs
from rwbench.plan.packs import pack_runs
from rwbench.plan.config import defaults as schema_defaults
from rwbench.plan.config import normal_path

# one spelling of every path the jobs' parameters and the run specs carry (normal_path): the same config reached
# through `..` or a symlink, or a folder written `results/./smoke/`, is the same DAG and reruns nothing
config["results_dir"] = normal_path(config["results_dir"], resolve_links=False)
config["reports_dir"] = normal_path(config["reports_dir"], resolve_links=False)
config["embedded_config"] = normal_path(config["embedded_config"])
RESULTS = config["results_dir"]
REPORTS = config["reports_dir"]
CONFIGFILE = normal_path((workflow.overwrite_configfiles or ["config/default.yaml"])[-1])
RUNS = expand_grid(config)
THREADS = int(config["threads"])   # validate() filled in the schema defaults
DEVICE = config["device"]
# `packs: N` (rwbench.plan.packs): runs grouped into about N jobs per stage (workflow/rules/packs.smk); the per-run rules
# then match no run. 0: one job per shard and per run.
PACKS = pack_runs(RUNS, int(config.get("packs") or 0)) if config.get("packs") else []
UNPACKED_RUNS = "(?!)" if PACKS else "[^/]+"


def quote(value) -> str:
    """The one quoting of every value a job's command line carries (paths, names, options from the config)."""
    return shlex.quote(str(value))


# Every job runs the checkout's rwbench (the folder of this Snakefile on PYTHONPATH), so it needs no installed copy:
# under --sdm conda the rules' environment (workflow/envs/rwbench.yaml) holds only the dependencies, which makes it
# buildable from the copy of the file that Snakemake uses. Jobs use the `python` of PATH (or of that environment).
# OMP_NUM_THREADS: the config's `threads` for every job (commands that set torch's threads themselves still do):
# two jobs of torch's default thread count each oversubscribe a 2-core machine, and evaluate sets none
RWBENCH = f"env PYTHONPATH={quote(workflow.basedir)} OMP_NUM_THREADS={int(config['threads'])} python -m rwbench.cli"
CONDA_ENV = "../envs/rwbench.yaml"


def rwbench_line(argv) -> str:
    """The shell line of `rwbench <argv>` (a builder's list), each argument quoted. Rules run it as LOGGED."""
    return " ".join([RWBENCH, *(quote(a) for a in argv)])


# the shell of every rule: the job's command (quoted) as the first line of its log, then everything the command prints
# (stdout and stderr: progress lines, notes) below it; the terminal shows only Snakemake's own lines
LOGGED = "printf '%s\\n' {params.command:q} > {log:q}; {params.command} >> {log:q} 2>&1"


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
    from rwbench.plan.config import load_config

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


def extractor_options():
    """`--extractor NAME [--extractor-weights FILE]` of the commands that compute features."""
    weights = extractor_weights()
    return ["--extractor", metrics_settings()["extractor"], *(["--extractor-weights", weights] if weights else [])]


def reference_name(ref):
    """File-safe name of a reference set (the reference statistics job's wildcard); None for inverse runs."""
    if ref["kind"] == "dataset":
        return f"dataset={ref['dataset']}={ref['split']}={ref['resolution']}"
    if ref["kind"] == "file":
        return "=".join(["file", *ref["path"].split(os.sep)])
    return None


def reference_sets():
    """{name: reference spec} of every reference set the runs are scored against, built once from the runs."""
    sets = {}
    for run_id, spec in RUNS.items():
        name = reference_name(spec["reference"])
        if name is not None and sets.setdefault(name, spec["reference"]) != spec["reference"]:
            raise ValueError(f"run {run_id}: reference sets {sets[name]} and {spec['reference']} share the file "
                             f"name {name!r}; rename one of the files")
    return sets


REFERENCES = reference_sets()
# the reference rule's wildcard matches exactly these names
REFERENCE_NAMES = "|".join(re.escape(name) for name in sorted(REFERENCES)) or "(?!)"


def reference_of(run_id):
    """Name of a run's reference set (a key of REFERENCES), or None (inverse runs)."""
    return reference_name(RUNS[run_id]["reference"])


def reference_record(name):
    """The reference statistics job's record (the statistics themselves are cached beside it)."""
    return f"{RESULTS}/reference/{name}.json"


def reference_input(name):
    """Files a reference set needs (an oracle's exact samples come from `prepare`)."""
    ref = REFERENCES[name]
    return [ref["path"]] if ref["kind"] == "file" else []


def evaluate_inputs(wildcards):
    """Shards, plus the reference statistics marker and extractor weights for unconditional runs."""
    spec = RUNS[wildcards.run_id]
    inputs = {"shards": [f"{run_dir(wildcards.run_id)}/shards/shard-{s}.pt" for s in shard_names(wildcards.run_id)]}
    if spec["task"] == "uncond":
        inputs["reference"] = reference_record(reference_of(wildcards.run_id))
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
              "reference": sorted({reference_record(reference_of(r)) for r in runs})}
    if extractor_weights():
        inputs["weights"] = extractor_weights()
    if any(RUNS[r]["family"] == "oracle" for r in runs):
        inputs["oracle"] = f"{RESULTS}/embedded/oracle/prepare.json"
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


def missing_intermediates():
    """Per-run outputs deleted after what was made from them: sample shards of an evaluated run, a run's metrics.csv
    (or its whole folder) after results/metrics.csv was aggregated, a trajectory run's scale-space tables after the
    scale-space figure was drawn. Snakemake does not rebuild a missing intermediate while the outputs made from it
    exist, so the default target requests them: they are rebuilt (same seeds, same images) and everything downstream
    re-runs because its input is newer."""
    missing = []
    aggregated = os.path.exists(f"{RESULTS}/metrics.csv")
    drawn = os.path.exists(f"{REPORTS}/figures/{SCALESPACE.name}.png")
    for run_id in RUNS:
        if aggregated and not os.path.exists(f"{run_dir(run_id)}/metrics.csv"):
            missing.append(f"{run_dir(run_id)}/metrics.csv")   # its shards follow when they are gone too
        if drawn and RUNS[run_id].get("trajectory_points") and not os.path.exists(f"{run_dir(run_id)}/scalespace.csv"):
            missing.append(f"{run_dir(run_id)}/scalespace.csv")
        if not os.path.exists(f"{run_dir(run_id)}/metrics.csv"):
            continue  # not evaluated yet: the normal DAG builds its shards
        for s in shard_names(run_id):
            outputs = [f"{run_dir(run_id)}/shards/shard-{s}.pt", f"{run_dir(run_id)}/provenance-{s}.json",
                       f"{run_dir(run_id)}/trajectories/shard-{s}.pt"]
            if not all(os.path.exists(p) for p in outputs):
                missing.append(outputs[0])
    shards = [m for m in missing if "/shards/" in m]
    tables = [m for m in missing if "/shards/" not in m]
    for kind, files in (("sample shard(s)", shards), ("run table(s)", tables)):
        if files and workflow.is_main_process:
            print(f"rwbench: {len(files)} deleted {kind} will be rebuilt, e.g. {files[0]}", file=sys.stderr)
    return missing


def all_targets():
    """Targets of the default target: every run's metrics, the aggregated table, the floors, the comparisons, the
    figures and tables, the report's front page, and any sample shard deleted after its run was evaluated
    (missing_intermediates)."""
    targets = [f"{RESULTS}/metrics.csv", f"{RESULTS}/floors.csv", f"{REPORTS}/tables/runs.csv",
               f"{REPORTS}/tables/comparisons.csv", f"{REPORTS}/summary.html"] + missing_intermediates()
    if config.get("claims"):
        targets.append(f"{REPORTS}/claims.csv")
    for study in config.get("studies") or []:
        targets += [f"{REPORTS}/{out}" for out in STUDY_OUTPUTS[study]]
    targets += [f"{REPORTS}/figures/{name}.png" for name in figure_names()]
    if trajectory_runs():
        targets.append(f"{REPORTS}/figures/{SCALESPACE.name}.png")
    if figure_names() or trajectory_runs():   # every file of the figures job: a deleted table or grid is rebuilt too
        targets += sorted({str(f) for f in figures_outputs().values()} - set(targets))
    if config.get("pareto"):
        targets += [f"{REPORTS}/tables/oracle_pareto.csv", f"{REPORTS}/figures/{PARETO.name}.png"]
    if posterior_runs():
        targets += [f"{REPORTS}/tables/posterior_fidelity.csv", f"{REPORTS}/tables/ksd_validation.csv",
                    *plot_files(FIDELITY_FIGURES, f"{REPORTS}/figures").values()]
    return targets


def pareto_specs():
    """Run specs of the experiments the Pareto front gathers (config `pareto.experiments`)."""
    names = set((config.get("pareto") or {}).get("experiments") or [])
    return [s for s in RUNS.values() if s["experiment"] in names]


def pareto_inputs(wildcards):
    """The aggregated metrics and floors, and the shards of the runs the sample grids show (budgets samples_nfe)."""
    shown = set(int(b) for b in config["pareto"]["samples_nfe"])
    shards = []
    for spec in pareto_specs():    # the budget a run was fitted to: the smallest of its experiment's >= its NFE
        fitted = min(int(b) for b in config["experiments"][spec["experiment"]]["nfe"] if int(b) >= int(spec["nfe"]))
        if fitted in shown:
            shards.append(f"{run_dir(spec['run_id'])}/shards/shard-00000.pt")
    return {"metrics": f"{RESULTS}/metrics.csv", "floors": f"{RESULTS}/floors.csv", "shards": shards}


def posterior_runs():
    """Inverse runs with several draws per target (posterior fidelity: fidelity.smk)."""
    return [r for r, s in RUNS.items() if s["task"] != "uncond" and int(s.get("samples_per_target") or 1) > 1]


def scalespace_inputs(wildcards):
    """Trajectory shards and the reference images; with `scalespace.fid_points` also what FID needs (as evaluate)."""
    name = reference_of(wildcards.run_id)
    inputs = {"spec": f"{run_dir(wildcards.run_id)}/spec.json",
              "trajectories": [f"{run_dir(wildcards.run_id)}/trajectories/shard-{s}.pt"
                               for s in shard_names(wildcards.run_id)],
              "reference": reference_input(name) if name else []}
    if (config.get("scalespace") or {}).get("fid_points") and name:
        inputs["statistics"] = reference_record(name)
        if extractor_weights():
            inputs["weights"] = extractor_weights()
    return inputs


def figure_inputs(figure):
    """A figure reads the aggregated metrics, the sample shards of its runs and its auxiliary table."""
    inputs = {"metrics": f"{RESULTS}/metrics.csv"}
    if figure in ("schedules", "equivalence"):
        inputs["table"] = f"{RESULTS}/tables/{figure}.csv"
    inputs["shards"] = [f"{run_dir(r)}/shards/shard-{s}.pt" for r, spec in RUNS.items()
                        if spec["figure"] == figure for s in shard_names(r)]
    return inputs


def figure_outputs(figure, specs=None):
    """Named outputs of one figure: for each file of its row in rwbench.plan.figures (its plot, its sample grids and
    metric panels), the PNG and PDF and, where it has one, its table (CSV, Markdown, HTML for the report), each
    with its caption (workflow/report/<figures|tables>/<key>.rst, written from the row). `specs`: the runs it draws
    (default: those whose `figure` is this one)."""
    out = {}
    specs = [s for s in RUNS.values() if s["figure"] == figure] if specs is None else specs
    for f in figure_files(figure, specs):
        key = f.stem.replace("-", "_")
        out[f"{key}_png"] = report(f"{REPORTS}/figures/{f.stem}.png", caption=f"../report/figures/{f.key}.rst",
                                   category="Figures", subcategory=figure)
        out[f"{key}_pdf"] = f"{REPORTS}/figures/{f.stem}.pdf"
        if f.table:
            out[f"{key}_csv"] = f"{REPORTS}/tables/{f.stem}.csv"
            out[f"{key}_md"] = f"{REPORTS}/tables/{f.stem}.md"
            out[f"{key}_html"] = report(f"{REPORTS}/tables/{f.stem}.html", caption=f"../report/tables/{f.key}.rst",
                                        category="Tables", subcategory=figure)
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
    """Every figure's outputs (figure_outputs), the scale-space figures of the trajectory runs (the table's SCALESPACE
    files) and reports/figures/README.md (every figure with its caption)."""
    out = {}
    for name in figure_names():
        out.update(figure_outputs(name))
    if trajectory_runs():
        out.update(figure_outputs("scalespace", [RUNS[r] for r in trajectory_runs()]))
    out["readme"] = f"{REPORTS}/figures/README.md"
    return out


def claims_input(wildcards):
    """reports/claims.csv (the claims ledger) when some job makes it or it exists: the front page reads it then."""
    path = f"{REPORTS}/claims.csv"
    made = any(path in [str(f) for f in r.output] for r in workflow.rules)
    return [path] if made or os.path.exists(path) else []


# ---- what the packed rules (packs.smk) add: resources of their stage, inputs of their runs ----


def stage_resources(stage, **resources):
    """A packed job's resources: its own, updated by the set-resources (profile or --set-resources) given to the
    per-run job of its stage, so that sample_p03 gets those of `sample`: a profile names stages, not packs (how many
    packs there are depends on the config). Memory and disk given in another unit replace the job's own."""
    given = dict((workflow.resource_settings.overwrite_resources or {}).get(stage) or {})
    size = lambda name: name.split("_")[0] if name.startswith(("mem", "disk")) else name
    for name, value in given.items():
        if name.startswith("_"):
            continue
        for own in [k for k in resources if size(k) == size(name)]:
            del resources[own]
        if hasattr(value, "is_evaluable"):   # a snakemake.resources.Resource (parsed --set-resources)
            value = evaluated_later(value) if value.is_evaluable() else value.value
        resources[name] = value
    return resources


def evaluated_later(resource):
    """A set-resources expression (e.g. `2*threads*1000`) as a resource function of the packed rule."""

    def value(wildcards, input, attempt, threads, rulename, async_run):
        return resource.evaluate(wildcards, input=input, attempt=attempt, threads=threads, rulename=rulename,
                                 async_run=async_run).value

    return value


def pack_checkpoints(runs):
    """Union of the checkpoint inputs of a pack's runs."""
    files = set()
    for run_id in runs:
        files.update(checkpoint_inputs(SimpleNamespace(run_id=run_id)).values())
    return sorted(files)


def pack_inputs(function, runs):
    """Union of an input function's files over a pack's runs."""
    files = set()
    for run_id in runs:
        for value in function(SimpleNamespace(run_id=run_id)).values():
            files.update([value] if isinstance(value, str) else value)
    return sorted(files)


# ---- command builders: one per rwbench command the DAG runs, each a list of arguments (rwbench_line quotes them) ----


def options(section, keys=None):
    """`--<key> <value>` of a config section's options (underscores as dashes), in the section's order."""
    values = config.get(section) or {}
    out = []
    for key, value in values.items():
        if keys is None or key in keys:
            out += [f"--{key.replace('_', '-')}", value]
    return out


def prepare_command():
    """`rwbench prepare`: embedded data and the fitted oracles."""
    return ["prepare", "--config", EMBEDDED_CONFIG, "--out", f"{RESULTS}/embedded/oracle"]


def train_command(kind):
    """`rwbench train` of one embedded model (vp, ve, iadb) or the digits classifier."""
    return ["train", "--config", EMBEDDED_CONFIG, "--model", kind, "--out", f"{RESULTS}/embedded/{kind}"]


def plan_command(run_id):
    """`rwbench plan` of one run: its spec.json."""
    return ["plan", "--config", CONFIGFILE, "--results-dir", RESULTS, "--run", run_id,
            "--out", f"{run_dir(run_id)}/spec.json"]


def sample_command(run_id, shard, threads=THREADS):
    """`rwbench sample` of one shard of a run (its samples, provenance and trajectories)."""
    d = run_dir(run_id)
    return ["sample", "--spec", f"{d}/spec.json", "--shard", int(shard), "--out", f"{d}/shards/shard-{shard}.pt",
            "--provenance", f"{d}/provenance-{shard}.json", "--trajectory", f"{d}/trajectories/shard-{shard}.pt",
            "--device", DEVICE, "--threads", threads]


def reference_command(name):
    """`rwbench reference` of one reference set (REFERENCES[name]): its feature statistics and record."""
    ref = REFERENCES[name]
    if ref["kind"] == "dataset":
        source = ["--dataset", ref["dataset"], "--split", ref["split"], "--resolution", ref["resolution"]]
    else:
        source = ["--file", ref["path"]]
    return ["reference", *source, *extractor_options(), "--reference-cache", f"{RESULTS}/reference",
            "--device", DEVICE, "--record", reference_record(name)]


def evaluate_command(run_id):
    """`rwbench evaluate` of one run with the `metrics:` options."""
    m = metrics_settings()
    return ["evaluate", "--run", run_dir(run_id), "--reference-cache", f"{RESULTS}/reference", *extractor_options(),
            "--n-boot", m["n_boot"], *(["--lpips", "--lpips-net", m["lpips_net"]] if m["lpips"] else ["--no-lpips"]),
            "--device", DEVICE]


def scalespace_command(run_id):
    """`rwbench scalespace` of one trajectory run: the `scalespace:` options, and the extractor when FID is asked."""
    fid = (config.get("scalespace") or {}).get("fid_points")
    features = [*extractor_options(), "--reference-cache", f"{RESULTS}/reference"] if fid else []
    return ["scalespace", "--run", run_dir(run_id), *options("scalespace"), *features, "--device", DEVICE]


def floors_command():
    """`rwbench floors` of the unconditional runs: the extractor and the `floors:` options (draws, seed)."""
    specs = [a for r in uncond_runs() for a in ("--spec", f"{run_dir(r)}/spec.json")]
    return ["floors", *specs, "--reference-cache", f"{RESULTS}/reference", *extractor_options(), *options("floors"),
            "--device", DEVICE, "--out", f"{RESULTS}/floors.csv", "--html", f"{REPORTS}/tables/floors.html"]


def aggregate_command():
    """`rwbench aggregate` of every run's metrics."""
    return ["aggregate", *(a for r in RUNS for a in ("--run", run_dir(r))), "--out", f"{RESULTS}/metrics.csv"]


def schedules_command():
    """`rwbench schedules` of the `schedules_table:` section."""
    table = config.get("schedules_table") or {}
    ladders = ["--schedules", ",".join(table["schedules"])] if "schedules" in table else []
    return ["schedules", *ladders, *options("schedules_table", ("steps", "sigma_min", "sigma_max", "c", "T0", "TK")),
            "--out", f"{RESULTS}/tables/schedules.csv"]


def equivalence_command():
    """`rwbench equivalence` of the `equivalence:` section."""
    return ["equivalence", *options("equivalence"), "--out", f"{RESULTS}/tables/equivalence.csv"]


def figures_command(names, tables=True):
    """`rwbench figures --only <names>` (the pseudo figure `runs` is the runs table and the report's front page)."""
    tables_dir = ["--tables-dir", f"{RESULTS}/tables"] if tables else []
    return ["figures", "--only", ",".join(names), "--metrics", f"{RESULTS}/metrics.csv",
            "--runs-dir", f"{RESULTS}/runs", *tables_dir, "--out", REPORTS]


def scalespace_figure_command():
    """`rwbench scalespace --figure`: the scale-space figure and table of every trajectory run."""
    return ["scalespace", "--figure", "--runs-dir", f"{RESULTS}/runs", "--out", REPORTS]


def compare_command():
    """`rwbench compare`: paired differences, intervals and decisions of the comparisons the figures make."""
    return ["compare", "--config", CONFIGFILE, "--runs-dir", f"{RESULTS}/runs", "--out", REPORTS,
            "--reference-cache", f"{RESULTS}/reference", "--extractor", metrics_settings()["extractor"]]


def claims_command():
    """`rwbench claims`: the claims ledger of the config's declared claims."""
    return ["claims", "--config", CONFIGFILE, "--runs-dir", f"{RESULTS}/runs", "--out", REPORTS,
            "--reference-cache", f"{RESULTS}/reference", "--extractor", metrics_settings()["extractor"]]


def pareto_command():
    """`rwbench pareto`: the oracle Pareto front's table and figures."""
    return ["pareto", "--config", CONFIGFILE, "--metrics", f"{RESULTS}/metrics.csv", "--floors",
            f"{RESULTS}/floors.csv", "--runs-dir", f"{RESULTS}/runs", "--out", REPORTS]


def fidelity_command():
    """`rwbench fidelity`: the posterior-fidelity table, the score-KSD validation and their figures."""
    return ["fidelity", "--runs", f"{RESULTS}/runs", "--out", REPORTS]


# what each study writes under reports/ (its rule's outputs and the paths its command passes)
STUDY_OUTPUTS = {"walk-variance": ["tables/walk_variance.csv", "figures/walk-variance.png"],
                 "coupling": ["tables/coupling.csv"]}


def study_command(study):
    """`rwbench study <study>`: one oracle study (config `studies:`) on the prepared digits oracle, writing the files
    of STUDY_OUTPUTS."""
    oracle = f"{RESULTS}/embedded/oracle"
    out = [f"{REPORTS}/{path}" for path in STUDY_OUTPUTS[study]]
    if study == "walk-variance":
        return ["study", study, "--oracle-dir", oracle, "--config", CONFIGFILE, "--out-csv", out[0], "--out-fig", out[1]]
    return ["study", study, "--oracle-dir", oracle, "--out", out[0]]


def batch_command(commands):
    """`rwbench batch`: several commands in one process, each one argument (split back with shlex by rwbench)."""
    return ["batch", *(" ".join(quote(a) for a in argv) for argv in commands)]


def cells_batch_command(entries, log):
    """A pack's `rwbench batch --cells`: entries are (run_id, command, its declared outputs, passed relative to the
    run folder to keep the argument short). A failing command of a
    run is recorded in the run's FAILED-<command>.json and leaves placeholders, and the others run on
    (rwbench.plan.failures; the end of snakemake names the failed runs: failures.smk)."""
    import json

    cells = [{"run": run_dir(r), "outputs": [os.path.relpath(f, run_dir(r)) for f in outputs]}
             for r, _, outputs in entries]
    return ["batch", "--log", log, "--cells", json.dumps(cells), *(" ".join(quote(a) for a in argv)
                                                                   for _, argv, _ in entries)]


def figures_job_command():
    """The figures job: `figures --only <every figure>` and, with trajectories, `scalespace --figure`."""
    return batch_command(([figures_command(figure_names())] if figure_names() else [])
                         + ([scalespace_figure_command()] if trajectory_runs() else []))


def compare_job_command():
    """The compare job: the comparisons, then the runs table."""
    return batch_command([compare_command(), figures_command(["runs"], tables=False)])


def summary_command():
    """`rwbench figures --only summary`: the report's front page (claims ledger, figures, diverged runs, tables)."""
    return figures_command(["summary"], tables=False)
