"""The DFR pipeline against the official ltx-pipelines 1.2.0 flow (bitwise, float32 CPU) without and with one and
two temporal rounds, that the comparison sees the detailing reference's scale, and its input checks."""

from dataclasses import replace

import pytest
from util import failed_rows, needs_1_2

import ltx.pipelines.dfr as dfr_module
from ltx.parity.compare import compare_exact
from ltx.parity.dfr_pipeline import dfr_inputs, dfr_models, dfr_request, run_official, run_ours
from ltx.parity.oracle import ensure_torchaudio
from ltx.pipelines import Models, run_pipeline
from ltx.pipelines.dfr import dfr

pytest.importorskip("ltx_core")
ensure_torchaudio()
pytestmark = pytest.mark.oracle  # the inputs are files written from the official modules


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    return dfr_inputs(tmp_path_factory.mktemp("dfr"))


@pytest.fixture(scope="module")
def official(inputs):
    return {k: v.detach().float() for k, v in run_official(*inputs).items()}


def _compare(ours: dict, official: dict):
    return compare_exact("dfr", {k: v.detach().float() for k, v in ours.items()}, official)


def _bitwise(rows) -> None:
    assert {r.name for r in rows} == {"video_latent", "audio_latent", "frames", "waveform"}
    assert all(r.passed and r.max_abs == 0.0 for r in rows), [r for r in rows if r.max_abs]


@needs_1_2
def test_dfr_bitwise_equal_to_official_flow(inputs, official):
    _bitwise(_compare(run_ours(*inputs), official))
    # the 97-frame canvas is cut back to the 81 frames asked for (11 latent frames), the audio to 81 / 24 s
    assert official["frames"].shape == (81, 64, 64, 3) and official["video_latent"].shape[2] == 11
    assert official["waveform"].shape[-1] == 48000 * 81 // 24


@pytest.mark.parametrize("rounds, frames", [(1, 161), (2, 321)])
@needs_1_2
def test_dfr_temporal_rounds_bitwise_equal_to_official_flow(inputs, rounds, frames):
    """(81 - 1) x 2^rounds + 1 frames: round 1 at 48 fps in two tiles; round 2 at 96 fps (conditioned at the
    60 fps cap) in four, its slots carried forward from round 1's."""
    ours, ref = run_ours(*inputs, rounds=rounds), run_official(*inputs, rounds=rounds)
    _bitwise(_compare(ours, {k: v.detach().float() for k, v in ref.items()}))
    assert ref["frames"].shape == (frames, 64, 64, 3)


@needs_1_2
def test_a_wrong_detailing_scale_is_caught(inputs, official, monkeypatch):
    monkeypatch.setattr(dfr_module, "detailing_downscale", lambda models: 1)
    failed = failed_rows(_compare(run_ours(*inputs), official))
    assert failed >= {"video_latent", "frames"} and "waveform" not in failed  # the audio is stage 1's


def test_dfr_input_checks(inputs):
    inp, detailing = inputs
    req, models = dfr_request(inp), dfr_models(inp, detailing)
    with pytest.raises(ValueError, match="0, 1 or 2"):
        dfr(models, req, rounds=3)
    with pytest.raises(ValueError, match="temporal x2 upsampler"):
        run_pipeline("dfr", models, req, rounds=1)
    with pytest.raises(ValueError, match="distilled LoRA"):
        dfr(Models(inp.checkpoint, prompts=inp.prompts, upsampler=inp.upsampler, device="cpu"), req)
    plain = Models(inp.checkpoint.with_name("ltx-2.3-tiny.safetensors"), prompts=inp.prompts, upsampler=inp.upsampler,
                   distilled_lora=(inp.distilled_lora, 0.8), device="cpu")  # fmt: skip
    with pytest.raises(ValueError, match="keyframe embedding"):
        dfr(plain, req)
    with pytest.raises(ValueError, match="multiples of 64"):
        dfr(models, replace(req, height=96))
    with pytest.raises(ValueError, match="1 \\+ 8k"):
        dfr(models, replace(req, frames=10))


@needs_1_2
@pytest.mark.parametrize("rounds", [0, 1])
def test_each_layout_sensitive_op_sees_the_official_layouts(inputs, rounds):
    """Every convolution, matrix product, attention, norm and reduction of ours sees the operand layouts of the
    official flow's (what the GPU picks kernels by): the keyframe slots reach the upsampler as ltx-core joins them, a
    frame at a time (one unpatchify of all slots made them channels-last). ltx-core's BWE vocoder also computes a
    per-frame energy (a vector norm) that nothing reads; we do not."""
    from ltx.parity.layouts import UNREAD_ENERGY, layout_differences

    assert layout_differences(run_ours, run_official, *inputs, rounds=rounds, ignore=UNREAD_ENERGY) == []
