import argparse
import json
import math

import pandas as pd
import pytest
import torch

from rwbench.commands import scalespace as command
from rwbench.scalespace import runs as ss_runs
from rwbench.scalespace.runs import load_trajectories

F64 = torch.float64
SIGMAS = [4.0, 2.0, 1.0, 0.5, 0.25, 0.1, 0.0]
STEPS = [0, 5, 10, 15, 20, 25, 30]


def _parse(argv):
    parser = argparse.ArgumentParser()
    command.add_arguments(parser)
    return parser.parse_args([str(a) for a in argv])


def _reference(tmp_path):
    g = torch.Generator().manual_seed(0)
    field = torch.rand(300, 1, 6, 6, generator=g)
    images = (255 * (0.3 * field + 0.5 * (torch.rand(300, 1, 1, 1, generator=g) > 0.5))).round().to(torch.uint8)
    path = tmp_path / "reference.pt"
    torch.save(images, path)
    return path, images


def _make_run(root, ref_images, run_id, T0, n=40, seed=1, diverge=True):
    """A run whose 'sampler' trajectory is the exact VE forward marginal, in two shards, one image diverged."""
    g = torch.Generator().manual_seed(seed)
    clean = ref_images[-n:].to(F64) / 255.0
    x = torch.stack([clean + s * torch.randn(clean.shape, generator=g, dtype=F64) for s in SIGMAS]).float()
    if diverge:
        x[3:, 7] = float("nan")
    run = root / run_id
    (run / "trajectories").mkdir(parents=True)
    spec = {"run_id": run_id, "family": "ve", "sampler": "template", "schedule": "geometric", "steps": 30,
            "params": {"c": 0.5, "T0": T0, "TK": 1.0}, "data_range": [0.0, 1.0], "resolution": 6,
            "reference": {"kind": "file", "path": "unused.pt"}, "trajectory_points": len(SIGMAS)}
    (run / "spec.json").write_text(json.dumps(spec))
    idx = torch.arange(n)
    for shard, part in enumerate((idx[1::2], idx[0::2])):        # shards hold interleaved indices
        torch.save({"index": part, "step": torch.tensor(STEPS), "sigma": torch.tensor(SIGMAS, dtype=F64),
                    "x": x[:, part], "denoised": x[:, part]}, run / "trajectories" / f"shard-{shard:05d}.pt")
    return run, x


def test_load_trajectories_concatenates_shards_in_index_order(tmp_path):
    _, images = _reference(tmp_path)
    run, x = _make_run(tmp_path / "runs", images, "r0", 1.0)
    traj = load_trajectories(run)
    assert torch.equal(traj["index"], torch.arange(40))
    assert torch.allclose(traj["x"], x, equal_nan=True)
    assert traj["sigma"].dtype == F64 and traj["step"].tolist() == STEPS
    with pytest.raises(FileNotFoundError, match="trajectory"):
        load_trajectories(tmp_path)


def test_scalespace_command_writes_tidy_diagnostics(tmp_path, capsys):
    ref_path, images = _reference(tmp_path)
    run, _ = _make_run(tmp_path / "runs", images, "r0", 1.0)
    assert command.run(_parse(["--run", run, "--reference", ref_path, "--max-reference", 250])) == 0
    assert "scalespace r0" in capsys.readouterr().out
    frame = pd.read_csv(run / "scalespace.csv")
    assert list(frame.columns) == ss_runs.CSV_COLUMNS
    assert set(frame["curve"]) == {"sampler", "forward", "heat", "osmosis"}
    samp = frame[frame["curve"] == "sampler"]
    assert set(samp["step"]) == set(STEPS)
    assert (samp.loc[samp["quantity"] == "n_images", "value"] == 39).all()          # the diverged image is dropped
    assert not ((samp["quantity"] == "cond_entropy") & (samp["sigma"] == 0)).any()   # -inf rows are left out
    assert frame["value"].map(math.isfinite).all()
    var = samp[samp["quantity"] == "variance"].sort_values("step")["value"].to_numpy()
    assert var[0] == pytest.approx(16.0, rel=0.15)
    mono = pd.read_csv(run / "scalespace-monotonicity.csv")
    assert list(mono.columns) == ss_runs.MONO_COLUMNS
    s = mono[mono["curve"] == "sampler"].set_index("quantity")["score"]
    assert s["variance"] == 0.0 and s["fd_reference"] == 0.0 and s["gaussian_entropy"] == 0.0
    # the sampler here is exact: its Frechet distance to the forward marginal stays near the forward curve's own
    fwd = frame[(frame["curve"] == "forward") & (frame["quantity"] == "fd_forward")].set_index("step")["value"]
    sfd = samp[samp["quantity"] == "fd_forward"].set_index("step")["value"]
    ref_fd = samp[samp["quantity"] == "fd_reference"].set_index("step")["value"]
    for step in (0, 5, 10):                                     # sigma 4, 2, 1: finite-sample bias dominates both
        assert abs(sfd[step] - fwd[step]) < 0.25 * fwd[step]
        assert sfd[step] < 0.5 * ref_fd[step]


def test_scalespace_command_errors(tmp_path):
    ref_path, images = _reference(tmp_path)
    run, _ = _make_run(tmp_path / "runs", images, "r0", 1.0)
    bad = tmp_path / "bad.pt"
    torch.save(torch.zeros(5, 1, 4, 4, dtype=torch.uint8), bad)
    with pytest.raises(ValueError, match="differ"):
        command.run(_parse(["--run", run, "--reference", bad]))
    with pytest.raises(FileNotFoundError, match="reference"):
        command.run(_parse(["--run", run]))                                           # spec's unused.pt is missing
    with pytest.raises(ValueError, match="--run"):
        command.run(_parse([]))


def test_scalespace_figure_and_table(tmp_path):
    ref_path, images = _reference(tmp_path)
    runs = tmp_path / "runs"
    for i, T0 in enumerate((1.0, 0.5)):
        run, _ = _make_run(runs, images, f"r{i}", T0, n=24, seed=i, diverge=False)
        ss_runs.scalespace_run(run, {"kind": "file", "path": str(ref_path)}, osmosis_steps=10)
    out = tmp_path / "reports"
    assert command.run(_parse(["--figure", "--runs-dir", runs, "--out", out])) == 0
    for name in ("figures/scalespace.png", "figures/scalespace.pdf", "tables/scalespace.csv", "tables/scalespace.md"):
        assert (out / name).stat().st_size > 0
    table = pd.read_csv(out / "tables" / "scalespace.csv")
    assert len(table) == 8                                      # 2 temperatures x 4 curves
    assert {"M_variance", "M_gaussian_entropy", "M_kl_vp", "M_fd_reference", "n_runs"} <= set(table.columns)
    assert sorted(table["T0"].unique()) == [0.5, 1.0]
    assert "Monotonicity" in (out / "tables" / "scalespace.md").read_text()
    with pytest.raises(FileNotFoundError, match="scalespace.csv"):
        command.run(_parse(["--figure", "--runs-dir", tmp_path / "empty", "--out", out]))
