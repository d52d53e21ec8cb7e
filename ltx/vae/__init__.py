"""Video VAE (encoder, denoising decoder, tiling), the LTX-2.5 diffusion decoder, and latent upsamplers."""

from ltx.vae.diffusion import DiffusionVideoDecoder
from ltx.vae.diffusion_loading import load_diffusion_decoder
from ltx.vae.diffusion_tiling import DiffusionTiling
from ltx.vae.layers import chunk_convolutions
from ltx.vae.loading import load_latent_upsampler, load_video_decoder, load_video_encoder, vae_config, vae_family
from ltx.vae.tiling import Tiling, decode, decode_frames, tiled_decode, tiled_encode
from ltx.vae.upsampler import LatentUpsampler, adain, upsample_latents
from ltx.vae.video import (
    VideoDecoder,
    VideoEncoder,
    check_video_shape,
    from_uint8,
    latent_frames,
    pixel_frames,
    to_frames,
    to_uint8,
)

__all__ = [
    "DiffusionTiling",
    "DiffusionVideoDecoder",
    "LatentUpsampler",
    "Tiling",
    "VideoDecoder",
    "VideoEncoder",
    "adain",
    "check_video_shape",
    "chunk_convolutions",
    "decode",
    "decode_frames",
    "from_uint8",
    "latent_frames",
    "load_diffusion_decoder",
    "load_latent_upsampler",
    "load_video_decoder",
    "load_video_encoder",
    "pixel_frames",
    "tiled_decode",
    "tiled_encode",
    "to_frames",
    "to_uint8",
    "upsample_latents",
    "vae_config",
    "vae_family",
]
