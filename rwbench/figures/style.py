"""One look for every figure: the seaborn theme, one colour and one marker per sampler (keyed by the sampler table's
names, in its order, so a sampler looks the same in every figure), colours for other series, and the size limits
every saved figure keeps (at most MAX_PANELS panels, at most MAX_WIDTH_PX wide at DPI)."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import seaborn as sns  # noqa: E402

from rwbench.plan.samplers import SAMPLERS  # noqa: E402

DPI = 150                 # the default dpi of every saved figure
MAX_PANELS = 6            # panels (axes drawn in) per file
MAX_WIDTH_PX = 2400       # width of a saved PNG at DPI
MAX_WIDTH_IN = MAX_WIDTH_PX / DPI
MARKER_CYCLE = ("o", "s", "^", "D", "v", "P", "X", "*", "<", ">", "p", "h", "d", "8", "H")
LINE_STYLES = ("-", "--", ":", "-.", (0, (5, 1)), (0, (3, 1, 1, 1, 1, 1)))
THEME = {"context": "paper", "style": "whitegrid", "font_scale": 1.0,
         "rc": {"savefig.dpi": DPI, "figure.dpi": DPI, "legend.frameon": False, "axes.titlesize": 9,
                "axes.labelsize": 8, "xtick.labelsize": 7, "ytick.labelsize": 7, "legend.fontsize": 7}}

# one colour and one marker per sampler of the sampler table, in table order: "husl" hues are evenly spaced, so
# every sampler has its own colour; the markers cycle (a colour and marker pair is unique)
SAMPLER_PALETTE: dict[str, tuple[float, float, float]] = dict(zip(SAMPLERS, sns.color_palette("husl", len(SAMPLERS))))
SAMPLER_MARKERS: dict[str, str] = {name: MARKER_CYCLE[i % len(MARKER_CYCLE)] for i, name in enumerate(SAMPLERS)}
OTHER = (0.35, 0.35, 0.35)   # a sampler outside the table (e.g. the benchmark's `exact`)
FLOOR_COLOR = (0.55, 0.55, 0.55)


def apply_theme() -> None:
    """Set the seaborn theme (called once when rwbench.figures.common is imported)."""
    sns.set_theme(**THEME)


def sampler_name(label: str) -> str:
    """The sampler a line label starts with ('dps c=0.5' -> 'dps'; 'digits-vp: ddim / karras' -> 'ddim')."""
    text = str(label).split(": ", 1)[-1]
    return text.split(" ")[0]


def sampler_color(name: str):
    """The sampler's colour (SAMPLER_PALETTE; grey for a name outside the table)."""
    return SAMPLER_PALETTE.get(sampler_name(name), OTHER)


def sampler_marker(name: str) -> str:
    """The sampler's marker (SAMPLER_MARKERS; 'o' for a name outside the table)."""
    return SAMPLER_MARKERS.get(sampler_name(name), "o")


def series_colors(names) -> dict:
    """Distinct colours for series that are not samplers (ladders, models, pairs), in the order given."""
    names = list(dict.fromkeys(names))
    palette = sns.color_palette("colorblind" if len(names) <= 10 else "husl", max(1, len(names)))
    return dict(zip(names, palette))


def line_styles(names) -> dict:
    """One line style per name (in the order given), for a second grouping beside the sampler colours."""
    names = list(dict.fromkeys(names))
    return {n: LINE_STYLES[i % len(LINE_STYLES)] for i, n in enumerate(names)}


def save_dpi(fig) -> tuple[int, float]:
    """(dpi, width in inches) to save `fig` with bbox_inches="tight", pad_inches=0.05: DPI, or less when the figure
    would be wider than MAX_WIDTH_PX (a layout engine may move the tight box by a few pixels: 24 px of room)."""
    fig.canvas.draw()                      # run the layout engine first: the tight box is that of the saved figure
    width_in = fig.get_tightbbox(fig.canvas.get_renderer()).width + 0.1
    room = MAX_WIDTH_PX - 24
    return (DPI if width_in * DPI <= room else int(room / width_in)), width_in


def panels(fig) -> list:
    """The axes of a figure that are panels (colour bars and empty axes left out)."""
    return [ax for ax in fig.axes if ax.get_label() != "<colorbar>" and ax.axison]


__all__ = ["DPI", "MAX_PANELS", "MAX_WIDTH_PX", "MAX_WIDTH_IN", "SAMPLER_PALETTE", "SAMPLER_MARKERS", "apply_theme",
           "sampler_name", "sampler_color", "sampler_marker", "series_colors", "line_styles", "save_dpi", "panels"]
