"""External inputs a config needs (FFHQ images, pretrained checkpoints) and which are missing (torch-free).

The Snakefile lists what is missing before any job runs (workflow/rules/common.smk), `rwbench info` reports the same
locations, and the loaders (rwbench.data, rwbench.models.pretrained) read them from here.
"""

from __future__ import annotations

import os
from pathlib import Path

FFHQ_ENV = "RWBENCH_FFHQ_DIR"
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
FOLDER_DATASETS = ("ffhq",)           # datasets read from an image folder ($RWBENCH_FFHQ_DIR) instead of a package
CHECKPOINT_ENV = "RWBENCH_CHECKPOINTS"
CHECKPOINT_FILES = {
    "ffhq-vp-adm": "ffhq_10m.pt",
    "ffhq-ve-ncsnpp": "ffhq_256_ncsnpp_continuous/checkpoint_48.pth",
}


def checkpoint_dir() -> Path:
    """Folder holding the downloaded checkpoints: $RWBENCH_CHECKPOINTS, default ./checkpoints."""
    return Path(os.environ.get(CHECKPOINT_ENV) or "checkpoints")


def default_checkpoint(name: str) -> Path:
    """Expected path of a registered model's checkpoint: $RWBENCH_CHECKPOINTS/<file>."""
    if name not in CHECKPOINT_FILES:
        raise ValueError(f"name: no checkpoint file is known for {name!r}; known: {', '.join(CHECKPOINT_FILES)}")
    return checkpoint_dir() / CHECKPOINT_FILES[name]


def image_files(root) -> list[Path]:
    """Every PNG/JPEG file under `root`, sorted (none when the folder does not exist)."""
    root = Path(root)
    if not root.is_dir():
        return []
    return sorted(p for p in root.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())


def image_folder_status(root) -> str:
    """'present (N images)', 'empty (no PNG/JPEG files)', 'missing (no such folder)' or 'missing (set $ENV)'."""
    if not root:
        return f"missing (set ${FFHQ_ENV})"
    if not Path(root).is_dir():
        return "missing (no such folder)"
    n = len(image_files(root))
    return f"present ({n} image{'s' if n != 1 else ''})" if n else "empty (no PNG/JPEG files)"


def folder_identity(root) -> str:
    """sha256 (16 hex) of a folder's resolved path and, per image file, its relative path, size and mtime (ns)."""
    import hashlib

    root = Path(root).resolve()
    digest = hashlib.sha256(str(root).encode())
    for path in image_files(root):
        st = path.stat()
        digest.update(f"\n{path.relative_to(root).as_posix()}|{st.st_size}|{st.st_mtime_ns}".encode())
    return digest.hexdigest()[:16]


def missing_inputs(runs: dict, results_dir: str = "results") -> list[str]:
    """One line per external file or folder the runs need that is absent (images, pretrained checkpoints)."""
    lines: dict[str, None] = {}
    for spec in runs.values():
        ckpt = spec.get("checkpoint")
        if ckpt is None and spec.get("registry") in CHECKPOINT_FILES:
            path = default_checkpoint(spec["registry"])
            if not path.is_file():
                lines[f"checkpoint of {spec['model']} ({spec['registry']}): {path} (download it there, or set "
                      f"${CHECKPOINT_ENV}; `rwbench info` gives the source)"] = None
        elif ckpt and not str(ckpt).startswith(f"{results_dir}/embedded/") and not Path(ckpt).exists():
            lines[f"checkpoint of {spec['model']}: {ckpt} (the config's models.{spec['model']}.checkpoint)"] = None
        if spec.get("dataset") in FOLDER_DATASETS:
            root = os.environ.get(FFHQ_ENV)
            status = image_folder_status(root)
            what = {"missing (set": f"${FFHQ_ENV} is not set", "missing (no": f"{root} does not exist",
                    "empty (no P": f"{root} holds no PNG/JPEG files"}.get(status[:11])
            if what:
                lines[f"{spec['dataset']} images (reference statistics, ground truth): {what}; set ${FFHQ_ENV} to a "
                      f"folder of PNG/JPEG images"] = None
    return list(lines)


__all__ = ["FFHQ_ENV", "IMAGE_SUFFIXES", "CHECKPOINT_ENV", "CHECKPOINT_FILES", "checkpoint_dir", "default_checkpoint",
           "image_files", "image_folder_status", "folder_identity", "missing_inputs"]
