"""Tables as small self-contained HTML pages, so that the Snakemake report shows them inline (it embeds text/html
results; a CSV is only offered as a download)."""

from __future__ import annotations

import html
import math
from pathlib import Path

from rwbench.io import atomic_write

STYLE = ("body{font-family:sans-serif;font-size:13px;margin:8px} table{border-collapse:collapse} "
         "th,td{border:1px solid #ccc;padding:2px 6px;text-align:right} th{background:#f0f0f0} "
         "td:first-child,th:first-child{text-align:left} caption{text-align:left;font-weight:bold;padding:4px 0} "
         "p.note{color:#444;max-width:60em}")
MAX_ROWS = 500   # longer tables are cut to their first rows in the HTML view (the CSV keeps every row)


def _cell(value) -> str:
    # numbers to 4 significant digits, NaN as an en dash, everything else as escaped text
    if isinstance(value, float):
        return "&ndash;" if math.isnan(value) else f"{value:.4g}"
    return html.escape(str(value))


def table_html(frame, title: str = "", note: str = "") -> str:
    """One HTML page with `frame` as a table (first MAX_ROWS rows), a caption and an optional note."""
    rows = frame.head(MAX_ROWS)
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in rows.columns)
    body = "\n".join("<tr>" + "".join(f"<td>{_cell(v)}</td>" for v in record) + "</tr>"
                     for record in rows.itertuples(index=False))
    cut = (f"<p class='note'>First {MAX_ROWS} of {len(frame)} rows; the CSV next to this file has all of them.</p>"
           if len(frame) > MAX_ROWS else "")
    extra = f"<p class='note'>{html.escape(note)}</p>" if note else ""
    return (f"<!DOCTYPE html>\n<html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
            f"<style>{STYLE}</style></head><body>{extra}\n<table class='rwbench-table'>"
            f"<caption>{html.escape(title)}</caption>\n<thead><tr>{head}</tr></thead>\n<tbody>\n{body}\n</tbody></table>"
            f"{cut}</body></html>\n")


def write_table_html(frame, path, title: str = "", note: str = "") -> Path:
    """Write table_html(frame) to `path` atomically."""
    path = Path(path)
    with atomic_write(path, "w") as handle:
        handle.write(table_html(frame, title or path.stem, note))
    return path
