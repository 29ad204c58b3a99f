"""ADM (guided-diffusion) UNet, state-dict compatible with the DPS FFHQ-256 checkpoint `ffhq_10m.pt`."""

# Written from the architecture facts in tests/golden/README.md (section A) and the manifests; module
# and parameter names follow the published state dict, so the file loads with strict=True.

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from rwbench.nets.layers import GroupNorm, compute_dtype, sinusoidal_embedding

GN_GROUPS = 32
GN_EPS = 1e-5


@dataclass(frozen=True)
class ADMConfig:
    """UNetModel arguments (guided-diffusion names); defaults are the DPS FFHQ-256 model."""

    image_size: int = 256
    in_channels: int = 3
    model_channels: int = 128
    out_channels: int = 6  # learn_sigma: eps (0:3) and the variance interpolation v (3:6)
    num_res_blocks: int = 1
    attention_resolutions: tuple[int, ...] = (16,)  # feature-map sizes with attention
    channel_mult: tuple[int, ...] = (1, 1, 2, 2, 4, 4)
    num_head_channels: int = 64
    dropout: float = 0.0

    @property
    def time_embed_dim(self) -> int:
        return 4 * self.model_channels

    @property
    def attention_ds(self) -> tuple[int, ...]:
        """Downsample rates with attention: image_size // resolution."""
        return tuple(self.image_size // r for r in self.attention_resolutions)


FFHQ256 = ADMConfig()
SMALL = ADMConfig(image_size=64, model_channels=32, channel_mult=(1, 1, 1, 2), num_head_channels=16)
CONFIGS = {"full": FFHQ256, "small": SMALL}


def zero_(module: nn.Module) -> nn.Module:
    """Zero every parameter of a module (upstream initialises residual output layers this way)."""
    for p in module.parameters():
        nn.init.zeros_(p)
    return module


class ResBlock(nn.Module):
    """Residual block with scale-shift norm: h = conv(SiLU(GN(conv(SiLU(GN x))) (1 + scale) + shift)) + skip(x)."""

    def __init__(self, channels: int, emb_channels: int, out_channels: int, dropout: float = 0.0, updown: str = "none"):
        super().__init__()
        if updown not in ("none", "up", "down"):
            raise ValueError(f"updown: need 'none', 'up' or 'down', got {updown!r}")
        self.updown = updown
        self.in_layers = nn.Sequential(
            GroupNorm(GN_GROUPS, channels, eps=GN_EPS), nn.SiLU(), nn.Conv2d(channels, out_channels, 3, padding=1)
        )
        self.emb_layers = nn.Sequential(nn.SiLU(), nn.Linear(emb_channels, 2 * out_channels))
        self.out_layers = nn.Sequential(
            GroupNorm(GN_GROUPS, out_channels, eps=GN_EPS),
            nn.SiLU(),
            nn.Dropout(dropout),
            zero_(nn.Conv2d(out_channels, out_channels, 3, padding=1)),
        )
        self.skip_connection = nn.Identity() if out_channels == channels else nn.Conv2d(channels, out_channels, 1)

    def _resample(self, x: torch.Tensor) -> torch.Tensor:
        if self.updown == "down":
            return F.avg_pool2d(x, 2)
        if self.updown == "up":
            return F.interpolate(x, scale_factor=2, mode="nearest")
        return x

    def forward(self, x: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        norm, act, conv = self.in_layers
        h = act(norm(x))
        h = conv(self._resample(h))  # resample after GN+SiLU, before the first conv
        x = self._resample(x)
        scale, shift = self.emb_layers(emb).to(h.dtype)[:, :, None, None].chunk(2, dim=1)
        out_norm, out_act, drop, out_conv = self.out_layers
        h = out_norm(h) * (1 + scale) + shift
        h = out_conv(drop(out_act(h)))
        return self.skip_connection(x) + h


class AttentionBlock(nn.Module):
    """Multi-head self-attention with the legacy head split (heads before q/k/v), residual x + proj(attn(GN x))."""

    def __init__(self, channels: int, head_channels: int):
        super().__init__()
        if channels % head_channels:
            raise ValueError(f"channels: {channels} is not a multiple of num_head_channels {head_channels}")
        self.num_heads = channels // head_channels
        self.norm = GroupNorm(GN_GROUPS, channels, eps=GN_EPS)
        self.qkv = nn.Conv1d(channels, 3 * channels, 1)
        self.proj_out = zero_(nn.Conv1d(channels, channels, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, *spatial = x.shape
        x = x.reshape(b, c, -1)
        qkv = self.qkv(self.norm(x))  # [B, 3C, T]
        length = qkv.shape[-1]
        ch = c // self.num_heads
        # legacy order: [B, 3C, T] -> [B*heads, 3*ch, T], then q, k, v of width ch each
        q, k, v = qkv.reshape(b * self.num_heads, 3 * ch, length).split(ch, dim=1)
        # softmax((q ch^-1/4)^T (k ch^-1/4)) v == softmax(q^T k / sqrt(ch)) v
        a = F.scaled_dot_product_attention(
            q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2), scale=ch ** -0.5
        )  # [B*heads, T, ch]
        h = a.transpose(1, 2).reshape(b, c, length)
        return (x + self.proj_out(h)).reshape(b, c, *spatial)


class EmbedSequential(nn.Sequential):
    """Sequential that passes the time embedding to the ResBlocks it holds."""

    def forward(self, x: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        for layer in self:
            x = layer(x, emb) if isinstance(layer, ResBlock) else layer(x)
        return x


class ADMUNet(nn.Module):
    """ADM UNet eps/variance network out = model(x_t, t) (Dhariwal & Nichol 2021), t in DDPM steps 0..T-1."""

    def __init__(self, config: ADMConfig = FFHQ256, *, time_embedding_dtype: torch.dtype | None = None):
        super().__init__()
        self.config = config
        self.time_embedding_dtype = time_embedding_dtype
        mc, emb_dim = config.model_channels, config.time_embed_dim
        attn_ds = set(config.attention_ds)
        self.time_embed = nn.Sequential(nn.Linear(mc, emb_dim), nn.SiLU(), nn.Linear(emb_dim, emb_dim))

        ch = mc * config.channel_mult[0]
        self.input_blocks = nn.ModuleList([EmbedSequential(nn.Conv2d(config.in_channels, ch, 3, padding=1))])
        skip_chans = [ch]
        ds = 1
        last = len(config.channel_mult) - 1
        for level, mult in enumerate(config.channel_mult):
            for _ in range(config.num_res_blocks):
                layers: list[nn.Module] = [ResBlock(ch, emb_dim, mult * mc, config.dropout)]
                ch = mult * mc
                if ds in attn_ds:
                    layers.append(AttentionBlock(ch, config.num_head_channels))
                self.input_blocks.append(EmbedSequential(*layers))
                skip_chans.append(ch)
            if level != last:
                self.input_blocks.append(EmbedSequential(ResBlock(ch, emb_dim, ch, config.dropout, updown="down")))
                skip_chans.append(ch)
                ds *= 2

        self.middle_block = EmbedSequential(
            ResBlock(ch, emb_dim, ch, config.dropout),
            AttentionBlock(ch, config.num_head_channels),
            ResBlock(ch, emb_dim, ch, config.dropout),
        )

        self.output_blocks = nn.ModuleList()
        for level, mult in reversed(list(enumerate(config.channel_mult))):
            for i in range(config.num_res_blocks + 1):
                layers = [ResBlock(ch + skip_chans.pop(), emb_dim, mc * mult, config.dropout)]
                ch = mc * mult
                if ds in attn_ds:
                    layers.append(AttentionBlock(ch, config.num_head_channels))
                if level and i == config.num_res_blocks:
                    layers.append(ResBlock(ch, emb_dim, ch, config.dropout, updown="up"))
                    ds //= 2
                self.output_blocks.append(EmbedSequential(*layers))

        self.out = nn.Sequential(
            GroupNorm(GN_GROUPS, ch, eps=GN_EPS), nn.SiLU(), zero_(nn.Conv2d(ch, config.out_channels, 3, padding=1))
        )

    @property
    def dtype(self) -> torch.dtype:
        return self.time_embed[0].weight.dtype

    def timestep_features(self, timesteps: torch.Tensor) -> torch.Tensor:
        """Sinusoid cat[cos(t f), sin(t f)] of width model_channels, in float32 (float64 for a float64 model)."""
        dtype = self.time_embedding_dtype or compute_dtype(self.dtype)
        return sinusoidal_embedding(timesteps.reshape(-1), self.config.model_channels, dtype)

    def embed_time(self, timesteps: torch.Tensor) -> torch.Tensor:
        """emb = Linear(SiLU(Linear(sinusoid(t)))) of width 4 model_channels."""
        return self.time_embed(self.timestep_features(timesteps).to(self.dtype))

    def forward(self, x: torch.Tensor, timesteps: torch.Tensor) -> torch.Tensor:
        x = x.to(self.dtype)
        timesteps = torch.as_tensor(timesteps, device=x.device)
        if timesteps.ndim == 0:
            timesteps = timesteps.expand(x.shape[0])
        if timesteps.shape != (x.shape[0],):
            raise ValueError(f"timesteps: need shape [{x.shape[0]}] to match the batch, got {tuple(timesteps.shape)}")
        emb = self.embed_time(timesteps)
        skips = []
        h = x
        for block in self.input_blocks:
            h = block(h, emb)
            skips.append(h)
        h = self.middle_block(h, emb)
        for block in self.output_blocks:
            h = block(torch.cat([h, skips.pop()], dim=1), emb)
        return self.out(h)


def build_adm(config: str | ADMConfig = "full", **kwargs) -> ADMUNet:
    """ADM UNet for a named configuration ('full' = DPS FFHQ-256, 'small' = the golden reduced model)."""
    if isinstance(config, str):
        if config not in CONFIGS:
            raise ValueError(f"config: need one of {sorted(CONFIGS)}, got {config!r}")
        config = CONFIGS[config]
    return ADMUNet(config, **kwargs)


# guided-diffusion create_model options this implementation follows, and the values it requires
_ADM_REQUIRED = {"use_scale_shift_norm": True, "resblock_updown": True, "class_cond": False,
                 "use_new_attention_order": False}
_ADM_IGNORED = ("use_checkpoint", "use_fp16", "num_heads_upsample")  # memory/precision switches, not the function
_ADM_DEFAULT_MULT = {512: (0.5, 1, 1, 2, 2, 4, 4), 256: (1, 1, 2, 2, 4, 4), 128: (1, 1, 2, 3, 4), 64: (1, 2, 3, 4)}


def config_from_guided_diffusion_kwargs(**kwargs) -> ADMConfig:
    """ADMConfig from guided-diffusion's create_model keyword arguments (channel_mult "" = its per-size default)."""
    known = set(_ADM_REQUIRED) | set(_ADM_IGNORED) | {"image_size", "num_channels", "num_res_blocks", "channel_mult",
                                                       "learn_sigma", "attention_resolutions", "num_heads",
                                                       "num_head_channels", "dropout"}
    unknown = sorted(set(kwargs) - known)
    if unknown:
        raise ValueError(f"create_model kwargs: unknown option(s) {unknown}; known: {sorted(known)}")
    for key, want in _ADM_REQUIRED.items():
        if key in kwargs and bool(kwargs[key]) != want:
            raise ValueError(f"create_model kwargs: {key}={kwargs[key]!r} is not supported (rwbench's ADM needs {want})")
    size = int(kwargs.get("image_size", 256))
    mult = kwargs.get("channel_mult", "")
    if mult in ("", None):
        if size not in _ADM_DEFAULT_MULT:
            raise ValueError(f"create_model kwargs: no default channel_mult for image_size {size}; pass channel_mult")
        mult = _ADM_DEFAULT_MULT[size]
    elif isinstance(mult, str):
        mult = tuple(float(m) if "." in m else int(m) for m in mult.split(","))
    heads = int(kwargs.get("num_head_channels", -1))
    if heads == -1:
        raise ValueError("create_model kwargs: num_head_channels=-1 (fixed num_heads) is not supported; "
                         "rwbench's ADM uses attention heads of num_head_channels channels")
    res = kwargs.get("attention_resolutions", "16,8")
    res = tuple(int(r) for r in (res.split(",") if isinstance(res, str) else res))
    return ADMConfig(image_size=size, in_channels=3, model_channels=int(kwargs.get("num_channels", 128)),
                     out_channels=6 if kwargs.get("learn_sigma", False) else 3,
                     num_res_blocks=int(kwargs.get("num_res_blocks", 2)), attention_resolutions=res,
                     channel_mult=tuple(mult), num_head_channels=heads, dropout=float(kwargs.get("dropout", 0.0)))


def from_guided_diffusion_kwargs(**kwargs) -> ADMUNet:
    """The ADM UNet guided-diffusion's create_model(**kwargs) would build (paste a published config)."""
    return ADMUNet(config_from_guided_diffusion_kwargs(**kwargs))


__all__ = ["from_guided_diffusion_kwargs", "config_from_guided_diffusion_kwargs", "ADMConfig", "ADMUNet", "AttentionBlock", "ResBlock", "FFHQ256", "SMALL", "CONFIGS", "build_adm"]
