"""Full-size one-stage generation, ours beside the official flow (ltx-pipelines helpers + ltx-core models from
its ModelLedger), in one run: the same random 19B checkpoint (transformer, VAE, audio VAE, vocoder, text
side, bf16), the same prompt embeddings and image, the official defaults (guidance with CFG, STG at block
29, modality; 121 frames at 512x768, 24 fps) with fewer steps. The official flow eager and with its `--compile`
(per-block torch.compile; its `capture=true` is refused for this flow on one GPU: ltx-pipelines 1.2.0 captures only
with a builder that keeps the weights resident, the multi-GPU or streaming ones). Ours three ways: exact (the
reference ops: the official arithmetic, so its output should equal the official's bitwise), with the default kernels,
and compiled + captured (`ltx generate --compile`). Reported: wall time per side (loading included), peak GPU memory,
and how far our latents, frames and waveform are from the official's, and each exact side's second run's (is it
deterministic on this device?).

    python bench/pipeline_e2e.py CHECKPOINT|tiny --steps 8 [--json OUT]
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

import ltx_kernels
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from ltx.bench.e2e import sync  # noqa: E402
from ltx.checkpoint import Checkpoint  # noqa: E402
from ltx.parity import pipeline_fixtures as fx  # noqa: E402
from ltx.parity.oracle import require  # noqa: E402
from ltx.parity.pipelines import PROMPTS, Inputs, run_official, run_ours  # noqa: E402
from ltx.pipelines import ImageCondition, Request  # noqa: E402
from ltx.sampling import defaults  # noqa: E402

AGAIN = {"ltx-pipelines flow, again": "ltx-pipelines flow", "ours, exact, again": "ours, exact (reference kernels)"}


def _exact(run):
    with ltx_kernels.use(mode="reference"):  # the official ops, in the official order
        return run()


def measure(run):
    gc.collect()
    cuda = torch.cuda.is_available()
    if cuda:
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
    sync()
    start = time.perf_counter()
    out = run()
    sync()
    return out, time.perf_counter() - start, torch.cuda.max_memory_allocated() / 2**30 if cuda else 0.0


def setup(checkpoint: Path, frames: int, height: int, width: int, steps: int) -> tuple[Inputs, Request]:
    """The run's inputs (prompt embeddings, a test image in a temporary folder) and its request. The checkpoint
    "tiny": the built-in tiny LTX-2.0 file, written to that folder (the whole flow at full size in seconds)."""
    tmp = Path(tempfile.mkdtemp())
    if str(checkpoint) == "tiny":
        from ltx.parity.fixtures import write_tiny_checkpoint

        checkpoint = write_tiny_checkpoint("ltx-2.0-tiny", tmp / "ltx-2.0-tiny.safetensors")
    video_g, audio_g, _ = defaults("2.0")
    blocks = (Checkpoint(checkpoint).section("transformer") or {}).get("num_layers", 48)
    if max(video_g.stg_blocks) >= blocks:  # (a tiny file: STG at its last block)
        video_g, audio_g = (replace(g, stg_blocks=(blocks - 1,)) for g in (video_g, audio_g))
    req = Request(*PROMPTS, seed=10, height=height, width=width, frames=frames, steps=steps,
                  video_guidance=video_g, audio_guidance=audio_g, images=[ImageCondition("", 0, 1.0)],
                  progress=False)  # fmt: skip
    inputs = Inputs(
        checkpoint=checkpoint,
        upsampler=checkpoint,  # unused by the one-stage pipeline
        distilled_lora=checkpoint,
        ic_lora=checkpoint,
        prompts=fx.write_prompt_file(checkpoint, tmp / "prompts.safetensors", list(PROMPTS), 0, tokens=1024),
        image=fx.write_test_image(tmp / "image.png", height=height, width=width),
        video=tmp / "unused.mp4",
        audio=tmp / "unused.wav",
    )
    return inputs, req


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("checkpoint", type=Path)
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--frames", type=int, default=121)
    parser.add_argument("--height", type=int, default=512)
    parser.add_argument("--width", type=int, default=768)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--device", default="cuda", help="cuda, or cpu (not compiled; a tiny file checks the script)")
    parser.add_argument("--sides", help="'|'-separated subset of the sides to run (the official flow always runs)")
    args = parser.parse_args()
    inputs, req = setup(args.checkpoint, args.frames, args.height, args.width, args.steps)
    dev = args.device
    report = {"device": torch.cuda.get_device_name() if dev == "cuda" else dev, "torch": torch.__version__,
              "dtype": "bfloat16", "frames": args.frames, "height": args.height, "width": args.width,
              "steps": args.steps, "passes_per_step": 4, "sides": {}}  # fmt: skip
    outs = {}
    compiling = require("ltx_core.model.transformer.compiling")

    def official(compilation=None):
        return run_official("one-stage", inputs, torch.bfloat16, req, dev, compilation)

    runs = {
        "ltx-pipelines flow": official,
        "ltx-pipelines flow, again": official,
        "ltx-pipelines flow, compiled": lambda: official(compiling.CompilationConfig()),
        "ours, exact (reference kernels)": lambda: _exact(
            lambda: run_ours("one-stage", inputs, torch.bfloat16, req, dev)
        ),
        "ours, exact, again": lambda: _exact(lambda: run_ours("one-stage", inputs, torch.bfloat16, req, dev)),
        "ours": lambda: run_ours("one-stage", inputs, torch.bfloat16, req, dev),
        "ours, compiled + captured": lambda: run_ours("one-stage", inputs, torch.bfloat16, req, dev, True),
    }
    if dev != "cuda":  # (a CUDA graph needs CUDA)
        del runs["ours, compiled + captured"], runs["ltx-pipelines flow, compiled"]
    if args.sides:
        wanted = {"ltx-pipelines flow", *args.sides.split("|")}
        if unknown := wanted - set(runs):
            parser.error(f"--sides: unknown {sorted(unknown)}; the sides are {list(runs)}")
        runs = {name: run for name, run in runs.items() if name in wanted}
    for name, run in runs.items():
        out, seconds, peak = measure(run)
        outs[name] = {k: v.float().cpu() for k, v in out.items() if v is not None}
        report["sides"][name] = {"seconds": round(seconds, 2), "peak_gib": round(peak, 2)}
        print(name, report["sides"][name], flush=True)
    ref = outs["ltx-pipelines flow"]
    for name in [n for n in runs if n != "ltx-pipelines flow"]:
        side = report["sides"][name]
        for k in ("video_latent", "audio_latent", "frames", "waveform"):
            a, b = outs[name][k], ref[k]
            side[f"rel_err_{k}"] = float((a - b).norm() / b.norm())
        side["time_ratio_vs_official"] = round(side["seconds"] / report["sides"]["ltx-pipelines flow"]["seconds"], 3)
        first = AGAIN.get(name)
        if first in outs:  # a second run: bitwise its first?
            side["bitwise_first_run"] = all(torch.equal(outs[name][k], outs[first][k]) for k in outs[first])
    text = json.dumps(report, indent=2)
    print(text)
    if args.json:
        args.json.write_text(text + "\n")


if __name__ == "__main__":
    main()
