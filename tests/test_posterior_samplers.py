"""Posterior samplers (DPS, Pi-GDM, DDRM, DiffPIR, DAPS) against exact Gaussian / Gaussian-mixture posteriors."""

import importlib
import math

import pytest
import torch

from rwbench.baselines.daps import daps
from rwbench.baselines.ddrm import ddrm
from rwbench.baselines.diffpir import data_prox
from rwbench.baselines.dps import clip_range, scaled_zeta
from rwbench.baselines.pigdm import adaptive_variance, pigdm, pseudoinverse_vector
from rwbench.models.denoisers import GaussianDenoiser, GaussianMixtureDenoiser
from rwbench.core.schedules import quad_timesteps, uniform_timesteps
from rwbench.tasks.operators import BicubicSR, BoxInpainting, GaussianBlur, LinearOperator, RandomInpainting
from rwbench.models.oracle_posterior import gmm_posterior, posterior_mean, posterior_variance
from rwbench.plan.samplers import POSTERIOR_SAMPLERS
from rwbench.run.runners import posterior_nfe, posterior_settings, run_posterior_sampler

F64 = torch.float64
SHAPE = (1, 4, 4)


def _iso_prior(v=0.25):
    return GaussianDenoiser(0.5 * torch.ones(16, dtype=F64), v * torch.eye(16, dtype=F64), sample_shape=SHAPE)


def _aniso_prior():
    g = torch.Generator().manual_seed(0)
    B = torch.randn(16, 16, generator=g, dtype=F64)
    return GaussianDenoiser(0.5 + 0.1 * torch.randn(16, generator=g, dtype=F64), 0.05 * B @ B.T / 16 + 0.01 * torch.eye(16, dtype=F64),
                            sample_shape=SHAPE)


def _mixture_prior():
    g = torch.Generator().manual_seed(1)
    means = 0.5 + 0.3 * torch.randn(2, 16, generator=g, dtype=F64)
    B = torch.randn(2, 16, 4, generator=g, dtype=F64) * 0.15
    covs = B @ B.transpose(1, 2) + 0.02 * torch.eye(16, dtype=F64)
    return GaussianMixtureDenoiser(torch.tensor([0.6, 0.4], dtype=F64), means, covs, sample_shape=SHAPE)


def _ops(shape):
    return [RandomInpainting(0.6, seeds=[3, 4]), BoxInpainting(2), BoxInpainting((2, 3), seeds=[5, 6]),
            BicubicSR(2), GaussianBlur(5, 1.0), GaussianBlur(61, 3.0), GaussianBlur(3, 0.8, boundary="zero")]


# ---------------------------------------------------------------- SVD of the operators


@pytest.mark.parametrize("shape", [(1, 8, 8), (2, 8, 12)])
def test_svd_reproduces_operator_and_adjoint(shape):
    g = torch.Generator().manual_seed(0)
    for op in _ops(shape):
        x = torch.randn((2, *shape), generator=g, dtype=F64)
        y = torch.randn((2, *op.output_shape(shape)), generator=g, dtype=F64)
        s = op.singular_values(shape)
        assert torch.allclose(op.U(s * op.Vt(x)), op.A(x), atol=1e-13), op.config()
        assert torch.allclose(op.V(s * op.Ut(y)), op.AT(y), atol=1e-13), op.config()
        assert torch.allclose(op.V(op.Vt(x)), x, atol=1e-13)                            # V orthogonal
        assert torch.allclose(op.Vt(x).pow(2).sum(), x.pow(2).sum(), rtol=1e-13)
        # U orthogonal on the range of A: U U^T y = y for measurements A x (masks: zero at missing pixels)
        assert torch.allclose(op.U(op.Ut(op.A(x))), op.A(x), atol=1e-13)
        assert torch.allclose(op.Ut(op.A(x)).pow(2).sum(), op.A(x).pow(2).sum(), rtol=1e-13)


def test_svd_singular_values_match_dense_svd():
    for op in [BicubicSR(2), GaussianBlur(5, 1.0), RandomInpainting(0.5, seeds=[7])]:
        A = op.dense((1, 8, 8))
        dense = torch.linalg.svdvals(A)
        ours = op.singular_values((1, 8, 8)).reshape(-1).sort(descending=True).values[:dense.numel()]
        assert torch.allclose(ours, dense, atol=1e-12), op.config()


