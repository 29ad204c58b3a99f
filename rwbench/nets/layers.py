"""Building blocks shared by the ADM and NCSN++ networks: dtype-aware GroupNorm, FIR resampling, embeddings."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

LOW_PRECISION = (torch.float16, torch.bfloat16)


def compute_dtype(dtype: torch.dtype) -> torch.dtype:
    """Dtype for precision-critical pieces (embeddings, norms): float64 stays, everything else runs in float32."""
    return torch.float64 if dtype == torch.float64 else torch.float32


class GroupNorm(nn.GroupNorm):
    """GroupNorm (Wu & He 2018) that normalises float16/bfloat16 activations in float32 and casts back."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dtype in LOW_PRECISION:
            w = None if self.weight is None else self.weight.float()
            b = None if self.bias is None else self.bias.float()
            return F.group_norm(x.float(), self.num_groups, w, b, self.eps).to(x.dtype)
        return F.group_norm(x, self.num_groups, self.weight, self.bias, self.eps)


def sinusoidal_embedding(t: torch.Tensor, dim: int, dtype: torch.dtype, max_period: float = 10000.0) -> torch.Tensor:
    """Transformer sinusoid: freqs_i = exp(-ln(P) i / (dim/2)), emb = cat[cos(t freqs), sin(t freqs)] (cos first)."""
    if dim % 2:
        raise ValueError(f"dim: the sinusoidal embedding needs an even width, got {dim}")
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, dtype=dtype, device=t.device) / half)
    args = t.to(dtype)[:, None] * freqs[None, :]
    return torch.cat([torch.cos(args), torch.sin(args)], dim=1)


def fir_kernel_2d(taps=(1, 3, 3, 1)) -> torch.Tensor:
    """Separable FIR kernel k = outer(taps, taps) / sum(taps)^2 (float64; the taps here are exact binary fractions)."""
    k = torch.as_tensor(taps, dtype=torch.float64)
    k2 = torch.outer(k, k)
    return k2 / k2.sum()


def _depthwise(kernel: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """The kernel as a depthwise weight [C, 1, kh, kw] in x's dtype and device."""
    c = x.shape[1]
    return kernel.to(device=x.device, dtype=x.dtype)[None, None].expand(c, 1, *kernel.shape).contiguous()


def fir_downsample2x(x: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
    """upfirdn2d(x, k, up=1, down=2, pad=(1, 1)) for a 4x4 kernel: depthwise conv, stride 2 (StyleGAN2 FIR down)."""
    if kernel.shape != (4, 4):
        raise ValueError(f"kernel: FIR downsampling is written for a 4x4 kernel, got {tuple(kernel.shape)}")
    # upfirdn2d convolves with the flipped kernel; conv2d correlates, so flip to stay exact for any taps.
    w = _depthwise(torch.flip(kernel, (0, 1)), x)
    return F.conv2d(x, w, stride=2, padding=1, groups=x.shape[1])


def fir_upsample2x(x: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
    """upfirdn2d(x, 4k, up=2, down=1, pad=(2, 1)) for a 4x4 kernel as a stride-2 transposed depthwise conv."""
    if kernel.shape != (4, 4):
        raise ValueError(f"kernel: FIR upsampling is written for a 4x4 kernel, got {tuple(kernel.shape)}")
    # zero-insertion + pad (2, 1) + true convolution with 4k equals conv_transpose2d(w = 4k, stride 2, padding 1).
    w = _depthwise(kernel * 4.0, x)
    return F.conv_transpose2d(x, w, stride=2, padding=1, groups=x.shape[1])


def upfirdn2d_reference(x: torch.Tensor, kernel: torch.Tensor, up: int, down: int, pad: tuple[int, int]) -> torch.Tensor:
    """Direct upfirdn2d: zero-insert by `up`, pad (pad0, pad1), convolve with the kernel, keep every `down`-th sample."""
    b, c, h, w = x.shape
    y = x.reshape(b * c, 1, h, w)
    if up > 1:
        z = y.new_zeros(b * c, 1, h * up, w * up)
        z[:, :, ::up, ::up] = y
        y = z
    y = F.pad(y, (pad[0], pad[1], pad[0], pad[1]))
    k = torch.flip(kernel.to(dtype=x.dtype, device=x.device), (0, 1))[None, None]
    y = F.conv2d(y, k)
    y = y[:, :, ::down, ::down]
    return y.reshape(b, c, y.shape[-2], y.shape[-1])
