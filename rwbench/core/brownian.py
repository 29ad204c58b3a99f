"""Coupled step noise: each image owns one Brownian path W(u) on path time u = sigma^2, and a sampler's step noise is the
normalised increment of that path over its own noise ladder, n_k = (W(u_k) - W(u_{k+1})) / sqrt(u_k - u_{k+1}).

So every run of an image (any step count, any sampler on the sigma axis) sees the same path: the noise of a coarse step
is, up to rounding, the variance-weighted sum of the fine steps it spans, while within one run the n_k are exactly
N(0, I) and independent (disjoint increments of a Brownian motion).

The path is a virtual Brownian tree (Levy's midpoint construction) on s = log sigma: the root interval
[log SIGMA_LO, log SIGMA_HI] is halved `depth` times; the value at a new midpoint is drawn from the Brownian bridge between
its interval's ends, with a normal keyed by (image, node) from a counter-based generator (no state: a node's draw is the
same in every run, batch and shard). A query point inside a leaf is drawn from the bridge between the leaf's ends, the
points of one run inside one leaf one after another (exact joint law; runs whose points share a leaf are coupled up to
the leaf's width). Levels below SIGMA_LO bridge from W(0) = 0.

Keys: image i of a run uses rwbench.core.rng.stream_seed(seed, "brownian", task, i) (BrownianPaths.for_images), so the
draws never depend on batch size, shard size or threads.
"""

from __future__ import annotations

import math
from typing import Sequence

import torch

F64 = torch.float64
F32 = torch.float32      # path values are float32: rounding 1e-7 of |W|, ~1e-6 of a step's increment
SIGMA_LO = 1e-4          # the tree spans sigma in [SIGMA_LO, SIGMA_HI]; below it one bridge from W(0) = 0
SIGMA_HI = 1e4
DEPTH = 12               # leaves of width ln(1e8) / 2^12 = 0.0045 in log sigma (finer than a K = 1000 ladder's steps)
START_LEVEL = 9          # start_normals' cells: ln(1e8) / 2^9 = 0.036 in log sigma
CHUNK_BYTES = 48 << 20   # bound on the tree values held while one chunk of a ladder is evaluated

_M32 = 0xFFFFFFFF
_MUL1 = torch.tensor(0x7FEB352D, dtype=torch.int32)
_MUL2 = torch.tensor(0x846CA68B - (1 << 32), dtype=torch.int32)
_TREE_SALT = 0x27D4EB2F  # tree node (m, j) draws id 2^m + j (roots 0, 1) ...
_LEAF_SALT = 0x61C88647  # ... in-leaf bridge draws id (leaf + 1) * _MAX_RANK + rank, under another salt
_MAX_RANK = 1 << 15


# ---------------------------------------------------------------- counter-based normals


def _hash32(x: torch.Tensor) -> torch.Tensor:
    """A 32-bit integer mixer (xor-shift-multiply, wrapping int32 arithmetic): a bijection with full avalanche."""
    x = x ^ ((x >> 16) & 0xFFFF)
    x = x * _MUL1
    x = x ^ ((x >> 15) & 0x1FFFF)
    x = x * _MUL2
    return x ^ ((x >> 16) & 0xFFFF)


def _int32(values) -> torch.Tensor:
    """Python integers taken mod 2^32 as (wrapped) int32."""
    v = torch.as_tensor([int(a) & _M32 for a in values], dtype=torch.int64)
    return torch.where(v >= 1 << 31, v - (1 << 32), v).to(torch.int32)


def image_keys(seeds: Sequence[int]) -> torch.Tensor:
    """Two 32-bit key words per image [B, 2] (int32) from 63-bit seeds (rwbench.core.rng.image_seed)."""
    seeds = [int(s) for s in seeds]
    lo = _hash32(_int32([s & _M32 for s in seeds]))
    hi = _hash32(_int32([(s >> 32) & _M32 for s in seeds]) ^ _int32([0x9E3779B9] * len(seeds)))
    return torch.stack([_hash32(lo ^ hi), _hash32(hi + _int32([0x85EBCA6B] * len(seeds)))], 1)