def test_svd_missing_says_where_it_applies():
    class Dense(LinearOperator):
        def A(self, x):
            return x

        def AT(self, y):
            return y

    with pytest.raises(NotImplementedError, match="diagonal .* separable"):
        Dense().singular_values((1, 4, 4))


# ---------------------------------------------------------------- closed forms of single steps


def _exact_conditional_mean(prior, op, x_t, sigma, y, eta):
    """E[x0 | x_t = x0 + sigma n, y = A x0 + eta n'] for image 0 (whitened stacked observation, exact)."""
    A = op.dense(SHAPE)
    stacked = torch.cat([torch.eye(16, dtype=F64) / sigma, A / eta])
    obs = torch.cat([x_t.reshape(-1) / sigma, y.reshape(-1) / eta])
    return posterior_mean(gmm_posterior(prior, stacked, obs, 1.0)).reshape(-1)


@pytest.mark.parametrize("op", [BicubicSR(2), RandomInpainting(0.5, seeds=[2]), GaussianBlur(3, 0.7)])
def test_pigdm_guided_estimate_is_exact_for_isotropic_gaussian(op):
    # prior N(m, v I) with data_var = v: p(x0 | x_t) = N(x0_hat, r^2 I) exactly, so x0_hat + sigma^2 g = E[x0 | x_t, y]
    v, eta = 0.25, 0.05
    prior = _iso_prior(v)
    g = torch.Generator().manual_seed(1)
    y = op.measure(prior.sample(1, g), eta, [g])
    rec = []
    pigdm(prior, torch.randn(1, *SHAPE, generator=g, dtype=F64), y, op, eta, torch.tensor([3.0, 0.7, 0.1], dtype=F64),
          data_var=v, generators=[g], callback=rec.append)
    for r in rec:
        exact = _exact_conditional_mean(prior, op, r["x"], r["sigma"], y, eta)
        assert torch.allclose(r["x0_y"].reshape(-1), exact, atol=1e-12), r["sigma"]


def test_pseudoinverse_vector_matches_dense():
    r2, eta = 0.3, 0.1
    for op in [BicubicSR(2), GaussianBlur(5, 1.0), RandomInpainting(0.5, seeds=[1])]:
        A = op.dense(SHAPE)
        res = torch.randn(1, *op.output_shape(SHAPE), dtype=F64)
        dense = A.T @ torch.linalg.solve(r2 * A @ A.T + eta**2 * torch.eye(A.shape[0], dtype=F64), res.reshape(-1))
        assert torch.allclose(pseudoinverse_vector(op, res, SHAPE, r2, eta).reshape(-1), dense, atol=1e-12)
    assert adaptive_variance(2.0) == pytest.approx(0.8)


@pytest.mark.parametrize("op", [BicubicSR(2), GaussianBlur(5, 1.0), GaussianBlur(61, 3.0), RandomInpainting(0.9, seeds=[1]),
                                BoxInpainting(2)])
def test_diffpir_prox_is_the_exact_argmin(op):
    g = torch.Generator().manual_seed(2)
    x0 = torch.randn(1, *SHAPE, generator=g, dtype=F64)
    y = torch.randn(1, *op.output_shape(SHAPE), generator=g, dtype=F64)
    rho = 0.37
    u = data_prox(op, y, x0, rho)
    grad = -2 * op.AT(y - op.A(u)) + 2 * rho * (u - x0)          # gradient of ||y - A u||^2 + rho ||u - x0||^2
    assert grad.abs().max() < 1e-12
    A = op.dense(SHAPE)
    dense = torch.linalg.solve(A.T @ A + rho * torch.eye(16, dtype=F64), A.T @ y.reshape(-1) + rho * x0.reshape(-1))
    assert torch.allclose(u.reshape(-1), dense, atol=1e-12)


