import math
import re

import pytest
import torch

from rwbench.core import schedules
from rwbench.core import schedules as S


def test_vp_sigma_range_matches_paper():
    sig = S.vp_sigmas(S.linear_betas())
    assert sig.dtype == torch.float64 and sig.numel() == 1000
    assert sig[0].item() == pytest.approx(0.0100005, rel=1e-5)
    assert sig[-1].item() == pytest.approx(157.41, rel=1e-4)
    assert torch.all(sig[1:] > sig[:-1])


def test_sigmoid_check_values_eq25():
    sig = S.vp_sigmas(S.linear_betas())
    lad = S.sigmoid(11, sig[0].item(), sig[-1].item())
    expected = {1: 84.7, 2: 37.5, 3: 14.9, 5: 2.10, 7: 0.283, 10: 0.0100}
    for k, v in expected.items():
        assert lad[k].item() == pytest.approx(v, rel=2e-3), k
    assert lad[0].item() == pytest.approx(sig[-1].item(), rel=1e-12)


@pytest.mark.parametrize("name", ["sigmoid", "linear", "geometric", "karras"])
def test_ladders_decrease_from_max_to_min(name):
    lad = S.ladder(name, 50, 0.01, 80.0)
    assert lad.dtype == torch.float64 and lad.shape == (50,)
    assert torch.all(lad[1:] < lad[:-1])
    assert lad[0].item() == pytest.approx(80.0, rel=1e-9)
    assert lad[-1].item() == pytest.approx(0.01, rel=1e-5)  # sigmoid floors g at 1e-9


def test_geometric_matches_ve_formula():
    K = 1000
    lad = S.geometric(K, 0.01, 348.0)
    k = torch.arange(K, dtype=torch.float64)
    assert torch.allclose(lad, 0.01 * 34800.0 ** ((K - 1 - k) / (K - 1)), rtol=1e-12)


def test_vp_pretrained_interpolates_model_levels():
    betas = S.linear_betas()
    sig = S.vp_sigmas(betas)
    full = S.vp_pretrained(1000, betas)
    assert torch.allclose(full, sig.flip(0), rtol=1e-12)
    half = S.vp_pretrained(3, betas)
    assert half[1].item() == pytest.approx(0.5 * (sig[499] + sig[500]).item(), rel=1e-12)


def test_step_and_temperature_rules():
    sig = torch.tensor([4.0, 2.0, 1.0], dtype=torch.float64)
    assert torch.allclose(S.proportional_steps(sig, 0.5), torch.tensor([8.0, 2.0, 0.5], dtype=torch.float64))
    assert torch.allclose(S.proportional_steps(sig, 0.5, cap=1.0), torch.tensor([1.0, 1.0, 0.5], dtype=torch.float64))
    temps = S.linear_temperatures(5, 0.2, 1.0)
    assert temps[0].item() == pytest.approx(0.2) and temps[-1].item() == 1.0
    assert torch.allclose(temps.diff(), torch.full((4,), 0.2, dtype=torch.float64))
    assert torch.all(S.constant_temperatures(4, 0.7) == 0.7)


@pytest.mark.parametrize("call, word", [
    (lambda: S.geometric(10, 0.0, 1.0), "sigma_min"),
    (lambda: S.linear(10, 2.0, 1.0), "sigma_max"),
    (lambda: S.sigmoid(0, 0.1, 1.0), "K"),
    (lambda: S.proportional_steps(torch.ones(3), -1.0), "c"),
    (lambda: S.linear_temperatures(3, -0.1), "temperatures"),
    (lambda: S.ladder("cosine", 3, 0.1, 1.0), "schedule"),
])
def test_bad_schedule_arguments_name_the_argument(call, word):
    with pytest.raises(ValueError, match=word):
        call()


# ---------------------------------------------------------------- sigma(t): one map and its inverse


def test_sigma_at_and_t_at_are_inverse_and_hit_the_ddpm_levels():
    levels = schedules.vp_sigmas(schedules.linear_betas())
    t = torch.tensor([0.0, 0.25, 10.5, 499.9, 998.0, 999.0], dtype=torch.float64)
    sig = schedules.sigma_at(t, levels)
    assert torch.equal(schedules.sigma_at(torch.arange(1000.0), levels), levels)      # integer t: the level itself
    back = torch.tensor([schedules.t_at(s, levels) for s in sig], dtype=torch.float64)
    assert torch.allclose(back, t, rtol=0, atol=1e-9)
    assert schedules.t_at(levels[0] / 2, levels) == 0.0 and schedules.t_at(levels[-1] * 2, levels) == 999.0


def test_every_vp_time_map_is_sigma_at():
    """The VP adapter, its inverse conversion (native samplers), the preconditioning and the pretrained ladder all use
    sigma_at: at fractional t, interpolating abar linearly (the old eps conversion) gives another sigma."""
    from rwbench.models.denoisers import GaussianDenoiser, VPEpsDenoiser, eps_from_denoiser
    from rwbench.models.preconditioning import vp_sigma

    betas = schedules.linear_betas()
    abar = schedules.alphas_cumprod(betas)
    levels = schedules.vp_sigmas(betas)
    t = 10.5
    sigma = float(schedules.sigma_at(t, levels))
    ab_lerp = float(abar[10] * 0.5 + abar[11] * 0.5)
    assert abs(math.sqrt((1 - ab_lerp) / ab_lerp) - sigma) > 1e-6        # the two maps differ here
    obj = {"T": 1000, "beta_min": 1e-4, "beta_max": 0.02}
    assert float(vp_sigma(torch.tensor([t]), obj)) == sigma
    assert float(schedules.vp_pretrained(3, betas)[1]) == float(schedules.sigma_at(499.5, levels))
    # round trip: the adapter around the conversion gives the denoiser back at a level between two DDPM steps
    D = GaussianDenoiser(torch.zeros(4, dtype=torch.float64), 0.3 * torch.eye(4, dtype=torch.float64))
    wrapped = VPEpsDenoiser(eps_from_denoiser(D, abar), abar)
    x = torch.linspace(-1, 1, 4, dtype=torch.float64).reshape(1, 4)
    assert torch.allclose(wrapped(x, sigma), D(x, torch.tensor(sigma, dtype=torch.float64)), rtol=0, atol=1e-12)


