"""FID / KID / precision-recall through torch-fidelity against closed forms, via a registered lookup extractor."""

import json
import math

import numpy as np
import pytest
import torch
from torch_fidelity.feature_extractor_base import FeatureExtractorBase

from rwbench.metrics import extractors as ex
from rwbench.metrics import fidelity
from rwbench.metrics.reference import reference_cache_path, reference_statistics


class LookupExtractor(FeatureExtractorBase):
    """Test extractor: image i encodes its index in two uint8 pixels; its features are TABLE[i]."""

    TABLE = torch.zeros(1, 1)

    def __init__(self, name, features_list, **kwargs):
        super().__init__(name, features_list)

    @staticmethod
    def get_provided_features_list():
        return ("lookup",)

    @staticmethod
    def get_default_feature_layer_for_metric(metric):
        return "lookup"

    @staticmethod
    def can_be_compiled():
        return False

    @staticmethod
    def get_dummy_input_for_compile():
        return torch.zeros(1, 3, 1, 2, dtype=torch.uint8)

    def forward(self, x):
        assert x.dtype == torch.uint8 and x.shape[1] == 3  # gray input was replicated to RGB
        index = x[:, 0, 0, 0].long() * 256 + x[:, 0, 0, 1].long()
        return (LookupExtractor.TABLE[index].float(),)


NAME = "rwbench-test-lookup"


