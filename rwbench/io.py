"""Atomic file output and small JSON helpers shared by every stage."""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any, Iterator


def _umask() -> int:
    """The process umask (read from /proc where available: os.umask can only be read by setting it)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _creation_mode() -> int:
    """Permissions a plain open(path, "w") would give a new file: 0666 minus the umask (mkstemp's 0600 is private)."""
    return 0o666 & ~_umask()


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike, mode: str = "wb") -> Iterator[Any]:
    """Yield a temp file next to `path`; rename it over `path` only if the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, _creation_mode())
        with os.fdopen(fd, mode) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temp path for writers that want a filename (torch.save, savefig); rename on success."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=path.suffix or ".tmp", dir=path.parent)
    try:
        os.fchmod(fd, _creation_mode())
    finally:
        os.close(fd)
    try:
        yield Path(tmp)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def write_json(path: str | os.PathLike, obj: Any) -> None:
    """Write `obj` as indented JSON atomically."""
    with atomic_write(path, "w") as handle:
        json.dump(obj, handle, indent=2, sort_keys=True, default=_json_default)
        handle.write("\n")


def read_json(path: str | os.PathLike) -> Any:
    """Read a JSON file, naming the path if it is missing."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file; run the stage that produces it first")
    return json.loads(path.read_text())


def load_tensors(path: str | os.PathLike, what: str = "file", remedy: str = "delete it and rebuild it") -> Any:
    """torch.load(path, map_location='cpu', weights_only=True); a truncated or corrupt file is one UserError line."""
    import pickle
    import zipfile

    import torch

    from rwbench.errors import UserError, first_line

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: {what} not found; {remedy}")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, OSError, zipfile.BadZipFile, ValueError) as err:
        raise UserError(f"{path}: truncated or corrupt {what} ({first_line(err)}); {remedy}") from err


def load_safetensors(path: str | os.PathLike, what: str = "safetensors file",
                     remedy: str = "delete it and rebuild it") -> dict:
    """safetensors.torch.load_file(path); a truncated or corrupt file is one UserError line naming it."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    from rwbench.errors import UserError, first_line

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: {what} not found; {remedy}")
    try:
        return load_file(str(path))
    except (SafetensorError, OSError, RuntimeError, ValueError) as err:
        raise UserError(f"{path}: truncated or corrupt {what} ({first_line(err)}); {remedy}") from err


def _json_default(obj: Any) -> Any:
    import numpy as np
    import torch

    if isinstance(obj, torch.Tensor):
        return obj.tolist()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, (np.floating, np.integer)):
        return obj.item()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"cannot serialise {type(obj).__name__} to JSON")
