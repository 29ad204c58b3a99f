"""Metrics: FID/KID/precision-recall via torch-fidelity, LPIPS, PSNR/SSIM, cached reference statistics.

Modules: extractors (registered feature extractors, weights resolution), fidelity (FID/KID/PRC),
reference (reference-statistics cache), image_quality (PSNR, min-max PSNR, SSIM), lpips_metric (LPIPS),
aggregation (mean, standard error, bootstrap CI), evaluate / aggregate (CLI commands).
"""
