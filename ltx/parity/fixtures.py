"""Tiny checkpoints in the official single-file layout, with random weights.

The tensors come from the OFFICIAL modules' state dicts (ltx-core builds each component from the
tiny config; we only fill the values), so the layout is the official one by construction and our
loader is tested against it, not against itself. Values are drawn so that every branch matters:
weights ~ N(0, 1/fan_in), non-zero tables, norms near 1.
"""

from __future__ import annotations

import functools
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import save_file

from ltx.config import (
    AudioVAEConfig,
    BWEConfig,
    GeneratorConfig,
    TransformerConfig,
    UpsamplerConfig,
    VideoVAEConfig,
    VocoderConfig,
)
from ltx.parity.oracle import official_module

# Official metadata keys for the text connectors (the text side reads them; the transformer ignores them).
_CONNECTOR_2_0 = {
    "connector_num_attention_heads": 3,
    "connector_attention_head_dim": 8,
    "connector_num_layers": 2,
    "connector_num_learnable_registers": 8,
    "connector_positional_embedding_max_pos": [4096],
}
_CONNECTOR_2_3 = {
    **_CONNECTOR_2_0,
    "connector_num_attention_heads": 5,
    "audio_connector_num_attention_heads": 5,
    "audio_connector_attention_head_dim": 4,
    "connector_apply_gated_attention": True,
    "caption_projection_first_linear": False,
    "caption_proj_input_norm": False,
    "caption_projection_second_linear": False,
}


# The tiny Gemma-3 the tiny files' text side is sized for (hidden x (layers + 1) features per token).
TINY_GEMMA = {"hidden_size": 24, "num_hidden_layers": 3}


@dataclass(frozen=True)
class TinySpec:
    """A built-in tiny single-file checkpoint: the components it holds and their configs."""

    name: str
    description: str
    transformer: TransformerConfig | None
    model_version: str
    extra_config: dict[str, Any] = field(default_factory=dict)
    connectors: bool = True
    text_projection: bool = True  # False: a split 2.5 transformer file (the projection is in the text encoder's)
    fp8_cast: bool = False  # store block attention/FF linears as float8_e4m3fn, the rest bf16
    vae: VideoVAEConfig | None = None
    audio_vae: AudioVAEConfig | None = None
    vocoder: VocoderConfig | None = None


_TINY_2_0 = TransformerConfig(
    num_layers=3,
    num_attention_heads=5,  # 5 x 8 = 40: 40 % 6 = 4 channels of interleaved padding, as 4096 % 6 = 4
    attention_head_dim=8,
    cross_attention_dim=40,
    caption_channels=24,
    audio_num_attention_heads=5,  # ltx-core 1.2.0 refuses audio and video head counts that differ
    audio_attention_head_dim=6,  # 5 x 6 = 30: 30 % 6 = 0, the audio stream's RoPE needs no padding
    audio_cross_attention_dim=30,
    av_ca_timestep_scale_multiplier=1000,
    rope_type="interleaved",
    frequencies_precision="float32",
)
_TINY_2_3 = _TINY_2_0.replace(
    audio_attention_head_dim=4,
    audio_cross_attention_dim=20,
    rope_type="split",
    frequencies_precision="float64",
    apply_gated_attention=True,
    cross_attention_adaln=True,
    caption_proj_before_connector=True,
)
# LTX-2.5: the 2.3 options with a bias-free video feed-forward and the keyframe embedding (the audio
# feed-forward's biases and the prompt AdaLN as the defaults keep them; tests flip those too)
_TINY_2_5 = _TINY_2_3.replace(ff_bias=False, use_keyframes_abs_pos_embedding=True)

