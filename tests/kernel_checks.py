"""Kernel checks against the PyTorch references, run by tests/test_kernels.py: on the CPU in a subprocess
with TRITON_INTERPRET=1 (fp32 and fp16: the interpreter's tl.dot on bf16 operands is wrong in Triton 3.9),
and on the GPU directly. `python tests/kernel_checks.py` prints one JSON line per check."""

from __future__ import annotations

import json
import sys

import torch


def rel(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a.double() - b.double()).norm() / b.double().norm())


def row(check: str, got: float, torch_rel: float, wrong: float, finite: bool = True) -> dict:
    return {"check": check, "rel": got, "torch_rel": torch_rel, "wrong_rel": wrong, "finite": finite}


def masks(kind: str | None, b: int, tq: int, tk: int, dtype, device):
    g = torch.Generator(device).manual_seed(7)
    if kind == "text":
        keep = torch.rand(b, tk, generator=g, device=device) > 0.3
        keep[:, 0] = True
        return ((keep.to(dtype) - 1) * torch.finfo(dtype).max).view(b, 1, 1, tk)
    if kind == "self":
        return torch.log(torch.rand(b, 1, tq, tk, generator=g, device=device).clamp(min=0.05)).to(dtype)
    return None


def attention_checks(device: str, dtype, cases, config=None) -> list[dict]:
    from ltx_kernels.attention import attention_ref
    from ltx_kernels.triton_attention import attention_triton

    out = []
    for b, tq, tk, h, d, kind in cases:
        g = torch.Generator(device).manual_seed(tq * 31 + tk)
        q, k, v = (torch.randn(b, t, h * d, generator=g, device=device).to(dtype) for t in (tq, tk, tk))
        mask = masks(kind, b, tq, tk, dtype, device)
        got = torch.full_like(q, float("nan"))  # every element must be written
        got.copy_(attention_triton(q, k, v, h, mask, config=config))
        ref = attention_ref(q.double(), k.double(), v.double(), h, None if mask is None else mask.double())
        low = attention_ref(q, k, v, h, mask)  # PyTorch in the same precision: the flash-attention rule's yardstick
        wrong = attention_triton(q, torch.roll(k, 1, dims=1), v, h, mask, config=config)  # a wrong input must show
        name = f"attention {dtype} B{b} {tq}x{tk} H{h} d{d} {kind}"
        out.append(row(name, rel(got, ref), rel(low, ref), rel(wrong, ref), bool(torch.isfinite(got).all())))
    return out


def _unbiased_attention_checks(label, launch, supported, device, dtype, cases, key_offset=0.0) -> list[dict]:
    """An unmasked attention kernel `launch(q, k, v, heads)` on (B, Tq, Tk, H, d) cases against float64, beside
    PyTorch in the same precision; `key_offset` is added to every key (a shift the softmax ignores)."""
    from ltx_kernels.attention import attention_ref

    out = []
    for b, tq, tk, h, d in cases:
        g = torch.Generator(device).manual_seed(tq * 31 + tk)
        q, k, v = (torch.randn(b, t, h * d, generator=g, device=device).to(dtype) for t in (tq, tk, tk))
        k = k + key_offset
        assert supported(q, k, v, h)
        got = launch(q, k, v, h)
        ref = attention_ref(q.double(), k.double(), v.double(), h)
        low = attention_ref(q, k, v, h)
        wrong = launch(q, torch.roll(k, 1, dims=1), v, h)
        name = f"{label} {dtype} B{b} {tq}x{tk} H{h} d{d}"
        out.append(row(name, rel(got, ref), rel(low, ref), rel(wrong, ref), bool(torch.isfinite(got).all())))
    return out


def tma_attention_checks(dtype, cases) -> list[dict]:
    """The Hopper TMA attention kernel (CUDA, no bias)."""
    from ltx_kernels.triton_attention_tma import attention_triton_tma, supported

    return _unbiased_attention_checks("attention_tma", attention_triton_tma, supported, "cuda", dtype, cases)


def fp8_attention_checks(device: str, cases, two_level: bool = True) -> list[dict]:
    """The opt-in 8-bit attention (int8 Q K^T, e4m3 P V), bf16 in and out, the keys offset by 2 (which the
    smoothing takes out); `torch_rel` is SDPA's own bf16 error, for scale (the 8-bit kernel is not held to it).
    `two_level=False`: the one-level accumulation."""
    from ltx_kernels.triton_attention_fp8 import attention_fp8, supported

    launch = lambda q, k, v, h: attention_fp8(q, k, v, h, two_level)  # noqa: E731
    label = "attention_fp8" if two_level else "attention_fp8 one-level"
    return _unbiased_attention_checks(label, launch, supported, device, torch.bfloat16, cases, key_offset=2.0)


