"""`ltx parity`: every part a checkpoint holds (or the built-in tiny ones), ours vs the official code."""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import torch

from ltx.commands import DTYPES

PARTS = ("transformer", "vae", "diffusion_vae", "upsampler", "duration", "audio", "mel", "text", "gemma", "t5",
         "conditioning", "dfr", "ltxv", "train")  # fmt: skip
Job = tuple[str, Callable]  # (group, run(group) -> rows)


def _file_jobs(
    path: Path, held, parts: set[str], common: dict, shape, stats: dict, gemma: Path | None, av_modulation: str
) -> list[Job]:
    """Jobs for every part of `parts` the checkpoint at `path` holds."""
    from ltx.parity.audio import audio_parity
    from ltx.parity.text import gemma_parity, text_parity
    from ltx.parity.transformer import transformer_parity
    from ltx.parity.vae import vae_parity

    jobs, name = [], path.stem
    if "transformer" in parts and "transformer" in held:
        run = lambda g: transformer_parity(path, **common, shape=shape, group=g, stats=stats.setdefault(path.name, {}),
                                           av_modulation=av_modulation)  # fmt: skip
        jobs.append((f"{name} transformer", run))
    diffusion_vae = _is_diffusion_vae(path)  # its decoder is a diffusion model; diffusion_vae_parity runs both halves
    if "vae" in parts and "video_vae" in held and not diffusion_vae:
        jobs.append((f"{name} video VAE", lambda g: vae_parity(path, **common, group=g)))
    if parts & {"vae", "diffusion_vae"} and "video_vae" in held and diffusion_vae:
        from ltx.parity.diffusion_vae import diffusion_vae_parity

        jobs.append((f"{name} diffusion VAE", lambda g: diffusion_vae_parity(path, **common, group=g)))
    if "audio" in parts and {"audio_vae", "vocoder"} <= set(held):
        jobs.append((f"{name} audio", lambda g: audio_parity(path, **common, group=g)))
    if "duration" in parts and "duration_head" in held:
        from ltx.parity.duration import duration_parity

        jobs.append((f"{name} duration head", lambda g: duration_parity(path, **common, group=g)))
    # LTX-2.5: the connectors are here, the projection in the Gemma-4 text encoder file (--gemma FILE)
    te = gemma if gemma is not None and gemma.is_file() and "text_projection" not in held else None
    if "text_connectors" in held and ("text_projection" in held or te is not None):
        if "text" in parts:
            jobs.append((f"{name} text side", lambda g: text_parity(path, text_encoder=te, **common, group=g)))
        if "gemma" in parts and gemma is not None and not _needs_newer_oracle(f"{name} + {gemma.name}"):
            jobs.append((f"{name} + {gemma.name}", lambda g: gemma_parity(path, gemma, **common, group=g)))
    return jobs


def _needs_newer_oracle(what: str) -> bool:
    """Whether `what`, new in LTX-2.5 / ltx-core 1.2.0, cannot be checked by the installed oracle (ltx-core 1.0.0
    from PyPI, where ../shared/oracle was not beside the repository): if so, one line says it is skipped."""
    from ltx.parity.oracle import at_least, oracle_version

    if at_least("1.2.0"):
        return False
    print(f"{what}: skipped, needs ltx-core >= 1.2.0 as the oracle (ltx-core {oracle_version()} is installed)")
    return True


def _is_diffusion_vae(path: Path) -> bool:
    from ltx.checkpoint import Checkpoint
    from ltx.config.diffusion_vae import DIFFUSION_VAE_CLASS

    return (Checkpoint(path).section("vae") or {}).get("_class_name") == DIFFUSION_VAE_CLASS


