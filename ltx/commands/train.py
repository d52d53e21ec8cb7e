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
