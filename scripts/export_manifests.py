"""Write the official key manifests into weights/manifests/.

Each manifest lists every tensor an official model expects in the single file for a shipped
configuration: key -> [shape, dtype], with the dtype the published file stores (bf16, or
float8_e4m3fn for the fp8-cast blocks). They are built from the official packages (ltx-core 1.2.0
for LTX-2, ltx-video 0.1.2 for LTX-Video) on the meta device, no weights needed, and checked by
tests/test_structure.py.

    python scripts/export_manifests.py            # rewrite the manifests
    python scripts/export_manifests.py --check    # exit 1 if a committed manifest differs
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

from ltx.config import (
    AUDIO_VAE_PRESETS,
    LTX2_3_22B,
    LTX2_5_22B,
    LTX2_19B,
    TEXT_PRESETS,
    VAE_PRESETS,
    VOCODER_PRESETS,
    AudioVAEConfig,
    TransformerConfig,
    VideoVAEConfig,
    VocoderConfig,
)
from ltx.parity.fixtures import _official_vae_tensors, fp8_cast_key
from ltx.parity.oracle import official_module

OUT = Path(__file__).resolve().parent.parent / "weights" / "manifests"
PREFIX = "model.diffusion_model."


def transformer_manifest(cfg: TransformerConfig, fp8_cast: bool) -> dict:
    from ltx_core.model.transformer import LTXModelConfigurator

    with torch.device("meta"):
        model = official_module(LTXModelConfigurator, {"transformer": cfg.to_metadata()})
    tensors = {}
    for name, t in model.state_dict().items():
        key = PREFIX + name
        dtype = torch.float8_e4m3fn if fp8_cast and fp8_cast_key(key) else torch.bfloat16
        tensors[key] = [list(t.shape), str(dtype).removeprefix("torch.")]
    return {
        "source": "ltx-core LTXModelConfigurator on the meta device",
        "config": {"transformer": cfg.to_metadata()},
        "parameters": sum(t.numel() for t in model.state_dict().values()),
        "tensors": tensors,
    }


def vae_manifest(cfg: VideoVAEConfig) -> dict:
    """The keys the official VAE reads (statistics nobody reads, though shipped, are left out)."""
    with torch.device("meta"):
        found = _official_vae_tensors(cfg, {"vae": cfg.to_metadata()})
    unused = ("vae.per_channel_statistics.channel", "vae.per_channel_statistics.mean-of-stds")
    tensors = {k: [list(t.shape), "bfloat16"] for k, t in found.items() if k not in unused}
    source = (
        "ltx-core 1.2.0 Video{En,De}coderConfigurator"
        if cfg.family == "ltx2"
        else "ltx-video 0.1.2 CausalVideoAutoencoder"
    )
    return {
        "source": f"{source} on the meta device",
        "config": {"vae": cfg.to_metadata()},
        "parameters": sum(torch.Size(shape).numel() for shape, _ in tensors.values()),
        "tensors": tensors,
    }


def _official_audio():
    from ltx.parity.oracle import ensure_torchaudio

    ensure_torchaudio()  # ltx-core's audio package imports torchaudio at module level
    from ltx_core.model import audio_vae

    return audio_vae


def audio_vae_manifest(cfg: AudioVAEConfig) -> dict:
    """The keys ltx-core's audio encoder and decoder read (the two statistics nobody reads are left out)."""
    official, config = _official_audio(), {"audio_vae": cfg.to_metadata()}
    tensors, parameters = {}, {}
    with torch.device("meta"):
        for part in ("encoder", "decoder"):
            module = official_module(getattr(official, f"Audio{part.title()}Configurator"), config)
            for k, t in module.state_dict().items():
                key = f"audio_vae.{k}" if k.startswith("per_channel_statistics.") else f"audio_vae.{part}.{k}"
                tensors[key] = [list(t.shape), "bfloat16"]
            parameters[part] = sum(p.numel() for p in module.parameters())
    return {
        "source": "ltx-core Audio{En,De}coderConfigurator on the meta device",
        "config": config,
        "parameters": parameters,
        "tensors": tensors,
    }


def vocoder_manifest(cfg: VocoderConfig) -> dict:
    """Every `vocoder.` key, the anti-aliasing filters and the 2.3 STFT/mel bases included."""
    official, config = _official_audio(), {"vocoder": cfg.to_metadata()}
    with torch.device("meta"):
        module = official_module(official.VocoderConfigurator, config)
    tensors = {"vocoder." + k: [list(t.shape), "bfloat16"] for k, t in module.state_dict().items()}
    return {
        "source": "ltx-core VocoderConfigurator on the meta device",
        "config": config,
        "parameters": sum(p.numel() for p in module.parameters()),  # the constant filters and bases excluded
        "tensors": tensors,
    }


def text_manifest(name: str) -> dict:
    """The text side (projection + connectors) as ltx-core builds it for Gemma-3-12B (3840 x 49 hidden states):
    its feature-extractor choice and connector configurators (ltx-core 1.2.0's EmbeddingsProcessorConfigurator
    reads the Gemma dimensions from a Gemma folder; these are the same modules without one)."""
    from ltx.parity.text_oracle import _processor_module

    transformer = {"ltx-2-19b": LTX2_19B, "ltx-2.3-22b": LTX2_3_22B, "ltx-2.5-22b": LTX2_5_22B}[name]
    config = {"transformer": {**transformer.to_metadata(), **TEXT_PRESETS[name].to_metadata()}}
    gemma = "Gemma-3-12B"
    if name == "ltx-2.5-22b":  # the 1.2.0 code reads Gemma-4's width and depth from the file's gemma_config
        gemma = "Gemma-4-12B, assumed 3840 x 49 hidden states like Gemma-3-12B (not stated in the code)"
    with torch.device("meta"):
        module = _processor_module(config, 3840, 48)
    prefixes = {"feature_extractor.": "text_embedding_projection.", "video_connector.":
                "model.diffusion_model.video_embeddings_connector.", "audio_connector.":
                "model.diffusion_model.audio_embeddings_connector."}  # fmt: skip
    tensors = {}
    for k, t in module.state_dict().items():
        head = next(p for p in prefixes if k.startswith(p))
        tensors[prefixes[head] + k[len(head) :]] = [list(t.shape), "bfloat16"]
    return {
        "source": f"ltx-core 1.2.0 feature extractor and connector configurators on the meta device, for {gemma}",
        "config": config,
        "parameters": sum(p.numel() for p in module.parameters()),
        "tensors": tensors,
    }