def counter_normals(keys: torch.Tensor, ids: Sequence[int], d: int, salt: int = _TREE_SALT) -> torch.Tensor:
    """N(0, 1) draws [len(ids), B, d] (float32): entry (n, b, e) a function of (keys[b], ids[n], salt, e) only.

    A 32-bit word per (id, image) from _hash32 rounds over (salt, id) and the image's key words, one more round per
    element, then Box-Muller (|z| <= 6.66; the tail beyond has probability 3e-11). Like any 32-bit generator, about
    one pair of equal uniforms per 10^5 draws of one image."""
    half = (d + 1) // 2
    node = _hash32(_int32(ids) ^ _int32([salt] * len(ids)))                                  # [N]
    word = _hash32(_hash32(node[:, None] ^ keys[None, :, 0]) + keys[None, :, 1])             # [N, B]
    e = torch.arange(2 * half, dtype=torch.int32) * torch.tensor(0x9E3779B1 - (1 << 32), dtype=torch.int32)
    x = _hash32(word[..., None] + e)                                                         # [N, B, 2 half]
    u = (x.to(torch.float32) + 2.0**31) * 2.0**-32                                           # [0, 1]
    r = torch.sqrt(-2.0 * torch.log(u[..., :half].clamp_min(2.0**-33)))
    angle = (2.0 * math.pi) * u[..., half:]
    out = torch.empty(*x.shape[:2], 2 * half, dtype=torch.float32)
    torch.mul(r, torch.cos(angle), out=out[..., :half])
    torch.mul(r, torch.sin(angle), out=out[..., half:])
    return out[..., :d]


# ---------------------------------------------------------------- the tree


def path_times(levels) -> torch.Tensor:
    """Path times u_k = sigma_k^2 of a non-increasing ladder (the last entry may be 0), made strictly decreasing: a level
    repeated m times (an annealed Langevin ladder) splits the interval down to the next distinct level into m equal
    parts in u, so each of its steps owns a disjoint piece of the path."""
    sig = torch.as_tensor(levels, dtype=F64).reshape(-1)
    if sig.numel() < 2:
        raise ValueError("levels: need at least two noise levels (one step)")
    if not torch.all(torch.isfinite(sig)) or torch.any(sig < 0):
        raise ValueError("levels: noise levels must be finite and >= 0")
    if torch.any(sig[1:] > sig[:-1]):
        raise ValueError("levels: the ladder must not increase")
    u = (sig * sig).tolist()
    out = list(u)
    k = 0
    while k < len(u):
        m = 1
        while k + m < len(u) and u[k + m] == u[k]:
            m += 1
        if m > 1:
            if k + m == len(u):
                raise ValueError(f"levels: the last level {math.sqrt(u[k]):g} repeats; end the ladder below it "
                                 "(e.g. with 0) so that every step has an interval of the path")
            nxt = u[k + m]
            out[k:k + m] = [u[k] - i * (u[k] - nxt) / m for i in range(m)]
        k += m
    return torch.tensor(out, dtype=F64)


