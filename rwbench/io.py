"""Atomic file output, small JSON helpers and HTML table pages shared by every stage."""

from __future__ import annotations

import contextlib
import hashlib
import html
import json
import math
import os
import tempfile
from pathlib import Path
from typing import Any, Iterator


_SHA_CACHE: dict[tuple[str, int, int], str] = {}


def file_sha256(path: str | os.PathLike) -> str:
    """SHA-256 hex digest of a file's bytes (memoised on path, size and mtime)."""
    stat = os.stat(path)
    key = (str(Path(path).resolve()), stat.st_size, stat.st_mtime_ns)
    if key not in _SHA_CACHE:
        digest = hashlib.sha256()
        with open(path, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
        _SHA_CACHE[key] = digest.hexdigest()
    return _SHA_CACHE[key]



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


def save_safetensors(path: str | os.PathLike, tensors: dict, metadata: dict[str, str] | None = None) -> Path:
    """Write `tensors` (name -> tensor, made contiguous) as a safetensors file atomically, readable as the umask says.

    safetensors' writer replaces the temp file atomic_path made, so the mode is set again before the rename (without
    it the file would be mkstemp-private, 0600). Every safetensors file rwbench writes goes through here.
    """
    from safetensors.torch import save_file

    path = Path(path)
    with atomic_path(path) as tmp:
        save_file({k: v.contiguous() for k, v in tensors.items()}, str(tmp), metadata=metadata)
        os.chmod(tmp, _creation_mode())
    return path


def write_json(path: str | os.PathLike, obj: Any) -> None:
    """Write `obj` as indented JSON atomically."""
    with atomic_write(path, "w") as handle:
        json.dump(obj, handle, indent=2, sort_keys=True, default=_json_default)
        handle.write("\n")


def read_json(path: str | os.PathLike, remedy: str = "delete it and rerun the stage that wrote it") -> Any:
    """Read a JSON file; a missing, truncated or corrupt one is one line naming the path."""
    from rwbench.errors import UserError, first_line

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file; run the stage that produces it first")
    try:
        return json.loads(path.read_text())
    except (ValueError, UnicodeDecodeError) as err:  # json.JSONDecodeError is a ValueError
        raise UserError(f"{path}: truncated or corrupt JSON ({first_line(err)}); {remedy}") from err


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
        if "weights only load failed" in str(err).lower():
            raise UserError(f"{path}: {what} holds pickled objects other than tensors ({_refused_global(err)}); "
                            f"refused, rwbench unpickles only tensors (torch.load weights_only=True); "
                            f"{remedy}") from err
        raise UserError(f"{path}: truncated or corrupt {what} ({first_line(err)}); {remedy}") from err


def _refused_global(err: BaseException) -> str:
    """What a weights_only refusal says the pickle asked for (e.g. 'it asks for posix.system')."""
    import re

    found = re.search(r"GLOBAL ([\w.]+)", str(err))
    return f"it asks for {found.group(1)}" if found else "not a plain state dict"


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


def load_state_checked(module: Any, state: dict, path: str | os.PathLike, remedy: str) -> None:
    """module.load_state_dict(state) strictly; a missing, unexpected or wrongly shaped key is one UserError line
    naming the file and the key (torch's own error names neither the file nor, in one line, the key)."""
    from rwbench.errors import UserError

    expected = module.state_dict()
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    if missing:
        more = f" and {len(missing) - 1} more" if len(missing) > 1 else ""
        raise UserError(f"{path}: key {missing[0]!r}{more} missing from the weights; {remedy}")
    if unexpected:
        more = f" and {len(unexpected) - 1} more" if len(unexpected) > 1 else ""
        raise UserError(f"{path}: unexpected key {unexpected[0]!r}{more} in the weights; {remedy}")
    for key, want in expected.items():
        if tuple(state[key].shape) != tuple(want.shape):
            raise UserError(f"{path}: key {key!r} has shape {tuple(state[key].shape)}, the model expects "
                            f"{tuple(want.shape)}; {remedy}")
    module.load_state_dict(state)


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


# --- HTML pages ---------------------------------------------------------------------------------------------------
# Tables as small self-contained HTML pages, so that the Snakemake report shows them inline (it embeds text/html
# results; a CSV is only offered as a download). Torch- and pandas-free: a frame is anything with .head(n), .columns,
# .itertuples(index=False) and len().

HTML_STYLE = ("body{font-family:sans-serif;font-size:13px;margin:8px} table{border-collapse:collapse} "
              "th,td{border:1px solid #ccc;padding:2px 6px;text-align:right} th{background:#f0f0f0} "
              "td:first-child,th:first-child{text-align:left} caption{text-align:left;font-weight:bold;padding:4px 0} "
              "p.note{color:#444;max-width:60em}")
HTML_MAX_ROWS = 500   # longer tables are cut to their first rows in the HTML view (the CSV keeps every row)


def html_cell(value: Any) -> str:
    """The text of one table cell: floats to 4 significant digits, NaN as an en dash, anything else escaped."""
    if isinstance(value, float):
        return "&ndash;" if math.isnan(value) else f"{value:.4g}"
    return html.escape(str(value))


def table_html(frame: Any, title: str = "", note: str = "") -> str:
    """One HTML page with `frame` as a table (its first HTML_MAX_ROWS rows), a caption and an optional note."""
    rows = frame.head(HTML_MAX_ROWS)
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in rows.columns)
    body = "\n".join("<tr>" + "".join(f"<td>{html_cell(v)}</td>" for v in record) + "</tr>"
                     for record in rows.itertuples(index=False))
    cut = (f"<p class='note'>First {HTML_MAX_ROWS} of {len(frame)} rows; the CSV next to this file has all of "
           "them.</p>" if len(frame) > HTML_MAX_ROWS else "")
    extra = f"<p class='note'>{html.escape(note)}</p>" if note else ""
    return (f"<!DOCTYPE html>\n<html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
            f"<style>{HTML_STYLE}</style></head><body>{extra}\n<table class='rwbench-table'>"
            f"<caption>{html.escape(title)}</caption>\n<thead><tr>{head}</tr></thead>\n<tbody>\n{body}\n</tbody>"
            f"</table>{cut}</body></html>\n")


def write_table_html(frame: Any, path: str | os.PathLike, title: str = "", note: str = "") -> Path:
    """Write table_html(frame, title or the file's stem, note) to `path` atomically; returns the path."""
    path = Path(path)
    with atomic_write(path, "w") as handle:
        handle.write(table_html(frame, title or path.stem, note))
    return path
