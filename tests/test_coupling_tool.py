"""rwbench.tools.coupling: the measured sd of the paired simplified-100 vs DDPM-1000 difference, with independent and
coupled noise, agrees with the closed form (rwbench.core.walk_moments.coupled_covariance per mixture component) on a
two-component oracle whose components are far apart (no image switches component, so the closed form is exact)."""

import torch

from rwbench.io import save_safetensors
from rwbench.models.denoisers import GaussianMixtureDenoiser
from rwbench.models.oracle import oracle_file, reference_file
from rwbench.tools import coupling

F64 = torch.float64


def test_measured_sds_match_the_closed_form(tmp_path):
    g = torch.Generator().manual_seed(3)
    d = 256
    A = torch.randn(1, d, 4, generator=g, dtype=F64) * 0.04
    covs = A @ A.transpose(1, 2) + 1e-3 * torch.eye(d, dtype=F64)           # low rank plus a floor, as the digits fit
    oracle = GaussianMixtureDenoiser(torch.tensor([1.0], dtype=F64), torch.full((1, d), 0.5, dtype=F64), covs,
                                     sample_shape=(1, 16, 16))
    oracle.save(oracle_file(tmp_path, "digits"))
    ref = oracle.sample(200, generator=torch.Generator().manual_seed(1))
    save_safetensors(reference_file(tmp_path, "digits"), {"images": (ref.clamp(0, 1) * 255).round().to(torch.uint8)})
    rows = {r["metric"]: r for r in coupling.measure(str(tmp_path), n=64, seeds=(0, 1), pairs=coupling.PAIRS[:1])}
    vr = rows["variance_ratio"]
    assert vr["n"] == 128 and rows["energy_distance"]["closed_form_ratio"] == ""
    for measured, exact in ((vr["sd_uncoupled"], vr["closed_form_sd_uncoupled"]),
                            (vr["sd_coupled"], vr["closed_form_sd_coupled"])):
        assert abs(measured / exact - 1) < 0.25, (measured, exact)       # an sd over 128 pairs: se ~ 8 %
    assert vr["closed_form_ratio"] > 1 and vr["ratio"] > 1
