"""Kernel benchmarks at LTX-2 shapes: each kernel beside its peers in the same run (`ltx bench SUITE`).

attention  ours (Triton; Triton with TMA tiles; with warp specialisation) vs SDPA's flash, cuDNN and
           memory-efficient backends: B=1, H=32, d=128 self-attention at 6144 and 24576 tokens, text
           cross-attention (1024 keys), the audio shapes (d=64: 126 tokens, and the audio<->video
           cross-attentions); TFLOP/s = 4 B H Tq Tk d / t.
attention-sweep  unmasked d=128 self-attention from 1024 to 24576 tokens (the plot's x axis), the same peers.
norm       modulated RMSNorm, the gated residual and QK RMSNorm + split RoPE, ours vs eager PyTorch vs
           torch.compile of the reference, at [6144, 4096] and [24576, 4096] (per-token scale/shift); TB/s over
           the bytes each must move (4 row-sized tensors each).
gemm       FP8 linear (activation quantisation + FP8 matmul + bias) vs torch._scaled_mm on pre-quantised
           activations and bf16 matmul, M in {6144, 24576}, (K, N) in {(4096, 4096), (4096, 16384), (16384, 4096)}.
ceilings   a device copy (TB/s, bytes read + written) and 8192^3 bf16 / fp8 matrix products (TFLOP/s).
Times are medians of triton.testing.do_bench (CUDA events), inputs rotated so no case runs from cache.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def _bench(fn, rep_ms: int = 200) -> float:
    import triton.testing

    return triton.testing.do_bench(fn, warmup=50, rep=rep_ms, return_mode="median") / 1e3  # seconds


def _rel(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a.double() - b.double()).norm() / b.double().norm())


def ceilings() -> list[dict]:
    x = torch.randn(256 * 2**20, device="cuda", dtype=torch.bfloat16)
    y = torch.empty_like(x)
    t = _bench(lambda: y.copy_(x))
    rows = [{"case": "copy 512 MiB", "peer": "torch copy_", "seconds": t, "TB/s": 2 * x.numel() * 2 / t / 1e12}]
    a = torch.randn(8192, 8192, device="cuda", dtype=torch.bfloat16)
    b = torch.randn(8192, 8192, device="cuda", dtype=torch.bfloat16)
    t = _bench(lambda: a @ b)
    rows.append({"case": "matmul 8192^3", "peer": "bf16", "seconds": t, "TFLOP/s": 2 * 8192**3 / t / 1e12})
    a8, b8 = a.to(torch.float8_e4m3fn), b.to(torch.float8_e4m3fn).t().contiguous().t()
    one = torch.ones((), device="cuda")
    t = _bench(lambda: torch._scaled_mm(a8, b8, scale_a=one, scale_b=one, out_dtype=torch.bfloat16))
    rows.append({"case": "matmul 8192^3", "peer": "fp8 _scaled_mm", "seconds": t, "TFLOP/s": 2 * 8192**3 / t / 1e12})
    return rows


ATTENTION_CASES = [  # name, B, H, Tq, Tk, d, mask
    ("video self 6144", 1, 32, 6144, 6144, 128, None),
    ("video self 24576", 1, 32, 24576, 24576, 128, None),
    ("video text 24576x1024", 1, 32, 24576, 1024, 128, None),
    ("video text 6144x1024 masked", 1, 32, 6144, 1024, 128, "text"),
    ("video self 6144 strength mask", 1, 32, 6144, 6144, 128, "self"),
    ("audio self 126", 1, 32, 126, 126, 64, None),
    ("a2v 6144x126", 1, 32, 6144, 126, 64, None),
    ("v2a 126x6144", 1, 32, 126, 6144, 64, None),
]


def _tma(q, k, v, mask, heads, warp_specialize: bool = False):
    from ltx_kernels.triton_attention_tma import attention_triton_tma, supported

    if mask is not None or not supported(q, k, v, heads):
        raise ValueError("the TMA kernel takes no bias")
    return attention_triton_tma(q, k, v, heads, warp_specialize)


def _fp8(q, k, v, mask, heads, two_level=True):
    from ltx_kernels.triton_attention_fp8 import attention_fp8, supported

    if mask is not None or not supported(q, k, v, heads):
        raise ValueError("the 8-bit kernel takes no bias and key lengths in multiples of 16")
    return attention_fp8(q, k, v, heads, two_level)


def attention() -> list[dict]:
    import ltx_kernels
    from ltx_kernels.attention import attention_ref
    from ltx_kernels.triton_attention import attention_triton

    rows = []
    for name, b, h, tq, tk, d, mask_kind in ATTENTION_CASES:
        sets = []
        for _ in range(2):
            q, k, v = (torch.randn(b, t, h * d, device="cuda", dtype=torch.bfloat16) for t in (tq, tk, tk))
            mask = None
            if mask_kind == "text":
                keep = torch.rand(b, tk, device="cuda") > 0.2
                mask = ((keep.to(torch.bfloat16) - 1) * torch.finfo(torch.bfloat16).max).view(b, 1, 1, tk)
            elif mask_kind == "self":
                mask = torch.log(torch.rand(b, 1, tq, tk, device="cuda").clamp(min=0.05)).to(torch.bfloat16)
            sets.append((q, k, v, mask))
        flops = 4 * b * h * tq * tk * d
        q, k, v, mask = sets[0]
        ref = attention_ref(*(t.float() for t in (q, k, v)), h, None if mask is None else mask.float())
        peers = {
            "ours (triton)": lambda s: attention_triton(*s[:3], h, s[3]),
            "ours (triton, TMA, no bias)": lambda s: _tma(*s, h),
            "ours (triton, TMA, warp-specialized)": lambda s: _tma(*s, h, True),
            "ours (int8 QK + fp8 PV, opt-in)": lambda s: _fp8(*s, h),
            "ours (int8 QK + fp8 PV, one-level accumulation)": lambda s: _fp8(*s, h, False),
            "sdpa cudnn": lambda s: ltx_kernels._sdpa(*s[:3], h, s[3], "cudnn"),
            "sdpa flash": lambda s: ltx_kernels._sdpa(*s[:3], h, s[3], "flash"),
            "sdpa efficient": lambda s: ltx_kernels._sdpa(*s[:3], h, s[3], "efficient"),
        }
        for peer, fn in peers.items():
            try:
                err = _rel(fn(sets[0]), ref)
                i = [0]

                def step(fn=fn):
                    i[0] ^= 1
                    return fn(sets[i[0]])

                t = _bench(step)
            except Exception as e:  # noqa: BLE001 - a backend that cannot run this case
                rows.append({"case": name, "peer": peer, "error": str(e).split("\n")[0][:80]})
                continue
            rows.append({"case": name, "peer": peer, "seconds": t, "TFLOP/s": flops / t / 1e12, "rel_err": err})
    return rows


SWEEP_TOKENS = (1024, 2048, 4096, 6144, 12288, 24576)


def attention_sweep() -> list[dict]:
    global ATTENTION_CASES
    saved = ATTENTION_CASES
    ATTENTION_CASES = [(f"self {n}", 1, 32, n, n, 128, None) for n in SWEEP_TOKENS]
    try:
        rows = attention()
    finally:
        ATTENTION_CASES = saved
    for row in rows:
        row["tokens"] = int(row["case"].split()[-1])
    return rows


NORM_SHAPES = [(6144, 4096), (24576, 4096)]


def norm() -> list[dict]:
    from ltx_kernels.norm import gated_residual_ref, rms_norm_modulate_ref
    from ltx_kernels.rope import qk_norm_rope_ref
    from ltx_kernels.triton_norm import gated_residual_triton, rms_norm_modulate_triton
    from ltx_kernels.triton_rope import qk_norm_rope_triton

    compiled_norm = torch.compile(rms_norm_modulate_ref)
    compiled_gate = torch.compile(gated_residual_ref)
    compiled_rope = torch.compile(qk_norm_rope_ref)
    rows = []
    for n, d in NORM_SHAPES:
        sets = [[torch.randn(1, n, d, device="cuda", dtype=torch.bfloat16) for _ in range(3)] for _ in range(2)]
        x, sc, sh = sets[0]
        ref = rms_norm_modulate_ref(x.float(), sc.float(), sh.float(), 1e-6)
        cases = [
            ("rms_norm_modulate", 4 * n * d * 2, {
                "ours (triton)": lambda s: rms_norm_modulate_triton(s[0], s[1], s[2], 1e-6),
                "eager": lambda s: rms_norm_modulate_ref(s[0], s[1], s[2], 1e-6),
                "torch.compile": lambda s: compiled_norm(s[0], s[1], s[2], 1e-6),
            }, ref),
            ("gated_residual", 4 * n * d * 2, {
                "ours (triton)": lambda s: gated_residual_triton(*s),
                "eager": lambda s: gated_residual_ref(*s),
                "torch.compile": lambda s: compiled_gate(*s),
            }, gated_residual_ref(x.float(), sc.float(), sh.float())),
        ]  # fmt: skip
        ang = torch.rand(1, 32, n, d // 64, device="cuda") * 6  # split RoPE table, 32 heads of d/32
        cos, sin, w = ang.cos().bfloat16(), ang.sin().bfloat16(), torch.ones(d, device="cuda", dtype=torch.bfloat16)
        cases.append(("qk_norm_rope (split)", 4 * n * d * 2, {
            "ours (triton)": lambda s: qk_norm_rope_triton(s[0], w, 1e-6, cos, sin, True),
            "eager": lambda s: qk_norm_rope_ref(s[0], w, 1e-6, cos, sin, True),
            "torch.compile": lambda s: compiled_rope(s[0], w, 1e-6, cos, sin, True),
        }, qk_norm_rope_ref(x.float(), w.float(), 1e-6, cos.float(), sin.float(), True)))  # fmt: skip
        for op, nbytes, peers, reference in cases:
            for peer, fn in peers.items():
                err = _rel(fn(sets[0]), reference)
                i = [0]

                def step(fn=fn):
                    i[0] ^= 1
                    return fn(sets[i[0]])

                t = _bench(step)
                rows.append({"case": f"{op} [{n}, {d}]", "peer": peer, "seconds": t, "TB/s": nbytes / t / 1e12,
                             "rel_err": err})  # fmt: skip
    return rows


GEMM_SHAPES = [(m, k, n) for m in (6144, 24576) for k, n in ((4096, 4096), (4096, 16384), (16384, 4096))]


def gemm() -> list[dict]:
    from ltx_kernels.fp8 import fp8_linear_ref
    from ltx_kernels.triton_fp8 import fp8_linear_triton, quantize_static

    rows = []
    for m, k, n in GEMM_SHAPES:
        x = torch.randn(m, k, device="cuda", dtype=torch.bfloat16)
        w = torch.randn(n, k, device="cuda", dtype=torch.bfloat16) / k**0.5
        bias = torch.randn(n, device="cuda", dtype=torch.bfloat16)
        w_scale = (w.float().abs().amax() / 448).reshape(())
        w8 = (w.float() / w_scale).to(torch.float8_e4m3fn)
        in_scale = (x.float().abs().amax() / 448).reshape(())
        x8 = quantize_static(x, in_scale)
        ref = fp8_linear_ref(x.float(), w8, w_scale, None, bias.float())  # exact activations, fp8 weights
        flops = 2 * m * n * k
        peers = {
            "ours fp8 (static scale: quant + gemm + bias)": lambda: fp8_linear_triton(x, w8, w_scale, in_scale, bias),
            "ours fp8 (per-token: quant + gemm + bias)": lambda: fp8_linear_triton(x, w8, w_scale, None, bias),
            "torch._scaled_mm (pre-quantised x)": lambda: torch._scaled_mm(
                x8, w8.t(), scale_a=in_scale, scale_b=w_scale, bias=bias, out_dtype=torch.bfloat16
            ),
            "bf16 F.linear": lambda: F.linear(x, w, bias),
        }
        for peer, fn in peers.items():
            err = _rel(fn(), ref) if "bf16" not in peer else _rel(fn(), F.linear(x.float(), w.float(), bias.float()))
            t = _bench(fn)
            rows.append({"case": f"linear M={m} K={k} N={n}", "peer": peer, "seconds": t, "TFLOP/s": flops / t / 1e12,
                         "rel_err": err})  # fmt: skip
    return rows
