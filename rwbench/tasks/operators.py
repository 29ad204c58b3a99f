"""Linear forward operators y = A x on image batches [B, C, H, W] with exact adjoints, ||A^T A|| and seeded measurements."""

from __future__ import annotations

import math
from typing import Sequence

import torch

from rwbench.core.rng import randn_per_image
from rwbench.core.conditional import check_eta

F64 = torch.float64


def _image_shape(shape) -> tuple[int, int, int]:
    shape = tuple(int(s) for s in shape)
    if len(shape) != 3 or min(shape) < 1:
        raise ValueError(f"shape: need an image shape (C, H, W) with positive sizes, got {shape}")
    return shape


class LinearOperator:
    """Base class: A(x), AT(y) (exact adjoint), norm_sq(shape) = ||A^T A|| by power iteration, measure(x, eta, generators)."""

    #: number of images the operator is built for (None: any batch, the same A for every image)
    n_images: int | None = None

    def __init__(self) -> None:
        self._norm_cache: dict[tuple[int, int, int], float] = {}

    # -- to implement
    def A(self, x: torch.Tensor) -> torch.Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def AT(self, y: torch.Tensor) -> torch.Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def output_shape(self, shape) -> tuple[int, ...]:
        """Shape (C', H', W') of A x for one image of shape (C, H, W)."""
        return _image_shape(shape)

    def config(self) -> dict:
        """Constructor arguments, for run specs."""
        return {"name": type(self).__name__}

    # -- shared machinery
    def check_input(self, x: torch.Tensor, name: str = "x") -> None:
        """Raise ValueError unless x is a batch [B, C, H, W] this operator accepts."""
        if x.ndim != 4:
            raise ValueError(f"{name}: need an image batch [B, C, H, W], got shape {tuple(x.shape)}")
        if self.n_images is not None and x.shape[0] != self.n_images:
            raise ValueError(f"{name}: operator {type(self).__name__} was built for {self.n_images} images (one seed each), got a batch of {x.shape[0]}")
        self.output_shape(x.shape[1:])

    def norm_sq(self, shape) -> float:
        """||A^T A|| (largest over the operator's images) for images of shape (C, H, W), by power iteration in float64, cached."""
        shape = _image_shape(shape)
        if shape not in self._norm_cache:
            self._norm_cache[shape] = self._power_iteration(shape)
        return self._norm_cache[shape]

    def _power_iteration(self, shape, max_iter: int = 10000, rtol: float = 1e-13) -> float:
        """Power iteration on A^T A per image; stops when the Rayleigh quotient rho = v^T A^T A v (monotone, a lower
        bound) changes by <= rtol rho in one step, i.e. to ~sqrt(rtol) relative accuracy even for clustered spectra
        (bicubic, blur); returns the largest rho over the operator's images."""
        B = self.n_images or 1
        g = torch.Generator().manual_seed(0)
        v = torch.randn((B, *shape), generator=g, dtype=F64)
        v = v / v.flatten(1).norm(dim=1).view(B, 1, 1, 1)
        rho = torch.zeros(B, dtype=F64)
        for _ in range(max_iter):
            w = self.AT(self.A(v))
            new = (w * v).flatten(1).sum(1)
            nrm = w.flatten(1).norm(dim=1)
            if torch.all(nrm == 0):
                return 0.0
            converged = torch.all((new - rho).abs() <= rtol * new.abs())
            rho = new
            if converged:
                break
            v = w / nrm.clamp(min=1e-300).view(B, 1, 1, 1)
        return float(rho.max())

    def measure(self, x: torch.Tensor, eta: float, generators: Sequence[torch.Generator]) -> torch.Tensor:
        """y = A x + eta n, n ~ N(0, I) drawn per image from generators[i] (float64 draws cast to x's dtype)."""
        eta = check_eta(eta)
        self.check_input(x)
        if len(generators) != x.shape[0]:
            raise ValueError(f"generators: need one generator per image ({x.shape[0]}), got {len(generators)}")
        clean = self.A(x)
        noise = randn_per_image(generators, clean.shape[1:], dtype=F64).to(device=x.device, dtype=x.dtype)
        return clean + eta * noise

    # -- singular value decomposition A = U diag(s) V^T in the image layout (DDRM, Pi-GDM, DiffPIR's prox)
    #
    # Spectral coordinates live in the layout of x ([B, C, H, W], d values per image): xbar = V^T x. The singular
    # values s(shape) broadcast against xbar (zero on the null space of A). Ut maps a measurement y into the same
    # layout (zero where s = 0) and U maps back, so that A x = U(s * Vt(x)) and A^T y = V(s * Ut(y)).
    has_svd = False

    def singular_values(self, shape) -> torch.Tensor:
        """Singular values aligned with Vt(x): a float64 tensor broadcastable to [B, C, H, W] (0 on the null space)."""
        raise NotImplementedError(f"{type(self).__name__} has no SVD: only diagonal (inpainting) and separable (SR, blur) "
                                  "operators provide one; a general operator needs a dense d x d SVD")

    def Vt(self, x: torch.Tensor) -> torch.Tensor:  # pragma: no cover - abstract
        """Spectral coefficients V^T x in the image layout."""
        raise NotImplementedError(f"{type(self).__name__} has no SVD")

    def V(self, c: torch.Tensor) -> torch.Tensor:  # pragma: no cover - abstract
        """Image V c from spectral coefficients (inverse of Vt)."""
        raise NotImplementedError(f"{type(self).__name__} has no SVD")

    def Ut(self, y: torch.Tensor) -> torch.Tensor:  # pragma: no cover - abstract
        """U^T y placed in the image layout (zero where s = 0)."""
        raise NotImplementedError(f"{type(self).__name__} has no SVD")

    def U(self, c: torch.Tensor) -> torch.Tensor:  # pragma: no cover - abstract
        """Measurement U c from coefficients in the image layout (entries where s = 0 are ignored)."""
        raise NotImplementedError(f"{type(self).__name__} has no SVD")

    def dense(self, shape, index: int = 0) -> torch.Tensor:
        """Matrix [m, d] (float64) of A acting on image `index` of shape (C, H, W), columns A e_j (small d only)."""
        shape = _image_shape(shape)
        d = math.prod(shape)
        B = self.n_images or 1
        if not 0 <= index < B:
            raise ValueError(f"index: need 0 <= index < {B}, got {index}")
        cols = []
        batch = torch.zeros((B, *shape), dtype=F64)
        flat = batch.view(B, d)
        for j in range(d):
            flat[index, j] = 1.0
            cols.append(self.A(batch)[index].reshape(-1))
            flat[index, j] = 0.0
        return torch.stack(cols, 1)


