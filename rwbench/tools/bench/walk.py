"""Template overhead: wall time per random-walk step minus one denoiser call, relative to that call; and the template's
per-step cost against k-diffusion's Euler-ancestral (rwbench's own euler_ancestral where k-diffusion is absent) on the
same free denoiser (one that returns a precomputed tensor), the same Euler-ancestral walk and batch."""

from __future__ import annotations

import argparse
import time

import torch
from torch import nn

from rwbench.core import presets, schedules
from rwbench.baselines import kdiffusion, solvers
from rwbench.models.denoisers import GaussianMixtureDenoiser, VEScoreDenoiser
from rwbench.core.brownian import BrownianPaths
from rwbench.core.rng import image_generators, step_noise
from rwbench.core.walk import random_walk


class SmallCNN(nn.Module):
    """A sigma-conditioned 4-layer CNN standing in for the embedded network's cost."""

    def __init__(self, channels: int = 64):
        super().__init__()
        self.inp = nn.Conv2d(1, channels, 3, padding=1)
        self.mid = nn.Sequential(*[nn.Sequential(nn.Conv2d(channels, channels, 3, padding=1), nn.SiLU()) for _ in range(3)])
        self.out = nn.Conv2d(channels, 1, 3, padding=1)
        self.emb = nn.Linear(1, channels)

    def forward(self, x, sigma):
        h = self.inp(x) + self.emb(sigma.log().to(x.dtype)[:, None])[:, :, None, None]
        return self.out(self.mid(h)) / sigma.to(x.dtype)[:, None, None, None]


def _time(fn, repeats: int) -> float:
    fn()  # warm-up
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def measure(name: str, denoiser, x0: torch.Tensor, K: int, repeats: int, per_image_noise: bool) -> str:
    """One line: denoiser ms/call, the template's own ms/step (the walk around a free denoiser that returns a
    precomputed tensor) and overhead = own step time / denoiser call (robust to machine noise: no difference
    of two noisy timings)."""
    p = presets.simplified(schedules.geometric(K, 0.01, 10.0), 0.3, 0.5)
    with torch.no_grad():
        cached = denoiser(x0, p.sigmas[0])

    def free(x, sigma):
        return cached

    def calls():
        with torch.no_grad():
            for k in range(K):
                denoiser(x0, p.sigmas[k])

    def walk(fn):
        gens = image_generators(0, "bench", range(x0.shape[0])) if per_image_noise else torch.Generator().manual_seed(0)
        with torch.no_grad():
            random_walk(fn, x0, generator=gens, **p.walk_kwargs())

    t_call = _time(calls, repeats) / K
    t_own = _time(lambda: walk(free), repeats) / K
    t_step = _time(lambda: walk(denoiser), repeats) / K
    noise = "per-image" if per_image_noise else "batch"
    return (f"model={name} batch={x0.shape[0]} noise={noise} denoiser_ms={1e3 * t_call:.3f} step_ms={1e3 * t_step:.3f} "
            f"template_ms={1e3 * t_own:.3f} overhead={100 * t_own / t_call:.1f}%")