def norm_checks(device: str, dtype, shapes) -> list[dict]:
    from ltx_kernels.norm import gated_residual_ref, rms_norm_modulate_ref
    from ltx_kernels.triton_norm import gated_residual_triton, rms_norm_modulate_triton

    out = []
    for (b, t, d), mod in shapes:
        g = torch.Generator(device).manual_seed(d)
        x = torch.randn(b, t, d, generator=g, device=device).to(dtype)
        scale, shift = (torch.randn(*mod, generator=g, device=device).to(dtype) for _ in range(2))
        got = rms_norm_modulate_triton(x, scale, shift, 1e-6)
        ref = rms_norm_modulate_ref(x.double(), scale.double(), shift.double(), 1e-6)
        low = rms_norm_modulate_ref(x, scale, shift, 1e-6)
        wrong = rms_norm_modulate_triton(x, shift, scale, 1e-6)
        name = f"rms_norm_modulate {dtype} {(b, t, d)} mod {mod}"
        out.append(row(name, rel(got, ref), rel(low, ref), rel(wrong, ref), bool(torch.isfinite(got).all())))
        got = gated_residual_triton(x, x * 2, scale)
        ref = gated_residual_ref(x.double(), 2 * x.double(), scale.double())
        low, wrong = gated_residual_ref(x, x * 2, scale), gated_residual_triton(x, x, scale)
        name = f"gated_residual {dtype} {(b, t, d)} gate {mod}"
        out.append(row(name, rel(got, ref), rel(low, ref), rel(wrong, ref), bool(torch.isfinite(got).all())))
    return out


