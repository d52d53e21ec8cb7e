"""The 8-bit attention's P V accumulation, two-level (a fresh float32 accumulator per key block, as committed) against
the running sum kept in the FP8 tensor cores' accumulator (device tool): time per call at the video self-attention
shapes (the quantisation passes included) and the output error against float32 at 6144 tokens, beside cuDNN SDPA.
Usage: python scripts/fp8_attention_accumulation.py"""

import ltx_kernels
import torch
from ltx_kernels.attention import attention_ref
from ltx_kernels.triton_attention_fp8 import attention_fp8, quantize

from ltx.bench.kernels import _bench, _rel

H, D = 32, 128


def variants(q, k, v):
    return {"two-level": lambda: attention_fp8(q, k, v, H, True), "one-level": lambda: attention_fp8(q, k, v, H, False),
            "quantisation alone": lambda: quantize(q, k, v, H),
            "cudnn": lambda: ltx_kernels._sdpa(q, k, v, H, None, "cudnn")}  # fmt: skip


for n in (6144, 24576):
    g = torch.Generator("cuda").manual_seed(n)
    q, k, v = (torch.randn(1, n, H * D, generator=g, device="cuda", dtype=torch.bfloat16) for _ in range(3))
    flops = 4 * H * n * n * D
    ref = attention_ref(q.float(), k.float(), v.float(), H) if n <= 6144 else None
    for name, fn in variants(q, k, v).items():
        t = _bench(fn)
        err = _rel(fn(), ref) if ref is not None and name != "quantisation alone" else float("nan")
        print(f"{n:6d} {name:20s} {t * 1e3:8.3f} ms {flops / t / 1e12:7.1f} TFLOP/s  rel err {err:.2e}", flush=True)
