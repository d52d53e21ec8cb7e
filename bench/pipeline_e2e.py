"""Full-size one-stage generation, ours beside the official flow (ltx-pipelines helpers + ltx-core models from
its ModelLedger), in one run: the same random 19B checkpoint (transformer, VAE, audio VAE, vocoder, text
side, bf16), the same prompt embeddings and image, the official defaults (guidance with CFG, STG at block
29, modality; 121 frames at 512x768, 24 fps) with fewer steps. Reported: wall time per side, peak GPU
memory, seconds per step, and how far our latents and frames are from the official's.

    python bench/pipeline_e2e.py CHECKPOINT --steps 8 [--json OUT]
"""

from __future__ import annotations

import argparse
import gc
import json
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from ltx.parity import pipeline_fixtures as fx  # noqa: E402
from ltx.parity.pipelines import PROMPTS, Inputs, run_official, run_ours  # noqa: E402
from ltx.pipelines import ImageCondition, Request  # noqa: E402
from ltx.sampling import defaults  # noqa: E402


def measure(run):
    gc.collect()
    torch.cuda.empty_cache()
    torch.cuda.reset_peak_memory_stats()
    torch.cuda.synchronize()
    start = time.perf_counter()
    out = run()
    torch.cuda.synchronize()
    return out, time.perf_counter() - start, torch.cuda.max_memory_allocated() / 2**30


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("checkpoint", type=Path)
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--frames", type=int, default=121)
    parser.add_argument("--height", type=int, default=512)
    parser.add_argument("--width", type=int, default=768)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp())
    video_g, audio_g, _ = defaults("2.0")
    req = Request(*PROMPTS, seed=10, height=args.height, width=args.width, frames=args.frames, steps=args.steps,
                  video_guidance=video_g, audio_guidance=audio_g, images=[ImageCondition("", 0, 1.0)],
                  progress=False)  # fmt: skip
    inputs = Inputs(
        checkpoint=args.checkpoint,
        upsampler=args.checkpoint,  # unused by the one-stage pipeline
        distilled_lora=args.checkpoint,
        ic_lora=args.checkpoint,
        prompts=fx.write_prompt_file(args.checkpoint, tmp / "prompts.safetensors", list(PROMPTS), 0, tokens=1024),
        image=fx.write_test_image(tmp / "image.png", height=args.height, width=args.width),
        video=tmp / "unused.mp4",
        audio=tmp / "unused.wav",
    )
    report = {"device": torch.cuda.get_device_name(), "torch": torch.__version__, "dtype": "bfloat16",
              "frames": args.frames, "height": args.height, "width": args.width, "steps": args.steps,
              "passes_per_step": 4, "sides": {}}  # fmt: skip
    outs = {}
    runs = {
        "ltx-pipelines flow": lambda: run_official("one-stage", inputs, torch.bfloat16, req, "cuda"),
        "ours": lambda: run_ours("one-stage", inputs, torch.bfloat16, req, "cuda"),
        "ours, batched passes": lambda: run_ours(
            "one-stage", inputs, torch.bfloat16, replace(req, batch_passes=True), "cuda"
        ),
    }
    for name, run in runs.items():
        out, seconds, peak = measure(run)
        outs[name] = {k: v.float().cpu() for k, v in out.items() if v is not None}
        report["sides"][name] = {"seconds": round(seconds, 2), "peak_gib": round(peak, 2)}
        print(name, report["sides"][name], flush=True)
    ref = outs["ltx-pipelines flow"]
    for name in ("ours", "ours, batched passes"):
        side = report["sides"][name]
        for k in ("video_latent", "audio_latent", "frames", "waveform"):
            a, b = outs[name][k], ref[k]
            side[f"rel_err_{k}"] = float((a - b).norm() / b.norm())
        side["time_ratio_vs_official"] = round(side["seconds"] / report["sides"]["ltx-pipelines flow"]["seconds"], 3)
    text = json.dumps(report, indent=2)
    print(text)
    if args.json:
        args.json.write_text(text + "\n")


if __name__ == "__main__":
    main()
