"""Triton kernels against their PyTorch references: on the CPU through Triton's interpreter (small odd shapes,
fp32/fp16), on the GPU at the model's shapes in bf16 with the flash-attention rule (error vs float64 at most
twice PyTorch's own in the same precision, plus a floor), and the dispatcher's fallbacks."""

import json
import os
import subprocess
import sys
from pathlib import Path

import ltx_kernels
import pytest
import torch

HERE = Path(__file__).resolve().parent
pytest.importorskip("triton")


@pytest.fixture(scope="module")
def interpreted():
    env = {**os.environ, "TRITON_INTERPRET": "1"}
    result = subprocess.run([sys.executable, str(HERE / "kernel_checks.py"), "--cpu"], capture_output=True, text=True,
                            env=env, cwd=HERE, timeout=600)  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    return [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]


def _assert_rows(rows, tol_fp32=1e-5, floor=1e-3):
    assert rows
    for r in rows:
        assert r["finite"], r
        tol = tol_fp32 if "float32" in r["check"] else 2 * r["torch_rel"] + floor
        assert r["rel"] <= tol, r
        assert r["wrong_rel"] > 10 * max(r["rel"], 1e-7), r  # the check would catch a wrong result


def test_kernels_in_the_interpreter(interpreted):
    checks = {r["check"].split()[0] for r in interpreted}
    assert checks == {"attention", "attention_fp8", "rms_norm_modulate", "gated_residual", "qk_norm_rope",
                      "quantize_static", "quantize_rows"}  # fmt: skip
    _assert_rows([r for r in interpreted if not r["check"].startswith(("quantize", "attention_fp8"))])
    for r in (r for r in interpreted if r["check"].startswith("attention_fp8")):
        # 8-bit products: a few % (the interpreter rounds to e4m3 less well than the GPU: ~7 % here)
        assert r["finite"] and r["rel"] < 0.1 and r["wrong_rel"] > 5 * r["rel"], r
    quant = {r["check"]: r for r in interpreted if r["check"].startswith("quantize")}
    assert quant["quantize_static exact=True"]["rel"] == 0.0
    assert quant["quantize_rows scales"]["rel"] < 1e-6 and quant["quantize_rows values"]["rel"] < 0.0625


def test_dispatcher_uses_the_references_off_cuda(monkeypatch):
    q, k, v = (torch.randn(2, 9, 64) for _ in range(3))
    assert torch.equal(ltx_kernels.attention(q, k, v, 1), ltx_kernels.attention_ref(q, k, v, 1))
    x, s = torch.randn(2, 3, 8), torch.randn(2, 1, 8)
    assert torch.equal(ltx_kernels.rms_norm_modulate(x, s, s, 1e-6), ltx_kernels.rms_norm_modulate_ref(x, s, s, 1e-6))
    assert torch.equal(ltx_kernels.gated_residual(x, x, s), x + x * s)


def test_gradients_flow_through_every_call_site():
    """Each call site on its Triton path (CPU interpreter) records the reference's backward: gradients equal the
    reference's at the same inputs (up to the NA reference's own summation order), and a backward that
    differentiates a 1 % off reference is seen."""
    env = {**os.environ, "TRITON_INTERPRET": "1"}
    result = subprocess.run([sys.executable, str(HERE / "kernel_checks.py"), "--grad"], capture_output=True, text=True,
                            env=env, cwd=HERE, timeout=600)  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    rows = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    assert {r["check"].split(" torch.")[0] for r in rows} == {
        "grad attention", "grad attention text mask", "grad attention bias", "grad rms_norm_modulate",
        "grad gated_residual", "grad qk_norm_rope", "grad neighborhood_attention"}  # fmt: skip
    for r in rows:
        assert r["finite"] and "NOT" not in r["check"], r  # the fast path ran and its gradients are finite
        assert r["rel"] <= 1e-6 and r["wrong_rel"] > 5e-3, r


def test_settings_are_scoped_and_checked(caplog):
    before = ltx_kernels.settings()
    with ltx_kernels.use(mode="reference", attention="cudnn") as inside:
        assert ltx_kernels.settings() == inside and inside.mode == "reference" and inside.attention == "cudnn"
        with ltx_kernels.use(fp8_cast_gemm=True):
            assert ltx_kernels.settings().fp8_cast_gemm and ltx_kernels.settings().mode == "reference"
    assert ltx_kernels.settings() == before
    with pytest.raises(ValueError, match="kernel mode must be one of"):
        ltx_kernels.use(mode="fast").__enter__()
    with pytest.raises(ValueError, match="attention must be one of"):
        ltx_kernels.Settings(attention="fa3")
    assert ltx_kernels.settings() == before
    # an unsupported case on the Triton path runs the reference and says why, once
    q = torch.randn(1, 5, 96)
    with ltx_kernels.use(mode="triton"), caplog.at_level("WARNING", logger="ltx_kernels"):
        for _ in range(3):
            assert torch.equal(ltx_kernels.attention(q, q, q, 2), ltx_kernels.attention_ref(q, q, q, 2))
    assert [r.getMessage() for r in caplog.records] == [
        "ltx_kernels.attention: head size 48 or a strided last axis is not supported; running the PyTorch reference"
    ]


