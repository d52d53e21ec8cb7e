"""Waveform <-> audio latent, the two directions a pipeline needs, on top of the loaded modules."""

from __future__ import annotations

import torch
from torch import nn

from ltx.audio.mel import waveform_to_mel
from ltx.audio.vae import AudioDecoder, AudioEncoder


@torch.inference_mode()
def encode_audio(encoder: AudioEncoder, waveform: torch.Tensor, sample_rate: int) -> torch.Tensor:
    """A clip (B, channels, samples) or (channels, samples), mono or stereo, at any rate ->
    normalised latent (B, 8, T', 16), T' = ceil(mel frames / 4), 25 tokens per second."""
    p = next(encoder.parameters())
    mel = waveform_to_mel(waveform.to(p.device), sample_rate)
    return encoder(mel.to(p.dtype))


@torch.inference_mode()
def decode_audio(decoder: AudioDecoder, vocoder: nn.Module, latent: torch.Tensor) -> tuple[torch.Tensor, int]:
    """Latent (B, 8, T', 16) -> (stereo waveform (B, 2, samples) float32 in [-1, 1], its sample rate):
    4T' - 3 mel frames, each `hop` samples (240 at 24 kHz for 2.0, 480 at 48 kHz for 2.3 / 2.5).
    The vocoder takes the mel in the decoder's dtype and returns the waveform in it, as the official
    decode does (a float32 bandwidth-extension vocoder in a bf16 run: computed in float32, rounded to bf16)."""
    mel = decoder(latent.to(next(decoder.parameters()).dtype))
    return vocoder(mel).float(), vocoder.output_sampling_rate