MANIFESTS = {
    "ltx-2-19b.transformer": lambda: transformer_manifest(LTX2_19B, False),
    "ltx-2-19b-fp8-cast.transformer": lambda: transformer_manifest(LTX2_19B, True),
    "ltx-2.3-22b.transformer": lambda: transformer_manifest(LTX2_3_22B, False),
    "ltx-2.5-22b.transformer": lambda: transformer_manifest(LTX2_5_22B, False),
    **{f"{name}.vae": (lambda c=cfg: vae_manifest(c)) for name, cfg in VAE_PRESETS.items()},
    **{f"{name}.audio_vae": (lambda c=cfg: audio_vae_manifest(c)) for name, cfg in AUDIO_VAE_PRESETS.items()},
    **{f"{name}.vocoder": (lambda c=cfg: vocoder_manifest(c)) for name, cfg in VOCODER_PRESETS.items()},
    **{f"{name}.text": (lambda n=name: text_manifest(n)) for name in TEXT_PRESETS},
    "ltx-2.5.diffusion_vae": lambda: _diffusion_vae_manifest(),
    "ltx-video-0.9-2b.transformer": lambda: _ltxv_manifest("2b"),
    "ltx-video-0.9.7-13b.transformer": lambda: _ltxv_manifest("13b"),
    "ltx-2.5-conv.vae": lambda: _vae_2_5_manifest("conv"),
    "ltx-2.5-spatial-upscaler-x2.upsampler": lambda: _vae_2_5_manifest("ltx-2.5-spatial-upscaler-x2"),
    "ltx-2.5-temporal-upscaler-x2.upsampler": lambda: _vae_2_5_manifest("ltx-2.5-temporal-upscaler-x2"),
    "ltx-2.5.duration_head": lambda: _vae_2_5_manifest("duration"),
}


def _vae_2_5_manifest(what: str) -> dict:
    """The LTX-2.5 conv VAE file, a latent upscaler or the duration head (assumed configs: see
    ltx.config.vae.LTX2_5_CONV_VAE / UPSAMPLER_PRESETS and ltx.duration.DurationHeadConfig)."""
    from ltx.config.vae import LTX2_5_CONV_VAE, UPSAMPLER_PRESETS
    from ltx.parity.duration import duration_manifest
    from ltx.parity.vae_fixtures import upscaler_manifest, vae_file_manifest

    if what == "conv":
        return vae_file_manifest(LTX2_5_CONV_VAE)
    if what == "duration":
        return duration_manifest()
    return upscaler_manifest(UPSAMPLER_PRESETS[what])


def _ltxv_manifest(size: str) -> dict:
    """The LTX-Video 0.9.x transformer (2B: 0.9.0-0.9.6; 13B: 0.9.7 / 0.9.8) as ltx-video 0.1.2 builds it."""
    from ltx.config.ltxv import LTXV_2B, LTXV_13B
    from ltx.parity.ltxv import official_module as ltxv_module

    cfg = {"2b": LTXV_2B, "13b": LTXV_13B}[size]
    with torch.device("meta"):
        state = ltxv_module(cfg).state_dict()
    return {
        "source": "ltx-video 0.1.2 Transformer3DModel.from_config on the meta device",
        "config": {"transformer": cfg.to_metadata()},
        "parameters": sum(t.numel() for t in state.values()),
        "tensors": {PREFIX + k: [list(t.shape), "bfloat16"] for k, t in state.items()},
    }


def _diffusion_vae_manifest() -> dict:
    from ltx.config.diffusion_vae import LTX2_5_DIFFUSION_DECODER
    from ltx.parity.diffusion_vae_fixtures import diffusion_decoder_manifest

    return diffusion_decoder_manifest(LTX2_5_DIFFUSION_DECODER)


def to_text(manifest: dict) -> str:
    """JSON with one tensor per line, so that diffs of a manifest stay readable."""
    head = {k: v for k, v in manifest.items() if k != "tensors"}
    lines = [json.dumps(head)[:-1] + ', "tensors": {']
    items = list(manifest["tensors"].items())
    for i, (key, value) in enumerate(items):
        lines.append(f"  {json.dumps(key)}: {json.dumps(value)}" + ("," if i + 1 < len(items) else ""))
    return "\n".join(lines) + "\n}}\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true")
    args = parser.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    stale = []
    for name, make in MANIFESTS.items():
        text = to_text(make())
        path = OUT / f"{name}.json"
        if args.check:
            if not path.exists() or path.read_text() != text:
                stale.append(name)
        else:
            path.write_text(text)
            print(f"wrote {path}")
    if stale:
        print(f"stale manifests: {', '.join(stale)}; run python scripts/export_manifests.py", file=sys.stderr)
    return 1 if stale else 0


if __name__ == "__main__":
    sys.exit(main())
