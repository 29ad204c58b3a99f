"""The Snakemake DAG: lint, grid expansion of every shipped config, the smoke DAG end to end (and resuming it),
and the SLURM profile against a local single-node SLURM (started by .ci/run or .ci/slurm-up.sh)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import torch

ROOT = Path(__file__).resolve().parent.parent


def snakemake(*args, timeout=1200, check=True):
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}", RWBENCH_NO_PROGRESS="1")
    res = subprocess.run([sys.executable, "-m", "snakemake", *args], cwd=ROOT, env=env, capture_output=True, text=True,
                         timeout=timeout)
    if check and res.returncode != 0:
        raise AssertionError(f"snakemake {' '.join(args)} failed:\n{res.stdout[-4000:]}\n{res.stderr[-4000:]}")
    return res


def test_lint_is_clean():
    res = snakemake("--lint")
    assert "Congratulations" in res.stdout + res.stderr


@pytest.mark.parametrize("configfile", ["config/default.yaml", "config/smoke.yaml", "config/ffhq.yaml",
                                        "config/solvers.yaml"])
def test_every_config_validates_and_expands(configfile, tmp_path):
    res = snakemake("-n", "--configfile", configfile, "--config", f"results_dir={tmp_path}/r", f"reports_dir={tmp_path}/p")
    out = res.stdout
    for rule in ("plan", "sample", "evaluate", "aggregate", "figures", "compare"):   # one job for all the figures
        assert re.search(rf"\n{rule}(_p\d+)? ", out), f"{configfile}: no {rule} jobs"   # packed: sample_p00, ...


def test_bad_config_fails_with_the_schema_message(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text((ROOT / "config/smoke.yaml").read_text().replace("shard_size: 4", "shard_size: 0"))
    res = snakemake("-n", "--configfile", str(bad), check=False)
    assert res.returncode != 0 and "shard_size" in res.stdout + res.stderr


@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
    """Run the smoke DAG once into a temporary results folder."""
    base = tmp_path_factory.mktemp("smoke")
    cfg = ("--configfile", "config/smoke.yaml", "--config", f"results_dir={base}/results", f"reports_dir={base}/reports")
    snakemake("--cores", "2", *cfg)
    return base, cfg


def test_smoke_dag_builds_metrics_figures_and_provenance(smoke):
    base, _ = smoke
    table = pd.read_csv(base / "results/metrics.csv")
    runs = sorted(p.name for p in (base / "results/runs").iterdir())
    assert sorted(table["run_id"].unique()) == runs and len(runs) == 23      # temperature: 2 cells x 3 seeds
    comparisons = pd.read_csv(base / "reports/tables/comparisons.csv")
    assert {"difference", "ci_lo", "ci_hi", "decision"} <= set(comparisons.columns) and len(comparisons) > 0
    assert set(comparisons["kind"]) == {"difference", "equivalence", "calibration"}
    calibration = comparisons[comparisons["kind"] == "calibration"]     # each oracle inverse cell vs N exact draws
    assert calibration["b"].str.contains("exact draws").all() and calibration["experiment"].isin(["calibration", "inverse"]).all()
    assert any("eta=0.05" in r for r in runs) and any("step_scale=2" in r for r in runs)   # the eta and step_scale axes
    for metric in ("fid", "kid_mean", "confident_share", "psnr", "coverage", "diverged_fraction"):
        assert metric in set(table["metric"]), metric
    assert {"params_c", "sampler", "schedule", "nfe", "task"} <= set(table.columns)
    assert {"unit", "se", "ci_lo", "ci_hi", "n_ref"} <= set(table.columns)
    fid = table[table["metric"] == "fid"]
    scored = fid["value"].notna()           # a cell with fewer than 2 non-diverged images has no FID (the smoke VP
    assert scored.sum() >= len(fid) - 1     # model at K = 10 on the geometric ladder blows up in 3 of its 4 images)
    assert fid.loc[scored, "se"].gt(0).all() and (fid.loc[scored, "ci_lo"] <= fid.loc[scored, "ci_hi"]).all()
    assert {"energy_distance", "occupancy_tv", "logp_gap"} <= set(table["metric"])      # oracle cells: exact metrics
    floors = pd.read_csv(base / "results/floors.csv")
    assert floors["draws"].ge(10).all() and {"fid", "kid_mean", "energy_distance"} <= set(floors["metric"])
    assert set(floors["source"]) == {"real:digits/test", "exact:digits-oracle"}
    for name in ("schedules", "cross", "temperature", "inverse", "equivalence", "scalespace", "calibration",
                 "calibration-grid"):
        assert (base / f"reports/figures/{name}.png").stat().st_size > 1000
        assert (base / f"reports/figures/{name}.pdf").is_file()
    scalespace = pd.concat(pd.read_csv(p) for p in (base / "results/runs").glob("*/scalespace.csv"))
    fid = scalespace[scalespace["quantity"] == "fid"]
    assert set(fid["curve"]) == {"sampler", "forward"} and fid["value"].gt(0).all()   # scalespace.fid_points: 2
    run = base / "results/runs" / runs[0]
    prov = pd.read_json(run / "provenance-00000.json", typ="series")
    assert prov["nfe_per_image"] > 0 and prov["seconds"] > 0 and "torch" in prov["packages"]


BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
BROWSER_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run")


def render(browser: str, url: str, budget_ms: int = 60000) -> str:
    """The DOM of `url` after the page's scripts ran (headless Chromium, virtual time)."""
    res = subprocess.run([browser, *BROWSER_FLAGS, f"--virtual-time-budget={budget_ms}", "--dump-dom", url],
                         capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-2000:]
    return res.stdout


