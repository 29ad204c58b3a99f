"""Datasets (embedded digits and faces, image folders such as FFHQ) and the one float <-> uint8 conversion.

Resize filters (recorded in `ImageSet.resize_filter`):
- digits, faces: `torch.nn.functional.interpolate(mode="bilinear", align_corners=False, antialias=True)` on
  floats in [0, 1], then `to_uint8` (clamp, round). Digits are 8x8 with 17 grey levels v/16; faces 25x25.
- image folders (FFHQ): PIL `Image.resize(..., Image.LANCZOS)` on the uint8 RGB image (no-op at the native size).
Splits: a seeded permutation (torch.Generator(seed)) puts the last `test_fraction` of it in "test".
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import torch

from rwbench.plan.inputs import FFHQ_ENV, image_files
from rwbench.plan.samplers import FAMILY_RANGES

DEFAULT_RESOLUTION = {"digits": 16, "faces": 16, "ffhq": 256}
DATASETS = tuple(DEFAULT_RESOLUTION)
SPLITS = ("train", "test", "all")
EMBEDDED_FILTER = "torch bilinear antialias (align_corners=False) on [0,1] floats, then to_uint8"
FOLDER_FILTER = "PIL LANCZOS on uint8 RGB"


def to_uint8(x: torch.Tensor, data_range: tuple[float, float] = (0.0, 1.0)) -> torch.Tensor:
    """Map floats on `data_range` to uint8 by x -> clamp(round(255 (x - lo) / (hi - lo)), 0, 255)."""
    lo, hi = float(data_range[0]), float(data_range[1])
    if not hi > lo:
        raise ValueError(f"data_range: need lo < hi, got {data_range}")
    scaled = (x.detach().to(torch.float64) - lo) * (255.0 / (hi - lo))
    scaled = torch.nan_to_num(scaled, nan=0.0, posinf=255.0, neginf=0.0)
    return scaled.round().clamp(0, 255).to(torch.uint8)


def from_uint8(x: torch.Tensor, data_range: tuple[float, float] = (0.0, 1.0), dtype=torch.float32) -> torch.Tensor:
    """Map uint8 images to floats on `data_range`: lo + (hi - lo) x / 255."""
    if x.dtype != torch.uint8:
        raise ValueError(f"from_uint8: expected a uint8 tensor, got {x.dtype}")
    lo, hi = float(data_range[0]), float(data_range[1])
    return (x.to(torch.float64) * ((hi - lo) / 255.0) + lo).to(dtype)


def family_range(family: str) -> tuple[float, float]:
    """Data range of a model family (rwbench.plan.samplers.FAMILY_RANGES): VE and oracle [0, 1]; VP and IADB [-1, 1]."""
    if family not in FAMILY_RANGES:
        raise ValueError(f"family: unknown model family {family!r}; choose one of {', '.join(FAMILY_RANGES)}")
    return FAMILY_RANGES[family]


def to_model_range(images: torch.Tensor, family: str, dtype=torch.float32) -> torch.Tensor:
    """uint8 images -> floats on the family's range via from_uint8 (VE/oracle [0, 1], VP/IADB [-1, 1])."""
    return from_uint8(images, family_range(family), dtype=dtype)


def from_model_range(x: torch.Tensor, family: str) -> torch.Tensor:
    """Floats on the family's range -> uint8 via to_uint8 (clamp, round)."""
    return to_uint8(x, family_range(family))


@dataclass
class ImageSet:
    """Images as uint8 [N, C, H, W] with optional int64 labels [N] and how they were made."""

    name: str
    split: str
    images: torch.Tensor
    labels: torch.Tensor | None
    resize_filter: str
    source: str = ""

    def __len__(self) -> int:
        return int(self.images.shape[0])

    def floats(self, family: str, dtype=torch.float32) -> torch.Tensor:
        """The images on `family`'s data range (to_model_range)."""
        return to_model_range(self.images, family, dtype=dtype)


def resize_floats(x: torch.Tensor, resolution: int) -> torch.Tensor:
    """Bilinear antialiased resize of float [N, C, h, w] to [N, C, r, r] (identity at the native size)."""
    if x.shape[-1] == resolution and x.shape[-2] == resolution:
        return x
    import torch.nn.functional as F

    return F.interpolate(x, size=(resolution, resolution), mode="bilinear", align_corners=False, antialias=True)


def split_indices(n: int, split: str, seed: int, test_fraction: float = 0.2) -> torch.Tensor:
    """Indices of `split` from a seeded permutation of range(n): test = the last round(test_fraction n) entries."""
    if split not in SPLITS:
        raise ValueError(f"split: choose one of {', '.join(SPLITS)}, got {split!r}")
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction: need 0 < test_fraction < 1, got {test_fraction}")
    if split == "all":
        return torch.arange(n)
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(int(seed)))
    n_test = int(round(test_fraction * n))
    idx = perm[: n - n_test] if split == "train" else perm[n - n_test:]
    return idx.sort().values


def _check_resolution(resolution) -> int:
    if int(resolution) != resolution or resolution < 4:
        raise ValueError(f"resolution: need an integer >= 4, got {resolution!r}")
    return int(resolution)


