"""Native VE solvers (rwbench.baselines.solvers) on exact Gaussian / mixture priors: PF-ODE convergence order against
the closed-form flow, ancestral marginals, per-image reproducibility, eta = 0 reductions, NFE, and (optional oracle)
k-diffusion's samplers module with identical noise."""

import math

import pytest
import torch

from rwbench.core import schedules
from rwbench.baselines import solvers
from rwbench.plan import samplers
from rwbench.baselines.kdiffusion import StepNoise, sampling as kdiffusion_sampling
from rwbench.models.denoisers import GaussianDenoiser, GaussianMixtureDenoiser
from rwbench.core.rng import image_generators

F64 = torch.float64
SHAPE = (3, 1, 2, 3)  # 3 images of 6 values


def gaussian(seed=0, d=6, shape=SHAPE[1:]):
    """N(m, C) with eigenvalues spread over 0.02 .. 4: the PF-ODE is curved on every scale."""
    g = torch.Generator().manual_seed(seed)
    Q, _ = torch.linalg.qr(torch.randn(d, d, generator=g, dtype=F64))
    lam = torch.logspace(math.log10(0.02), math.log10(4.0), d, dtype=F64)
    return GaussianDenoiser(torch.randn(d, generator=g, dtype=F64), Q @ torch.diag(lam) @ Q.T, sample_shape=shape)


def mixture(seed=1, d=6):
    """A nonlinear exact denoiser: two Gaussian components."""
    g = torch.Generator().manual_seed(seed)
    A = 0.4 * torch.randn(2, d, d, generator=g, dtype=F64)
    covs = A @ A.transpose(1, 2) + 0.05 * torch.eye(d, dtype=F64)
    return GaussianMixtureDenoiser(torch.tensor([0.4, 0.6], dtype=F64), 1.5 * torch.randn(2, d, generator=g, dtype=F64),
                                   covs, sample_shape=SHAPE[1:])


def exact_flow(prior: GaussianDenoiser, x0: torch.Tensor, s0: float, s1: float) -> torch.Tensor:
    """Closed-form PF-ODE dx/dsigma = sigma (C + sigma^2 I)^-1 (x - m): in C's eigenbasis each coordinate scales by
    sqrt((lam + s1^2) / (lam + s0^2))."""
    m, U, lam = prior.means[0], prior.eigvecs[0], prior.eigvals[0]
    y = (x0.reshape(x0.shape[0], -1) - m) @ U
    scale = torch.sqrt((lam + s1**2) / (lam + s0**2))
    return (m + (y * scale) @ U.T).reshape(x0.shape)


def karras(n, sigma_min=0.002, sigma_max=80.0, rho=7.0, zero=True):
    ramp = torch.linspace(0, 1, n, dtype=F64)
    s = (sigma_max ** (1 / rho) + ramp * (sigma_min ** (1 / rho) - sigma_max ** (1 / rho))) ** rho
    return torch.cat([s, torch.zeros(1, dtype=F64)]) if zero else s


def rel(a, b):
    return ((a - b).flatten(1).norm(dim=1) / b.flatten(1).norm(dim=1)).max().item()


class Counting:
    def __init__(self, den):
        self.den, self.calls, self.levels = den, 0, []

    def __call__(self, x, sigma):
        assert isinstance(sigma, torch.Tensor) and sigma.dtype == F64 and sigma.ndim == 0
        self.calls += 1
        self.levels.append(float(sigma))
        return self.den(x, sigma)


# ---------------------------------------------------------------- deterministic solvers: order of convergence


ODE_ORDERS = {"euler": 1, "heun": 2, "dpmpp_2m": 2, "dpmpp_2m_sde": 2}


@pytest.mark.parametrize("name", list(ODE_ORDERS))
def test_ode_solvers_converge_to_the_exact_flow_with_their_order(name):
    prior = gaussian()
    x0 = 10.0 * torch.randn(SHAPE, generator=torch.Generator().manual_seed(3), dtype=F64)
    solve = getattr(solvers, name)
    kw = {"eta": 0.0} if name == "dpmpp_2m_sde" else {}
    exact = exact_flow(prior, x0, 10.0, 0.05)
    errors = []
    for n in (20, 40, 80):
        ladder = torch.logspace(1, math.log10(0.05), n + 1, dtype=F64)  # geometric 10 -> 0.05, n steps, no zero
        errors.append(rel(solve(prior, x0, ladder, **kw), exact))
    ratios = [errors[0] / errors[1], errors[1] / errors[2]]
    expected = 2.0 ** ODE_ORDERS[name]
    assert all(0.8 * expected < r < 1.2 * expected for r in ratios), (errors, ratios)
    assert errors[-1] < (0.05 if ODE_ORDERS[name] == 1 else 2e-3)


