"""`ltx inspect`: what a file is and holds: its kind (a single file, or one of the LTX-2.5 per-component
files), model version, components with dtypes and parameter counts, typed configs, fp8 layers."""

from __future__ import annotations

import argparse
import dataclasses
import json
from collections import Counter
from pathlib import Path


def _folder(path: Path) -> int:
    """A folder: what it is (a Hugging Face model folder such as Gemma-3's, by its config.json) and its files."""
    files = sorted(p for p in path.rglob("*") if p.is_file())
    config = path / "config.json"
    kind = "a folder of files; `ltx inspect` reads one .safetensors file at a time"
    if config.is_file():
        try:
            data = json.loads(config.read_text())
            kind = (
                f"a model folder: {data.get('model_type', '?')} ({', '.join(data.get('architectures') or []) or '?'})"
            )
        except ValueError:
            kind = "a folder with a config.json that is not valid JSON"
    print(f"folder:         {path}")
    print(f"kind:           {kind}")
    print(f"files:          {len(files)}")
    for p in files[:40]:
        print(f"  {p.relative_to(path)}  ({p.stat().st_size / 2**20:.1f} MiB)")
    if len(files) > 40:
        print(f"  ... and {len(files) - 40} more")
    print("give one of the .safetensors files to inspect it; a Gemma-3 folder goes to --gemma as it is")
    return 0


def run(args: argparse.Namespace) -> int:
    from ltx.checkpoint import Checkpoint
    from ltx.files import describe

    if Path(args.checkpoint).is_dir():
        return _folder(Path(args.checkpoint))
    ckpt = Checkpoint(args.checkpoint)
    size = ckpt.path.stat().st_size
    version = ckpt.model_version
    print(f"file:           {ckpt.path} ({size / 2**30:.2f} GiB, {len(ckpt.tensors)} tensors)")
    print(f"kind:           {describe(ckpt)}")
    print(f"model_version:  {f'{version} (generation {ckpt.version})' if version else '(not in metadata)'}")
    print(f"config:         {', '.join(ckpt.config) or '(no config metadata)'}")
    others = sorted(k for k in ckpt.metadata if k not in ("config", "model_version"))
    if others:
        print(f"metadata:       {', '.join(others)}")
    print("components:")
    for component, keys in ckpt.components.items():
        dtypes = ", ".join(f"{d} {n}" for d, n in ckpt.dtype_counts(keys).most_common())
        print(f"  {component:<16} {len(keys):>6} tensors {ckpt.numel(keys):>16,} params   {dtypes}")
    held = ckpt.components
    if "transformer" in held:
        _guarded("transformer", _transformer, ckpt)
    if "video_vae" in held:
        _guarded("video VAE", _video_vae, ckpt)
    if "audio_vae" in held or "vocoder" in held:
        _audio(ckpt)
    if "text_connectors" in held:
        _guarded("text side", _text, ckpt)
    if "text_encoder" in held or "gemma_config" in ckpt.metadata:
        _gemma(ckpt)
    if ckpt.kind == "upsampler":
        _guarded("latent upsampler", _upsampler, ckpt)
    if "duration_head" in held:
        section = json.dumps(ckpt.config["duration_head"]) if "duration_head" in ckpt.config else "(defaults)"
        print(f"duration head: {len(held['duration_head'])} tensors; config {section}")
    if "lora" in held:
        _lora(ckpt)
    return 0


def _guarded(what: str, show, ckpt) -> None:
    from ltx.checkpoint import CheckpointError
    from ltx.config import ConfigError

    try:
        show(ckpt)
    except (CheckpointError, ConfigError) as e:
        print(f"{what}: cannot read its config ({e})")


def _fields(cfg) -> None:
    for f in dataclasses.fields(cfg):
        print(f"  {f.name:<38} {getattr(cfg, f.name)}")


def _transformer(ckpt) -> None:
    from ltx.config.ltxv import LTXVConfig, is_ltxv
    from ltx.dit.loading import transformer_config

    if is_ltxv(ckpt.section("transformer")):
        cfg = LTXVConfig.from_metadata(ckpt.config["transformer"])
        print(f"LTX-Video 0.9.x transformer ({len(cfg.__dataclass_fields__)} settings; load_ltxv_transformer):")
    else:
        cfg = transformer_config(ckpt)
        kind = "audio-video" if cfg.has_audio else "video-only"
        print(f"transformer ({kind}, {len(cfg.__dataclass_fields__)} settings):")
    _fields(cfg)
    keys = ckpt.components["transformer"]
    scaled = {k.rsplit(".", 1)[0] for k in keys if k.endswith(".weight_scale")}
    fp8 = {k.rsplit(".", 1)[0] for k in keys if k.endswith(".weight") and ckpt.tensors[k].dtype.itemsize == 1}
    if fp8:
        in_blocks = [k for k in fp8 if k.startswith("model.diffusion_model.transformer_blocks.")]
        blocks = sorted({int(k.split(".")[3]) for k in in_blocks})
        print(f"  fp8 linears: {len(fp8 - scaled)} cast (no scale), {len(scaled)} scaled; in blocks {_ranges(blocks)}")
    source = ckpt.metadata.get("gemma_source_checkpoint")
    if source:
        print(f"  gemma_source_checkpoint: {source}")


def _video_vae(ckpt) -> None:
    from ltx.vae import vae_config

    name = (ckpt.section("vae") or {}).get("_class_name")
    if name == "CausalDiffusionVAE":  # the LTX-2.5 diffusion decoder: its nested config as the file states it
        section = ckpt.config["vae"]
        print("video VAE (CausalDiffusionVAE: conv encoder + diffusion decoder):")
        for key, value in section.items():
            print(f"  {key:<38} {json.dumps(value) if isinstance(value, dict | list) else value}")
        return
    vae = vae_config(ckpt)
    print(f"video VAE ({'LTX-2, ltx-core' if vae.family == 'ltx2' else 'LTX-Video, ltx-video'} semantics):")
    _fields(vae)


