"""Configs of the audio VAE (`config["audio_vae"]`) and the vocoders (`config["vocoder"]`)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from ltx.config.base import ConfigError, check_values

CAUSALITY_AXES = ("height", "width", "width-compatibility", None)


@dataclass(frozen=True)
class AudioVAEConfig:
    """The mel-spectrogram VAE: 2-D convs over (time, mel) with stereo as channels. Field names are
    the official `ddconfig` keys, plus the front-end's (sample rate, hop, FFT size, mel bins)."""

    ch: int = 128
    out_ch: int = 2
    in_channels: int = 2
    ch_mult: tuple[int, ...] = (1, 2, 4)
    num_res_blocks: int = 2
    attn_resolutions: tuple[int, ...] = (8, 16, 32)
    resolution: int = 256
    z_channels: int = 8
    double_z: bool = True
    norm_type: str = "pixel"  # "pixel" | "group"
    causality_axis: str | None = "height"  # the time axis of (B, C, time, mel) is "height"
    mid_block_add_attention: bool = True
    attn_type: str = "vanilla"  # "vanilla" | "none"
    resamp_with_conv: bool = True
    sample_rate: int = 16000
    mel_hop_length: int = 160
    n_fft: int = 1024
    is_causal: bool = True
    mel_bins: int = 64

    def __post_init__(self) -> None:
        if self.norm_type not in ("pixel", "group"):
            raise ConfigError(f"audio VAE norm_type must be 'pixel' or 'group', got {self.norm_type!r}")
        if self.causality_axis not in CAUSALITY_AXES:
            raise ConfigError(f"audio VAE causality_axis must be one of {CAUSALITY_AXES}, got {self.causality_axis!r}")
        if self.causality_axis is not None and self.norm_type == "group":
            raise ConfigError("a causal audio VAE cannot use GroupNorm (the official code refuses it too)")
        if self.attn_type not in ("vanilla", "none"):
            raise ConfigError(f"audio VAE attn_type must be 'vanilla' or 'none', got {self.attn_type!r}")
        if self.ch != self.latent_features:  # the statistics are sized by `ch` and applied per token feature
            raise ConfigError(
                f"audio VAE: ch ({self.ch}) must equal z_channels x latent mel bins ({self.latent_features})"
            )
        if not self.resamp_with_conv and self.causality_axis is not None:
            raise ConfigError("a causal audio VAE downsamples with convolutions (resamp_with_conv=True)")

    @property
    def latent_mel_bins(self) -> int:
        return self.mel_bins // 2 ** (len(self.ch_mult) - 1)

    @property
    def latent_features(self) -> int:
        """Features per audio token: z_channels x latent mel bins (8 x 16 = 128)."""
        return self.z_channels * self.latent_mel_bins

    @classmethod
    def from_metadata(cls, section: dict[str, Any]) -> AudioVAEConfig:
        check_values(cls, section, "audio_vae")
        params = section.get("model", {}).get("params", {})
        dd = params.get("ddconfig", {})
        pre = section.get("preprocessing", {})
        stft, mel = pre.get("stft", {}), pre.get("mel", {})
        known = {f.name for f in dataclasses.fields(cls)}
        values = {k: v for k, v in dd.items() if k in known}
        for key in ("ch_mult", "attn_resolutions"):
            if key in values:
                values[key] = tuple(sorted(values[key]) if key == "attn_resolutions" else values[key])
        values["mel_bins"] = (
            dd.get("mel_bins") or mel.get("n_mel_channels") or section.get("variables", {}).get("mel_bins") or 64
        )
        return cls(
            **values,
            sample_rate=params.get("sampling_rate", 16000),
            mel_hop_length=stft.get("hop_length", 160),
            n_fft=stft.get("filter_length", 1024),
            is_causal=stft.get("causal", True),
        )

    def to_metadata(self) -> dict[str, Any]:
        dd = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        for key in ("sample_rate", "mel_hop_length", "n_fft", "is_causal"):
            dd.pop(key)
        dd = {k: list(v) if isinstance(v, tuple) else v for k, v in dd.items()}
        return {
            "model": {"params": {"ddconfig": dd, "sampling_rate": self.sample_rate}},
            "preprocessing": {
                "stft": {"hop_length": self.mel_hop_length, "filter_length": self.n_fft, "causal": self.is_causal},
                "mel": {"n_mel_channels": self.mel_bins},
            },
        }

    def replace(self, **changes: Any) -> AudioVAEConfig:
        return dataclasses.replace(self, **changes)