# ---------------------------------------------------------------- inpainting (A = diag(m), A^T = A)


class _MaskOperator(LinearOperator):
    """A x = m * x with a per-image spatial mask m [B, 1, H, W] shared by all channels; A^T = A."""

    def __init__(self) -> None:
        super().__init__()
        self._mask_cache: dict[tuple[int, int], torch.Tensor] = {}

    def _build_masks(self, H: int, W: int) -> torch.Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def masks(self, H: int, W: int) -> torch.Tensor:
        """Float64 masks [n_images, 1, H, W] (1 = observed), built lazily per image size and cached."""
        key = (int(H), int(W))
        if key not in self._mask_cache:
            self._mask_cache[key] = self._build_masks(*key)
        return self._mask_cache[key]

    def _apply(self, x: torch.Tensor, name: str) -> torch.Tensor:
        self.check_input(x, name)
        m = self.masks(x.shape[-2], x.shape[-1]).to(device=x.device, dtype=x.dtype)
        return x * m

    def A(self, x: torch.Tensor) -> torch.Tensor:
        """y = m * x (missing pixels set to 0)."""
        return self._apply(x, "x")

    def AT(self, y: torch.Tensor) -> torch.Tensor:
        """A^T y = m * y (A is diagonal)."""
        return self._apply(y, "y")

    # SVD of a diagonal 0/1 operator: U = V = I, s = m (exact, any size)
    has_svd = True

    def singular_values(self, shape) -> torch.Tensor:
        """s = m: [n_images or 1, 1, H, W] (1 observed, 0 missing)."""
        C, H, W = self.output_shape(shape)
        return self.masks(H, W)

    def Vt(self, x: torch.Tensor) -> torch.Tensor:
        """V = I."""
        self.check_input(x)
        return x

    def V(self, c: torch.Tensor) -> torch.Tensor:
        """V = I."""
        self.check_input(c, "c")
        return c

    def Ut(self, y: torch.Tensor) -> torch.Tensor:
        """U = I restricted to the observed pixels: m * y."""
        return self._apply(y, "y")

    def U(self, c: torch.Tensor) -> torch.Tensor:
        """m * c."""
        return self._apply(c, "c")