def _audio(ckpt) -> None:
    from ltx.audio.loading import audio_vae_config, vocoder_config
    from ltx.checkpoint import CheckpointError
    from ltx.config import ConfigError

    for part, read in (("audio VAE", audio_vae_config), ("vocoder", vocoder_config)):
        if part.replace(" ", "_").lower() not in ckpt.components:
            continue
        try:
            cfg = read(ckpt)
        except (CheckpointError, ConfigError) as e:
            print(f"{part}: cannot read its config ({e})")
            continue
        if part == "audio VAE":
            print(f"audio VAE: ch {cfg.ch} x {cfg.ch_mult}, {cfg.num_res_blocks} res blocks per level, "
                  f"latent {cfg.z_channels} x {cfg.latent_mel_bins} mel bins, norm {cfg.norm_type}, "
                  f"causal along {cfg.causality_axis}, attention at {list(cfg.attn_resolutions)} "
                  f"(mid {cfg.mid_block_add_attention})")  # fmt: skip
        else:
            g = cfg.generator
            kind = "HiFi-GAN" if cfg.bwe is None else "BigVGAN-v2 (SnakeBeta) + bandwidth extension"
            print(f"vocoder: {kind}, {g.upsample_initial_channel} channels, upsampling {g.upsample_rates} "
                  f"(x{g.hop}), output {cfg.output_sampling_rate} Hz stereo")  # fmt: skip


def _text(ckpt) -> None:
    from ltx.text.processor import projection_features, text_config

    cfg = text_config(ckpt)
    kind = {"v1": "per-layer min-max norm, one projection", "v2": "per-token RMS norm, a projection per stream"}
    head = f"text side: feature extractor {cfg.version} ({kind[cfg.version]})"
    if "text_projection" in ckpt.components:
        n = projection_features(ckpt)
        gemma = " (Gemma-3-12B: 3840 x 49 hidden states)" if n == cfg.features else ""
        print(f"{head}, {n} input features per token{gemma}")
    else:
        print(f"{head}; its projection is in the text-encoder file")
    for stream, c in (("video", cfg.video), ("audio", cfg.audio)):
        if c is not None:
            extras = (" (float64)" if c.float64 else "") + (", gated attention" if c.gated else "")
            print(f"  {stream} connector: {c.layers} blocks, {c.heads} x {c.head_dim} heads, {c.registers} registers, "
                  f"{c.rope_type} RoPE{extras}")  # fmt: skip


def _gemma(ckpt) -> None:
    """A Gemma text-encoder file: its HF config (metadata `gemma_config`), packed assets, projection."""
    try:
        cfg = json.loads(ckpt.metadata.get("gemma_config") or "{}")
    except ValueError as e:
        print(f"text encoder: its 'gemma_config' metadata is not valid JSON ({e})")
        cfg = {}
    text = cfg.get("text_config", cfg) if isinstance(cfg, dict) else {}
    facts = [f"{k} {cfg[k]}" for k in ("model_type", "gemma_version") if k in cfg]
    facts += [f"{k} {text[k]}" for k in ("hidden_size", "num_hidden_layers", "vocab_size") if k in text]
    print(f"text encoder: {', '.join(facts) or 'no gemma_config metadata'}")
    keys = [k for k in ckpt.components.get("text_encoder", []) if not k.startswith(("tokenizer_json", "hf_asset__"))]
    layout = "Comfy-flat" if any(k.startswith("model.layers.") for k in keys) else "Hugging Face"
    print(f"  weights: {len(keys)} tensors, {ckpt.numel(keys):,} params ({layout} key layout)")
    assets = [k for k in ckpt.tensors if k == "tokenizer_json" or k.startswith("hf_asset__")]
    for k in assets:
        print(f"  packed {k.removeprefix('hf_asset__')}: {ckpt.tensors[k].numel:,} bytes ({ckpt.tensors[k].dtype})")
    for k in ckpt.components.get("text_projection", []):
        print(f"  {k}: {tuple(ckpt.tensors[k].shape)}")


def _upsampler(ckpt) -> None:
    from ltx.config import UpsamplerConfig

    print("latent upsampler:")
    _fields(UpsamplerConfig.from_metadata(ckpt.config))


def _lora(ckpt) -> None:
    keys = ckpt.components["lora"]
    downs = [k for k in keys if ".lora_A." in k or ".lora_down." in k]
    ranks = Counter(ckpt.tensors[k].shape[0] for k in downs)
    targets = Counter(k.split(".lora_")[0].split(".")[0] for k in downs)
    print(f"LoRA: {len(downs)} layers, rank {', '.join(f'{r} ({n})' for r, n in ranks.most_common())}; "
          f"under {', '.join(f'{t}. ({n})' for t, n in targets.most_common())}")  # fmt: skip
    extra = {k: v for k, v in ckpt.metadata.items() if k in ("reference_downscale_factor",)}
    if extra:
        print(f"  IC-LoRA metadata: {extra}")


def _ranges(values: list[int]) -> str:
    out, start = [], None
    for i, v in enumerate(values):
        start = v if start is None else start
        if i + 1 == len(values) or values[i + 1] != v + 1:
            out.append(str(start) if start == v else f"{start}-{v}")
            start = None
    return ",".join(out) or "none"


def add_parser(sub) -> None:
    p = sub.add_parser("inspect", help="what a file is and holds: kind, components, config, dtypes, parameter counts")
    p.add_argument("checkpoint")
    p.set_defaults(run=run)
