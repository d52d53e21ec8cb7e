"""The audio front-end without torchaudio: resampling to 16 kHz and the log-mel spectrogram the audio
VAE was trained on, computed with the same operations in the same order as
torchaudio's MelSpectrogram (hann window, centred reflect-padded STFT, magnitude, slaney mel scale
and norm, f 0-8000 Hz) and torchaudio.functional.resample (hann-windowed sinc, width 6, rolloff 0.99).
"""

from __future__ import annotations

import math
from functools import lru_cache

import torch
import torch.nn.functional as F

from ltx.audio.timing import HOP, MEL_BINS, N_FFT, SAMPLE_RATE

_F_SP, _MIN_LOG_HZ, _LOGSTEP = 200.0 / 3, 1000.0, math.log(6.4) / 27.0


def hz_to_mel(freq: float) -> float:
    """Slaney mel scale: linear below 1 kHz, logarithmic above."""
    mels = (freq - 0.0) / _F_SP
    if freq >= _MIN_LOG_HZ:
        mels = (_MIN_LOG_HZ - 0.0) / _F_SP + math.log(freq / _MIN_LOG_HZ) / _LOGSTEP
    return mels


def mel_to_hz(mels: torch.Tensor) -> torch.Tensor:
    min_log_mel = (_MIN_LOG_HZ - 0.0) / _F_SP
    freqs = 0.0 + _F_SP * mels
    log_part = mels >= min_log_mel
    freqs[log_part] = _MIN_LOG_HZ * torch.exp(_LOGSTEP * (mels[log_part] - min_log_mel))
    return freqs


@lru_cache(maxsize=8)
def mel_filterbank(
    sample_rate: int, n_fft: int, n_mels: int, f_min: float = 0.0, f_max: float | None = None
) -> torch.Tensor:
    """(n_fft // 2 + 1, n_mels) float32 triangular filters on the slaney scale, slaney-normalised."""
    f_max = float(sample_rate // 2) if f_max is None else f_max
    all_freqs = torch.linspace(0, sample_rate // 2, n_fft // 2 + 1)
    f_pts = mel_to_hz(torch.linspace(hz_to_mel(f_min), hz_to_mel(f_max), n_mels + 2))
    f_diff = f_pts[1:] - f_pts[:-1]
    slopes = f_pts.unsqueeze(0) - all_freqs.unsqueeze(1)
    down = (-1.0 * slopes[:, :-2]) / f_diff[:-1]
    up = slopes[:, 2:] / f_diff[1:]
    fb = torch.max(torch.zeros(1), torch.min(down, up))
    fb *= (2.0 / (f_pts[2 : n_mels + 2] - f_pts[:n_mels])).unsqueeze(0)
    return fb


def log_mel(waveform: torch.Tensor) -> torch.Tensor:
    """16 kHz waveform (..., samples) -> log-magnitude mel (..., frames, 64), frames = 1 + samples // 160."""
    shape = waveform.shape
    x = waveform.reshape(-1, shape[-1]).float()
    window = torch.hann_window(N_FFT, device=x.device)
    spec = torch.stft(x, N_FFT, HOP, N_FFT, window, center=True, pad_mode="reflect", normalized=False,
                      onesided=True, return_complex=True).abs()  # fmt: skip
    spec = spec.reshape(shape[:-1] + spec.shape[-2:])
    fb = mel_filterbank(SAMPLE_RATE, N_FFT, MEL_BINS, 0.0, SAMPLE_RATE / 2.0).to(spec.device)
    mel = torch.matmul(spec.transpose(-1, -2), fb)  # (..., frames, mels)
    return torch.log(torch.clamp(mel, min=1e-5)).to(waveform.dtype)


@lru_cache(maxsize=16)
def _sinc_kernel(orig: int, new: int, device: torch.device, dtype: torch.dtype) -> tuple[torch.Tensor, int]:
    width_taps, rolloff = 6, 0.99
    base = min(orig, new) * rolloff
    width = math.ceil(width_taps * orig / base)
    idx = torch.arange(-width, width + orig, dtype=dtype, device=device)[None, None] / orig
    t = torch.arange(0, -new, -1, dtype=dtype, device=device)[:, None, None] / new + idx
    t *= base
    t = t.clamp_(-width_taps, width_taps)
    window = torch.cos(t * math.pi / width_taps / 2) ** 2
    t *= math.pi
    kernel = torch.where(t == 0, torch.tensor(1.0).to(t), t.sin() / t)
    kernel *= window * (base / orig)
    return kernel, width


def resample(waveform: torch.Tensor, orig_rate: int, new_rate: int = SAMPLE_RATE) -> torch.Tensor:
    """Band-limited resampling (..., samples) between integer rates, as torchaudio's default."""
    if orig_rate <= 0 or new_rate <= 0 or int(orig_rate) != orig_rate or int(new_rate) != new_rate:
        raise ValueError(f"sample rates must be positive integers, got {orig_rate} -> {new_rate}")
    if orig_rate == new_rate:
        return waveform
    g = math.gcd(int(orig_rate), int(new_rate))
    orig, new = int(orig_rate) // g, int(new_rate) // g
    kernel, width = _sinc_kernel(orig, new, waveform.device, waveform.dtype)
    shape = waveform.shape
    x = waveform.reshape(-1, shape[-1])
    length = x.shape[-1]
    y = F.conv1d(F.pad(x, (width, width + orig))[:, None], kernel, stride=orig)
    y = y.transpose(1, 2).reshape(x.shape[0], -1)[..., : math.ceil(new * length / orig)]
    return y.reshape(shape[:-1] + y.shape[-1:])


def waveform_to_mel(waveform: torch.Tensor, sample_rate: int) -> torch.Tensor:
    """A clip (B, channels, samples) or (channels, samples) at any rate -> (B, 2, frames, 64).

    Mono is duplicated to stereo (the VAE takes two channels; the official front-end fails on mono).
    Empty, too short (under 513 samples at 16 kHz: the STFT's reflection padding needs them),
    more than two channels, or non-finite samples are errors. Silence is fine (log(1e-5) = -11.5).
    """
    if waveform.ndim == 2:
        waveform = waveform.unsqueeze(0)
    if waveform.ndim != 3:
        raise ValueError(
            f"audio must be (B, channels, samples) or (channels, samples), got shape {tuple(waveform.shape)}"
        )
    if waveform.shape[1] not in (1, 2):
        raise ValueError(f"audio must be mono or stereo, got {waveform.shape[1]} channels; mix it down to stereo first")
    if not waveform.is_floating_point():
        raise ValueError(f"audio samples must be floating point in [-1, 1], got {waveform.dtype}")
    if waveform.shape[-1] == 0:
        raise ValueError("audio is empty")
    if not torch.isfinite(waveform).all():
        raise ValueError("audio contains NaN or infinite samples")
    waveform = resample(waveform, sample_rate, SAMPLE_RATE)
    if waveform.shape[-1] <= N_FFT // 2:
        raise ValueError(f"audio too short: {waveform.shape[-1]} samples at 16 kHz, at least {N_FFT // 2 + 1} needed")
    if waveform.shape[1] == 1:
        waveform = waveform.expand(-1, 2, -1)
    return log_mel(waveform)
