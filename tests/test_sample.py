"""`rwbench plan` / `rwbench sample`: grid expansion, shard-layout independence, paired noise and measurements,
divergence recording, atomic writes."""

from __future__ import annotations

import json

import pytest
import torch

from rwbench import cli
from rwbench.plan import grid
from rwbench.core import schedules
from rwbench.run import sample as sample_cmd
from rwbench.models.oracle import oracle_file
from rwbench.models.denoisers import GaussianMixtureDenoiser, VPEpsDenoiser
from rwbench.nets.unet import UNet
from rwbench.run.runners import initial_noise, make_inverse
from rwbench.models.embedded import native_function

MODELS = {
    "oracle": {"family": "oracle", "dataset": "digits", "resolution": 8, "channels": 1, "data_range": [0, 1],
               "checkpoint": None, "sigma_min": 0.01, "sigma_max": 5.0},
    "vp": {"family": "vp", "dataset": "digits", "resolution": 8, "channels": 1, "data_range": [-1, 1],
           "checkpoint": None, "sigma_min": 0.01, "sigma_max": 157.41},
}


def config(**experiments):
    return {"results_dir": "res", "seed": 3, "shard_size": 8, "models": MODELS, "experiments": experiments}


def small_oracle(d=64, seed=0):
    g = torch.Generator().manual_seed(seed)
    means = torch.rand(3, d, generator=g, dtype=torch.float64)
    A = torch.randn(3, d, d, generator=g, dtype=torch.float64) * 0.05
    covs = A @ A.transpose(1, 2) + 1e-3 * torch.eye(d, dtype=torch.float64)
    return GaussianMixtureDenoiser(torch.tensor([0.5, 0.3, 0.2], dtype=torch.float64), means, covs, sample_shape=(1, 8, 8))


def random_vp_unet():
    torch.manual_seed(0)
    net = UNet(in_channels=1, base_channels=8, channel_mult=(1, 2), num_res_blocks=1, emb_dim=32, heads=2, groups=4).eval()
    return VPEpsDenoiser(native_function("vp", net, {}), schedules.alphas_cumprod(schedules.linear_betas()))


def one_spec(cfg, **filters):
    runs = grid.expand(cfg)
    for spec in runs.values():
        if all(spec[k] == v for k, v in filters.items()):
            return spec
    raise AssertionError(f"no run matches {filters}")


def test_grid_drops_unused_axes_and_skips_impossible_pairs():
    cfg = config(e={"models": ["oracle"], "samplers": ["simplified", "native-ddpm", "iadb", "dps"],
                    "schedules": ["geometric", "sigmoid"], "steps": [10], "c": [0.2, 0.5], "TK": [0.2, 1.0],
                    "tasks": ["uncond", "inpaint"], "n_targets": 2, "samples_per_target": 3})
    runs = grid.expand(cfg)
    kinds = {}
    for spec in runs.values():
        kinds.setdefault((spec["sampler"], spec["task"]), []).append(spec)
    # simplified: 2 schedules x 2 c x 2 TK per task; natives ignore schedule/c/TK; dps only on inverse tasks
    assert len(kinds[("simplified", "uncond")]) == 8 and len(kinds[("simplified", "inpaint")]) == 8
    assert len(kinds[("native-ddpm", "uncond")]) == 1 and ("native-ddpm", "inpaint") not in kinds
    assert len(kinds[("iadb", "uncond")]) == 1
    assert ("dps", "uncond") not in kinds and len(kinds[("dps", "inpaint")]) == 1
    inv = kinds[("simplified", "inpaint")][0]
    assert inv["n_images"] == 6 and inv["task_params"] == {"p": 0.92, "eta": 0.2} and inv["params"]["cap"] == "lipschitz"
    assert kinds[("dps", "inpaint")][0]["params"]["variance"] == "beta_tilde"
    assert len(set(runs)) == len(runs) and all("/" not in r for r in runs)


def test_run_names_are_canonical_and_readable():
    assert grid.fmt(1.0) == "1" and grid.fmt(0.1) == "0.1" and grid.fmt(1e-05) == "0.00001" and grid.fmt(7) == "7"
    spec = one_spec(config(e={"models": ["oracle"], "samplers": ["simplified"], "schedules": ["sigmoid"], "steps": [100],
                              "c": [0.7], "T0": [0.1]}))
    assert spec["run_id"] == "e__oracle__simplified__sigmoid__K100__T0=0.1__TK=1__c=0.7__init=sigma__uncond__s3"


