"""Failed cells of a packed DAG (torch-free: the Snakefile imports it).

A pack job (`rwbench batch --cells ...`, workflow/rules/packs.smk) runs every command of its runs even when one fails.
A failed command leaves a marker in its run folder, `FAILED-<stage>.json` (stage: the command, e.g. sample), written
atomically, and empty placeholder files for its declared outputs, so that Snakemake keeps the other runs' outputs and
builds what follows from them. Later stages skip a run whose earlier stage failed (their outputs become placeholders
too). At the end of `snakemake` (onsuccess / onerror in workflow/rules/failures.smk) each failed run is named in one
line, its placeholders are removed (so the next `snakemake` re-runs the jobs that held it) and the exit status is
non-zero. A successful command removes its stage's marker.
"""

from __future__ import annotations

import os
from pathlib import Path

from rwbench.io import read_json, write_json

MARKER_PREFIX = "FAILED-"
# what each stage reads from earlier stages of the same run (scalespace reads the trajectories, not the metrics)
UPSTREAM = {"plan": (), "sample": ("plan",), "evaluate": ("plan", "sample"), "scalespace": ("plan", "sample")}


def marker_path(run_dir: str | os.PathLike, stage: str) -> Path:
    """<run_dir>/FAILED-<stage>.json."""
    return Path(run_dir) / f"{MARKER_PREFIX}{stage}.json"


def clear_marker(run_dir: str | os.PathLike, stage: str) -> None:
    """Forget an earlier failure of this stage (its command is about to run again)."""
    marker_path(run_dir, stage).unlink(missing_ok=True)


def record_failure(run_dir: str | os.PathLike, stage: str, failure: dict, log: str | None = None) -> Path:
    """Add one failed command ({command, exit_code, error}) to the run's marker of this stage (written atomically)."""
    path = marker_path(run_dir, stage)
    record = read_json(path) if path.is_file() else {"run_id": Path(run_dir).name, "run_dir": str(run_dir),
                                                     "stage": stage, "log": log, "failures": []}
    record["failures"].append(failure)
    write_json(path, record)
    return path


def markers(run_dir: str | os.PathLike) -> list[dict]:
    """Every failure record of a run (one per failed stage), in stage order; an unreadable marker still counts."""
    out = []
    for path in sorted(Path(run_dir).glob(f"{MARKER_PREFIX}*.json")):
        stage = path.stem[len(MARKER_PREFIX):]
        try:
            record = read_json(path)
        except (OSError, ValueError) as err:
            record = {"run_id": Path(run_dir).name, "run_dir": str(run_dir), "stage": stage, "log": None,
                      "failures": [{"command": "", "exit_code": None, "error": f"{path}: unreadable marker ({err})"}]}
        out.append(record)
    order = list(UPSTREAM)
    return sorted(out, key=lambda r: order.index(r["stage"]) if r["stage"] in order else len(order))


def is_failed(run_dir: str | os.PathLike) -> bool:
    """True when any stage of the run failed: its outputs after that stage are placeholders, not results."""
    return any(Path(run_dir).glob(f"{MARKER_PREFIX}*.json"))


def failed_upstream(run_dir: str | os.PathLike, stage: str) -> dict | None:
    """The failure record of an earlier stage that this stage reads from, or None."""
    for record in markers(run_dir):
        if record["stage"] in UPSTREAM.get(stage, ()):
            return record
    return None


def produced(run_dir: str | os.PathLike, stage: str) -> bool:
    """True unless this stage of the run, or one it reads from, failed (then its outputs are placeholders)."""
    return not any(r["stage"] == stage or r["stage"] in UPSTREAM.get(stage, ()) for r in markers(run_dir))


def failed_runs(run_dirs) -> list[dict]:
    """Failure records of the given run folders (each failed stage of each run), in the order given."""
    return [record for d in run_dirs for record in markers(d)]


def failure_line(record: dict, error_chars: int = 160) -> str:
    """One line per failed run and stage: run, stage, exit code, the error (its first error_chars characters: the
    log holds all of it) and the log to read, which a long error never cuts off."""
    first = (record.get("failures") or [{}])[0]
    more = len(record.get("failures") or []) - 1
    log = f" (log: {record['log']})" if record.get("log") else ""
    error = " ".join(str(first.get("error") or "no message").split())
    error = error if len(error) <= error_chars else error[:error_chars - 3] + "..."
    return (f"{record['run_id']}: {record['stage']} failed with exit code {first.get('exit_code')}: "
            f"{error}{f' (+{more} more commands)' if more > 0 else ''}{log}")


def write_placeholder(path: str | os.PathLike) -> None:
    """An empty file where a failed or skipped command's declared output would be (results are never empty)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.unlink(missing_ok=True)
    path.touch()


def remove_placeholders(run_dir: str | os.PathLike) -> list[Path]:
    """Delete the empty files in a failed run's folder and its subfolders (its placeholders): the next `snakemake`
    then sees them missing and re-runs the jobs that make them. Markers stay until their stage succeeds."""
    removed = []
    root = Path(run_dir)
    for path in sorted([*root.glob("*"), *root.glob("*/*")]):
        if path.is_file() and not path.is_symlink() and path.stat().st_size == 0:
            path.unlink()
            removed.append(path)
    return removed


__all__ = ["MARKER_PREFIX", "UPSTREAM", "marker_path", "clear_marker", "record_failure", "markers", "is_failed",
           "failed_upstream", "produced", "failed_runs", "failure_line", "write_placeholder", "remove_placeholders"]
