"""The HDR IC-LoRA pipeline against ltx-pipelines 1.2.0's HDRICLoraPipeline.__call__ (bitwise, float32 CPU), in
both modes, that the comparison sees the tiled second stage, and its input checks. Slow (five pipeline runs)."""

import pytest
import torch
from util import failed_rows, needs_1_2

import ltx.pipelines.hdr as hdr_pipeline
from ltx.parity.compare import compare_exact
from ltx.parity.dubit_pipeline import dubit_inputs
from ltx.parity.hdr_pipeline import hdr_lora, hdr_request, run_official, run_ours
from ltx.parity.oracle import ensure_torchaudio
from ltx.pipelines import Models
from ltx.pipelines.hdr import hdr_ic_lora

pytest.importorskip("ltx_core")
ensure_torchaudio()
pytestmark = pytest.mark.oracle  # the inputs are files written from the official modules


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    return dubit_inputs(tmp_path_factory.mktemp("hdr"))


@pytest.fixture(scope="module")
def official(inputs):
    return {k: v.detach().float() for k, v in run_official(inputs).items()}


def _compare(ours: dict, official: dict):
    return compare_exact("hdr", {k: v.detach().float() for k, v in ours.items()}, official)


@needs_1_2
def test_hdr_bitwise_equal_to_official(inputs, official):
    rows = _compare(run_ours(inputs), official)
    assert {r.name for r in rows} == {"video_latent", "linear"}
    assert all(r.passed and r.max_abs == 0.0 for r in rows), [r for r in rows if r.max_abs]
    assert official["linear"].shape == (9, 100, 120, 3)  # generated at 128 x 128, cropped back
    assert official["linear"].min() >= 0 and official["linear"].max() > 1  # scene-linear, highlights above 1


@needs_1_2
def test_hdr_high_quality_bitwise_equal_to_official(inputs):
    rows = _compare(run_ours(inputs, high_quality=True), run_official(inputs, high_quality=True))
    assert all(r.passed and r.max_abs == 0.0 for r in rows), [r for r in rows if r.max_abs]


@needs_1_2
def test_an_untiled_second_stage_is_caught(inputs, official, monkeypatch):
    monkeypatch.setattr(hdr_pipeline, "STAGE2_TILES", ((1, 0), (1, 0), (1, 0)))
    assert failed_rows(_compare(run_ours(inputs), official)) == {"video_latent", "linear"}


def test_hdr_input_checks(inputs):
    def models(loras):
        return Models(inputs.checkpoint, prompts=inputs.prompts, upsampler=inputs.upsampler, loras=loras,
                      device="cpu", dtype=torch.float32)  # fmt: skip

    req = hdr_request(False)
    with pytest.raises(ValueError, match="exactly one LoRA"):
        hdr_ic_lora(models([]), req, inputs.video)
    with pytest.raises(ValueError, match="strength"):
        hdr_ic_lora(models([(hdr_lora(inputs), 1.0)]), req, inputs.video, strength=2.0)
    with pytest.raises(ValueError, match="1 \\+ 8k"):
        hdr_ic_lora(models([(hdr_lora(inputs), 1.0)]), req.__class__("p", frames=10), inputs.video)


@needs_1_2
def test_each_layout_sensitive_op_sees_the_official_layouts(inputs):
    """What the GPU picks kernels by (ltx.parity.layouts): every such call of ours as the official flow lays it out."""
    from ltx.parity.layouts import UNREAD_ENERGY, layout_differences

    assert layout_differences(run_ours, run_official, inputs, ignore=UNREAD_ENERGY) == []