def test_last_step_to_zero_lands_on_the_denoiser_and_heun_saves_a_call():
    prior = gaussian()
    x0 = 5.0 * torch.randn(SHAPE, generator=torch.Generator().manual_seed(4), dtype=F64)
    ladder = karras(8, sigma_max=5.0)
    for name in ("euler", "heun", "dpmpp_2m", "euler_ancestral", "dpmpp_2m_sde"):
        den = Counting(prior)
        kw = {"eta": 0.0} if "sde" in name or "ancestral" in name else {}
        steps = []
        out = getattr(solvers, name)(den, x0, ladder, callback=steps.append, **kw)
        # the sampler table's NFE rule (the one home of NFE counts) is what the solver really spends
        row = samplers.get(name.replace("_", "-"))
        assert den.calls == row.count_nfe(len(ladder) - 1, {}), name
        last = steps[-1]
        assert float(last["sigma_next"]) == 0.0 and torch.equal(out, last["x_next"])
        # every solver's step to sigma = 0 is x + (0 - sigma)(x - D)/sigma = D(x, sigma_{N-1})
        assert torch.allclose(out, last["denoised"], rtol=1e-13, atol=1e-13), name
    heun, euler = samplers.get("heun"), samplers.get("euler")
    assert heun.count_nfe(8, {}) == 2 * 8 - 1 and samplers.get("dpmpp-2m").count_nfe(8, {}) == 8
    assert heun.steps_for_nfe(15, {}) == 8 and heun.steps_for_nfe(16, {}) == 8 and euler.steps_for_nfe(16, {}) == 16


# ---------------------------------------------------------------- stochastic solvers


def test_ancestral_step_splits_the_next_level_exactly():
    for s_from, s_to in ((10.0, 3.0), (1.0, 0.999), (0.5, 0.0)):
        for eta in (0.0, 0.3, 1.0):
            down, up = schedules.ancestral_step(s_from, s_to, eta)
            assert down**2 + up**2 == pytest.approx(s_to**2, rel=1e-14, abs=1e-300)
            assert 0 <= down <= s_to
    # eta = 1: the DDPM posterior q(x_to | x_from, x_0) in VE coordinates, sigma_up^2 = s_to^2 (s_from^2 - s_to^2)/s_from^2
    down, up = schedules.ancestral_step(2.0, 1.0, 1.0)
    assert up == pytest.approx(math.sqrt(0.75), rel=1e-15) and down == pytest.approx(0.5, rel=1e-15)
    assert schedules.ancestral_step(2.0, 1.0, 0.0) == (1.0, 0.0)
    assert schedules.ancestral_step(2.0, 1.0, 5.0) == (0.0, 1.0)  # sigma_up is capped at sigma_to
    with pytest.raises(ValueError, match="eta"):
        schedules.ancestral_step(2.0, 1.0, -0.1)


def test_eta_zero_reduces_to_the_ode_solvers():
    prior = mixture()
    x0 = 20.0 * torch.randn(SHAPE, generator=torch.Generator().manual_seed(5), dtype=F64)
    ladder = karras(12, sigma_max=20.0)
    assert torch.equal(solvers.euler_ancestral(prior, x0, ladder, eta=0.0), solvers.euler(prior, x0, ladder))
    assert rel(solvers.dpmpp_2m_sde(prior, x0, ladder, eta=0.0), solvers.dpmpp_2m(prior, x0, ladder)) < 1e-13
    # no churn: Heun draws nothing and needs no noise source
    assert torch.equal(solvers.heun(prior, x0, ladder, s_churn=0.0), solvers.heun(prior, x0, ladder))


LAM = torch.tensor([0.05, 0.3, 1.0, 3.0], dtype=F64)


def _exact_output_variance(name, sigmas, eta):
    """On N(0, diag(LAM)) the solver is linear in (x_0, n_0..n_{N-1}), coordinate by coordinate: run it on probes
    (row 0: x_0 = sigma_0, no noise; row i + 1: x_0 = 0, n_i = 1) and sum the squares -> Var(x_N) exactly."""
    prior = GaussianDenoiser(torch.zeros(4, dtype=F64), torch.diag(LAM))
    N = sigmas.numel() - 1
    x0 = torch.zeros(N + 1, 4, dtype=F64)
    x0[0] = float(sigmas[0])
    noise = torch.zeros(N, N + 1, 4, dtype=F64)
    for i in range(N):
        noise[i, i + 1] = 1.0
    return (getattr(solvers, name)(prior, x0, sigmas, eta=eta, noise=noise) ** 2).sum(0)


