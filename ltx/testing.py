"""Tiny models and single-file checkpoints built from OUR modules alone: no official package is imported.

For the tests that need no oracle, and for anyone who changes the architecture: build each component of a
tiny spec (ltx.parity.fixtures.TINY / UPSAMPLERS: configs only) with random weights, write them as one
safetensors file in the official key layout with the `config` metadata our configs write (`to_metadata()`),
and load that file back through the strict loaders. After a change to a module, the same calls write a file
of the new layout, so the loaders and everything downstream can be tried on it at once.

    modules = build_components("ltx-2.3-tiny")             # {"transformer": ..., "vae_decoder": ..., ...}
    write_components(modules, "ltx-2.3-tiny", "tiny.safetensors")
    decoder = load_video_decoder("tiny.safetensors")        # equal to modules["vae_decoder"]

`block_official_packages()` makes importing ltx-core, ltx-pipelines, ltx-video or diffusers an ImportError
(the tests install it under `pytest -m "not oracle"` or LTX_BLOCK_ORACLE=1), which proves that a code path does
without them.
"""

from __future__ import annotations

import importlib.abc
import json
import sys
from pathlib import Path

import torch
from safetensors.torch import save_file
from torch import nn

from ltx.audio import AudioDecoder, AudioEncoder, build_vocoder
from ltx.config import UpsamplerConfig
from ltx.config.text import TextConfig
from ltx.dit import LTX2Transformer
from ltx.parity.fixtures import (
    TINY,
    TINY_GEMMA,
    UPSAMPLERS,
    TinySpec,
    UpsamplerSpec,
    constant_value,
    fp8_cast_key,
    official_config,
    random_value,
)
from ltx.text import TextProcessor
from ltx.vae import LatentUpsampler, VideoDecoder, VideoEncoder

OFFICIAL_PACKAGES = ("ltx_core", "ltx_pipelines", "ltx_trainer", "ltx_video", "diffusers")
_CONSTANTS = (".filter", "forward_basis", "mel_basis", "blur_down.kernel")


class _OfficialPackageBlocker(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".", 1)[0] in OFFICIAL_PACKAGES:
            raise ModuleNotFoundError(f"{name} is blocked: this run must not use the official packages", name=name)
        return None


def block_official_packages() -> None:
    """From now on, importing an official package (or diffusers) in this process raises ImportError."""
    loaded = sorted(m for m in sys.modules if m.split(".", 1)[0] in OFFICIAL_PACKAGES)
    if loaded:
        raise RuntimeError(f"official packages were imported before the blocker was installed: {', '.join(loaded)}")
    if not any(isinstance(f, _OfficialPackageBlocker) for f in sys.meta_path):
        sys.meta_path.insert(0, _OfficialPackageBlocker())


def fill_random(module: nn.Module, generator: torch.Generator, prefix: str = "") -> nn.Module:
    """Every floating parameter and buffer of `module` drawn by name (ltx.parity.fixtures.random_value: unit-gain
    weights, norms near 1, clearly non-zero tables), in state-dict order. Constants keep their values: the
    vocoders' filters, STFT and mel bases (set to their true values by `write_components`) and the upsampler's
    blur kernel. Drawn on the generator's device (a CUDA generator fills a module on the GPU). Returns the module, in
    eval mode."""
    with torch.no_grad():
        for name, t in module.state_dict(keep_vars=True).items():
            if not t.is_floating_point() or name.endswith(_CONSTANTS):
                continue
            t.copy_(random_value(prefix + name, t.shape, generator, device=generator.device))
    return module.eval()


def _spec(spec: TinySpec | str) -> TinySpec:
    return TINY[spec] if isinstance(spec, str) else spec


def text_config(spec: TinySpec | str) -> TextConfig:
    """The text side (feature extractor + connectors) of a tiny spec, for the tiny Gemma (TINY_GEMMA)."""
    spec = _spec(spec)
    section = official_config(spec)["transformer"]
    return TextConfig.from_metadata(
        section,
        audio=spec.transformer.has_audio,
        gemma_hidden=TINY_GEMMA["hidden_size"],
        gemma_layers=TINY_GEMMA["num_hidden_layers"],
    )


