"""`ltx bench`: its checks, and the plots it draws from saved results (the benchmarks themselves need a GPU)."""

import json
from pathlib import Path

import pytest
import torch
from util import needs_1_2

from ltx.bench import SUITES, table, write
from ltx.bench.plots import _guess
from ltx.cli import main

RESULTS = Path(__file__).resolve().parent.parent / "bench" / "results" / "kernels"


def test_bad_suites_and_no_gpu_are_named(capsys):
    assert main(["bench", "attention", "nonsense"]) == 2
    assert "unknown suite nonsense; choose from ceilings, attention" in capsys.readouterr().err
    assert main(["bench", "train", "--repeats", "0"]) == 2
    assert "--repeats must be at least 1, got 0" in capsys.readouterr().err
    if not torch.cuda.is_available():
        assert main(["bench", "attention"]) == 2
        assert "need a CUDA device" in capsys.readouterr().err


@pytest.mark.parametrize("name", ["2026-12-01-h200-attention-sweep", "2026-12-01-h200-attention",
                                  "2026-12-01-h200-e2e-compiled", "2026-11-21-h200-e2e"])  # fmt: skip
def test_plots_redraw_saved_results(name, tmp_path, capsys):
    pytest.importorskip("matplotlib")
    assert main(["bench", "--plot", str(RESULTS / f"{name}.json"), "--out", str(tmp_path)]) == 0
    png = tmp_path / f"{name}.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 20_000


def test_saved_results_name_their_suite_and_versions(tmp_path):
    rows = [{"case": "self 1024", "peer": "sdpa cudnn", "seconds": 1e-3, "TFLOP/s": 183.5, "rel_err": 2e-3},
            {"case": "self 1024", "peer": "ours", "error": "cannot run this case"}]  # fmt: skip
    env = {"device": "H200", "torch": "2.11", "triton": "3.6", "cuda": "13.0", "date": "2026-12-01"}
    path = write(tmp_path, "attention-sweep", env, rows)
    saved = json.loads(path.read_text())
    assert saved["suite"] == "attention-sweep" and saved["rows"] == rows and saved["torch"] == "2.11"
    assert path.with_suffix(".csv").read_text().splitlines()[0] == "TFLOP/s,case,error,peer,rel_err,seconds"
    assert "183.5 TFLOP/s" in table(rows) and "cannot run this case" in table(rows)
    assert "attention-sweep" in SUITES
    old = json.loads((RESULTS / "2026-11-21-h200-e2e.json").read_text())  # saved before files named their suite
    assert _guess(old["rows"]) == "e2e"


@pytest.mark.oracle
def test_ltxv_suites_run_on_tiny_configs(monkeypatch):
    """The LTX-Video suites' code paths (every peer built on shared tensors and called) on tiny configs on the CPU,
    compile left out: the same request and seeds reach ltx-video's pipelines and ours (bf16 frames within 3e-2)."""
    pytest.importorskip("ltx_video", reason="ltx-video is a peer")
    pytest.importorskip("diffusers", reason="diffusers is a peer")
    import ltx.bench.ltxv as suite
    import ltx.runtime
    from ltx.parity.fixtures import TINY, UPSAMPLERS
    from ltx.parity.ltxv_pipeline import TINY_PIPELINE_LTXV

    for name, value in (("DEVICE", "cpu"), ("FRAMES", 9), ("HEIGHT", 64), ("WIDTH", 96), ("TEXT", 8), ("PROMPT", 3)):
        monkeypatch.setattr(suite, name, value)
    monkeypatch.setattr(ltx.runtime, "accelerate", lambda model, **_: model)
    rows = suite.forward({"tiny": TINY_PIPELINE_LTXV}, repeats=1)
    assert [r["peer"] for r in rows] == ["ltx-video 0.1.2", "diffusers", "ours eager", "ours compiled + captured",
                                         "ours compiled + captured, FP8 GEMMs"]  # fmt: skip
    assert all(r["rel_err"] < 3e-2 for r in rows[:4]) and rows[-1]["rel_err"] < 0.2  # bf16; FP8 rounds the weights
    up = UPSAMPLERS["ltx-video-upsampler-x2-tiny"].config.replace(dims=3)
    rows = suite.generate(1, model=TINY_PIPELINE_LTXV, vae=TINY["ltx-video-0.9.1-tiny"].vae, upsampler=up)
    assert {r["case"] for r in rows} == {"one pass, 8 steps", "multi-scale distilled, 7 + 3 steps"}
    assert {r["shape"] for r in rows} == {"1x3x9x64x96"} and all(r["rel_err_frames"] < 3e-2 for r in rows)