def test_diffpir_prox_with_matched_rho_is_gaussian_posterior_mean():
    # rho = eta^2 / r^2: argmin = mean of N(y; A u, eta^2) N(u; x0, r^2 I)
    op, eta, r2 = BicubicSR(2), 0.1, 0.04
    x0 = torch.rand(1, *SHAPE, dtype=F64)
    y = torch.rand(1, 1, 2, 2, dtype=F64)
    post = gmm_posterior(GaussianDenoiser(x0.reshape(-1), r2 * torch.eye(16, dtype=F64), sample_shape=SHAPE), op.dense(SHAPE), y[0], eta)
    assert torch.allclose(data_prox(op, y, x0, eta**2 / r2).reshape(-1), posterior_mean(post).reshape(-1), atol=1e-12)


def test_ddrm_observed_components_before_the_measurement_noise_ignore_the_denoiser():
    # eta_b = 1: where s sigma' >= eta, xbar' = ybar + sqrt(sigma'^2 - eta^2/s^2) z whatever the denoiser returns;
    # eta = 1: missing components are xbar0 + sigma' z
    op, eta = RandomInpainting(0.5, seeds=[4]), 0.05
    sigmas = torch.tensor([5.0, 1.0, 0.2, 0.02], dtype=F64)
    noise = torch.randn(4, 1, *SHAPE, dtype=F64)
    y = op.measure(torch.rand(1, *SHAPE, dtype=F64), eta, [torch.Generator().manual_seed(0)])
    junk = lambda x, sigma: torch.sin(3 * x) + float(sigma)                 # noqa: E731 - any function
    rec = []
    ddrm(junk, torch.randn(1, *SHAPE, dtype=F64), y, op, eta, sigmas, ddrm_eta=1.0, ddrm_eta_b=1.0, noise=noise,
         callback=rec.append)
    m = op.masks(4, 4).bool().expand(1, *SHAPE)
    for r in rec[:2]:                                                         # sigma' = 1.0, 0.2 > eta: "before"
        k, s_next = r["k"], float(sigmas[r["k"] + 1])
        expected = y + math.sqrt(s_next**2 - eta**2) * noise[k]
        assert torch.allclose(r["xbar_next"][m], expected[m], atol=1e-14)
        assert torch.allclose(r["xbar_next"][~m], (r["denoised"] + s_next * noise[k])[~m], atol=1e-14)
    r = rec[2]                                                                # sigma' = 0.02 < eta: "after" with eta = 1
    assert torch.allclose(r["xbar_next"][m], (r["denoised"] + 0.02 * noise[2])[m], atol=1e-14)


def test_daps_langevin_reaches_the_gaussian_conditional():
    # one annealing level with x0_hat = c (constant denoiser, ODE skipped): the Langevin chains target
    # N(y; A x0, tau^2) N(x0; c, sigma^2), whose mean is the prox with rho = tau^2 / sigma^2
    op, eta, sigma, N = BicubicSR(2), 0.1, 0.2, 400
    c = torch.rand(1, *SHAPE, dtype=F64, generator=torch.Generator().manual_seed(0))
    y = torch.rand(1, 1, 2, 2, dtype=F64, generator=torch.Generator().manual_seed(1))
    const = lambda x, s: c.expand_as(x)                                        # noqa: E731
    x = daps(const, torch.zeros(N, *SHAPE, dtype=F64), y.expand(N, 1, 2, 2), op, eta, torch.tensor([sigma], dtype=F64),
             lr=2e-3, lr_min_ratio=1.0, langevin_steps=300, ode_sigma_min=1.0,
             noise=torch.randn(300, N, *SHAPE, dtype=F64, generator=torch.Generator().manual_seed(2)))
    mean = data_prox(op, y, c, eta**2 / sigma**2)
    # stationary sd of every coordinate <= sigma; MC error of the mean over 400 chains <= 0.2/20 = 0.01
    assert (x.mean(0) - mean[0]).abs().max() < 0.04
    post = gmm_posterior(GaussianDenoiser(c.reshape(-1), sigma**2 * torch.eye(16, dtype=F64), sample_shape=SHAPE),
                         op.dense(SHAPE), y[0], eta)
    sd = posterior_variance(post).sqrt()
    assert ((x.std(0) / sd) - 1).abs().mean() < 0.1


# ---------------------------------------------------------------- whole samplers against the exact posterior


