"""ltx.runtime: compiled blocks and the captured block loop, applied from outside the model."""

import dataclasses
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from ltx import load_transformer
from ltx.parity.transformer import ClipShape, build_cases
from ltx.runtime import CapturedLoop, _leaves, _rebuild, _signature, accelerate, capture_blocks, compile_blocks

HERE = Path(__file__).resolve().parent


@pytest.fixture(scope="module")
def model_and_cases(tiny):
    model = load_transformer(tiny["ltx-2.3-tiny"], dtype=torch.float32)
    return model, build_cases(model.cfg, ClipShape())[:2]  # a plain pass and a perturbed one


def test_compiled_blocks_trace_whole_and_equal_the_eager_model(model_and_cases, tiny):
    """fullgraph: no graph break in a block (perturbed or not); aot_eager runs the traced ops, so bitwise equal."""
    model, cases = model_and_cases
    with torch.no_grad():
        eager = [model(c.video, c.audio, c.perturbations) for c in cases]
        compiled = compile_blocks(load_transformer(tiny["ltx-2.3-tiny"], dtype=torch.float32), backend="aot_eager",
                                  fullgraph=True)  # fmt: skip
        got = [compiled(c.video, c.audio, c.perturbations) for c in cases]
    for (v, a), (gv, ga) in zip(eager, got, strict=True):
        assert torch.equal(v, gv) and torch.equal(a, ga)


def test_kernel_call_sites_trace_without_graph_breaks():
    """Every Triton call site (the custom operators, CPU interpreter) inside torch.compile(fullgraph=True) equals
    the same call eagerly."""
    env = {**os.environ, "TRITON_INTERPRET": "1"}
    result = subprocess.run([sys.executable, str(HERE / "kernel_checks.py"), "--compile"], capture_output=True,
                            text=True, env=env, cwd=HERE, timeout=600)  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    lines = [line for line in result.stdout.splitlines() if line.startswith("compiled")]
    assert lines == [
        f"compiled {site} equal"
        for site in ("attention", "rms_norm_modulate", "gated_residual", "qk_norm_rope", "neighborhood_attention")
    ]


def test_the_loop_inputs_flatten_and_rebuild(model_and_cases):
    model, cases = model_and_cases
    seen = {}

    def spy(vx, ax, video, audio, perturbations):
        seen["args"] = (vx, ax, video, audio, perturbations)
        return model.__class__.run_blocks(model, vx, ax, video, audio, perturbations)

    model.run_blocks = spy
    try:
        with torch.no_grad():
            model(cases[1].video, cases[1].audio, cases[1].perturbations)
    finally:
        del model.run_blocks
    args = seen["args"]
    leaves = list(_leaves(args))
    assert len(leaves) > 10 and all(isinstance(t, torch.Tensor) for t in leaves)
    copies = [t.clone() for t in leaves]
    rebuilt = _rebuild(args, iter(copies))
    assert _signature(rebuilt) == _signature(args)
    assert all(a is b for a, b in zip(_leaves(rebuilt), copies, strict=True))
    assert dataclasses.is_dataclass(rebuilt[2]) and rebuilt[4] == args[4]  # the perturbations are kept as they are
    moved = _rebuild(args, iter([t[..., :1] if t.dim() else t for t in leaves]))
    assert _signature(moved) != _signature(args)  # another shape is another signature: another graph


def test_capture_runs_uncaptured_off_cuda_and_with_autograd(model_and_cases):
    model, cases = model_and_cases
    with torch.no_grad():
        before = model(cases[0].video, cases[0].audio, cases[0].perturbations)
    capture_blocks(model)
    try:
        assert isinstance(model.run_blocks, CapturedLoop) and capture_blocks(model).run_blocks is model.run_blocks
        with torch.no_grad():
            after = model(cases[0].video, cases[0].audio, cases[0].perturbations)
        assert torch.equal(before[0], after[0]) and not model.run_blocks.graphs  # CPU: nothing captured
    finally:
        del model.run_blocks


def _cuda(stream):
    moved = {f.name: getattr(stream, f.name) for f in dataclasses.fields(stream)}
    return dataclasses.replace(stream, **{k: v.cuda() for k, v in moved.items() if isinstance(v, torch.Tensor)})


@pytest.mark.gpu
def test_captured_loop_equals_the_eager_model_on_cuda(tiny):
    """Captured without compiling: the same kernels replayed, so bitwise the eager results; a new shape or a
    perturbed pass is captured anew, a repeated one replays."""
    model = load_transformer(tiny["ltx-2.3-tiny"], device="cuda", dtype=torch.float32)
    cases = [dataclasses.replace(c, video=_cuda(c.video), audio=_cuda(c.audio))
             for c in build_cases(model.cfg, ClipShape())[:2]]  # fmt: skip
    with torch.inference_mode():
        eager = [model(c.video, c.audio, c.perturbations) for c in cases]
        capture_blocks(model)
        for _ in range(2):
            got = [model(c.video, c.audio, c.perturbations) for c in cases]
            for (v, a), (gv, ga) in zip(eager, got, strict=True):
                assert torch.equal(v, gv) and torch.equal(a, ga)
    assert len(model.run_blocks.graphs) == 2


@pytest.mark.gpu
def test_accelerated_model_is_close_on_cuda(tiny):
    model = load_transformer(tiny["ltx-2.3-tiny"], device="cuda", dtype=torch.float32)
    case = build_cases(model.cfg, ClipShape())[0]
    video, audio = _cuda(case.video), _cuda(case.audio)
    with torch.inference_mode():
        eager = model(video, audio)
        accelerate(model)
        got = model(video, audio)
    rel = float((got[0].float() - eager[0].float()).norm() / eager[0].float().norm())
    assert rel < 1e-4  # float32: inductor's fused element-wise math rounds differently


def test_models_accelerate_the_transformer_they_load(tiny, tmp_path):
    from ltx.pipelines import Models

    models = Models(tiny["ltx-2.3-tiny"], prompts=tmp_path / "unused.safetensors", device="cpu", dtype=torch.float32,
                    accelerate=True)  # fmt: skip
    model = models.transformer()
    assert isinstance(model.run_blocks, CapturedLoop)
    assert all(getattr(block, "_compiled_call_impl", None) is not None for block in model.transformer_blocks)
    plain = Models(tiny["ltx-2.3-tiny"], prompts=tmp_path / "unused.safetensors", device="cpu", dtype=torch.float32)
    assert "run_blocks" not in vars(plain.transformer())
