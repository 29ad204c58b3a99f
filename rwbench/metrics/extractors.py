"""Feature extractors for FID/KID/PRC, registered with torch-fidelity, and their weights' provenance."""

from __future__ import annotations

import contextlib
import os
import re
import sys
import urllib.error
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch

from rwbench.errors import UserError, first_line
from rwbench.io import file_sha256, load_tensors

INCEPTION = "inception-v3-compat"
DIGITS = "digits-cnn"
INCEPTION_WEIGHTS_FILE = "weights-inception-2015-12-05-6726825d.pth"
INCEPTION_ENV = "RWBENCH_INCEPTION_WEIGHTS"
DIGITS_ENV = "RWBENCH_DIGITS_CLASSIFIER"
# How each extractor resizes its uint8 input before the network (recorded in reference caches).
RESIZE_FILTERS = {INCEPTION: "tf1x-bilinear-299 (torch-fidelity interpolate_bilinear_2d_like_tensorflow1x)"}


# torch.hub's naming convention: <name>-<first hex digits of the file's SHA-256>.<ext>
HASH_IN_NAME = re.compile(r"-([0-9a-f]{8,64})\.[A-Za-z]+$")


def hub_checkpoint(filename: str) -> Path:
    """Path `$TORCH_HOME/hub/checkpoints/<filename>` where torch.hub caches downloaded weights."""
    return Path(torch.hub.get_dir()) / "checkpoints" / filename


def verify_hash_prefix(path: str | os.PathLike, published_name: str) -> None:
    """A file named like the published weights `published_name` must have the SHA-256 prefix that name carries.

    Checked before anything reads the file (as torch.hub does on download); a mismatch is one UserError line.
    Files under another name (the user's own weights) are not checked here: load_weights reads them with
    weights_only=True, so no code can run either way.
    """
    path = Path(path)
    match = HASH_IN_NAME.search(published_name)
    if path.name != published_name or match is None:
        return
    prefix, sha = match.group(1), file_sha256(path)
    if not sha.startswith(prefix):
        raise UserError(f"{path}: SHA-256 {sha[:16]}... does not start with {prefix}, the hash in its name: not the "
                        f"published weights; delete it and put the genuine {published_name} there")


def load_weights(path: str | os.PathLike, what: str, published_name: str = "") -> dict:
    """A third-party state dict, never unpickled beyond tensors: hash-prefix check, then torch.load(weights_only=True).

    Every error is one UserError line naming the file.
    """
    path = Path(path)
    remedy = f"delete it and put the genuine {published_name or what} there"
    if published_name:
        verify_hash_prefix(path, published_name)
    state = load_tensors(path, what, remedy)
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise UserError(f"{path}: {what} is not a state dict of tensors (got {type(state).__name__}); {remedy}")
    return state


@contextlib.contextmanager
def _handing_over(module, state: dict):
    """Within the block `module.load_state_dict_from_url` returns `state` (loaded safely) instead of unpickling."""
    saved = module.load_state_dict_from_url
    module.load_state_dict_from_url = lambda *args, **kwargs: state
    try:
        yield
    finally:
        module.load_state_dict_from_url = saved


def _safe_inception_class() -> type:
    """torch-fidelity's InceptionV3 fed a state dict that load_weights read (its own loader uses weights_only=False)."""
    from torch_fidelity import feature_extractor_inceptionv3 as module

    class SafeInceptionV3(module.FeatureExtractorInceptionV3):
        def __init__(self, name, features_list, feature_extractor_weights_path=None, **kwargs):
            path = inception_weights_path(feature_extractor_weights_path, allow_download=False)
            state = load_weights(path, "Inception weights", INCEPTION_WEIGHTS_FILE)
            try:
                with _handing_over(module, state):
                    super().__init__(name, features_list, feature_extractor_weights_path=None, **kwargs)
            except RuntimeError as err:  # load_state_dict: missing / unexpected keys, wrong shapes
                raise UserError(f"{path}: not torch-fidelity's Inception weights ({first_line(err)}); put the "
                                f"genuine {INCEPTION_WEIGHTS_FILE} there") from err

    return SafeInceptionV3


