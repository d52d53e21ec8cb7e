"""Full-size LTX-2.5 diffusion video decoder on the GPU: ours beside ltx-core 1.2.0's, in one run.

A random full-size diffusion-VAE file (official layout, bf16, gated blocks) is written once and loaded by
both loaders. Each variant decodes the same latent with the same seed in bf16; we report the wall time of
one untiled decode (after a small warm-up decode that compiles the Triton kernels) and the peak GPU memory
above the weights:
- official-eager:  ltx-core's chunked mode with its eager (masked SDPA) neighbourhood attention;
- official-triton: ltx-core's chunked mode with its Triton neighbourhood attention (its default without natten);
- ours-reference:  our decoder, neighbourhood attention by the PyTorch reference (LTX_KERNELS=reference);
- ours-triton:     our decoder with our Triton kernel;
- official-triton-tiled / ours-triton-tiled: the same two, decoding in tiles (stages 4-5 per tile) with the
  tiling ltx-core's pipelines choose for a `--tiled-budget-gib` card (the same DiffusionTiling for both);
- ours-triton-auto: ours with the tiling `--tiling` chooses for that budget (our own stage-5 factor).
Then a bf16 parity check on a smaller latent: ours (Triton) and the official bf16 run, each against the
official float32 run (its Triton attention); ours passes within 2x the official's own error + 1e-3.

    python bench/diffusion_decode.py OUT.json [--latent 16 48 32] [--variants ...] [--parity-latent 3 8 8]
        [--tiled-budget-gib 24]
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import ltx_kernels  # noqa: E402

from ltx.config.diffusion_vae import LTX2_5_DIFFUSION_DECODER  # noqa: E402
from ltx.parity.diffusion_vae import official_decoder, official_tiling  # noqa: E402
from ltx.parity.diffusion_vae_fixtures import write_tiny_diffusion_vae  # noqa: E402
from ltx.parity.vae import noise_drawn_in  # noqa: E402
from ltx.vae.diffusion_loading import load_diffusion_decoder  # noqa: E402
from ltx.vae.diffusion_tiling import STAGE5_FACTOR, DiffusionTiling, recommend  # noqa: E402
from ltx.vae.diffusion_tiling import decode as tiled_decode  # noqa: E402

VARIANTS = ("official-eager", "official-triton", "ours-reference", "ours-triton", "official-triton-tiled",
            "ours-triton-tiled", "ours-triton-auto")  # fmt: skip


def official(path, dtype, attention: str):
    """ltx-core's chunked mode with the named neighbourhood-attention fallback."""
    from ltx_core.model.video_vae.transformer import apply_diffvae_config
    from ltx_core.model.video_vae.transformer.config import DiffVAEBlockKind, DiffVAEConfig, NAttentionKind

    decoder = official_decoder(path, torch.device("cuda"), dtype)  # CHUNKED_EAGER, then the backend pinned
    kind = NAttentionKind.TRITON if attention == "triton" else NAttentionKind.EAGER_SDPA
    cfg = DiffVAEConfig(block=DiffVAEBlockKind.CHUNKED, w_chunks=4, natten_backend=None, attention=kind,
                        compile_blocks=False, compile_det_stages=False)  # fmt: skip
    return apply_diffvae_config(decoder, cfg)


def build(variant: str, path, dtype):
    if variant.startswith("official"):
        return official(path, dtype, variant.split("-")[1])
    return load_diffusion_decoder(path, device="cuda", dtype=dtype)


def decode(model, latent, seed: int = 0, tiling: DiffusionTiling | None = None) -> torch.Tensor:
    generator = torch.Generator("cuda").manual_seed(seed)
    with torch.no_grad():
        if tiling is None:
            return model(latent, generator=generator)
        if hasattr(model, "tiled_decode"):  # ltx-core's
            return torch.cat(list(model.tiled_decode(latent, official_tiling(tiling), generator)), dim=2)
        return tiled_decode(model, latent, tiling, generator)


def time_variant(variant: str, path, latent, warm, tiling: DiffusionTiling) -> dict:
    with ltx_kernels.use(mode="reference" if variant == "ours-reference" else "auto"):
        return _time_variant(variant, path, latent, warm, tiling)


def _time_variant(variant: str, path, latent, warm, tiling: DiffusionTiling) -> dict:
    model = build(variant, path, torch.bfloat16)
    tiling = tiling if variant.endswith(("-tiled", "-auto")) else None
    decode(model, warm)  # compiles the Triton kernels, warms the allocator
    torch.cuda.synchronize()
    base = torch.cuda.memory_allocated()
    torch.cuda.reset_peak_memory_stats()
    start = time.perf_counter()
    out = decode(model, latent, tiling=tiling)
    torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    peak = (torch.cuda.max_memory_allocated() - base) / 2**30
    result = {"seconds": round(seconds, 3), "peak_gib_above_weights": round(peak, 2),
              "weights_gib": round(base / 2**30, 2), "out": out.float().cpu()}  # fmt: skip
    del model
    torch.cuda.empty_cache()
    return result