@dataclass(frozen=True)
class GeneratorConfig:
    """One HiFi-GAN ("1") or BigVGAN-v2 ("AMP1") generator: mel (2 x 64 channels) -> stereo wave."""

    resblock_kernel_sizes: tuple[int, ...] = (3, 7, 11)
    upsample_rates: tuple[int, ...] = (6, 5, 2, 2, 2)
    upsample_kernel_sizes: tuple[int, ...] = (16, 15, 8, 4, 4)
    resblock_dilation_sizes: tuple[tuple[int, ...], ...] = ((1, 3, 5), (1, 3, 5), (1, 3, 5))
    upsample_initial_channel: int = 1024
    resblock: str = "1"
    output_sampling_rate: int = 24000
    activation: str = "snake"  # AMP1 only: "snake" | "snakebeta"
    use_tanh_at_final: bool = True
    use_bias_at_final: bool = True

    def __post_init__(self) -> None:
        if self.resblock not in ("1", "AMP1"):
            raise ConfigError(f"vocoder resblock must be '1' or 'AMP1', got {self.resblock!r}")
        if self.activation not in ("snake", "snakebeta"):
            raise ConfigError(f"vocoder activation must be 'snake' or 'snakebeta', got {self.activation!r}")
        if len(self.upsample_rates) != len(self.upsample_kernel_sizes):
            raise ConfigError("vocoder upsample_rates and upsample_kernel_sizes differ in length")
        if len(self.resblock_kernel_sizes) != len(self.resblock_dilation_sizes):
            raise ConfigError("vocoder resblock_kernel_sizes and resblock_dilation_sizes differ in length")

    @property
    def hop(self) -> int:
        """Output samples per input mel frame."""
        n = 1
        for r in self.upsample_rates:
            n *= r
        return n

    @classmethod
    def from_metadata(cls, section: dict[str, Any], **overrides: Any) -> GeneratorConfig:
        check_values(cls, section, "vocoder")
        if section.get("stereo", True) is not True:
            raise ConfigError("only stereo vocoders exist (stereo must be true)")
        known = {f.name for f in dataclasses.fields(cls)}
        values = {k: v for k, v in section.items() if k in known}
        for key in ("resblock_kernel_sizes", "upsample_rates", "upsample_kernel_sizes"):
            if key in values:
                values[key] = tuple(values[key])
        if "resblock_dilation_sizes" in values:
            values["resblock_dilation_sizes"] = tuple(tuple(d) for d in values["resblock_dilation_sizes"])
        return cls(**{**values, **overrides})

    def to_metadata(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out["stereo"] = True
        return {k: [list(x) for x in v] if k == "resblock_dilation_sizes" else list(v) if isinstance(v, tuple) else v
                for k, v in out.items()}  # fmt: skip

    def replace(self, **changes: Any) -> GeneratorConfig:
        return dataclasses.replace(self, **changes)


@dataclass(frozen=True)
class BWEConfig:
    """LTX-2.3's bandwidth extension: a causal log-mel of the base vocoder's output (n_fft, hop,
    num_mels; STFT and mel bases stored in the checkpoint) drives a second generator whose output is
    added to a sinc-upsampled copy of the base waveform."""

    generator: GeneratorConfig
    input_sampling_rate: int = 16000
    output_sampling_rate: int = 48000
    n_fft: int = 512
    hop_length: int = 80
    num_mels: int = 64

    def __post_init__(self) -> None:
        if self.output_sampling_rate % self.input_sampling_rate:
            raise ConfigError("the bandwidth extension needs an integer ratio of sampling rates")


@dataclass(frozen=True)
class VocoderConfig:
    generator: GeneratorConfig = GeneratorConfig()
    bwe: BWEConfig | None = None

    @property
    def output_sampling_rate(self) -> int:
        return self.bwe.output_sampling_rate if self.bwe else self.generator.output_sampling_rate

    @classmethod
    def from_metadata(cls, section: dict[str, Any]) -> VocoderConfig:
        """2.0: a flat HiFi-GAN section; 2.3: {"vocoder": {...}, "bwe": {...}} (AMP1, snakebeta)."""
        check_values(cls, section, "vocoder")
        if "bwe" not in section:
            gen = GeneratorConfig.from_metadata(section)
            if gen.resblock != "1":
                raise ConfigError("a vocoder without bandwidth extension must use resblock '1' (HiFi-GAN)")
            return cls(gen)
        bwe = section["bwe"]
        base, ext = section.get("vocoder", {}), bwe
        for name, part in (("vocoder", base), ("bwe", ext)):
            if part.get("resblock", "1") != "AMP1" or part.get("activation", "snake") != "snakebeta":
                raise ConfigError(f"the 2.3 vocoder's {name} generator must be AMP1 with snakebeta activations")
        missing = [
            k
            for k in ("input_sampling_rate", "output_sampling_rate", "n_fft", "hop_length", "num_mels")
            if k not in bwe
        ]
        if missing:
            raise ConfigError(f"the vocoder's bwe section lacks {', '.join(missing)}")
        return cls(
            GeneratorConfig.from_metadata(base, output_sampling_rate=bwe["input_sampling_rate"]),
            BWEConfig(
                GeneratorConfig.from_metadata(ext),
                bwe["input_sampling_rate"],
                bwe["output_sampling_rate"],
                bwe["n_fft"],
                bwe["hop_length"],
                bwe["num_mels"],
            ),
        )

    def to_metadata(self) -> dict[str, Any]:
        if self.bwe is None:
            return self.generator.to_metadata()
        b = self.bwe
        bwe = {**b.generator.to_metadata(), "input_sampling_rate": b.input_sampling_rate,
               "output_sampling_rate": b.output_sampling_rate, "n_fft": b.n_fft, "hop_length": b.hop_length,
               "num_mels": b.num_mels}  # fmt: skip
        return {"vocoder": self.generator.to_metadata(), "bwe": bwe}


# Full-size configurations of the shipped files. The LTX-2 audio VAE has no attention anywhere (the
# official defaults would add a mid-block attention: 21.3M/31.9M encoder/decoder parameters without it,
# as the published parameter counts give). The 2.3 vocoder: a 1536-channel BigVGAN-v2 generator at 16 kHz (hop 160)
# and a 512-channel extension generator (hop 240 on a hop-80 mel) to 48 kHz, 128.5M parameters.
LTX2_AUDIO_VAE = AudioVAEConfig(attn_resolutions=(), mid_block_add_attention=False)
LTX2_VOCODER = VocoderConfig()  # HiFi-GAN v1, 1024 channels, 24 kHz: 55.6M parameters
LTX2_3_VOCODER = VocoderConfig(
    GeneratorConfig(resblock="AMP1", activation="snakebeta", upsample_rates=(5, 2, 2, 2, 2, 2),
                    upsample_kernel_sizes=(11, 4, 4, 4, 4, 4), upsample_initial_channel=1536,
                    output_sampling_rate=16000, use_tanh_at_final=False, use_bias_at_final=False),
    BWEConfig(GeneratorConfig(resblock="AMP1", activation="snakebeta", upsample_rates=(6, 5, 2, 2, 2),
                              upsample_kernel_sizes=(12, 11, 4, 4, 4), upsample_initial_channel=512,
                              output_sampling_rate=48000, use_tanh_at_final=False, use_bias_at_final=False)),
)  # fmt: skip
AUDIO_VAE_PRESETS = {"ltx-2": LTX2_AUDIO_VAE}
VOCODER_PRESETS = {"ltx-2": LTX2_VOCODER, "ltx-2.3": LTX2_3_VOCODER}