def _torch_fidelity():
    import torch_fidelity  # noqa: F401  (importing fills the registry)
    from torch_fidelity import registry

    if getattr(registry.FEATURE_EXTRACTORS_REGISTRY.get(INCEPTION), "__name__", "") != "SafeInceptionV3":
        registry.FEATURE_EXTRACTORS_REGISTRY.pop(INCEPTION, None)
        registry.register_feature_extractor(INCEPTION, _safe_inception_class())
    return registry


def make_module_extractor(name: str, loader: Callable[[str | None], torch.nn.Module],
                          data_range: tuple[float, float] = (0.0, 1.0)) -> type:
    """Build and register a torch-fidelity extractor wrapping a module with .features(x) and forward(x) -> logits.

    The module sees float [B, 1, H, W] = from_uint8(x)[:, :1] (channel 0 if the input was replicated to RGB);
    provided features: "features" (net.embedding(x) when the module has it, i.e. the normalised penultimate features
    of rwbench.nets.classifier, else net.features(x); used for FID/KID/PRC) and "logits".
    """
    from torch_fidelity.feature_extractor_base import FeatureExtractorBase

    class _Extractor(FeatureExtractorBase):
        def __init__(self, name, features_list, feature_extractor_weights_path=None, **kwargs):
            super().__init__(name, features_list)
            self.net = loader(feature_extractor_weights_path)
            self.net.eval()
            self.requires_grad_(False)

        @staticmethod
        def get_provided_features_list():
            return "features", "logits"

        @staticmethod
        def get_default_feature_layer_for_metric(metric):
            return "features"

        @staticmethod
        def can_be_compiled():
            return False

        @staticmethod
        def get_dummy_input_for_compile():
            return torch.zeros(1, 1, 16, 16, dtype=torch.uint8)

        def forward(self, x):
            from rwbench.data import from_uint8

            if x.dtype != torch.uint8 or x.dim() != 4:
                raise ValueError(f"{self.name}: expected uint8 [B, C, H, W] images, got {x.dtype} {tuple(x.shape)}")
            gray = from_uint8(x[:, :1], data_range).to(next(self.net.parameters()).device)
            out = {}
            if "features" in self.features_list:  # normalised features when the net has them (DigitsClassifier)
                embed = getattr(self.net, "embedding", self.net.features)
                out["features"] = embed(gray).float()
            if "logits" in self.features_list:
                out["logits"] = self.net(gray).float()
            return tuple(out[k] for k in self.features_list)

    _Extractor.__name__ = _Extractor.__qualname__ = f"ModuleExtractor_{name.replace('-', '_')}"
    register_extractor(name, _Extractor)
    return _Extractor


def register_extractor(name: str, cls: type) -> None:
    """Register `cls` with torch-fidelity under `name`, replacing an earlier class of that name."""
    registry = _torch_fidelity()
    registry.FEATURE_EXTRACTORS_REGISTRY.pop(name, None)
    registry.register_feature_extractor(name, cls)


def embedded_classifier() -> Path:
    """Where the DAG trains the digits classifier: <results_dir>/embedded/classifier/model.safetensors, results_dir the
    config schema's default (relative to the working directory, as the DAG's own paths are)."""
    from rwbench.plan.config import default

    return Path(default("results_dir")) / "embedded" / "classifier" / "model.safetensors"


