"""The official video VAE, latent upsampler and duration head as test oracles: ltx-core (LTX-2 files,
built by its SingleGPUModelBuilder with its key filters, as its pipelines build them) and ltx-video
(LTX-Video files, its from_pretrained), called the way each official pipeline calls them.

Nothing here is used by the model; only `ltx parity` and the tests import it.
"""

from __future__ import annotations

import os

import torch

from ltx.parity.oracle import at_least, build, require


class OfficialVideoVAE:
    """ltx-core's VideoEncoder / ConvVideoDecoder of a file, or ltx-video's CausalVideoAutoencoder."""

    def __init__(
        self, path: str | os.PathLike, family: str, device: torch.device, dtype: torch.dtype, decoder: bool = True
    ):
        """decoder=False: the encoder only (e.g. of a file whose decoder is a diffusion model)."""
        self.family, self.device, self.dtype = family, device, dtype
        if family == "ltx2":
            vae = require("ltx_core.model.video_vae")
            self.encoder = build(path, vae.VideoEncoderConfigurator, vae.VAE_ENCODER_COMFY_KEYS_FILTER, device, dtype)
            if decoder:
                self.decoder = _scalars_in(
                    build(path, vae.VideoDecoderConfigurator, vae.VAE_DECODER_COMFY_KEYS_FILTER, device, dtype), dtype
                )
                self.path = path
        else:
            cva = require("ltx_video.models.autoencoders.causal_video_autoencoder")
            self.vae = cva.CausalVideoAutoencoder.from_pretrained(str(path), torch_dtype=dtype).to(device).eval()
            self.encoder, self.decoder = self.vae.encoder, self.vae.decoder

    def encode(self, video: torch.Tensor, seed: int) -> torch.Tensor:
        with torch.no_grad():
            if self.family == "ltx2":
                return self.encoder(video)
            torch.manual_seed(seed)  # ltx-video samples the posterior from the global generator
            vae_encode = require("ltx_video.models.autoencoders.vae_encode").vae_encode
            return vae_encode(video, self.vae, vae_per_channel_normalize=True)

    def decode(self, latent: torch.Tensor, timestep, noise_scale, seed: int) -> torch.Tensor:
        with torch.no_grad():
            if self.family == "ltx2":  # its decoder adds the decode noise itself, at a fixed 0.025
                if not torch.is_tensor(timestep):  # built as its decoder builds its default
                    timestep = torch.full((latent.shape[0],), timestep, device=latent.device, dtype=latent.dtype)
                generator = torch.Generator(latent.device).manual_seed(seed)
                return self.decoder(latent, timestep=timestep.to(latent.device), generator=generator)
            torch.manual_seed(seed)
            t = None
            if self.decoder.timestep_conditioning:  # as LTXVideoPipeline.__call__ does before decoding
                b = latent.shape[0]
                noise = torch.randn_like(latent)
                t = torch.tensor(_as_list(timestep, b)).to(latent.device)
                s = torch.tensor(_as_list(noise_scale, b)).to(latent.device)[:, None, None, None, None]
                latent = latent * (1 - s) + noise * s
            vae_decode = require("ltx_video.models.autoencoders.vae_encode").vae_decode
            return vae_decode(latent, self.vae, is_video=True, vae_per_channel_normalize=True, timestep=t)

    def decode_memory_efficient(self, latent: torch.Tensor, seed: int) -> torch.Tensor:
        """ltx-core 1.2.0's default pipeline decoder: channels-last weights and its workspace-reusing
        forward (the same arithmetic in another memory layout, so not bitwise: ~2e-6 on the CPU)."""
        vae = require("ltx_core.model.video_vae")
        sd_ops = require("ltx_core.loader.sd_ops")
        efficient = require("ltx_core.model.video_vae.memory_efficient_decode")
        mapping = (*vae.VAE_DECODER_COMFY_KEYS_FILTER.mapping, *vae.CHANNELS_LAST_3D_WEIGHTS.mapping)
        ops = sd_ops.SDOps("channels_last", mapping)
        decoder = _scalars_in(build(self.path, vae.VideoDecoderConfigurator, ops, self.device, self.dtype), self.dtype)
        decoder = efficient.enable_memory_efficient_decode(decoder)
        with torch.no_grad():
            return decoder(latent, generator=torch.Generator(latent.device).manual_seed(seed))

    def tiled_decode(self, latent: torch.Tensor, tiling, seed: int) -> list[torch.Tensor]:
        with torch.no_grad():
            generator = torch.Generator(latent.device).manual_seed(seed)
            config = official_tiling(tiling, latent, self.decoder.video_downscale_factors)
            return list(self.decoder.tiled_decode(latent, config, generator=generator))

    def decode_video(self, latent: torch.Tensor, tiling, seed: int) -> list[torch.Tensor]:
        """The 1.2.0 VideoDecoder protocol: (frames, H, W, 3) chunks in [0, 1] of sample 0."""
        with torch.no_grad():
            generator = torch.Generator(latent.device).manual_seed(seed)
            config = official_tiling(tiling, latent, self.decoder.video_downscale_factors)
            return list(self.decoder.decode_video(latent, config, generator=generator))

    def tiled_encode(self, video: torch.Tensor, tiling) -> torch.Tensor:
        with torch.no_grad():
            return self.encoder.tiled_encode(video, official_tiling(tiling))