def _run(name, prior, op, task, N, eta, *, nfe=None, **over):
    g = torch.Generator().manual_seed(5)
    truth = prior.sample(1, g)
    op1 = op
    y = op1.measure(truth, eta, [g])
    post = gmm_posterior(prior, op1.dense(SHAPE), y[0], eta)
    opN = RandomInpainting(op.p, seeds=op.seeds * N) if isinstance(op, RandomInpainting) else op
    st = posterior_settings(name, task, SHAPE, (0.0, 1.0), nfe=nfe, oracle=True, **over)
    xT = torch.randn(N, *SHAPE, dtype=F64, generator=torch.Generator().manual_seed(6))
    gens = torch.Generator().manual_seed(7)
    x = run_posterior_sampler(name, prior, xT, y.expand(N, *y.shape[1:]), opN, eta, st, data_range=(0.0, 1.0), generators=gens)
    sd = posterior_variance(post).sqrt()
    z = (x.mean(0) - posterior_mean(post)).reshape(-1) / sd.reshape(-1)
    return float(z.pow(2).mean().sqrt()), float((x.std(0).reshape(-1) / sd.reshape(-1)).mean())


# measured rms of (sampler mean - exact mean) / exact sd, N = 300 draws, 4x4 isotropic prior v = 0.25, eta = 0.05, SR x2
# (MC floor 1/sqrt(300) = 0.058): pigdm 0.061, ddrm 0.063, diffpir 0.026, daps (100 NFE, 30 Langevin) 0.044;
# the bounds leave a margin of about 2.5x over the Monte Carlo floor.
@pytest.mark.parametrize("name,nfe,bound", [("pigdm", 50, 0.15), ("ddrm", 20, 0.15), ("diffpir", 50, 0.15), ("daps", 100, 0.2)])
def test_sampler_mean_close_to_exact_on_gaussian_prior(name, nfe, bound):
    over = {"langevin_steps": 30} if name == "daps" else {}
    rms, _ = _run(name, _iso_prior(), BicubicSR(2), "sr", 300, 0.05, nfe=nfe, **over)
    assert rms < bound, (name, rms)


# ---------------------------------------------------------------- layout independence, settings, NFE


@pytest.mark.parametrize("name", POSTERIOR_SAMPLERS)
def test_layout_independence(name):
    # image i's draw depends on its own generator only: batch of 3 == each image alone
    prior, eta = _aniso_prior(), 0.1
    op3, op1 = RandomInpainting(0.5, seeds=[1, 2, 3]), [RandomInpainting(0.5, seeds=[s]) for s in (1, 2, 3)]
    truth = prior.sample(3, torch.Generator().manual_seed(0))
    y = op3.measure(truth, eta, [torch.Generator().manual_seed(i) for i in range(3)])
    nfe = {"dps": 6, "daps": 10}.get(name, 5)
    st = posterior_settings(name, "inpaint", SHAPE, (0.0, 1.0), nfe=nfe, oracle=True)
    if name == "daps":
        st["langevin_steps"] = 3
    xT = torch.randn(3, *SHAPE, dtype=F64, generator=torch.Generator().manual_seed(9))
    gens = lambda: [torch.Generator().manual_seed(50 + i) for i in range(3)]             # noqa: E731
    together = run_posterior_sampler(name, prior, xT, y, op3, eta, st, data_range=(0, 1), generators=gens())
    for i in range(3):
        alone = run_posterior_sampler(name, prior, xT[i:i + 1], y[i:i + 1], op1[i], eta, st, data_range=(0, 1),
                                      generators=gens()[i:i + 1])
        assert torch.allclose(together[i], alone[0], atol=1e-12, rtol=0), (name, i)


class _Counting:
    """A denoiser that counts its calls (attributes pass through to the wrapped one)."""

    def __init__(self, inner):
        self.inner, self.calls = inner, 0

    def __call__(self, x, sigma):
        self.calls += 1
        return self.inner(x, sigma)

    def __getattr__(self, name):
        return getattr(self.inner, name)


