"""Vocoders: log-mel (B, 2, frames, 64) -> stereo waveform (B, 2, samples).

LTX-2.0: HiFi-GAN v1 at 24 kHz (ResBlock1 with LeakyReLU 0.1; the mean of the resblocks per stage).
LTX-2.3 / 2.5: a BigVGAN-v2-style generator (AMP blocks: SnakeBeta activations applied at twice the rate
between kaiser-sinc up- and down-sampling) at 16 kHz, then a bandwidth extension: the causal log-mel
of that output (STFT and mel bases stored in the checkpoint) drives a second generator whose output
is added to a 3x sinc-upsampled copy -> 48 kHz. Names follow the checkpoints.

Both take the mel in any floating dtype, compute in the dtype of their weights and return the waveform
in the mel's dtype. `load_vocoder` keeps the bandwidth-extension vocoder's weights in float32 (rounded
through the requested dtype first), so that it computes in float32 as the official code does since
ltx-core 1.1.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import nn

from ltx.config import BWEConfig, GeneratorConfig, VocoderConfig

LRELU_SLOPE = 0.1


def _sinc(x: torch.Tensor) -> torch.Tensor:
    return torch.where(x == 0, torch.tensor(1.0, device=x.device, dtype=x.dtype), torch.sin(math.pi * x) / math.pi / x)


def kaiser_sinc_filter(cutoff: float, half_width: float, kernel_size: int) -> torch.Tensor:
    """A kaiser-windowed sinc low-pass, (1, 1, kernel_size), summing to 1."""
    half = kernel_size // 2
    amplitude = 2.285 * (half - 1) * math.pi * (4 * half_width) + 7.95
    if amplitude > 50.0:
        beta = 0.1102 * (amplitude - 8.7)
    elif amplitude >= 21.0:
        beta = 0.5842 * (amplitude - 21) ** 0.4 + 0.07886 * (amplitude - 21.0)
    else:
        beta = 0.0
    window = torch.kaiser_window(kernel_size, beta=beta, periodic=False)
    time = torch.arange(-half, half) + 0.5 if kernel_size % 2 == 0 else torch.arange(kernel_size) - half
    filt = 2 * cutoff * window * _sinc(2 * cutoff * time)
    filt /= filt.sum()
    return filt.view(1, 1, kernel_size)


class UpSample1d(nn.Module):
    """x `ratio` by transposed convolution with a sinc filter: kaiser (BigVGAN, stored as `filter`)
    or hann (torchaudio's resampling kernel; not stored)."""

    def __init__(self, ratio: int = 2, kernel_size: int | None = None, window: str = "kaiser"):
        super().__init__()
        self.ratio = ratio
        if window == "hann":
            rolloff, width_taps = 0.99, 6
            width = math.ceil(width_taps / rolloff)
            self.kernel_size = 2 * width * ratio + 1
            self.pad, self.pad_left, self.pad_right = width, 2 * width * ratio, self.kernel_size - ratio
            t = (torch.arange(self.kernel_size) / ratio - width) * rolloff
            w = torch.cos(t.clamp(-width_taps, width_taps) * math.pi / width_taps / 2) ** 2
            self.register_buffer("filter", (torch.sinc(t) * w * rolloff / ratio).view(1, 1, -1), persistent=False)
        else:
            self.kernel_size = kernel_size or int(6 * ratio // 2) * 2
            self.pad = self.kernel_size // ratio - 1
            self.pad_left = self.pad * ratio + (self.kernel_size - ratio) // 2
            self.pad_right = self.pad * ratio + (self.kernel_size - ratio + 1) // 2
            self.register_buffer("filter", kaiser_sinc_filter(0.5 / ratio, 0.6 / ratio, self.kernel_size))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        filt = self.filter.to(dtype=x.dtype, device=x.device).expand(x.shape[1], -1, -1)
        x = self.ratio * F.conv_transpose1d(
            F.pad(x, (self.pad, self.pad), mode="replicate"), filt, stride=self.ratio, groups=x.shape[1]
        )
        return x[..., self.pad_left : -self.pad_right]


class LowPassFilter1d(nn.Module):
    def __init__(self, cutoff: float, half_width: float, stride: int, kernel_size: int):
        super().__init__()
        self.stride = stride
        self.pad_left, self.pad_right = kernel_size // 2 - int(kernel_size % 2 == 0), kernel_size // 2
        self.register_buffer("filter", kaiser_sinc_filter(cutoff, half_width, kernel_size))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.pad(x, (self.pad_left, self.pad_right), mode="replicate")
        return F.conv1d(x, self.filter.expand(x.shape[1], -1, -1), stride=self.stride, groups=x.shape[1])


class DownSample1d(nn.Module):
    def __init__(self, ratio: int = 2, kernel_size: int = 12):
        super().__init__()
        self.lowpass = LowPassFilter1d(0.5 / ratio, 0.6 / ratio, ratio, kernel_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.lowpass(x)


class Snake(nn.Module):
    """x + sin^2(alpha x) / beta (SnakeBeta; Snake uses alpha for both), log-scale parameters."""

    def __init__(self, channels: int, with_beta: bool):
        super().__init__()
        self.alpha = nn.Parameter(torch.zeros(channels))
        self.beta = nn.Parameter(torch.zeros(channels)) if with_beta else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        alpha = torch.exp(self.alpha.unsqueeze(0).unsqueeze(-1))
        beta = alpha if self.beta is None else torch.exp(self.beta.unsqueeze(0).unsqueeze(-1))
        return x + (1.0 / (beta + 1e-9)) * torch.sin(x * alpha).pow(2)


class Activation1d(nn.Module):
    """An activation applied at twice the sample rate (anti-aliased)."""

    def __init__(self, act: nn.Module):
        super().__init__()
        self.act, self.upsample, self.downsample = act, UpSample1d(2, 12), DownSample1d(2, 12)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.downsample(self.act(self.upsample(x)))


def _convs(channels: int, kernel: int, dilations, padding) -> nn.ModuleList:
    return nn.ModuleList(nn.Conv1d(channels, channels, kernel, 1, dilation=d, padding=padding(d)) for d in dilations)


class ResBlock1(nn.Module):
    """HiFi-GAN: x += conv2(lrelu(conv1(lrelu(x)))) for three dilations."""

    def __init__(self, channels: int, kernel: int, dilations):
        super().__init__()
        self.convs1 = _convs(channels, kernel, dilations, lambda d: "same")
        self.convs2 = _convs(channels, kernel, (1, 1, 1), lambda d: "same")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for c1, c2 in zip(self.convs1, self.convs2, strict=True):
            x = c2(F.leaky_relu(c1(F.leaky_relu(x, LRELU_SLOPE)), LRELU_SLOPE)) + x
        return x


class AMPBlock1(nn.Module):
    """BigVGAN-v2: x += conv2(act(conv1(act(x)))) for three dilations, anti-aliased Snake activations."""

    def __init__(self, channels: int, kernel: int, dilations, activation: str):
        super().__init__()
        same = lambda d: (kernel * d - d) // 2  # noqa: E731
        self.convs1 = _convs(channels, kernel, dilations, same)
        self.convs2 = _convs(channels, kernel, (1, 1, 1), same)
        beta = activation == "snakebeta"
        self.acts1 = nn.ModuleList(Activation1d(Snake(channels, beta)) for _ in self.convs1)
        self.acts2 = nn.ModuleList(Activation1d(Snake(channels, beta)) for _ in self.convs2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for c1, c2, a1, a2 in zip(self.convs1, self.convs2, self.acts1, self.acts2, strict=True):
            x = x + c2(a2(c1(a1(x))))
        return x


class Generator(nn.Module):
    """Mel (B, 2, frames, mels) -> waveform (B, 2, frames x prod(upsample_rates)). The official name
    of this class is Vocoder; a 2.3 vocoder holds two of them."""

    def __init__(self, cfg: GeneratorConfig, final_activation: bool = True):
        super().__init__()
        self.cfg, self.final_activation, self.amp = cfg, final_activation, cfg.resblock == "AMP1"
        c0 = cfg.upsample_initial_channel
        self.conv_pre = nn.Conv1d(128, c0, 7, 1, padding=3)  # 2 channels x 64 mel bins
        self.ups = nn.ModuleList(
            nn.ConvTranspose1d(c0 // 2**i, c0 // 2 ** (i + 1), k, r, padding=(k - r) // 2)
            for i, (r, k) in enumerate(zip(cfg.upsample_rates, cfg.upsample_kernel_sizes, strict=True))
        )
        self.resblocks = nn.ModuleList()
        for i in range(len(cfg.upsample_rates)):
            ch = c0 // 2 ** (i + 1)
            for k, d in zip(cfg.resblock_kernel_sizes, cfg.resblock_dilation_sizes, strict=True):
                self.resblocks.append(AMPBlock1(ch, k, d, cfg.activation) if self.amp else ResBlock1(ch, k, d))
        final = c0 // 2 ** len(cfg.upsample_rates)
        self.act_post = Activation1d(Snake(final, True)) if self.amp else nn.LeakyReLU()
        self.conv_post = nn.Conv1d(final, 2, 7, 1, padding=3, bias=cfg.use_bias_at_final)

    @property
    def output_sampling_rate(self) -> int:
        return self.cfg.output_sampling_rate

    def forward(self, mel: torch.Tensor) -> torch.Tensor:
        if mel.ndim != 4 or mel.shape[1] != 2 or mel.shape[3] != 64:
            raise ValueError(f"the vocoder takes stereo log-mel (B, 2, frames, 64), got {tuple(mel.shape)}")
        x = rearrange(mel.to(self.conv_pre.weight.dtype).transpose(2, 3), "b s c t -> b (s c) t")
        x = self.conv_pre(x)
        n = len(self.cfg.resblock_kernel_sizes)
        for i, up in enumerate(self.ups):
            if not self.amp:
                x = F.leaky_relu(x, LRELU_SLOPE)
            x = up(x)
            x = torch.stack([self.resblocks[j](x) for j in range(i * n, (i + 1) * n)], dim=0).mean(dim=0)
        x = self.conv_post(self.act_post(x))
        if self.final_activation:
            x = torch.tanh(x) if self.cfg.use_tanh_at_final else torch.clamp(x, -1, 1)
        return x.to(mel.dtype)


class STFT(nn.Module):
    """Causal STFT as a strided conv with stored DFT x window bases (real rows, then imaginary)."""

    def __init__(self, n_fft: int, hop: int):
        super().__init__()
        self.hop, self.win = hop, n_fft
        n_freqs = n_fft // 2 + 1
        self.register_buffer("forward_basis", torch.zeros(2 * n_freqs, 1, n_fft))
        self.register_buffer("inverse_basis", torch.zeros(2 * n_freqs, 1, n_fft))  # stored, unused

    def forward(self, y: torch.Tensor) -> torch.Tensor:
        """(B, T) -> magnitude (B, n_freqs, frames); only past samples are padded in (no lookahead)."""
        spec = F.conv1d(F.pad(y.unsqueeze(1), (max(0, self.win - self.hop), 0)), self.forward_basis, stride=self.hop)
        n = spec.shape[1] // 2
        return torch.sqrt(spec[:, :n] ** 2 + spec[:, n:] ** 2)


class MelSTFT(nn.Module):
    def __init__(self, n_fft: int, hop: int, n_mels: int):
        super().__init__()
        self.stft_fn = STFT(n_fft, hop)
        self.register_buffer("mel_basis", torch.zeros(n_mels, n_fft // 2 + 1))

    def forward(self, y: torch.Tensor) -> torch.Tensor:
        """(B, T) -> log-mel (B, n_mels, frames)."""
        magnitude = self.stft_fn(y)
        return torch.log(torch.clamp(torch.matmul(self.mel_basis.to(magnitude.dtype), magnitude), min=1e-5))


class BandwidthExtension(nn.Module):
    """The 2.3 / 2.5 vocoder: base generator at 16 kHz, then mel -> residual generator + sinc upsampling."""

    def __init__(self, cfg: VocoderConfig):
        super().__init__()
        b: BWEConfig = cfg.bwe
        self.cfg = cfg
        self.vocoder = Generator(cfg.generator)
        self.bwe_generator = Generator(b.generator, final_activation=False)
        self.mel_stft = MelSTFT(b.n_fft, b.hop_length, b.num_mels)
        with torch.device("cpu"):  # a constant: built on the CPU even when the model is built on meta
            self.resampler = UpSample1d(b.output_sampling_rate // b.input_sampling_rate, window="hann")

    @property
    def output_sampling_rate(self) -> int:
        return self.cfg.output_sampling_rate

    def forward(self, mel: torch.Tensor) -> torch.Tensor:
        b = self.cfg.bwe
        x = self.vocoder(mel.to(self.vocoder.conv_pre.weight.dtype))
        length = x.shape[-1]
        out_length = length * b.output_sampling_rate // b.input_sampling_rate
        if length % b.hop_length:
            x = F.pad(x, (0, b.hop_length - length % b.hop_length))
        batch, channels, _ = x.shape
        low_mel = self.mel_stft(x.reshape(batch * channels, -1))
        low_mel = low_mel.reshape(batch, channels, *low_mel.shape[1:]).transpose(2, 3)
        out = torch.clamp(self.bwe_generator(low_mel) + self.resampler(x), -1, 1)[..., :out_length]
        return out.to(mel.dtype)


def build_vocoder(cfg: VocoderConfig) -> nn.Module:
    return BandwidthExtension(cfg) if cfg.bwe is not None else Generator(cfg.generator)
