"""`ltx generate`: a prompt (and images, audio or a video) -> an MP4 with H.264 video and AAC audio."""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
from dataclasses import replace
from pathlib import Path

import torch

from ltx.commands import DTYPES

# each pipeline input -> (where it comes from on the command line, the option that gives it)
_INPUTS = {
    "audio": (lambda a: a.audio, "--audio FILE"),
    "video": (lambda a: a.video, "--video FILE"),
    "reference": (lambda a: a.video, "--video FILE"),
    "start": (lambda a: a.start, "--start SECONDS"),
    "end": (lambda a: a.end, "--end SECONDS"),
}


def parse_image(text: str):
    """PATH[@FRAME[:STRENGTH]] -> ImageCondition (frame 0, strength 1, the model version's CRF by default)."""
    from ltx.pipelines import ImageCondition

    path, frame, strength = text, 0, 1.0
    head, sep, tail = text.rpartition("@")
    if sep:
        spec, _, s = tail.partition(":")
        try:
            frame, strength = int(spec), float(s) if s else 1.0
            path = head
        except ValueError:
            pass  # an '@' that is part of the file name
    return ImageCondition(path, frame, strength)


def _guidance(args, base, cfg: float | None):
    """The version's default guidance with the command line's overrides (None when there are none)."""
    changes = {name: value for name, value in (("cfg", cfg), ("stg", args.stg), ("rescale", args.rescale),
                                               ("modality", args.modality)) if value is not None}  # fmt: skip
    if args.stg_blocks is not None:
        changes["stg_blocks"] = tuple(int(b) for b in args.stg_blocks.split(",") if b)
    return replace(base, **changes) if changes else None  # None: the version's defaults


def _inputs(args: argparse.Namespace, pipeline) -> dict:
    """The pipeline's own inputs and options from the command line."""
    inputs = {name: _INPUTS[name][0](args) for name in pipeline.inputs}
    if pipeline.name == "a2v":
        inputs["start"] = args.audio_start
    elif pipeline.name == "ic-lora":
        inputs["attention_strength"] = args.attention_strength
    elif pipeline.name == "two-stage-hq":
        inputs["stage1_lora"] = args.hq_stage1_lora
    elif pipeline.name == "dfr":
        inputs["rounds"] = args.temporal_rounds
    return inputs