def digits_weights_path(path: str | os.PathLike | None = None) -> Path:
    """Resolve the digits classifier checkpoint (safetensors file or directory): the argument, else
    $RWBENCH_DIGITS_CLASSIFIER, else the classifier the default DAG trained (embedded_classifier) when it exists."""
    path = path or os.environ.get(DIGITS_ENV) or (embedded_classifier() if embedded_classifier().is_file() else None)
    if not path:
        raise FileNotFoundError(f"digits-cnn: no classifier checkpoint; pass --extractor-weights PATH or set "
                                f"{DIGITS_ENV}, or run the default DAG (it trains {embedded_classifier()}; "
                                f"alone: `rwbench train --model classifier`)")
    path = Path(path)
    if not (path.is_file() or (path / "model.safetensors").is_file()):
        raise FileNotFoundError(f"{path}: digits classifier checkpoint not found; pass --extractor-weights or set "
                                f"{DIGITS_ENV}")
    return path


def _load_digits_classifier(path):
    from rwbench.nets.classifier import load_classifier

    return load_classifier(digits_weights_path(path))


def ensure_digits_registered() -> None:
    """Register the digits classifier extractor ("digits-cnn") with torch-fidelity once."""
    if DIGITS not in _torch_fidelity().FEATURE_EXTRACTORS_REGISTRY:
        make_module_extractor(DIGITS, _load_digits_classifier)


def inception_weights_path(path: str | os.PathLike | None = None, allow_download: bool = True) -> Path:
    """Resolve Inception weights: argument, $RWBENCH_INCEPTION_WEIGHTS, the torch hub cache, else a download."""
    path = path or os.environ.get(INCEPTION_ENV)
    if path:
        if not Path(path).is_file():
            raise FileNotFoundError(f"{path}: Inception weights file not found (from --extractor-weights or "
                                    f"{INCEPTION_ENV})")
        return Path(path)
    cached = hub_checkpoint(INCEPTION_WEIGHTS_FILE)
    if cached.is_file():
        return cached
    message = (f"Inception weights not cached at {cached} and could not be downloaded; put the file there or "
               f"pass --extractor-weights PATH / set {INCEPTION_ENV}=PATH (torch-fidelity "
               f"feature_extractor_weights_path)")
    if not allow_download:
        raise FileNotFoundError(message)
    from torch_fidelity.feature_extractor_inceptionv3 import URL_INCEPTION_V3

    try:  # download only (torch.hub checks the hash prefix); load_weights reads it without unpickling code
        cached.parent.mkdir(parents=True, exist_ok=True)
        torch.hub.download_url_to_file(URL_INCEPTION_V3, str(cached), HASH_IN_NAME.search(cached.name).group(1),
                                       progress=False)
    except (urllib.error.URLError, OSError, RuntimeError) as err:
        raise FileNotFoundError(message) from err
    if not cached.is_file():
        raise FileNotFoundError(message)
    return cached


@dataclass
class ExtractorInfo:
    """What a feature extractor is: name, feature layer, weights file and its hash, resize filter."""

    name: str
    layer: str
    weights_path: str
    weights_sha256: str
    resize_filter: str

    def label(self) -> str:
        """Short label for metric rows: name/layer@sha256[:12]."""
        return f"{self.name}/{self.layer}@{self.weights_sha256[:12]}"


def resolve_extractor(name: str, weights_path: str | os.PathLike | None = None,
                      allow_download: bool = True) -> ExtractorInfo:
    """Find the weights of extractor `name` and describe it (without building the network)."""
    registry = _torch_fidelity()
    if name == INCEPTION:
        path = inception_weights_path(weights_path, allow_download)
    elif name == DIGITS:
        ensure_digits_registered()
        path = digits_weights_path(weights_path)
    else:
        if name not in registry.FEATURE_EXTRACTORS_REGISTRY:
            raise ValueError(f"--extractor {name!r} is not registered; choose {INCEPTION} or {DIGITS}")
        if registry.FEATURE_EXTRACTORS_REGISTRY[name].__module__.startswith("torch_fidelity."):
            # torch-fidelity's own others (vgg16, CLIP, DINOv2) unpickle their weights or run torch.hub.load code
            raise ValueError(f"--extractor {name!r}: torch-fidelity's {name} unpickles its weights, which rwbench "
                             f"never does; choose {INCEPTION} or {DIGITS}")
        path = Path(weights_path) if weights_path else None
    cls = registry.FEATURE_EXTRACTORS_REGISTRY[name]
    layer = cls.get_default_feature_layer_for_metric("fid")
    weights_file = Path(path) / "model.safetensors" if path is not None and Path(path).is_dir() else path
    sha = file_sha256(weights_file) if weights_file is not None else "none"
    return ExtractorInfo(name, str(layer), str(path) if path else "", sha, RESIZE_FILTERS.get(name, "none"))


