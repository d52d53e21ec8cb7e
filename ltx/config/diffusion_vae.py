"""The LTX-2.5 diffusion video decoder's config (`config["vae"]` with `_class_name` "CausalDiffusionVAE").

The file nests the decoder's keys under `vae.decoder` (and the conv encoder's under `vae.encoder`);
`model_output_type` sits beside them at the `vae` level. Absent keys take the official defaults.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

from ltx.config.base import ConfigError, check_values
from ltx.config.vae import DIFFUSION_VAE as DIFFUSION_VAE_CLASS

Kernel = tuple[int, int, int]


def default_rope_split(head_dim: int) -> Kernel:
    """How a head's channels are shared between the (T, H, W) rotary axes: a quarter (even) to T, the
    rest halved for H and W, each part even. head_dim 64 -> (16, 24, 24)."""
    d_t = head_dim // 4 // 2 * 2
    d_hw = (head_dim - d_t) // 2
    if d_hw % 2:
        d_t -= 2
        d_hw = (head_dim - d_t) // 2
    return d_t, d_hw, d_hw


@dataclass(frozen=True)
class DiffusionDecoderConfig:
    """Stages 1-4 turn the latent into a context volume (neighbourhood-attention blocks, then a linear
    pixel-shuffle upsample each); stage 5 denoises patchified pixels against that context in
    `default_num_inference_steps` Euler steps. `upsamples[i]` = ((stride t, h, w), channel reduction)."""

    in_channels: int = 128
    out_channels: int = 3
    patch_size: int = 4
    head_dim: int = 64
    t_emb_dim: int = 384
    default_num_inference_steps: int = 2
    timestep_scale_multiplier: float = 1.0
    stage_channels: tuple[int, ...] = (1024, 512, 256, 256, 128)
    stage_depths: tuple[int, ...] = (4, 6, 4, 2, 8)
    stage_kernels: tuple[Kernel, ...] = ((3, 7, 7), (3, 7, 7), (3, 5, 5), (3, 5, 5), (3, 3, 3))
    upsamples: tuple[tuple[Kernel, int], ...] = (((1, 2, 2), 2), ((2, 1, 1), 2), ((2, 2, 2), 1), ((2, 2, 2), 2))
    stage5_kernel: Kernel = (3, 7, 7)
    stage5_channels: int | None = None  # None: the context width, stage_channels[-1]
    model_output_type: str = "v"  # "v" (velocity) or "x0" (clean pixels)

    def __post_init__(self) -> None:
        n = len(self.stage_channels)
        if n != 5 or len(self.stage_depths) != n or len(self.stage_kernels) != n or len(self.upsamples) != n - 1:
            raise ConfigError(
                "a diffusion decoder has 5 stages: stage_channels, stage_depths and stage_kernels need 5 entries "
                f"and upsamples 4 (got {len(self.stage_channels)}, {len(self.stage_depths)}, "
                f"{len(self.stage_kernels)}, {len(self.upsamples)})"
            )
        if self.model_output_type not in ("v", "x0"):
            raise ConfigError(f"model_output_type must be 'v' or 'x0', got {self.model_output_type!r}")
        if self.default_num_inference_steps < 1:
            raise ConfigError(f"default_num_inference_steps must be >= 1, got {self.default_num_inference_steps}")
        for c in (*self.stage_channels, self.c5):
            if c % self.head_dim:
                raise ConfigError(f"stage widths {self.stage_channels} / {self.c5} must be multiples of head_dim")
        if self.head_dim % 8 or min(self.rope_split) <= 0:
            raise ConfigError(f"head_dim must be a multiple of 8 with room for 3 rotary axes, got {self.head_dim}")
        for i, (stride, reduction) in enumerate(self.upsamples):
            width = math.prod(stride) * self.stage_channels[i] // reduction // math.prod(stride)
            if stride[0] not in (1, 2) or width != self.stage_channels[i + 1]:
                raise ConfigError(
                    f"upsample {i} (stride {stride}, reduction {reduction}) turns {self.stage_channels[i]} channels "
                    f"into {width}, but stage {i + 1} has {self.stage_channels[i + 1]} (time strides must be 1 or 2)"
                )
        scale = [math.prod(s[a] for s, _ in self.upsamples) for a in range(3)]
        if scale != [8, 32 // self.patch_size, 32 // self.patch_size] or 32 % self.patch_size:
            raise ConfigError(f"the upsamples must scale the latent by 8 x 32 x 32 with the patch; got {scale}")

    @property
    def context_channels(self) -> int:
        return self.stage_channels[-1]

    @property
    def c5(self) -> int:
        """Stage-5 width."""
        return self.stage5_channels if self.stage5_channels is not None else self.stage_channels[-1]

    @property
    def rope_split(self) -> Kernel:
        return default_rope_split(self.head_dim)

    @property
    def trailing_latent_frames(self) -> int:
        """Copies of the last latent frame appended before stage 1 (cropped again before stage 5), so that
        the last frames' temporal windows are not shifted inward."""
        return self.stage_kernels[0][0] // 2 * 2

    @property
    def min_latent(self) -> Kernel:
        """The smallest latent (T, H, W) for which every stage's grid holds its attention window; smaller
        latents are edge-padded up to it and the padding cropped from the pixels."""
        mins, strides = [1, 1, 1], [1, 1, 1]
        for i in range(4):
            mins = [max(m, -(-self.stage_kernels[i][a] // strides[a])) for a, m in enumerate(mins)]
            strides = [s * self.upsamples[i][0][a] for a, s in enumerate(strides)]
        return tuple(max(m, -(-self.stage5_kernel[a] // strides[a])) for a, m in enumerate(mins))  # type: ignore[return-value]

    @property
    def tile_scale(self) -> Kernel:
        """Frames / pixels per cell of stage 4's input (its upsample times the patch): tiles are cut there."""
        st, sh, sw = self.upsamples[3][0]
        return st, sh * self.patch_size, sw * self.patch_size

    @property
    def tile_min(self) -> Kernel:
        """The smallest tile of stage 4's input (T, H, W) on which both stage 4's and stage 5's windows fit."""
        k4, k5, stride = self.stage_kernels[3], self.stage5_kernel, self.upsamples[3][0]
        return tuple(max(k4[a], -(-k5[a] // stride[a])) for a in range(3))  # type: ignore[return-value]

    @property
    def tile_overlap(self) -> tuple[int, int]:
        """The least overlap of neighbouring tiles (frames, pixels): how far stage 4's and stage 5's blocks
        see past a tile's edge (depth x half window, in cells of stage 4's input), rounded up to whole latent
        steps of 8 frames / 32 pixels."""
        (k4, d4), (k5, d5) = (self.stage_kernels[3], self.stage_depths[3]), (self.stage5_kernel, self.stage_depths[4])
        stride, scale = self.upsamples[3][0], self.tile_scale
        reach = [max(d4 * (k4[a] // 2), -(-(d5 * (k5[a] // 2)) // stride[a])) for a in range(3)]
        up = lambda n, m: -(-n // m) * m  # noqa: E731
        return up(reach[0] * scale[0], 8), up(max(reach[1], reach[2]) * scale[1], 32)

    @classmethod
    def from_metadata(cls, section: dict[str, Any]) -> DiffusionDecoderConfig:
        """From `config["vae"]`: the decoder's keys under `decoder` (or, in older configs, flat)."""
        check_values(cls, section, "vae")
        name = section.get("_class_name")
        if name != DIFFUSION_VAE_CLASS:
            raise ConfigError(f"config.vae._class_name is {name!r}, not {DIFFUSION_VAE_CLASS!r}: not a diffusion VAE")
        dec = section.get("decoder", section)
        known: dict[str, Any] = {}
        for key in ("stage_channels", "stage_depths"):
            if key in dec:
                known[key] = tuple(dec[key])
        if "stage_kernels" in dec:
            known["stage_kernels"] = tuple(tuple(k) for k in dec["stage_kernels"])
        if "upsamples" in dec:
            known["upsamples"] = tuple((tuple(s), r) for s, r in dec["upsamples"])
        if "stage5_kernel" in dec:
            known["stage5_kernel"] = tuple(dec["stage5_kernel"])
        for key in ("out_channels", "patch_size", "t_emb_dim", "default_num_inference_steps",
                    "timestep_scale_multiplier", "stage5_channels"):  # fmt: skip
            if key in dec:
                known[key] = dec[key]
        return cls(
            in_channels=dec.get("in_channels", section.get("latent_channels", 128)),
            head_dim=dec.get("head_dim", dec.get("na_head_dim", 64)),
            model_output_type=section.get("model_output_type", "v"),
            **known,
        )

    def to_metadata(self) -> dict[str, Any]:
        """The `decoder` entry of a `config["vae"]` section (put `model_output_type` beside it)."""
        out = dataclasses.asdict(self)
        out.pop("model_output_type")
        if self.stage5_channels is None:
            out.pop("stage5_channels")
        out["stage_kernels"] = [list(k) for k in self.stage_kernels]
        out["upsamples"] = [[list(s), r] for s, r in self.upsamples]
        out["stage5_kernel"] = list(self.stage5_kernel)
        out["stage_channels"], out["stage_depths"] = list(self.stage_channels), list(self.stage_depths)
        return out

    def replace(self, **changes: Any) -> DiffusionDecoderConfig:
        return dataclasses.replace(self, **changes)


LTX2_5_DIFFUSION_DECODER = DiffusionDecoderConfig()
