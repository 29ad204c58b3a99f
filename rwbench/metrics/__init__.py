"""Metrics: FID/KID (one path), precision-recall, exact oracle metrics, LPIPS, PSNR/SSIM, reference statistics, floors.

Modules: extractors (registered feature extractors, weights resolution), fidelity (SetMetrics: the one FID/KID path,
precision/recall), reference (reference-statistics cache and reader), exact (energy distance, component occupancy,
log-density gap of oracle cells), image_quality (PSNR, min-max PSNR, SSIM), lpips_metric (LPIPS), aggregation (mean,
standard error, bootstrap intervals of per-image and set metrics), evaluate / aggregate / floors (CLI commands).
See docs/metrics.md and docs/run-layout.md.
"""