def against_euler_ancestral(x0: torch.Tensor, K: int, repeats: int) -> list[str]:
    """Per-step ms of Euler-ancestral (eta = 1) on a free denoiser: the template (presets.euler_ancestral) with batch,
    per-image and coupled (Brownian-path) noise, rwbench's solver with per-image noise, and k-diffusion's sample_euler_ancestral (its default
    noise: one randn_like per step from the global generator). ratio = template / k-diffusion (or / rwbench solver).
    A second line times the noise alone: one randn_like per step against the coupled source's draw per step."""
    ladder = torch.cat([schedules.geometric(K, 0.01, 10.0), torch.zeros(1, dtype=torch.float64)])
    p = presets.euler_ancestral(ladder, 1.0)
    cached = (0.5 * x0).clone()

    def free(x, sigma):
        return cached

    def per_image():
        return image_generators(0, "bench", range(x0.shape[0]))

    def template(gens):
        with torch.no_grad():
            random_walk(free, x0, generator=gens, **p.walk_kwargs())

    def native():
        with torch.no_grad():
            solvers.euler_ancestral(free, x0, ladder, generator=per_image())

    def coupled():      # each image's Brownian path over the walk's ladder (+ 0): rwbench.core.brownian
        return BrownianPaths(list(range(x0.shape[0]))).over(torch.cat([p.sigmas, p.sigmas.new_zeros(1)]))

    def draws(source):   # the noise alone: K draws of [B, C, H, W]
        for k in range(K):
            step_noise(None, k, x0, source)

    t_batch = _time(lambda: template(torch.Generator().manual_seed(0)), repeats) / K
    t_image = _time(lambda: template(per_image()), repeats) / K
    t_coupled = _time(lambda: template(coupled()), repeats) / K
    t_randn = _time(lambda: [torch.randn_like(x0) for _ in range(K)], repeats) / K
    t_draw_coupled = _time(lambda: draws(coupled()), repeats) / K
    t_native = _time(native, repeats) / K
    kd, reason = kdiffusion.sampling()
    if kd is not None:
        torch.manual_seed(0)
        t_ref = _time(lambda: kd.sample_euler_ancestral(free, x0, ladder.to(x0.dtype), disable=True), repeats) / K
        ref = "k-diffusion"
    else:
        t_ref, ref = t_native, f"rwbench-euler_ancestral ({reason})"
    head = f"compare=euler_ancestral batch={x0.shape[0]} dtype={str(x0.dtype).replace('torch.', '')} reference={ref}"
    return [f"{head} reference_ms={1e3 * t_ref:.4f} template_batch_noise_ms={1e3 * t_batch:.4f} "
            f"template_per_image_noise_ms={1e3 * t_image:.4f} template_coupled_noise_ms={1e3 * t_coupled:.4f} "
            f"solver_per_image_noise_ms={1e3 * t_native:.4f} ratio_batch={t_batch / t_ref:.2f} "
            f"ratio_per_image={t_image / t_ref:.2f} ratio_coupled={t_coupled / t_ref:.2f}",
            f"{head} noise_only randn_like_ms={1e3 * t_randn:.4f} coupled_draw_ms={1e3 * t_draw_coupled:.4f} "
            f"ratio_coupled_draw={t_draw_coupled / t_randn:.2f}"]


def main(argv: list[str] | None = None) -> int:
    """Print the template's overhead for the oracle and a small CNN at a few batch sizes."""
    parser = argparse.ArgumentParser(prog="python -m rwbench.tools.bench walk", description=__doc__)
    parser.add_argument("--batch-sizes", default="1,16,64")
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: leave as is)")
    parser.add_argument("--config", default="config/embedded-default.yaml", help="embedded config whose UNet is timed")
    parser.add_argument("--compare-only", action="store_true",
                        help="only the template-vs-k-diffusion Euler-ancestral lines (free denoiser)")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    d = 16 * 16
    A = torch.randn(10, d, d, dtype=torch.float64) / d**0.5
    oracle = GaussianMixtureDenoiser(torch.ones(10), torch.randn(10, d), A @ A.transpose(1, 2) + 0.01 * torch.eye(d), sample_shape=(1, 16, 16))
    net = SmallCNN().eval()
    cnn = VEScoreDenoiser(net)
    unet = None if args.compare_only else embedded_unet(args.config)
    for bs in [int(b) for b in args.batch_sizes.split(",")]:
        x64 = torch.randn(bs, 1, 16, 16, dtype=torch.float64)
        for line in against_euler_ancestral(x64.float(), args.steps, args.repeats):
            print(line, flush=True)
        if args.compare_only:
            continue
        print(measure("oracle-gmm10-d256", oracle, x64, args.steps, args.repeats, True), flush=True)
        for per_image in (True, False):
            print(measure("cnn64", cnn, x64.float(), args.steps, args.repeats, per_image), flush=True)
        for per_image in (True, False):
            print(measure("embedded-unet-vp", unet, x64.float(), args.steps, args.repeats, per_image), flush=True)
    return 0


def embedded_unet(config_path: str):
    """The embedded VP UNet of a config (random weights: the cost, not the quality, matters here) behind VPEpsDenoiser."""
    from rwbench.models.denoisers import VPEpsDenoiser
    from rwbench.nets.unet import UNet
    from rwbench.models.embedded import native_function
    from rwbench.training.config import load_embedded_config

    net_cfg = dict(load_embedded_config(config_path).get("net") or {})
    net = UNet(in_channels=1, **net_cfg).eval()
    return VPEpsDenoiser(native_function("vp", net, {}), schedules.alphas_cumprod(schedules.linear_betas()))