@pytest.mark.parametrize("name", POSTERIOR_SAMPLERS)
def test_the_tables_nfe_rule_is_the_samplers_forward_count_and_its_real_calls(name):
    """NFE has one home, the sampler table's rule: the module's cost breakdown (nfe(settings)["forward"]) and the
    denoiser calls one run really makes agree with it at the DAG's step counts."""
    from rwbench.plan import samplers

    row = samplers.get(name)
    prior, op = _iso_prior(), BicubicSR(2)
    y = op.measure(prior.sample(1, torch.Generator().manual_seed(0)), 0.1, [torch.Generator().manual_seed(1)])
    for steps in (max(row.min_steps, 2), 5):
        st = posterior_settings(name, "sr", SHAPE, (0.0, 1.0), steps=steps, oracle=True)
        if name == "daps":
            st["langevin_steps"] = 2
        counted = _Counting(prior)
        run_posterior_sampler(name, counted, torch.randn(1, *SHAPE, dtype=F64, generator=torch.Generator().manual_seed(2)),
                              y, op, 0.1, st, data_range=(0.0, 1.0), generators=[torch.Generator().manual_seed(3)])
        assert counted.calls == posterior_nfe(name, st)["forward"] == row.count_nfe(steps, {}), (name, steps)


def test_published_settings_and_nfe():
    # DDRM 20 steps, Pi-GDM 100 (+100 VJP), DiffPIR 100 / 20, DAPS 200 x 5, DPS 1000 (+1000 backward)
    assert posterior_nfe("ddrm", posterior_settings("ddrm", "sr", SHAPE, (-1, 1))) == {"forward": 20, "backward": 0, "total": 20}
    assert posterior_nfe("pigdm", posterior_settings("pigdm", "sr", SHAPE, (-1, 1)))["backward"] == 100
    assert posterior_settings("diffpir", "inpaint", SHAPE, (-1, 1))["steps"] == 20
    assert posterior_settings("diffpir", "deblur", SHAPE, (-1, 1))["lam"] == pytest.approx(7.0 / 4)
    assert posterior_nfe("daps", posterior_settings("daps", "box", SHAPE, (-1, 1)))["forward"] == 1000
    assert posterior_nfe("dps", posterior_settings("dps", "sr", SHAPE, (-1, 1)))["total"] == 2000
    assert posterior_settings("daps", "sr", SHAPE, (-1, 1), nfe=100)["annealing_steps"] == 20
    d = posterior_settings("daps", "box", SHAPE, (0, 1))
    assert d["lr"] == pytest.approx(5e-5 / 4) and d["tau"] == pytest.approx(0.01 / math.sqrt(2) / 2)
    assert posterior_settings("pigdm", "sr", SHAPE, (0, 1))["data_var"] == pytest.approx(0.25)
    with pytest.raises(ValueError, match="no step count with exactly 12 forward passes"):
        posterior_settings("daps", "sr", SHAPE, (0, 1), nfe=12)
    assert posterior_settings("daps", "sr", SHAPE, (0, 1), steps=3)["annealing_steps"] == 3        # the DAG's steps
    assert posterior_settings("pigdm", "sr", SHAPE, (0, 1), step_scale=8.0)["ddim_eta"] == 1.0      # clamped to 1
    with pytest.raises(ValueError, match="not a posterior sampler"):
        posterior_settings("ddim", "sr", SHAPE, (0, 1))
    with pytest.raises(ValueError, match="no setting"):
        posterior_settings("ddrm", "sr", SHAPE, (0, 1), zeta=1.0)
    assert uniform_timesteps(20).tolist() == list(range(950, -1, -50))
    q = quad_timesteps(100)
    assert q[0] == 999 and q[-1] == 0 and torch.all(q[1:] <= q[:-1])


def test_dps_zeta_rescaled_per_pixel_and_clip_rule():
    assert scaled_zeta(0.5, (3, 256, 256), (-1, 1)) == pytest.approx(0.5)
    assert scaled_zeta(0.5, (1, 16, 16), (0, 1)) == pytest.approx(0.5 * math.sqrt(256 / 196608) * 0.5)
    assert scaled_zeta(0.5, (1, 16, 16), (0, 1), rule="none") == 0.5
    assert posterior_settings("dps", "inpaint", (3, 64, 64), (-1, 1))["zeta"] == pytest.approx(0.5 / 4)
    assert scaled_zeta(0.5, (3, 256, 256), (-1, 1), steps=100) == pytest.approx(5.0)        # respaced: betas 10x larger
    assert posterior_settings("dps", "sr", (3, 256, 256), (-1, 1), nfe=250)["zeta"] == pytest.approx(0.3 * 4)
    assert clip_range((-1, 1), oracle=False) == (-1.0, 1.0) and clip_range((0, 1), oracle=True) is None
    assert posterior_settings("dps", "sr", SHAPE, (0, 1), oracle=True)["clip"] is False


