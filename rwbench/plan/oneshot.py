"""The torch-free half of one-shot sampling (`rwbench generate`, `rwbench.sample`): the model presets shipped with the
package, `--seeds` lists, the sampler options a sampler takes (the sampler table's axes) and the per-seed file names.
rwbench.tools.oneshot does the sampling."""

from __future__ import annotations

import difflib
import functools
import re
from pathlib import Path

from rwbench.plan.samplers import AXES, SAMPLERS, get

# The default config (its `models:` section: the model presets), shipped as package data: in a checkout a link to
# config/default.yaml, in a wheel a copy of it. `embedded:<kind>` checkpoints resolve against a results folder.
DEFAULT_CONFIG = Path(__file__).with_name("default.yaml")
SEED_PNG = "seed{seed:06d}.png"          # EDM's convention: one file per seed, named by it
SEED_PATTERN = re.compile(r"^seed(\d{6,})\.png$")
# the sampler parameters one-shot sampling may set (the unconditional ones of the table; posterior-only axes are not)
OPTIONS = tuple(name for name in AXES if any(name in row.axes for row in SAMPLERS.values() if row.uncond))


@functools.lru_cache(maxsize=4)
def _read(path: str) -> dict:
    from rwbench.plan.config import load_config

    return load_config(path)


def model_presets(config=None) -> dict:
    """{name: settings} of the `models:` section of `config` (a path or a mapping; default: the packaged
    config/default.yaml)."""
    if isinstance(config, dict):
        data = config
    else:
        path = Path(config) if config is not None else DEFAULT_CONFIG
        if not path.is_file():
            raise FileNotFoundError(f"{path}: config not found; give a YAML file with a `models:` section")
        data = _read(str(path.resolve()))
    return dict(data.get("models") or {})


def model_preset(name: str, config=None) -> dict:
    """The settings of one model preset (ValueError naming the known ones, with the closest)."""
    presets = model_presets(config)
    if name not in presets:
        close = difflib.get_close_matches(str(name), list(presets), n=1, cutoff=0.5)
        hint = f"did you mean {close[0]!r}? " if close else ""
        raise ValueError(f"--model {name!r}: not under `models:` of the config ({hint}have: "
                         f"{', '.join(sorted(presets)) or 'none'})")
    return dict(presets[name])


def parse_seeds(text) -> list[int]:
    """`0-63`, `1,5,9-12` (ranges inclusive) or an iterable of ints -> the list of seeds, in the order given; each
    non-negative and listed once."""
    if isinstance(text, str):
        seeds = []
        for part in text.replace(" ", "").split(","):
            match = re.fullmatch(r"(\d+)(?:-(\d+))?", part)
            if not match:
                raise ValueError(f"--seeds {text!r}: write seeds as ranges and lists of non-negative integers, e.g. "
                                 f"0-63 or 1,5,9-12")
            lo, hi = int(match[1]), int(match[2] if match[2] is not None else match[1])
            if hi < lo:
                raise ValueError(f"--seeds {text!r}: range {part} runs backwards; write it as {hi}-{lo}")
            seeds += range(lo, hi + 1)
    else:
        try:
            seeds = [int(s) for s in text]
        except (TypeError, ValueError):
            raise ValueError(f"seeds: need non-negative integers (e.g. range(16)) or a text such as 0-63, got {text!r}") from None
        if any(s < 0 for s in seeds):
            raise ValueError(f"seeds: need non-negative integers, got {min(seeds)}")
    if not seeds:
        raise ValueError("--seeds: no seeds; give at least one, e.g. 0-15")
    repeated = sorted({s for s in seeds if seeds.count(s) > 1})
    if repeated:
        raise ValueError(f"--seeds: seed {repeated[0]} is listed twice; list each seed once")
    return seeds


def option_problem(sampler: str, options: dict, spell=str) -> str | None:
    """Why `sampler` cannot take `options` ({parameter: value}, None values ignored): a parameter its table row does
    not use, or one one-shot sampling does not set; None when it can. `spell` writes a parameter's name (the CLI: its
    flag)."""
    row = get(sampler)
    given = [name for name, value in options.items() if value is not None]
    unknown = [name for name in given if name not in OPTIONS]
    if unknown:
        return f"{spell(unknown[0])}: not a sampler parameter here (known: {', '.join(map(spell, OPTIONS))})"
    extra = [name for name in given if name not in row.axes]
    if extra:
        takes = ", ".join(spell(a) for a in row.axes if a in OPTIONS)
        return (f"{spell(extra[0])}: sampler {sampler} does not take {extra[0]} (it takes {takes}); leave it out or "
                f"choose a sampler that does")
    return None


def seed_file(seed: int) -> str:
    """File name of seed `seed`'s image: seed000123.png."""
    return SEED_PNG.format(seed=int(seed))


__all__ = ["DEFAULT_CONFIG", "OPTIONS", "SEED_PATTERN", "model_presets", "model_preset", "parse_seeds",
           "option_problem", "seed_file"]
