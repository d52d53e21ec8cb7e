"""Audio parity: the mel front-end against librosa (and torchaudio's official front-end where it
loads), and the audio VAE and vocoders against ltx-core, stage by stage."""

from __future__ import annotations

import math
import os
from collections.abc import Callable

import torch

from ltx.audio.loading import audio_vae_config, load_audio_decoder, load_audio_encoder, load_vocoder, vocoder_config
from ltx.audio.mel import waveform_to_mel
from ltx.checkpoint import Checkpoint
from ltx.parity.compare import FP32_REL_TOL, Row, compare_exact, compare_lowp
from ltx.parity.hooks import capture
from ltx.parity.oracle import OfficialAudio, official_mel


def tone_clip(seconds: float, rate: int, seed: int = 0) -> torch.Tensor:
    """(1, 2, samples): two tones and noise per channel, different per channel, peak under 1."""
    t = torch.arange(round(seconds * rate)) / rate
    g = torch.Generator().manual_seed(seed)
    left = 0.4 * torch.sin(2 * math.pi * 440 * t) + 0.2 * torch.sin(2 * math.pi * 3100 * t)
    right = 0.3 * torch.sin(2 * math.pi * 660 * t + 1.0) + 0.2 * torch.sin(2 * math.pi * 5200 * t)
    noise = 0.05 * torch.randn(2, t.numel(), generator=g)
    return (torch.stack([left, right]) + noise).unsqueeze(0).float()


def librosa_mel(waveform: torch.Tensor) -> torch.Tensor | None:
    """librosa's slaney log-mel of a 16 kHz (B, C, samples) clip as (B, C, frames, 64), or None."""
    try:
        import librosa
    except ImportError:
        return None
    mel = librosa.feature.melspectrogram(
        y=waveform.numpy(), sr=16000, n_fft=1024, hop_length=160, win_length=1024, window="hann", center=True,
        pad_mode="reflect", power=1.0, n_mels=64, fmin=0.0, fmax=8000.0, htk=False, norm="slaney",
    )  # fmt: skip
    return torch.log(torch.clamp(torch.from_numpy(mel), min=1e-5)).transpose(-1, -2)


def mel_parity(group: str = "mel front-end", device: str | torch.device = "cpu") -> list[Row]:
    """Ours (float32 on `device`) vs librosa at 16 kHz, and vs torchaudio through ltx-core's AudioProcessor
    at 16, 44.1 and 48 kHz (resampling included) where torchaudio loads (the GPU image has it): rel <= 1e-5."""
    rows = []
    clip = tone_clip(0.73, 16000)
    ref = librosa_mel(clip)
    if ref is not None:
        rows += compare_exact(
            group, {"vs librosa/16k": waveform_to_mel(clip.to(device), 16000)}, {"vs librosa/16k": ref}
        )
    for rate in (16000, 44100, 48000):
        clip = tone_clip(0.73, rate, seed=rate).to(device)
        ref = official_mel(clip, rate)
        if ref is not None:
            name = f"vs torchaudio/{rate // 1000}k"
            rows += compare_exact(group, {name: waveform_to_mel(clip, rate)}, {name: ref}, tol=FP32_REL_TOL)
    if not rows:
        raise RuntimeError("mel parity needs librosa (pip install librosa) or a working torchaudio")
    return rows


def _audio_stages(module: torch.nn.Module, path: str) -> list[str]:
    names = []
    for i, stage in enumerate(getattr(module, path)):
        names += [f"{path}.{i}.block.{j}" for j in range(len(stage.block))]
        names += [f"{path}.{i}.{r}" for r in ("downsample", "upsample") if hasattr(stage, r)]
    return names


def _vocoder_stages(vocoder: torch.nn.Module) -> list[str]:
    def generator(prefix: str, g) -> list[str]:
        ups = [f"{prefix}ups.{i}" for i in range(len(g.ups))]
        blocks = [f"{prefix}resblocks.{i}" for i in range(len(g.resblocks))]
        return [f"{prefix}conv_pre", *ups, *blocks, f"{prefix}conv_post"]

    if hasattr(vocoder, "bwe_generator"):
        return [
            *generator("vocoder.", vocoder.vocoder),
            "mel_stft.stft_fn",
            *generator("bwe_generator.", vocoder.bwe_generator),
            "resampler",
        ]  # noqa: E501
    return generator("", vocoder)


def audio_inputs(seed: int) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return {
        "mel": torch.randn(2, 2, 37, 64, generator=g) * 2 - 4,  # log-mel magnitudes ~ e^-4
        "latent": torch.randn(2, 8, 10, 16, generator=g),
        "vocoder_mel": torch.randn(2, 2, 12, 64, generator=g) * 2 - 4,
    }


def run_audio(encoder, decoder, vocoder, inputs: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    out = {}
    enc = ["conv_in", *_audio_stages(encoder, "down"), "mid.block_2", "conv_out"]
    out |= capture(encoder, enc, lambda: encoder(inputs["mel"]), "encode")
    dec = ["conv_in", "mid.block_2", *_audio_stages(decoder, "up"), "conv_out"]
    out |= capture(decoder, dec, lambda: decoder(inputs["latent"]), "decode")
    out |= capture(vocoder, _vocoder_stages(vocoder), lambda: vocoder(inputs["vocoder_mel"]), "vocoder")
    return out


def audio_parity(
    path: str | os.PathLike,
    *,
    device: str | torch.device = "cpu",
    dtype: torch.dtype = torch.float32,
    group: str | None = None,
    seed: int = 0,
    edit_ours: Callable | None = None,
) -> list[Row]:
    """The audio VAE and vocoder of `path`, ours vs ltx-core's, every stage."""
    device = torch.device(device)
    ckpt = Checkpoint(path)
    audio_vae_config(ckpt), vocoder_config(ckpt)  # clear errors before the official loaders run
    group = group or os.path.basename(str(path))
    inputs = {k: v.to(device, dtype) for k, v in audio_inputs(seed).items()}

    def official(run_dtype: torch.dtype) -> dict[str, torch.Tensor]:
        o = OfficialAudio(path, device, run_dtype)
        return run_audio(o.encoder, o.decoder, o.vocoder, {k: v.to(run_dtype) for k, v in inputs.items()})

    ours = [load_audio_encoder(ckpt, device=device, dtype=dtype), load_audio_decoder(ckpt, device=device, dtype=dtype),
            load_vocoder(ckpt, device=device, dtype=dtype)]  # fmt: skip
    if edit_ours is not None:
        edit_ours(*ours)
    got = run_audio(*ours, inputs)
    if dtype == torch.float32:
        return compare_exact(group, got, official(dtype))
    return compare_lowp(group, got, official(dtype), official(torch.float32))