@pytest.mark.parametrize("name,order", [("euler_ancestral", 1), ("dpmpp_2m_sde", 2)])
def test_ancestral_samplers_reach_the_prior_marginal_with_their_order(name, order):
    """x_0 ~ sigma_max N(0, I) -> N(0, diag(LAM)): the exact variance of the discrete sampler tends to LAM."""
    errors = [(_exact_output_variance(name, karras(n, sigma_max=40.0), 1.0) / LAM - 1).abs().max().item()
              for n in (20, 40, 80)]
    ratios = [errors[0] / errors[1], errors[1] / errors[2]]
    assert all(0.75 * 2**order < r < 1.3 * 2**order for r in ratios), (errors, ratios)
    assert errors[-1] < (0.25 if order == 1 else 0.02)


@pytest.mark.parametrize("name", ["euler_ancestral", "dpmpp_2m_sde"])
def test_ancestral_noise_gives_the_predicted_variance(name):
    """Monte Carlo with the solver's own generator draws: sample variance within sampling error of the exact one."""
    prior = GaussianDenoiser(torch.zeros(4, dtype=F64), torch.diag(LAM))
    sigmas, n = karras(15, sigma_max=40.0), 3000
    g = torch.Generator().manual_seed(6)
    out = getattr(solvers, name)(prior, 40.0 * torch.randn(n, 4, generator=g, dtype=F64), sigmas, eta=0.8, generator=g)
    expected = _exact_output_variance(name, sigmas, 0.8)
    se = expected * math.sqrt(2.0 / (n - 1))
    assert torch.all((out.var(dim=0) - expected).abs() < 4.5 * se), (out.var(dim=0), expected)
    assert out.mean(dim=0).abs().max() < 4.5 * math.sqrt(expected.max() / n)


@pytest.mark.parametrize("name", ["euler_ancestral", "dpmpp_2m_sde", "heun", "euler"])
def test_per_image_generators_make_images_independent_of_batch_layout(name):
    prior = mixture()
    x0 = 10.0 * torch.randn(SHAPE, generator=torch.Generator().manual_seed(7), dtype=F64)
    ladder = karras(10, sigma_max=10.0)
    kw = {"s_churn": 5.0} if name in ("heun", "euler") else {"eta": 0.7}
    fn = getattr(solvers, name)
    whole = fn(prior, x0, ladder, generator=image_generators(3, "t", [0, 1, 2]), **kw)
    alone = fn(prior, x0[2:3], ladder, generator=image_generators(3, "t", [2]), **kw)
    swapped = fn(prior, x0[[2, 0]], ladder, generator=image_generators(3, "t", [2, 0]), **kw)
    assert torch.allclose(alone[0], whole[2], rtol=1e-13, atol=1e-13)
    assert torch.allclose(swapped, whole[[2, 0]], rtol=1e-13, atol=1e-13)
    # the noise is used: other seeds give other images
    other = fn(prior, x0, ladder, generator=image_generators(4, "t", [0, 1, 2]), **kw)
    assert rel(other, whole) > 1e-3


def test_explicit_noise_rows_are_used_per_step():
    prior = gaussian()
    x0 = 10.0 * torch.randn(SHAPE, generator=torch.Generator().manual_seed(8), dtype=F64)
    ladder = karras(6, sigma_max=10.0)
    noise = torch.randn(6, *SHAPE, generator=torch.Generator().manual_seed(9), dtype=F64)
    base = solvers.euler_ancestral(prior, x0, ladder, noise=noise)
    changed = noise.clone()
    changed[-1] += 1.0  # the last step goes to sigma = 0: its noise row is never used
    assert torch.equal(solvers.euler_ancestral(prior, x0, ladder, noise=changed), base)
    changed[2] += 1.0
    assert not torch.equal(solvers.euler_ancestral(prior, x0, ladder, noise=changed), base)


def test_bad_inputs_fail_with_one_line():
    prior = gaussian()
    x0 = torch.zeros(SHAPE, dtype=F64)
    with pytest.raises(ValueError, match="must not increase"):
        solvers.euler(prior, x0, torch.tensor([1.0, 2.0, 0.0], dtype=F64))
    with pytest.raises(ValueError, match="except the last"):
        solvers.heun(prior, x0, torch.tensor([2.0, 0.0, 0.0], dtype=F64))
    with pytest.raises(ValueError, match="at least 2"):
        solvers.dpmpp_2m(prior, x0, torch.tensor([2.0], dtype=F64))
    with pytest.raises(ValueError, match="noise/generator"):
        solvers.euler_ancestral(prior, x0, karras(4))
    with pytest.raises(ValueError, match="noise: need shape"):
        solvers.dpmpp_2m_sde(prior, x0, karras(4), noise=torch.zeros(3, *SHAPE, dtype=F64))
    with pytest.raises(ValueError, match="one generator per image"):
        solvers.euler_ancestral(prior, x0, karras(4), generator=image_generators(0, "t", [0]))
    with pytest.raises(ValueError, match="solver_type"):
        solvers.dpmpp_2m_sde(prior, x0, karras(4), eta=0.0, solver_type="rk4")