# -- GPU ------------------------------------------------------------------------------------------
@pytest.mark.gpu
@pytest.mark.parametrize("d", [64, 128])
def test_attention_on_the_gpu(d):
    from kernel_checks import attention_checks

    cases = [(1, 4096, 4096, 8, d, None), (2, 1000, 77, 4, d, "text"), (1, 126, 6144, 16, d, None),
             (1, 2048, 2048, 4, d, "self")]  # fmt: skip
    _assert_rows(attention_checks("cuda", torch.bfloat16, cases))


@pytest.mark.gpu
def test_exact_mode_attention_is_ltx_core_s_on_the_gpu():
    """The exact mode on CUDA calls SDPA as ltx-core 1.2.0's AUTOMATIC attention does without FA3 / FA4 (its backend
    order), so masked and unmasked calls are bitwise its own (torch's default order starts with flash where it does
    not prefer cuDNN: a GPU where they differ fails here without the order)."""
    attention_module = pytest.importorskip("ltx_core.model.transformer.attention")
    if getattr(attention_module, "FlashAttention3", None) is None:
        pytest.skip("needs ltx-core >= 1.2.0 (its attention selection)")
    official = attention_module.AttentionFunction.AUTOMATIC.to_callable()
    official_masked = attention_module.MaskedAttentionFunction.AUTOMATIC.to_callable()
    if not isinstance(official, attention_module.PytorchAttention):
        pytest.skip(f"ltx-core picked {type(official).__name__} here, not PyTorch SDPA")
    g = torch.Generator("cuda").manual_seed(0)
    q, k, v = (torch.randn(1, n, 4 * 128, generator=g, device="cuda", dtype=torch.bfloat16) for n in (4096, 1024, 1024))
    keep = torch.ones(1, 1024, device="cuda")
    keep[:, 700:] = 0
    bias = ((keep - 1) * torch.finfo(torch.bfloat16).max).to(torch.bfloat16).reshape(1, 1, 1, 1024)
    with ltx_kernels.use(mode="reference"):
        assert torch.equal(ltx_kernels.attention(q, k, v, 4), official(q, k, v, 4))
        assert torch.equal(ltx_kernels.attention(q, k, v, 4, bias), official_masked(q, k, v, 4, bias))


@pytest.mark.gpu
def test_the_8_bit_settings_route_to_their_kernels():
    """LTX_ATTENTION=int8-fp8 / int8-fp8-one-level: the kernel with that accumulation (the two differ), a masked call
    takes the default choice, and the gradient is the reference's."""
    from ltx_kernels.triton_attention_fp8 import attention_fp8

    if torch.cuda.get_device_capability()[0] < 9:
        pytest.skip("the 8-bit kernel needs Hopper (sm90) or newer")
    g = torch.Generator("cuda").manual_seed(0)
    q, k, v = (torch.randn(1, 2048, 4 * 128, generator=g, device="cuda", dtype=torch.bfloat16) for _ in range(3))
    two, one = attention_fp8(q, k, v, 4, True), attention_fp8(q, k, v, 4, False)
    assert not torch.equal(two, one)
    bias = torch.zeros(1, 1, 1, 2048, device="cuda", dtype=torch.bfloat16)
    for setting, expected in (("int8-fp8", two), ("int8-fp8-one-level", one)):
        with ltx_kernels.use(attention=setting):
            assert torch.equal(ltx_kernels.attention(q, k, v, 4), expected), setting
            assert torch.equal(ltx_kernels.attention(q, k, v, 4, bias), ltx_kernels._sdpa(q, k, v, 4, bias, "cudnn"))
            leaf = q.detach().requires_grad_()
            ltx_kernels.attention(leaf, k, v, 4).float().square().sum().backward()
        ref = q.detach().requires_grad_()
        ltx_kernels.attention_ref(ref, k, v, 4).float().square().sum().backward()
        assert leaf.grad is not None and float((leaf.grad - ref.grad).norm() / ref.grad.norm()) < 0.1, setting


@pytest.mark.gpu
def test_tma_attention_on_the_gpu():
    """Model shapes and odd ones (tails in both sequence lengths, batch 2, the audio's 126 tokens)."""
    from kernel_checks import tma_attention_checks

    if torch.cuda.get_device_capability()[0] < 9:
        pytest.skip("the TMA kernel needs Hopper (sm90) or newer")
    cases = [(1, 6144, 6144, 4, 128), (2, 70, 130, 3, 64), (1, 6144, 126, 32, 64), (1, 126, 6144, 32, 64),
             (2, 333, 1024, 2, 128)]  # fmt: skip
    for dtype in (torch.bfloat16, torch.float16):
        _assert_rows(tma_attention_checks(dtype, cases))


