"""Float8 checkpoints: fp8-cast (no scales) and scaled (weight_scale, input_scale), detected per layer."""

import ltx_kernels
import pytest
import torch
from ltx_kernels.fp8 import quantize_static
from safetensors.torch import save_file
from util import needs_1_2

from ltx import Checkpoint, load_transformer
from ltx.nn import ScaledFP8Linear
from ltx.parity.compare import compare_exact
from ltx.parity.fixtures import write_scaled_fp8_checkpoint
from ltx.parity.oracle import OfficialTransformer
from ltx.parity.transformer import ClipShape, build_cases, run_official, run_ours


def test_fp8_linear_reference_is_the_dequantised_product():
    g = torch.Generator().manual_seed(0)
    w8 = (torch.randn(24, 16, generator=g) * 40).to(torch.float8_e4m3fn)
    w_scale, x_scale = torch.tensor(0.01), torch.tensor(0.02)
    x, bias = torch.randn(3, 5, 16, generator=g), torch.randn(24, generator=g)
    out = ltx_kernels.fp8_linear(x, w8, w_scale, x_scale, bias)
    x8 = (x / x_scale).clamp(-448, 448).to(torch.float8_e4m3fn)
    expected = (x8.double() * 0.02) @ (w8.double() * 0.01).T + bias.double()
    torch.testing.assert_close(out.double(), expected, rtol=1e-6, atol=1e-6)
    # Without an input scale the activations are used as they are.
    expected = x.double() @ (w8.double() * 0.01).T
    torch.testing.assert_close(
        ltx_kernels.fp8_linear(x, w8, w_scale, None, None).double(), expected, rtol=1e-6, atol=1e-6
    )


@pytest.mark.oracle
@needs_1_2
def test_scaled_fp8_file_matches_official_arithmetic(tmp_path, tiny):
    """Blocks 1-2 scaled, block 0 not (detected per layer). The official scaled-fp8 path needs
    TensorRT-LLM on a GPU, so the oracle is ltx-core on the dequantised weights with each of those
    layers' inputs rounded to e4m3 on the stored input_scale: the same arithmetic."""
    scaled = write_scaled_fp8_checkpoint(tiny["ltx-2.0-tiny"], tmp_path / "scaled.safetensors", blocks={1, 2})
    ckpt = Checkpoint(scaled)
    ours = load_transformer(ckpt, dtype=torch.float32)
    assert ours.fp8_layers == {"fp8_cast": 0, "fp8_scaled": 2 * 28}
    assert isinstance(ours.transformer_blocks[1].ff.net[2], ScaledFP8Linear)
    assert type(ours.transformer_blocks[0].ff.net[2]) is torch.nn.Linear

    # The dequantised twin file, loaded by ltx-core.
    tensors, scales = {}, {}
    for key in ckpt.tensors:
        if key.endswith((".weight_scale", ".input_scale")):
            continue
        t = ckpt.tensor(key)
        layer = key[: -len(".weight")]
        if t.dtype == torch.float8_e4m3fn:
            t = t.float() * ckpt.tensor(layer + ".weight_scale")
            scales[layer.removeprefix("model.diffusion_model.")] = ckpt.tensor(layer + ".input_scale").clone()
        tensors[key] = t.clone()
    save_file(tensors, str(tmp_path / "twin.safetensors"), metadata=ckpt.metadata)
    official = OfficialTransformer(tmp_path / "twin.safetensors", torch.device("cpu"), torch.float32, has_audio=True)
    for name, scale in scales.items():
        official.model.get_submodule(name).register_forward_pre_hook(
            lambda m, args, s=scale: (quantize_static(args[0], s),)
        )

    cases = build_cases(ours.cfg, ClipShape())
    rows = compare_exact("scaled-fp8", run_ours(ours, cases), run_official(official, cases))
    assert all(r.passed for r in rows), [r.name for r in rows if not r.passed]
    assert max(r.rel for r in rows) == 0.0