def _builtin_jobs(
    folder: Path, parts: set[str], common: dict, shape, stats: dict, av_modulation: str
) -> tuple[list[Job], bool]:
    from ltx.checkpoint import Checkpoint
    from ltx.parity.file_fixtures import SPLIT_FILES  # LTX-2.5 one-component files
    from ltx.parity.fixtures import TINY, UPSAMPLERS, write_tiny_checkpoint, write_tiny_upsampler
    from ltx.parity.text import t5_parity
    from ltx.parity.text_fixtures import write_tiny_gemma, write_tiny_t5
    from ltx.parity.vae import upsampler_parity

    jobs, files, has_audio = [], {}, False
    gemma = None
    if "gemma" in parts and not _needs_newer_oracle("prompts -> contexts through the built-in Gemma-3"):
        gemma = write_tiny_gemma(folder / "gemma-3-tiny")
        print("built-in Gemma-3 gemma-3-tiny: 3 layers of 24 channels, sentencepiece tokenizer trained here "
              "(and its tokenizer.json, written by transformers)")  # fmt: skip
    for spec in (*TINY.values(), *SPLIT_FILES.values()):
        if spec.model_version.startswith("2.5") and _needs_newer_oracle(f"built-in checkpoint {spec.name}"):
            continue
        files[spec.name] = p = write_tiny_checkpoint(spec, folder / f"{spec.name}.safetensors")
        print(f"built-in checkpoint {spec.name}: {spec.description}")
        held = Checkpoint(p).components
        has_audio |= "audio_vae" in held
        jobs += _file_jobs(p, held, parts, common, shape, stats, gemma, av_modulation)
    for spec in UPSAMPLERS.values() if "upsampler" in parts else ():
        p = write_tiny_upsampler(spec, folder / f"{spec.name}.safetensors")
        print(f"built-in upsampler {spec.name}: {spec.description}")
        jobs.append((spec.name, lambda g, p=p, v=files[spec.vae]: upsampler_parity(p, v, **common, group=g)))
    if not _needs_newer_oracle("built-in LTX-2.5 VAE files, upscalers, duration head, diffusion VAE and text side"):
        jobs += _builtin_2_5_jobs(folder, parts, common, gemma)
    if "t5" in parts:
        t5 = write_tiny_t5(folder / "t5-tiny")
        print("built-in T5 t5-tiny: 2 layers of 32 channels, sentencepiece tokenizer trained here")
        jobs.append(("t5-tiny (LTX-Video text encoder)", lambda g: t5_parity(t5, **common, group=g)))
    return jobs, has_audio


def _builtin_2_5_jobs(folder: Path, parts: set[str], common: dict, gemma: Path | None) -> list[Job]:
    from ltx.parity.text import builtin_text_jobs
    from ltx.parity.vae import builtin_2_5_jobs

    jobs = builtin_2_5_jobs(folder, parts, common)  # LTX-2.5 VAE files, upscalers, duration head
    if "diffusion_vae" in parts:
        from ltx.parity.diffusion_vae import diffusion_vae_parity
        from ltx.parity.diffusion_vae_fixtures import write_tiny_diffusion_vae

        p = write_tiny_diffusion_vae(folder / "ltx-2.5-diffusion-vae-tiny.safetensors")
        print("built-in diffusion VAE ltx-2.5-diffusion-vae-tiny: conv encoder + 5-stage diffusion decoder, "
              "gated blocks, bare keys")  # fmt: skip
        jobs.append(("ltx-2.5-diffusion-vae-tiny", lambda g, p=p: diffusion_vae_parity(p, **common, group=g)))
    return jobs + builtin_text_jobs(folder, parts, common, gemma)  # LTX-2.5's Gemma-4 pair, asymmetric connectors


def _pipeline_jobs(folder: Path) -> list[Job]:
    from ltx.parity.pipelines import builtin_inputs, kinds_for, pipeline_parity

    jobs = []
    for name in ("ltx-2.0-tiny", "ltx-2.3-tiny"):
        inputs = builtin_inputs(folder / name, name)
        print(
            f"pipeline inputs for {name}: bf16 copy, upsampler, distilled LoRA, IC-LoRA, prompts, image, video, audio"
        )
        for kind in kinds_for(name):
            jobs.append((f"{name} {kind} pipeline", lambda g, i=inputs, k=kind: pipeline_parity(i, (k,), group=g)))
        if name != "ltx-2.3-tiny":  # LTX-2.5's Dub-It and HDR IC-LoRA (not in the registry yet), on the 2.3 layout
            continue
        from ltx.parity.dubit_pipeline import dubit_parity
        from ltx.parity.hdr_pipeline import hdr_parity

        jobs.append((f"{name} dub-it pipeline", lambda g, i=inputs: dubit_parity(i, group=g)))
        for hq in (False, True):
            jobs.append((f"{name} hdr-ic-lora pipeline{' (high quality)' if hq else ''}",
                         lambda g, i=inputs, hq=hq: hdr_parity(i, hq, group=g)))  # fmt: skip
        from ltx.parity.dfr_pipeline import dfr_inputs, dfr_pipeline_parity

        dfr_files = dfr_inputs(folder / f"{name}-dfr", name)  # a keyframe-embedding copy, a detailing IC-LoRA
        for rounds in (0, 1, 2):
            jobs.append((f"{name} dfr pipeline ({rounds} temporal rounds)",
                         lambda g, f=dfr_files, r=rounds: dfr_pipeline_parity(*f, group=g, rounds=r)))  # fmt: skip
    return jobs


