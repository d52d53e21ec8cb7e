"""`ltx generate` with an LTX-Video 0.9.x checkpoint, written as a silent MP4: text-to-video; images at any
frames (`--image PATH@FRAME:STRENGTH`, repeatable: image-to-video, keyframes) and a video segment
(`--video PATH@FRAME:STRENGTH`: from frame 0 it extends the clip); one pass (ltx.pipelines.ltxv) or, with
`--upsampler FILE`, the multi-scale recipe `--recipe distilled|dev` (ltx.pipelines.ltxv_multiscale). Conditioning
media are prepared as ltx-video's inference prepares them (`ltx.media.ltxv_media`). The text comes from a T5 folder
(`--t5 DIR`) or a prompt-embeddings file (`--prompts FILE`, from `ltx encode --t5`)."""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import fields

import torch

from ltx.commands import DTYPES


def _text(args, device, dtype):
    """(context, mask) of the prompt and of the negative prompt."""
    prompts = [args.prompt, args.negative_prompt]
    if args.t5:
        from ltx.text.t5 import T5

        context, mask = T5(args.t5, device=device, dtype=dtype).encode(prompts)
        return (context[:1], mask[:1]), (context[1:], mask[1:])
    from ltx.text.encoder import load_prompt_embeddings

    embeddings, stored, _ = load_prompt_embeddings(args.prompts, device=device, dtype=dtype)
    out = []
    for prompt in prompts:
        if prompt not in stored:
            raise ValueError(f"{args.prompts} has no embeddings for the prompt {prompt!r}; it holds {stored} "
                             "(encode it with `ltx encode --t5 DIR --prompt ...`)")  # fmt: skip
        i = stored.index(prompt)
        out.append((embeddings.video[i : i + 1], embeddings.mask[i : i + 1]))
    return out


def _conditions(args, frames: int, height: int, width: int, device, dtype):
    """LTXVCondition per --image / --video, a video trimmed to 8k + 1 frames that fit from its start frame."""
    from ltx.commands.generate import parse_image
    from ltx.media import ltxv_media, video_info
    from ltx.pipelines.ltxv_conditions import LTXVCondition

    items = [(parse_image(text), False) for text in args.image]
    if args.video:
        items.append((parse_image(args.video), True))
    out = []
    for spec, is_video in items:
        n = 1
        if is_video:
            n = min(video_info(spec.image)[1], frames - spec.frame)
            if n < 1:
                raise ValueError(f"--video {spec.image} starts at frame {spec.frame}, past the clip's {frames} frames")
            n = (n - 1) // 8 * 8 + 1
        media = ltxv_media(spec.image, height, width, n).to(device, dtype)
        out.append(LTXVCondition(media, spec.frame, spec.strength))
    return out


def run_ltxv(args: argparse.Namespace) -> int:
    from ltx.dit.ltxv import load_ltxv_transformer
    from ltx.media import write_mp4
    from ltx.pipelines.ltxv import LTXVRequest, ltxv_generate
    from ltx.pipelines.ltxv_multiscale import RECIPES, ltxv_multiscale
    from ltx.vae import load_latent_upsampler, load_video_decoder, load_video_encoder

    if bool(args.t5) == bool(args.prompts):
        print("ltx generate: an LTX-Video checkpoint takes --t5 DIR or --prompts FILE (from `ltx encode --t5`), "
              "not both", file=sys.stderr)  # fmt: skip
        return 2
    given = (("--gemma", args.gemma), ("--lora", args.lora), ("--audio", args.audio), ("--tiling", args.tiling),
             ("--gpu-memory", args.gpu_memory), ("--offload", args.offload))  # fmt: skip
    unused = [option for option, value in given if value]
    if unused or args.pipeline != "one-stage":
        what = ", ".join(unused) or f"--pipeline {args.pipeline} (use --upsampler FILE for the multi-scale recipe)"
        print(f"ltx generate: {what} does not apply to LTX-Video", file=sys.stderr)
        return 2
    if args.recipe and not args.upsampler:
        print("ltx generate: --recipe is the multi-scale pipeline's: give --upsampler FILE", file=sys.stderr)
        return 2
    from ltx.commands.generate import check_output

    problem = check_output(args.output)
    if problem:
        print(f"ltx generate: {problem}", file=sys.stderr)
        return 2
    overrides = {"steps": args.steps, "guidance_scale": args.video_cfg, "stg_scale": args.stg,
                 "rescaling": args.rescale}  # fmt: skip
    known = {f.name for f in fields(LTXVRequest)}
    changes = {k: v for k, v in overrides.items() if v is not None and k in known}
    if args.stg_blocks is not None:
        changes["stg_blocks"] = tuple(int(b) for b in args.stg_blocks.split(",") if b)
    req = LTXVRequest(height=args.height or 512, width=args.width or 768, frames=args.frames, fps=args.fps, **changes)
    device, dtype, groups = torch.device(args.device), DTYPES[args.dtype], None
    if args.parallel is not None:  # (under torchrun: every process runs this; the first writes the output)
        from ltx.parallel import init, local_device

        if args.parallel.cfg > 1 or args.compile:
            print("ltx generate: LTX-Video runs its guidance passes as one batch: --parallel takes sp=N alone, "
                  "without --compile", file=sys.stderr)  # fmt: skip
            return 2
        groups, device = init(args.parallel, device=args.device), local_device(args.device)
    start = time.perf_counter()
    conditions = _conditions(args, req.frames, req.height, req.width, device, dtype)
    (context, mask), (negative, negative_mask) = _text(args, device, dtype)
    transformer = load_ltxv_transformer(args.checkpoint, device=device, dtype=dtype)
    if args.compile:
        from ltx.runtime import accelerate

        accelerate(transformer)
    if groups is not None:
        from ltx.parallel import Parallel

        transformer = Parallel(transformer, groups)
    vae = args.video_vae or args.checkpoint
    decoder = load_video_decoder(vae, device=device, dtype=dtype, family="ltxv")
    encoder = None
    if conditions or args.upsampler:
        encoder = load_video_encoder(vae, device=device, dtype=dtype, family="ltxv")
    gens = dict(generator=torch.Generator(device).manual_seed(args.seed),
                aux_generator=torch.Generator(device).manual_seed(args.seed + 1))  # fmt: skip
    text = (context, mask, negative, negative_mask)
    with torch.inference_mode():
        if args.upsampler:
            upsampler = load_latent_upsampler(args.upsampler, device=device, dtype=dtype)
            recipe = RECIPES[args.recipe or "distilled"]
            if "stg_blocks" in changes:
                recipe = recipe.with_stg_blocks(changes["stg_blocks"])
            result = ltxv_multiscale(transformer, decoder, upsampler, encoder, *text, req, recipe,
                                     conditions=conditions, **gens)  # fmt: skip
        else:
            result = ltxv_generate(transformer, decoder, *text, req, conditions=conditions, encoder=encoder, **gens)
    if groups is not None and groups.rank != 0:
        return 0  # every process holds the clip; the first writes it
    video = result.video[0].permute(1, 2, 3, 0).float().cpu()  # (F, H, W, 3) in [0, 1]
    write_mp4(args.output, video, req.fps)
    f, h, w, _ = video.shape
    print(f"wrote {args.output}: {f} frames {w}x{h} at {req.fps:g} fps (LTX-Video, no audio); generated in "
          f"{time.perf_counter() - start:.1f} s")  # fmt: skip
    return 0
