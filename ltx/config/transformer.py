"""The LTX-2 transformer's config (`config["transformer"]`) and the shipped presets."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from ltx.config.base import ConfigError, check_values

_FIXED_TRANSFORMER_KEYS: dict[str, Any] = {
    "dropout": 0.0,
    "attention_bias": True,
    "num_vector_embeds": None,
    "activation_fn": "gelu-approximate",
    "num_embeds_ada_norm": 1000,
    "use_linear_projection": False,
    "only_cross_attention": False,
    "cross_attention_norm": True,
    "double_self_attention": False,
    "upcast_attention": False,
    "standardization_norm": "rms_norm",
    "norm_elementwise_affine": False,
    "qk_norm": "rms_norm",
    "positional_embedding_type": "rope",
    "share_ff": False,
    "av_cross_ada_norm": True,
    "use_middle_indices_grid": True,
}


_LTX2_3_KEYS = ("apply_gated_attention", "cross_attention_adaln", "caption_proj_before_connector")
# Keys added after 2.3 (ltx-core 1.2.0), written only when they differ from their default (older files lack them).
_OPTIONAL_KEYS = {"use_prompt_adaln_single": True, "ff_bias": True, "audio_ff_bias": True,
                  "use_keyframes_abs_pos_embedding": False}  # fmt: skip


@dataclass(frozen=True)
class TransformerConfig:
    """The LTX-2 dual-stream transformer (and its video-only variant).

    Field names are the official `config["transformer"]` keys, except `has_audio` and `has_video`, which are
    ours: has_audio=False for the video-only variant (decided from the file's keys, not its metadata),
    has_video=False for the audio-only model built from an audio-video file.
    """

    num_layers: int = 48
    num_attention_heads: int = 32
    attention_head_dim: int = 128
    in_channels: int = 128
    out_channels: int = 128
    cross_attention_dim: int = 4096
    caption_channels: int = 3840
    audio_num_attention_heads: int = 32
    audio_attention_head_dim: int = 64
    audio_in_channels: int = 128
    audio_out_channels: int = 128
    audio_cross_attention_dim: int = 2048
    norm_eps: float = 1e-6
    positional_embedding_theta: float = 10000.0
    positional_embedding_max_pos: tuple[int, ...] = (20, 2048, 2048)
    audio_positional_embedding_max_pos: tuple[int, ...] = (20,)
    timestep_scale_multiplier: float = 1000
    av_ca_timestep_scale_multiplier: float = 1  # the shipped files say 1000
    rope_type: str = "split"  # "interleaved" | "split" (ltx-core 1.0.0 defaulted to interleaved; 1.2.0 to split)
    frequencies_precision: str = "float32"  # "float32" | "float64"
    apply_gated_attention: bool = False  # LTX-2.3
    cross_attention_adaln: bool = False  # LTX-2.3
    caption_proj_before_connector: bool = False  # LTX-2.3: the text side projects, not us
    use_prompt_adaln_single: bool = True  # with cross_attention_adaln: False = text K/V modulated by the table only
    ff_bias: bool = True  # LTX-2.5: False drops the video feed-forward's biases
    audio_ff_bias: bool = True
    use_keyframes_abs_pos_embedding: bool = False  # LTX-2.5: a learned vector added to single-frame video tokens
    has_audio: bool = True
    has_video: bool = True  # False: the audio stream alone (ltx-core's audio-only model, for text-to-audio)

    def __post_init__(self) -> None:
        if not (self.has_video or self.has_audio):
            raise ConfigError("a transformer needs at least one of the video and audio streams")
        if self.rope_type not in ("interleaved", "split"):
            raise ConfigError(f"rope_type must be 'interleaved' or 'split', got {self.rope_type!r}")
        if self.frequencies_precision not in ("float32", "float64"):
            raise ConfigError(
                f"frequencies_precision must be 'float32' or 'float64', got {self.frequencies_precision!r}"
            )
        for name in ("attention_head_dim", "audio_attention_head_dim"):
            if getattr(self, name) % 2:
                raise ConfigError(f"{name} must be even for rotary embeddings, got {getattr(self, name)}")
        if self.has_video and self.cross_attention_dim != self.inner_dim:
            raise ConfigError(
                f"cross_attention_dim ({self.cross_attention_dim}) must equal the video width "
                f"num_attention_heads*attention_head_dim ({self.inner_dim}): the text context is projected to it"
            )
        if self.has_audio and self.audio_cross_attention_dim != self.audio_inner_dim:
            raise ConfigError(
                f"audio_cross_attention_dim ({self.audio_cross_attention_dim}) must equal the audio width "
                f"({self.audio_inner_dim}): it sizes both the audio text context and the audio-video RoPE"
            )

    @property
    def inner_dim(self) -> int:
        return self.num_attention_heads * self.attention_head_dim

    @property
    def audio_inner_dim(self) -> int:
        return self.audio_num_attention_heads * self.audio_attention_head_dim

    @property
    def adaln_rows(self) -> int:
        """Rows of the per-block modulation table: 6, plus 3 for the text cross-attention in 2.3."""
        return 9 if self.cross_attention_adaln else 6

    @property
    def cross_rope_max_pos(self) -> int:
        return max(self.positional_embedding_max_pos[0], self.audio_positional_embedding_max_pos[0])

    @classmethod
    def from_metadata(cls, section: dict[str, Any], *, has_audio: bool = True) -> TransformerConfig:
        """Build from `config["transformer"]`; absent keys take the official code defaults."""
        for key, expected in _FIXED_TRANSFORMER_KEYS.items():
            if key in section and section[key] != expected:
                raise ConfigError(
                    f"unsupported transformer config: {key}={section[key]!r} (this model needs {expected!r})"
                )
        if has_audio and section.get("use_audio_video_cross_attention", True) is not True:
            raise ConfigError("unsupported transformer config: use_audio_video_cross_attention must be true")
        known = {f.name for f in dataclasses.fields(cls)}
        values: dict[str, Any] = {k: v for k, v in section.items() if k in known}
        for key in ("positional_embedding_max_pos", "audio_positional_embedding_max_pos"):
            if key in values:
                values[key] = tuple(values[key])
        if values.get("frequencies_precision") is False:  # the official reads False as "not float64"
            values["frequencies_precision"] = "float32"
        return cls(**check_values(cls, values, "transformer"), has_audio=has_audio)

    def to_metadata(self) -> dict[str, Any]:
        """The `config["transformer"]` section the official loader reads (fixed keys included)."""
        out: dict[str, Any] = dict(_FIXED_TRANSFORMER_KEYS)
        out["use_audio_video_cross_attention"] = self.has_audio
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            # LTX-2.0 files do not carry the 2.3 keys (the text side reads their presence as "2.3")
            if f.name in ("has_audio", "has_video") or (f.name in _LTX2_3_KEYS and value is False):
                continue
            if f.name in _OPTIONAL_KEYS and value == _OPTIONAL_KEYS[f.name]:
                continue
            out[f.name] = list(value) if isinstance(value, tuple) else value
        return out

    def replace(self, **changes: Any) -> TransformerConfig:
        return dataclasses.replace(self, **changes)


# Shipped values, as the published files' metadata carries them. Real files
# always carry their own config; these presets are for building full-size models without a file
# (structure tests, benchmarks) and for files whose metadata was stripped.
LTX2_19B = TransformerConfig(
    av_ca_timestep_scale_multiplier=1000,
    rope_type="split",
    frequencies_precision="float64",
)
LTX2_3_22B = TransformerConfig(
    av_ca_timestep_scale_multiplier=1000,
    rope_type="split",
    frequencies_precision="float64",
    apply_gated_attention=True,
    cross_attention_adaln=True,
    caption_proj_before_connector=True,
)

# LTX-2.5 22B: stated publicly are the 2.3 text side, a bias-free video feed-forward and the keyframe
# embedding; the layer count, gated attention and prompt AdaLN are not stated anywhere, so the 2.3 values are
# assumed here (real files carry their own config).
LTX2_5_22B = LTX2_3_22B.replace(ff_bias=False, use_keyframes_abs_pos_embedding=True)

PRESETS: dict[str, TransformerConfig] = {
    "ltx-2-19b": LTX2_19B,
    "ltx-2.3-22b": LTX2_3_22B,
    "ltx-2.5-22b": LTX2_5_22B,
}


def preset(name: str) -> TransformerConfig:
    try:
        return PRESETS[name]
    except KeyError:
        raise ConfigError(f"unknown preset {name!r}; known: {', '.join(sorted(PRESETS))}") from None


__all__ = ["ConfigError", "TransformerConfig", "LTX2_19B", "LTX2_3_22B", "LTX2_5_22B", "PRESETS", "preset"]
