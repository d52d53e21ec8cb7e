"""The LTX-2.5 duration head against ltx-core 1.2.0's DurationHead and ltx-pipelines' DurationPredictor."""

import json
from pathlib import Path

import pytest
import torch
from util import failed_rows, needs_1_2, rewrite

from ltx import Checkpoint, CheckpointError
from ltx.config import ConfigError
from ltx.duration import DurationHead, DurationHeadConfig, load_duration_head, predict_frames, seconds_to_frames

MANIFESTS = Path(__file__).resolve().parent.parent / "weights" / "manifests"


@pytest.fixture(scope="module")
def head_file(tmp_path_factory):
    pytest.importorskip("ltx_core", reason="the official ltx-core writes the tiny file's layout")
    from ltx.parity.duration import write_tiny_duration_head

    return write_tiny_duration_head(tmp_path_factory.mktemp("duration") / "duration-head-tiny.safetensors")


@pytest.mark.oracle
@needs_1_2
def test_fp32_parity_batch_2_against_one_prompt_at_a_time(head_file):
    from ltx.parity.duration import FRAME_CASES, duration_parity

    rows = duration_parity(head_file)
    assert not failed_rows(rows)
    # Our batch of two vs the official batch-1 runs: matrix products round differently per row count.
    assert max(r.rel for r in rows) < 1e-6
    single = [r for r in rows if r.name.startswith("single/")]
    assert len(single) == 6 and all(r.max_abs == 0.0 for r in single)  # one prompt on both sides: exact
    frames = [r for r in rows if r.name.startswith("frames@")]
    assert len(frames) == len(FRAME_CASES) and all(r.max_abs == 0.0 for r in frames)
    assert {"both/out", "video/out", "audio/out", "both/attention_pooler"} <= {r.name for r in rows}


@pytest.mark.oracle
@needs_1_2
def test_bf16_within_twice_official_error(head_file):
    from ltx.parity.duration import duration_parity

    rows = duration_parity(head_file, dtype=torch.bfloat16)
    assert not failed_rows(rows) and all(r.ref_rel is not None for r in rows)


@pytest.mark.oracle
@needs_1_2
def test_a_wrong_weight_fails_exactly_downstream(head_file):
    from ltx.parity.duration import duration_parity

    def edit(head):
        head.audio_input_proj.bias.data[0] += 1e-3

    failed = failed_rows(duration_parity(head_file, edit_ours=edit))
    assert not any(n.startswith(("video/", "single/video_input_proj")) for n in failed)  # video alone: untouched
    for case in ("both", "audio", "single"):
        assert {f"{case}/audio_input_proj", f"{case}/attention_pooler", f"{case}/mlp_out", f"{case}/out"} <= failed


@pytest.mark.oracle
@needs_1_2
def test_seconds_to_frames_is_the_pipelines_rule():
    from ltx.parity.oracle import require

    helpers = require("ltx_pipelines.utils.helpers")
    for fps in (24.0, 25.0, 30.0, 12.5, 23.976):
        for lo, hi in ((1.0, 20.0), (0.05, 0.2), (5.0, 6.0), (0.3, 0.4)):
            for seconds in (0.0, 0.01, 0.3, 0.99, 1.0, 1.37, 4.9999, 5.04, 7.5, 19.99, 20.0, 33.0, 1e6):
                official = helpers.seconds_to_clamped_num_frames(
                    seconds, frame_rate=fps, min_frames=round(lo * fps), max_frames=round(hi * fps)
                )
                assert seconds_to_frames(seconds, fps, lo, hi) == official, (seconds, fps, lo, hi)


def test_full_size_head_matches_official_manifest():
    manifest = json.loads((MANIFESTS / "ltx-2.5.duration_head.json").read_text())
    cfg = DurationHeadConfig.from_metadata(manifest["config"])
    assert cfg == DurationHeadConfig()  # LTX-2.5's connector widths, the official head sizes
    with torch.device("meta"):
        head = DurationHead(cfg)
    ours = {"duration_head." + k: list(t.shape) for k, t in head.state_dict().items()}
    assert ours == {k: v[0] for k, v in manifest["tensors"].items()}
    assert sum(p.numel() for p in head.parameters()) == manifest["parameters"]