# Video VAEs: 128 latent channels (what the transformers take) but narrow elsewhere; each one
# exercises different blocks and options of its family.
_VAE_2_0 = VideoVAEConfig(  # 2.0 block kinds, reflect padding in both halves, no timestep conditioning
    family="ltx2",
    encoder_blocks=(
        ("res_x", {"num_layers": 1}),
        ("compress_space_res", {"multiplier": 1}),
        ("res_x", {"num_layers": 1}),
        ("compress_time_res", {"multiplier": 1}),
        ("compress_all_res", {"multiplier": 1}),
        ("res_x", {"num_layers": 1}),
        ("compress_all_res", {"multiplier": 2}),
        ("res_x", {"num_layers": 1}),
    ),
    decoder_blocks=(
        ("res_x", {"num_layers": 1}),
        ("compress_all", {"residual": True, "multiplier": 2}),
        ("res_x", {"num_layers": 1}),
        ("compress_all", {"residual": True, "multiplier": 2}),
        ("res_x", {"num_layers": 2}),
        ("compress_all", {"residual": True, "multiplier": 2}),
        ("res_x", {"num_layers": 1}),
    ),
    decoder_base_channels=16,
    encoder_padding="reflect",
    decoder_padding="reflect",
    timestep_conditioning=False,
)
_VAE_2_3 = _VAE_2_0.replace(  # the denoising decoder with noise injection, causal decoding, default paddings
    encoder_blocks=(
        ("res_x", {"num_layers": 1}),
        ("compress_time_res", {"multiplier": 1}),
        ("compress_space", {}),
        ("res_x", {"num_layers": 1}),
        ("compress_all_x_y", {"multiplier": 1}),
        ("compress_all_res", {"multiplier": 1}),
        ("res_x", {"num_layers": 1}),
    ),
    decoder_blocks=(
        ("res_x", {"num_layers": 1, "inject_noise": True}),
        ("compress_time", {}),
        ("compress_space", {"multiplier": 2}),
        ("res_x", {"num_layers": 1, "inject_noise": True}),
        ("compress_all", {"residual": True, "multiplier": 2}),
        ("res_x", {"num_layers": 2}),
        ("compress_all", {"residual": False, "multiplier": 2}),
        ("res_x", {"num_layers": 1, "inject_noise": True}),
    ),
    encoder_padding="zeros",  # the key is left out of the file: ltx-core's defaults apply
    decoder_padding="reflect",
    causal_decoder=True,
    timestep_conditioning=True,
)
_VAE_0_9_1 = VideoVAEConfig(  # LTX-Video 0.9.1 kinds: plain compress_all, res_x_y, noise + timestep decoder
    family="ltxv",
    patch_size=4,
    norm_layer="pixel_norm",
    latent_log_var="uniform",
    encoder_blocks=(
        ("res_x", {"num_layers": 1}),
        ("compress_all", {}),
        ("res_x_y", {"multiplier": 2}),
        ("res_x", {"num_layers": 1}),
        ("compress_all", {}),
        ("res_x_y", {"multiplier": 2}),
        ("res_x", {"num_layers": 1}),
        ("compress_all", {}),
        ("res_x", {"num_layers": 1}),
    ),
    decoder_blocks=(
        ("res_x", {"num_layers": 1, "inject_noise": True}),
        ("compress_all", {"residual": True, "multiplier": 2}),
        ("res_x", {"num_layers": 1, "inject_noise": True}),
        ("compress_all", {"residual": True, "multiplier": 2}),
        ("res_x", {"num_layers": 2, "inject_noise": True}),
        ("compress_all", {"residual": True, "multiplier": 2}),
        ("res_x", {"num_layers": 1}),
    ),
    encoder_base_channels=32,
    decoder_base_channels=16,
    encoder_padding="zeros",
    decoder_padding="zeros",
    timestep_conditioning=True,
)
_VAE_0_9_0 = _VAE_0_9_1.replace(  # legacy shared block list, GroupNorm, per-channel log-variance, quant convs
    norm_layer="group_norm",
    latent_log_var="per_channel",
    use_quant_conv=True,
    encoder_blocks=(
        ("res_x", {"num_layers": 1}),
        ("compress_all", {"num_layers": 1}),
        ("res_x_y", {"num_layers": 1}),
        ("res_x", {"num_layers": 1}),
        ("compress_all", {"num_layers": 1}),
        ("res_x_y", {"num_layers": 1}),
        ("res_x", {"num_layers": 1}),
        ("compress_all", {"num_layers": 1}),
        ("res_x", {"num_layers": 1}),
    ),
    decoder_base_channels=32,
    timestep_conditioning=False,
)
_VAE_0_9_0 = _VAE_0_9_0.replace(decoder_blocks=_VAE_0_9_0.encoder_blocks)