class BrownianPaths:
    """One Brownian path per image, keyed by a 63-bit seed per image; `values(u)` evaluates all paths at path times."""

    def __init__(self, seeds: Sequence[int], *, depth: int = DEPTH, sigma_lo: float = SIGMA_LO,
                 sigma_hi: float = SIGMA_HI):
        if len(seeds) == 0:
            raise ValueError("seeds: need one seed per image, got none")
        if not 1 <= int(depth) <= 16:
            raise ValueError(f"depth: need 1 <= depth <= 16, got {depth}")
        if not 0 < sigma_lo < sigma_hi:
            raise ValueError(f"sigma_lo, sigma_hi: need 0 < sigma_lo < sigma_hi, got {sigma_lo}, {sigma_hi}")
        self.seeds = [int(s) for s in seeds]
        self.keys = image_keys(self.seeds)
        self.depth = int(depth)
        self.s_lo, self.s_hi = math.log(sigma_lo), math.log(sigma_hi)
        self.u_lo, self.u_hi = sigma_lo**2, sigma_hi**2

    @classmethod
    def for_images(cls, seed: int, task: str, indices: Sequence[int], **kw) -> "BrownianPaths":
        """The paths of images `indices` of a run: seeds from the named stream (seed, brownian, task, i)."""
        from rwbench.core.rng import stream_seed

        return cls([stream_seed(int(seed), "brownian", task, int(i)) for i in indices], **kw)

    def __len__(self) -> int:
        return len(self.seeds)

    def start_normals(self, sigma: float, d: int, level: int = START_LEVEL) -> torch.Tensor:
        """z ~ N(0, I) [B, d] (float64) from the path above sigma^2 only: the normalised sum of the increments over the
        tree's level-`level` cells [a_i, b_i] above sigma^2, weighted c_i = ln(b_i / a_i) / (b_i - a_i) (the cell mean
        of 1/v), i.e. z ~ sigma int_{sigma^2} dW(v) / v, the state a reverse VE diffusion from far above reaches at
        sigma (over sigma) while the noise is far larger than the data. Independent of every step below sigma^2, so it
        is a valid start for a sampler whose step noise comes from the same path, and samplers starting at nearby
        levels (or passing through sigma from above) start coupled."""
        sigma = float(sigma)
        if not 0 <= sigma < math.sqrt(self.u_hi):
            raise ValueError(f"sigma: the start level must lie in [0, {math.sqrt(self.u_hi):g}), got {sigma}")
        if not 1 <= int(level) <= self.depth:
            raise ValueError(f"level: need 1 <= level <= depth ({self.depth}), got {level}")
        n = 1 << level
        s0 = math.log(sigma) if sigma > 0 else -math.inf
        j0 = max(0, math.ceil((s0 - self.s_lo) / (self.s_hi - self.s_lo) * n - 1e-9))
        if j0 >= n:
            raise ValueError(f"sigma: {sigma} leaves no cell of the tree above it; lower it")
        points = [self._born(level, j) for j in range(j0, n + 1)]
        V, row = self._grid_values(set(points), d)
        u = torch.tensor([self._u(level, j) for j in range(j0, n + 1)], dtype=F64)
        weights = torch.log(u[1:] / u[:-1]) / (u[1:] - u[:-1])
        W = V[[row[p] for p in points]].to(F64)                                    # [cells + 1, B, d]
        S = torch.einsum("c,cbd->bd", weights, W[1:] - W[:-1])
        return S / float((weights**2 * (u[1:] - u[:-1])).sum().sqrt())

    def over(self, levels, shape: Sequence[int] | None = None) -> "LadderNoise":
        """The step-noise source of a sampler whose step k goes from levels[k] to levels[k + 1]."""
        return LadderNoise(self, levels, shape)

    # -- grid points (m, j): s = s_lo + j (s_hi - s_lo) / 2^m; a point is born at the smallest m with j odd (or m = 0)

    def _u(self, m: int, j: int) -> float:
        return math.exp(2.0 * (self.s_lo + j * (self.s_hi - self.s_lo) / (1 << m)))

    @staticmethod
    def _born(m: int, j: int) -> tuple[int, int]:
        while m > 0 and j % 2 == 0:
            m, j = m - 1, j // 2
        return m, j

    def _grid_values(self, points: set, d: int) -> tuple[torch.Tensor, dict]:
        """W at the grid points `points` (born form) and all their ancestors: (V [n, B, d] float32, {(m, j): row})."""
        need, todo = set(), list(points)
        while todo:
            p = todo.pop()
            if p in need:
                continue
            need.add(p)
            m, j = p
            if m > 0:
                todo += [self._born(m - 1, (j - 1) // 2), self._born(m - 1, (j + 1) // 2)]
        order = sorted(need | {(0, 0), (0, 1)})
        row = {p: i for i, p in enumerate(order)}
        V = torch.empty(len(order), len(self), d, dtype=F32)
        z = counter_normals(self.keys, [0, 1], d)                # the root's ends: W(u_lo) ~ N(0, u_lo), an increment
        V[0] = math.sqrt(self.u_lo) * z[0]
        V[1] = V[0] + math.sqrt(self.u_hi - self.u_lo) * z[1]
        first = 2
        while first < len(order):
            m = order[first][0]
            last = first
            while last < len(order) and order[last][0] == m:
                last += 1
            js = [order[i][1] for i in range(first, last)]
            ia, ib, w, sd = [], [], [], []
            for j in js:
                a, b = self._born(m - 1, (j - 1) // 2), self._born(m - 1, (j + 1) // 2)
                ua, ub, um = self._u(*a), self._u(*b), self._u(m, j)
                ia.append(row[a])
                ib.append(row[b])
                w.append((um - ua) / (ub - ua))
                sd.append(math.sqrt((um - ua) * (ub - um) / (ub - ua)))
            z = counter_normals(self.keys, [(1 << m) + j for j in js], d)
            V[first:last] = torch.lerp(V[ia], V[ib], torch.tensor(w, dtype=F32)[:, None, None]).addcmul_(
                torch.tensor(sd, dtype=F32)[:, None, None], z)
            first = last
        return V, row

    def values(self, u, d: int) -> torch.Tensor:
        """W at path times u (distinct, 0 <= u <= SIGMA_HI^2), d coordinates per image: [len(u), B, d] (float32).

        The points of one call inside one leaf are drawn one after another in increasing u, so a call's values have
        the exact joint law; two calls agree on tree points, and on a query point when its leaf holds the same
        points below it."""
        u = torch.as_tensor(u, dtype=F64).reshape(-1).tolist()
        if len(set(u)) != len(u):
            raise ValueError("u: path times must be distinct")
        if any(not (0.0 <= v <= self.u_hi * (1 + 1e-12)) or not math.isfinite(v) for v in u):
            raise ValueError(f"u: path times must lie in [0, {self.u_hi:g}] (sigma <= {math.sqrt(self.u_hi):g}); "
                             f"got {min(u):g}..{max(u):g}")
        L, n_leaves, width = self.depth, 1 << self.depth, (self.s_hi - self.s_lo)
        leaf_of: list = []
        for v in u:
            if v == 0.0:
                leaf_of.append(None)
            elif v < self.u_lo:
                leaf_of.append(-1)                      # the bridge [0, u_lo] below the tree
            else:
                s = 0.5 * math.log(v)
                leaf_of.append(min(n_leaves - 1, max(0, int((s - self.s_lo) / width * n_leaves))))
        ends = set()
        for leaf in set(x for x in leaf_of if x is not None):
            ends |= {(0, 0)} if leaf == -1 else {self._born(L, leaf), self._born(L, leaf + 1)}
        V, row = self._grid_values(ends, d)
        B = len(self)
        V = torch.cat([V, torch.zeros(1, B, d, dtype=F32)])       # a last row W(0) = 0 (left end of leaf -1)
        zero = V.shape[0] - 1
        out = torch.zeros(len(u), B, d, dtype=F32)
        # the points of a leaf in increasing u, each bridged between the previous one (or the leaf's left end) and the
        # leaf's right end: rank r of every leaf at once
        by_leaf: dict = {}
        for q, leaf in enumerate(leaf_of):
            if leaf is not None:
                by_leaf.setdefault(leaf, []).append(q)
        for qs in by_leaf.values():
            qs.sort(key=lambda q: u[q])
        ranks = max((len(v) for v in by_leaf.values()), default=0)
        if ranks > _MAX_RANK:
            raise ValueError(f"u: {ranks} path times in one leaf of the tree; at most {_MAX_RANK}")
        leaves = sorted(by_leaf)
        lo = {leaf: 0.0 if leaf == -1 else self._u(L, leaf) for leaf in leaves}
        hi = {leaf: self.u_lo if leaf == -1 else self._u(L, leaf + 1) for leaf in leaves}
        right = {leaf: row[(0, 0)] if leaf == -1 else row[self._born(L, leaf + 1)] for leaf in leaves}
        for r in range(ranks):
            now = [leaf for leaf in leaves if len(by_leaf[leaf]) > r]
            qs = [by_leaf[leaf][r] for leaf in now]
            w, sd = [], []
            for leaf, q in zip(now, qs):
                ua = u[by_leaf[leaf][r - 1]] if r else lo[leaf]
                ub = hi[leaf]
                um = min(max(u[q], ua), ub)
                w.append((um - ua) / (ub - ua) if ub > ua else 0.0)
                sd.append(math.sqrt(max(0.0, (um - ua) * (ub - um) / (ub - ua))) if ub > ua else 0.0)
            if r:
                left = out[[by_leaf[leaf][r - 1] for leaf in now]]
            else:
                left = V[[zero if leaf == -1 else row[self._born(L, leaf)] for leaf in now]]
            z = counter_normals(self.keys, [(leaf + 1) * _MAX_RANK + r for leaf in now], d, _LEAF_SALT)
            out[qs] = torch.lerp(left, V[[right[leaf] for leaf in now]], torch.tensor(w, dtype=F32)[:, None, None]) \
                .addcmul_(torch.tensor(sd, dtype=F32)[:, None, None], z)
        return out


class LadderNoise:
    """Step noise of one run from BrownianPaths: draw(k, x) = (W(u_k) - W(u_{k+1})) / sqrt(u_k - u_{k+1}) [B, *shape],
    u = path_times(levels). Evaluated in chunks of consecutive steps (whole leaves per chunk, so a chunk boundary never
    changes a value); rwbench.core.rng.step_noise calls draw."""

    def __init__(self, paths: BrownianPaths, levels, shape: Sequence[int] | None = None):
        self.paths = paths
        self.u = path_times(levels)
        if float(self.u[0]) > paths.u_hi:
            raise ValueError(f"levels: the top level {math.sqrt(float(self.u[0])):g} exceeds the Brownian tree's "
                             f"range (sigma <= {math.sqrt(paths.u_hi):g})")
        self.steps = self.u.numel() - 1
        self.shape = tuple(shape) if shape is not None else None
        self._chunk: tuple[int, int] | None = None
        self._noise: torch.Tensor | None = None

    def __len__(self) -> int:
        return len(self.paths)

    def _leaf(self, k: int):
        v = float(self.u[k])
        if v == 0.0:
            return None
        if v < self.paths.u_lo:
            return -1
        n = 1 << self.paths.depth
        return min(n - 1, int((0.5 * math.log(v) - self.paths.s_lo) / (self.paths.s_hi - self.paths.s_lo) * n))

    def _load(self, k: int, d: int) -> None:
        per_point = len(self.paths) * d * 4 * (self.paths.depth + 3)
        span = max(1, CHUNK_BYTES // per_point)
        end = min(self.steps, k + span)
        # extend to the end of the leaf of point `end` so that no leaf is split between two chunks
        while end < self.steps and self._leaf(end + 1) is not None and self._leaf(end + 1) == self._leaf(end):
            end += 1
        start = k
        while start > 0 and self._leaf(start - 1) is not None and self._leaf(start - 1) == self._leaf(start):
            start -= 1
        W = self.paths.values(self.u[start:end + 1], d)
        du = (self.u[start:end] - self.u[start + 1:end + 1]).sqrt()
        self._noise = (W[:-1] - W[1:]) / du.to(F32)[:, None, None]
        self._chunk = (start, end)

    def draw(self, k: int, x: torch.Tensor) -> torch.Tensor:
        """n_k ~ N(0, I) shaped like x [B, ...] (its dtype and device)."""
        if not 0 <= k < self.steps:
            raise ValueError(f"k: this ladder has steps 0..{self.steps - 1}, got {k}")
        if x.shape[0] != len(self):
            raise ValueError(f"x: need one image per Brownian path ({len(self)}), got {x.shape[0]}")
        d = math.prod(x.shape[1:])
        if self.shape is not None and math.prod(self.shape) != d:
            raise ValueError(f"x: the noise source was built for images of shape {self.shape}, got {tuple(x.shape[1:])}")
        if self._chunk is None or not self._chunk[0] <= k < self._chunk[1] or self._noise.shape[-1] != d:
            self._load(k, d)
        return self._noise[k - self._chunk[0]].reshape(x.shape).to(device=x.device, dtype=x.dtype)


__all__ = ["BrownianPaths", "LadderNoise", "counter_normals", "image_keys", "path_times", "DEPTH", "START_LEVEL", "SIGMA_LO",
           "SIGMA_HI"]
