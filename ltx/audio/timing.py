"""The arithmetic between video frames, audio tokens, mel frames and samples, in one place.

The audio VAE works on 16 kHz audio: a log-mel frame every 160 samples (100 per second, STFT centred,
so L samples give 1 + L // 160 frames), and one latent token per 4 mel frames (25 per second).
Token i covers mel frames [max(0, 4i - 3), 4i + 1): decoding T' tokens gives 4T' - 3 mel frames.
The vocoders turn each mel frame into `hop` output samples (24 kHz: 240; 48 kHz after BWE: 480).
"""

from __future__ import annotations

SAMPLE_RATE = 16000
HOP = 160
N_FFT = 1024
MEL_BINS = 64
LATENT_DOWNSAMPLE = 4
MEL_FRAMES_PER_SECOND = SAMPLE_RATE / HOP  # 100
TOKENS_PER_SECOND = MEL_FRAMES_PER_SECOND / LATENT_DOWNSAMPLE  # 25


def audio_token_count(video_frames: int, fps: float) -> int:
    """Audio tokens for a clip of `video_frames` frames at `fps` (121 at 24 fps -> 126)."""
    return round(video_frames / fps * TOKENS_PER_SECOND)


def mel_frames(samples: int) -> int:
    """Log-mel frames of `samples` 16 kHz samples (centred STFT)."""
    return 1 + samples // HOP


def latent_tokens(mel_frames: int) -> int:
    """Tokens the encoder makes from `mel_frames` frames (two causal stride-2 downsamples)."""
    return -(-mel_frames // LATENT_DOWNSAMPLE)


def decoded_mel_frames(tokens: int) -> int:
    """Mel frames the decoder makes from `tokens` latent tokens."""
    return max(LATENT_DOWNSAMPLE * tokens - (LATENT_DOWNSAMPLE - 1), 1)


def token_seconds(token: int) -> tuple[float, float]:
    """[start, end) of audio token `token` in seconds (the causal mel frames it summarises)."""
    start = max(0, LATENT_DOWNSAMPLE * token + 1 - LATENT_DOWNSAMPLE) * HOP / SAMPLE_RATE
    end = max(0, LATENT_DOWNSAMPLE * (token + 1) + 1 - LATENT_DOWNSAMPLE) * HOP / SAMPLE_RATE
    return start, end


def output_samples(mel_frames: int, hop: int) -> int:
    """Waveform samples a vocoder with `hop` samples per mel frame makes."""
    return mel_frames * hop
