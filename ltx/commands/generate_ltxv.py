"""`ltx generate` with an LTX-Video 0.9.x checkpoint: text-to-video, or image-to-video from a first frame, single
pass (ltx.pipelines.ltxv), written as a silent MP4. The text comes from a T5 folder (`--t5 DIR`) or a
prompt-embeddings file (`--prompts FILE`, from `ltx encode --t5`)."""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import fields

import torch

from ltx.commands import DTYPES

IMAGE_CRF = 29  # ltx-video's inference compresses a conditioning image with H.264 at CRF 29 first


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


def run_ltxv(args: argparse.Namespace) -> int:
    from ltx.dit.ltxv import load_ltxv_transformer
    from ltx.media import image_to_pixels, write_mp4
    from ltx.pipelines.ltxv import LTXVRequest, ltxv_generate
    from ltx.vae import load_video_decoder, load_video_encoder

    if bool(args.t5) == bool(args.prompts):
        print("ltx generate: an LTX-Video checkpoint takes --t5 DIR or --prompts FILE (from `ltx encode --t5`), "
              "not both", file=sys.stderr)  # fmt: skip
        return 2
    given = (("--gemma", args.gemma), ("--lora", args.lora), ("--audio", args.audio), ("--video", args.video),
             ("--upsampler", args.upsampler), ("--tiling", args.tiling))  # fmt: skip
    unused = [option for option, value in given if value]
    if unused or args.pipeline != "one-stage" or len(args.image) > 1:
        what = ", ".join(unused) or (f"--pipeline {args.pipeline}" if args.pipeline != "one-stage" else "two --image")
        print(f"ltx generate: LTX-Video runs text-to-video or one first-frame --image here; {what} does not apply",
              file=sys.stderr)  # fmt: skip
        return 2
    image = None
    if args.image:
        from ltx.commands.generate import parse_image

        image = parse_image(args.image[0])
        if image.frame != 0:
            print(f"ltx generate: LTX-Video conditions on the first frame here, got frame {image.frame}",
                  file=sys.stderr)  # fmt: skip
            return 2
    overrides = {"steps": args.steps, "guidance_scale": args.video_cfg, "stg_scale": args.stg,
                 "rescaling": args.rescale}  # fmt: skip
    known = {f.name for f in fields(LTXVRequest)}
    changes = {k: v for k, v in overrides.items() if v is not None and k in known}
    if args.stg_blocks is not None:
        changes["stg_blocks"] = tuple(int(b) for b in args.stg_blocks.split(",") if b)
    req = LTXVRequest(height=args.height or 512, width=args.width or 768, frames=args.frames, fps=args.fps,
                      image_strength=image.strength if image else 1.0, **changes)  # fmt: skip
    device, dtype = torch.device(args.device), DTYPES[args.dtype]
    start = time.perf_counter()
    (context, mask), (negative, negative_mask) = _text(args, device, dtype)
    transformer = load_ltxv_transformer(args.checkpoint, device=device, dtype=dtype)
    vae = args.video_vae or args.checkpoint
    decoder = load_video_decoder(vae, device=device, dtype=dtype, family="ltxv")
    encoder = pixels = None
    if image is not None:
        encoder = load_video_encoder(vae, device=device, dtype=dtype, family="ltxv")
        pixels = image_to_pixels(image.image, req.height, req.width, crf=IMAGE_CRF, dtype=dtype, device=device)
    with torch.inference_mode():
        result = ltxv_generate(transformer, decoder, context, mask, negative, negative_mask, req,
                               generator=torch.Generator(device).manual_seed(args.seed),
                               vae_generator=torch.Generator(device).manual_seed(args.seed + 1), image=pixels,
                               encoder=encoder)  # fmt: skip
    video = result.video[0].permute(1, 2, 3, 0).float().cpu()  # (F, H, W, 3) in [0, 1]
    write_mp4(args.output, video, req.fps)
    f, h, w, _ = video.shape
    print(f"wrote {args.output}: {f} frames {w}x{h} at {req.fps:g} fps (LTX-Video, no audio); generated in "
          f"{time.perf_counter() - start:.1f} s")  # fmt: skip
    return 0