def rope_checks(device: str, dtype, cases) -> list[dict]:
    """QK norm + RoPE: (B, T, H, D, layout) with layout "split", "interleaved" or None (the norm alone)."""
    from ltx_kernels.rope import qk_norm_rope_ref
    from ltx_kernels.triton_rope import qk_norm_rope_triton, supported

    out = []
    for b, t, h, d, layout in cases:
        g = torch.Generator(device).manual_seed(t * 7 + d)
        x = torch.randn(b, t, h * d, generator=g, device=device).to(dtype)
        w = (1 + 0.2 * torch.randn(h * d, generator=g, device=device)).to(dtype)
        table = ()
        if layout == "split":
            ang = torch.rand(1, h, t, d // 2, generator=g, device=device) * 6
            table = (ang.cos().to(dtype), ang.sin().to(dtype), True)
        elif layout == "interleaved":
            ang = (torch.rand(b, t, h * d // 2, generator=g, device=device) * 6).repeat_interleave(2, -1)
            table = (ang.cos().to(dtype), ang.sin().to(dtype), False)
        assert supported(x, table[0] if table else None, layout == "split")
        got = qk_norm_rope_triton(x, w, 1e-6, *table)
        ref = qk_norm_rope_ref(x.double(), w.double(), 1e-6, *(t.double() if torch.is_tensor(t) else t for t in table))
        low = qk_norm_rope_ref(x, w, 1e-6, *table)
        wrong = qk_norm_rope_triton(x, w.flip(0), 1e-6, *table)
        name = f"qk_norm_rope {dtype} B{b} T{t} H{h} d{d} {layout}"
        out.append(row(name, rel(got, ref), rel(low, ref), rel(wrong, ref), bool(torch.isfinite(got).all())))
    return out


def quant_checks(device: str, exact_values: bool) -> list[dict]:
    """Static and per-row e4m3 quantisation. exact_values: inputs that are e4m3 numbers times the scale, so the
    result is exact whatever the rounding (the interpreter's float8 conversion mis-rounds at binade edges)."""
    from ltx_kernels.triton_fp8 import quantize_rows, quantize_static

    g = torch.Generator(device).manual_seed(3)
    x = torch.randn(37, 96, generator=g, device=device) * 3
    if exact_values:
        x = (x / 0.05).clamp(-448, 448).to(torch.float8_e4m3fn).float() * 0.05
    ref = (x / 0.05).clamp(-448, 448).to(torch.float8_e4m3fn)
    q = quantize_static(x, torch.tensor(0.05, device=device))
    wrong = quantize_static(x, torch.tensor(0.1, device=device))
    out = [
        row(f"quantize_static exact={exact_values}", rel(q.float(), ref.float()), 0.0, rel(wrong.float(), ref.float()))
    ]
    q, scales = quantize_rows(x)
    expect = x.abs().amax(1, keepdim=True) / 448
    out.append(row("quantize_rows scales", rel(scales, expect), 0.0, 1.0, bool(torch.isfinite(scales).all())))
    out.append(row("quantize_rows values", rel(q.float() * scales, x), 0.0625, 1.0))  # e4m3: 3 mantissa bits
    return out


def na_checks(device: str, dtype, cases, block=(8, 8)) -> list[dict]:
    """3-D neighbourhood attention: (B, T, H, W, heads, D, window) against the PyTorch reference."""
    from ltx_kernels.triton_na import neighborhood_attention_triton

    from ltx.nn.neighborhood import neighborhood_attention_ref

    out = []
    for b, t, h, w, heads, d, window in cases:
        g = torch.Generator(device).manual_seed(t * 7 + w)
        q, k, v = (torch.randn(b, t, h, w, heads, d, generator=g, device=device).to(dtype) for _ in range(3))
        got = neighborhood_attention_triton(q, k, v, window, block=block)
        ref = neighborhood_attention_ref(q.double(), k.double(), v.double(), window)
        low = neighborhood_attention_ref(q, k, v, window)
        wrong = neighborhood_attention_triton(q, torch.roll(k, 1, dims=3), v, window, block=block)
        name = f"neighborhood_attention {dtype} B{b} {t}x{h}x{w} H{heads} d{d} window {window}"
        out.append(row(name, rel(got, ref), rel(low, ref), rel(wrong, ref), bool(torch.isfinite(got).all())))
    return out


def na_cpu_checks() -> list[dict]:
    """Small odd grids whose windows shift at every border, spanning several 4 x 8 query patches."""
    cases = [(2, 3, 5, 7, 2, 16, (3, 3, 5)), (1, 4, 4, 10, 1, 32, (1, 3, 3))]
    return na_checks("cpu", torch.float32, cases, (4, 8)) + na_checks("cpu", torch.float16, cases[:1], (4, 8))


def cpu_checks() -> list[dict]:
    odd = [(2, 37, 53, 3, 64, None), (1, 70, 19, 2, 128, "text"), (2, 33, 33, 2, 64, "self"), (1, 5, 130, 1, 128, None)]
    small = {"BLOCK_M": 32, "BLOCK_N": 16}
    out = []
    for dtype in (torch.float32, torch.float16):
        out += attention_checks("cpu", dtype, odd, small)
        shapes = [((2, 7, 100), (2, 7, 100)), ((2, 5, 48), (2, 1, 48)), ((1, 3, 64), (1, 1, 64))]
        out += norm_checks("cpu", dtype, shapes)
        out += rope_checks("cpu", dtype, [(2, 5, 4, 16, "split"), (1, 7, 3, 8, "interleaved"), (2, 3, 1, 64, None)])
    out += fp8_attention_checks("cpu", [(1, 200, 160, 2, 64), (2, 70, 256, 1, 128)])
    out += fp8_attention_checks("cpu", [(1, 200, 160, 2, 64)], two_level=False)
    return out + quant_checks("cpu", exact_values=True)


def _grad_cases(device: str, dtype) -> dict:
    """call site -> (arguments, indices of those that take a gradient, reference), small odd shapes."""
    import ltx_kernels
    from ltx_kernels.attention import attention_ref
    from ltx_kernels.norm import gated_residual_ref, rms_norm_modulate_ref
    from ltx_kernels.rope import qk_norm_rope_ref

    from ltx.nn.neighborhood import neighborhood_attention_ref

    g = torch.Generator(device).manual_seed(3)
    r = lambda *shape: torch.randn(*shape, generator=g, device=device).to(dtype)  # noqa: E731
    ang = torch.rand(1, 4, 5, 8, generator=g, device=device) * 6
    cases = {
        "attention": (ltx_kernels.attention, attention_ref, (r(2, 37, 128), r(2, 21, 128), r(2, 21, 128), 2, None)),
        "attention text mask": (ltx_kernels.attention, attention_ref, (r(2, 37, 128), r(2, 21, 128), r(2, 21, 128),
                                2, masks("text", 2, 37, 21, dtype, device))),
        "attention bias": (ltx_kernels.attention, attention_ref, (r(1, 33, 128), r(1, 33, 128), r(1, 33, 128), 1,
                           masks("self", 1, 33, 33, dtype, device))),
        "rms_norm_modulate": (ltx_kernels.rms_norm_modulate, rms_norm_modulate_ref, (r(2, 7, 64), r(2, 1, 64),
                              r(2, 1, 64), 1e-6)),
        "gated_residual": (ltx_kernels.gated_residual, gated_residual_ref, (r(2, 7, 64), r(2, 7, 64), r(2, 1, 64))),
        "qk_norm_rope": (ltx_kernels.qk_norm_rope, qk_norm_rope_ref, (r(2, 5, 64), 1 + 0.2 * r(64), 1e-6,
                         ang.cos().to(dtype), ang.sin().to(dtype), True)),
        "neighborhood_attention": (ltx_kernels.neighborhood_attention, neighborhood_attention_ref,
                                   (r(1, 3, 5, 7, 2, 16), r(1, 3, 5, 7, 2, 16), r(1, 3, 5, 7, 2, 16), (3, 3, 5), None)),
    }  # fmt: skip
    if device == "cuda":
        from ltx_kernels.fp8 import fp8_linear_ref

        w = (torch.randn(48, 64, generator=g, device=device) / 4).to(torch.float8_e4m3fn)
        one = torch.ones((), device=device)
        cases["fp8_linear"] = (ltx_kernels.fp8_linear, fp8_linear_ref, (r(2, 9, 64), w, one, None, r(48)))
    return cases


def _off_by_one_percent(site, reference):
    """The site's forward with the backward of 1.01 x the reference: a wrong backward."""
    from ltx_kernels.autograd import differentiable

    return lambda *args: differentiable(site, lambda *b: 1.01 * reference(*b), *args)


def grad_checks(device: str, dtype=torch.float32) -> list[dict]:
    """Gradients through each call site on its fast path (Triton; forced on the CPU with mode "triton") against the
    reference's own gradients at the same inputs: equal (rel 0), since the backward differentiates the reference.
    `wrong_rel`: a backward that differentiates a 1 % off reference, which the check must see."""
    import ltx_kernels

    def grads(fn, args, upstream=None):
        args = [a.detach().requires_grad_(a.is_floating_point() and a.dtype != torch.float8_e4m3fn)
                if torch.is_tensor(a) and a.dim() > 0 else a for a in args]  # fmt: skip
        out = fn(*args)
        upstream = torch.randn(out.shape, generator=torch.Generator(device).manual_seed(1), device=device).to(out.dtype)
        leaves = [a for a in args if torch.is_tensor(a) and a.requires_grad]
        return out, torch.autograd.grad(out, leaves, upstream)

    mode = "triton" if device == "cpu" else "auto"
    out = []
    for name, (site, reference, args) in _grad_cases(device, dtype).items():
        with ltx_kernels.use(mode=mode, attention="triton"):
            fast_out, got = grads(site, args)
            fast_path = type(fast_out.grad_fn).__name__ == "_ReferenceBackwardBackward"
            _, wrong = grads(_off_by_one_percent(site, reference), args)
        with ltx_kernels.use(mode="reference"):
            _, ref = grads(site, args)
        worst = max(rel(a, b) for a, b in zip(got, ref, strict=True))
        off = max(rel(a, b) for a, b in zip(wrong, ref, strict=True))
        finite = fast_path and all(bool(torch.isfinite(a).all()) for a in got)
        out.append(row(f"grad {name} {dtype} {'fast path' if fast_path else 'NOT the fast path'}", worst, 0.0, off,
                       finite))  # fmt: skip
    return out


def compile_checks() -> list[str]:
    """Each Triton call site (CPU interpreter, mode "triton") under torch.compile(fullgraph=True): a graph break
    raises; the result must equal the eager call's."""
    import ltx_kernels

    cases = _grad_cases("cpu", torch.float32)
    names = {"attention text mask": "attention", "rms_norm_modulate": "rms_norm_modulate",
             "gated_residual": "gated_residual", "qk_norm_rope": "qk_norm_rope",
             "neighborhood_attention": "neighborhood_attention"}  # fmt: skip
    out = []
    with ltx_kernels.use(mode="triton"), torch.no_grad():
        for case, site in names.items():
            fn, _, args = cases[case]
            eager = fn(*args)
            compiled = torch.compile(fn, backend="aot_eager", fullgraph=True)(*args)
            out.append(f"compiled {site} {'equal' if torch.equal(eager, compiled) else 'DIFFERENT'}")
    return out


if __name__ == "__main__":
    checks = na_cpu_checks if "--na" in sys.argv else cpu_checks if "--cpu" in sys.argv else lambda: []
    checks = (lambda: grad_checks("cpu")) if "--grad" in sys.argv else checks
    if "--compile" in sys.argv:
        print("\n".join(compile_checks()))
    for row in checks():
        print(json.dumps(row))