class RandomInpainting(_MaskOperator):
    """Random inpainting: int(p H W) pixel locations missing, drawn uniformly without replacement from seeds[i] (paper Sec. 7)."""

    def __init__(self, p: float = 0.92, seeds: Sequence[int] = (0,)):
        super().__init__()
        p = float(p)
        if not 0 < p < 1:
            raise ValueError(f"p: need a missing fraction strictly between 0 and 1, got {p}")
        seeds = [int(s) for s in seeds]
        if not seeds:
            raise ValueError("seeds: need one mask seed per image, got none")
        self.p = p
        self.seeds = seeds
        self.n_images = len(seeds)

    def _build_masks(self, H: int, W: int) -> torch.Tensor:
        n_missing = int(self.p * H * W)
        masks = torch.ones((len(self.seeds), 1, H * W), dtype=F64)
        for i, seed in enumerate(self.seeds):
            g = torch.Generator().manual_seed(seed)
            missing = torch.randperm(H * W, generator=g)[:n_missing]
            masks[i, 0, missing] = 0.0
        return masks.view(len(self.seeds), 1, H, W)

    def config(self) -> dict:
        return {"name": "random_inpainting", "p": self.p, "seeds": list(self.seeds)}


class BoxInpainting(_MaskOperator):
    """Box inpainting: a box of size (bh, bw) missing, centred (seeds=None) or at a uniform random position per image seed."""

    def __init__(self, box: int | Sequence[int] = 8, seeds: Sequence[int] | None = None):
        super().__init__()
        box = (int(box), int(box)) if isinstance(box, (int, float)) else tuple(int(b) for b in box)
        if len(box) != 2 or min(box) < 1:
            raise ValueError(f"box: need a box size (height, width) >= 1, got {box}")
        self.box = box
        self.seeds = None if seeds is None else [int(s) for s in seeds]
        if self.seeds is not None:
            if not self.seeds:
                raise ValueError("seeds: need one seed per image or None for a centred box, got an empty list")
            self.n_images = len(self.seeds)

    def output_shape(self, shape) -> tuple[int, ...]:
        shape = _image_shape(shape)
        if self.box[0] >= shape[1] or self.box[1] >= shape[2]:
            raise ValueError(f"box: {self.box} must be smaller than the image ({shape[1]}x{shape[2]})")
        return shape

    def _build_masks(self, H: int, W: int) -> torch.Tensor:
        self.output_shape((1, H, W))
        bh, bw = self.box
        n = self.n_images or 1
        masks = torch.ones((n, 1, H, W), dtype=F64)
        for i in range(n):
            if self.seeds is None:
                top, left = (H - bh) // 2, (W - bw) // 2
            else:
                g = torch.Generator().manual_seed(self.seeds[i])
                top = int(torch.randint(0, H - bh + 1, (1,), generator=g))
                left = int(torch.randint(0, W - bw + 1, (1,), generator=g))
            masks[i, 0, top:top + bh, left:left + bw] = 0.0
        return masks

    def _apply(self, x: torch.Tensor, name: str) -> torch.Tensor:
        self.check_input(x, name)
        m = self.masks(x.shape[-2], x.shape[-1]).to(device=x.device, dtype=x.dtype)
        return x * m  # m has batch 1 for a centred box and broadcasts

    def config(self) -> dict:
        return {"name": "box_inpainting", "box": list(self.box), "seeds": self.seeds}


# ---------------------------------------------------------------- separable operators: A x = M_h x M_w^T


