"""The `ltx` command: parity, inspect."""

from __future__ import annotations

import argparse
import dataclasses
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import torch

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


PARTS = ("transformer", "vae", "upsampler", "audio", "mel")


def _file_jobs(path: Path, held, parts: set[str], common: dict, shape, stats: dict) -> list[tuple[str, Callable]]:
    """(group, run) pairs for every part of `parts` the checkpoint at `path` holds."""
    from ltx.parity.audio import audio_parity
    from ltx.parity.transformer import transformer_parity
    from ltx.parity.vae import vae_parity

    jobs, name = [], path.stem
    if "transformer" in parts and "transformer" in held:
        run = lambda g: transformer_parity(path, **common, shape=shape, group=g, stats=stats.setdefault(path.name, {}))
        jobs.append((f"{name} transformer", run))
    if "vae" in parts and "video_vae" in held:
        jobs.append((f"{name} video VAE", lambda g: vae_parity(path, **common, group=g)))
    if "audio" in parts and {"audio_vae", "vocoder"} <= set(held):
        jobs.append((f"{name} audio", lambda g: audio_parity(path, **common, group=g)))
    return jobs


def _parity(args: argparse.Namespace) -> int:
    from ltx.checkpoint import Checkpoint
    from ltx.parity.audio import mel_parity
    from ltx.parity.compare import format_table, write_json
    from ltx.parity.fixtures import TINY, UPSAMPLERS, write_tiny_checkpoint, write_tiny_upsampler
    from ltx.parity.transformer import ClipShape
    from ltx.parity.vae import upsampler_parity

    if args.device == "cuda" and not torch.cuda.is_available():
        print("ltx parity: --device cuda asked for, but torch sees no CUDA device", file=sys.stderr)
        return 2
    if args.device == "cuda":
        # Some cuDNN algorithms (transposed convolutions among them) add with atomics: two runs of
        # the same model differ in the last bits, and a deep random network amplifies that. Both
        # sides run with the deterministic algorithms, so a difference is ours.
        torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = True, False
    dtype = DTYPES[args.dtype]
    shape = ClipShape(
        frames=args.frames, height=args.height, width=args.width, fps=args.fps, text_tokens=args.text_tokens
    )
    if (shape.frames - 1) % 8 or shape.height % 32 or shape.width % 32:
        print("ltx parity: --frames must be 1 + 8k and --height/--width multiples of 32", file=sys.stderr)
        return 2
    parts = set(args.parts.split(",")) if args.parts else set(PARTS)
    if parts - set(PARTS):
        print(f"ltx parity: --parts takes {','.join(PARTS)}; got {args.parts}", file=sys.stderr)
        return 2
    common = dict(device=args.device, dtype=dtype)
    rows, stats = [], {}  # stats: checkpoint -> load times and (CUDA) peak memory of each side
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        jobs, has_audio = [], False  # jobs: (group, run) pairs
        if args.checkpoint:
            path = Path(args.checkpoint)
            held = Checkpoint(path).components
            has_audio = "audio_vae" in held
            jobs += _file_jobs(path, held, parts, common, shape, stats)
            if args.upsampler:
                up = Path(args.upsampler)
                jobs.append((f"{up.stem} upsampler", lambda g: upsampler_parity(up, path, **common, group=g)))
        else:
            folder = Path(args.fixtures or tmp)
            files = {}
            for spec in TINY.values():
                files[spec.name] = p = write_tiny_checkpoint(spec, folder / f"{spec.name}.safetensors")
                print(f"built-in checkpoint {spec.name}: {spec.description}")
                held = Checkpoint(p).components
                has_audio |= "audio_vae" in held
                jobs += _file_jobs(p, held, parts, common, shape, stats)
            for spec in UPSAMPLERS.values() if "upsampler" in parts else ():
                p = write_tiny_upsampler(spec, folder / f"{spec.name}.safetensors")
                print(f"built-in upsampler {spec.name}: {spec.description}")
                jobs.append((spec.name, lambda g, p=p, v=files[spec.vae]: upsampler_parity(p, v, **common, group=g)))
        if "mel" in parts and (has_audio or args.parts):  # the front-end matters only where there is audio
            jobs.insert(0, ("mel front-end", lambda g: mel_parity(g, device=args.device)))
        for group, run in jobs:
            rows += run(group)
    print()
    print(f"parity vs the official code (ltx-core 1.0.0 for LTX-2, ltx-video 0.1.2 for LTX-Video), "
          f"{args.dtype} on {args.device}; transformer inputs: clip {shape.frames}x{shape.height}x{shape.width} "
          f"@ {shape.fps} fps, batch {shape.batch}")  # fmt: skip
    print(format_table(rows))
    # Each side loads the file and runs every pass while the other side is not in memory.
    for name, s in stats.items():
        print(f"{name}: " + ", ".join(f"{k} {v}" for k, v in s.items()))
    run = {"seconds": round(time.perf_counter() - start, 1), "torch": torch.__version__}
    if args.device == "cuda":
        run["gpu"] = torch.cuda.get_device_name()
    print("run: " + ", ".join(f"{k} {v}" for k, v in run.items()))
    if args.json:
        context = dict(device=args.device, dtype=args.dtype, shape=dataclasses.asdict(shape))
        write_json(rows, args.json, **context, **run, checkpoints=stats)
        print(f"report written to {args.json}")
    return 0 if rows and all(r.passed for r in rows) else 1


def _inspect(args: argparse.Namespace) -> int:
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
        _inspect_audio(ckpt)
    return 0


def _inspect_audio(ckpt) -> None:
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="ltx", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("parity", help="compare our models with the official code, tensor by tensor")
    p.add_argument("checkpoint", nargs="?", help="an LTX-2 single-file checkpoint; default: the built-in tiny ones")
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    p.add_argument("--dtype", default="float32", choices=sorted(DTYPES))
    p.add_argument("--json", metavar="REPORT", help="also write the report as JSON")
    p.add_argument("--frames", type=int, default=17, help="pixel frames of the clip the inputs stand for (1 + 8k)")
    p.add_argument("--height", type=int, default=128)
    p.add_argument("--width", type=int, default=192)
    p.add_argument("--fps", type=float, default=24.0)
    p.add_argument("--text-tokens", type=int, default=16)
    p.add_argument("--fixtures", metavar="DIR", help="keep the built-in checkpoints in DIR")
    p.add_argument("--parts", help=f"comma-separated subset of {','.join(PARTS)} (default: all the file holds)")
    p.add_argument("--upsampler", metavar="FILE", help="also compare this latent upsampler (with CHECKPOINT's VAE)")
    p.set_defaults(run=_parity)

    p = sub.add_parser("inspect", help="what a checkpoint holds: components, config, dtypes, parameter counts")
    p.add_argument("checkpoint")
    p.set_defaults(run=_inspect)

    args = parser.parse_args(argv)
    from ltx.checkpoint import CheckpointError
    from ltx.config import ConfigError

    try:
        return args.run(args)
    except (CheckpointError, ConfigError, FileNotFoundError) as e:
        print(f"ltx {args.command}: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
