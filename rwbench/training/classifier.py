"""The digits classifier (the digits-cnn FID extractor): cross-entropy on the digits train split with random shifts,
through the same step generators, learning-rate schedule and checkpoint files as the diffusion models
(rwbench.training.state)."""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F

from rwbench.data import to_model_range
from rwbench.progress import Progress
from rwbench.training.config import training_images
from rwbench.training.state import Clock, lr_at, resume_or_start, save_checkpoint, step_generator, training_meta


def random_shift(x: torch.Tensor, shift: int, g: torch.Generator) -> torch.Tensor:
    """Translate each image by an integer offset in [-shift, shift]^2 with zero fill."""
    if shift <= 0:
        return x
    B, C, H, W = x.shape
    padded = F.pad(x, (shift, shift, shift, shift))
    offs = torch.randint(0, 2 * shift + 1, (B, 2), generator=g)
    return torch.stack([padded[i, :, oy:oy + H, ox:ox + W] for i, (oy, ox) in enumerate(offs.tolist())])


def classifier_accuracy(net, images_uint8: torch.Tensor, labels: torch.Tensor) -> float:
    """Top-1 accuracy of `net` on uint8 images (converted to [0, 1])."""
    with torch.no_grad():
        logits = net(to_model_range(images_uint8, "ve"))
    return float((logits.argmax(1) == labels).double().mean())


def train_classifier(cfg: dict, data, out, *, resume: bool = False, progress: bool = True,
                     stop_after: int | None = None, clock: Clock | None = None) -> dict:
    """Cross-entropy training of the digits classifier of a resolved config on `data` (an ImageSet with labels) into
    the existing folder `out`, with random +-1 pixel shifts; returns the written metadata (with test accuracy)."""
    from rwbench.nets.classifier import DigitsClassifier, calibrate_features
    from rwbench.nets.unet import count_parameters

    tc, out, clock = cfg["train"], Path(out), clock or Clock()
    torch.manual_seed(tc["seed"])
    net = DigitsClassifier(width=tc["width"], feature_dim=tc["feature_dim"])
    opt = torch.optim.Adam(net.parameters(), lr=tc["lr"])
    step = resume_or_start(out, cfg, net, None, opt, resume)
    x, y = to_model_range(data.images, "ve"), data.labels
    last = tc["steps"] if stop_after is None else min(tc["steps"], stop_after)
    bar = Progress(tc["steps"], "train classifier", enabled=progress, initial=step)
    last_loss = None  # of the last step run here (None when resuming a finished training)
    net.train()
    while step < last:
        g = step_generator(tc["seed"], "classifier", step)
        idx = torch.randint(0, len(x), (tc["batch_size"],), generator=g)
        for group in opt.param_groups:
            group["lr"] = lr_at(step, tc)
        loss = F.cross_entropy(net(random_shift(x[idx], tc["shift"], g)), y[idx])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        step += 1
        last_loss = float(loss.item())
        bar.update(loss=f"{last_loss:.4f}")
    bar.close()
    net.eval()
    test = training_images(cfg["dataset"], "test")
    meta = training_meta(cfg, step, count_parameters(net), last_loss, clock)
    meta.update(net=net.config, test_accuracy=classifier_accuracy(net, test.images, test.labels),
                train_accuracy=classifier_accuracy(net, data.images, data.labels), n_test=len(test),
                feature_normalisation=calibrate_features(net, x))  # FID/KID feature space, fitted on the train split
    save_checkpoint(out, net, None, opt, meta)
    return meta