def digits_csv() -> str:
    """Path of the digits file scikit-learn ships (sklearn/datasets/data/digits.csv.gz: 1797 rows of 64 pixel values
    0..16 and the label), located without importing scikit-learn (its import costs seconds per job)."""
    import importlib.util

    found = importlib.util.find_spec("sklearn")
    if found is None or not found.submodule_search_locations:
        raise FileNotFoundError("the digits dataset comes with scikit-learn, which is not installed: "
                                "pip install scikit-learn (or `pip install -e .`)")
    path = os.path.join(list(found.submodule_search_locations)[0], "datasets", "data", "digits.csv.gz")
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{path}: scikit-learn's digits file is missing; reinstall scikit-learn")
    return path


def load_digits_floats() -> tuple[torch.Tensor, torch.Tensor]:
    """scikit-learn's bundled digits (the file sklearn.datasets.load_digits reads) as floats v/16 in [0, 1],
    [1797, 1, 8, 8], with labels."""
    import numpy as np

    table = np.loadtxt(digits_csv(), delimiter=",")
    if table.shape != (1797, 65):
        raise ValueError(f"{digits_csv()}: expected 1797 rows of 64 pixels and a label, got shape {table.shape}")
    images = torch.from_numpy(table[:, :64].reshape(-1, 1, 8, 8) / 16.0).to(torch.float64)
    return images, torch.from_numpy(table[:, 64]).to(torch.int64)


def load_faces_floats(n_faces: int = 100) -> torch.Tensor:
    """The first `n_faces` (faces) of scikit-image's lfw_subset as floats in [0, 1], [n, 1, 25, 25]."""
    from skimage import data as skdata

    faces = skdata.lfw_subset()[:n_faces]
    return torch.from_numpy(faces.astype("float64"))[:, None]


def load_dataset(name: str, split: str = "all", resolution: int | None = None, seed: int = 0, *,
                 root: str | os.PathLike | None = None, test_fraction: float = 0.2) -> ImageSet:
    """Load `name` (digits | faces | ffhq) as uint8 [N, C, r, r]; digits/faces split by a seeded permutation."""
    if name not in DATASETS:
        raise ValueError(f"name: unknown dataset {name!r}; choose one of {', '.join(DATASETS)}")
    resolution = _check_resolution(DEFAULT_RESOLUTION[name] if resolution is None else resolution)
    if name == "ffhq":
        return load_image_folder(root, resolution, split=split, name="ffhq")
    if name == "digits":
        x, labels = load_digits_floats()
        source = "sklearn.datasets.load_digits (1797 x 8x8, values 0..16 -> v/16)"
    else:
        x, labels = load_faces_floats(), None
        source = "skimage.data.lfw_subset()[:100] (25x25 faces)"
    idx = split_indices(len(x), split, seed, test_fraction)
    images = to_uint8(resize_floats(x[idx], resolution))
    return ImageSet(name, split, images, None if labels is None else labels[idx], EMBEDDED_FILTER, source)


def load_image_folder(root: str | os.PathLike | None, resolution: int = 256, *, split: str = "all",
                      name: str = "folder") -> ImageSet:
    """Read every PNG/JPEG under `root` (sorted; default $RWBENCH_FFHQ_DIR) as RGB uint8, LANCZOS-resized to r x r."""
    if split != "all":
        raise ValueError(f"split: image folders have only the 'all' split, got {split!r}")
    root = root if root is not None else os.environ.get(FFHQ_ENV)
    if root is None:
        raise FileNotFoundError(f"{name}: no image folder given; pass root=... or set {FFHQ_ENV}")
    root = Path(root)
    files = image_files(root)
    if not files:
        raise FileNotFoundError(f"{root}: image folder missing or holds no PNG/JPEG files; put the {name} images there "
                                f"or set {FFHQ_ENV}")
    out = torch.empty(len(files), 3, resolution, resolution, dtype=torch.uint8)
    for i, path in enumerate(files):
        out[i] = read_image_rgb(path, resolution)
    return ImageSet(name, split, out, None, FOLDER_FILTER, str(root))


# PIL modes of 16-bit greyscale PNGs (and the 32-bit integer mode older Pillows decode them to): 0..65535
SIXTEEN_BIT_MODES = ("I;16", "I;16B", "I;16L", "I;16N", "I")


def open_image(path: str | os.PathLike):
    """One image file as a loaded PIL image in mode L (greyscale; 16-bit grey scaled by 255/65535, v8 =
    round(v16 / 257), not clipped) or RGB (everything else); one UserError line naming the file if unreadable."""
    import numpy as np
    from PIL import Image

    from rwbench.errors import UserError, first_line

    try:
        with Image.open(path) as im:
            im.load()
            if im.mode in SIXTEEN_BIT_MODES:
                grey = np.rint(np.asarray(im, dtype=np.float64) / 257.0).clip(0, 255).astype(np.uint8)
                return Image.fromarray(grey)   # 2-D uint8: mode L
            return im.convert("L" if im.mode in ("L", "1") else "RGB")
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as err:
        raise UserError(f"{path}: not a readable image ({first_line(err)}); replace or remove the file") from err


def read_image_rgb(path: str | os.PathLike, resolution: int | None = None) -> torch.Tensor:
    """One image file as uint8 RGB [3, r, r]: open_image (16-bit grey scaled, not clipped), then LANCZOS."""
    import numpy as np
    from PIL import Image

    im = open_image(path).convert("RGB")
    if resolution is not None and im.size != (resolution, resolution):
        im = im.resize((resolution, resolution), Image.LANCZOS)
    rgb = np.asarray(im, dtype=np.uint8).copy()
    return torch.from_numpy(rgb).permute(2, 0, 1)
