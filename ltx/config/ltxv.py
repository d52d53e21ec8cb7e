"""The LTX-Video 0.9.x transformer's config (`config["transformer"]` of its single-file checkpoints).

Only what the released files use is built; any other value of an option that changes the computation is
refused by name (ConfigError), never ignored.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from ltx.config.base import ConfigError, check_values

# option -> the only value we build (the released 0.9.x files all use these)
_FIXED = {
    "adaptive_norm": "single_scale_shift",
    "activation_fn": "gelu-approximate",
    "qk_norm": "rms_norm",
    "positional_embedding_type": "rope",
    "attention_bias": True,
    "only_cross_attention": False,
    "double_self_attention": False,
    "upcast_attention": False,
    "use_tpu_flash_attention": False,
    "attention_type": "default",
    "num_vector_embeds": None,
}


def is_ltxv(section: dict) -> bool:
    """Whether a `config["transformer"]` section describes an LTX-Video 0.9.x transformer: the released files name
    its class (Transformer3DModel) and carry its PixArt-era keys; LTX-2's never do."""
    if not isinstance(section, dict):
        return False
    return section.get("_class_name") == "Transformer3DModel" or "project_to_2d_pos" in section


@dataclass(frozen=True)
class _Ints:  # the integer settings of an LTX-Video transformer section, for their type check
    num_layers: int = 0
    num_attention_heads: int = 0
    attention_head_dim: int = 0
    in_channels: int = 0
    out_channels: int = 0
    cross_attention_dim: int = 0
    caption_channels: int = 0


@dataclass(frozen=True)
class LTXVConfig:
    """2B: 28 blocks of 32 x 64; 13B: 48 blocks of 32 x 128. Text: T5 features (caption_channels) projected to
    the width; self-attention RoPE over (frame, y, x) positions divided by `max_pos`."""

    num_layers: int = 28
    heads: int = 32
    head_dim: int = 64
    in_channels: int = 128
    out_channels: int = 128
    cross_attention_dim: int = 2048
    caption_channels: int = 4096
    norm: str = "rms_norm"  # "rms_norm" or "layer_norm" (no affine weights unless norm_affine)
    norm_affine: bool = False
    norm_eps: float = 1e-6
    theta: float = 10000.0
    max_pos: tuple[int, int, int] = (20, 2048, 2048)
    timestep_scale_multiplier: float = 1000.0
    causal_temporal_positioning: bool = False

    @property
    def dim(self) -> int:
        return self.heads * self.head_dim

    def __post_init__(self) -> None:
        if self.norm not in ("rms_norm", "layer_norm"):
            raise ConfigError(f"standardization_norm must be 'rms_norm' or 'layer_norm', got {self.norm!r}")
        if self.norm_affine:
            raise ConfigError("LTX-Video transformer option norm_elementwise_affine=True is not implemented "
                              "(the released files use False)")  # fmt: skip
        if self.cross_attention_dim != self.dim:
            raise ConfigError(
                f"cross_attention_dim {self.cross_attention_dim} must equal the width {self.dim} "
                "(the caption projection maps the text to the width)"
            )

    @classmethod
    def from_metadata(cls, section: dict[str, Any]) -> LTXVConfig:
        if not isinstance(section, dict):
            raise ConfigError(f"config['transformer'] must be an object, got {type(section).__name__}")
        for key, value in _FIXED.items():
            if key in section and section[key] != value:
                raise ConfigError(f"LTX-Video transformer option {key}={section[key]!r} is not implemented "
                                  f"(the released files use {value!r})")  # fmt: skip
        known = (
            "num_layers",
            "num_attention_heads",
            "attention_head_dim",
            "in_channels",
            "out_channels",
            "cross_attention_dim",
            "caption_channels",
        )  # (integers all)
        check_values(_Ints, {k: section[k] for k in known if section.get(k) is not None}, "transformer")
        heads, head_dim = section.get("num_attention_heads", 32), section.get("attention_head_dim", 64)
        return cls(
            num_layers=section.get("num_layers", 28),
            heads=heads,
            head_dim=head_dim,
            in_channels=section.get("in_channels", 128),
            out_channels=section.get("out_channels") or section.get("in_channels", 128),
            cross_attention_dim=section.get("cross_attention_dim", heads * head_dim),
            caption_channels=section.get("caption_channels", 4096),
            norm=section.get("standardization_norm", "layer_norm"),
            norm_affine=section.get("norm_elementwise_affine", True),
            norm_eps=section.get("norm_eps", 1e-5),
            theta=float(section.get("positional_embedding_theta") or 10000.0),
            max_pos=tuple(section.get("positional_embedding_max_pos") or (20, 2048, 2048)),
            timestep_scale_multiplier=float(section.get("timestep_scale_multiplier") or 1.0),
            causal_temporal_positioning=bool(section.get("causal_temporal_positioning", False)),
        )

    def to_metadata(self) -> dict[str, Any]:
        return {
            "_class_name": "Transformer3DModel",
            **{k: v for k, v in _FIXED.items() if v is not None},
            "num_layers": self.num_layers, "num_attention_heads": self.heads, "attention_head_dim": self.head_dim,
            "in_channels": self.in_channels, "out_channels": self.out_channels,
            "cross_attention_dim": self.cross_attention_dim, "caption_channels": self.caption_channels,
            "standardization_norm": self.norm, "norm_elementwise_affine": self.norm_affine,
            "norm_eps": self.norm_eps, "positional_embedding_theta": self.theta,
            "positional_embedding_max_pos": list(self.max_pos),
            "timestep_scale_multiplier": self.timestep_scale_multiplier,
            "causal_temporal_positioning": self.causal_temporal_positioning,
        }  # fmt: skip

    def replace(self, **changes: Any) -> LTXVConfig:
        return dataclasses.replace(self, **changes)


# Full size, as the 0.9.x files state them (the 13B is 0.9.7 / 0.9.8).
LTXV_2B = LTXVConfig()
LTXV_13B = LTXVConfig(num_layers=48, head_dim=128, cross_attention_dim=4096)
