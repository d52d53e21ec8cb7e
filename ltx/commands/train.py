"""`ltx train CONFIG.yaml|toml`: LoRA / IC-LoRA training on ltx-trainer's preprocessed data (ltx.train.trainer)."""

from __future__ import annotations

import argparse
import dataclasses


def run(args: argparse.Namespace) -> int:
    from ltx.train.trainer import TrainConfig, train

    cfg = TrainConfig.from_file(args.config)
    changes = {k: v for k, v in (("steps", args.steps), ("output", args.output), ("device", args.device)) if v}
    cfg = dataclasses.replace(cfg, **changes)
    lora = train(cfg)
    print(f"wrote {lora} (LoRA in the ComfyUI format: ltx generate --lora {lora} 1.0)")
    return 0


def add_parser(sub) -> None:
    p = sub.add_parser("train", help="train a LoRA or IC-LoRA on preprocessed data (ltx-trainer's layout)",
                       description=__doc__)  # fmt: skip
    p.add_argument("config", help="a .yaml or .toml file of ltx.train.trainer.TrainConfig's fields")
    p.add_argument("--steps", type=int, help="override the config's steps")
    p.add_argument("--output", help="override the config's output folder")
    p.add_argument("--device", choices=("cpu", "cuda"), help="override the config's device")
    p.set_defaults(run=run)


def run_preprocess(args: argparse.Namespace) -> int:
    from ltx.commands import DTYPES
    from ltx.train.preprocess import preprocess

    frames, height, width = (int(v) for v in args.size.lower().split("x"))
    out = preprocess(args.dataset, args.output, checkpoint=args.checkpoint, gemma=args.gemma, frames=frames,
                     height=height, width=width, with_audio=args.with_audio, device=args.device,
                     dtype=DTYPES[args.dtype], overwrite=args.overwrite, caption=args.caption_column,
                     media=args.media_column)  # fmt: skip
    print(f"wrote {out} (latents/, conditions/{', audio_latents/' if args.with_audio else ''}): train on it with "
          f"`ltx train` (data: {out})")  # fmt: skip
    return 0


def _size(text: str) -> str:
    parts = text.lower().split("x")
    if len(parts) != 3 or not all(p.isdigit() for p in parts):
        raise argparse.ArgumentTypeError(f"expected FRAMESxHEIGHTxWIDTH (e.g. 49x512x768), got {text!r}")
    return text


def add_preprocess_parser(sub) -> None:
    p = sub.add_parser("preprocess", help="videos + captions -> training data in ltx-trainer's preprocessed layout",
                       description="Videos and captions -> latents/, conditions/ (and audio_latents/) as ltx-trainer "
                       "writes them, with our VAEs and text encoder (ltx.train.preprocess).")  # fmt: skip
    p.add_argument("dataset", help="a CSV / JSON / JSONL file with caption and media_path columns")
    p.add_argument("--output", required=True, help="the folder to write (latents/, conditions/, audio_latents/)")
    p.add_argument("--checkpoint", required=True, help="the LTX-2 checkpoint (its VAEs and text side)")
    p.add_argument("--gemma", required=True, metavar="DIR", help="the Gemma-3 folder")
    p.add_argument("--size", type=_size, default="49x512x768", metavar="FxHxW", help="frames x height x width")
    p.add_argument("--with-audio", action="store_true", help="also encode each clip's soundtrack")
    p.add_argument("--caption-column", default="caption")
    p.add_argument("--media-column", default="media_path")
    p.add_argument("--device", choices=("cpu", "cuda"))
    p.add_argument("--dtype", default="bfloat16", choices=("bfloat16", "float32"))
    p.add_argument("--overwrite", action="store_true", help="re-encode clips whose outputs exist")
    p.set_defaults(run=run_preprocess)
