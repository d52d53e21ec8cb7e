"""Video VAE and latent upsampler parity, stage by stage (PARITY.md).

The same file is loaded by our loader and the official one (ltx-core for LTX-2 files, ltx-video
for LTX-Video files); both run the same inputs and every stage's output is compared: conv_in, each
down/up block, conv_out and the result, for the encoder, the decoder (timestep-conditioned decoders
with their default and with per-sample timesteps; noise comes from the same seed, drawn in the
official order), ltx-core's tiled decode (each yielded chunk) and tiled encode, and the upsamplers.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from contextlib import contextmanager

import torch

from ltx.checkpoint import Checkpoint
from ltx.parity.compare import Row, compare_exact, compare_lowp
from ltx.parity.hooks import capture
from ltx.parity.oracle import OfficialUpsampler, OfficialVideoVAE
from ltx.vae import (
    Tiling,
    load_latent_upsampler,
    load_video_decoder,
    load_video_encoder,
    tiled_decode,
    tiled_encode,
    upsample_latents,
    vae_config,
)
from ltx.vae.upsampler import adain

# Small but real shapes: 17 frames of 64 x 96 <-> 3 x 2 x 3 latents, batch 2.
VIDEO_SHAPE = (2, 3, 17, 64, 96)
TILED_DECODE_LATENT = (1, 128, 5, 4, 3)
TILED_DECODE = Tiling(tile_px=64, overlap_px=32, tile_frames=16, overlap_frames=8)
TILED_ENCODE_VIDEO = (1, 3, 33, 128, 96)
TILED_ENCODE = Tiling(tile_px=96, overlap_px=64, tile_frames=24, overlap_frames=16)


def _stages(module: torch.nn.Module, blocks: str) -> list[str]:
    return ["conv_in", *(f"{blocks}.{i}" for i in range(len(getattr(module, blocks)))), "conv_out.conv"]


class OursVAE:
    """Our encoder and decoder behind the same calls as OfficialVideoVAE."""

    def __init__(self, path, device: torch.device, dtype: torch.dtype, edit: Callable | None = None):
        ckpt = Checkpoint(path)
        self.family = vae_config(ckpt).family
        self.encoder = load_video_encoder(ckpt, device=device, dtype=dtype)
        self.decoder = load_video_decoder(ckpt, device=device, dtype=dtype)
        if edit is not None:
            edit(self.encoder, self.decoder)

    def encode(self, video, seed):
        return self.encoder(video, sample=self.family == "ltxv", generator=_gen(seed, video.device))

    def decode(self, latent, timestep, noise_scale, seed):
        return self.decoder(latent, timestep=timestep, noise_scale=noise_scale, generator=_gen(seed, latent.device))

    def tiled_decode(self, latent, tiling, seed):
        return list(tiled_decode(self.decoder, latent, tiling, generator=_gen(seed, latent.device)))

    def tiled_encode(self, video, tiling):
        return tiled_encode(self.encoder, video, tiling)


def _gen(seed: int, device: torch.device) -> torch.Generator:
    return torch.Generator(device).manual_seed(seed)


def vae_inputs(latent_channels: int, seed: int) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    b, _, f, h, w = VIDEO_SHAPE
    return {
        "video": torch.rand(VIDEO_SHAPE, generator=g) * 2 - 1,
        "latent": torch.randn(b, latent_channels, (f - 1) // 8 + 1, h // 32, w // 32, generator=g),
        "big_latent": torch.randn(TILED_DECODE_LATENT, generator=g),
        "clip": torch.rand(TILED_ENCODE_VIDEO, generator=g) * 2 - 1,
    }


def run_vae(vae, cfg, inputs: dict[str, torch.Tensor], seed: int) -> dict[str, torch.Tensor]:
    """Every stage's output of every pass, on the CPU in float32."""
    out: dict[str, torch.Tensor] = {}
    video, latent = inputs["video"], inputs["latent"]
    out |= capture(vae.encoder, _stages(vae.encoder, "down_blocks"), lambda: vae.encode(video, seed), "encode")
    cases = {"decode": (0.05, 0.025)}
    if cfg.timestep_conditioning:  # ltx-core fixes the decode noise at 0.025; ltx-video takes it per sample
        b = latent.shape[0]
        noise = 0.025 if cfg.family == "ltx2" else torch.linspace(0.025, 0.1, b)
        cases["decode_t_per_sample"] = (torch.linspace(0.05, 0.2, b), noise)
    stages = _stages(vae.decoder, "up_blocks")
    for name, (t, s) in cases.items():
        out |= capture(vae.decoder, stages, lambda t=t, s=s: vae.decode(latent, t, s, seed), name)
    if cfg.family == "ltx2":  # tiling exists in ltx-core only
        with torch.no_grad():
            chunks = vae.tiled_decode(inputs["big_latent"], TILED_DECODE, seed)
            out |= {f"tiled_decode/chunk{i}": c.float().cpu() for i, c in enumerate(chunks)}
            out["tiled_encode/out"] = vae.tiled_encode(inputs["clip"], TILED_ENCODE).float().cpu()
    return out