# Audio: the token width is fixed at 8 x 16 = 128 (the statistics are sized by `ch`, the vocoders
# take 2 x 64 mel bins), so the tiny audio VAEs keep ch = 128 and save elsewhere.
_AUDIO_2_0 = AudioVAEConfig(ch_mult=(1, 1, 1), num_res_blocks=1, attn_resolutions=(128,))
_AUDIO_2_3 = AudioVAEConfig(ch_mult=(1, 2, 2), num_res_blocks=1, attn_resolutions=(64,))
_VOCODER_2_0 = VocoderConfig(GeneratorConfig(upsample_initial_channel=64))  # HiFi-GAN, 24 kHz
_VOCODER_2_3 = VocoderConfig(  # BigVGAN-style at 16 kHz + bandwidth extension to 48 kHz
    GeneratorConfig(resblock="AMP1", activation="snakebeta", resblock_kernel_sizes=(3, 5),
                    resblock_dilation_sizes=((1, 3, 5), (1, 3, 5)), upsample_rates=(5, 4, 2, 2, 2),
                    upsample_kernel_sizes=(11, 8, 4, 4, 4), upsample_initial_channel=64, output_sampling_rate=16000),
    BWEConfig(GeneratorConfig(resblock="AMP1", activation="snakebeta", resblock_kernel_sizes=(3,),
                              resblock_dilation_sizes=((1, 3, 5),), upsample_rates=(6, 5, 2, 2, 2),
                              upsample_kernel_sizes=(12, 11, 4, 4, 4), upsample_initial_channel=32,
                              output_sampling_rate=48000, use_bias_at_final=False)),
)  # fmt: skip

TINY: dict[str, TinySpec] = {
    s.name: s
    for s in (
        TinySpec(
            "ltx-2.0-tiny",
            "LTX-2.0: interleaved RoPE with front padding, caption projections; reflect-padded VAE; HiFi-GAN",
            _TINY_2_0,
            "2.0.0",
            _CONNECTOR_2_0,
            vae=_VAE_2_0,
            audio_vae=_AUDIO_2_0,
            vocoder=_VOCODER_2_0,
        ),
        TinySpec(
            "ltx-2.3-tiny",
            "LTX-2.3: split RoPE (float64), gated attention, cross-attention AdaLN; denoising VAE; BWE vocoder",
            _TINY_2_3,
            "2.3.0",
            _CONNECTOR_2_3,
            vae=_VAE_2_3,
            audio_vae=_AUDIO_2_3,
            vocoder=_VOCODER_2_3,
        ),
        TinySpec(
            "ltx-2.5-tiny",
            "LTX-2.5 transformer file (split: transformer + connectors): bias-free video feed-forward, keyframe "
            "embedding",
            _TINY_2_5,
            "2.5.0",
            _CONNECTOR_2_3,
            text_projection=False,
        ),
        TinySpec(
            "ltx-2.0-video-only-tiny",
            "the video-only variant (split RoPE, float64 grid)",
            _TINY_2_0.replace(has_audio=False, rope_type="split", frequencies_precision="float64"),
            "2.0.0",
            connectors=False,
        ),  # fmt: skip
        TinySpec(
            "ltx-2.0-fp8-cast-tiny",
            "LTX-2.0 layout with fp8-cast block linears (float8_e4m3fn, no scales)",
            _TINY_2_0,
            "2.0.0",
            _CONNECTOR_2_0,
            fp8_cast=True,
        ),  # fmt: skip
        TinySpec(
            "ltx-video-0.9.1-tiny",
            "LTX-Video 0.9.1 VAE: res_x_y blocks, timestep-conditioned decoder with noise injection",
            None,
            "0.9.1",
            connectors=False,
            vae=_VAE_0_9_1,
        ),
        TinySpec(
            "ltx-video-0.9.0-tiny",
            "LTX-Video 0.9.0 VAE: legacy shared block list, GroupNorm, per-channel variance, quant convs",
            None,
            "0.9.0",
            connectors=False,
            vae=_VAE_0_9_0,
        ),
    )
}