def _layout(text: str):
    from ltx.parallel import Layout

    try:
        return Layout.parse(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def run(args: argparse.Namespace) -> int:
    from ltx.media import write_mp4
    from ltx.pipelines import PIPELINES, Models, Request, run_pipeline
    from ltx.sampling import defaults
    from ltx.vae import Tiling

    if args.device == "cuda" and not torch.cuda.is_available():
        print("ltx generate: --device cuda asked for, but torch sees no CUDA device", file=sys.stderr)
        return 2
    from ltx.checkpoint import Checkpoint
    from ltx.config.ltxv import is_ltxv

    if is_ltxv(Checkpoint(args.checkpoint).section("transformer")):  # LTX-Video 0.9.x: its own, simpler path
        from ltx.commands.generate_ltxv import run_ltxv

        return run_ltxv(args)
    if args.t5 or args.recipe:
        what = "--t5 is LTX-Video's text encoder" if args.t5 else "--recipe is LTX-Video's multi-scale setting"
        print(f"ltx generate: {what}; an LTX-2 checkpoint takes --gemma and --pipeline", file=sys.stderr)
        return 2
    if bool(args.gemma) == bool(args.prompts):
        print("ltx generate: give --gemma DIR or --prompts FILE (from `ltx encode`), not both", file=sys.stderr)
        return 2
    pipeline = PIPELINES[args.pipeline]
    if (pipeline.name == "t2a") != args.output.lower().endswith(".wav"):
        print("ltx generate: --pipeline t2a writes a .wav; the other pipelines write an .mp4 (hdr: a folder)",
              file=sys.stderr)  # fmt: skip
        return 2
    if pipeline.name == "hdr" and args.output.lower().endswith((".mp4", ".wav")):
        print("ltx generate: --pipeline hdr writes EXR frames into the folder --output names (not an .mp4)",
              file=sys.stderr)  # fmt: skip
        return 2
    missing = [_INPUTS[name][1] for name in pipeline.inputs if _INPUTS[name][0](args) is None]
    if missing:
        print(f"ltx generate: the {pipeline.name} pipeline needs {' and '.join(missing)}", file=sys.stderr)
        return 2
    problem = check_output(args.output, folder=pipeline.name == "hdr")
    if problem:
        print(f"ltx generate: {problem}", file=sys.stderr)
        return 2
    height = args.height or (1024 if pipeline.two_stage else 512)
    width = args.width or (1536 if pipeline.two_stage else 768)
    groups, device = None, args.device
    if args.parallel is not None:  # (under torchrun: every process runs this; the first writes the output)
        from ltx.parallel import init, local_device

        if args.gpu_memory is not None or args.offload is not None:
            print("ltx generate: --parallel keeps the whole transformer on each device: leave out --gpu-memory / "
                  "--offload", file=sys.stderr)  # fmt: skip
            return 2
        groups = init(args.parallel, device=args.device)
        device = local_device(args.device)
    models = Models(
        args.checkpoint,
        gemma=args.gemma,
        prompts=args.prompts,
        upsampler=args.upsampler,
        loras=[(p, float(s)) for p, s in args.lora],
        distilled_lora=(args.distilled_lora[0], float(args.distilled_lora[1])) if args.distilled_lora else None,
        detailing_lora=(args.detailing_lora[0], float(args.detailing_lora[1])) if args.detailing_lora else None,
        temporal_upsampler=args.temporal_upsampler,
        duration_head=args.duration_head,
        video_vae=args.video_vae,
        audio_vae=args.audio_vae,
        av_modulation=args.av_modulation,
        device=device,
        dtype=DTYPES[args.dtype],
        accelerate=args.compile,
        gpu_memory=args.gpu_memory,
        offload=args.offload,
        parallel=groups,
    )
    if args.gpu_memory is not None and models.device.type == "cuda":
        from ltx.offload import cap

        cap(models.device, args.gpu_memory)  # the budget is a limit: going over it is an out-of-memory error
    video_g, audio_g, _ = defaults(models.version)
    req = Request(
        prompt=args.prompt,
        negative_prompt=args.negative_prompt,
        seed=args.seed,
        height=height,
        width=width,
        frames=None if args.auto_duration else args.frames,
        fps=args.fps,
        steps=args.steps,
        video_guidance=_guidance(args, video_g, args.video_cfg),
        audio_guidance=_guidance(args, audio_g, args.audio_cfg),
        images=[parse_image(i) for i in args.image],
        tiling=Tiling() if args.tiling else None,
        batch_passes=args.batch_passes,
    )
    if models.device.type == "cpu":
        params = models.ckpt.numel(models.ckpt.components.get("transformer", []))
        if params > 1e9:
            print(f"ltx generate: running a {params / 1e9:.0f}B-parameter transformer on the CPU: expect hours at "
                  f"{width}x{height}x{req.frames} (--device cuda, or a smaller size to try it)",
                  file=sys.stderr)  # fmt: skip
    start = time.perf_counter()
    result = run_pipeline(pipeline.name, models, req, **_inputs(args, pipeline))
    seconds = time.perf_counter() - start
    if groups is not None and groups.rank != 0:
        return 0  # every process holds the result; the first writes it
    audio = (
        f"audio {result.audio.shape[-1] / result.sample_rate:.2f} s at {result.sample_rate} Hz"
        if result.audio is not None
        else ""
    )
    if pipeline.name == "hdr":  # linear EXR frames
        from ltx.media_hdr import write_exr_frames

        paths = write_exr_frames(args.output, result.linear)
        print(f"wrote {len(paths)} EXR frames (scene-linear Rec.709, half) into {args.output}; generated in "
              f"{seconds:.1f} s")  # fmt: skip
        for name, t in result.timings:
            print(f"  {name}: {t:.1f} s")
        return 0
    if result.video is None:  # text-to-audio
        from ltx.audio import write_wav

        write_wav(args.output, result.audio, result.sample_rate)
        print(f"wrote {args.output}: {audio}; generated in {seconds:.1f} s")
    else:
        write_mp4(args.output, result.video, result.fps, result.audio, result.sample_rate)
        f, h, w, _ = result.video.shape
        audio = f", {audio}" if audio else ""
        print(f"wrote {args.output}: {f} frames {w}x{h} at {result.fps:g} fps{audio}; generated in {seconds:.1f} s")
    for name, t in result.timings:
        print(f"  {name}: {t:.1f} s")
    print(f"  loading models and encoding text: {max(0.0, seconds - sum(t for _, t in result.timings)):.1f} s")
    return 0


def finite_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"expected a finite number, got {text!r}")
    return value


def positive_int(text: str) -> int:
    if not text.strip().isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {text!r}")
    return int(text)


def block_list(text: str) -> str:
    """Comma-separated block numbers (checked here; kept as text for the code that splits it)."""
    parts = [p.strip() for p in text.split(",") if p.strip()]
    if not all(p.isdigit() for p in parts):
        raise argparse.ArgumentTypeError(f"expected comma-separated block numbers like 28 or 11,25, got {text!r}")
    return ",".join(parts)


