"""`ltx inspect`: what a checkpoint holds: components, model version, typed configs, dtypes, fp8 layers."""

from __future__ import annotations

import argparse
import dataclasses


def run(args: argparse.Namespace) -> int:
    from ltx.checkpoint import Checkpoint, CheckpointError
    from ltx.config import ConfigError
    from ltx.dit.loading import transformer_config

    ckpt = Checkpoint(args.checkpoint)
    size = ckpt.path.stat().st_size
    print(f"file:           {ckpt.path} ({size / 2**30:.2f} GiB, {len(ckpt.tensors)} tensors)")
    print(f"model_version:  {ckpt.model_version or '(not in metadata)'}")
    print(f"config:         {', '.join(ckpt.config) or '(no config metadata)'}")
    print("components:")
    for component, keys in ckpt.components.items():
        dtypes = ", ".join(f"{d} {n}" for d, n in ckpt.dtype_counts(keys).most_common())
        print(f"  {component:<16} {len(keys):>6} tensors {ckpt.numel(keys):>16,} params   {dtypes}")
    if "transformer" in ckpt.components:
        cfg = transformer_config(ckpt)
        kind = "audio-video" if cfg.has_audio else "video-only"
        print(f"transformer ({kind}, {len(cfg.__dataclass_fields__)} settings):")
        for f in dataclasses.fields(cfg):
            print(f"  {f.name:<38} {getattr(cfg, f.name)}")
        keys = ckpt.components["transformer"]
        scaled = {k.rsplit(".", 1)[0] for k in keys if k.endswith(".weight_scale")}
        fp8 = {k.rsplit(".", 1)[0] for k in keys if k.endswith(".weight") and ckpt.tensors[k].dtype.itemsize == 1}
        if fp8:
            blocks = sorted(
                {int(k.split(".")[3]) for k in fp8 if k.startswith("model.diffusion_model.transformer_blocks.")}
            )
            print(
                f"  fp8 linears: {len(fp8 - scaled)} cast (no scale), {len(scaled)} scaled; in blocks {_ranges(blocks)}"
            )
    if "video_vae" in ckpt.components:
        from ltx.vae import vae_config

        try:
            vae = vae_config(ckpt)
        except (CheckpointError, ConfigError) as e:
            print(f"video VAE: cannot read its config ({e})")
        else:
            print(f"video VAE ({'LTX-2, ltx-core' if vae.family == 'ltx2' else 'LTX-Video, ltx-video'} semantics):")
            for f in dataclasses.fields(vae):
                print(f"  {f.name:<38} {getattr(vae, f.name)}")
    if "audio_vae" in ckpt.components or "vocoder" in ckpt.components:
        _audio(ckpt)
    if "text_connectors" in ckpt.components:
        _text(ckpt)
    return 0


def _audio(ckpt) -> None:
    from ltx.audio.loading import audio_vae_config, vocoder_config
    from ltx.checkpoint import CheckpointError
    from ltx.config import ConfigError

    for part, read in (("audio VAE", audio_vae_config), ("vocoder", vocoder_config)):
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


def _ranges(values: list[int]) -> str:
    out, start = [], None
    for i, v in enumerate(values):
        start = v if start is None else start
        if i + 1 == len(values) or values[i + 1] != v + 1:
            out.append(str(start) if start == v else f"{start}-{v}")
            start = None
    return ",".join(out) or "none"


def _text(ckpt) -> None:
    from ltx.checkpoint import CheckpointError
    from ltx.config import ConfigError
    from ltx.text.processor import projection_features, text_config

    try:
        cfg = text_config(ckpt)
    except (CheckpointError, ConfigError) as e:
        print(f"text side: cannot read its config ({e})")
        return
    kind = {"v1": "per-layer min-max norm, one projection", "v2": "per-token RMS norm, a projection per stream"}
    n = projection_features(ckpt)
    gemma = " (Gemma-3-12B: 3840 x 49 hidden states)" if n == cfg.features else ""
    print(f"text side: feature extractor {cfg.version} ({kind[cfg.version]}), {n} input features per token{gemma}")
    for stream, c in (("video", cfg.video), ("audio", cfg.audio)):
        if c is not None:
            extras = (" (float64)" if c.float64 else "") + (", gated attention" if c.gated else "")
            print(f"  {stream} connector: {c.layers} blocks, {c.heads} x {c.head_dim} heads, {c.registers} registers, "
                  f"{c.rope_type} RoPE{extras}")  # fmt: skip


def add_parser(sub) -> None:
    p = sub.add_parser("inspect", help="what a checkpoint holds: components, config, dtypes, parameter counts")
    p.add_argument("checkpoint")
    p.set_defaults(run=run)