@pytest.mark.parametrize("bad, message", [({"samplers": ["euler-maruyama"]}, "sampler 'euler-maruyama'"),
                                          ({"schedules": ["cosine"]}, "schedule 'cosine'"),
                                          ({"models": ["nope"]}, "model 'nope'")])
def test_grid_rejects_unknown_names(bad, message):
    exp = dict({"models": ["oracle"], "samplers": ["simplified"]}, **bad)
    with pytest.raises(ValueError, match=message):
        grid.expand(config(e=exp))


SAMPLERS = ["simplified", "ddpm", "ve-sde", "native-ddpm", "native-ve-sde", "native-vp-sde", "iadb", "ncsn",
            "euler-ancestral", "dpmpp-2m-sde", "heun", "ddim"]


@pytest.mark.parametrize("noise", ["coupled", "independent"])
@pytest.mark.parametrize("model", ["oracle", "vp"])
def test_shard_layout_is_irrelevant_bit_for_bit(model, noise):
    """1 x 8 images == 4 x 2 images == batches of 3, for every sampler family, on an exact oracle (exact start) and a
    real UNet, with coupled (Brownian paths) and independent step noise."""
    den = small_oracle() if model == "oracle" else random_vp_unet()
    cfg = config(e={"models": [model], "samplers": SAMPLERS, "schedules": ["geometric"], "steps": [10], "n_images": 8,
                    "noise": noise,
                    "sampler_options": {"ncsn": {"n_steps_each": 2}, "ddim": {"ancestral_eta": 0.5}}})
    for spec in grid.expand(cfg).values():
        with torch.no_grad():
            whole = sample_cmd.sample_images(spec, list(range(8)), denoiser=den)
            parts = [sample_cmd.sample_images(spec, list(range(i, i + 2)), denoiser=den) for i in range(0, 8, 2)]
            odd = sample_cmd.sample_images(spec, list(range(8)), denoiser=den, batch_size=3)
        for key in ("sample", "sample_uint8", "index"):
            assert torch.equal(whole[key], torch.cat([p[key] for p in parts])), (spec["sampler"], key)
            assert torch.equal(whole[key], odd[key]), (spec["sampler"], key)
        assert torch.isfinite(whole["sample"]).all()


def test_every_sampler_sees_the_same_initial_noise_and_measurement():
    cfg = config(e={"models": ["oracle"], "samplers": ["simplified", "dps"], "tasks": ["inpaint"], "n_targets": 3,
                    "samples_per_target": 2, "steps": [5]})
    specs = list(grid.expand(cfg).values())
    assert {s["sampler"] for s in specs} == {"simplified", "dps"}
    x_a, _ = initial_noise(specs[0], [1, 4])
    x_b, _ = initial_noise(specs[1], [4])
    assert torch.equal(x_a[1], x_b[0])
    targets = torch.tensor([0, 1, 2])
    inv_a = make_inverse(specs[0], targets, torch.float64)
    inv_b = make_inverse(specs[1], torch.tensor([2, 1]), torch.float64)
    assert torch.equal(inv_a.y[2], inv_b.y[0]) and torch.equal(inv_a.y[1], inv_b.y[1])
    assert torch.equal(inv_a.operator.A(torch.ones(3, 1, 8, 8, dtype=torch.float64))[2],
                       inv_b.operator.A(torch.ones(2, 1, 8, 8, dtype=torch.float64))[0])
    # the mask drops int(0.92 * 64) = 58 pixels; the measurement is A x + eta n, so missing pixels are pure noise scale
    assert int((inv_a.operator.A(torch.ones(3, 1, 8, 8, dtype=torch.float64))[0] == 0).sum()) == 58


class NaNForImage:
    """A denoiser that returns NaN for images whose initial first pixel is positive (a diverging cell)."""

    def __init__(self, base):
        self.base, self.bad = base, None

    def __call__(self, x, sigma):
        out = self.base(x, sigma)
        if self.bad is None:  # decided on the initial noise, then fixed for the walk
            self.bad = (x.flatten(1)[:, 0] > 0)[:, None, None, None]
        bad = self.bad
        return torch.where(bad, torch.full_like(out, float("nan")), out)


def test_divergence_is_recorded_not_raised():
    spec = one_spec(config(e={"models": ["oracle"], "samplers": ["simplified"], "steps": [5], "n_images": 8}))
    shard = sample_cmd.sample_images(spec, list(range(8)), denoiser=NaNForImage(small_oracle()))
    assert shard["diverged"].any() and not shard["diverged"].all()
    assert torch.equal(shard["sample_uint8"][shard["diverged"]], torch.zeros_like(shard["sample_uint8"][shard["diverged"]]))
    assert torch.isfinite(shard["sample"][~shard["diverged"]]).all()