def test_report_in_a_headless_browser(smoke, tmp_path):
    """The HTML report opened in Chromium: the front page says what was run and shows the headline comparisons;
    every figure, sample grids included, has its own caption; tables are HTML shown inline, not downloads."""
    import html
    import json
    import re

    browser = next((shutil.which(b) for b in BROWSERS if shutil.which(b)), None)
    if browser is None:
        pytest.skip("no Chromium on PATH (Debian: apt-get install chromium; .ci/run installs it as root): "
                    "the report is not opened in a browser")
    base, cfg = smoke
    report = base / "report.html"
    snakemake("--report", str(report), *cfg)
    probed = tmp_path / "report.html"   # a copy with a script that opens every result as a reader would
    page = report.read_text()
    end = page.rindex("</body>")                                     # the last one: scripts hold the string too
    probed.write_text(f"{page[:end]}<script>{(ROOT / 'tests/report_probe.js').read_text()}</script>{page[end:]}")
    dom = render(browser, probed.as_uri())
    found = re.search(r'<pre id="rwbench-probe">(.*?)</pre>', dom, re.S)
    assert found, "the report app did not finish rendering in the browser"
    probe = json.loads(html.unescape(found.group(1)))
    front = probe["front"]
    assert "What was run" in front and "Headline comparisons" in front and "23 runs" in front
    assert "temperature" in front and "cross-template" in front           # the experiments table, by name
    results = {Path(path).name: r for path, r in probe["results"].items()}
    figures = {n: r for n, r in results.items() if n.endswith(".png")}
    for name in ("schedules-samples.png", "temperature-samples.png", "temperature.png", "cross.png", "scalespace.png"):
        assert name in figures, f"{name} is not in the report"
        assert figures[name]["image_width"] > 100, f"{name} did not render"
    assert any(n.startswith("inverse-") for n in figures)
    captions = {}
    for name, r in figures.items():
        look = re.search(r"Look (for|from)[^\n]*", r["panel"])
        assert look, f"{name}: no caption saying what to look for"
        captions[name] = look.group(0)
    assert len(set(captions.values())) == len(captions), "two figures share a caption"
    tables = {n: r for n, r in results.items() if not n.endswith(".png")}
    assert {"runs.html", "temperature.html", "scalespace.html", "comparisons.html"} <= set(tables)
    for name, r in tables.items():
        if name != "metrics.csv":                                          # the long table stays a download
            assert r["mime"] == "text/html" and r["inline_html"], f"{name} is not shown inline"
    table = render(browser, (base / "reports/tables/temperature.html").as_uri(), 5000)
    assert table.count("<tr>") >= 3 and "params_TK" in table