def encode(indices):
    """uint8 gray images [N, 1, 1, 2] carrying each index in base 256."""
    indices = torch.as_tensor(indices)
    return torch.stack([indices // 256, indices % 256], dim=-1).to(torch.uint8).view(-1, 1, 1, 2)


def gaussian(n, mean, cov, seed):
    gen = np.random.default_rng(seed)
    return torch.from_numpy(gen.multivariate_normal(mean, cov, size=n))


MU_A, MU_B = np.array([0.0, 0.0, 0.0]), np.array([1.0, -0.5, 0.25])
COV_A = np.array([[1.0, 0.3, 0.0], [0.3, 2.0, 0.1], [0.0, 0.1, 0.5]])
COV_B = np.array([[0.5, 0.0, 0.0], [0.0, 1.0, -0.2], [0.0, -0.2, 1.5]])
N = 20000


@pytest.fixture()
def lookup(tmp_path):
    """Register the lookup extractor with A = table[:N] and B = table[N:]; reference file holds B's images."""
    a, b = gaussian(N, MU_A, COV_A, 1), gaussian(N, MU_B, COV_B, 2)
    LookupExtractor.TABLE = torch.cat([a, b]).float()
    ex.register_extractor(NAME, LookupExtractor)
    ref_file = tmp_path / "ref.pt"
    torch.save(encode(torch.arange(N, 2 * N)), ref_file)
    info = ex.resolve_extractor(NAME)
    return dict(a=a.float(), b=b.float(), info=info, reference={"kind": "file", "path": str(ref_file)},
                cache=tmp_path / "cache")


def analytic_fid(mu1, s1, mu2, s2):
    """Closed form with eigen-decomposition: tr sqrt(S1 S2) = sum sqrt(eig(S1^1/2 S2 S1^1/2))."""
    w, v = np.linalg.eigh(s1)
    root = v @ np.diag(np.sqrt(w)) @ v.T
    inner = np.linalg.eigvalsh(root @ s2 @ root)
    return float(np.sum((mu1 - mu2) ** 2) + np.trace(s1) + np.trace(s2) - 2 * np.sum(np.sqrt(inner)))


def pipeline_fid(lookup, sample_indices):
    ref = reference_statistics(lookup["reference"], lookup["info"], lookup["cache"], channels=1)
    extractor = ex.build_extractor(lookup["info"])
    images, conversion = ex.prepare_uint8(encode(sample_indices), NAME)
    assert conversion == ref["conversion"] and "gray->rgb replicate" in conversion
    gen = ex.extract_features(extractor, images, batch_size=4096)["lookup"]
    return fidelity.fid_from_statistics(fidelity.feature_statistics(gen), ref), gen, ref


def test_fid_matches_closed_form(lookup):
    fid, gen, ref = pipeline_fid(lookup, torch.arange(N))
    assert torch.equal(gen, lookup["a"])
    # exact: the estimator equals the Frechet formula on the same sample moments
    a64, b64 = lookup["a"].double().numpy(), lookup["b"].double().numpy()
    exact = analytic_fid(a64.mean(0), np.cov(a64, rowvar=False), b64.mean(0), np.cov(b64, rowvar=False))
    assert fid == pytest.approx(exact, rel=1e-6)
    # population value within Monte-Carlo tolerance (sd of the estimate at N = 20000 is ~0.03 here)
    population = analytic_fid(MU_A, COV_A, MU_B, COV_B)
    assert population > 1.0
    assert abs(fid - population) < 0.15


def test_fid_self_is_zero_and_scipy_frechet_agrees(lookup):
    fid_self, _, ref = pipeline_fid(lookup, torch.arange(N, 2 * N))
    assert abs(fid_self) < 1e-6
    fid, gen, _ = pipeline_fid(lookup, torch.arange(N))
    stats = fidelity.feature_statistics(gen)
    ours = fidelity.frechet_distance(stats["mu"], stats["sigma"], ref["mu"].numpy(), ref["sigma"].numpy())
    assert ours == pytest.approx(fid, rel=1e-8)


def test_pipeline_equals_torch_fidelity_calculate_metrics(lookup):
    import torch_fidelity

    class Images(torch.utils.data.Dataset):
        def __init__(self, x):
            self.x = x

        def __len__(self):
            return len(self.x)

        def __getitem__(self, i):
            return self.x[i]

    n = 2000
    a_img, _ = ex.prepare_uint8(encode(torch.arange(n)), NAME)
    b_img, _ = ex.prepare_uint8(encode(torch.arange(N, N + n)), NAME)
    out = torch_fidelity.calculate_metrics(input1=Images(a_img), input2=Images(b_img), cuda=False, fid=True, kid=True,
                                           feature_extractor=NAME, kid_subset_size=n, kid_subsets=1, cache=False,
                                           save_cpu_ram=True, verbose=False)
    extractor = ex.build_extractor(lookup["info"])
    fa = ex.extract_features(extractor, a_img)["lookup"]
    fb = ex.extract_features(extractor, b_img)["lookup"]
    fid = fidelity.fid_from_statistics(fidelity.feature_statistics(fa), fidelity.feature_statistics(fb))
    # one subset of all n images: torch-fidelity's KID is then our full U-statistic (the one path, SetMetrics)
    ours = fidelity.set_metrics(fa, fidelity.reference_from_features(fb))
    assert fid == pytest.approx(out["frechet_inception_distance"], rel=1e-5)
    assert ours["fid"] == pytest.approx(out["frechet_inception_distance"], rel=1e-5)
    assert ours["kid"] == pytest.approx(out["kernel_inception_distance_mean"], rel=1e-4)


def test_reference_cache_is_reused_and_records_provenance(lookup, monkeypatch):
    first = reference_statistics(lookup["reference"], lookup["info"], lookup["cache"], channels=1)
    path = reference_cache_path(lookup["reference"], NAME, 1, lookup["cache"])
    assert first["path"] == str(path) and path.is_file()
    meta = json.loads(path.with_suffix(".json").read_text())
    for key in ("count", "conversion", "resize_filter", "extractor", "weights_sha256", "reference", "layer"):
        assert key in meta
    assert meta["count"] == N and meta["extractor"] == NAME
    assert torch.load(path, weights_only=True)["features"].shape == (N, 3)

    def boom(*args, **kwargs):
        raise AssertionError("re-extracted the reference set")

    monkeypatch.setattr(ex, "extract_features", boom)
    again = reference_statistics(lookup["reference"], lookup["info"], lookup["cache"], channels=1)
    assert torch.equal(again["mu"], first["mu"])
    # a different extractor weights hash makes the cache stale: it is recomputed, not silently reused
    stale = ex.ExtractorInfo(NAME, "lookup", "", "0" * 64, "none")
    with pytest.raises(AssertionError, match="re-extracted"):
        reference_statistics(lookup["reference"], stale, lookup["cache"], channels=1)


def test_kid_is_unbiased_on_identical_distributions():
    cov = np.diag([1.0, 0.5, 2.0, 1.0])
    values = []
    for r in range(30):
        x = gaussian(400, np.zeros(4), cov, 100 + 2 * r).float()
        y = gaussian(400, np.zeros(4), cov, 101 + 2 * r).float()
        values.append(fidelity.set_metrics(x, fidelity.reference_from_features(y))["kid"])
    values = np.array(values)
    se = values.std(ddof=1) / math.sqrt(len(values))
    assert abs(values.mean()) < 3 * se
    shifted = gaussian(400, np.full(4, 0.5), cov, 7).float()
    reference = fidelity.reference_from_features(gaussian(400, np.zeros(4), cov, 8).float())
    assert fidelity.set_metrics(shifted, reference)["kid"] > 10 * se


def test_frechet_distance_equals_torch_fidelity_on_random_spd():
    gen = np.random.default_rng(0)
    m1, m2 = gen.normal(size=(2, 8, 8))
    s1, s2 = m1 @ m1.T + 0.1 * np.eye(8), m2 @ m2.T + 0.1 * np.eye(8)
    mu1, mu2 = gen.normal(size=(2, 8))
    ours = fidelity.frechet_distance(mu1, s1, mu2, s2)
    theirs = fidelity.fid_from_statistics({"mu": mu1, "sigma": s1}, {"mu": mu2, "sigma": s2})
    assert ours == pytest.approx(theirs, rel=1e-8)
    assert ours == pytest.approx(analytic_fid(mu1, s1, mu2, s2), rel=1e-8)
    assert fidelity.frechet_distance_symmetric(mu1, s1, mu2, s2) == pytest.approx(theirs, rel=1e-8)


def test_precision_recall_identical_and_disjoint():
    x = torch.randn(300, 4, generator=torch.Generator().manual_seed(0))
    same = fidelity.precision_recall(x, x.clone())
    assert same["precision"] == 1.0 and same["recall"] == 1.0
    far = fidelity.precision_recall(x + 100.0, x)
    assert far["precision"] == 0.0 and far["recall"] == 0.0


def test_classifier_statistics():
    logits = torch.full((20, 10), -10.0)
    logits[torch.arange(20), torch.arange(20) % 10] = 10.0  # confident, uniform over classes
    stats = fidelity.classifier_statistics(logits)
    assert stats["confident_share"] == 1.0
    assert stats["class_entropy"] == pytest.approx(math.log(10))
    flat = torch.zeros(8, 10)
    flat[:, 3] = 0.5  # argmax class 3 for all, never confident
    stats = fidelity.classifier_statistics(flat)
    assert stats["confident_share"] == 0.0 and stats["class_entropy"] == 0.0