def test_sigma_of_abar_keeps_scalar_callers_bits():
    """A float abar gives the float math.sqrt((1 - abar) / abar) (the eps conversion and the forward process read
    single levels that way); tensors give the elementwise float64 map; both invert abar = 1 / (1 + sigma^2)."""
    abar = schedules.alphas_cumprod(schedules.linear_betas())
    for t in (0, 1, 217, 999):
        a = float(abar[t])
        assert schedules.sigma_of_abar(a) == math.sqrt((1.0 - a) / a)
        assert abs(1.0 / (1.0 + schedules.sigma_of_abar(a) ** 2) - a) < 1e-15
    assert torch.allclose(schedules.sigma_of_abar(abar), schedules.vp_sigmas(schedules.linear_betas()), rtol=0, atol=0)


def _code_only(path) -> str:
    """The file's code with comments and strings blanked (tokenize), so docstrings may state the formula."""
    import io
    import tokenize

    out = []
    for tok in tokenize.generate_tokens(io.StringIO(path.read_text()).readline):
        if tok.type not in (tokenize.COMMENT, tokenize.STRING, tokenize.NL, tokenize.NEWLINE):
            out.append(tok.string)
    return " ".join(out)


# sigma = sqrt((1 - abar) / abar) written out: "sqrt((1 - a) / a)" or "((1 - a) / a).sqrt()" with the same name on
# both sides (IADB's bridge level (1 - a) / a has no root: another map); its inverse
# abar = 1 / (1 + sigma^2): "1 / ( 1 + s * s )" or "... s ** 2 )"
_N = r"([A-Za-z_][\w.]*)"
_RATIO = r"\(\s*1(?:\.0)?\s*-\s*{n}\s*\)\s*/\s*{b}"
SIGMA_OF_ABAR = re.compile(r"sqrt\s*\(\s*" + _RATIO.format(n=_N, b=r"\1") + r"\s*\)"
                           + r"|\(\s*" + _RATIO.format(n=_N, b=r"\2") + r"\s*\)\s*(?:\.\s*sqrt|\*\*\s*0?\.5)")
ABAR_OF_SIGMA = re.compile(r"1(?:\.0)?\s*/\s*\(\s*1(?:\.0)?\s*\+\s*([A-Za-z_][\w.]*)\s*(?:\*\s*\1|\*\*\s*2)\s*\)"
                           # its square root, the VP input scale 1 / sqrt(1 + sigma^2) (schedules.vp_input_scale)
                           r"|1(?:\.0)?\s*/\s*(?:math\.|torch\.)?sqrt\s*\(\s*1(?:\.0)?\s*\+\s*([A-Za-z_][\w.]*)\s*(?:\*\s*\2|\*\*\s*2)\s*\)")


def test_sigma_of_abar_and_its_inverse_are_written_once():
    """One home: only rwbench/core/schedules.py spells sigma = sqrt((1 - abar) / abar) or abar = 1 / (1 + sigma^2);
    everything else calls sigma_of_abar / abar_of_sigma (the scan itself is checked on a planted copy)."""
    from pathlib import Path

    package = Path(schedules.__file__).resolve().parents[1]
    home = package / "core" / "schedules.py"
    assert SIGMA_OF_ABAR.search(_code_only(home)) and ABAR_OF_SIGMA.search(_code_only(home))
    offenders = [str(p.relative_to(package)) for p in sorted(package.rglob("*.py")) if p != home
                 and (SIGMA_OF_ABAR.search(_code_only(p)) or ABAR_OF_SIGMA.search(_code_only(p)))]
    assert not offenders, f"sigma(abar) or abar(sigma) written out of rwbench/core/schedules.py: {offenders}"
    for planted in ("s = ((1.0 - abar) / abar).sqrt()", "ab = 1.0 / (1.0 + sigma * sigma)", "a = 1 / (1 + s ** 2)",
                    "scale = 1.0 / math.sqrt(1.0 + s * s)"):
        assert SIGMA_OF_ABAR.search(planted) or ABAR_OF_SIGMA.search(planted), planted
    assert not SIGMA_OF_ABAR.search("math.sqrt((1.0 - abar_prev) / (1.0 - abar))")   # DDIM's eq. 16 is another thing
    assert not SIGMA_OF_ABAR.search("sigma = (1.0 - av) / av")                       # the IADB bridge's level


def test_vp_input_scale_is_the_square_root_of_abar():
    for s in (0.0, 0.01, 0.37, 1.0, 80.0, 157.4):
        assert schedules.vp_input_scale(s) == pytest.approx(math.sqrt(schedules.abar_of_sigma(s)), rel=1e-15)
    assert schedules.vp_input_scale(0.37) == 1.0 / math.sqrt(1.0 + 0.37 * 0.37)      # the VP denoiser's bits


def test_abar_of_sigma_inverts_sigma_of_abar():
    abar = schedules.alphas_cumprod(schedules.linear_betas())
    assert torch.allclose(schedules.abar_of_sigma(schedules.sigma_of_abar(abar)), abar, rtol=1e-12, atol=0)
    s = 0.37
    assert schedules.abar_of_sigma(s) == 1.0 / (1.0 + s * s) and isinstance(schedules.abar_of_sigma(s), float)