class LoraArg(argparse.Action):
    """--lora FILE STRENGTH, the strength checked as a finite number (argparse's usage error otherwise)."""

    def __call__(self, parser, namespace, values, option_string=None):
        path, strength = values
        try:
            finite_float(strength)
        except argparse.ArgumentTypeError as e:
            parser.error(f"argument --lora: {path}: the strength: {e}")
        items = list(getattr(namespace, self.dest) or [])
        items.append([path, strength])
        setattr(namespace, self.dest, items)


def check_output(path: str, folder: bool = False) -> str | None:
    """Why `path` cannot be written (None when it can), checked before any work."""
    target = Path(path)
    parent = target if folder else target.parent
    if folder and target.exists() and not target.is_dir():
        return f"--output {path}: exists and is not a folder"
    if not folder and target.is_dir():
        return f"--output {path}: is a folder; give a file name"
    where = parent if parent.exists() else parent.parent if folder else None
    if where is None or not where.exists():
        return f"--output {path}: the folder {parent} does not exist; create it first"
    if not os.access(where, os.W_OK):
        return f"--output {path}: {where} is not writable"
    return None


def add_parser(sub) -> None:
    p = sub.add_parser(
        "generate",
        help="generate a video with audio (MP4) with an LTX-2 pipeline",
        description="Generate an MP4 (H.264 + AAC stereo) from a prompt with the LTX-2 pipelines. Defaults follow "
        "the official pipelines: 121 frames at 24 fps, 512x768 (one-stage) or 1024x1536 (two-stage family), "
        "the model version's steps and guidance.",
    )
    p.add_argument("--checkpoint", "--transformer", required=True,
                   help="LTX-2 single-file checkpoint, or LTX-2.5's transformer file (.safetensors)")  # fmt: skip
    p.add_argument("--gemma", "--text-encoder", metavar="DIR|FILE",
                   help="local Gemma-3 folder (config.json, *.safetensors, tokenizer.model), or LTX-2.5's Gemma-4 "
                        "with-proj text encoder file (give exactly one of --gemma / --prompts)")  # fmt: skip
    p.add_argument("--video-vae", metavar="FILE", help="the video VAE's own file (LTX-2.5); default: --checkpoint")
    p.add_argument("--audio-vae", metavar="FILE",
                   help="the audio VAE + vocoder file (LTX-2.5); default: --checkpoint")  # fmt: skip
    p.add_argument("--av-modulation", default="own-timesteps", choices=["own-timesteps", "other-sigma"],
                   help="the transformer's A/V cross-attention AdaLN rule: each stream's own per-token timesteps "
                        "(ltx-core >= 1.1.4, default) or the other stream's sigma (ltx-core 1.0.0)")  # fmt: skip
    p.add_argument("--prompts", metavar="FILE",
                   help="prompt embeddings from `ltx encode` instead of --gemma / --t5 (give exactly one)")  # fmt: skip
    p.add_argument("--t5", metavar="DIR", help="LTX-Video 0.9.x checkpoints: the T5 folder (text_encoder/, tokenizer/)")
    p.add_argument("--upsampler", metavar="FILE", help="spatial x2 latent upsampler (two-stage pipelines; LTX-Video: "
                   "runs the multi-scale recipe)")  # fmt: skip
    p.add_argument("--recipe", choices=("distilled", "dev"),
                   help="LTX-Video multi-scale: the official 0.9.7 configs' passes (default distilled)")  # fmt: skip
    p.add_argument("--distilled-lora", nargs=2, metavar=("FILE", "STRENGTH"), help="distilled LoRA for stage 2")
    p.add_argument("--detailing-lora", nargs=2, metavar=("FILE", "STRENGTH"),
                   help="dfr: the x2 spatial detailing IC-LoRA for stage 2 (optional)")  # fmt: skip
    p.add_argument("--temporal-upsampler", metavar="FILE", help="dfr: temporal x2 latent upsampler (--temporal-rounds)")
    p.add_argument("--temporal-rounds", type=int, default=0, choices=(0, 1, 2),
                   help="dfr: temporal x2 refine rounds (1: 2x the frame rate, 2: 4x)")  # fmt: skip
    p.add_argument("--lora", nargs=2, action=LoraArg, default=[], metavar=("FILE", "STRENGTH"),
                   help="a ComfyUI-format LoRA and its strength (repeatable)")  # fmt: skip
    p.add_argument("--prompt", required=True, help="what to generate (text for Gemma, or a prompt in --prompts FILE)")
    p.add_argument("--negative-prompt", default="", help="negative prompt for CFG (default: empty)")
    p.add_argument("--image", action="append", default=[], metavar="PATH[@FRAME[:STRENGTH]]",
                   help="an image at a pixel frame (default 0) with a strength (default 1); repeatable")  # fmt: skip
    p.add_argument("--audio", metavar="FILE", help="audio for the a2v pipeline (any file PyAV reads)")
    p.add_argument("--audio-start", type=float, default=0.0, help="where in --audio to start (seconds)")
    p.add_argument("--video", metavar="FILE",
                   help="source video (retake), reference (ic-lora, hdr), the clip to re-voice (dub-it); LTX-Video: "
                   "a segment PATH[@FRAME[:STRENGTH]] (from frame 0: extension)")  # fmt: skip
    p.add_argument("--start", type=float, help="retake: start of the window to regenerate (seconds)")
    p.add_argument("--end", type=float, help="retake: end of the window (seconds)")
    p.add_argument("--attention-strength", type=float, default=1.0, help="ic-lora: reference attention in [0, 1]")
    from ltx.pipelines.registry import PIPELINES

    p.add_argument("--pipeline", default="one-stage", choices=list(PIPELINES),
                   help="; ".join(f"{k}: {v.summary}" for k, v in PIPELINES.items()))  # fmt: skip
    p.add_argument("--height", type=int, help="output height (multiple of 32; 64 for two-stage pipelines)")
    p.add_argument("--width", type=int, help="output width (as --height)")
    p.add_argument("--frames", type=int, default=121, help="1 + 8k frames")
    p.add_argument("--auto-duration", action="store_true",
                   help="let the LTX-2.5 duration head choose the frame count from the prompt (1-20 s)")  # fmt: skip
    p.add_argument("--duration-head", metavar="FILE",
                   help="the LTX-2.5 duration head file for --auto-duration (if the checkpoint has none)")  # fmt: skip
    p.add_argument("--fps", type=finite_float, default=24.0, help="frames per second of the clip (default 24)")
    p.add_argument("--steps", type=positive_int, help="denoising steps (default: 40 for LTX-2.0, 30 from 2.3)")
    p.add_argument("--seed", type=int, default=10, help="any integer; a negative one is used as it is")
    p.add_argument("--video-cfg", type=finite_float, help="video CFG scale (default 3)")
    p.add_argument("--audio-cfg", type=finite_float, help="audio CFG scale (default 7)")
    p.add_argument("--stg", type=float, help="STG scale for both modalities (default 1)")
    p.add_argument("--stg-blocks", type=block_list, help="comma-separated STG blocks (default 29 for 2.0, 28 from 2.3)")
    p.add_argument("--rescale", type=finite_float, help="guidance rescale (default 0.7)")
    p.add_argument("--modality", type=finite_float, help="modality guidance scale (default 3)")
    p.add_argument(
        "--hq-stage1-lora", type=float, default=0.25, help="two-stage-hq: distilled LoRA strength in stage 1"
    )
    p.add_argument("--gpu-memory", type=float, metavar="GIB",
                   help="fit the run in this much GPU memory: the transformer blocks that do not fit stream from host "
                   "memory (or --offload disk) while the others compute, Gemma's layers too, the video decodes in "
                   "tiles; enforced as a limit")  # fmt: skip
    p.add_argument("--parallel", type=_layout, metavar="sp=N,cfg=M",
                   help="run under torchrun on sp x cfg processes (one GPU each): sp shares each pass's video tokens, "
                   "cfg runs the guidance passes side by side; e.g. torchrun --nproc-per-node 4 -m ltx generate ... "
                   "--parallel sp=2,cfg=2")  # fmt: skip
    p.add_argument("--offload", choices=("cpu", "disk"),
                   help="stream the transformer's blocks from pinned host memory (cpu) or the checkpoint file (disk); "
                   "without --gpu-memory every block streams, as the official --offload")  # fmt: skip
    p.add_argument(
        "--tiling",
        action="store_true",
        help="decode the video in tiles (less memory); LTX-2.5's diffusion decoder chooses its tiles for the free "
        "memory, as the official pipelines do",
    )
    p.add_argument("--batch-passes", action="store_true",
                   help="run the guidance passes as one batch (faster where memory allows)")  # fmt: skip
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu", choices=["cpu", "cuda"],
                   help="where to run (default: cuda when present); a full-size model on CPU takes hours")  # fmt: skip
    p.add_argument(
        "--compile",
        action="store_true",
        help="torch.compile the transformer's blocks and replay their loop from CUDA graphs (ltx.runtime): faster "
        "after a first pass that compiles; results differ from eager by the compiled kernels' rounding",
    )
    p.add_argument("--dtype", default="bfloat16", choices=sorted(DTYPES),
                   help="compute dtype (default bfloat16; fp8 files keep float8 weights, compute in it)")  # fmt: skip
    p.add_argument("--output", required=True, help="the .mp4 to write (a .wav for --pipeline t2a)")
    p.set_defaults(run=run)
