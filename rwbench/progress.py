"""Progress of long loops: a tqdm bar on a terminal, a plain line every N steps or 30 s elsewhere (logs, DAG jobs: every
rule sends them to its log file, not to the terminal); and the block the DAG prints when it ends (run_summary)."""

from __future__ import annotations

import math
import sys
import time
from typing import Iterable, Iterator, TextIO

SECONDS = 30.0   # off a terminal: at most this long between two lines
LINES = 10       # off a terminal: about this many lines per loop (every ceil(total / LINES) steps)
MIN_SECONDS = 1.0  # off a terminal: a step-count line waits this long after the previous one (short loops: one line)


class Progress:
    """Counts steps of a loop of `total`; shows a bar on a terminal, plain `desc: n/total ...` lines elsewhere.

    `enabled=False` prints nothing (`--no-progress`); `stream` defaults to stderr; a plain line is printed after
    `every` steps (once `min_seconds` passed since the previous line) or after `seconds`, and at the end, so a loop
    shorter than `min_seconds` logs one line. `isatty` overrides the terminal test (tests).
    """

    def __init__(self, total: int | None = None, desc: str = "", *, enabled: bool = True, stream: TextIO | None = None,
                 every: int | None = None, seconds: float = SECONDS, min_seconds: float = MIN_SECONDS,
                 initial: int = 0, isatty: bool | None = None):
        self.total, self.desc, self.n = total, desc, int(initial)
        self.stream = sys.stderr if stream is None else stream
        tty = bool(getattr(self.stream, "isatty", lambda: False)()) if isatty is None else isatty
        self.mode = "off" if not enabled else ("bar" if tty else "lines")
        self.every = int(every) if every else max(1, math.ceil((total or LINES * 100) / LINES))
        self.seconds, self.min_seconds = float(seconds), float(min_seconds)
        self.postfix = ""
        self.t0 = self.t_last = time.monotonic()
        self.n_last = self.n
        self.bar = None
        if self.mode == "bar":
            from tqdm.auto import tqdm

            self.bar = tqdm(total=total, initial=initial, desc=desc, file=self.stream)

    def update(self, n: int = 1, **postfix) -> None:
        """Advance by `n` steps; `postfix` (e.g. loss=0.1) is shown with the next line."""
        self.n += n
        if postfix:
            self.postfix = " ".join(f"{k}={v}" for k, v in postfix.items())
        if self.mode == "bar":
            self.bar.update(n)
            if postfix:
                self.bar.set_postfix_str(self.postfix, refresh=False)
        elif self.mode == "lines":
            now = time.monotonic()
            since = now - self.t_last
            if (self.n - self.n_last >= self.every and since >= self.min_seconds) or since >= self.seconds:
                self._line(now)

    def _line(self, now: float) -> None:
        # one self-contained line: desc, count (and share of the total), elapsed time, rate, postfix
        elapsed = now - self.t0
        count = f"{self.n}/{self.total} ({100.0 * self.n / self.total:.0f} %)" if self.total else f"{self.n}"
        rate = f", {self.n / elapsed:.3g} steps/s" if elapsed > 0 and self.n else ""
        extra = f" {self.postfix}" if self.postfix else ""
        print(f"{self.desc}: {count} after {elapsed:.1f} s{rate}{extra}", file=self.stream, flush=True)
        self.t_last, self.n_last = now, self.n

    def close(self) -> None:
        """End the bar, or print the last line if steps were made since the previous one."""
        if self.mode == "bar":
            self.bar.close()
        elif self.mode == "lines" and self.n != self.n_last:
            self._line(time.monotonic())
        self.mode = "closed"

    def __enter__(self) -> "Progress":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def progress(iterable: Iterable, desc: str = "", *, total: int | None = None, enabled: bool = True,
             stream: TextIO | None = None, every: int | None = None, seconds: float = SECONDS,
             min_seconds: float = MIN_SECONDS) -> Iterator:
    """Iterate `iterable`, reporting progress as `Progress` does (tqdm-like wrapper)."""
    if total is None:
        try:
            total = len(iterable)  # type: ignore[arg-type]
        except TypeError:
            total = None
    with Progress(total, desc, enabled=enabled, stream=stream, every=every, seconds=seconds,
                  min_seconds=min_seconds) as bar:
        for item in iterable:
            yield item
            bar.update()


MAX_LINE = 300   # the longest line the end-of-run summary prints


def _clip(line: str, width: int = MAX_LINE) -> str:
    return line if len(line) <= width else line[:width - 3] + "..."


def run_summary(metrics_csv, report: str, planned: int | None = None, cell_keys=("experiment", "model", "sampler",
                "schedule", "nfe", "task", "task_params_eta", "seed"), limit: int = 20) -> str:
    """The block printed at the end of a DAG run (torch-free: the Snakefile calls it): runs done (runs with rows in the
    aggregated metrics table, of `planned`), runs with diverged images with their cells (diverged_fraction > 0; at
    most `limit` named), and the report to open. No line is longer than MAX_LINE characters."""
    import csv
    from pathlib import Path

    path = Path(metrics_csv)
    runs: dict[str, dict] = {}
    if path.is_file():
        with open(path, newline="") as handle:
            for row in csv.DictReader(handle):
                runs.setdefault(row["run_id"], row)
                if row.get("metric") == "diverged_fraction":
                    runs[row["run_id"]] = dict(row)
    diverged = []
    for run_id, row in runs.items():
        try:
            fraction = float(row.get("value", "nan")) if row.get("metric") == "diverged_fraction" else 0.0
        except ValueError:
            fraction = 0.0
        if fraction > 0:
            diverged.append((run_id, fraction, row))
    done = f"{len(runs)}" + (f" of {planned}" if planned is not None else "")
    lines = [f"rwbench: {done} runs done ({path}); {len(diverged)} with diverged images"
             + (":" if diverged else ".")]
    for run_id, fraction, row in sorted(diverged, key=lambda d: -d[1])[:limit]:
        try:
            count = f"{round(fraction * float(row.get('n_images') or 'nan'))} images"
        except ValueError:
            count = "images"
        cell = ", ".join(f"{k.replace('task_params_', '')}={row[k]}" for k in cell_keys if row.get(k) not in (None, ""))
        lines.append(f"  - {run_id}: {count} ({100 * fraction:.0f} %) diverged; cell {cell}")
    if len(diverged) > limit:
        lines.append(f"  ... and {len(diverged) - limit} more (the report's front page lists them all)")
    lines.append(f"rwbench: report: {report}")
    return "\n".join(_clip(line) for line in lines)