def _train_jobs(folder: Path) -> list[Job]:
    """One LoRA step (text-to-video with audio), one IC-LoRA step and the flexible strategy's batches against
    ltx-trainer 1.2.0, when it and peft are installed (else a line saying so)."""
    import importlib.util

    if importlib.util.find_spec("ltx_trainer") is None or importlib.util.find_spec("peft") is None:
        print("training step: skipped (needs ltx-trainer 1.2.0 and peft: bash scripts/install.sh with ../shared)")
        return []
    from ltx.parity.fixtures import write_tiny_checkpoint
    from ltx.parity.train import flexible_parity, train_step_parity

    tiny = write_tiny_checkpoint("ltx-2.3-tiny", folder / "ltx-2.3-tiny-train.safetensors")
    return [("train step vs ltx-trainer: LoRA, t2v + audio (float32; gradients to ~1e-6)",
             lambda g: train_step_parity(tiny, group=g)),
            ("train step vs ltx-trainer: IC-LoRA (float32)", lambda g: train_step_parity(tiny, ic=True, group=g)),
            ("train batches vs ltx-trainer's flexible strategy (float32)",
             lambda g: flexible_parity(tiny, group=g))]  # fmt: skip


def _quiet_third_party() -> None:
    """The official code's loaders (transformers' "Loading weights", the hub's downloads) would draw their progress
    bars into our table: off for this command."""
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    try:
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
    except ImportError:
        pass


