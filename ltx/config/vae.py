"""The causal video VAE's config (`config["vae"]`), the latent upsampler's, and the shipped VAE presets."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from ltx.config.base import ConfigError, check_values

# LTX-2 and LTX-Video 0.9.x share the building blocks; the two official codebases read the same
# `config["vae"]` keys with different defaults, so the family is part of the config.


_ENCODER_BLOCKS = {
    "res_x", "res_x_y", "compress_time", "compress_space", "compress_all", "compress_all_x_y",
    "compress_all_res", "compress_space_res", "compress_time_res", "attn",
}  # fmt: skip
_DECODER_BLOCKS = {"res_x", "res_x_y", "compress_time", "compress_space", "compress_all", "attn"}
VAE_FAMILIES = ("ltx2", "ltxv")  # ltx-core (LTX-2) / ltx-video (LTX-Video 0.9.x) semantics
CONV_VAE = "CausalVideoAutoencoder"  # `vae._class_name` of the convolutional VAE
DIFFUSION_VAE = "CausalDiffusionVAE"  # ... of the LTX-2.5 VAE whose decoder is a diffusion model (ltx.vae.diffusion)


def scale_factors(blocks: tuple, patch_size: int) -> tuple[int, int]:
    """(time, space) compression of a block list: every compress_* block strides its axes by 2
    (whatever its channel multiplier), and the patchify adds patch_size in space."""
    time = space = 1
    for name, _ in blocks:
        time *= 2 if name.startswith(("compress_time", "compress_all")) else 1
        space *= 2 if name.startswith(("compress_space", "compress_all")) else 1
    return time, patch_size * space


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
    class_name: str = CONV_VAE  # DIFFUSION_VAE: only the encoder is described here (the decoder is not convolutional)

    def __post_init__(self) -> None:
        if self.family not in VAE_FAMILIES:
            raise ConfigError(f"unknown VAE family {self.family!r}; expected one of {VAE_FAMILIES}")
        if self.class_name not in (CONV_VAE, DIFFUSION_VAE):
            raise ConfigError(f"unknown VAE _class_name {self.class_name!r}; expected {CONV_VAE} or {DIFFUSION_VAE}")
        for half, names, blocks in (
            ("encoder", _ENCODER_BLOCKS, self.encoder_blocks),
            ("decoder", _DECODER_BLOCKS, self.decoder_blocks),
        ):
            for name, params in blocks:
                if name == "attn_res_x":
                    raise ConfigError(
                        f"{half} block 'attn_res_x' cannot be built: ltx-core (1.0.0 and 1.2.0) passes it an "
                        "attention_head_dim that its residual group does not take, and no published file uses it"
                    )
                if name not in names:
                    raise ConfigError(f"unsupported {half} block {name!r} (supported: {', '.join(sorted(names))})")
                if name == "attn" and self.family == "ltxv":
                    raise ConfigError("'attn' blocks exist only in ltx-core (LTX-2) VAEs, not in ltx-video files")
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
        if self.encoder_blocks and self.decoder_blocks:
            enc, dec = (scale_factors(b, self.patch_size) for b in (self.encoder_blocks, self.decoder_blocks))
            if enc != dec:
                raise ConfigError(f"the encoder compresses (time, space) by {enc} but the decoder expands by {dec}")

    @property
    def time_scale(self) -> int:
        """Pixel frames per latent frame (after the first): 8 for the shipped VAEs."""
        return scale_factors(self.decoder_blocks or self.encoder_blocks, self.patch_size)[0]

    @property
    def space_scale(self) -> int:
        """Pixels per latent cell along height and width: 32 for the shipped VAEs."""
        return scale_factors(self.decoder_blocks or self.encoder_blocks, self.patch_size)[1]

    @property
    def decoder_width(self) -> int:
        """Channels after the decoder's conv_in: base times every channel multiplier in the list (the
        decoder divides by them on its way up), e.g. 8x base for three x2 upsamplers."""
        width = self.decoder_base_channels
        for name, params in self.decoder_blocks:
            if name == "res_x_y":
                width *= params.get("multiplier", 2)
            elif name.startswith("compress"):
                width *= params.get("multiplier", 1)
        return width

    @classmethod
    def from_metadata(cls, section: dict[str, Any], family: str) -> VideoVAEConfig:
        """Build from `config["vae"]` with the defaults of the family's official code. A diffusion VAE
        (`_class_name` CausalDiffusionVAE) describes its convolutional encoder in a nested `encoder`
        section; only that half is read here."""
        check_values(cls, section, "vae")
        class_name = section.get("_class_name", CONV_VAE)
        if class_name == DIFFUSION_VAE:
            return cls._diffusion_encoder(section)
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
        encoder_padding = padding or ("zeros" if ltxv else section.get("encoder_spatial_padding_mode", "zeros"))
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
            encoder_padding=encoder_padding,
            decoder_padding=padding or ("zeros" if ltxv else "reflect"),
            causal_decoder=section.get("causal_decoder", False),
            timestep_conditioning=section.get("timestep_conditioning", not ltxv),
            use_quant_conv=section.get("use_quant_conv", True) if ltxv else False,
            class_name=class_name,
        )

    @classmethod
    def _diffusion_encoder(cls, section: dict[str, Any]) -> VideoVAEConfig:
        enc = section.get("encoder")
        if not isinstance(enc, dict):
            raise ConfigError(f"a {DIFFUSION_VAE} config needs a nested 'encoder' section; this one has none")
        if enc.get("dims", section.get("dims", 3)) != 3:
            raise ConfigError("unsupported VAE dims: only 3-D (causal Conv3d) encoders are implemented")
        latent = enc.get("out_channels", section.get("latent_channels", 128))
        return cls(
            family="ltx2",
            latent_channels=latent,
            in_channels=enc.get("in_channels", 3),
            patch_size=enc.get("patch_size", 4),
            norm_layer=enc.get("norm_layer", "pixel_norm"),
            latent_log_var=enc.get("latent_log_var", "uniform"),
            encoder_blocks=_blocks(enc.get("blocks", enc.get("encoder_blocks"))),
            encoder_base_channels=latent,
            encoder_padding=enc.get("spatial_padding_mode", section.get("encoder_spatial_padding_mode", "zeros")),
            class_name=DIFFUSION_VAE,
        )

    def to_metadata(self) -> dict[str, Any]:
        """A `config["vae"]` section both official loaders read back as this config (for a diffusion
        VAE: its `encoder` section; the decoder's keys belong to ltx.vae.diffusion)."""
        if self.class_name == DIFFUSION_VAE:
            encoder = {
                "blocks": [[n, p] for n, p in self.encoder_blocks],
                "out_channels": self.latent_channels,
                "in_channels": self.in_channels,
                "patch_size": self.patch_size,
                "norm_layer": self.norm_layer,
                "latent_log_var": self.latent_log_var,
                "spatial_padding_mode": self.encoder_padding,
            }
            return {"_class_name": DIFFUSION_VAE, "latent_channels": self.latent_channels, "encoder": encoder}
        out: dict[str, Any] = {
            "_class_name": CONV_VAE,
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
        check_values(cls, section, "upsampler")
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in section.items() if k in known})

    def to_metadata(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def replace(self, **changes: Any) -> UpsamplerConfig:
        return dataclasses.replace(self, **changes)


def _res(n: int, **extra: Any) -> tuple[str, dict[str, Any]]:
    return ("res_x", {"num_layers": n, **extra})


_UP_RES = ("compress_all", {"residual": True, "multiplier": 2})

# The published VAE layouts (the files carry their own config, these are for
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

# The LTX-2.5 latent upscaler files carry their own config; these are what the manifests assume for
# full-size structure checks: the spatial x2 laid out as LTX-2's (mid 1024, rational resampler), the
# temporal x2 as LTX-Video 0.9.7's (mid 512, F -> 2F - 1).
UPSAMPLER_PRESETS: dict[str, UpsamplerConfig] = {
    "ltx-2.5-spatial-upscaler-x2": UpsamplerConfig(mid_channels=1024, rational_resampler=True),
    "ltx-2.5-temporal-upscaler-x2": UpsamplerConfig(mid_channels=512, spatial_upsample=False, temporal_upsample=True),
}
# The LTX-2.5 convolutional VAE file (vae/ltx-2.5-video-vae-conv): its config is not published; the
# manifest assumes LTX-2's layout (the 2.5 pipelines tile it with LTX-2's 32x32x8 factors), bare keys.
LTX2_5_CONV_VAE = LTX2_VAE