@dataclass(frozen=True)
class UpsamplerSpec:
    """A built-in tiny latent upsampler file, for the VAE family whose statistics it works with."""

    name: str
    description: str
    config: UpsamplerConfig
    family: str  # "ltx2": compared with ltx-core; "ltxv": with ltx-video (plus AdaIN)
    vae: str  # the TINY checkpoint whose latent statistics it runs with


_UP = UpsamplerConfig(mid_channels=32, num_blocks_per_stage=1)
UPSAMPLERS: dict[str, UpsamplerSpec] = {
    s.name: s
    for s in (
        UpsamplerSpec("ltx-2-upsampler-x2-tiny", "spatial x2", _UP, "ltx2", "ltx-2.0-tiny"),
        UpsamplerSpec(
            "ltx-2-upsampler-x1.5-tiny",
            "spatial x1.5 (rational)",
            _UP.replace(rational_resampler=True, spatial_scale=1.5),
            "ltx2",
            "ltx-2.3-tiny",
        ),  # fmt: skip
        UpsamplerSpec(
            "ltx-2-upsampler-temporal-tiny",
            "temporal x2",
            _UP.replace(spatial_upsample=False, temporal_upsample=True),
            "ltx2",
            "ltx-2.0-tiny",
        ),  # fmt: skip
        UpsamplerSpec(
            "ltx-video-upsampler-x2-tiny",
            "spatial x2 (per-frame network), with AdaIN",
            _UP.replace(dims=2),
            "ltxv",
            "ltx-video-0.9.1-tiny",
        ),  # fmt: skip
    )
}


def official_config(spec: TinySpec) -> dict[str, Any]:
    config: dict[str, Any] = {}
    if spec.transformer is not None:
        config["transformer"] = {**spec.transformer.to_metadata(), **spec.extra_config}
    if spec.vae is not None:
        config["vae"] = spec.vae.to_metadata()
    if spec.audio_vae is not None:
        config["audio_vae"] = spec.audio_vae.to_metadata()
    if spec.vocoder is not None:
        config["vocoder"] = spec.vocoder.to_metadata()
    return config


def official_tensors(spec: TinySpec) -> dict[str, torch.Tensor]:
    """File key -> tensor (for its shape and dtype) of every component of `spec`, taken from the
    official modules' state dicts."""
    config = official_config(spec)
    out: dict[str, torch.Tensor] = {}
    if spec.transformer is not None:
        from ltx_core.model.transformer import LTXModelConfigurator, LTXVideoOnlyModelConfigurator

        configurator = LTXModelConfigurator if spec.transformer.has_audio else LTXVideoOnlyModelConfigurator
        out.update(_prefixed("model.diffusion_model.", official_module(configurator, config)))
    if spec.connectors:
        from ltx_core.text_encoders.gemma.embeddings_connector import (
            AudioEmbeddings1DConnectorConfigurator,
            Embeddings1DConnectorConfigurator,
        )

        from ltx.parity.oracle import official_text_processor_module

        for stream, configurator in (
            ("video", Embeddings1DConnectorConfigurator),
            ("audio", AudioEmbeddings1DConnectorConfigurator),
        ):
            out.update(
                _prefixed(
                    f"model.diffusion_model.{stream}_embeddings_connector.", official_module(configurator, config)
                )
            )
    if spec.connectors and spec.text_projection:
        text = official_text_processor_module(config, TINY_GEMMA["hidden_size"], TINY_GEMMA["num_hidden_layers"])
        for k, v in text.feature_extractor.state_dict().items():
            out["text_embedding_projection." + k] = v
    if spec.vae is not None:
        out.update(_official_vae_tensors(spec.vae, config))
    if spec.audio_vae is not None or spec.vocoder is not None:
        from ltx.parity.oracle import ensure_torchaudio

        ensure_torchaudio()  # ltx-core's audio package imports torchaudio at module level
        from ltx_core.model import audio_vae as official

        if spec.audio_vae is not None:
            for part, configurator in (
                ("encoder", official.AudioEncoderConfigurator),
                ("decoder", official.AudioDecoderConfigurator),
            ):
                for k, v in official_module(configurator, config).state_dict().items():
                    out["audio_vae." + k if k.startswith("per_channel_statistics.") else f"audio_vae.{part}.{k}"] = v
        if spec.vocoder is not None:
            out.update(_prefixed("vocoder.", official_module(official.VocoderConfigurator, config)))
    return out