def vae_parity(
    path: str | os.PathLike,
    *,
    device: str | torch.device = "cpu",
    dtype: torch.dtype = torch.float32,
    group: str | None = None,
    seed: int = 0,
    edit_ours: Callable | None = None,
) -> list[Row]:
    """Rows for every stage. In low precision the official float32 run is the reference (inputs
    rounded to `dtype` first) and the official low-precision run sets the tolerance."""
    device = torch.device(device)
    cfg = vae_config(Checkpoint(path))
    group = group or os.path.basename(str(path))
    inputs = vae_inputs(cfg.latent_channels, seed)
    lowp = {k: v.to(device, dtype) for k, v in inputs.items()}
    ref = run_vae(OfficialVideoVAE(path, cfg.family, device, dtype), cfg, lowp, seed)
    got = run_vae(OursVAE(path, device, dtype, edit_ours), cfg, lowp, seed)
    if dtype == torch.float32:
        return compare_exact(group, got, ref)
    rounded = {k: v.float() for k, v in lowp.items()}
    with noise_drawn_in(dtype):
        ref32 = run_vae(OfficialVideoVAE(path, cfg.family, device, torch.float32), cfg, rounded, seed)
    return compare_lowp(group, got, ref, ref32)


@contextmanager
def noise_drawn_in(dtype: torch.dtype):
    """Within: float32 Gaussian noise is drawn in `dtype` and cast up, so that a float32 reference
    sees the very noise values a low-precision run draws (torch draws different numbers per dtype)."""
    randn, randn_like = torch.randn, torch.randn_like

    def low_randn(*size, dtype=None, **kwargs):
        if dtype in (None, torch.float32):
            return randn(*size, dtype=low, **kwargs).float()
        return randn(*size, dtype=dtype, **kwargs)

    def low_randn_like(x, *args, **kwargs):
        return low_randn(x.shape, dtype=kwargs.pop("dtype", x.dtype), device=kwargs.pop("device", x.device), **kwargs)

    low = dtype
    torch.randn, torch.randn_like = low_randn, low_randn_like
    try:
        yield
    finally:
        torch.randn, torch.randn_like = randn, randn_like


def upsampler_parity(
    path: str | os.PathLike,
    vae_path: str | os.PathLike,
    *,
    device: str | torch.device = "cpu",
    dtype: torch.dtype = torch.float32,
    group: str | None = None,
    seed: int = 0,
) -> list[Row]:
    """The upsampler in `path` on latents normalised with the statistics of the VAE in `vae_path`
    (whose family decides the oracle: ltx-core, or ltx-video with its multi-scale AdaIN)."""
    device = torch.device(device)
    family = vae_config(Checkpoint(vae_path)).family
    group = group or os.path.basename(str(path))
    ours = load_latent_upsampler(path, device=device, dtype=dtype)
    stats = load_video_encoder(vae_path, device=device, dtype=dtype).per_channel_statistics
    latent = torch.randn(2, ours.cfg.in_channels, 3, 4, 6, generator=torch.Generator().manual_seed(seed))
    blocks = lambda name: [f"{name}.{i}" for i in range(len(getattr(ours, name)))]  # noqa: E731
    stages = ["initial_conv", *blocks("res_blocks"), "upsampler", *blocks("post_upsample_res_blocks"), "final_conv"]

    def official(run_dtype: torch.dtype) -> dict[str, torch.Tensor]:
        up, vae = (
            OfficialUpsampler(path, family, device, run_dtype),
            OfficialVideoVAE(vae_path, family, device, run_dtype),
        )
        x = latent.to(device, dtype).to(run_dtype)
        return capture(up.module, stages, lambda: up(x, vae), "upsample")

    def run_ours() -> torch.Tensor:
        x = latent.to(device, dtype)
        up = upsample_latents(x, ours, stats)
        return adain(up, x) if family == "ltxv" else up

    got = capture(ours, stages, run_ours, "upsample")
    if dtype == torch.float32:
        return compare_exact(group, got, official(dtype))
    return compare_lowp(group, got, official(dtype), official(torch.float32))