def build_extractor(info: ExtractorInfo, features: list[str] | None = None, device: str = "cpu"):
    """Instantiate the registered torch-fidelity extractor described by `info` on `device`."""
    from torch_fidelity.utils import create_feature_extractor

    features = list(features or [info.layer])
    cuda = str(device).startswith("cuda")
    if cuda and not torch.cuda.is_available():
        raise ValueError(f"--device {device}: CUDA is not available here; use --device cpu")
    extractor = create_feature_extractor(info.name, features, cuda=cuda, verbose=False,
                                         feature_extractor_weights_path=info.weights_path or None)
    return extractor


def needs_rgb(name: str) -> bool:
    """True for extractors that only accept 3-channel input (Inception and other torch-fidelity ImageNet nets)."""
    return name != DIGITS and not _is_module_extractor(name)


def _is_module_extractor(name: str) -> bool:
    cls = _torch_fidelity().FEATURE_EXTRACTORS_REGISTRY.get(name)
    return cls is not None and cls.get_provided_features_list() == ("features", "logits")


def prepare_uint8(images: torch.Tensor, extractor: str) -> tuple[torch.Tensor, str]:
    """Bring uint8 [N, C, H, W] images to the extractor's input; return them and the conversion string."""
    if images.dtype != torch.uint8 or images.dim() != 4:
        raise ValueError(f"images: expected uint8 [N, C, H, W], got {images.dtype} {tuple(images.shape)}")
    channels = images.shape[1]
    parts = ["uint8=rwbench.data.to_uint8(clamp,round)"]
    if needs_rgb(extractor):
        if channels == 1:
            images = images.expand(-1, 3, -1, -1)
            parts.append("gray->rgb replicate")
        elif channels != 3:
            raise ValueError(f"images: {extractor} needs 1 or 3 channels, got {channels}")
    else:
        parts.append(f"{channels}ch" if channels == 1 else f"{channels}ch->channel0")
    parts.append("resize " + RESIZE_FILTERS.get(extractor, "none"))
    return images.contiguous(), "; ".join(parts)


class _TensorDataset(torch.utils.data.Dataset):
    """Bare uint8 image tensors, as torch-fidelity's dataset input expects."""

    def __init__(self, images: torch.Tensor):
        self.images = images

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int) -> torch.Tensor:
        return self.images[i]


def extract_features(extractor, images: torch.Tensor, batch_size: int = 64, device: str = "cpu",
                     progress: bool = True) -> dict:
    """Run torch-fidelity's dataset feature extraction on uint8 images; return {feature name: float [N, D]}."""
    from torch_fidelity.utils import get_featuresdict_from_dataset

    from rwbench.progress import Progress

    if len(images) == 0:
        raise ValueError("images: no images to extract features from")
    cuda = str(device).startswith("cuda")
    # chunks of 8 batches, so that a progress line can be printed between them (rwbench.progress)
    chunk = 8 * batch_size
    parts = []
    with Progress(len(images), f"features {getattr(extractor, 'name', '')}".strip(), enabled=progress) as bar:
        for start in range(0, len(images), chunk):
            part = images[start:start + chunk]
            parts.append(get_featuresdict_from_dataset(_TensorDataset(part), extractor, batch_size, cuda, True, False))
            bar.update(len(part))
    return {key: torch.cat([p[key] for p in parts]) for key in parts[0]}


def warn(message: str) -> None:
    """Print a one-line warning to stderr."""
    print(f"rwbench: warning: {message}", file=sys.stderr)