@pytest.mark.gpu
def test_fp8_attention_on_the_gpu():
    from kernel_checks import fp8_attention_checks

    if torch.cuda.get_device_capability()[0] < 9:
        pytest.skip("the 8-bit kernel needs Hopper (sm90) or newer")
    cases = [(1, 6144, 6144, 4, 128), (2, 70, 256, 3, 64), (1, 6144, 1024, 8, 128)]
    rows = fp8_attention_checks("cuda", cases) + fp8_attention_checks("cuda", cases, two_level=False)
    for r in rows:
        assert r["finite"] and r["rel"] < 0.06 and r["wrong_rel"] > 5 * r["rel"], r


@pytest.mark.gpu
def test_norms_on_the_gpu():
    from kernel_checks import norm_checks

    shapes = [((1, 6144, 4096), (1, 6144, 4096)), ((2, 126, 2048), (2, 1, 2048)), ((1, 1000, 3000), (1, 1000, 3000))]
    _assert_rows(norm_checks("cuda", torch.bfloat16, shapes))


@pytest.mark.gpu
def test_qk_norm_rope_on_the_gpu():
    from kernel_checks import rope_checks

    cases = [(1, 6144, 32, 128, "split"), (2, 126, 32, 64, "split"), (1, 1000, 32, 128, "interleaved"),
             (2, 300, 1, 4096, None)]  # fmt: skip
    _assert_rows(rope_checks("cuda", torch.bfloat16, cases))


@pytest.mark.gpu
def test_fp8_linear_on_the_gpu():
    from kernel_checks import quant_checks
    from ltx_kernels.fp8 import fp8_linear_ref
    from ltx_kernels.triton_fp8 import fp8_linear_triton

    quant = {r["check"]: r for r in quant_checks("cuda", exact_values=False)}
    assert quant["quantize_static exact=False"]["rel"] == 0.0  # the hardware rounds exactly as torch does
    g = torch.Generator("cuda").manual_seed(0)
    x = torch.randn(3, 100, 4096, generator=g, device="cuda", dtype=torch.bfloat16)
    w = torch.randn(2048, 4096, generator=g, device="cuda") / 64
    scale = w.abs().amax() / 448
    w8 = (w / scale).to(torch.float8_e4m3fn)
    bias = torch.randn(2048, generator=g, device="cuda", dtype=torch.bfloat16)
    in_scale = x.float().abs().amax() / 448
    exact = fp8_linear_ref(x.double(), w8, scale.double(), in_scale.double(), bias.double())
    for input_scale in (in_scale, None):
        got = fp8_linear_triton(x, w8, scale, input_scale, bias)
        assert got.shape == (3, 100, 2048) and got.dtype == torch.bfloat16
        ref = exact if input_scale is not None else fp8_linear_ref(x.double(), w8, scale.double(), None, bias.double())
        assert float((got.double() - ref).norm() / ref.norm()) < (1e-2 if input_scale is not None else 5e-2)


@pytest.mark.gpu
@pytest.mark.oracle
def test_model_with_kernels_within_the_low_precision_budget(tiny):
    """The tiny 2.3 transformer on the GPU in bf16 with the kernels, against ltx-core's bf16 error."""
    from ltx.parity.transformer import transformer_parity

    rows = transformer_parity(tiny["ltx-2.3-tiny"], device="cuda", dtype=torch.bfloat16)
    assert rows and all(r.passed for r in rows), [r for r in rows if not r.passed][:5]


@pytest.mark.gpu
def test_gradients_on_the_gpu():
    """Every call site's CUDA path (the FP8 GEMM included) in float32: the reference's gradients (SDPA's backward is
    not bitwise deterministic, hence 1e-5); in bf16 the gradients are finite and on the fast path."""
    from kernel_checks import grad_checks

    rows = grad_checks("cuda", torch.float32)
    assert len(rows) == 8 and all(r["finite"] and "NOT" not in r["check"] for r in rows), rows
    assert all(r["rel"] <= 1e-5 and r["wrong_rel"] > 5e-3 for r in rows), rows
    assert all(r["finite"] and "NOT" not in r["check"] for r in grad_checks("cuda", torch.bfloat16))


@pytest.mark.gpu
def test_fp8_cast_layers_on_the_fp8_gemm_when_asked():
    from ltx.nn.linear import FP8CastLinear

    layer = FP8CastLinear(4096, 1024).cuda()
    with torch.no_grad():
        layer.weight.data = (torch.randn(1024, 4096, device="cuda") / 8).to(torch.float8_e4m3fn)
        layer.bias.data = torch.randn(1024, device="cuda")
    layer.requires_grad_(False)
    x = torch.randn(2, 300, 4096, device="cuda", dtype=torch.bfloat16)
    upcast = layer(x)  # the official arithmetic
    with ltx_kernels.use(fp8_cast_gemm=True):
        fast = layer(x)
    rel = float((fast.float() - upcast.float()).norm() / upcast.float().norm())
    assert fast.dtype == torch.bfloat16 and 1e-4 < rel < 5e-2  # differs only by the activations' e4m3 rounding