def test_smoke_dag_resumes_only_what_is_missing(smoke):
    base, cfg = smoke
    shard = next((base / "results/runs").glob("temperature__*/shards/shard-00000.pt"))
    before = torch.load(shard, weights_only=True)
    # as if the DAG was stopped before this shard: no shard, no run metrics, no aggregated table
    for path in (shard, shard.parent.parent / "metrics.csv", base / "results/metrics.csv"):
        path.unlink()
    dry = snakemake("-n", *cfg).stdout
    assert re.search(r"\nsample(_p\d+)? ", dry) and "\ntrain " not in dry and "\nprepare " not in dry
    jobs = [line.split()[0] for line in dry.split("Job stats:")[1].splitlines()[3:] if line.strip()]
    assert "plan" not in jobs
    snakemake("--cores", "2", *cfg)
    after = torch.load(shard, weights_only=True)
    assert torch.equal(before["sample"], after["sample"])                 # re-running a shard reproduces it bit for bit
    assert "Nothing to be done" in snakemake("-n", *cfg).stdout


def slurm_available() -> bool:
    return shutil.which("sinfo") is not None and subprocess.run(["sinfo", "-h"], capture_output=True).returncode == 0


@pytest.mark.slurm
@pytest.mark.skipif(not slurm_available(), reason="no running SLURM (source .ci/slurm-up.sh as root)")
def test_smoke_run_through_the_slurm_profile(tmp_path):
    """prepare -> plan -> sample -> reference statistics -> evaluate for one oracle run, each job an sbatch job."""
    cfg = ("--configfile", "config/smoke.yaml", "--config", f"results_dir={tmp_path}/results", f"reports_dir={tmp_path}/reports",
           "packs=0")                                                 # clusters: one job per shard and run
    run = "temperature__digits-oracle__simplified__geometric__K10__T0=0.4__TK=0.2__c=0.5__init=sigma__uncond__s0"
    target = f"{tmp_path}/results/runs/{run}/metrics.csv"
    os.environ.setdefault("RWBENCH_SLURM_PARTITION", "debug")
    slurm_logs = ROOT / ".snakemake" / "slurm_logs"
    before = set(slurm_logs.rglob("*.log")) if slurm_logs.is_dir() else set()
    res = snakemake(target, "--workflow-profile", "workflow/profiles/slurm", "--slurm-no-account", "--slurm-keep-successful-logs",
                    "--slurm-init-seconds-before-status-checks", "1", *cfg, timeout=900)
    assert Path(target).is_file(), res.stdout[-2000:]
    new = set(slurm_logs.rglob("*.log")) - before                             # sbatch logs: rule_<name>/<wildcards>/<id>.log
    jobs = {part for p in new for part in p.relative_to(slurm_logs).parts if part.startswith("rule_")}
    assert {"rule_prepare", "rule_sample", "rule_evaluate"} <= jobs, jobs


# ---------------------------------------------------------------------------------------------------------------------
# Nothing stale (issue 25, item 6): a finished DAG (faked: every output present, its provenance recorded by
# `snakemake --touch`) in a results folder whose path holds a space; deleting a run folder or a metrics table makes a
# plain dry run rebuild it and everything made from it; the config reached through `..` or a symlink reruns nothing.
# ---------------------------------------------------------------------------------------------------------------------

