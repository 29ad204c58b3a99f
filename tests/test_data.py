import numpy as np
import pytest
import torch

from rwbench import data


def test_digits_splits_are_disjoint_complete_and_seeded():
    train = data.load_dataset("digits", "train", 16, seed=0)
    test = data.load_dataset("digits", "test", 16, seed=0)
    every = data.load_dataset("digits", "all", 16)
    assert len(train) + len(test) == len(every) == 1797
    assert train.images.dtype == torch.uint8 and train.images.shape[1:] == (1, 16, 16)
    assert train.labels.dtype == torch.int64 and len(train.labels) == len(train)
    tr = set(data.split_indices(1797, "train", 0).tolist())
    te = set(data.split_indices(1797, "test", 0).tolist())
    assert not tr & te and len(tr | te) == 1797
    again = data.load_dataset("digits", "train", 16, seed=0)
    assert torch.equal(again.images, train.images)
    other = data.load_dataset("digits", "train", 16, seed=1)
    assert not torch.equal(other.images, train.images)
    assert "bilinear" in train.resize_filter


def test_digits_native_resolution_has_17_grey_levels_and_32_is_supported():
    native = data.load_dataset("digits", "all", 8)
    levels = torch.unique(native.images)
    expected = torch.tensor(sorted({round(255 * v / 16) for v in range(17)}), dtype=torch.uint8)
    assert torch.equal(levels, expected)
    big = data.load_dataset("digits", "test", 32)
    assert big.images.shape[1:] == (1, 32, 32)
    assert big.images.float().mean() == pytest.approx(native.images.float().mean(), rel=0.25)


def test_family_ranges_and_round_trip():
    x = data.load_dataset("digits", "test", 16).images
    vp, ve, iadb = (data.to_model_range(x, f) for f in ("vp", "ve", "iadb"))
    assert vp.min() >= -1 and vp.max() <= 1 and vp.min() == -1
    assert ve.min() >= 0 and ve.max() <= 1
    assert torch.allclose(vp, 2 * ve - 1, atol=1e-6)
    assert torch.equal(data.to_uint8(vp, (-1, 1)), x)
    assert torch.equal(data.from_model_range(ve, "ve"), x)
    assert torch.equal(data.from_model_range(iadb, "iadb"), x)
    with pytest.raises(ValueError, match="family"):
        data.to_model_range(x, "edm")


def test_faces_are_100_lfw_faces():
    faces = data.load_dataset("faces", "all", 16)
    assert faces.images.shape == (100, 1, 16, 16) and faces.labels is None
    native = data.load_dataset("faces", "all", 25)
    from skimage import data as skdata

    ref = np.round(skdata.lfw_subset()[:100] * 255).astype(np.uint8)
    assert np.abs(native.images[:, 0].numpy().astype(int) - ref.astype(int)).max() <= 1
    assert len(data.load_dataset("faces", "train", 16)) == 80


def test_image_folder_reads_and_resizes_pngs(tmp_path, monkeypatch):
    from PIL import Image

    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 255, (40, 40, 3), dtype=np.uint8)).save(tmp_path / "00000.png")
    Image.fromarray(rng.integers(0, 255, (32, 32), dtype=np.uint8)).save(tmp_path / "00001.png")
    s = data.load_dataset("ffhq", "all", 32, root=tmp_path)
    assert s.images.shape == (2, 3, 32, 32) and s.images.dtype == torch.uint8
    assert "LANCZOS" in s.resize_filter
    monkeypatch.setenv(data.FFHQ_ENV, str(tmp_path))
    assert len(data.load_dataset("ffhq", "all", 32)) == 2


def test_image_folder_missing_or_empty_is_one_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match=str(tmp_path / "nope")):
        data.load_dataset("ffhq", "all", 32, root=tmp_path / "nope")
    with pytest.raises(FileNotFoundError, match="no PNG"):
        data.load_dataset("ffhq", "all", 32, root=tmp_path)


def test_bad_arguments():
    with pytest.raises(ValueError, match="name"):
        data.load_dataset("mnist", "all", 16)
    with pytest.raises(ValueError, match="split"):
        data.load_dataset("digits", "val", 16)
    with pytest.raises(ValueError, match="resolution"):
        data.load_dataset("digits", "all", 2)


def test_digits_are_scikit_learns_load_digits_without_importing_it():
    """load_digits_floats reads the file sklearn.datasets.load_digits reads: same images and labels, bit for bit,
    and importing rwbench.data and loading the digits does not import scikit-learn (seconds per job)."""
    import subprocess
    import sys

    from sklearn.datasets import load_digits

    from rwbench.data import load_digits_floats

    images, labels = load_digits_floats()
    ref = load_digits()
    assert torch.equal(images, torch.from_numpy(ref.images / 16.0)[:, None].to(torch.float64))
    assert torch.equal(labels, torch.from_numpy(ref.target).to(torch.int64))
    code = "import sys, rwbench.data as d; d.load_dataset('digits', 'test', 16); print('sklearn' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"