def test_every_suite_has_a_runner():
    from ltx.bench import _runners

    assert set(_runners()) == set(SUITES)


@pytest.mark.oracle
def test_train_suite_runs_on_a_tiny_config():
    """The training suite's steps (ours with and without the fused kernels; ltx-trainer's composed from ltx-core +
    peft) on a tiny config on the CPU: every setting starts from the base model (same LoRA A, B zero), so the first
    losses agree up to bf16 rounding."""
    pytest.importorskip("peft", reason="ltx-trainer's LoRA comes from peft")
    from ltx.bench.train import run
    from ltx.parity.fixtures import TINY

    # (the compiled variant left out: tests/test_train.py compiles a training run)
    rows = run({"tiny": (9, 64, 96)}, repeats=1, rank=4, cfg=TINY["ltx-2.0-tiny"].transformer, device="cpu",
               text_tokens=8, compiled=False)  # fmt: skip
    official = "ltx-trainer 1.2.0 (composed)"
    assert [(r["peer"], r["checkpointing"]) for r in rows] == [
        ("ours", True), ("ours, reference kernels", True), ("ours", False), ("ours, reference kernels", False),
        (official, True), (official, False)]  # fmt: skip
    ours, theirs = rows[0], rows[4]
    assert rows[1]["first_loss"] == ours["first_loss"]  # (each setting starts from the base; the CPU runs the
    assert rows[2]["first_loss"] == rows[3]["first_loss"]  # reference ops in both of our variants)
    for mine, ref in ((ours, theirs), (rows[2], rows[5])):
        assert abs(mine["first_loss"] - ref["first_loss"]) < 3e-2 * ref["first_loss"]
    assert ours["first_loss_ltx_trainer"] == theirs["first_loss"] and ours["time_ratio_vs_ltx_trainer"] > 0


@pytest.fixture(scope="module")
def core_1_0_0(tmp_path_factory):
    """A folder holding ltx-core 1.0.0 (LTX_CORE_1_0_0, else installed from PyPI; skipped when neither is there)."""
    import os
    import subprocess
    import sys

    if os.environ.get("LTX_CORE_1_0_0"):
        return os.environ["LTX_CORE_1_0_0"]
    site = tmp_path_factory.mktemp("ltx-core-1.0.0")
    done = subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(site),
                           "ltx-core==1.0.0"], capture_output=True, text=True, timeout=300)  # fmt: skip
    if done.returncode != 0:
        pytest.skip("ltx-core 1.0.0 could not be installed from PyPI (set LTX_CORE_1_0_0 to a folder holding it)")
    return str(site)


@needs_1_2
def test_the_older_official_runtime_runs_in_a_process_of_its_own(core_1_0_0, tmp_path):
    """The e2e suite's ltx-core 1.0.0 peer: its child imports 1.0.0 (said in its row) and, on the suite's weights and
    inputs, computes the velocity that ltx-core 1.2.0 computes in this process (bitwise: the 2.0 arithmetic did not
    change); a folder without ltx-core, or with another version, is refused."""
    pytest.importorskip("ltx_core", reason="ltx-core 1.2.0 is the in-process side of the comparison")
    import os

    from ltx.bench import older
    from ltx.bench.e2e import build, inputs
    from ltx.parity.fixtures import TINY
    from ltx.parity.oracle import modality, oracle_version

    rows, velocities = older.run(core_1_0_0, {"tiny": (9, 64, 96)}, 1, device="cpu", config="ltx-2.0-tiny")
    assert [(r["case"], r["peer"], r["ltx_core"]) for r in rows] == [("tiny", older.NAME, "1.0.0")]
    cfg = TINY["ltx-2.0-tiny"].transformer
    _, official = build(cfg, torch.device("cpu"))
    video, audio = inputs(cfg, 9, 64, 96, torch.device("cpu"))
    with torch.inference_mode():
        newer = official(video=modality(video), audio=modality(audio), perturbations=None)[0]
    assert oracle_version() != "1.0.0" and torch.equal(newer, velocities["tiny"])
    with pytest.raises(FileNotFoundError, match="no ltx_core package there"):
        older.run(tmp_path, {"tiny": (9, 64, 96)}, 1, device="cpu", config="ltx-2.0-tiny")
    wrong = tmp_path / "wrong"
    wrong.mkdir()
    import ltx_core

    os.symlink(os.path.dirname(ltx_core.__file__), wrong / "ltx_core")  # (this process's 1.2.0, no 1.0.0 metadata)
    with pytest.raises(RuntimeError, match="expected ltx-core 1.0.0"):
        older.run(wrong, {"tiny": (9, 64, 96)}, 1, device="cpu", config="ltx-2.0-tiny")
