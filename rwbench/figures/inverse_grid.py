"""Inverse-problem grid from the oracle posterior benchmark (rwbench.bench.posterior --images): per task (rows) the
ground truth, the measurement (A^T y / A^T A 1), the exact posterior mean and one exact draw, then each sampler's mean of N draws
and one draw at one NFE budget. One figure per eta (never two noise levels side by side)."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402

from rwbench.io import atomic_path  # noqa: E402

KEY = re.compile(r"^(?P<task>[^/]+)/eta=(?P<eta>[^/]+)/(?P<rest>.+)$")
FIXED = [("truth", "truth"), ("measurement", "A^T y / A^T A 1"), ("exact_mean", "exact mean"), ("exact_draw", "exact draw")]


def parse(images: dict) -> dict:
    """{eta: {task: {column: image}}} from the benchmark's flat keys task/eta=E/<what>."""
    out: dict = {}
    for key, value in images.items():
        m = KEY.match(key)
        if m is None:
            raise ValueError(f"images: unexpected key {key!r}; expected task/eta=E/<image>")
        out.setdefault(float(m["eta"]), {}).setdefault(m["task"], {})[m["rest"]] = value
    return out


def build(images: dict, out_dir: str | Path, *, nfe: int | None, sweep: float = 1.0, stem: str = "posterior-grid",
          formats=("png",)) -> list[Path]:
    """Write <stem>-eta<eta>.<fmt>: columns truth, A^T y, exact mean, exact draw, then mean and draw per sampler at
    `nfe` forward NFE (None: each sampler at the largest NFE it has, e.g. its published one)."""
    out_dir = Path(out_dir)
    written = []
    for eta, tasks in sorted(parse(images).items()):
        # per task and sampler, the NFE shown: `nfe`, or the largest it has (DiffPIR: 100 for sr/deblur, 20 inpainting)
        shown: dict[tuple[str, str], int] = {}
        for task, t in tasks.items():
            for r in t:
                parts = r.split("/")
                if len(parts) == 4 and parts[2] == f"sweep={sweep}":
                    k = int(parts[1].split("=")[1])
                    if (nfe is None and k > shown.get((task, parts[0]), 0)) or k == nfe:
                        shown[(task, parts[0])] = k
        names = sorted({n for _, n in shown})
        if not names:
            raise ValueError(f"images: no sampler images at nfe={nfe}, sweep={sweep} for eta={eta}")
        cols = FIXED + [((n, w), f"{n} {w}") for n in names for w in ("mean", "draw")]
        fig, axes = plt.subplots(len(tasks), len(cols), figsize=(1.1 * len(cols), 1.25 * len(tasks)), squeeze=False)
        for i, (task, imgs) in enumerate(sorted(tasks.items())):
            for j, (key, title) in enumerate(cols):
                ax = axes[i][j]
                ax.set_xticks([]), ax.set_yticks([])
                if isinstance(key, tuple):
                    k = shown.get((task, key[0]))
                    key = None if k is None else f"{key[0]}/nfe={k}/sweep={sweep}/{key[1]}"
                    if k is not None and nfe is None:
                        ax.set_xlabel(f"{k} NFE", fontsize=5, labelpad=1)
                if key in imgs:
                    ax.imshow(imgs[key].double().clamp(0, 1)[0].numpy(), cmap="gray", vmin=0, vmax=1)
                if i == 0:
                    ax.set_title(title, fontsize=6)
                if j == 0:
                    ax.set_ylabel(task, fontsize=7)
        budget = f"{nfe} forward NFE per sampler" if nfe else "each sampler at its own NFE (under each image)"
        fig.suptitle(f"Oracle posterior, eta = {eta:g} on [0, 1], {budget}", fontsize=8)
        for fmt in formats:
            path = out_dir / f"{stem}-eta{eta:g}.{fmt}"
            with atomic_path(path) as tmp:
                fig.savefig(tmp, format=fmt, dpi=130, bbox_inches="tight")
            written.append(path)
        plt.close(fig)
    return written


def main(argv: list[str] | None = None) -> int:
    """python -m rwbench.figures.inverse_grid IMAGES OUT_DIR [--nfe N] [--sweep 1.0]"""
    p = argparse.ArgumentParser(prog="python -m rwbench.figures.inverse_grid", description=__doc__)
    p.add_argument("images")
    p.add_argument("out_dir")
    p.add_argument("--nfe", type=int, default=None, help="forward NFE of the sampler columns (default: each its largest)")
    p.add_argument("--sweep", type=float, default=1.0)
    args = p.parse_args(argv)
    path = Path(args.images)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no benchmark images; run `python -m rwbench.bench posterior --images {path}`")
    from safetensors.torch import load_file

    for written in build(load_file(str(path)), args.out_dir, nfe=args.nfe, sweep=args.sweep):
        print(written)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