def _scalars_in(module: torch.nn.Module, dtype: torch.dtype) -> torch.nn.Module:
    """ltx-core 1.2.0's builder keeps float32 0-d tensors in float32 whatever `dtype` (meant for fp8
    scales); its decoder then casts its input to its first parameter's dtype, the float32
    timestep_scale_multiplier, and a low-precision run fails. The shipped files store that scalar in
    bf16, which the builder does cast: this gives a float32 test file the same treatment."""
    for p in module.parameters():
        if p.ndim == 0 and p.dtype == torch.float32:
            p.data = p.data.to(dtype)
    return module


def _as_list(value, batch: int) -> list[float]:
    if torch.is_tensor(value):
        return [float(v) for v in value.reshape(-1).expand(batch)]
    return [float(value)] * batch


def official_tiling(tiling, latent: torch.Tensor | None = None, scale=None):
    """Our Tiling as ltx-core 1.2.0's TileSizeConfig: to decode `latent`, the aspect-coupled layout
    its pipelines pass (`from_long_side` at the decoder's `scale`); to encode, one size for both sides."""
    if not at_least("1.2.0"):
        raise RuntimeError("tiled VAE parity needs the ltx-core 1.2.0 oracle (1.0.0 tiles differently)")
    t = require("ltx_core.tiling")
    size = t.DimensionSizeConfig
    frames = size() if tiling.tile_frames is None else size(tiling.tile_frames, tiling.overlap_frames)
    side = size() if tiling.tile_px is None else size(tiling.tile_px, tiling.overlap_px)
    if latent is None or tiling.tile_px is None:
        return t.TileSizeConfig(frames=frames, height=side, width=side)
    h, w = latent.shape[3] * scale.height, latent.shape[4] * scale.width
    return t.TileSizeConfig.from_long_side(long_side=side, height=h, width=w, scale_factors=scale, frames=frames)


class OfficialUpsampler:
    """ltx-core's LatentUpsampler (+ upsample_video) or ltx-video's (+ its multi-scale AdaIN)."""

    def __init__(self, path: str | os.PathLike, family: str, device: torch.device, dtype: torch.dtype):
        self.family = family
        if family == "ltx2":
            configurator = require("ltx_core.model.upsampler").LatentUpsamplerConfigurator
            self.module = build(path, configurator, None, device, dtype)
        else:
            upsampler = require("ltx_video.models.autoencoders.latent_upsampler").LatentUpsampler
            self.module = upsampler.from_pretrained(str(path)).to(device=device, dtype=dtype).eval()

    def __call__(self, latent: torch.Tensor, vae: OfficialVideoVAE) -> torch.Tensor:
        with torch.no_grad():
            if self.family == "ltx2":
                return require("ltx_core.model.upsampler.model").upsample_video(latent, vae.encoder, self.module)
            enc = require("ltx_video.models.autoencoders.vae_encode")
            pipe = require("ltx_video.pipelines.pipeline_ltx_video")
            up = enc.normalize_latents(self.module(enc.un_normalize_latents(latent, vae.vae, True)), vae.vae, True)
            return pipe.adain_filter_latent(up, latent, 1.0)
