"""Typed configs, parsed from a checkpoint's `config` metadata.

A config is a frozen dataclass whose field names are the official metadata keys, so a reader can
put the JSON beside it. Defaults are the official code defaults, used only where a key is absent
(the shipped files carry most keys; see the presets for their values).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

# Keys the official loader insists on. The model below implements exactly these choices; a file
# that says otherwise describes a different architecture, and we refuse it rather than guess.
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


class ConfigError(ValueError):
    """A checkpoint config that this implementation cannot build."""


@dataclass(frozen=True)
class TransformerConfig:
    """The LTX-2 dual-stream transformer (and its video-only variant).

    Field names are the official `config["transformer"]` keys, except `has_audio`, which is ours:
    False for the video-only variant (decided from the file's keys, not its metadata).
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
    rope_type: str = "interleaved"  # "interleaved" | "split"
    frequencies_precision: str = "float32"  # "float32" | "float64"
    apply_gated_attention: bool = False  # LTX-2.3
    cross_attention_adaln: bool = False  # LTX-2.3
    caption_proj_before_connector: bool = False  # LTX-2.3: the text side projects, not us
    has_audio: bool = True

    def __post_init__(self) -> None:
        if self.rope_type not in ("interleaved", "split"):
            raise ConfigError(f"rope_type must be 'interleaved' or 'split', got {self.rope_type!r}")
        if self.frequencies_precision not in ("float32", "float64"):
            raise ConfigError(
                f"frequencies_precision must be 'float32' or 'float64', got {self.frequencies_precision!r}"
            )
        for name in ("attention_head_dim", "audio_attention_head_dim"):
            if getattr(self, name) % 2:
                raise ConfigError(f"{name} must be even for rotary embeddings, got {getattr(self, name)}")
        if self.cross_attention_dim != self.inner_dim:
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
        return cls(**values, has_audio=has_audio)

    def to_metadata(self) -> dict[str, Any]:
        """The `config["transformer"]` section the official loader reads (fixed keys included)."""
        out: dict[str, Any] = dict(_FIXED_TRANSFORMER_KEYS)
        out["use_audio_video_cross_attention"] = self.has_audio
        for f in dataclasses.fields(self):
            if f.name != "has_audio":
                value = getattr(self, f.name)
                out[f.name] = list(value) if isinstance(value, tuple) else value
        return out

    def replace(self, **changes: Any) -> TransformerConfig:
        return dataclasses.replace(self, **changes)


# Shipped values, as the published files' metadata carries them (REFERENCE.md §1-2). Real files
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

PRESETS: dict[str, TransformerConfig] = {
    "ltx-2-19b": LTX2_19B,
    "ltx-2.3-22b": LTX2_3_22B,
}


def preset(name: str) -> TransformerConfig:
    try:
        return PRESETS[name]
    except KeyError:
        raise ConfigError(f"unknown preset {name!r}; known: {', '.join(sorted(PRESETS))}") from None


__all__ = ["ConfigError", "TransformerConfig", "LTX2_19B", "LTX2_3_22B", "PRESETS", "preset"]


# --------------------------------------------------------------------------------------------------
# Video VAE (LTX-2 and LTX-Video 0.9.x share the building blocks; the two official codebases read
# the same `config["vae"]` keys with different defaults, so the family is part of the config).

_ENCODER_BLOCKS = {
    "res_x", "res_x_y", "compress_time", "compress_space", "compress_all", "compress_all_x_y",
    "compress_all_res", "compress_space_res", "compress_time_res",
}  # fmt: skip
_DECODER_BLOCKS = {"res_x", "res_x_y", "compress_time", "compress_space", "compress_all"}
VAE_FAMILIES = ("ltx2", "ltxv")  # ltx-core (LTX-2) / ltx-video (LTX-Video 0.9.x) semantics


def _blocks(raw: Any) -> tuple[tuple[str, dict[str, Any]], ...]:
    out = []
    for item in raw or ():
        name, params = item
        out.append((name, {"num_layers": params} if isinstance(params, int) else dict(params or {})))
    return tuple(out)


@dataclass(frozen=True)
class VideoVAEConfig:
    """The causal video VAE (`config["vae"]`). Block lists are (name, params) in ENCODER order for
    both halves (the decoder builds its list reversed), params normalised to dicts."""

    family: str = "ltx2"
    latent_channels: int = 128
    in_channels: int = 3
    out_channels: int = 3
    patch_size: int = 4
    norm_layer: str = "pixel_norm"  # "pixel_norm" | "group_norm" | "layer_norm" (ltxv)
    latent_log_var: str = "uniform"  # "uniform" | "per_channel" | "constant" | "none"
    encoder_blocks: tuple = ()
    decoder_blocks: tuple = ()
    encoder_base_channels: int = 128  # conv_in width; LTX-2 uses latent_channels
    decoder_base_channels: int = 128
    encoder_padding: str = "zeros"  # spatial padding of the convs: "zeros" | "reflect" | "replicate"
    decoder_padding: str = "reflect"
    causal_decoder: bool = False
    timestep_conditioning: bool = False
    use_quant_conv: bool = False  # ltxv only: 1x1 convs around the latent

    def __post_init__(self) -> None:
        if self.family not in VAE_FAMILIES:
            raise ConfigError(f"unknown VAE family {self.family!r}; expected one of {VAE_FAMILIES}")
        for half, names, blocks in (
            ("encoder", _ENCODER_BLOCKS, self.encoder_blocks),
            ("decoder", _DECODER_BLOCKS, self.decoder_blocks),
        ):
            for name, params in blocks:
                if name not in names:
                    raise ConfigError(f"unsupported {half} block {name!r} (supported: {', '.join(sorted(names))})")
                if (
                    self.family == "ltxv"
                    and half == "decoder"
                    and name in ("compress_time", "compress_space")
                    and params.get("multiplier", 1) != 1
                ):
                    raise ConfigError(
                        f"ltx-video ignores the multiplier of a decoder {name} block; this config cannot be built"
                    )
        if self.norm_layer not in ("pixel_norm", "group_norm", "layer_norm"):
            raise ConfigError(f"unsupported norm_layer {self.norm_layer!r}")
        if self.norm_layer == "layer_norm" and self.family != "ltxv":
            raise ConfigError("norm_layer 'layer_norm' exists only in ltx-video (LTX-Video 0.9.x) files")
        if self.latent_log_var not in ("uniform", "per_channel", "constant", "none"):
            raise ConfigError(f"unsupported latent_log_var {self.latent_log_var!r}")
        if self.use_quant_conv and (self.family != "ltxv" or self.latent_log_var in ("uniform", "constant")):
            raise ConfigError("use_quant_conv needs an ltx-video file with latent_log_var 'per_channel' or 'none'")

    @property
    def decoder_width(self) -> int:
        """Channels after the decoder's conv_in. ltx-core fixes it at 8x base (three x2 upsamplers);
        ltx-video multiplies base by every channel multiplier in the list."""
        if self.family == "ltx2":
            return self.decoder_base_channels * 8
        width = self.decoder_base_channels
        for name, params in self.decoder_blocks:
            if name == "res_x_y":
                width *= params.get("multiplier", 2)
            elif name.startswith("compress"):
                width *= params.get("multiplier", 1)
        return width

    @classmethod
    def from_metadata(cls, section: dict[str, Any], family: str) -> VideoVAEConfig:
        """Build from `config["vae"]` with the defaults of the family's official code."""
        dims = section.get("dims", 3)
        if dims != 3:
            raise ConfigError(f"unsupported VAE dims={dims!r}: only 3-D (causal Conv3d) VAEs are implemented")
        if section.get("normalize_latent_channels", False):
            raise ConfigError("normalize_latent_channels=True (BatchNorm on the latent) is not supported")
        ltxv = family == "ltxv"
        if ltxv:
            log_var = section.get("latent_log_var", "per_channel" if section.get("double_z", True) else "none")
        else:
            log_var = section.get("latent_log_var", "uniform")
        padding = section.get("spatial_padding_mode")
        return cls(
            family=family,
            latent_channels=section.get("latent_channels", 128),
            in_channels=section.get("in_channels", 3),
            out_channels=section.get("out_channels", 3),
            patch_size=section.get("patch_size", 1 if ltxv else 4),
            norm_layer=section.get("norm_layer", "group_norm" if ltxv else "pixel_norm"),
            latent_log_var=log_var,
            encoder_blocks=_blocks(section.get("encoder_blocks", section.get("blocks") if ltxv else None)),
            decoder_blocks=_blocks(section.get("decoder_blocks", section.get("blocks") if ltxv else None)),
            encoder_base_channels=section.get("encoder_base_channels", 128)
            if ltxv
            else section.get("latent_channels", 128),
            decoder_base_channels=section.get("decoder_base_channels", 128),
            encoder_padding=padding or "zeros",
            decoder_padding=padding or ("zeros" if ltxv else "reflect"),
            causal_decoder=section.get("causal_decoder", False),
            timestep_conditioning=section.get("timestep_conditioning", not ltxv),
            use_quant_conv=section.get("use_quant_conv", True) if ltxv else False,
        )

    def to_metadata(self) -> dict[str, Any]:
        """A `config["vae"]` section both official loaders read back as this config."""
        out: dict[str, Any] = {
            "_class_name": "CausalVideoAutoencoder",
            "dims": 3,
            "latent_channels": self.latent_channels,
            "in_channels": self.in_channels,
            "out_channels": self.out_channels,
            "patch_size": self.patch_size,
            "norm_layer": self.norm_layer,
            "latent_log_var": self.latent_log_var,
            "decoder_base_channels": self.decoder_base_channels,
            "causal_decoder": self.causal_decoder,
            "timestep_conditioning": self.timestep_conditioning,
        }
        if self.family == "ltxv" and self.encoder_blocks == self.decoder_blocks:
            out["blocks"] = [[n, p] for n, p in self.encoder_blocks]  # the legacy shared list (0.9.0)
        else:
            out["encoder_blocks"] = [[n, p] for n, p in self.encoder_blocks]
            out["decoder_blocks"] = [[n, p] for n, p in self.decoder_blocks]
        defaults = ("zeros", "zeros") if self.family == "ltxv" else ("zeros", "reflect")
        if self.encoder_padding == self.decoder_padding:
            out["spatial_padding_mode"] = self.encoder_padding
        elif (self.encoder_padding, self.decoder_padding) != defaults:
            raise ConfigError("one spatial_padding_mode key serves both halves; only the code defaults differ")
        if self.family == "ltxv":
            out["encoder_base_channels"] = self.encoder_base_channels
            out["use_quant_conv"] = self.use_quant_conv
        return out

    def replace(self, **changes: Any) -> VideoVAEConfig:
        return dataclasses.replace(self, **changes)


@dataclass(frozen=True)
class UpsamplerConfig:
    """A latent upsampler file's `config` (ltx-core defaults where a key is absent)."""

    in_channels: int = 128
    mid_channels: int = 512
    num_blocks_per_stage: int = 4
    dims: int = 3
    spatial_upsample: bool = True
    temporal_upsample: bool = False
    spatial_scale: float = 2.0
    rational_resampler: bool = False

    def __post_init__(self) -> None:
        if self.dims not in (2, 3):
            raise ConfigError(f"upsampler dims must be 2 or 3, got {self.dims}")
        if not (self.spatial_upsample or self.temporal_upsample):
            raise ConfigError("an upsampler must upsample in space, time or both")
        if self.rational_resampler and self.spatial_scale not in (0.75, 1.5, 2.0, 4.0):
            raise ConfigError(f"rational spatial_scale must be 0.75, 1.5, 2.0 or 4.0, got {self.spatial_scale}")

    @classmethod
    def from_metadata(cls, section: dict[str, Any]) -> UpsamplerConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in section.items() if k in known})

    def to_metadata(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def replace(self, **changes: Any) -> UpsamplerConfig:
        return dataclasses.replace(self, **changes)


def _res(n: int, **extra: Any) -> tuple[str, dict[str, Any]]:
    return ("res_x", {"num_layers": n, **extra})


_UP_RES = ("compress_all", {"residual": True, "multiplier": 2})

# The published VAE layouts (REFERENCE.md §3; the files carry their own config, these are for
# meta-device structure checks and files whose metadata was stripped).
LTX2_VAE = VideoVAEConfig(
    family="ltx2",
    encoder_blocks=(
        _res(4), ("compress_space_res", {"multiplier": 2}), _res(6), ("compress_time_res", {"multiplier": 2}), _res(6),
        ("compress_all_res", {"multiplier": 2}), _res(2), ("compress_all_res", {"multiplier": 2}), _res(2),
    ),
    decoder_blocks=(_res(5), _UP_RES, _res(5), _UP_RES, _res(5), _UP_RES, _res(5)),
    timestep_conditioning=False,
)  # fmt: skip
LTXV_0_9_1_VAE = VideoVAEConfig(
    family="ltxv",
    patch_size=4,
    norm_layer="pixel_norm",
    latent_log_var="uniform",
    encoder_blocks=(
        _res(4), ("compress_all", {}), ("res_x_y", {"multiplier": 2}), _res(3), ("compress_all", {}),
        ("res_x_y", {"multiplier": 2}), _res(3), ("compress_all", {}), _res(3), _res(4),
    ),
    decoder_blocks=(
        _res(5, inject_noise=True), _UP_RES, _res(6, inject_noise=True), _UP_RES, _res(7, inject_noise=True), _UP_RES,
        _res(8, inject_noise=False),
    ),
    decoder_padding="zeros",
    timestep_conditioning=True,
)  # fmt: skip
LTXV_0_9_5_VAE = LTXV_0_9_1_VAE.replace(
    encoder_blocks=LTX2_VAE.encoder_blocks,
    decoder_blocks=tuple(
        (n, {**p, "inject_noise": False}) if n == "res_x" else (n, p) for n, p in LTX2_VAE.decoder_blocks
    ),
)

VAE_PRESETS: dict[str, VideoVAEConfig] = {
    "ltx-2": LTX2_VAE,
    "ltx-video-0.9.1": LTXV_0_9_1_VAE,
    "ltx-video-0.9.5": LTXV_0_9_5_VAE,
}