def run(args: argparse.Namespace) -> int:
    from ltx.parity.oracle import pin_cpu_blas

    pin_cpu_blas()
    _quiet_third_party()
    from ltx.checkpoint import Checkpoint
    from ltx.parity.audio import mel_parity
    from ltx.parity.compare import format_table, write_json
    from ltx.parity.text import t5_parity
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
    if args.av_modulation is None:  # the rule of the installed oracle: ltx-core 1.0.0 (PyPI) has the older one
        from ltx.parity.oracle import at_least

        args.av_modulation = "own-timesteps" if at_least("1.1.4") else "other-sigma"
    if "transformer" in parts:
        from ltx.parity.oracle import check_av_modulation

        try:
            check_av_modulation(args.av_modulation)
        except RuntimeError as e:
            print(f"ltx parity: {e}", file=sys.stderr)
            return 2
    common = dict(device=args.device, dtype=DTYPES[args.dtype])
    rows, stats = [], {}  # stats: checkpoint -> load times and (CUDA) peak memory of each side
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        if args.checkpoint:
            path = Path(args.checkpoint)
            ckpt = Checkpoint(path)
            held = ckpt.components
            if ckpt.version >= (2, 5) and _needs_newer_oracle(f"{path.name} (LTX-{ckpt.model_version})"):
                return 2
            has_audio = "audio_vae" in held
            gemma = Path(args.gemma) if args.gemma else None
            jobs = _file_jobs(path, held, parts, common, shape, stats, gemma, args.av_modulation)
            if args.upsampler:
                up = Path(args.upsampler)
                jobs.append((f"{up.stem} upsampler", lambda g: upsampler_parity(up, path, **common, group=g)))
            if args.t5:
                jobs.append((f"T5 {Path(args.t5).name}", lambda g: t5_parity(args.t5, **common, group=g)))
        else:
            jobs, has_audio = _builtin_jobs(Path(args.fixtures or tmp), parts, common, shape, stats, args.av_modulation)
        if args.pipelines and not _needs_newer_oracle("the generation pipelines (ltx-pipelines 1.2.0 flows)"):
            jobs += _pipeline_jobs(Path(args.fixtures or tmp) / "pipelines")
        newer = "conditioning" in parts or ("dfr" in parts and not args.checkpoint)
        if newer and _needs_newer_oracle("LTX-2.5 conditioning, HDR transforms and DFR"):
            parts -= {"conditioning", "dfr"}
        if "conditioning" in parts:  # LTX-2.5 Dub-It / latent-mask conditioning and HDR transforms: no file needed
            from ltx.parity.conditioning import conditioning_parity

            jobs.append(("LTX-2.5 conditioning and HDR", lambda g: conditioning_parity(g, device=args.device)))
        if "dfr" in parts and not args.checkpoint:  # LTX-2.5 DFR: canvas / tiles, keyframe slots, temporal rounds
            from ltx.parity.dfr import dfr_parity

            tiny_2_5 = Path(args.fixtures or tmp) / "ltx-2.5-tiny.safetensors"
            jobs.append(("LTX-2.5 DFR (ltx-2.5-tiny, float32)", lambda g: dfr_parity(g, tiny_2_5, device=args.device)))
        if "ltxv" in parts and not args.checkpoint:  # the LTX-Video 0.9.x transformer against ltx-video 0.1.2
            from ltx.parity.ltxv import ltxv_parity, write_tiny_ltxv

            ltxv = write_tiny_ltxv(Path(args.fixtures or tmp) / "ltx-video-0.9-transformer-tiny.safetensors")
            print("built-in LTX-Video transformer ltx-video-0.9-transformer-tiny: 3 blocks of 2 x 16, T5-width text")
            jobs.append(("ltx-video-0.9-transformer-tiny (float32)", lambda g: ltxv_parity(ltxv, group=g)))
            from ltx.parity.ltxv_pipeline import ltxv_pipeline_parity, write_files

            files = write_files(Path(args.fixtures or tmp) / "ltx-video-pipeline")
            print("LTX-Video pipeline inputs: a tiny transformer and 0.9.1 VAE; text features given directly")
            jobs.append(("ltx-video pipeline: t2v, i2v (float32)",
                         lambda g, f=files: ltxv_pipeline_parity(*f, realign=True, group=g)))  # fmt: skip
        if "train" in parts and not args.checkpoint:  # a training step against ltx-trainer 1.2.0
            jobs += _train_jobs(Path(args.fixtures or tmp))
        if "mel" in parts and (has_audio or args.parts):  # the front-end matters only where there is audio
            jobs.insert(0, ("mel front-end", lambda g: mel_parity(g, device=args.device)))
        for group, job in jobs:
            rows += job(group)
    print()
    from ltx.parity.oracle import oracle_version

    print(f"parity vs the official code (ltx-core {oracle_version()} for LTX-2, ltx-video 0.1.2 for LTX-Video), "
          f"{args.dtype} on {args.device}; transformer inputs: clip {shape.frames}x{shape.height}x{shape.width} "
          f"@ {shape.fps} fps, batch {shape.batch}, A/V modulation {args.av_modulation}")  # fmt: skip
    print(format_table(rows))
    # Each side loads the file and runs every pass while the other side is not in memory.
    for name, s in stats.items():
        print(f"{name}: " + ", ".join(f"{k} {v}" for k, v in s.items()))
    info = {"seconds": round(time.perf_counter() - start, 1), "torch": torch.__version__}
    if args.device == "cuda":
        info["gpu"] = torch.cuda.get_device_name()
    print("run: " + ", ".join(f"{k} {v}" for k, v in info.items()))
    if args.json:
        context = dict(device=args.device, dtype=args.dtype, shape=dataclasses.asdict(shape),
                       av_modulation=args.av_modulation, oracle=f"ltx-core {oracle_version()}")  # fmt: skip
        write_json(rows, args.json, **context, **info, checkpoints=stats)
        print(f"report written to {args.json}")
    return 0 if rows and all(r.passed for r in rows) else 1


def add_parser(sub) -> None:
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
    p.add_argument("--gemma", "--text-encoder", dest="gemma", metavar="DIR|FILE",
                   help="also compare prompts -> contexts with this Gemma-3 folder (LTX-2.0 / 2.3) or LTX-2.5 "
                   "Gemma-4 text encoder file")  # fmt: skip
    p.add_argument("--t5", metavar="DIR", help="also compare LTX-Video's prompt encoding with this T5 folder")
    p.add_argument("--av-modulation", choices=["own-timesteps", "other-sigma"],
                   help="the transformer's A/V cross-attention AdaLN rule to check: each stream's own per-token "
                        "timesteps (ltx-core >= 1.1.4) or the other stream's sigma (1.0.0); default: the "
                        "installed oracle's")  # fmt: skip
    p.add_argument("--pipelines", action="store_true",
                   help="also run every generation pipeline against the official (tiny checkpoints)")  # fmt: skip
    p.set_defaults(run=run)
