"""Typed configs, parsed from a checkpoint's `config` metadata.

A config is a frozen dataclass whose field names are the official metadata keys, so a reader can
put the JSON beside it. Defaults are the official code defaults, used only where a key is absent
(the shipped files carry most keys; the presets hold their values). One module per component.
"""

from ltx.config.audio import (
    AUDIO_VAE_PRESETS,
    LTX2_3_VOCODER,
    LTX2_AUDIO_VAE,
    LTX2_VOCODER,
    VOCODER_PRESETS,
    AudioVAEConfig,
    BWEConfig,
    GeneratorConfig,
    VocoderConfig,
)
from ltx.config.base import ConfigError
from ltx.config.text import LTX2_3_22B_TEXT, LTX2_5_22B_TEXT, LTX2_19B_TEXT, TEXT_PRESETS, ConnectorConfig, TextConfig
from ltx.config.transformer import LTX2_3_22B, LTX2_5_22B, LTX2_19B, PRESETS, TransformerConfig, preset
from ltx.config.vae import (
    LTX2_VAE,
    LTXV_0_9_1_VAE,
    LTXV_0_9_5_VAE,
    VAE_FAMILIES,
    VAE_PRESETS,
    UpsamplerConfig,
    VideoVAEConfig,
)

__all__ = [
    "AUDIO_VAE_PRESETS",
    "LTX2_3_VOCODER",
    "LTX2_AUDIO_VAE",
    "LTX2_VOCODER",
    "VOCODER_PRESETS",
    "AudioVAEConfig",
    "BWEConfig",
    "GeneratorConfig",
    "VocoderConfig",
    "LTX2_19B",
    "LTX2_3_22B",
    "LTX2_5_22B",
    "LTX2_VAE",
    "LTXV_0_9_1_VAE",
    "LTXV_0_9_5_VAE",
    "PRESETS",
    "VAE_FAMILIES",
    "VAE_PRESETS",
    "ConfigError",
    "ConnectorConfig",
    "LTX2_19B_TEXT",
    "LTX2_3_22B_TEXT",
    "LTX2_5_22B_TEXT",
    "TEXT_PRESETS",
    "TextConfig",
    "TransformerConfig",
    "UpsamplerConfig",
    "VideoVAEConfig",
    "preset",
]
