"""Forward-pass benchmark of the ADM and NCSN++ networks: time per call, images/s, peak memory, low-precision deviation."""

# python -m rwbench.tools.bench nets [--models adm,ncsnpp] [--config full|small] [--size 256]
#     [--batch-sizes 1,2,4,8] [--dtypes fp32,tf32,bf16] [--channels-last] [--compile]
# On CUDA the defaults are the full FFHQ-256 networks at 256x256; without a GPU they fall back to the
# small golden configurations at 64x64 and batch sizes 1,2. Weights are random (timings do not depend
# on them); deviations compare each dtype with the float32 (TF32 off) output of the same weights and input.

from __future__ import annotations

import argparse
import contextlib
import time

import torch

from rwbench.models.checkpoints import random_net

DTYPES = {"fp32": torch.float32, "tf32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}


def _csv(text: str) -> list[str]:
    return [p.strip() for p in text.split(",") if p.strip()]


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m rwbench.tools.bench nets", description=__doc__,
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--models", default="adm,ncsnpp", help="comma list of adm, ncsnpp")
    p.add_argument("--config", choices=["full", "small"], default=None,
                   help="network configuration (default: full on CUDA, small on CPU)")
    p.add_argument("--size", type=int, default=None, help="image side (default: 256 for full, 64 for small)")
    p.add_argument("--batch-sizes", default=None, help="comma list (default: 1,2,4,8,16 on CUDA, 1,2 on CPU)")
    p.add_argument("--dtypes", default="fp32,tf32,bf16", help="comma list of fp32, tf32, bf16, fp16")
    p.add_argument("--channels-last", action="store_true", help="use the channels_last memory format")
    p.add_argument("--compile", action="store_true", help="wrap the network in torch.compile")
    p.add_argument("--device", default=None, help="torch device (default: cuda if available, else cpu)")
    p.add_argument("--warmup", type=int, default=2, help="untimed calls before timing")
    p.add_argument("--repeats", type=int, default=None, help="timed calls (default: 10 on CUDA, 3 on CPU)")
    p.add_argument("--seed", type=int, default=0, help="seed of the random weights and inputs")
    return p


def _condition(kind: str, batch: int, device) -> torch.Tensor:
    """A mid-range noise level: DDPM step 500 for ADM, sigma = 1 for NCSN++."""
    value = 500.0 if kind == "adm" else 1.0
    return torch.full((batch,), value, dtype=torch.float64, device=device)


@contextlib.contextmanager
def _tf32(enabled: bool):
    """Set (and restore) the TF32 switches for CUDA matmuls and cuDNN convolutions."""
    old = (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32)
    torch.backends.cuda.matmul.allow_tf32 = enabled
    torch.backends.cudnn.allow_tf32 = enabled
    try:
        yield
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = old


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_calls(fn, device: torch.device, warmup: int, repeats: int) -> tuple[float, float, torch.Tensor]:
    """(seconds of the first call, mean seconds per later call, last output) of a no-argument function."""
    _sync(device)
    t0 = time.perf_counter()
    out = fn()
    _sync(device)
    first = time.perf_counter() - t0
    for _ in range(max(warmup - 1, 0)):
        out = fn()
    _sync(device)
    t0 = time.perf_counter()
    for _ in range(repeats):
        out = fn()
    _sync(device)
    return first, (time.perf_counter() - t0) / max(repeats, 1), out


def deviation(out: torch.Tensor, ref: torch.Tensor) -> tuple[float, float]:
    """(max |out - ref|, relative RMS ||out - ref|| / ||ref||) in float64."""
    d = out.double() - ref.double()
    return d.abs().max().item(), (d.norm() / ref.double().norm().clamp_min(1e-300)).item()


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark grid and print one line per model x dtype x batch size."""
    args = build_parser().parse_args(argv)
    device = torch.device(args.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    on_cuda = device.type == "cuda"
    config = args.config or ("full" if on_cuda else "small")
    size = args.size or (256 if config == "full" else 64)
    batches = [int(b) for b in _csv(args.batch_sizes or ("1,2,4,8,16" if on_cuda else "1,2"))]
    repeats = args.repeats if args.repeats is not None else (10 if on_cuda else 3)
    models = _csv(args.models)
    dtypes = _csv(args.dtypes)
    for name in models:
        if name not in ("adm", "ncsnpp"):
            raise ValueError(f"--models: need adm and/or ncsnpp, got {name!r}")
    for name in dtypes:
        if name not in DTYPES:
            raise ValueError(f"--dtypes: need some of {', '.join(DTYPES)}, got {name!r}")
    if not on_cuda and "tf32" in dtypes:
        print("note: tf32 only exists on CUDA; skipped on", device)
        dtypes = [d for d in dtypes if d != "tf32"]
    if on_cuda:
        torch.backends.cudnn.benchmark = True
    fmt = torch.channels_last if args.channels_last else torch.contiguous_format
    dev_name = torch.cuda.get_device_name(device) if on_cuda else f"cpu ({torch.get_num_threads()} threads)"
    print(f"device {dev_name} | torch {torch.__version__} | config {config} | size {size} | "
          f"channels_last {args.channels_last} | compile {args.compile} | repeats {repeats}")
    header = (f"{'model':7} {'dtype':5} {'batch':>5} {'ms/call':>10} {'img/s':>8} {'first s':>8} "
              f"{'peak MiB':>9} {'max|d| vs fp32':>15} {'rel rms':>9}")

    for kind in models:
        base = random_net(kind, config=config, seed=args.seed)
        n_params = sum(p.numel() for p in base.parameters())
        print(f"\n{kind}: {n_params:,} parameters")
        print(header)
        g = torch.Generator().manual_seed(args.seed + 1)
        inputs = {b: torch.randn(b, 3, size, size, generator=g) for b in batches}  # same inputs for every dtype
        refs: dict[int, torch.Tensor] = {}
        ref_net = None
        for dname in dtypes:
            net = random_net(kind, config=config, seed=args.seed)
            net = net.to(device=device, dtype=DTYPES[dname]).to(memory_format=fmt).requires_grad_(False)
            run_net = torch.compile(net) if args.compile else net
            for batch in batches:
                x = inputs[batch].to(device).to(memory_format=fmt)
                cond = _condition(kind, batch, device)
                if on_cuda:
                    torch.cuda.empty_cache()
                    torch.cuda.reset_peak_memory_stats(device)
                with torch.inference_mode(), _tf32(dname == "tf32"):
                    try:
                        first, per_call, out = time_calls(lambda: run_net(x, cond), device, args.warmup, repeats)
                    except torch.OutOfMemoryError:
                        print(f"{kind:7} {dname:5} {batch:>5} out of memory")
                        break
                    if batch not in refs:  # the fp32 (TF32 off) output of the same input
                        if ref_net is None:
                            ref_net = base.to(device).requires_grad_(False)
                        with _tf32(False):
                            refs[batch] = ref_net(x.float(), cond).float().cpu()
                peak = f"{torch.cuda.max_memory_allocated(device) / 2**20:9.0f}" if on_cuda else f"{'n/a':>9}"
                dmax, rel = deviation(out.float().cpu(), refs[batch])
                print(f"{kind:7} {dname:5} {batch:>5} {per_call * 1e3:10.2f} {batch / per_call:8.2f} {first:8.2f} "
                      f"{peak} {dmax:15.3e} {rel:9.2e}")
            del net, run_net
        del base, ref_net
    return 0