def test_bench_script_smoke(tmp_path, capsys):
    from rwbench.tools.bench import posterior as bench

    out = tmp_path / "rows.json"
    rc = bench.main(["--oracle", "synthetic", "--resolution", "4", "--components", "2", "--n-samples", "8", "--n-targets", "2",
                     "--tasks", "inpaint", "sr", "--etas", "0.1", "--nfe", "10", "--K", "10", "--daps-langevin", "2",
                     "--factor", "2", "--json", str(out), "--images", str(tmp_path / "im.safetensors")])
    assert rc == 0
    import json

    data = json.loads(out.read_text())
    rows = data["rows"]
    assert {(r["sampler"], r["task"]) for r in rows} == {(s, t) for s in ("rw",) + POSTERIOR_SAMPLERS for t in ("inpaint", "sr")}
    assert all("psnr_gap_n" in r and "coverage" in r and "ref_coverage" in r and "energy_distance" in r
               for r in rows if r["finite"])
    assert all(r["nfe"] == 10 for r in rows)
    assert len(data["summary"]) == 12 and all(s["targets"] == 2 for s in data["summary"])
    # both figures build from what the benchmark wrote
    from safetensors.torch import load_file

    from rwbench.figures import calibration, inverse_grid

    assert [p.name for p in calibration.build_bench(data["summary"], tmp_path)] == ["posterior-calibration-eta0.1.png"]
    grid = inverse_grid.build(load_file(str(tmp_path / "im.safetensors")), tmp_path, nfe=10)
    assert [p.name for p in grid] == ["posterior-grid-eta0.1.png"] and grid[0].stat().st_size > 0
    with pytest.raises(ValueError, match="sweep factor 2"):
        calibration.build_bench(data["summary"], tmp_path, sweep=2.0)
    assert inverse_grid.build(load_file(str(tmp_path / "im.safetensors")), tmp_path, nfe=None) == grid
    with pytest.raises(ValueError, match="nfe=11"):
        inverse_grid.build(load_file(str(tmp_path / "im.safetensors")), tmp_path, nfe=11)


# ---------------------------------------------------------------- seed streams shared by the DAG and the benchmark


def test_stream_names_keep_their_values():
    from rwbench.core.rng import image_seed, stream, stream_seed

    assert [stream(k, "sr") for k in ("noise", "mask", "measure", "exact")] == ["sr", "sr/mask", "sr/measure", "sr/exact"]
    assert stream_seed(3, "mask", "inpaint", 7) == image_seed(3, "inpaint/mask", 7)
    with pytest.raises(ValueError, match="unknown kind"):
        stream("masks", "sr")


