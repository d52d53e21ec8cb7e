"""The LTX-2 text side: feature extractor and embeddings connectors, read from `config["transformer"]`
(the official code keeps their keys there), and the Gemma-3 dimensions they assume."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from ltx.config.base import ConfigError, check_values

# LTX-2.3 files say the projection moved from the transformer to the text side with exactly these values.
_V2_KEYS = {
    "caption_proj_before_connector": True,
    "caption_projection_first_linear": False,
    "caption_proj_input_norm": False,
    "caption_projection_second_linear": False,
}


@dataclass(frozen=True)
class ConnectorConfig:
    """A 1-D transformer over the prompt tokens (pre-norm attention + GELU MLP blocks, final RMSNorm)."""

    heads: int = 30
    head_dim: int = 128
    layers: int = 2
    registers: int = 128  # learnable tokens that fill the padded tail (the file's tensor gives the count)
    gated: bool = False
    ff_bias: bool = True  # False (`connector_ff_bias`): the feed-forwards have no biases
    rope_type: str = "split"  # the absent-key default of ltx-core 1.2.0 (1.0.0 defaulted to interleaved)
    float64: bool = False
    max_pos: tuple[int, ...] = (1,)
    theta: float = 10000.0

    @property
    def dim(self) -> int:
        return self.heads * self.head_dim


@dataclass(frozen=True)
class TextConfig:
    """version "v1" (LTX-2.0: masked per-layer min-max norm, one projection, shared by both streams;
    the transformer projects further) or "v2" (LTX-2.3: per-token RMS norm, a projection per stream)."""

    version: str
    video: ConnectorConfig
    audio: ConnectorConfig | None
    gemma_hidden: int = 3840  # Gemma-3-12B; the projection's input is gemma_hidden x (gemma_layers + 1)
    gemma_layers: int = 48
    max_tokens: int = 1024

    def __post_init__(self) -> None:
        if self.version not in ("v1", "v2"):
            raise ConfigError(f"text feature extractor version must be 'v1' or 'v2', got {self.version!r}")

    @property
    def features(self) -> int:
        return self.gemma_hidden * (self.gemma_layers + 1)

    @classmethod
    def from_metadata(cls, section: dict[str, Any], *, audio: bool = True, **overrides: Any) -> TextConfig:
        """From `config["transformer"]`; absent keys take the official defaults (audio connector keys fall
        back to the video ones)."""
        check_values(cls, section, "transformer")
        present = section.keys() & _V2_KEYS.keys()
        if present and present != _V2_KEYS.keys():
            raise ConfigError(f"partial LTX-2.3 text config: lacks {', '.join(sorted(_V2_KEYS.keys() - present))}")
        wrong = [f"{k}={section[k]!r}" for k in present if section[k] != _V2_KEYS[k]]
        if wrong:
            raise ConfigError(f"unsupported text config: {', '.join(wrong)}")
        shared = dict(
            rope_type=section.get("rope_type", "split"),
            float64=section.get("frequencies_precision", False) == "float64",
            max_pos=tuple(section.get("connector_positional_embedding_max_pos", [1])),
            gated=bool(section.get("connector_apply_gated_attention", False)),
            ff_bias=bool(section.get("connector_ff_bias", True)),
        )
        if shared["rope_type"] not in ("interleaved", "split"):
            raise ConfigError(f"unsupported rope_type {shared['rope_type']!r} for the text connectors")
        video = ConnectorConfig(
            heads=section.get("connector_num_attention_heads", 30),
            head_dim=section.get("connector_attention_head_dim", 128),
            layers=section.get("connector_num_layers", 2),
            **shared,
        )
        audio_connector = None
        if audio:
            audio_connector = ConnectorConfig(
                heads=section.get("audio_connector_num_attention_heads", video.heads),
                head_dim=section.get("audio_connector_attention_head_dim", video.head_dim),
                layers=section.get("audio_connector_num_layers", video.layers),
                **shared,
            )
        return cls("v2" if present else "v1", video, audio_connector, **overrides)

    def to_metadata(self) -> dict[str, Any]:
        """The keys of `config["transformer"]` that describe this text side."""
        v = self.video
        out: dict[str, Any] = {
            "connector_num_attention_heads": v.heads,
            "connector_attention_head_dim": v.head_dim,
            "connector_num_layers": v.layers,
            "connector_positional_embedding_max_pos": list(v.max_pos),
            "connector_apply_gated_attention": v.gated,
        }
        if not v.ff_bias:
            out["connector_ff_bias"] = False
        if self.audio is not None:
            a = self.audio
            out |= {"audio_connector_num_attention_heads": a.heads, "audio_connector_attention_head_dim": a.head_dim,
                    "audio_connector_num_layers": a.layers}  # fmt: skip
        return out | (_V2_KEYS if self.version == "v2" else {})

    def replace(self, **changes: Any) -> TextConfig:
        return dataclasses.replace(self, **changes)


# Full-size text sides; rope type and precision follow each transformer preset. The
# connectors' max_pos is not published here: 4096 is a placeholder that changes no parameter shape.
_CONNECTOR_19B = ConnectorConfig(30, 128, 2, rope_type="split", float64=True, max_pos=(4096,))
LTX2_19B_TEXT = TextConfig("v1", _CONNECTOR_19B, _CONNECTOR_19B)
LTX2_3_22B_TEXT = TextConfig(
    "v2",
    ConnectorConfig(32, 128, 8, gated=True, rope_type="split", float64=True, max_pos=(4096,)),
    ConnectorConfig(32, 64, 8, gated=True, rope_type="split", float64=True, max_pos=(4096,)),
)
# LTX-2.5-22B: the V2 text side with connectors out 4096 / 2048 (stated); their heads and depth as 2.3's (assumed:
# the 2.5 code states neither, the file's config does). The Gemma-4 feature width is the text encoder file's.
LTX2_5_22B_TEXT = LTX2_3_22B_TEXT
TEXT_PRESETS = {"ltx-2-19b": LTX2_19B_TEXT, "ltx-2.3-22b": LTX2_3_22B_TEXT, "ltx-2.5-22b": LTX2_5_22B_TEXT}
