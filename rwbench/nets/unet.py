"""Small UNet for the embedded default: patch stem, scale-shift residual blocks, one self-attention at the bottom."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


def scalar_embedding(c: torch.Tensor, dim: int) -> torch.Tensor:
    """Sinusoidal embedding of one scalar per sample: [cos(c w_i), sin(c w_i)], w_i = 10000^(-i/(dim/2))."""
    half = dim // 2
    freqs = torch.exp(-math.log(10000.0) * torch.arange(half, dtype=torch.float32, device=c.device) / half)
    args = c.to(torch.float32)[:, None] * freqs[None]
    return torch.cat([torch.cos(args), torch.sin(args)], dim=1)


def _groups(channels: int, groups: int) -> int:
    g = min(groups, channels)
    while channels % g:
        g -= 1
    return g


class ResBlock(nn.Module):
    """GroupNorm-SiLU-conv twice, the embedding as a scale-shift on the second norm (ADM), residual 1x1 if widths differ."""

    def __init__(self, cin: int, cout: int, emb_dim: int, groups: int):
        super().__init__()
        self.norm1 = nn.GroupNorm(_groups(cin, groups), cin)
        self.conv1 = nn.Conv2d(cin, cout, 3, padding=1)
        self.emb = nn.Linear(emb_dim, 2 * cout)
        self.norm2 = nn.GroupNorm(_groups(cout, groups), cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1)
        nn.init.zeros_(self.conv2.weight)
        nn.init.zeros_(self.conv2.bias)
        self.skip = nn.Conv2d(cin, cout, 1) if cin != cout else nn.Identity()

    def forward(self, x: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        h = self.conv1(F.silu(self.norm1(x)))
        scale, shift = self.emb(emb)[:, :, None, None].chunk(2, dim=1)
        h = self.norm2(h) * (1 + scale) + shift
        h = self.conv2(F.silu(h))
        return self.skip(x) + h


class SelfAttention(nn.Module):
    """Multi-head self-attention over the spatial positions with a residual connection."""

    def __init__(self, channels: int, heads: int, groups: int):
        super().__init__()
        self.heads = heads
        self.norm = nn.GroupNorm(_groups(channels, groups), channels)
        self.qkv = nn.Conv2d(channels, 3 * channels, 1)
        self.proj = nn.Conv2d(channels, channels, 1)
        nn.init.zeros_(self.proj.weight)
        nn.init.zeros_(self.proj.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        q, k, v = self.qkv(self.norm(x)).reshape(b, 3, self.heads, c // self.heads, h * w).unbind(1)
        out = F.scaled_dot_product_attention(q.transpose(-1, -2), k.transpose(-1, -2), v.transpose(-1, -2))
        return x + self.proj(out.transpose(-1, -2).reshape(b, c, h, w))


class UNet(nn.Module):
    """UNet f(x, c) conditioned on one scalar c per sample (VP: t, VE: log sigma, IADB: alpha), times `cond_scale`.

    A patch stem (conv, kernel = stride = patch_size) and a transposed-conv head work on patches, so a 16x16
    image is processed at 8x8, 4x4, 2x2 for channel_mult of length 3 and patch_size 2. With input_skip the output
    is head(h) + g(c) x, g a zero-initialised linear map of the conditioning embedding (one gain per channel): the
    near-identity part of eps / score / blend targets is then one learned scalar per noise level.
    """

    def __init__(self, in_channels: int = 1, out_channels: int | None = None, base_channels: int = 64,
                 channel_mult=(1, 2, 2), num_res_blocks: int = 1, patch_size: int = 2, emb_dim: int = 128,
                 cond_scale: float = 1.0, attention: bool = True, heads: int = 4, groups: int = 8,
                 input_skip: bool = False):
        super().__init__()
        out_channels = in_channels if out_channels is None else out_channels
        if patch_size < 1 or emb_dim % 2 or num_res_blocks < 1 or not channel_mult:
            raise ValueError("UNet: need patch_size >= 1, an even emb_dim, num_res_blocks >= 1 and a channel_mult")
        self.config = dict(in_channels=in_channels, out_channels=out_channels, base_channels=base_channels,
                           channel_mult=list(channel_mult), num_res_blocks=num_res_blocks, patch_size=patch_size,
                           emb_dim=emb_dim, cond_scale=cond_scale, attention=attention, heads=heads, groups=groups,
                           input_skip=bool(input_skip))
        self.cond_scale = float(cond_scale)
        self.emb_dim = emb_dim
        self.emb_mlp = nn.Sequential(nn.Linear(emb_dim, emb_dim), nn.SiLU(), nn.Linear(emb_dim, emb_dim))
        widths = [base_channels * m for m in channel_mult]
        self.stem = nn.Conv2d(in_channels, widths[0], patch_size, stride=patch_size)
        self.down_blocks = nn.ModuleList()
        self.downsamples = nn.ModuleList()
        ch = widths[0]
        for i, w in enumerate(widths):
            blocks = nn.ModuleList()
            for _ in range(num_res_blocks):
                blocks.append(ResBlock(ch, w, emb_dim, groups))
                ch = w
            self.down_blocks.append(blocks)
            if i < len(widths) - 1:
                self.downsamples.append(nn.Conv2d(ch, ch, 3, stride=2, padding=1))
        self.mid1 = ResBlock(ch, ch, emb_dim, groups)
        self.mid_attn = SelfAttention(ch, heads, groups) if attention else nn.Identity()
        self.mid2 = ResBlock(ch, ch, emb_dim, groups)
        self.up_blocks = nn.ModuleList()
        self.upsamples = nn.ModuleList()
        for i in reversed(range(len(widths))):
            w = widths[i]
            blocks = nn.ModuleList()
            for _ in range(num_res_blocks):
                blocks.append(ResBlock(ch + w, w, emb_dim, groups))
                ch = w
            self.up_blocks.append(blocks)
            if i > 0:
                self.upsamples.append(nn.Conv2d(ch, widths[i - 1], 3, padding=1))
                ch = widths[i - 1]
        self.out_norm = nn.GroupNorm(_groups(ch, groups), ch)
        self.head = nn.ConvTranspose2d(ch, out_channels, patch_size, stride=patch_size)
        nn.init.zeros_(self.head.weight)
        nn.init.zeros_(self.head.bias)
        self.skip_gain = None
        if input_skip:
            if in_channels != out_channels:
                raise ValueError("UNet: input_skip needs out_channels == in_channels")
            self.skip_gain = nn.Linear(emb_dim, out_channels)
            nn.init.zeros_(self.skip_gain.weight)
            nn.init.zeros_(self.skip_gain.bias)

    def forward(self, x: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        cond = torch.as_tensor(cond, device=x.device).reshape(-1)
        if cond.numel() == 1:
            cond = cond.expand(x.shape[0])
        if cond.numel() != x.shape[0]:
            raise ValueError(f"cond: need one conditioning value per sample ({x.shape[0]}), got {cond.numel()}")
        p = self.config["patch_size"] * 2 ** (len(self.config["channel_mult"]) - 1)
        if x.shape[-1] % p or x.shape[-2] % p:
            raise ValueError(f"x: height and width must be multiples of {p} for this UNet, got {tuple(x.shape[-2:])}")
        emb = self.emb_mlp(scalar_embedding(cond * self.cond_scale, self.emb_dim).to(x.dtype))
        h = self.stem(x)
        skips = []
        for i, blocks in enumerate(self.down_blocks):
            for block in blocks:
                h = block(h, emb)
            skips.append(h)
            if i < len(self.downsamples):
                h = self.downsamples[i](h)
        h = self.mid2(self.mid_attn(self.mid1(h, emb)), emb)
        for i, blocks in enumerate(self.up_blocks):
            skip = skips.pop()
            for block in blocks:  # every up block sees the level's skip features
                h = block(torch.cat([h, skip], dim=1), emb)
            if i < len(self.upsamples):
                h = self.upsamples[i](F.interpolate(h, scale_factor=2.0, mode="nearest"))
        out = self.head(F.silu(self.out_norm(h)))
        if self.skip_gain is not None:
            out = out + self.skip_gain(emb)[:, :, None, None] * x
        return out


def count_parameters(module: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad)