def rel(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a.double() - b.double()).norm() / b.double().norm())


def parity(path, shape) -> dict:
    """Ours in bf16 and the official bf16 run against the official float32 run (noise drawn in bf16)."""
    g = torch.Generator().manual_seed(1)
    latent = torch.randn(1, LTX2_5_DIFFUSION_DECODER.in_channels, *shape, generator=g).to("cuda", torch.bfloat16)
    ours = decode(load_diffusion_decoder(path, device="cuda", dtype=torch.bfloat16), latent).float().cpu()
    theirs = decode(official(path, torch.bfloat16, "triton"), latent).float().cpu()
    with noise_drawn_in(torch.bfloat16):
        ref = decode(official(path, torch.float32, "triton"), latent.float()).float().cpu()
    ours_rel, official_rel = rel(ours, ref), rel(theirs, ref)
    return {"latent": list(shape), "ours_rel": ours_rel, "official_rel": official_rel,
            "passed": ours_rel <= 2 * official_rel + 1e-3, "ours_vs_official_bf16_rel": rel(ours, theirs)}  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("json", help="write the results here")
    parser.add_argument("--latent", type=int, nargs=3, default=(16, 48, 32), metavar=("T", "H", "W"))
    parser.add_argument("--parity-latent", type=int, nargs=3, default=(3, 8, 8), metavar=("T", "H", "W"))
    parser.add_argument("--variants", nargs="*", default=list(VARIANTS), choices=VARIANTS)
    parser.add_argument("--tiled-budget-gib", type=float, default=24.0, help="the card the tiled variants tile for")
    args = parser.parse_args()
    if not torch.cuda.is_available():
        print("bench/diffusion_decode.py needs a CUDA device", file=sys.stderr)
        return 2
    logging.getLogger("ltx_core").setLevel(logging.ERROR)
    cfg = LTX2_5_DIFFUSION_DECODER
    results: dict = {"gpu": torch.cuda.get_device_name(), "torch": torch.__version__, "latent": list(args.latent)}
    t, h, w = args.latent
    results["pixels"] = [8 * (t - 1) + 1, 32 * h, 32 * w]
    tiling = recommend(cfg, 32 * h, 32 * w, 8 * (t - 1) + 1, int(args.tiled_budget_gib * 2**30))
    auto = recommend(cfg, 32 * h, 32 * w, 8 * (t - 1) + 1, int(args.tiled_budget_gib * 2**30), 0, STAGE5_FACTOR)
    results["tiling"] = {"budget_gib": args.tiled_budget_gib, **tiling.__dict__}
    results["auto_tiling"] = {"stage5_factor": STAGE5_FACTOR, **auto.__dict__}
    print("tiling", results["tiling"], "auto", results["auto_tiling"], flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        path = write_tiny_diffusion_vae(Path(tmp) / "diffusion-vae.safetensors", cfg, encoder=None, seed=0)
        results["file_seconds"] = round(time.perf_counter() - start, 1)
        g = torch.Generator().manual_seed(0)
        latent = torch.randn(1, cfg.in_channels, t, h, w, generator=g).to("cuda", torch.bfloat16)
        warm = torch.randn(1, cfg.in_channels, 3, 8, 8, generator=g).to("cuda", torch.bfloat16)
        outs, results["variants"] = {}, {}
        for variant in args.variants:
            r = time_variant(variant, path, latent, warm, auto if variant.endswith("-auto") else tiling)
            outs[variant] = r.pop("out")
            results["variants"][variant] = r
            print(variant, r, flush=True)
        if "official-triton" in outs:  # same inputs, same noise: how far each bf16 run is from the official's
            base = outs["official-triton"]
            results["rel_to_official_triton"] = {k: rel(v, base) for k, v in outs.items() if not k.endswith("-tiled")}
        if "official-triton-tiled" in outs:  # the tiled decodes, ours against the official's
            base = outs["official-triton-tiled"]
            results["rel_to_official_triton_tiled"] = {k: rel(v, base) for k, v in outs.items() if k.endswith("-tiled")}
        results["parity_bf16"] = parity(path, args.parity_latent)
        print("parity", results["parity_bf16"], flush=True)
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(results, indent=1))
    print(f"wrote {args.json}")
    return 0 if results["parity_bf16"]["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
