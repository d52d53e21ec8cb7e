"""Full-size LTX-2 video decoder: ours beside ltx-core's, untiled and tiled, in one run.

Both decoders get the same random bf16 weights (the LTX-2 layout) and decode the
same latent; we report median wall time, peak GPU memory above the weights, and how far our output
is from ltx-core's. "chunked" is our decoder with chunk_convolutions (--chunk-mib). Tiled decoding
uses the default tiles of both (ltx-core 1.2.0's: 768 px / 64 px overlap, 80 frames / 24 overlap) and moves each
yielded chunk to the CPU, as a video writer would.

    python bench/vae_decode.py [--frames 121 --height 1024 --width 1536] [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import torch

from ltx.parity.oracle import official_module

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from ltx.config import LTX2_VAE  # noqa: E402
from ltx.parity.fixtures import random_value  # noqa: E402
from ltx.vae import Tiling, VideoDecoder, chunk_convolutions, tiled_decode  # noqa: E402


def official_decoder(device, dtype):
    from ltx_core.model.video_vae import VideoDecoderConfigurator

    with torch.device("meta"):
        model = official_module(VideoDecoderConfigurator, {"vae": LTX2_VAE.to_metadata()})
    model = model.to_empty(device=device)
    gen = torch.Generator(device).manual_seed(0)
    with torch.no_grad():
        for name, t in [*model.named_parameters(), *model.named_buffers()]:
            t.copy_(random_value(name, t.shape, gen, device=device))
    return model.to(dtype).eval()


def ours_from(official, device, dtype):
    with torch.device("meta"):
        model = VideoDecoder(LTX2_VAE)
    model.load_state_dict(official.state_dict(), strict=True, assign=True)
    return model.to(device, dtype).eval()


def measure(run, repeats: int, cuda: bool):
    sync = torch.cuda.synchronize if cuda else (lambda: None)
    run()  # warm-up (cuDNN plans, allocator)
    sync()
    if cuda:
        base = torch.cuda.memory_allocated()
        torch.cuda.reset_peak_memory_stats()
    times, out = [], None
    for _ in range(repeats):
        out = None
        start = time.perf_counter()
        out = run()
        sync()
        times.append(time.perf_counter() - start)
    peak = (torch.cuda.max_memory_allocated() - base) / 2**30 if cuda else float("nan")
    return statistics.median(times), peak, out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=121)
    parser.add_argument("--height", type=int, default=1024)
    parser.add_argument("--width", type=int, default=1536)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--device", default="cuda", help="cpu only to check the script on a small size")
    parser.add_argument("--chunk-mib", type=float, default=256, help="chunk size of our chunked variant (MiB)")
    args = parser.parse_args()
    device, dtype = torch.device(args.device), torch.bfloat16
    cuda = device.type == "cuda"

    official = official_decoder(device, dtype)
    ours = ours_from(official, device, dtype)
    shape = (1, 128, (args.frames - 1) // 8 + 1, args.height // 32, args.width // 32)
    latent = torch.randn(shape, generator=torch.Generator(device).manual_seed(1), device=device, dtype=dtype)

    from ltx.parity.vae_oracle import official_tiling

    tiling = official_tiling(Tiling(), latent, official.video_downscale_factors)  # the same tiles as ours

    def ltx_core_tiled():
        return torch.cat([c.cpu() for c in official.tiled_decode(latent, tiling)], dim=2)

    def ours_tiled():
        return torch.cat([c.cpu() for c in tiled_decode(ours, latent, Tiling())], dim=2)

    chunked = chunk_convolutions(ours_from(official, device, dtype), args.chunk_mib)
    runs = {
        "ltx-core untiled": lambda: official(latent),
        "ours untiled": lambda: ours(latent),
        "ours untiled chunked": lambda: chunked(latent),
        "ltx-core tiled": ltx_core_tiled,
        "ours tiled": ours_tiled,
    }
    results, outputs = {}, {}
    with torch.no_grad():
        for name, run in runs.items():
            seconds, peak, out = measure(run, args.repeats, cuda)
            outputs[name] = out.float().cpu()
            del out
            if cuda:
                torch.cuda.empty_cache()
            results[name] = {"seconds": round(seconds, 4), "peak_gib_above_weights": round(peak, 3)}
    pairs = {
        "ours untiled": "ltx-core untiled",
        "ours untiled chunked": "ltx-core untiled",
        "ours tiled": "ltx-core tiled",
    }
    for ours_name, peer in pairs.items():
        a, b, r, p = outputs[ours_name], outputs[peer], results[ours_name], results[peer]
        r["rel_err_vs_ltx_core"] = float((a - b).norm() / b.norm())
        r["time_ratio_vs_ltx_core"] = round(r["seconds"] / p["seconds"], 3)
        r["peak_ratio_vs_ltx_core"] = round(r["peak_gib_above_weights"] / p["peak_gib_above_weights"], 3)
    report = {
        "benchmark": "LTX-2 video decoder (random bf16 weights)",
        "latent": list(shape),
        "video": [args.frames, args.height, args.width],
        "device": torch.cuda.get_device_name() if cuda else "cpu",
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "cudnn": torch.backends.cudnn.version(),
        "date": time.strftime("%Y-%m-%d"),
        "chunk_mib": args.chunk_mib,
        "results": results,
    }
    print(f"{'':<22} {'seconds':>8} {'peak GiB':>9}  vs ltx-core")
    for name, r in results.items():
        extra = ""
        if "time_ratio_vs_ltx_core" in r:
            extra = f"time x{r['time_ratio_vs_ltx_core']}, peak x{r['peak_ratio_vs_ltx_core']}, "
            extra += f"rel err {r['rel_err_vs_ltx_core']:.1e}"
        print(f"{name:<22} {r['seconds']:>8.3f} {r['peak_gib_above_weights']:>9.2f}  {extra}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