def write_run(tmp_path, n_images=8, shard_size=8, **exp):
    oracle_dir = tmp_path / "oracle"
    small_oracle().save(oracle_file(oracle_dir, "digits"))
    models = {"oracle": dict(MODELS["oracle"], registry="digits-oracle", checkpoint=str(oracle_dir))}
    cfg = dict(config(e=dict({"models": ["oracle"], "samplers": ["simplified"], "steps": [6], "n_images": n_images}, **exp)),
               models=models, shard_size=shard_size)
    path = tmp_path / "config.yaml"
    import yaml

    path.write_text(yaml.safe_dump(cfg))
    (run_id,) = grid.expand(cfg)
    spec_path = tmp_path / "runs" / run_id / "spec.json"
    assert cli.main(["plan", "--config", str(path), "--run", run_id, "--out", str(spec_path)]) == 0
    return spec_path


def test_cli_shards_match_one_big_shard(tmp_path, capsys):
    one = write_run(tmp_path / "a", shard_size=8, trajectory_points=4)
    four = write_run(tmp_path / "b", shard_size=2, trajectory_points=4)
    assert cli.main(["sample", "--spec", str(one), "--shard", "0", "--no-progress"]) == 0
    for s in range(4):
        assert cli.main(["sample", "--spec", str(four), "--shard", str(s), "--no-progress"]) == 0
    big = torch.load(one.parent / "shards" / "shard-00000.pt", weights_only=True)
    small = [torch.load(four.parent / "shards" / f"shard-{s:05d}.pt", weights_only=True) for s in range(4)]
    assert torch.equal(big["sample"], torch.cat([s["sample"] for s in small]))
    assert torch.equal(big["index"], torch.arange(8))
    prov = json.loads((one.parent / "provenance-00000.json").read_text())
    assert prov["nfe_per_image"] == 6 and prov["n_images"] == 8 and "torch" in prov["packages"] and prov["git"]
    traj = torch.load(one.parent / "trajectories" / "shard-00000.pt", weights_only=True)
    assert traj["x"].shape == (4, 8, 1, 8, 8) and traj["step"].tolist()[-1] == 6 and traj["sigma"][-1] == 0
    assert torch.equal(traj["x"][-1], big["sample"] * 1.0) or torch.allclose(traj["x"][-1], big["sample"])
    capsys.readouterr()
    assert cli.main(["sample", "--spec", str(four), "--shard", "4"]) == 2     # bad input: one line, no traceback
    err = capsys.readouterr().err
    assert "shards 0..3" in err and len(err.strip().splitlines()) == 1


def test_trajectory_images_records_only_the_first_images(tmp_path):
    full = write_run(tmp_path / "a", shard_size=4, trajectory_points=4)
    part = write_run(tmp_path / "b", shard_size=4, trajectory_points=4, trajectory_images=3)
    assert "trajectory_images" not in json.loads(full.read_text())         # unset: other runs' specs are unchanged
    for spec in (full, part):
        for s in range(2):
            assert cli.main(["sample", "--spec", str(spec), "--shard", str(s), "--no-progress"]) == 0
    load = lambda spec, s: torch.load(spec.parent / "trajectories" / f"shard-{s:05d}.pt", weights_only=True)  # noqa: E731
    kept, empty, whole = load(part, 0), load(part, 1), load(full, 0)
    assert kept["index"].tolist() == [0, 1, 2] and torch.equal(kept["x"], whole["x"][:, :3])
    assert torch.equal(kept["denoised"], whole["denoised"][:, :3])
    assert empty["index"].numel() == 0 and empty["x"].shape == (4, 0, 1, 8, 8)
    from rwbench.scalespace.runs import load_trajectories

    assert load_trajectories(part.parent)["x"].shape == (4, 3, 1, 8, 8)
    shards = [torch.load(spec.parent / "shards" / "shard-00001.pt", weights_only=True) for spec in (full, part)]
    assert torch.equal(shards[0]["sample"], shards[1]["sample"])           # samples do not depend on the recording


def test_killed_sample_leaves_no_shard(tmp_path, monkeypatch):
    spec_path = write_run(tmp_path)

    def crash(obj, f, *args, **kwargs):
        with open(f, "wb") as handle:
            handle.write(b"partial")
        raise KeyboardInterrupt("killed while writing")

    monkeypatch.setattr(torch, "save", crash)
    with pytest.raises(KeyboardInterrupt):
        cli.main(["sample", "--spec", str(spec_path), "--shard", "0", "--no-progress"])
    shards = spec_path.parent / "shards"
    assert not (shards / "shard-00000.pt").exists()
    assert not list(shards.glob("*.pt")) if shards.exists() else True


