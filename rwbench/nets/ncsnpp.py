"""NCSN++ (score_sde, continuous VE), state-dict compatible with `ve/ffhq_256_ncsnpp_continuous` checkpoint_48.pth."""

# Written from the architecture facts in tests/golden/README.md (section B) and the manifests' module maps
# and call traces. Parameters live in one flat `all_modules` list, indexed as in the published file.

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from rwbench.nets.layers import LOW_PRECISION, GroupNorm, compute_dtype, fir_downsample2x, fir_kernel_2d, fir_upsample2x

GN_EPS = 1e-6


def groups_for(channels: int) -> int:
    """GroupNorm groups used by NCSN++: min(C // 4, 32)."""
    return min(channels // 4, 32)


@dataclass(frozen=True)
class NCSNppConfig:
    """NCSN++ arguments (score_sde names); defaults are the FFHQ-256 continuous VE model."""

    image_size: int = 256
    num_channels: int = 3
    nf: int = 128
    ch_mult: tuple[int, ...] = (1, 1, 2, 2, 2, 2, 2)
    num_res_blocks: int = 2
    attn_resolutions: tuple[int, ...] = (16,)
    fir_kernel: tuple[int, ...] = (1, 3, 3, 1)
    fourier_scale: float = 16.0
    dropout: float = 0.0
    sigma_min: float = 0.01
    sigma_max: float = 348.0
    num_scales: int = 2000
    centered: bool = False  # data in [0, 1]: the network maps x -> 2x - 1 itself


FFHQ256 = NCSNppConfig()
SMALL = NCSNppConfig(image_size=64, nf=16, ch_mult=(1, 1, 2, 2, 2))
CONFIGS = {"full": FFHQ256, "small": SMALL}


def vesde_sigmas(sigma_min: float, sigma_max: float, n: int) -> torch.Tensor:
    """Discrete VE levels exp(linspace(log sigma_max, log sigma_min, n)) (float64, decreasing, numpy's linspace).

    The exponential is libm's (math.exp), not numpy's: numpy's SIMD exp differs in the last bit on some CPUs (AVX-512),
    and math.exp reproduces the published buffer bit for bit everywhere we measured."""
    logs = np.linspace(np.log(sigma_max), np.log(sigma_min), n)
    return torch.tensor([math.exp(float(v)) for v in logs], dtype=torch.float64)


class GaussianFourierProjection(nn.Module):
    """Random Fourier features of log sigma: cat[sin(2 pi s W), cos(2 pi s W)] (sin first), W ~ scale N(0, 1)."""

    def __init__(self, embedding_size: int, scale: float):
        super().__init__()
        self.W = nn.Parameter(torch.randn(embedding_size) * scale, requires_grad=False)

    def _apply(self, fn, recurse=True):
        # W (|W| up to ~60) multiplies log sigma inside sin/cos: bfloat16/float16 would shift the phases by
        # radians, so a low-precision cast of the model keeps W in float32.
        original = self.W.detach().clone()
        super()._apply(fn, recurse)
        if self.W.dtype in LOW_PRECISION:
            self.W.data = original.to(device=self.W.device, dtype=torch.float32)
        return self

    def forward(self, s: torch.Tensor) -> torch.Tensor:
        proj = s[:, None] * self.W[None, :].to(s.dtype) * (2 * math.pi)
        return torch.cat([torch.sin(proj), torch.cos(proj)], dim=1)


class NIN(nn.Module):
    """Channel-wise linear map y = x_c W + b with W stored [in, out] (the transpose of nn.Linear)."""

    def __init__(self, in_dim: int, out_dim: int):
        super().__init__()
        self.W = nn.Parameter(torch.empty(in_dim, out_dim))
        self.b = nn.Parameter(torch.zeros(out_dim))
        nn.init.xavier_uniform_(self.W.T)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # x: [..., in] channels last
        return x @ self.W + self.b


class Combine(nn.Module):
    """Progressive-input combiner, method sum: h = conv1x1(pyramid) + h."""

    def __init__(self, dim1: int, dim2: int):
        super().__init__()
        self.Conv_0 = nn.Conv2d(dim1, dim2, 1)

    def forward(self, pyramid: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        return self.Conv_0(pyramid) + h


class AttnBlock(nn.Module):
    """Single-head self-attention over all C channels, logits scaled by C^-1/2, residual (x + h)/sqrt(2)."""

    def __init__(self, channels: int):
        super().__init__()
        self.GroupNorm_0 = GroupNorm(groups_for(channels), channels, eps=GN_EPS)
        self.NIN_0 = NIN(channels, channels)
        self.NIN_1 = NIN(channels, channels)
        self.NIN_2 = NIN(channels, channels)
        self.NIN_3 = NIN(channels, channels)
        nn.init.zeros_(self.NIN_3.W)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, hh, ww = x.shape
        h = self.GroupNorm_0(x).permute(0, 2, 3, 1).reshape(b, hh * ww, c)
        q, k, v = self.NIN_0(h), self.NIN_1(h), self.NIN_2(h)
        a = nn.functional.scaled_dot_product_attention(q, k, v, scale=c ** -0.5)
        h = self.NIN_3(a).reshape(b, hh, ww, c).permute(0, 3, 1, 2)
        return (x + h) / math.sqrt(2.0)


class ResnetBlockBigGAN(nn.Module):
    """BigGAN residual block: h = Conv_1(SiLU(GN(Conv_0(rs(SiLU(GN x))) + Dense(SiLU temb)))), out = (skip(rs x) + h)/sqrt 2."""

    def __init__(self, in_ch: int, out_ch: int, temb_dim: int, kernel: torch.Tensor, up: bool = False,
                 down: bool = False, dropout: float = 0.0):
        super().__init__()
        self.up, self.down = up, down
        self.register_buffer("fir", kernel.to(torch.float32), persistent=False)
        self.GroupNorm_0 = GroupNorm(groups_for(in_ch), in_ch, eps=GN_EPS)
        self.Conv_0 = nn.Conv2d(in_ch, out_ch, 3, padding=1)
        self.Dense_0 = nn.Linear(temb_dim, out_ch)
        nn.init.zeros_(self.Dense_0.bias)
        self.GroupNorm_1 = GroupNorm(groups_for(out_ch), out_ch, eps=GN_EPS)
        self.Dropout_0 = nn.Dropout(dropout)
        self.Conv_1 = nn.Conv2d(out_ch, out_ch, 3, padding=1)
        nn.init.zeros_(self.Conv_1.weight)
        self.Conv_2 = nn.Conv2d(in_ch, out_ch, 1) if (in_ch != out_ch or up or down) else None
        self.act = nn.SiLU()

    def _resample(self, x: torch.Tensor) -> torch.Tensor:
        if self.up:
            return fir_upsample2x(x, self.fir)
        if self.down:
            return fir_downsample2x(x, self.fir)
        return x

    def forward(self, x: torch.Tensor, temb: torch.Tensor) -> torch.Tensor:
        h = self.act(self.GroupNorm_0(x))
        h = self.Conv_0(self._resample(h))  # FIR resampling after GN+SiLU, before Conv_0
        x = self._resample(x)
        h = h + self.Dense_0(self.act(temb))[:, :, None, None]
        h = self.Conv_1(self.Dropout_0(self.act(self.GroupNorm_1(h))))
        if self.Conv_2 is not None:
            x = self.Conv_2(x)
        return (x + h) / math.sqrt(2.0)


class NCSNpp(nn.Module):
    """NCSN++ score network s(x, sigma) = net(2x - 1, log sigma) / sigma (Song et al. 2021, continuous VE)."""

    def __init__(self, config: NCSNppConfig = FFHQ256):
        super().__init__()
        self.config = config
        nf, n_levels = config.nf, len(config.ch_mult)
        temb_dim = 4 * nf
        kernel = fir_kernel_2d(config.fir_kernel)
        self.register_buffer("fir", kernel.to(torch.float32), persistent=False)
        sigmas = vesde_sigmas(config.sigma_min, config.sigma_max, config.num_scales)
        self.register_buffer("sigmas", sigmas.to(torch.empty(0).device))  # honours a `with torch.device(...)` block
        resolutions = [config.image_size // 2**i for i in range(n_levels)]
        attn = set(config.attn_resolutions)

        mods: list[nn.Module] = [
            GaussianFourierProjection(nf, config.fourier_scale),
            nn.Linear(2 * nf, temb_dim),
            nn.Linear(temb_dim, temb_dim),
        ]
        nn.init.zeros_(mods[1].bias)
        nn.init.zeros_(mods[2].bias)

        def res(i, o, **kw):
            return ResnetBlockBigGAN(i, o, temb_dim, kernel, dropout=config.dropout, **kw)

        mods.append(nn.Conv2d(config.num_channels, nf, 3, padding=1))
        skip_chans = [nf]
        ch = nf
        for level in range(n_levels):  # down path
            for _ in range(config.num_res_blocks):
                out = nf * config.ch_mult[level]
                mods.append(res(ch, out))
                ch = out
                if resolutions[level] in attn:
                    mods.append(AttnBlock(ch))
                skip_chans.append(ch)
            if level != n_levels - 1:
                mods.append(res(ch, ch, down=True))
                mods.append(Combine(config.num_channels, ch))  # input_skip, sum
                skip_chans.append(ch)

        ch = skip_chans[-1]
        mods += [res(ch, ch), AttnBlock(ch), res(ch, ch)]  # middle

        for level in reversed(range(n_levels)):  # up path
            for _ in range(config.num_res_blocks + 1):
                out = nf * config.ch_mult[level]
                mods.append(res(ch + skip_chans.pop(), out))
                ch = out
            if resolutions[level] in attn:
                mods.append(AttnBlock(ch))
            mods.append(GroupNorm(groups_for(ch), ch, eps=GN_EPS))  # output_skip head of this level
            mods.append(nn.Conv2d(ch, config.num_channels, 3, padding=1))
            nn.init.zeros_(mods[-1].weight)
            if level != 0:
                mods.append(res(ch, ch, up=True))
        if skip_chans:
            raise AssertionError("NCSN++ construction left unused skip connections")
        self.all_modules = nn.ModuleList(mods)
        self.act = nn.SiLU()

    def _apply(self, fn, recurse=True):
        # `sigmas` is a float64 buffer in the published state dict: dtype casts of the model leave it float64.
        original = self.sigmas.detach().clone()
        super()._apply(fn, recurse)
        if self.sigmas.dtype != torch.float64:
            self.sigmas = original.to(device=self.sigmas.device)
        return self

    @property
    def dtype(self) -> torch.dtype:
        return self.all_modules[1].weight.dtype

    def fourier_features(self, sigma: torch.Tensor) -> torch.Tensor:
        """cat[sin(2 pi log(sigma) W), cos(...)] in float32 (float64 for a float64 model)."""
        dtype = compute_dtype(self.dtype)
        return self.all_modules[0](torch.log(sigma.to(dtype)))

    def embed_time(self, sigma: torch.Tensor) -> torch.Tensor:
        """temb = Linear(SiLU(Linear(fourier(log sigma)))), width 4 nf."""
        m = self.all_modules
        return m[2](self.act(m[1](self.fourier_features(sigma).to(self.dtype))))

    def forward(self, x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
        cfg = self.config
        x = x.to(self.dtype)
        sigma = torch.as_tensor(sigma, device=x.device)
        if sigma.ndim == 0:
            sigma = sigma.expand(x.shape[0])
        if sigma.shape != (x.shape[0],):
            raise ValueError(f"sigma: need shape [{x.shape[0]}] to match the batch, got {tuple(sigma.shape)}")
        modules = iter(self.all_modules)
        next(modules), next(modules), next(modules)  # the embedding layers, used by embed_time
        temb = self.embed_time(sigma)
        n_levels = len(cfg.ch_mult)
        resolutions = [cfg.image_size // 2**i for i in range(n_levels)]
        attn = set(cfg.attn_resolutions)

        if not cfg.centered:
            x = 2 * x - 1.0
        pyramid_in = x
        hs = [next(modules)(x)]
        for level in range(n_levels):
            for _ in range(cfg.num_res_blocks):
                h = next(modules)(hs[-1], temb)
                if resolutions[level] in attn:
                    h = next(modules)(h)
                hs.append(h)
            if level != n_levels - 1:
                h = next(modules)(hs[-1], temb)
                pyramid_in = fir_downsample2x(pyramid_in, self.fir)
                h = next(modules)(pyramid_in, h)
                hs.append(h)

        h = hs[-1]
        h = next(modules)(h, temb)
        h = next(modules)(h)
        h = next(modules)(h, temb)

        pyramid = None
        for level in reversed(range(n_levels)):
            for _ in range(cfg.num_res_blocks + 1):
                h = next(modules)(torch.cat([h, hs.pop()], dim=1), temb)
            if resolutions[level] in attn:
                h = next(modules)(h)
            norm, conv = next(modules), next(modules)
            out = conv(self.act(norm(h)))
            pyramid = out if pyramid is None else fir_upsample2x(pyramid, self.fir) + out
            if level != 0:
                h = next(modules)(h, temb)
        if hs or next(modules, None) is not None:
            raise AssertionError("NCSN++ forward did not use every module and skip connection")
        return pyramid / sigma.to(pyramid.dtype)[:, None, None, None]  # scale_by_sigma: the score


def build_ncsnpp(config: str | NCSNppConfig = "full") -> NCSNpp:
    """NCSN++ for a named configuration ('full' = score_sde FFHQ-256, 'small' = the golden reduced model)."""
    if isinstance(config, str):
        if config not in CONFIGS:
            raise ValueError(f"config: need one of {sorted(CONFIGS)}, got {config!r}")
        config = CONFIGS[config]
    return NCSNpp(config)


# score_sde model options this implementation follows (the FFHQ-256 NCSN++ family) and the values it requires
_NCSNPP_REQUIRED = {"name": "ncsnpp", "resblock_type": "biggan", "progressive": "output_skip",
                    "progressive_input": "input_skip", "progressive_combine": "sum", "embedding_type": "fourier",
                    "fir": True, "skip_rescale": True, "scale_by_sigma": True, "resamp_with_conv": True,
                    "conditional": True, "attention_type": "ddpm", "nonlinearity": "swish",
                    "normalization": "GroupNorm", "conv_size": 3}


def config_from_score_sde_config(config: dict) -> NCSNppConfig:
    """NCSNppConfig from score_sde's nested config (as a dict: {"model": {...}, "data": {...}})."""
    if not isinstance(config, dict) or "model" not in config or "data" not in config:
        raise ValueError("config: need score_sde's nested config as a dict with 'model' and 'data' sections")
    model, data = config["model"], config["data"]
    for key, want in _NCSNPP_REQUIRED.items():
        if key in model and model[key] != want:
            raise ValueError(f"config.model.{key}={model[key]!r} is not supported (rwbench's NCSN++ needs {want!r})")
    return NCSNppConfig(image_size=int(data.get("image_size", 256)), num_channels=int(data.get("num_channels", 3)),
                        nf=int(model.get("nf", 128)), ch_mult=tuple(int(m) for m in model.get("ch_mult", (1, 2, 2, 2))),
                        num_res_blocks=int(model.get("num_res_blocks", 4)),
                        attn_resolutions=tuple(int(r) for r in model.get("attn_resolutions", (16,))),
                        fir_kernel=tuple(int(k) for k in model.get("fir_kernel", (1, 3, 3, 1))),
                        fourier_scale=float(model.get("fourier_scale", 16.0)), dropout=float(model.get("dropout", 0.1)),
                        sigma_min=float(model.get("sigma_min", 0.01)), sigma_max=float(model.get("sigma_max", 50.0)),
                        num_scales=int(model.get("num_scales", 1000)), centered=bool(data.get("centered", False)))


def from_score_sde_config(config: dict) -> NCSNpp:
    """The NCSN++ score_sde's mutils.create_model(config) would build (paste a published config as a dict)."""
    return NCSNpp(config_from_score_sde_config(config))


__all__ = ["from_score_sde_config", "config_from_score_sde_config", "NCSNppConfig", "NCSNpp", "FFHQ256", "SMALL", "CONFIGS", "build_ncsnpp", "vesde_sigmas"]
