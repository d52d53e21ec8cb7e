"""`ltx generate`: a prompt (and images, audio or a video) -> an MP4 with H.264 video and AAC audio."""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import replace

import torch

from ltx.commands import DTYPES

PIPELINES = ("one-stage", "two-stage", "two-stage-hq", "distilled", "keyframes", "a2v", "retake", "ic-lora")
TWO_STAGE = {"two-stage", "two-stage-hq", "distilled", "keyframes", "a2v", "ic-lora"}


def parse_image(text: str):
    """PATH[@FRAME[:STRENGTH]] -> ImageCondition (frame 0, strength 1 by default)."""
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
    """The version's default guidance with the command line's overrides."""
    changes = {name: value for name, value in (("cfg", cfg), ("stg", args.stg), ("rescale", args.rescale),
                                               ("modality", args.modality)) if value is not None}  # fmt: skip
    if args.stg_blocks is not None:
        changes["stg_blocks"] = tuple(int(b) for b in args.stg_blocks.split(",") if b)
    return replace(base, **changes)


def run(args: argparse.Namespace) -> int:
    from ltx.media import write_mp4
    from ltx.pipelines import Models, Request
    from ltx.pipelines import generate as pipelines
    from ltx.sampling import defaults
    from ltx.vae import Tiling

    if args.device == "cuda" and not torch.cuda.is_available():
        print("ltx generate: --device cuda asked for, but torch sees no CUDA device", file=sys.stderr)
        return 2
    if bool(args.gemma) == bool(args.prompts):
        print("ltx generate: give --gemma DIR or --prompts FILE (from `ltx encode`), not both", file=sys.stderr)
        return 2
    needs = {
        "a2v": ("audio", "--audio FILE"),
        "retake": ("video", "--video FILE"),
        "ic-lora": ("video", "--video FILE"),
    }
    if args.pipeline in needs and getattr(args, needs[args.pipeline][0]) is None:
        print(f"ltx generate: the {args.pipeline} pipeline needs {needs[args.pipeline][1]}", file=sys.stderr)
        return 2
    if args.pipeline == "retake" and (args.start is None or args.end is None):
        print("ltx generate: the retake pipeline needs --start and --end (seconds)", file=sys.stderr)
        return 2
    two = args.pipeline in TWO_STAGE
    height = args.height or (1024 if two else 512)
    width = args.width or (1536 if two else 768)
    models = Models(
        args.checkpoint,
        gemma=args.gemma,
        prompts=args.prompts,
        upsampler=args.upsampler,
        loras=[(p, float(s)) for p, s in args.lora],
        distilled_lora=(args.distilled_lora[0], float(args.distilled_lora[1])) if args.distilled_lora else None,
        device=args.device,
        dtype=DTYPES[args.dtype],
    )
    video_g, audio_g, _ = defaults(models.version)
    req = Request(
        prompt=args.prompt,
        negative_prompt=args.negative_prompt,
        seed=args.seed,
        height=height,
        width=width,
        frames=args.frames,
        fps=args.fps,
        steps=args.steps,
        video_guidance=_guidance(args, video_g, args.video_cfg),
        audio_guidance=_guidance(args, audio_g, args.audio_cfg),
        images=[parse_image(i) for i in args.image],
        tiling=Tiling() if args.tiling else None,
        batch_passes=args.batch_passes,
    )
    start = time.perf_counter()
    p = args.pipeline
    if p == "one-stage":
        result = pipelines.one_stage(models, req)
    elif p in ("two-stage", "two-stage-hq"):
        strengths = (
            (args.hq_stage1_lora, models.distilled_lora.strength)
            if p == "two-stage-hq" and models.distilled_lora
            else None
        )
        result = pipelines.two_stage(models, req, hq=p == "two-stage-hq", lora_strengths=strengths)
    elif p == "distilled":
        result = pipelines.distilled(models, req)
    elif p == "keyframes":
        result = pipelines.keyframes(models, req)
    elif p == "a2v":
        result = pipelines.audio_to_video(models, req, args.audio, start=args.audio_start)
    elif p == "retake":
        result = pipelines.retake(models, replace(req, images=[]), args.video, args.start, args.end)
    else:
        result = pipelines.ic_lora(models, req, args.video, attention_strength=args.attention_strength)
    seconds = time.perf_counter() - start
    write_mp4(args.output, result.video, result.fps, result.audio, result.sample_rate)
    f, h, w, _ = result.video.shape
    audio = (
        f", audio {result.audio.shape[-1] / result.sample_rate:.2f} s at {result.sample_rate} Hz"
        if result.audio is not None
        else ""
    )
    print(f"wrote {args.output}: {f} frames {w}x{h} at {result.fps:g} fps{audio}; generated in {seconds:.1f} s")
    for name, t in models.timings:
        print(f"  {name}: {t:.1f} s")
    return 0


