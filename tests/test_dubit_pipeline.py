"""The Dub-It pipeline against the official ltx-pipelines 1.2.0 flow (bitwise, float32 CPU), that the comparison
sees the appended reference audio, and its input checks. Slow: the two-stage pipeline runs three times."""

from dataclasses import replace

import pytest
import torch
from util import failed_rows, needs_1_2

import ltx.sampling.audio_reference as audio_reference
from ltx.parity.compare import compare_exact
from ltx.parity.dubit_pipeline import (
    REFERENCE_STRENGTH,
    dubit_inputs,
    dubit_lora,
    dubit_request,
    run_official,
    run_ours,
)
from ltx.parity.oracle import ensure_torchaudio
from ltx.parity.pipeline_fixtures import write_test_video
from ltx.pipelines import Models
from ltx.pipelines.dubit import dub_it

pytest.importorskip("ltx_core")
ensure_torchaudio()
pytestmark = pytest.mark.oracle  # the inputs are files written from the official modules


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    return dubit_inputs(tmp_path_factory.mktemp("dubit"))


@pytest.fixture(scope="module")
def official(inputs):
    return {k: v.detach().float() for k, v in run_official(inputs).items()}


def _compare(ours: dict, official: dict):
    return compare_exact("dub-it", {k: v.detach().float() for k, v in ours.items()}, official)


@needs_1_2
def test_dub_it_bitwise_equal_to_official_flow(inputs, official):
    rows = _compare(run_ours(inputs), official)
    assert {r.name for r in rows} == {"video_latent", "audio_latent", "frames", "waveform"}
    assert all(r.passed and r.max_abs == 0.0 for r in rows), [r for r in rows if r.max_abs]
    assert official["frames"].shape == (9, 128, 128, 3)  # the reference's 9 frames, at the requested size


@needs_1_2
def test_a_misplaced_reference_audio_is_caught(inputs, official, monkeypatch):
    monkeypatch.setattr(audio_reference, "REFERENCE_GAP", 0.0)
    assert failed_rows(_compare(run_ours(inputs), official)) >= {"video_latent", "audio_latent", "waveform"}


def test_dub_it_input_checks(inputs, tmp_path):
    def models(loras):
        return Models(inputs.checkpoint, prompts=inputs.prompts, upsampler=inputs.upsampler, loras=loras,
                      device="cpu", dtype=torch.float32)  # fmt: skip

    req, lora = dubit_request(inputs), [(dubit_lora(inputs), 1.0)]
    with pytest.raises(ValueError, match="exactly one LoRA"):
        dub_it(models([]), req, inputs.video)
    with pytest.raises(ValueError, match="reference_strength"):
        dub_it(models(lora), req, inputs.video, 1.5)
    silent = write_test_video(tmp_path / "silent.mp4", 9, 64, 96, 24.0, audio=False)
    with pytest.raises(ValueError, match="no audio stream"):
        dub_it(models(lora), req, silent, REFERENCE_STRENGTH)
    with pytest.raises(ValueError, match="multiples of 64"):
        dub_it(models(lora), replace(req, height=96), inputs.video)
    with pytest.raises(FileNotFoundError):
        dub_it(models(lora), req, tmp_path / "missing.mp4")


@needs_1_2
def test_each_layout_sensitive_op_sees_the_official_layouts(inputs):
    """What the GPU picks kernels by (ltx.parity.layouts): every such call of ours as the official flow lays it out."""
    from ltx.parity.layouts import UNREAD_ENERGY, layout_differences

    assert layout_differences(run_ours, run_official, inputs, ignore=UNREAD_ENERGY) == []
