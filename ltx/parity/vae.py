"""Video VAE and latent upsampler parity, stage by stage.

The same file is loaded by our loader and the official one (ltx-core for LTX-2 files, ltx-video
for LTX-Video files); both run the same inputs and every stage's output is compared: conv_in, each
down/up block, conv_out and the result, for the encoder, the decoder (timestep-conditioned decoders
with their default and with per-sample timesteps; noise comes from the same seed, drawn in the
official order), ltx-core 1.2.0's tiled decode (each yielded chunk, also as its decode_video frames)
and tiled encode, its pipelines' memory-efficient decoder (channels-last: within 1e-5, not bitwise,
as the same arithmetic in another memory layout rounds differently), and the upsamplers.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from contextlib import contextmanager

import torch

from ltx.checkpoint import Checkpoint
from ltx.config.vae import CONV_VAE
from ltx.parity.compare import Row, compare_exact, compare_lowp
from ltx.parity.hooks import capture
from ltx.parity.oracle import at_least
from ltx.parity.vae_oracle import OfficialUpsampler, OfficialVideoVAE
from ltx.vae import (
    Tiling,
    decode_frames,
    load_latent_upsampler,
    load_video_decoder,
    load_video_encoder,
    tiled_decode,
    tiled_encode,
    upsample_latents,
    vae_config,
)
from ltx.vae.upsampler import adain

# Small but real shapes, in latent cells (a 32x32x8 VAE's pixels: 17 frames of 64 x 96 <-> 3 x 2 x 3
# latents), batch 2. Tiled decode: 4 x 3 x 2 latents in tiles of 3 frames / 2 cells overlapping by 1,
# whose ramps sum to one (no division). Tiled encode: 5 x 2 x 2 latents in time tiles overlapping by
# the least the encoder allows (16 frames), whose ramps do not (divided by the summed weights).
LATENT = (3, 2, 3)
TILED_DECODE_LATENT = (4, 3, 2)  # batch 1: decode_video returns sample 0


def decode_tiling(cfg) -> Tiling:
    t, s = cfg.time_scale, cfg.space_scale
    return Tiling(tile_frames=3 * t, overlap_frames=t, tile_px=2 * s, overlap_px=s)


def encode_tiling(cfg) -> Tiling:
    overlap = -(-16 // cfg.time_scale) * cfg.time_scale
    return Tiling(tile_frames=overlap + cfg.time_scale, overlap_frames=overlap, tile_px=None)


def vae_inputs(cfg, seed: int) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    t, s, n = cfg.time_scale, cfg.space_scale, cfg.latent_channels
    f, h, w = LATENT
    clip_frames = encode_tiling(cfg).overlap_frames // t + 3  # three temporal tiles
    return {
        "video": torch.rand(2, 3, (f - 1) * t + 1, h * s, w * s, generator=g) * 2 - 1,
        "latent": torch.randn(2, n, f, h, w, generator=g),
        "big_latent": torch.randn(1, n, *TILED_DECODE_LATENT, generator=g),
        "clip": torch.rand(1, 3, (clip_frames - 1) * t + 1, 2 * s, 2 * s, generator=g) * 2 - 1,
    }


def _stages(module: torch.nn.Module, blocks: str) -> list[str]:
    return ["conv_in", *(f"{blocks}.{i}" for i in range(len(getattr(module, blocks)))), "conv_out.conv"]


class OursVAE:
    """Our encoder and decoder behind the same calls as OfficialVideoVAE."""

    def __init__(self, path, device: torch.device, dtype: torch.dtype, edit: Callable | None = None):
        ckpt = Checkpoint(path)
        cfg = vae_config(ckpt)
        self.family = cfg.family
        self.encoder = load_video_encoder(ckpt, device=device, dtype=dtype)
        if cfg.class_name == CONV_VAE:
            self.decoder = load_video_decoder(ckpt, device=device, dtype=dtype)
        if edit is not None:
            edit(self.encoder, self.decoder)

    def encode(self, video, seed):
        return self.encoder(video, sample=self.family == "ltxv", generator=_gen(seed, video.device))

    def decode(self, latent, timestep, noise_scale, seed):
        return self.decoder(latent, timestep=timestep, noise_scale=noise_scale, generator=_gen(seed, latent.device))

    def tiled_decode(self, latent, tiling, seed):
        return list(tiled_decode(self.decoder, latent, tiling, generator=_gen(seed, latent.device)))

    def decode_memory_efficient(self, latent, seed):  # one path: the same arithmetic as `decode`
        return self.decode(latent, 0.05, 0.025, seed)

    def decode_video(self, latent, tiling, seed):
        return [c[0] for c in decode_frames(self.decoder, latent, tiling, generator=_gen(seed, latent.device))]

    def tiled_encode(self, video, tiling):
        return tiled_encode(self.encoder, video, tiling)


def _gen(seed: int, device: torch.device) -> torch.Generator:
    return torch.Generator(device).manual_seed(seed)


def run_vae(vae, cfg, inputs: dict[str, torch.Tensor], seed: int) -> dict[str, torch.Tensor]:
    """Every stage's output of every pass, on the CPU in float32."""
    out: dict[str, torch.Tensor] = {}
    video, latent = inputs["video"], inputs["latent"]
    out |= capture(vae.encoder, _stages(vae.encoder, "down_blocks"), lambda: vae.encode(video, seed), "encode")
    tiled = cfg.family == "ltx2" and at_least("1.2.0")  # tiling exists in ltx-core only; 1.0.0 tiled differently
    if tiled:
        with torch.no_grad():
            out["tiled_encode/out"] = vae.tiled_encode(inputs["clip"], encode_tiling(cfg)).float().cpu()
    if cfg.class_name != CONV_VAE:  # the decoder is a diffusion model (ltx.vae.diffusion)
        return out
    cases = {"decode": (0.05, 0.025)}
    if cfg.timestep_conditioning:  # ltx-core fixes the decode noise at 0.025; ltx-video takes it per sample
        b = latent.shape[0]
        noise = 0.025 if cfg.family == "ltx2" else torch.linspace(0.025, 0.1, b)
        cases["decode_t_per_sample"] = (torch.linspace(0.05, 0.2, b), noise)
    stages = _stages(vae.decoder, "up_blocks")
    for name, (t, s) in cases.items():
        out |= capture(vae.decoder, stages, lambda t=t, s=s: vae.decode(latent, t, s, seed), name)
    if tiled:
        with torch.no_grad():
            out["decode_memory_efficient/out"] = vae.decode_memory_efficient(latent, seed).float().cpu()
            tiling = decode_tiling(cfg)
            chunks = vae.tiled_decode(inputs["big_latent"], tiling, seed)
            out |= {f"tiled_decode/chunk{i}": c.float().cpu() for i, c in enumerate(chunks)}
            frames = vae.decode_video(inputs["big_latent"], tiling, seed)
            out |= {f"decode_video/chunk{i}": c.float().cpu() for i, c in enumerate(frames)}
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
    inputs = vae_inputs(cfg, seed)
    lowp = {k: v.to(device, dtype) for k, v in inputs.items()}
    conv = cfg.class_name == CONV_VAE
    ref = run_vae(OfficialVideoVAE(path, cfg.family, device, dtype, decoder=conv), cfg, lowp, seed)
    got = run_vae(OursVAE(path, device, dtype, edit_ours), cfg, lowp, seed)
    if dtype == torch.float32:
        return compare_exact(group, got, ref)
    rounded = {k: v.float() for k, v in lowp.items()}
    with noise_drawn_in(dtype):
        ref32 = run_vae(OfficialVideoVAE(path, cfg.family, device, torch.float32, decoder=conv), cfg, rounded, seed)
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
    conv = vae_config(Checkpoint(vae_path)).class_name == CONV_VAE
    group = group or os.path.basename(str(path))
    ours = load_latent_upsampler(path, device=device, dtype=dtype)
    stats = load_video_encoder(vae_path, device=device, dtype=dtype).per_channel_statistics
    latent = torch.randn(2, ours.cfg.in_channels, 3, 4, 6, generator=torch.Generator().manual_seed(seed))
    blocks = lambda name: [f"{name}.{i}" for i in range(len(getattr(ours, name)))]  # noqa: E731
    stages = ["initial_conv", *blocks("res_blocks"), "upsampler", *blocks("post_upsample_res_blocks"), "final_conv"]

    def official(run_dtype: torch.dtype) -> dict[str, torch.Tensor]:
        up, vae = (
            OfficialUpsampler(path, family, device, run_dtype),
            OfficialVideoVAE(vae_path, family, device, run_dtype, decoder=conv and family == "ltxv"),
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


def builtin_2_5_jobs(folder, parts: set[str], common: dict) -> list[tuple[str, Callable]]:
    """`ltx parity` jobs for the built-in tiny LTX-2.5 files of this area: the split conv VAE and the
    encoder of a diffusion VAE file ("vae"), both 2.5 upscalers ("upsampler"), the duration head
    ("duration")."""
    from pathlib import Path

    from ltx.parity.duration import duration_parity, write_tiny_duration_head
    from ltx.parity.vae_fixtures import UPSCALERS_2_5, VAE_2_5_FILES, write_tiny_upscaler_2_5, write_tiny_vae_2_5

    folder, jobs = Path(folder), []
    files = {}
    if parts & {"vae", "upsampler"}:
        for name in VAE_2_5_FILES:
            files[name] = p = write_tiny_vae_2_5(name, folder / f"{name}.safetensors")
            print(f"built-in VAE file {name}: LTX-2.5 split layout (bare keys), {VAE_2_5_FILES[name].class_name}")
            if "vae" in parts:
                jobs.append((name, lambda g, p=p: vae_parity(p, **common, group=g)))
    for name, spec in UPSCALERS_2_5.items() if "upsampler" in parts else ():
        p = write_tiny_upscaler_2_5(name, folder / f"{name}.safetensors")
        print(f"built-in upscaler {name}: {spec.description}")
        jobs.append((name, lambda g, p=p, v=files[spec.vae]: upsampler_parity(p, v, **common, group=g)))
    if "duration" in parts:
        p = write_tiny_duration_head(folder / "ltx-2.5-duration-head-tiny.safetensors")
        print("built-in duration head ltx-2.5-duration-head-tiny: two pooling queries, batch 2 vs one prompt at a time")
        jobs.append(("ltx-2.5-duration-head-tiny", lambda g: duration_parity(p, **common, group=g)))
    return jobs