# -- behaviour and errors (no oracle) ------------------------------------------------------------
def _tiny_head() -> DurationHead:
    torch.manual_seed(0)
    head = DurationHead(DurationHeadConfig(cross_attention_dim=8, audio_cross_attention_dim=6, pooler_hidden_dim=8,
                                           num_pooler_heads=2, num_queries=3, mlp_hidden=4))  # fmt: skip
    for p in head.parameters():
        torch.nn.init.normal_(p, std=0.3)
    return head.eval()


def test_batch_rows_are_independent_and_token_counts_free():
    head = _tiny_head()
    video, audio = torch.randn(3, 5, 8), torch.randn(3, 9, 6)
    with torch.no_grad():
        batch = head(video, audio)
        alone = torch.cat([head(video[i : i + 1], audio[i : i + 1]) for i in range(3)])
        assert batch.shape == (3,) and (batch > 0).all()
        torch.testing.assert_close(batch, alone, rtol=1e-6, atol=0)
        assert head(video[:, :2]).shape == head(audio=audio[:, :1]).shape == (3,)
    frames = predict_frames(head, video, audio, 24.0)
    assert len(frames) == 3 and all((f - 1) % 8 == 0 and 24 <= f <= 480 for f in frames)


def test_clamp_and_snap_rules():
    assert seconds_to_frames(5.0, 24.0) == 113  # 120 frames -> floored to 8k + 1
    assert seconds_to_frames(0.1, 24.0) == 25  # clamped up to 1 s = 24 frames, floor 17 < 24 -> raised to 25
    assert seconds_to_frames(100.0, 24.0) == 473  # clamped to 20 s = 480 frames -> 473
    assert seconds_to_frames(0.1, 30.0, 0.05, 0.2) == 6  # 3 frames -> 1 < round(1.5) = 2 -> raised to 9, capped at 6
    with pytest.raises(ValueError, match="fps must be a positive"):
        seconds_to_frames(5.0, 0.0)
    with pytest.raises(ValueError, match="need 0 < min_seconds <= max_seconds"):
        seconds_to_frames(5.0, 24.0, min_seconds=3.0, max_seconds=2.0)
    with pytest.raises(ValueError, match="not a number"):
        seconds_to_frames(float("nan"), 24.0)


def test_input_errors():
    head = _tiny_head()
    with pytest.raises(ValueError, match="needs the video context, the audio context or both"):
        head()
    with pytest.raises(ValueError, match=r"video context must be \(B, T > 0, 8\), got \(2, 5, 7\)"):
        head(torch.randn(2, 5, 7))
    with pytest.raises(ValueError, match="different batch sizes: 2 and 3"):
        head(torch.randn(2, 5, 8), torch.randn(3, 4, 6))
    with pytest.raises(ValueError, match="fps must be a positive"):
        predict_frames(head, torch.randn(1, 5, 8), None, -24.0)
    with pytest.raises(ConfigError, match="not divisible by num_pooler_heads"):
        DurationHeadConfig(pooler_hidden_dim=10, num_pooler_heads=4)


@pytest.mark.oracle
@needs_1_2
def test_loader_errors(head_file, tmp_path):
    head = load_duration_head(head_file)
    stored = Checkpoint(head_file)
    assert not any(p.requires_grad for p in head.parameters())
    assert all(torch.equal(p, stored.tensor("duration_head." + n)) for n, p in head.state_dict().items())

    def rename(t):
        t.update({f"other.{k}": t.pop(k) for k in list(t)})

    other = rewrite(head_file, tmp_path / "other.safetensors", rename)
    with pytest.raises(CheckpointError, match="this slot expects a duration head file"):
        load_duration_head(other)

    def edit(t):
        del t["duration_head.mlp_out.bias"]
        t["duration_head.extra"] = torch.zeros(1)
        t["duration_head.video_modality_emb"] = torch.zeros(17)

    with pytest.raises(CheckpointError) as e:
        load_duration_head(rewrite(head_file, tmp_path / "bad.safetensors", edit))
    msg = str(e.value)
    assert "1 missing: duration_head.mlp_out.bias" in msg and "1 unexpected: duration_head.extra" in msg
    assert "duration_head.video_modality_emb: file (17,), model (16,)" in msg