def test_plan_names_unknown_runs(tmp_path):
    spec_path = write_run(tmp_path)
    with pytest.raises(SystemExit, match="--list"):
        cli.main(["plan", "--config", str(tmp_path / "config.yaml"), "--run", "nope"])
    assert json.loads(spec_path.read_text())["nfe"] == 6


def test_start_and_noise_options_reach_the_spec_and_independent_noise_start_is_the_old_run():
    """The grid writes start (oracle: exact by default) and noise (coupled by default); a spec with noise independent
    and start noise samples what a spec without the keys (written before them) samples, bit for bit."""
    cfg = config(e={"models": ["oracle", "vp"], "samplers": ["simplified", "euler-ancestral"], "steps": [5],
                    "schedules": ["geometric"], "n_images": 4})
    specs = list(grid.expand(cfg).values())
    assert {(s["model"], s["start"], s["noise"]) for s in specs} == {("oracle", "exact", "coupled"),
                                                                     ("vp", "noise", "coupled")}
    den = small_oracle()
    for spec in [s for s in specs if s["model"] == "oracle"]:
        old = {k: v for k, v in spec.items() if k not in ("start", "noise")}
        with torch.no_grad():
            a = sample_cmd.sample_images(dict(spec, start="noise", noise="independent"), [0, 1, 2], denoiser=den)
            b = sample_cmd.sample_images(old, [0, 1, 2], denoiser=den)
            c = sample_cmd.sample_images(spec, [0, 1, 2], denoiser=den)
        assert torch.equal(a["sample"], b["sample"]) and not torch.equal(a["sample"], c["sample"])
    bad = dict(MODELS, vp=dict(MODELS["vp"], start="exact"))
    with pytest.raises(ValueError, match="start: exact needs an exact oracle"):
        grid.expand({**cfg, "models": bad})


@pytest.mark.slow
def test_deterministic_solvers_from_the_exact_start_reach_the_exact_draw_floor():
    """Heun and DPM++(2M) at NFE 50 and 100 on the digits oracle (sigma_max 8.5, exact start, n = 256): energy distance
    to the oracle's reference inside the band of 10 sets of 256 exact draws (mean + 3 sd); from the noise start they
    sit far above it (the start error the exact start removes). Needs `rwbench prepare` (results/embedded/oracle)."""
    from pathlib import Path

    from rwbench.core.rng import image_seed
    from rwbench.data import to_uint8
    from rwbench.io import load_safetensors
    from rwbench.metrics.distances import energy_distance

    folder = Path("results/embedded/oracle")
    if not (folder / "digits-gmm.safetensors").is_file():
        pytest.skip("results/embedded/oracle missing: run `rwbench prepare --config config/embedded-default.yaml "
                    "--out results/embedded/oracle`")
    oracle = GaussianMixtureDenoiser.load(folder / "digits-gmm.safetensors")
    ref = next(iter(load_safetensors(folder / "digits-oracle-reference.safetensors").values()))
    ref = ref.double().reshape(len(ref), -1) / 255.0
    n = 256

    def ed(u8):
        return energy_distance(u8.double().reshape(n, -1) / 255.0, ref)

    floor = torch.tensor([ed(to_uint8(oracle.sample(n, generator=torch.Generator().manual_seed(
        image_seed(0, "floor-test", r))), (0.0, 1.0))) for r in range(10)])
    band = float(floor.mean() + 3 * floor.std())
    model = {"family": "oracle", "dataset": "digits", "resolution": 16, "channels": 1, "data_range": [0, 1],
             "checkpoint": str(folder), "sigma_min": 0.01, "sigma_max": 8.5}
    for start in ("exact", "noise"):
        cfg = {"seed": 0, "shard_size": n, "models": {"o": dict(model, start=start)},
               "experiments": {"e": {"models": ["o"], "samplers": ["heun", "dpmpp-2m"], "schedules": ["karras"],
                                     "nfe": [50, 100], "n_images": n}}}
        for spec in grid.expand(cfg).values():
            with torch.no_grad():
                value = ed(sample_cmd.sample_images(spec, list(range(n)), denoiser=oracle)["sample_uint8"])
            assert (value < band) == (start == "exact"), (start, spec["sampler"], spec["nfe"], value, band)