class _SeparableOperator(LinearOperator):
    """A x = M_H x M_W^T per channel with 1-D matrices M_n [n_out, n]; A^T y = M_H^T y M_W."""

    def __init__(self) -> None:
        super().__init__()
        self._mat_cache: dict[int, torch.Tensor] = {}
        self._svd_cache: dict[int, tuple] = {}

    def _build_matrix(self, n: int) -> torch.Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def matrix(self, n: int) -> torch.Tensor:
        """The float64 1-D matrix for a signal of length n (cached)."""
        if n not in self._mat_cache:
            self._mat_cache[n] = self._build_matrix(int(n))
        return self._mat_cache[n]

    def norm_sq(self, shape) -> float:
        """||A^T A|| = ||M_H||^2 ||M_W||^2 (Kronecker structure), each 1-D norm by power iteration with repeated squaring."""
        C, H, W = _image_shape(shape)
        self.output_shape(shape)
        key = (C, H, W)
        if key not in self._norm_cache:
            self._norm_cache[key] = matrix_norm_sq(self.matrix(H)) * matrix_norm_sq(self.matrix(W))
        return self._norm_cache[key]

    def A(self, x: torch.Tensor) -> torch.Tensor:
        """y = M_H x M_W^T on every channel."""
        self.check_input(x, "x")
        mh = self.matrix(x.shape[-2]).to(device=x.device, dtype=x.dtype)
        mw = self.matrix(x.shape[-1]).to(device=x.device, dtype=x.dtype)
        return torch.einsum("ij,bcjk,lk->bcil", mh, x, mw)

    def AT(self, y: torch.Tensor) -> torch.Tensor:
        """x = M_H^T y M_W on every channel (the exact adjoint of A)."""
        raise NotImplementedError  # needs the input size; see subclasses

    # SVD from the per-axis SVDs M_n = U_n S_n V_n^T: A = (U_H (x) U_W)(S_H (x) S_W)(V_H (x) V_W)^T, exact at any size
    has_svd = True

    def axis_svd(self, n: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(U [n_out, n_out], s [n] zero-padded beyond n_out, V [n, n]) of the 1-D matrix M_n = U diag(s)[:n_out] V^T (cached)."""
        if n not in self._svd_cache:
            M = self.matrix(int(n))
            U, S, Vh = torch.linalg.svd(M, full_matrices=True)
            s = torch.zeros(M.shape[1], dtype=F64)
            s[:S.numel()] = S
            self._svd_cache[n] = (U, s, Vh.T.contiguous())
        return self._svd_cache[n]

    def singular_values(self, shape) -> torch.Tensor:
        """s[i, j] = s_H[i] s_W[j] as [1, 1, H, W] (zero for i >= H' or j >= W')."""
        C, H, W = _image_shape(shape)
        self.output_shape(shape)
        return (self.axis_svd(H)[1][:, None] * self.axis_svd(W)[1][None, :])[None, None]

    def _vs(self, H: int, W: int, like: torch.Tensor):
        return (self.axis_svd(H)[2].to(device=like.device, dtype=like.dtype),
                self.axis_svd(W)[2].to(device=like.device, dtype=like.dtype))

    def Vt(self, x: torch.Tensor) -> torch.Tensor:
        """V_H^T x V_W per channel."""
        self.check_input(x)
        vh, vw = self._vs(x.shape[-2], x.shape[-1], x)
        return torch.einsum("ji,bcjk,kl->bcil", vh, x, vw)

    def V(self, c: torch.Tensor) -> torch.Tensor:
        """V_H c V_W^T per channel."""
        self.check_input(c, "c")
        vh, vw = self._vs(c.shape[-2], c.shape[-1], c)
        return torch.einsum("ij,bcjk,lk->bcil", vh, c, vw)

    def _input_size(self, y: torch.Tensor) -> tuple[int, int]:  # pragma: no cover - abstract
        raise NotImplementedError

    def Ut(self, y: torch.Tensor) -> torch.Tensor:
        """U_H^T y U_W in the top-left [H', W'] block of an [H, W] array of zeros."""
        H, W = self._input_size(y)
        uh, uw = self.axis_svd(H)[0].to(y), self.axis_svd(W)[0].to(y)
        if y.ndim != 4 or y.shape[-2] != uh.shape[0] or y.shape[-1] != uw.shape[0]:
            raise ValueError(f"y: need measurements [B, C, {uh.shape[0]}, {uw.shape[0]}], got {tuple(y.shape)}")
        out = y.new_zeros((*y.shape[:2], H, W))
        out[..., :uh.shape[0], :uw.shape[0]] = torch.einsum("ji,bcjk,kl->bcil", uh, y, uw)
        return out

    def U(self, c: torch.Tensor) -> torch.Tensor:
        """U_H c[:H', :W'] U_W^T (the measurement with coefficients c)."""
        self.check_input(c, "c")
        h, w = self.output_shape(c.shape[1:])[1:]
        uh, uw = self.axis_svd(c.shape[-2])[0].to(c), self.axis_svd(c.shape[-1])[0].to(c)
        return torch.einsum("ij,bcjk,lk->bcil", uh, c[..., :h, :w], uw)

    def _adjoint(self, y: torch.Tensor, H: int, W: int) -> torch.Tensor:
        mh = self.matrix(H).to(device=y.device, dtype=y.dtype)
        mw = self.matrix(W).to(device=y.device, dtype=y.dtype)
        if y.ndim != 4 or y.shape[-2] != mh.shape[0] or y.shape[-1] != mw.shape[0]:
            raise ValueError(f"y: need measurements [B, C, {mh.shape[0]}, {mw.shape[0]}] for {H}x{W} images, got {tuple(y.shape)}")
        return torch.einsum("ij,bcil,lk->bcjk", mh, y, mw)


def matrix_norm_sq(M: torch.Tensor, max_squarings: int = 64) -> float:
    """||M||_2^2 by power iteration on M^T M accelerated by repeated squaring (k squarings = 2^k power steps)."""
    B = M.T.to(F64) @ M.to(F64)
    rho = 0.0
    for _ in range(max_squarings):
        col = B.norm(dim=0).argmax()
        v = B[:, col] / B[:, col].norm().clamp(min=1e-300)
        new = float((M.to(F64) @ v).norm() ** 2)                # Rayleigh quotient of the current power iterate
        if new == 0.0 or abs(new - rho) <= 1e-15 * new:
            return new
        rho = new
        B = B @ B
        B = B / B.abs().max()
    return rho


def keys_cubic(t: torch.Tensor, a: float = -0.5) -> torch.Tensor:
    """Keys (1981) cubic convolution kernel with a = -0.5 (MATLAB imresize 'bicubic')."""
    t = t.abs()
    t2, t3 = t * t, t * t * t
    inner = (a + 2) * t3 - (a + 3) * t2 + 1
    outer = a * t3 - 5 * a * t2 + 8 * a * t - 4 * a
    return torch.where(t <= 1, inner, torch.where(t < 2, outer, torch.zeros_like(t)))


def imresize_weights(n_in: int, factor: int) -> torch.Tensor:
    """MATLAB imresize(x, 1/factor, 'bicubic') weights as a dense [n_in/factor, n_in] matrix (antialiased, symmetric padding).

    Output u (1-based) sits at x_u = factor u + (1 - factor)/2; taps j = floor(x_u - 2 factor) + 0..4 factor + 1 get
    cubic((x_u - j)/factor)/factor, normalised to sum 1; taps outside 1..n_in are mirrored (MATLAB [1:n, n:-1:1]).
    """
    factor = int(factor)
    if factor < 1:
        raise ValueError(f"factor: need an integer >= 1, got {factor}")
    if n_in % factor:
        raise ValueError(f"factor: {factor} does not divide the image size {n_in}")
    n_out = n_in // factor
    width = 4.0 * factor                                    # kernel support stretched by the factor
    u = torch.arange(1, n_out + 1, dtype=F64)
    centre = factor * u + 0.5 * (1 - factor)
    left = torch.floor(centre - width / 2)
    taps = int(math.ceil(width)) + 2
    j = left[:, None] + torch.arange(taps, dtype=F64)[None, :]    # 1-based source indices
    w = keys_cubic((centre[:, None] - j) / factor) / factor
    w = w / w.sum(1, keepdim=True)
    period = 2 * n_in
    idx = torch.remainder(j.long() - 1, period)                   # 0-based into [0..n-1, n-1..0]
    idx = torch.where(idx < n_in, idx, period - 1 - idx)
    mat = torch.zeros((n_out, n_in), dtype=F64)
    mat.scatter_add_(1, idx, w)
    return mat


class BicubicSR(_SeparableOperator):
    """Super-resolution operator: MATLAB-style antialiased bicubic downsampling by an integer factor (Keys a=-0.5, separable)."""

    def __init__(self, factor: int = 4):
        super().__init__()
        if int(factor) != factor or factor < 1:
            raise ValueError(f"factor: need an integer >= 1, got {factor}")
        self.factor = int(factor)

    def output_shape(self, shape) -> tuple[int, ...]:
        C, H, W = _image_shape(shape)
        if H % self.factor or W % self.factor:
            raise ValueError(f"factor: {self.factor} does not divide the image size {H}x{W}")
        return (C, H // self.factor, W // self.factor)

    def _build_matrix(self, n: int) -> torch.Tensor:
        return imresize_weights(n, self.factor)

    def AT(self, y: torch.Tensor) -> torch.Tensor:
        """Exact adjoint M_H^T y M_W (not nearest upsampling)."""
        return self._adjoint(y, y.shape[-2] * self.factor, y.shape[-1] * self.factor)

    def _input_size(self, y: torch.Tensor) -> tuple[int, int]:
        return y.shape[-2] * self.factor, y.shape[-1] * self.factor

    def config(self) -> dict:
        return {"name": "bicubic_sr", "factor": self.factor}


def gaussian_kernel_1d(size: int, std: float) -> torch.Tensor:
    """Normalised 1-D Gaussian exp(-k^2 / (2 std^2)), k = -(size-1)/2..(size-1)/2 (the 2-D kernel is its outer product)."""
    k = torch.arange(size, dtype=F64) - (size - 1) / 2
    g = torch.exp(-(k * k) / (2 * std * std))
    return g / g.sum()


def _reflect_index(i: torch.Tensor, n: int) -> torch.Tensor:
    """Whole-sample symmetric ('reflect', edge not repeated) index into 0..n-1 for any integer i."""
    if n == 1:
        return torch.zeros_like(i)
    period = 2 * (n - 1)
    r = torch.remainder(i, period)
    return torch.where(r < n, r, period - r)


class GaussianBlur(_SeparableOperator):
    """Gaussian deblurring operator: 'same' convolution with a size x size Gaussian of width std (DPS: 61, 3.0), separable."""

    BOUNDARIES = ("reflect", "zero", "circular")

    def __init__(self, size: int = 61, std: float = 3.0, boundary: str = "reflect"):
        super().__init__()
        if int(size) != size or size < 1 or size % 2 == 0:
            raise ValueError(f"size: need an odd kernel size >= 1, got {size}")
        if not std > 0:
            raise ValueError(f"std: need a positive kernel width, got {std}")
        if boundary not in self.BOUNDARIES:
            raise ValueError(f"boundary: choose one of {', '.join(self.BOUNDARIES)}, got {boundary!r}")
        self.size, self.std, self.boundary = int(size), float(std), boundary

    def _build_matrix(self, n: int) -> torch.Tensor:
        g = gaussian_kernel_1d(self.size, self.std)
        r = (self.size - 1) // 2
        rows = torch.arange(n)[:, None].expand(n, self.size)
        src = rows + torch.arange(self.size)[None, :] - r          # y_i = sum_k g_k x_{i + k - r}
        w = g[None, :].expand(n, self.size).clone()
        if self.boundary == "reflect":
            src = _reflect_index(src, n)
        elif self.boundary == "circular":
            src = torch.remainder(src, n)
        else:
            w = torch.where((src >= 0) & (src < n), w, torch.zeros_like(w))
            src = src.clamp(0, n - 1)
        mat = torch.zeros((n, n), dtype=F64)
        mat.scatter_add_(1, src, w)
        return mat

    def AT(self, y: torch.Tensor) -> torch.Tensor:
        """Exact adjoint M_H^T y M_W (boundary handling included)."""
        return self._adjoint(y, y.shape[-2], y.shape[-1])

    def _input_size(self, y: torch.Tensor) -> tuple[int, int]:
        return y.shape[-2], y.shape[-1]

    def config(self) -> dict:
        return {"name": "gaussian_blur", "size": self.size, "std": self.std, "boundary": self.boundary}


def make_operator(name: str, *, n_images: int = 1, seeds: Sequence[int] | None = None, **kwargs) -> LinearOperator:
    """Build an operator by name: inpainting (random, p), box (box, seeds), sr (factor), blur (size, std, boundary)."""
    if name in ("inpainting", "random_inpainting"):
        return RandomInpainting(p=kwargs.get("p", 0.92), seeds=seeds if seeds is not None else range(n_images))
    if name in ("box", "box_inpainting"):
        return BoxInpainting(box=kwargs.get("box", 8), seeds=seeds)
    if name in ("sr", "bicubic_sr", "super_resolution"):
        return BicubicSR(factor=kwargs.get("factor", 4))
    if name in ("blur", "gaussian_blur", "deblur"):
        return GaussianBlur(size=kwargs.get("size", 61), std=kwargs.get("std", 3.0), boundary=kwargs.get("boundary", "reflect"))
    raise ValueError(f"operator: unknown name {name!r}; choose inpainting, box, sr or blur")


__all__ = ["LinearOperator", "RandomInpainting", "BoxInpainting", "BicubicSR", "GaussianBlur", "imresize_weights",
           "keys_cubic", "gaussian_kernel_1d", "matrix_norm_sq", "make_operator"]
