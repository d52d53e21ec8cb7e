"""WAV files in and out (soundfile): float32 waveforms (channels, samples) in [-1, 1]."""

from __future__ import annotations

import os

import torch


def read_wav(path: str | os.PathLike) -> tuple[torch.Tensor, int]:
    """(waveform (channels, samples) float32, sample rate)."""
    import soundfile as sf

    if not os.path.isfile(path):
        raise FileNotFoundError(f"{path}: no such audio file")
    try:
        data, rate = sf.read(str(path), dtype="float32", always_2d=True)
    except RuntimeError as e:  # soundfile raises LibsndfileError (a RuntimeError) on unreadable files
        raise ValueError(f"{path}: not an audio file soundfile can read ({e})") from None
    return torch.from_numpy(data.T.copy()), int(rate)


def write_wav(path: str | os.PathLike, waveform: torch.Tensor, sample_rate: int) -> None:
    """Write (channels, samples) or (1, channels, samples) float audio as 16-bit PCM WAV."""
    import soundfile as sf

    if waveform.ndim == 3 and waveform.shape[0] == 1:
        waveform = waveform[0]
    if waveform.ndim != 2:
        raise ValueError(f"write_wav takes (channels, samples), got shape {tuple(waveform.shape)}")
    sf.write(str(path), waveform.detach().float().clamp(-1, 1).T.cpu().numpy(), int(sample_rate), subtype="PCM_16")