def add_parser(sub) -> None:
    p = sub.add_parser(
        "generate",
        help="generate a video with audio (MP4) with an LTX-2 pipeline",
        description="Generate an MP4 (H.264 + AAC stereo) from a prompt with the LTX-2 pipelines. Defaults follow "
        "the official pipelines: 121 frames at 24 fps, 512x768 (one-stage) or 1024x1536 (two-stage family), "
        "the model version's steps and guidance.",
    )
    p.add_argument("--checkpoint", required=True, help="LTX-2 single-file checkpoint (.safetensors)")
    p.add_argument("--gemma", metavar="DIR", help="local Gemma-3 folder (config.json, *.safetensors, tokenizer.model)")
    p.add_argument("--prompts", metavar="FILE", help="prompt embeddings from `ltx encode` instead of --gemma")
    p.add_argument("--upsampler", metavar="FILE", help="spatial x2 latent upsampler (two-stage pipelines)")
    p.add_argument("--distilled-lora", nargs=2, metavar=("FILE", "STRENGTH"), help="distilled LoRA for stage 2")
    p.add_argument("--lora", nargs=2, action="append", default=[], metavar=("FILE", "STRENGTH"),
                   help="a ComfyUI-format LoRA and its strength (repeatable)")  # fmt: skip
    p.add_argument("--prompt", required=True)
    p.add_argument("--negative-prompt", default="", help="negative prompt for CFG (default: empty)")
    p.add_argument("--image", action="append", default=[], metavar="PATH[@FRAME[:STRENGTH]]",
                   help="an image at a pixel frame (default 0) with a strength (default 1); repeatable")  # fmt: skip
    p.add_argument("--audio", metavar="FILE", help="audio for the a2v pipeline (any file PyAV reads)")
    p.add_argument("--audio-start", type=float, default=0.0, help="where in --audio to start (seconds)")
    p.add_argument("--video", metavar="FILE", help="source video (retake) or reference video (ic-lora)")
    p.add_argument("--start", type=float, help="retake: start of the window to regenerate (seconds)")
    p.add_argument("--end", type=float, help="retake: end of the window (seconds)")
    p.add_argument("--attention-strength", type=float, default=1.0, help="ic-lora: reference attention in [0, 1]")
    p.add_argument("--pipeline", default="one-stage", choices=PIPELINES)
    p.add_argument("--height", type=int, help="output height (multiple of 32; 64 for two-stage pipelines)")
    p.add_argument("--width", type=int, help="output width (as --height)")
    p.add_argument("--frames", type=int, default=121, help="1 + 8k frames")
    p.add_argument("--fps", type=float, default=24.0)
    p.add_argument("--steps", type=int, help="denoising steps (default: 40 for LTX-2.0, 30 for 2.3)")
    p.add_argument("--seed", type=int, default=10)
    p.add_argument("--video-cfg", type=float, help="video CFG scale (default 3)")
    p.add_argument("--audio-cfg", type=float, help="audio CFG scale (default 7)")
    p.add_argument("--stg", type=float, help="STG scale for both modalities (default 1)")
    p.add_argument("--stg-blocks", help="comma-separated STG blocks (default 29 for 2.0, 28 for 2.3)")
    p.add_argument("--rescale", type=float, help="guidance rescale (default 0.7)")
    p.add_argument("--modality", type=float, help="modality guidance scale (default 3)")
    p.add_argument(
        "--hq-stage1-lora", type=float, default=0.25, help="two-stage-hq: distilled LoRA strength in stage 1"
    )
    p.add_argument("--tiling", action="store_true", help="decode the video in tiles (less memory)")
    p.add_argument("--batch-passes", action="store_true",
                   help="run the guidance passes as one batch (faster where memory allows)")  # fmt: skip
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu", choices=["cpu", "cuda"])
    p.add_argument("--dtype", default="bfloat16", choices=sorted(DTYPES))
    p.add_argument("--output", required=True, help="the .mp4 to write")
    p.set_defaults(run=run)