def build_components(spec: TinySpec | str, seed: int = 0) -> dict[str, nn.Module]:
    """Our module for every component of `spec`, random (seeded), float32, CPU, eval mode. Keys: transformer,
    text, vae_encoder, vae_decoder, audio_encoder, audio_decoder, vocoder (those the spec has). The two halves
    of a VAE share their latent statistics, as a file stores them once."""
    spec = _spec(spec)
    gen = torch.Generator().manual_seed(seed)
    out: dict[str, nn.Module] = {}
    with torch.device("cpu"):
        if spec.transformer is not None:
            out["transformer"] = LTX2Transformer(spec.transformer)
        if spec.connectors:
            out["text"] = TextProcessor(text_config(spec))
        if spec.vae is not None:
            out["vae_encoder"], out["vae_decoder"] = VideoEncoder(spec.vae), VideoDecoder(spec.vae)
        if spec.audio_vae is not None:
            out["audio_encoder"], out["audio_decoder"] = AudioEncoder(spec.audio_vae), AudioDecoder(spec.audio_vae)
        if spec.vocoder is not None:
            out["vocoder"] = build_vocoder(spec.vocoder)
    for name, module in out.items():
        fill_random(module, gen, prefix=name + ".")
    for half in ("vae", "audio"):
        if f"{half}_encoder" in out:
            stats = out[f"{half}_encoder"].per_channel_statistics.state_dict()
            out[f"{half}_decoder"].per_channel_statistics.load_state_dict(stats)
    if "vocoder" in out:
        config = official_config(spec)
        with torch.no_grad():
            for name, t in out["vocoder"].state_dict(keep_vars=True).items():
                value = constant_value("vocoder." + name, config)
                if value is not None:
                    t.copy_(value)
    return out


def _vae_key(part: str, name: str) -> str:
    if name.startswith(("per_channel_statistics.", "quant_conv.", "post_quant_conv.")):
        return "vae." + name
    return f"vae.{part}.{name}"


def _audio_key(part: str, name: str) -> str:
    return "audio_vae." + name if name.startswith("per_channel_statistics.") else f"audio_vae.{part}.{name}"


def _text_key(name: str) -> str:
    return name if name.startswith("text_embedding_projection.") else "model.diffusion_model." + name


_FILE_KEYS = {
    "transformer": lambda name: "model.diffusion_model." + name,
    "text": _text_key,
    "vae_encoder": lambda name: _vae_key("encoder", name),
    "vae_decoder": lambda name: _vae_key("decoder", name),
    "audio_encoder": lambda name: _audio_key("encoder", name),
    "audio_decoder": lambda name: _audio_key("decoder", name),
    "vocoder": lambda name: "vocoder." + name,
}


def file_tensors(modules: dict[str, nn.Module]) -> dict[str, torch.Tensor]:
    """File key -> tensor for `modules` (keys as `build_components` names them), in the official layout.
    A key two modules share (a VAE's statistics) must hold the same value in both."""
    out: dict[str, torch.Tensor] = {}
    for component, module in modules.items():
        for name, t in module.state_dict().items():
            key = _FILE_KEYS[component](name)
            if key in out and not torch.equal(out[key], t):
                raise ValueError(f"{key} differs between the modules that share it")
            out[key] = t.detach().clone().contiguous()
    mean = out.get("vae.per_channel_statistics.mean-of-means")
    if mean is not None:  # the video VAE's files also carry statistics that no code reads
        out["vae.per_channel_statistics.channel"] = torch.arange(mean.shape[0], dtype=mean.dtype)
        out["vae.per_channel_statistics.mean-of-stds"] = torch.ones_like(mean)
    return out


def write_components(modules: dict[str, nn.Module], spec: TinySpec | str, path: str | Path) -> Path:
    """`modules` as one file at `path`, with `spec`'s `config` and `model_version` metadata. As the spec says:
    fp8-cast files store the block attention / feed-forward linears in float8_e4m3fn and the rest in bfloat16;
    split transformer files leave the text projection out."""
    spec = _spec(spec)
    tensors = file_tensors(modules)
    if not spec.text_projection:  # a split transformer file: the projection lives with the text encoder
        tensors = {k: v for k, v in tensors.items() if not k.startswith("text_embedding_projection.")}
    if spec.fp8_cast:
        tensors = {k: v.to(torch.float8_e4m3fn if fp8_cast_key(k) else torch.bfloat16) for k, v in tensors.items()}
    metadata = {"config": json.dumps(official_config(spec)), "model_version": spec.model_version}
    return _save(tensors, path, metadata)


def write_tiny_checkpoint(spec: TinySpec | str, path: str | Path, seed: int = 0) -> Path:
    """The tiny checkpoint `spec`, from our modules (ltx.parity.fixtures writes the same layout from the
    official modules' state dicts)."""
    return write_components(build_components(spec, seed), spec, path)


def build_upsampler(config: UpsamplerConfig, seed: int = 0) -> LatentUpsampler:
    with torch.device("cpu"):
        return fill_random(LatentUpsampler(config), torch.Generator().manual_seed(seed))


def write_upsampler(module: LatentUpsampler, path: str | Path) -> Path:
    """A latent upsampler file: flat keys, the `config` metadata."""
    tensors = {k: v.detach().clone().contiguous() for k, v in module.state_dict().items()}
    return _save(tensors, path, {"config": json.dumps(module.cfg.to_metadata())})


def write_tiny_upsampler(spec: UpsamplerSpec | str, path: str | Path, seed: int = 0) -> Path:
    spec = UPSAMPLERS[spec] if isinstance(spec, str) else spec
    return write_upsampler(build_upsampler(spec.config, seed), path)


def _save(tensors: dict[str, torch.Tensor], path: str | Path, metadata: dict[str, str]) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file(tensors, str(path), metadata=metadata)
    return path
