"""The digits classifier (the digits-cnn FID extractor): cross-entropy on the digits train split with random shifts,
through the same step generators, learning-rate schedule and checkpoint files as the diffusion models."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from rwbench.data import to_model_range
from rwbench.progress import Progress
from rwbench.training.config import training_images
from rwbench.training.loop import (_check_resume_config, _load_state, _meta, _require_state, _save_model, _save_state,
                                   _start_fresh, lr_at, step_generator)


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


def train_classifier(cfg, data, out, resume, progress, stop_after, t_wall, t_cpu) -> dict:
    """Cross-entropy training of the digits classifier with random +-1 pixel shifts; writes model + state + config."""
    from rwbench.nets.classifier import DigitsClassifier, calibrate_features
    from rwbench.nets.unet import count_parameters

    tc = cfg["train"]
    torch.manual_seed(tc["seed"])
    net = DigitsClassifier(width=tc["width"], feature_dim=tc["feature_dim"])
    opt = torch.optim.Adam(net.parameters(), lr=tc["lr"])
    step = 0
    if resume:
        _require_state(out)
        _check_resume_config(out, cfg)
        step = _load_state(out, net, None, opt)
    else:
        _start_fresh(out)
    x, y = to_model_range(data.images, "ve"), data.labels
    last = tc["steps"] if stop_after is None else min(tc["steps"], stop_after)
    bar = Progress(tc["steps"], "train classifier", enabled=progress, initial=step)
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
        bar.update(loss=f"{loss.item():.4f}")
    bar.close()
    net.eval()
    test = training_images(cfg["dataset"], "test")
    meta = _meta(cfg, step, count_parameters(net), float(loss.item()) if step else None, t_wall, t_cpu)
    meta.update(net=net.config, test_accuracy=classifier_accuracy(net, test.images, test.labels),
                train_accuracy=classifier_accuracy(net, data.images, data.labels), n_test=len(test),
                feature_normalisation=calibrate_features(net, x))  # FID/KID feature space, fitted on the train split
    _save_state(out, net, None, opt, step)
    _save_model(out, net.state_dict(), meta, final=step >= tc["steps"])
    return meta
