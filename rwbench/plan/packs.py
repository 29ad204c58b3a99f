"""Group a config's runs into a few DAG jobs per stage ("packs"), so that interpreter start-up and imports are paid
once per pack instead of once per run (torch-free: the Snakefile imports it).

A pack holds whole runs (every shard of a run goes to the same pack), so that the evaluate and scale-space jobs of
pack p need only sample pack p. Runs that wait on different inputs (the VP network, the oracle, ...) never share a
pack: a pack of oracle runs can start while the networks still train. Within such a group, runs are spread over
its packs by longest-processing-time-first on an estimated cost (images x NFE x a per-family weight), which keeps
the packs of a group within a few per cent of each other for the grids rwbench ships.
"""

from __future__ import annotations

import math

# relative cost of one denoiser call per image, by model family (the exact oracle is a few matrix products; the
# embedded UNets and checkpoint networks dominate); used only to balance packs, never reported
FAMILY_WEIGHT = {"oracle": 0.3}
DEFAULT_WEIGHT = 1.0


def run_cost(spec: dict) -> float:
    """Estimated sampling cost of a run: n_images x NFE x the family's weight."""
    return int(spec["n_images"]) * int(spec["nfe"]) * FAMILY_WEIGHT.get(spec.get("family"), DEFAULT_WEIGHT)


def _lpt(items: list[tuple[str, float]], bins: int) -> list[list[str]]:
    """Longest processing time first: each item (largest first) goes to the currently lightest bin."""
    loads = [0.0] * bins
    out: list[list[str]] = [[] for _ in range(bins)]
    for name, cost in sorted(items, key=lambda item: (-item[1], item[0])):
        i = min(range(bins), key=lambda b: (loads[b], b))
        loads[i] += cost
        out[i].append(name)
    return [sorted(b) for b in out if b]


def pack_runs(runs: dict[str, dict], n_packs: int, group_of=None) -> list[list[str]]:
    """Split run ids into at most about `n_packs` packs (0: one pack per run), never mixing groups.

    `group_of(spec)` names what a run waits on (default: its checkpoint); each group gets a share of the packs
    proportional to its cost (at least one). The result is deterministic: it depends only on the specs.
    """
    if n_packs < 0:
        raise ValueError(f"packs: need a number >= 0 (0: one job per run), got {n_packs}")
    if n_packs == 0:
        return [[run_id] for run_id in sorted(runs)]
    group_of = group_of or (lambda spec: str(spec.get("checkpoint")))
    groups: dict[str, list[tuple[str, float]]] = {}
    for run_id, spec in runs.items():
        groups.setdefault(group_of(spec), []).append((run_id, run_cost(spec)))
    total = sum(cost for items in groups.values() for _, cost in items) or 1.0
    packs: list[list[str]] = []
    for key in sorted(groups):
        items = groups[key]
        share = sum(cost for _, cost in items) / total
        bins = max(1, min(len(items), math.ceil(n_packs * share)))
        packs.extend(_lpt(items, bins))
    return packs


__all__ = ["pack_runs", "run_cost", "FAMILY_WEIGHT"]