@pytest.mark.parametrize("task", ["inpaint", "box", "sr"])
def test_bench_and_dag_use_identical_measurements(task, monkeypatch):
    import argparse

    from rwbench.run import runners as sampling
    from rwbench.tools.bench import posterior as bench
    from rwbench.data import from_uint8
    from rwbench.core.rng import randn_per_image, sample_index, stream_generators

    seed, eta, target, N = 4, 0.1, 2, 3
    images = torch.randint(0, 256, (5, 1, 8, 8), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    monkeypatch.setattr(sampling, "ground_truth_images", lambda spec, targets: images[torch.as_tensor(targets)])
    args = argparse.Namespace(n_samples=N, seed=seed, p=0.92, factor=4, blur_size=9, blur_std=1.5)
    tp = bench.task_params(task, 8, args)
    spec = {"task": task, "seed": seed, "task_params": {"eta": eta, **tp}, "data_range": (0.0, 1.0), "channels": 1,
            "resolution": 8}
    dag = sampling.make_inverse(spec, torch.tensor([target]), F64)
    truth = from_uint8(images[target:target + 1], (0.0, 1.0), dtype=F64)
    point = GaussianDenoiser(truth.reshape(-1), torch.zeros(64, 64, dtype=F64), sample_shape=(1, 8, 8))   # truth = this image
    pb = bench.problem(point, task, eta, target, args)
    assert torch.equal(pb["y"], dag.y)
    x = torch.rand(1, 1, 8, 8, dtype=F64)
    assert torch.equal(pb["op1"].A(x), dag.operator.A(x))
    # draw j of the target: the DAG's image t N + j has the same initial noise
    idx = [sample_index(target, j, N) for j in range(N)]
    x_dag, _ = sampling.initial_noise(spec, idx)
    assert torch.equal(randn_per_image(stream_generators(seed, "noise", task, idx), (1, 8, 8)), x_dag)


# measured on the 2-component 4x4 mixture, random inpainting 50 %, eta 0.05, N = 200: ||sampler mean - exact mean|| /
# ||prior mean - exact mean|| = pigdm (published, 100 steps) 0.230, ddrm (20) 0.451, diffpir (20) 0.610,
# daps (200 NFE, 50 Langevin) 0.258, dps (200 steps, zeta 0.2) 0.040. DPS at the per-pixel zeta rule (0.0072 here) is
# nearly unguided at d = 16 (0.946); 0.2 is from the sweep. None is exact on a mixture; the bounds leave ~1.5x margin.
@pytest.mark.parametrize("name,nfe,over,bound", [("pigdm", None, {}, 0.35), ("ddrm", None, {}, 0.65), ("diffpir", None, {}, 0.85),
                                                 ("daps", 200, {"langevin_steps": 50}, 0.4), ("dps", 200, {"zeta": 0.2}, 0.1)])
def test_sampler_mean_near_exact_on_mixture_prior(name, nfe, over, bound):
    prior, op, N, eta = _mixture_prior(), RandomInpainting(0.5, seeds=[3]), 200, 0.05
    g = torch.Generator().manual_seed(5)
    y = op.measure(prior.sample(1, g), eta, [g])
    exact = posterior_mean(gmm_posterior(prior, op.dense(SHAPE), y[0], eta)).reshape(-1)
    st = posterior_settings(name, "inpaint", SHAPE, (0.0, 1.0), nfe=nfe, oracle=True, **over)
    xT = torch.randn(N, *SHAPE, dtype=F64, generator=torch.Generator().manual_seed(6))
    x = run_posterior_sampler(name, prior, xT, y.expand(N, *y.shape[1:]), RandomInpainting(0.5, seeds=[3] * N), eta, st,
                              data_range=(0.0, 1.0), generators=torch.Generator().manual_seed(7))
    ratio = float((x.mean(0).reshape(-1) - exact).norm() / (prior.mean - exact).norm())
    assert ratio < bound, (name, ratio)


# ---------------------------------------------------------------- DAG rows (rwbench.plan.samplers) and dispatch


@pytest.mark.parametrize("name", POSTERIOR_SAMPLERS)
def test_dag_rows_run_and_shards_do_not_matter(name, monkeypatch):
    from rwbench.plan import config, grid, samplers
    from rwbench.run import runners as sampling

    cfg = config.load_config("config/default.yaml")
    (spec,) = [s for s in grid.expand_experiment(cfg, "calibration") if s["sampler"] == name and s["task"] == "sr"
               and s["nfe"] == 100 and s["task_params"]["eta"] == 0.05]
    row = samplers.get(name)
    assert row.posterior_module == f"rwbench.baselines.{name}" and row.run == "rwbench.run.runners.run_posterior"
    assert row.kind == ("native" if name == "dps" else "posterior") and row.inverse and not row.uncond
    assert spec["nfe"] == 100 and spec["steps"] == (20 if name == "daps" else 100)
    spec = dict(spec, steps=4 if name != "daps" else 2, resolution=8)
    g = torch.Generator().manual_seed(0)
    prior = GaussianMixtureDenoiser(torch.ones(2, dtype=F64), 0.5 + 0.2 * torch.randn(2, 64, generator=g, dtype=F64),
                                    0.02 * torch.eye(64, dtype=F64).expand(2, 64, 64), sample_shape=(1, 8, 8))
    images = torch.randint(0, 256, (4, 1, 8, 8), dtype=torch.uint8, generator=g)
    monkeypatch.setattr(sampling, "ground_truth_images", lambda s, targets: images[torch.as_tensor(targets)])
    whole = sampling.run_sampler(spec, prior, [0, 1, 2, 3], dtype=F64)
    parts = [sampling.run_sampler(spec, prior, idx, dtype=F64)["x"] for idx in ([0, 1], [2, 3])]
    assert torch.isfinite(whole["x"]).all() and "exact_mmse" in whole
    assert torch.allclose(whole["x"], torch.cat(parts), atol=1e-12, rtol=0)



def test_posterior_rows_name_a_module_with_the_protocol():
    from rwbench.plan import samplers

    for name in POSTERIOR_SAMPLERS:
        module = importlib.import_module(samplers.get(name).posterior_module)
        assert all(callable(getattr(module, fn)) for fn in ("published", "nfe", "run")), name
        settings = module.published("sr", (0.0, 1.0), image_shape=SHAPE, oracle=True, steps=5)
        assert samplers.get(name).step_param in settings
        assert module.nfe(settings)["forward"] == samplers.nfe(name, 5, {})        # the table's NFE rule agrees
    with pytest.raises(ValueError, match="names a posterior_module"):
        samplers.Sampler("bad", "posterior", ("steps",), "x.y", "x.y", tasks="inverse", fixed_schedule="ddpm")
    with pytest.raises(ValueError, match="solves inverse tasks"):
        samplers.Sampler("bad", "native", ("steps",), "x.y", "x.y", fixed_schedule="ddpm", posterior_module="x")


def _calibration_spec(name, **change):
    from rwbench.plan import config, grid

    cfg = config.load_config("config/default.yaml")
    (spec,) = [s for s in grid.expand_experiment(cfg, "calibration") if s["sampler"] == name and s["task"] == "inpaint"
               and s["nfe"] == 25 and s["task_params"]["eta"] == 0.05]
    return dict(spec, **change)


@pytest.mark.parametrize("scale", [1.0, 2.0])
@pytest.mark.parametrize("name,steps", [("dps", 4), ("pigdm", 4), ("daps", 2)])
def test_dag_and_bench_give_identical_samples(name, steps, scale, monkeypatch):
    """One run protocol: the DAG's runner (sampling.run_sampler on a calibration spec of config/default.yaml, shrunk to
    8 x 8 and a few steps) and the benchmark's run_cell draw bitwise the same samples of one target."""
    import argparse

    from rwbench.run import runners as sampling
    from rwbench.plan import samplers
    from rwbench.tools.bench import posterior as bench
    from rwbench.data import from_uint8
    from rwbench.core.rng import sample_index

    N, target = 3, 1
    spec = _calibration_spec(name, resolution=8, steps=steps, samples_per_target=N,
                             params={**_calibration_spec(name)["params"], "step_scale": scale})
    g = torch.Generator().manual_seed(0)
    prior = GaussianMixtureDenoiser(torch.ones(2, dtype=F64), 0.5 + 0.2 * torch.randn(2, 64, generator=g, dtype=F64),
                                    0.02 * torch.eye(64, dtype=F64).expand(2, 64, 64), sample_shape=(1, 8, 8))
    images = torch.randint(0, 256, (4, 1, 8, 8), dtype=torch.uint8, generator=g)
    monkeypatch.setattr(sampling, "ground_truth_images", lambda s, targets: images[torch.as_tensor(targets)])
    indices = [sample_index(target, j, N) for j in range(N)]
    dag = sampling.run_sampler(spec, prior, indices, dtype=F64)

    args = argparse.Namespace(n_samples=N, seed=spec["seed"], p=spec["task_params"]["p"], clip=False, level=0.9,
                              daps_langevin=None, daps_tau="published")
    truth = from_uint8(images[target:target + 1], (0.0, 1.0), dtype=F64)
    pb = bench.problem(prior, "inpaint", 0.05, target, args, truth=truth)
    assert torch.equal(pb["y"].expand_as(dag["inverse"].y), dag["inverse"].y)
    nfe = samplers.nfe(name, steps, spec["params"])
    row, x = bench.run_cell(prior, name, "inpaint", 0.05, target, pb, nfe, scale, args)
    assert row["nfe"] == nfe and row["sweep"] == scale
    assert torch.isfinite(x).all() and torch.equal(x, dag["x"]), (name, float((x - dag["x"]).abs().max()))
    step = samplers.get(name).step_param
    assert row["params"][step] == dag["step_param"][step]