# ---------------------------------------------------------------- k-diffusion as an oracle (optional)


KD, KD_REASON = kdiffusion_sampling()
needs_kd = pytest.mark.skipif(KD is None, reason=f"optional oracle absent: {KD_REASON}")
TOL = 1e-12  # rounding error: the same float64 arithmetic up to the order of operations


def _kd_model(prior):
    return lambda x, sigma: prior(x, sigma)  # k-diffusion passes sigma as a [B] tensor; the oracle takes it per sample


def _ladders():
    return {"karras-to-zero": karras(15, sigma_max=30.0), "geometric-no-zero": torch.logspace(1.3, -1.5, 12, dtype=F64)}


@needs_kd
@pytest.mark.parametrize("ladder_name", ["karras-to-zero", "geometric-no-zero"])
@pytest.mark.parametrize("prior_name", ["gaussian", "mixture"])
def test_matches_kdiffusion_deterministic(prior_name, ladder_name):
    prior = gaussian() if prior_name == "gaussian" else mixture()
    sigmas = _ladders()[ladder_name]
    x0 = float(sigmas[0]) * torch.randn(SHAPE, generator=torch.Generator().manual_seed(10), dtype=F64)
    m = _kd_model(prior)
    pairs = [(solvers.euler(prior, x0, sigmas), KD.sample_euler(m, x0, sigmas, disable=True)),
             (solvers.heun(prior, x0, sigmas), KD.sample_heun(m, x0, sigmas, disable=True)),
             (solvers.dpmpp_2m(prior, x0, sigmas), KD.sample_dpmpp_2m(m, x0, sigmas, disable=True))]
    for ours, theirs in pairs:
        assert rel(ours, theirs) <= TOL


@needs_kd
@pytest.mark.parametrize("eta", [1.0, 0.5, 0.0])
@pytest.mark.parametrize("ladder_name", ["karras-to-zero", "geometric-no-zero"])
def test_matches_kdiffusion_stochastic(eta, ladder_name):
    prior = mixture()
    sigmas = _ladders()[ladder_name]
    N = sigmas.numel() - 1
    g = torch.Generator().manual_seed(11)
    x0 = float(sigmas[0]) * torch.randn(SHAPE, generator=g, dtype=F64)
    noise = torch.randn(N, *SHAPE, generator=g, dtype=F64)
    m = _kd_model(prior)
    for s_noise in (1.0, 0.8):
        ours = solvers.euler_ancestral(prior, x0, sigmas, eta=eta, s_noise=s_noise, noise=noise)
        theirs = KD.sample_euler_ancestral(m, x0, sigmas, eta=eta, s_noise=s_noise, noise_sampler=StepNoise(noise, sigmas),
                                           disable=True)
        assert rel(ours, theirs) <= TOL
        for solver_type in ("midpoint", "heun"):
            ours = solvers.dpmpp_2m_sde(prior, x0, sigmas, eta=eta, s_noise=s_noise, noise=noise, solver_type=solver_type)
            theirs = KD.sample_dpmpp_2m_sde(m, x0, sigmas, eta=eta, s_noise=s_noise, noise_sampler=StepNoise(noise, sigmas),
                                            solver_type=solver_type, disable=True)
            assert rel(ours, theirs) <= TOL


@needs_kd
@pytest.mark.parametrize("name", ["heun", "euler"])
def test_matches_kdiffusion_with_churn(name):
    """Karras Alg. 2: k-diffusion draws randn_like(x) from the global RNG at every step; replay those draws."""
    prior = mixture()
    sigmas = karras(10, sigma_max=30.0)
    x0 = 30.0 * torch.randn(SHAPE, generator=torch.Generator().manual_seed(12), dtype=F64)
    kw = dict(s_churn=4.0, s_tmin=0.05, s_tmax=20.0, s_noise=1.003)
    torch.manual_seed(13)
    noise = torch.stack([torch.randn_like(x0) for _ in range(10)])
    torch.manual_seed(13)
    theirs = getattr(KD, f"sample_{name}")(_kd_model(prior), x0, sigmas, disable=True, **kw)
    ours = getattr(solvers, name)(prior, x0, sigmas, noise=noise, **kw)
    assert rel(ours, theirs) <= TOL
    assert rel(ours, getattr(solvers, name)(prior, x0, sigmas)) > 1e-4  # the churn changed the result
