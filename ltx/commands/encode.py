"""`ltx encode`: prompts -> a prompt-embeddings file, so that generation need not load the text encoder."""

from __future__ import annotations

import argparse
import sys

import torch

from ltx.commands import DTYPES


def run(args: argparse.Namespace) -> int:
    from ltx.text.encoder import TextEncoder, save_prompt_embeddings
    from ltx.text.processor import PromptEmbeddings
    from ltx.text.t5 import T5

    if bool(args.gemma) == bool(args.t5):
        print(
            "ltx encode: give --gemma DIR|FILE (with --checkpoint, for LTX-2) or --t5 DIR (LTX-Video)", file=sys.stderr
        )
        return 2
    if args.gemma and not args.checkpoint:
        print(
            "ltx encode: --gemma needs --checkpoint: the text side (connectors, and for LTX-2.0 / 2.3 the projection) "
            "is in it",
            file=sys.stderr,
        )
        return 2
    if args.device == "cuda" and not torch.cuda.is_available():
        print("ltx encode: --device cuda asked for, but torch sees no CUDA device", file=sys.stderr)
        return 2
    dtype = DTYPES[args.dtype]
    if args.gemma:
        if args.gpu_memory is not None and args.device == "cuda":
            from ltx.offload import cap

            cap(args.device, args.gpu_memory)
        encoder = TextEncoder(args.gemma, args.checkpoint, device=args.device, dtype=dtype, gpu_memory=args.gpu_memory)
        embeddings = encoder.encode(args.prompt)
        info = {"model": "ltx-2", "checkpoint": str(args.checkpoint), "text_encoder": str(args.gemma)}
    else:
        video, mask = T5(args.t5, device=args.device, dtype=dtype).encode(args.prompt)
        embeddings = PromptEmbeddings(video, None, mask)
        info = {"model": "ltx-video", "text_encoder": str(args.t5)}
    save_prompt_embeddings(args.output, embeddings, args.prompt, dtype=args.dtype, **info)
    shapes = ", ".join(f"{k} {tuple(v.shape)}" for k, v in embeddings._asdict().items() if v is not None)
    print(f"wrote {args.output}: {len(args.prompt)} prompt(s), {shapes}")
    return 0


def add_parser(sub) -> None:
    p = sub.add_parser("encode", help="encode prompts once into a file that generation can reuse")
    p.add_argument("--prompt", action="append", required=True, help="a prompt (repeat for a batch)")
    p.add_argument("--checkpoint", help="the LTX-2 checkpoint (LTX-2.5: its transformer file) whose text side to use")
    p.add_argument("--gemma", "--text-encoder", dest="gemma", metavar="DIR|FILE",
                   help="the text encoder: a local Gemma-3 folder (LTX-2.0 / 2.3) or LTX-2.5's Gemma-4 "
                   "with-proj file")  # fmt: skip
    p.add_argument("--t5", metavar="DIR", help="a local T5 folder with text_encoder/ and tokenizer/ (LTX-Video)")
    p.add_argument("--output", required=True, help="the .safetensors file to write")
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    p.add_argument("--gpu-memory", type=float, metavar="GIB",
                   help="fit Gemma-3 in this much GPU memory (layers that do not fit stream)")  # fmt: skip
    p.add_argument("--dtype", default="bfloat16", choices=sorted(DTYPES))
    p.set_defaults(run=run)