def _prefixed(prefix: str, module: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {prefix + k: v for k, v in module.state_dict().items()}


def _official_vae_tensors(cfg: VideoVAEConfig, config: dict[str, Any]) -> dict[str, torch.Tensor]:
    n = cfg.latent_channels
    stats = {f"vae.per_channel_statistics.{k}": torch.empty(n) for k in ("std-of-means", "mean-of-means")}
    # Statistics the shipped files carry and no official code reads:
    stats.update(
        {
            "vae.per_channel_statistics.channel": torch.empty(n),
            "vae.per_channel_statistics.mean-of-stds": torch.empty(n),
        }
    )
    if cfg.family == "ltxv":
        from ltx_video.models.autoencoders.causal_video_autoencoder import CausalVideoAutoencoder

        return {**_prefixed("vae.", CausalVideoAutoencoder.from_config(dict(config["vae"]))), **stats}
    from ltx_core.model.video_vae import VideoDecoderConfigurator, VideoEncoderConfigurator

    out = {}
    for part, configurator in (("encoder", VideoEncoderConfigurator), ("decoder", VideoDecoderConfigurator)):
        for k, v in official_module(configurator, config).state_dict().items():
            if not k.startswith("per_channel_statistics."):
                out[f"vae.{part}.{k}"] = v
    return {**out, **stats}


def random_value(
    name: str, shape: torch.Size, gen: torch.Generator, device: str | torch.device = "cpu"
) -> torch.Tensor:
    """A value for parameter `name` that keeps activations O(1) and makes its branch contribute."""
    leaf = name.rsplit(".", 1)[-1]
    randn = lambda: torch.randn(shape, generator=gen, device=device)  # noqa: E731
    uniform = lambda lo, hi: lo + (hi - lo) * torch.rand(shape, generator=gen, device=device)  # noqa: E731
    if leaf in ("std-of-means", "mean-of-stds"):  # latent statistics: clearly positive
        return uniform(0.5, 1.5)
    if leaf == "channel":
        return torch.arange(shape[0], dtype=torch.float32, device=device)
    if leaf == "timestep_scale_multiplier":  # the VAE decoder's learned multiplier (1000 at init)
        return 1000 * uniform(0.8, 1.2)
    if leaf == "weight" and len(shape) == 1:  # norm weights: near 1
        return 1 + 0.2 * randn()
    if leaf == "weight":  # linear and conv weights: unit gain
        return randn() / math.sqrt(math.prod(shape[1:]))
    if leaf == "bias":
        return 0.1 * randn()
    # scale/shift tables, learnable registers, noise scales: clearly non-zero
    return 0.5 * randn()


def _value(key: str, official: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Random values, except for constants that must be what they are to mean anything: the
    vocoders' anti-aliasing filters (as the official modules compute them) and the 2.3 vocoder's
    STFT and mel bases (a causal hann-windowed DFT and the slaney filterbank)."""
    if key.endswith(".filter"):
        return official.clone()
    if key.endswith("stft_fn.forward_basis"):
        n_fft = official.shape[-1]
        k, n = torch.arange(n_fft // 2 + 1)[:, None], torch.arange(n_fft)[None]
        window, angle = torch.hann_window(n_fft), 2 * math.pi * k * n / n_fft
        return torch.cat([torch.cos(angle) * window, -torch.sin(angle) * window]).unsqueeze(1).float()
    if key.endswith("mel_stft.mel_basis"):
        from ltx.audio.mel import mel_filterbank

        n_mels, n_freqs = official.shape
        return mel_filterbank(16000, 2 * (n_freqs - 1), n_mels).T.contiguous()
    return random_value(key, official.shape, gen).contiguous()


def constant_value(key: str, config: dict[str, Any]) -> torch.Tensor | None:
    """The true value of a vocoder constant (anti-aliasing filter, STFT or mel basis) of a file with
    `config`; None for any other key."""
    if not key.startswith("vocoder.") or not key.endswith(_CONSTANTS):
        return None
    return _vocoder_constants(json.dumps(config["vocoder"], sort_keys=True))[key]


_CONSTANTS = (".filter", "forward_basis", "mel_basis")


@functools.lru_cache(maxsize=2)
def _vocoder_constants(section: str) -> dict[str, torch.Tensor]:
    from ltx.audio.vocoder import build_vocoder

    with torch.device("cpu"):  # the filters are computed at construction
        state = build_vocoder(VocoderConfig.from_metadata(json.loads(section))).state_dict()
    gen = torch.Generator().manual_seed(0)
    return {"vocoder." + k: _value("vocoder." + k, t, gen) for k, t in state.items() if k.endswith(_CONSTANTS)}


def fp8_cast_key(key: str) -> bool:
    """Which tensors the official fp8-cast files store in float8: block attention and FF linears."""
    suffixes = (".to_q.", ".to_k.", ".to_v.", ".to_out.0.", "ff.net.0.proj.", "ff.net.2.")
    return key.startswith("model.diffusion_model.transformer_blocks.") and any(s in key for s in suffixes)


def write_tiny_checkpoint(spec: TinySpec | str, path: str | Path, seed: int = 0) -> Path:
    """Write the tiny checkpoint `spec` to `path` (float32, or fp8 + bf16 for fp8-cast specs)."""
    spec = TINY[spec] if isinstance(spec, str) else spec
    gen = torch.Generator().manual_seed(seed)
    tensors = {k: _value(k, v, gen) for k, v in official_tensors(spec).items()}
    if spec.fp8_cast:
        tensors = {k: v.to(torch.float8_e4m3fn if fp8_cast_key(k) else torch.bfloat16) for k, v in tensors.items()}
    metadata = {"config": json.dumps(official_config(spec)), "model_version": spec.model_version}
    return _save(tensors, path, metadata)


def write_tiny_upsampler(spec: UpsamplerSpec | str, path: str | Path, seed: int = 0) -> Path:
    """A latent upsampler file: flat keys from the official module, `config` metadata."""
    spec = UPSAMPLERS[spec] if isinstance(spec, str) else spec
    if spec.family == "ltxv":
        from ltx_video.models.autoencoders.latent_upsampler import LatentUpsampler

        module = LatentUpsampler.from_config(spec.config.to_metadata())
    else:
        from ltx_core.model.upsampler import LatentUpsamplerConfigurator

        module = official_module(LatentUpsamplerConfigurator, spec.config.to_metadata())
    gen = torch.Generator().manual_seed(seed)
    tensors = {
        k: v.clone() if k.endswith("blur_down.kernel") else random_value(k, v.shape, gen).contiguous()
        for k, v in module.state_dict().items()
    }
    return _save(tensors, path, {"config": json.dumps(spec.config.to_metadata())})


def _save(tensors: dict[str, torch.Tensor], path: str | Path, metadata: dict[str, str]) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file(tensors, str(path), metadata=metadata)
    return path


def write_scaled_fp8_checkpoint(
    src: str | Path, dst: str | Path, blocks: set[int], input_scale: float = 6.0 / 448
) -> Path:
    """Copy `src` with the attention/FF linears of `blocks` in the official scaled-fp8 layout:
    weight float8_e4m3fn (out, in) with a per-tensor `weight_scale` and a static `input_scale`."""
    from ltx.checkpoint import Checkpoint

    ckpt = Checkpoint(src)
    tensors = {k: ckpt.tensor(k).clone() for k in ckpt.tensors}
    fp8_max = torch.finfo(torch.float8_e4m3fn).max
    for key in list(tensors):
        parts = key.split(".")
        if not (key.endswith(".weight") and fp8_cast_key(key) and int(parts[3]) in blocks):
            continue
        w = tensors[key].float()
        scale = w.abs().max() / fp8_max
        tensors[key] = (w / scale).clamp(-fp8_max, fp8_max).to(torch.float8_e4m3fn)
        layer = key[: -len(".weight")]
        tensors[layer + ".weight_scale"] = scale.reshape(())
        tensors[layer + ".input_scale"] = torch.tensor(input_scale)
    save_file(tensors, str(dst), metadata=ckpt.metadata)
    return Path(dst)
