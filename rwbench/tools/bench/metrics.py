"""Metric throughput: images/s of feature extraction per extractor (and LPIPS pairs/s, FID-from-stats seconds)."""

from __future__ import annotations

import argparse
import time

import torch


def _random_inception(path):
    """Write a randomly initialised torch-fidelity InceptionV3 state_dict (throughput only, never for reporting)."""
    import torch_fidelity.feature_extractor_inceptionv3 as module

    cls = module.FeatureExtractorInceptionV3
    saved_load, saved_url = cls.load_state_dict, module.load_state_dict_from_url
    cls.load_state_dict, module.load_state_dict_from_url = (lambda self, sd, *a, **k: None), (lambda *a, **k: {})
    try:
        net = cls("inception-v3-compat", ["2048"])
    finally:
        cls.load_state_dict, module.load_state_dict_from_url = saved_load, saved_url
    torch.save(net.state_dict(), path)
    return path


def _digits_info(ex, weights):
    """digits-cnn with real weights when given, else a randomly initialised DigitsClassifier."""
    try:
        return ex.resolve_extractor(ex.DIGITS, weights), "trained weights"
    except (FileNotFoundError, ImportError):
        pass
    from rwbench.nets.classifier import DigitsClassifier

    ex.make_module_extractor("digits-cnn-random", lambda path: DigitsClassifier())
    return ex.resolve_extractor("digits-cnn-random"), "random init"


def _time(fn, repeats: int) -> float:
    fn()  # warm-up
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(repeats):
        fn()
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    return (time.perf_counter() - start) / repeats


def main(argv: list[str] | None = None) -> int:
    """Print images/s of each extractor on CPU and, when available, CUDA."""
    import tempfile

    from rwbench.metrics import extractors as ex

    parser = argparse.ArgumentParser(prog="python -m rwbench.tools.bench metrics", description=__doc__)
    parser.add_argument("--devices", default=None, help="comma list (default: cpu, plus cuda if available)")
    parser.add_argument("--extractors", default="digits-cnn,inception-v3-compat,lpips-alex", help="comma list")
    parser.add_argument("--digits-weights", default=None, help="digits classifier checkpoint (else random init)")
    parser.add_argument("--inception-weights", default=None, help="Inception weights (else hub cache, else random)")
    parser.add_argument("--n-digits", type=int, default=1024, help="images per digits-cnn timing")
    parser.add_argument("--n-inception", type=int, default=32, help="images per Inception timing on CPU (x8 on CUDA)")
    parser.add_argument("--resolution", type=int, default=16, help="digits image side")
    parser.add_argument("--inception-resolution", type=int, default=64, help="image side fed to Inception / LPIPS")
    parser.add_argument("--batch-size", type=int, default=64, help="batch size")
    parser.add_argument("--repeats", type=int, default=2, help="timed repetitions")
    parser.add_argument("--fid-dims", default="64,2048", help="feature dimensions for FID-from-statistics timing")
    args = parser.parse_args(argv)
    devices = args.devices.split(",") if args.devices else ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    wanted = args.extractors.split(",")
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}, cuda {torch.cuda.is_available()}"
          + (f" ({torch.cuda.get_device_name(0)})" if torch.cuda.is_available() else ""))
    print(f"{'extractor':22s} {'weights':16s} {'device':6s} {'input':>12s} {'batch':>5s} {'images/s':>10s}")
    tmp = tempfile.TemporaryDirectory()
    gen = torch.Generator().manual_seed(0)
    for device in devices:
        big = 8 if device.startswith("cuda") else 1
        if "digits-cnn" in wanted:
            info, note = _digits_info(ex, args.digits_weights)     # no weights: a randomly initialised net
            net = ex.build_extractor(info, ["features", "logits"], device)
            n = args.n_digits * big
            images = torch.randint(0, 256, (n, 1, args.resolution, args.resolution), dtype=torch.uint8,
                                   generator=gen)
            sec = _time(lambda: ex.extract_features(net, images, args.batch_size, device), args.repeats)
            print(f"{'digits-cnn':22s} {note:16s} {device:6s} {f'1x{args.resolution}x{args.resolution}':>12s} "
                  f"{args.batch_size:5d} {n / sec:10.1f}")
        side = args.inception_resolution
        if "inception-v3-compat" in wanted:
            try:
                info, note = ex.resolve_extractor(ex.INCEPTION, args.inception_weights, allow_download=False), "weights"
            except FileNotFoundError:
                path = _random_inception(f"{tmp.name}/inception-random.pth")
                info, note = ex.resolve_extractor(ex.INCEPTION, path), "random init"
            net = ex.build_extractor(info, ["2048"], device)
            n = args.n_inception * big
            images = torch.randint(0, 256, (n, 3, side, side), dtype=torch.uint8, generator=gen)
            sec = _time(lambda: ex.extract_features(net, images, args.batch_size, device), args.repeats)
            print(f"{'inception-v3-compat':22s} {note:16s} {device:6s} {f'3x{side}x{side}->299':>12s} "
                  f"{args.batch_size:5d} {n / sec:10.1f}")
        if "lpips-alex" in wanted:
            import warnings

            import lpips

            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                model = lpips.LPIPS(net="alex", pnet_rand=True, pretrained=False, verbose=False).to(device).eval()
            n = args.n_inception * 4 * big
            a = torch.rand(n, 3, side, side, generator=gen).to(device) * 2 - 1
            b = torch.rand(n, 3, side, side, generator=gen).to(device) * 2 - 1

            def pairs():
                with torch.no_grad():
                    for s in range(0, n, args.batch_size):
                        model(a[s:s + args.batch_size], b[s:s + args.batch_size])

            sec = _time(pairs, args.repeats)
            print(f"{'lpips-alex (pairs)':22s} {'random backbone':16s} {device:6s} {f'3x{side}x{side}':>12s} "
                  f"{args.batch_size:5d} {n / sec:10.1f}")
    from rwbench.metrics import fidelity

    for dim in [int(d) for d in args.fid_dims.split(",") if d]:
        feats = torch.randn(4 * dim, dim, generator=gen, dtype=torch.float64)
        stats = fidelity.feature_statistics(feats)
        start = time.perf_counter()
        fidelity.fid_from_statistics(stats, stats)
        tf_sec = time.perf_counter() - start
        start = time.perf_counter()
        fidelity.frechet_distance_symmetric(stats["mu"], stats["sigma"], stats["mu"], stats["sigma"])
        sym_sec = time.perf_counter() - start
        print(f"FID from statistics, D={dim}: torch-fidelity (eigvals) {tf_sec:.2f} s, symmetric eigh {sym_sec:.2f} s")
    tmp.cleanup()
    return 0