SMOKE_RUN = "temperature__digits-oracle__simplified__geometric__K10__T0=0.4__TK=0.2__c=0.5__init=sigma__uncond__s0"
TRAJECTORY_RUN = "schedules__digits-vp__simplified__pretrained__K10__T0=0.4__TK=1__c=0.5__init=sigma__uncond__s0"


def job_stats(out: str) -> dict[str, int]:
    """{rule: jobs} of a dry run's Job stats (pack rules folded into their stage: sample_p03 -> sample)."""
    if "Job stats:" not in out:
        return {}
    stats = {}
    for rule, count in re.findall(r"^(\w+)\s+(\d+)$", out.split("Job stats:")[1].split("Reasons:")[0], re.M):
        if rule != "total":
            stage = re.sub(r"_p\d+$", "", rule)
            stats[stage] = stats.get(stage, 0) + int(count)
    return stats


def finished_dag(tmp_path, packs):
    """The smoke DAG's outputs faked under `<tmp>/my results` (a space in the path), provenance recorded."""
    cfg = ("--configfile", str(ROOT / "config/smoke.yaml"), "--config", f"results_dir={tmp_path}/my results",
           f"reports_dir={tmp_path}/my reports", f"packs={packs}")
    listed = snakemake("--summary", *cfg).stdout.splitlines()[1:]
    for path in (line.split("\t")[0] for line in listed if line.strip()):
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_bytes(b"")
    snakemake("--touch", "--cores", "1", *cfg)
    assert "Nothing to be done" in snakemake("-n", *cfg).stdout
    return Path(tmp_path, "my results"), cfg


TABLES = {"aggregate", "compare", "figures"}
DELETED = {   # what is deleted -> the stages a plain dry run then schedules
    "a run folder": (lambda r: shutil.rmtree(r / "runs" / SMOKE_RUN), {"plan", "sample", "evaluate", *TABLES}),
    "a run's metrics.csv": (lambda r: (r / "runs" / SMOKE_RUN / "metrics.csv").unlink(), {"evaluate", *TABLES}),
    "results/metrics.csv": (lambda r: (r / "metrics.csv").unlink(), TABLES),
    "a run's scalespace.csv": (lambda r: (r / "runs" / TRAJECTORY_RUN / "scalespace.csv").unlink(), {"figures"}),
    "reports/tables/comparisons.csv": (lambda r: (r.parent / "my reports/tables/comparisons.csv").unlink(),
                                       {"compare"}),
    "a figure's table (reports/tables/temperature.csv)": (
        lambda r: (r.parent / "my reports/tables/temperature.csv").unlink(), {"figures"}),
}


@pytest.mark.slow
@pytest.mark.parametrize("packs", [0, 3])
@pytest.mark.parametrize("case", sorted(DELETED))
def test_a_deleted_run_folder_or_table_is_rebuilt_by_a_plain_snakemake(tmp_path, packs, case):
    results, cfg = finished_dag(tmp_path, packs)
    delete, stages = DELETED[case]
    delete(results)
    out = snakemake("-n", *cfg).stdout
    jobs = job_stats(out)
    assert stages <= set(jobs), (case, jobs, out[-2000:])
    if "scalespace" in case:          # its own job, or in a pack the evaluate job that also writes the run's tables
        assert jobs.get("scalespace" if packs == 0 else "evaluate") == 1, jobs
    assert jobs.get("sample", 0) <= 2 and jobs.get("evaluate", 0) <= 1, jobs   # that run (2 shards; its pack)


@pytest.mark.slow
def test_a_config_path_through_dotdot_or_a_symlink_reruns_nothing(tmp_path):
    results, cfg = finished_dag(tmp_path, 3)
    link = tmp_path / "link.yaml"
    link.symlink_to(ROOT / "config/smoke.yaml")
    for path in (ROOT / "config" / ".." / "config" / "smoke.yaml", link, Path(os.path.relpath(link, ROOT))):
        out = snakemake("-n", "--configfile", str(path), *cfg[2:]).stdout
        assert "Nothing to be done" in out, (path, job_stats(out))
